//! The overlay writer: one RGB Secondary Capture image per source slice, the heat map fused
//! on the grey CT, with the source's plane geometry and frame of reference so viewers stack
//! and link it with the CT. Why this IOD: `docs/overlay-iod.md`.

use std::path::{Path, PathBuf};

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use ndarray::Axis;
use rayon::prelude::*;
use screener_core::{CtVolume, Volume};

use super::elements::{ds, ds_all, finish, item, save, ContentDateTime, Equipment, Obj, Put};
use super::render::render_slice;
use super::source::SourceSeries;
use super::uid::uid_from_seed;
use super::WriterError;

/// A grey-scale window in HU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f32,
    pub width: f32,
}

impl Window {
    /// Abdominal soft tissue, W400 / L40.
    pub const SOFT_TISSUE: Window = Window {
        center: 40.0,
        width: 400.0,
    };
    /// Lung, W1500 / L-600.
    pub const LUNG: Window = Window {
        center: -600.0,
        width: 1500.0,
    };
}

/// Identity and look of an overlay series.
#[derive(Debug, Clone, PartialEq)]
pub struct OverlayParams {
    /// Reused on re-sends; instance UIDs derive from it (see [`overlay_instance_uid`]).
    pub series_uid: String,
    pub series_number: u32,
    pub series_description: String,
    pub window: Window,
    /// Scores at or below this are not coloured; the colour bar starts here.
    pub threshold: f32,
    /// Opacity of the heat map at score 1.
    pub max_alpha: f32,
    pub equipment: Equipment,
    pub created: ContentDateTime,
}

impl OverlayParams {
    pub fn new(series_uid: String) -> Self {
        Self {
            series_uid,
            series_number: 9002,
            series_description: "Screener heat map (not for diagnostic use)".into(),
            window: Window::SOFT_TISSUE,
            threshold: 0.5,
            max_alpha: 0.7,
            equipment: Equipment::default(),
            created: ContentDateTime::now(),
        }
    }

    fn check(&self) -> Result<(), WriterError> {
        let bad = |name, reason: String| Err(WriterError::Parameter { name, reason });
        if !(0.0..1.0).contains(&self.threshold) {
            return bad("threshold", format!("{} is not in [0, 1)", self.threshold));
        }
        if !(0.0..=1.0).contains(&self.max_alpha) {
            return bad("max_alpha", format!("{} is not in [0, 1]", self.max_alpha));
        }
        if self.window.width.is_nan() || self.window.width <= 0.0 {
            return bad(
                "window",
                format!("width {} is not positive", self.window.width),
            );
        }
        Ok(())
    }
}

/// The SOP Instance UID of the overlay image of one source frame: fixed by the overlay
/// series UID and the source instance and frame, so a re-send replaces each image.
pub fn overlay_instance_uid(series_uid: &str, source_instance_uid: &str, frame: u32) -> String {
    uid_from_seed(&format!(
        "overlay/{series_uid}/{source_instance_uid}/{frame}"
    ))
}

