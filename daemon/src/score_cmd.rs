//! `screener score INPUT --model DIR --out DIR`: scores one CT from the command line and
//! writes the anomaly map (NIfTI), the abnormal-voxel mask (NIfTI) and `summary.json`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use screener_core::nifti_io::write_nifti;
use serde::Serialize;

use crate::engine::{EngineOptions, Scorer, StageTimings};
use crate::outputs::{abnormal_mask, display_scores, read_input, write_dicom_results, OVERLAY_DIR};

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
    let mask = abnormal_mask(&result.map, manifest);
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
            let written = write_dicom_results(source, ct, &mask, &display, manifest, &args.out)?;
            outputs.push(written.seg_path.display().to_string());
            outputs.push(format!(
                "{} ({} images)",
                args.out.join(OVERLAY_DIR).display(),
                written.overlay_paths.len()
            ));
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
        statistic: manifest.study_score_statistic(),
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
