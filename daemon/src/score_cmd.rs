//! `screener score INPUT --model DIR --out DIR`: scores one CT from the command line and
//! writes the anomaly map (NIfTI), the abnormal-voxel mask (NIfTI) and `summary.json`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use screener_core::bundle::Manifest;
use screener_core::dicom_series::{load_series, scan_folder, SeriesError};
use screener_core::input::read_ct;
use screener_core::nifti_io::write_nifti;
use screener_core::{CtVolume, Mask, Volume};
use serde::Serialize;

use crate::engine::{EngineOptions, Scorer, StageTimings, STUDY_SCORE_STATISTIC};
use crate::writers::{
    uid_from_seed, write_overlay, write_segmentation, Algorithm, OverlayParams, SegParams,
    SegmentationValues, SourceSeries,
};

#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// A DICOM series folder, a .nii/.nii.gz file or a .nrrd file.
    pub input: PathBuf,
    /// Model bundle folder (default: the bundled model in models/default).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// ONNX Runtime threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Patches per network call (each one adds about 1 GiB of peak memory).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Stay on the CPU even in a build with GPU support.
    #[arg(long)]
    pub cpu: bool,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub input: String,
    pub model: ModelSummary,
    pub study_score: f64,
    pub statistic: String,
    pub threshold: f64,
    pub flagged: bool,
    pub abnormal_voxels: usize,
    pub patches: usize,
    pub dims: [usize; 3],
    pub spacing_mm: [f64; 3],
    pub timings: Timings,
    pub outputs: Vec<String>,
    /// Anything done to the input or left out of the outputs, in words.
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub notes: String,
}

#[derive(Debug, Serialize)]
pub struct Timings {
    pub read_s: f64,
    pub load_model_s: f64,
    #[serde(flatten)]
    pub engine: StageTimings,
    pub write_s: f64,
    pub total_s: f64,
}

/// The default bundle: `models/default` next to the executable's repository, or in the
/// source tree it was built from.
pub fn default_model_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/default");
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .take(4)
                .map(|d| d.join("models/default"))
                .find(|d| d.join("manifest.json").is_file())
        })
        .unwrap_or(built)
}

pub fn run_score(args: ScoreArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let t = Instant::now();
    let input = read_input(&args.input)?;
    let ct = &input.ct;
    let read_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let model_dir = args.model.clone().unwrap_or_else(default_model_dir);
    let options = EngineOptions {
        threads: args
            .threads
            .unwrap_or_else(|| EngineOptions::default().threads),
        batch_size: args.batch,
        use_gpu: !args.cpu,
    };
    let mut scorer = Scorer::load(&model_dir, options)
        .with_context(|| format!("loading model bundle {}", model_dir.display()))?;
    let load_model_s = t.elapsed().as_secs_f64();

    let bar = progress_bar();
    let result = scorer.score(ct, &mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let t = Instant::now();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let manifest = &scorer.bundle().manifest;
    let map_path = args.out.join("anomaly_map.nii.gz");
    write_nifti(&result.map, &map_path)?;
    let voxel_threshold = manifest.calibration.voxel_threshold as f32;
    let mask = result.map.map(|&v| u8::from(v > voxel_threshold));
    let abnormal_voxels = mask.data.iter().filter(|&&v| v > 0).count();
    let mask_path = args.out.join("abnormal_mask.nii.gz");
    write_nifti(&mask, &mask_path)?;
    let mut outputs = vec![
        map_path.display().to_string(),
        mask_path.display().to_string(),
    ];
    let mut notes: Vec<String> = input.note.into_iter().collect();
    match &input.source {
        Ok(source) => {
            let display = display_scores(&result.map, manifest);
            outputs.extend(write_dicom_results(
                source, ct, &mask, &display, manifest, &args.out,
            )?);
        }
        Err(why) => notes.push(format!("no DICOM SEG or overlay: {why}")),
    }
    let write_s = t.elapsed().as_secs_f64();

    let d = ct.dims();
    let summary = Summary {
        input: args.input.display().to_string(),
        model: ModelSummary {
            name: manifest.model.name.clone(),
            version: manifest.model.version.clone(),
            kind: format!("{:?}", manifest.kind).to_lowercase(),
            notes: manifest.provenance.notes.clone(),
        },
        study_score: result.study_score,
        statistic: STUDY_SCORE_STATISTIC.into(),
        threshold: result.threshold,
        flagged: result.flagged,
        abnormal_voxels,
        patches: result.patches,
        dims: [d.i, d.j, d.k],
        spacing_mm: ct.geometry.spacing,
        timings: Timings {
            read_s,
            load_model_s,
            engine: result.timings,
            write_s,
            total_s: started.elapsed().as_secs_f64(),
        },
        outputs,
        notes,
    };
    let summary_path = args.out.join("summary.json");
    std::fs::write(
        &summary_path,
        serde_json::to_string_pretty(&summary)? + "\n",
    )
    .with_context(|| format!("writing {}", summary_path.display()))?;
    Ok(summary)
}

/// A CT read for scoring; for a DICOM series also its source frames (or why none).
struct ScoreInput {
    ct: CtVolume,
    source: Result<SourceSeries, String>,
    note: Option<String>,
}

fn read_input(path: &Path) -> anyhow::Result<ScoreInput> {
    let context = || format!("reading {}", path.display());
    if !path.is_dir() {
        let read = read_ct(path).with_context(context)?;
        return Ok(ScoreInput {
            ct: read.volume,
            source: Err("the input is not a DICOM series".into()),
            note: read.note,
        });
    }
    let scan = scan_folder(path).with_context(context)?;
    let series = match scan.series.as_slice() {
        [one] => one,
        [] => return Err(anyhow::anyhow!(SeriesError::NoImages(path.to_owned()))),
        several => anyhow::bail!(
            "{} holds {} series; give the folder of one",
            path.display(),
            several.len()
        ),
    };
    let loaded = load_series(series).with_context(context)?;
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
fn display_scores(map: &Volume<f32>, manifest: &Manifest) -> Volume<f32> {
    let c = &manifest.calibration;
    let (t, s) = (c.voxel_threshold as f32, c.voxel_scale.max(1e-6) as f32);
    map.map(|&a| 1.0 / (1.0 + (-(a - t) / s).exp()))
}

/// Writes the SEG (`seg.dcm`) and the overlay series (`overlay/`); UIDs derive from the source
/// series and the model, so scoring the same series again reproduces them.
fn write_dicom_results(
    source: &SourceSeries,
    ct: &CtVolume,
    mask: &Mask,
    display: &Volume<f32>,
    manifest: &Manifest,
    out: &Path,
) -> anyhow::Result<Vec<String>> {
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
    let seg_path = out.join("seg.dcm");
    let seg_params = SegParams::new(seed("seg-series"), seed("seg-instance"), algorithm);
    write_segmentation(
        source,
        SegmentationValues::Binary(mask),
        &seg_params,
        &seg_path,
    )?;
    let overlay_dir = out.join("overlay");
    let files = write_overlay(
        source,
        ct,
        display,
        &OverlayParams::new(seed("overlay-series")),
        &overlay_dir,
    )?;
    Ok(vec![
        seg_path.display().to_string(),
        format!("{} ({} images)", overlay_dir.display(), files.len()),
    ])
}

/// A progress bar on a terminal; nothing when stderr is redirected.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("scoring {bar:40} {pos}/{len} patches ({eta})")
            .expect("valid template"),
    );
    Some(bar)
}
