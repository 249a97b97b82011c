//! What `screener score` and the service share: reading a scoring input (with its DICOM
//! source frames when it is a series) and writing the DICOM results (SEG and overlay) of a
//! scored series. UIDs derive from the source series and the model, so scoring the same
//! series again, or re-sending its results, reproduces them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use screener_core::bundle::Manifest;
use screener_core::dicom_series::{load_series, scan_folder, SeriesError};
use screener_core::input::read_ct;
use screener_core::{CtVolume, Mask, Volume};

use crate::writers::{
    overlay_instance_uid, uid_from_seed, write_overlay, write_segmentation, Algorithm,
    OverlayParams, SegParams, SegmentationValues, SourceSeries,
};

/// A CT read for scoring; for a DICOM series also its source frames (or why none).
pub struct ScoreInput {
    pub ct: CtVolume,
    pub source: Result<SourceSeries, String>,
    /// Anything done to the input on the way (e.g. a gantry tilt resampled), in words.
    pub note: Option<String>,
}

/// Why an input cannot be scored.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The series reader refused it (not CT, missing slices, unreadable files, …).
    #[error(transparent)]
    Series(#[from] SeriesError),
    #[error("{0}")]
    Other(String),
}

/// Reads a DICOM series folder, a NIfTI file or an NRRD file.
pub fn read_input(path: &Path) -> anyhow::Result<ScoreInput> {
    let context = || format!("reading {}", path.display());
    if !path.is_dir() {
        let read = read_ct(path).with_context(context)?;
        return Ok(ScoreInput {
            ct: read.volume,
            source: Err("the input is not a DICOM series".into()),
            note: read.note,
        });
    }
    read_series_folder(path).with_context(context)
}

/// Reads the one DICOM series in `folder`.
pub fn read_series_folder(folder: &Path) -> Result<ScoreInput, InputError> {
    let scan = scan_folder(folder)?;
    let series = match scan.series.as_slice() {
        [one] => one,
        [] => return Err(SeriesError::NoImages(folder.to_owned()).into()),
        several => {
            return Err(InputError::Other(format!(
                "{} holds {} series; give the folder of one",
                folder.display(),
                several.len()
            )))
        }
    };
    let loaded = load_series(series)?;
    let note = loaded.restacked.then(|| {
        format!(
            "resampled onto an orthogonal, evenly spaced grid (gantry tilt {:.1} degrees)",
            loaded.tilt_degrees
        )
    });
    Ok(ScoreInput {
        ct: loaded.volume,
        source: SourceSeries::open(series.instances.clone()).map_err(|e| e.to_string()),
        note,
    })
}

/// Anomaly mapped to [0, 1] for display with the bundle's calibration (0.5 at the voxel
/// threshold).
pub fn display_scores(map: &Volume<f32>, manifest: &Manifest) -> Volume<f32> {
    let c = &manifest.calibration;
    let (t, s) = (c.voxel_threshold as f32, c.voxel_scale.max(1e-6) as f32);
    map.map(|&a| 1.0 / (1.0 + (-(a - t) / s).exp()))
}

/// Voxels above the bundle's voxel threshold.
pub fn abnormal_mask(map: &Volume<f32>, manifest: &Manifest) -> Mask {
    let t = manifest.calibration.voxel_threshold as f32;
    map.map(|&v| u8::from(v > t))
}

/// The SEG and overlay files of one scored series.
#[derive(Debug, Clone)]
pub struct DicomOutputs {
    pub seg_path: PathBuf,
    pub seg_sop_uid: String,
    pub overlay_series_uid: String,
    /// Overlay images in slice order, with their SOP Instance UIDs.
    pub overlay_paths: Vec<PathBuf>,
    pub overlay_sop_uids: Vec<String>,
}

impl DicomOutputs {
    /// Every file to deliver: the SEG first, then the overlay images.
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(self.seg_path.clone())
            .chain(self.overlay_paths.iter().cloned())
            .collect()
    }
}

/// The files to deliver from an output folder written by [`write_dicom_results`].
pub fn delivery_files(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut overlay: Vec<PathBuf> = std::fs::read_dir(out.join(OVERLAY_DIR))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    overlay.retain(|p| p.extension().is_some_and(|e| e == "dcm"));
    overlay.sort();
    let seg = out.join(SEG_FILE);
    if !seg.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is missing", seg.display()),
        ));
    }
    Ok(std::iter::once(seg).chain(overlay).collect())
}

pub const SEG_FILE: &str = "seg.dcm";
pub const OVERLAY_DIR: &str = "overlay";

/// Writes the SEG (`seg.dcm`) and the overlay series (`overlay/`) into `out`.
pub fn write_dicom_results(
    source: &SourceSeries,
    ct: &CtVolume,
    mask: &Mask,
    display: &Volume<f32>,
    manifest: &Manifest,
    out: &Path,
) -> anyhow::Result<DicomOutputs> {
    let model = format!("{}/{}", manifest.model.name, manifest.model.version);
    let seed = |what: &str| uid_from_seed(&format!("{what}/{}/{model}", source.series_uid()));
    let algorithm = Algorithm {
        name: manifest.model.name.clone(),
        version: manifest.model.version.clone(),
        parameters: format!(
            "voxel threshold {} ({})",
            manifest.calibration.voxel_threshold, manifest.calibration.statistic
        ),
    };
    let seg_path = out.join(SEG_FILE);
    let seg_params = SegParams::new(seed("seg-series"), seed("seg-instance"), algorithm);
    write_segmentation(
        source,
        SegmentationValues::Binary(mask),
        &seg_params,
        &seg_path,
    )?;
    let overlay_params = OverlayParams::new(seed("overlay-series"));
    let overlay_paths =
        write_overlay(source, ct, display, &overlay_params, &out.join(OVERLAY_DIR))?;
    let overlay_sop_uids = (0..source.dims().k)
        .map(|k| {
            let (instance, frame) = source.slice(k);
            overlay_instance_uid(
                &overlay_params.series_uid,
                &instance.sop_instance_uid,
                frame.frame,
            )
        })
        .collect();
    Ok(DicomOutputs {
        seg_path,
        seg_sop_uid: seg_params.instance_uid.clone(),
        overlay_series_uid: overlay_params.series_uid.clone(),
        overlay_paths,
        overlay_sop_uids,
    })
}
