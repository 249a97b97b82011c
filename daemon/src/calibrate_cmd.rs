//! `screener calibrate --model DIR [INPUT...] [--phantoms N]`: scores normal scans with a
//! bundle and writes the flag threshold and voxel calibration into its manifest.
//!
//! - Study threshold: the `--quantile` (default 0.99) of the normal study scores, linearly
//!   interpolated; with fewer than 100 normals that is close to their maximum.
//! - Voxel threshold: the 99.9th percentile of anomaly inside the body (CT > -500 HU) over all
//!   normal scans; voxel scale: its standard deviation there (used for display).

use std::path::PathBuf;

use anyhow::Context;
use screener_core::bundle::{write_manifest, ModelBundle};
use screener_core::input::read_ct;
use screener_core::phantom::PhantomSpec;
use screener_core::{CtVolume, Dims};

use crate::engine::{EngineOptions, Scorer};

#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// Model bundle folder to calibrate (its manifest is rewritten).
    #[arg(long)]
    pub model: PathBuf,
    /// Normal CT scans: DICOM series folders, NIfTI or NRRD files.
    pub inputs: Vec<PathBuf>,
    /// Also score this many synthetic normal phantoms (seeds 1000, 1001, ...).
    #[arg(long, default_value_t = 0)]
    pub phantoms: usize,
    /// Phantom size in voxels, IxJxK.
    #[arg(long, default_value = "256x256x48")]
    pub phantom_size: String,
    /// Quantile of the normal study scores used as the flag threshold.
    #[arg(long, default_value_t = 0.99)]
    pub quantile: f64,
    #[arg(long)]
    pub threads: Option<usize>,
}

/// A named normal scan, read when its turn comes (phantoms are generated on demand).
type ScanSource = (String, Box<dyn Fn() -> anyhow::Result<CtVolume>>);

/// Every `VOXEL_STRIDE`-th body voxel enters the voxel statistics (memory stays small).
const VOXEL_STRIDE: usize = 7;

pub fn run_calibrate(args: CalibrateArgs) -> anyhow::Result<String> {
    anyhow::ensure!(
        !args.inputs.is_empty() || args.phantoms > 0,
        "give normal scans, --phantoms N, or both"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.quantile),
        "--quantile must be in [0, 1]"
    );
    let options = EngineOptions {
        threads: args
            .threads
            .unwrap_or_else(|| EngineOptions::default().threads),
        ..EngineOptions::default()
    };
    let mut scorer = Scorer::load_to_calibrate(&args.model, options)
        .with_context(|| format!("loading {}", args.model.display()))?;

    let mut scans: Vec<ScanSource> = Vec::new();
    for path in &args.inputs {
        let p = path.clone();
        scans.push((
            path.display().to_string(),
            Box::new(move || {
                Ok(read_ct(&p)
                    .with_context(|| format!("reading {}", p.display()))?
                    .volume)
            }),
        ));
    }
    let dims = parse_dims(&args.phantom_size)?;
    for n in 0..args.phantoms {
        let seed = 1000 + n as u64;
        scans.push((
            format!("phantom seed {seed}"),
            Box::new(move || Ok(PhantomSpec::new(seed, dims, [1.5, 1.5, 5.0]).generate().ct)),
        ));
    }

    let mut study_scores = Vec::new();
    let mut voxels: Vec<f32> = Vec::new();
    for (name, load) in &scans {
        let ct = load()?;
        let result = scorer.score(&ct, &mut |_, _| {})?;
        eprintln!("{name}: study score {:.4}", result.study_score);
        study_scores.push(result.study_score);
        voxels.extend(
            result
                .map
                .data
                .iter()
                .zip(ct.data.iter())
                .filter(|(_, &hu)| hu > -500.0)
                .step_by(VOXEL_STRIDE)
                .map(|(&a, _)| a),
        );
    }
    voxels.sort_by(f32::total_cmp);
    let voxel_values: Vec<f64> = voxels.iter().map(|&v| v as f64).collect();
    let voxel_threshold = quantile_sorted(&voxel_values, 0.999);
    let mean = voxel_values.iter().sum::<f64>() / voxel_values.len().max(1) as f64;
    let var = voxel_values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
        / voxel_values.len().max(1) as f64;

    let mut sorted = study_scores.clone();
    sorted.sort_by(f64::total_cmp);
    let threshold = quantile_sorted(&sorted, args.quantile);

    let bundle = ModelBundle::open(&args.model)?;
    let mut manifest = bundle.manifest;
    manifest.calibration.statistic = manifest.study_score_statistic();
    manifest.calibration.normal_scores = study_scores;
    manifest.calibration.threshold = threshold;
    manifest.calibration.voxel_threshold = voxel_threshold;
    manifest.calibration.voxel_scale = var.sqrt().max(1e-6);
    manifest.calibration.method = format!(
        "study threshold: {} quantile of {} normal study scores; voxel threshold: 99.9th \
         percentile of body-voxel anomaly on the same scans ({})",
        args.quantile,
        scans.len(),
        scans
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    write_manifest(&args.model, &mut manifest)?;
    Ok(format!(
        "threshold {threshold:.4}, voxel threshold {voxel_threshold:.4}, voxel scale {:.4} from {} scans",
        manifest.calibration.voxel_scale,
        scans.len()
    ))
}

/// Linear-interpolated quantile of sorted values.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

fn parse_dims(s: &str) -> anyhow::Result<Dims> {
    let parts: Vec<usize> = s
        .split('x')
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("phantom size {s:?} is not IxJxK"))?;
    match parts.as_slice() {
        &[i, j, k] if i > 0 && j > 0 && k > 0 => Ok(Dims::new(i, j, k)),
        _ => anyhow::bail!("phantom size {s:?} is not IxJxK"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_between_sorted_values() {
        let v = [1.0, 2.0, 3.0, 5.0];
        assert_eq!(quantile_sorted(&v, 0.0), 1.0);
        assert_eq!(quantile_sorted(&v, 1.0), 5.0);
        assert!((quantile_sorted(&v, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile_sorted(&v, 0.99) - 4.94).abs() < 1e-12);
    }

    #[test]
    fn phantom_sizes_parse_as_ixjxk() {
        assert_eq!(parse_dims("256x200x48").unwrap(), Dims::new(256, 200, 48));
        assert!(parse_dims("256x200").is_err());
        assert!(parse_dims("0x1x1").is_err());
    }
}