/// Writes one overlay image per source slice into `dir` (`OV00001.dcm` upwards in slice
/// order) and returns their paths. `ct` (HU) and `scores` must lie on the source grid.
pub fn write_overlay(
    source: &SourceSeries,
    ct: &CtVolume,
    scores: &Volume<f32>,
    params: &OverlayParams,
    dir: &Path,
) -> Result<Vec<PathBuf>, WriterError> {
    params.check()?;
    source.check_grid(ct, "the CT volume")?;
    source.check_grid(scores, "the score map")?;
    std::fs::create_dir_all(dir).map_err(|e| WriterError::Write {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    (0..source.dims().k)
        .into_par_iter()
        .map(|k| {
            let rgb = render_slice(
                ct.data.index_axis(Axis(0), k),
                scores.data.index_axis(Axis(0), k),
                params,
            );
            let (obj, uid) = overlay_image(source, params, k, rgb);
            let file = finish(
                obj,
                uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
                &uid,
                &params.created,
            )?;
            let path = dir.join(format!("OV{:05}.dcm", k + 1));
            save(&file, &path)?;
            Ok(path)
        })
        .collect()
}

fn overlay_image(
    source: &SourceSeries,
    params: &OverlayParams,
    k: usize,
    rgb: Vec<u8>,
) -> (Obj, String) {
    let (inst, frame) = source.slice(k);
    let uid = overlay_instance_uid(&params.series_uid, &inst.sop_instance_uid, frame.frame);
    let mut o = Obj::new_empty();
    source.put_patient_and_study(&mut o);
    // General Series
    o.text(tags::MODALITY, VR::CS, "OT");
    o.text(tags::SERIES_INSTANCE_UID, VR::UI, &params.series_uid);
    o.text(
        tags::SERIES_NUMBER,
        VR::IS,
        &params.series_number.to_string(),
    );
    o.text(tags::SERIES_DESCRIPTION, VR::LO, &params.series_description);
    o.text(tags::SERIES_DATE, VR::DA, &params.created.date);
    o.text(tags::SERIES_TIME, VR::TM, &params.created.time);
    o.text(tags::LATERALITY, VR::CS, "");
    source.put_frame_of_reference(&mut o);
    // General and SC Equipment
    params.equipment.put_into(&mut o);
    o.text(tags::CONVERSION_TYPE, VR::CS, "WSD");
    // General Image, General Reference
    o.text(tags::INSTANCE_NUMBER, VR::IS, &(k + 1).to_string());
    o.texts(
        tags::IMAGE_TYPE,
        VR::CS,
        vec!["DERIVED".into(), "SECONDARY".into()],
    );
    o.texts(
        tags::PATIENT_ORIENTATION,
        VR::CS,
        patient_orientation(&frame.orientation),
    );
    o.text(tags::CONTENT_DATE, VR::DA, &params.created.date);
    o.text(tags::CONTENT_TIME, VR::TM, &params.created.time);
    o.text(
        tags::DERIVATION_DESCRIPTION,
        VR::ST,
        "Anomaly score heat map fused on the CT slice; not for diagnostic use",
    );
    o.seq(
        tags::SOURCE_IMAGE_SEQUENCE,
        vec![source.source_image_item(k)],
    );
    o.seq(
        tags::REFERENCED_IMAGE_SEQUENCE,
        vec![item(|r| {
            r.text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &inst.sop_class_uid);
            r.text(
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                &inst.sop_instance_uid,
            );
            if inst.frames.len() > 1 {
                r.text(
                    tags::REFERENCED_FRAME_NUMBER,
                    VR::IS,
                    &(frame.frame + 1).to_string(),
                );
            }
        })],
    );
    o.text(tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
    o.text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    // Image Plane (a standard extension of the SC IOD: viewers use it to stack and link)
    let g = source.geometry();
    o.texts(tags::PIXEL_SPACING, VR::DS, ds_all(&frame.pixel_spacing));
    o.texts(
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        ds_all(&frame.orientation),
    );
    o.texts(
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        ds_all(&frame.position),
    );
    o.text(
        tags::SLICE_THICKNESS,
        VR::DS,
        &ds(source.slice_thickness.unwrap_or(g.spacing[2])),
    );
    let normal = g.direction[2];
    let location: f64 = (0..3).map(|c| frame.position[c] * normal[c]).sum();
    o.text(tags::SLICE_LOCATION, VR::DS, &ds(location));
    // Image Pixel
    o.u16(tags::SAMPLES_PER_PIXEL, 3);
    o.text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
    o.u16(tags::PLANAR_CONFIGURATION, 0);
    o.u16(tags::ROWS, source.layout.rows as u16);
    o.u16(tags::COLUMNS, source.layout.columns as u16);
    o.u16(tags::BITS_ALLOCATED, 8);
    o.u16(tags::BITS_STORED, 8);
    o.u16(tags::HIGH_BIT, 7);
    o.u16(tags::PIXEL_REPRESENTATION, 0);
    o.bytes(tags::PIXEL_DATA, VR::OB, rgb);
    (o, uid)
}

/// Patient Orientation (row, column directions as L/R, A/P, H/F letters, the dominant
/// first) from ImageOrientationPatient, as General Image requires without an Image Plane.
fn patient_orientation(orientation: &[f64; 6]) -> Vec<String> {
    let letters = |v: &[f64]| {
        let mut axes: Vec<(f64, char)> = vec![
            (v[0], if v[0] >= 0.0 { 'L' } else { 'R' }),
            (v[1], if v[1] >= 0.0 { 'P' } else { 'A' }),
            (v[2], if v[2] >= 0.0 { 'H' } else { 'F' }),
        ];
        axes.sort_by(|a, b| b.0.abs().total_cmp(&a.0.abs()));
        axes.iter()
            .filter(|(c, _)| c.abs() > 1e-3)
            .take(3)
            .map(|&(_, l)| l)
            .collect::<String>()
    };
    vec![letters(&orientation[..3]), letters(&orientation[3..])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axial_images_are_oriented_left_and_posterior() {
        assert_eq!(
            patient_orientation(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            vec!["L".to_string(), "P".to_string()]
        );
        assert_eq!(
            patient_orientation(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0]),
            vec!["P".to_string(), "F".to_string()]
        );
    }

    #[test]
    fn overlay_instance_uids_are_stable_per_source_frame() {
        let a = overlay_instance_uid("1.2", "1.3", 0);
        assert_eq!(a, overlay_instance_uid("1.2", "1.3", 0));
        assert_ne!(a, overlay_instance_uid("1.2", "1.3", 1));
        assert_ne!(a, overlay_instance_uid("1.2", "1.4", 0));
    }
}
