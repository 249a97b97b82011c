//! `screener score` end to end on a small phantom DICOM series with the bundled
//! model: every output is written, on the series' own grid, and a corrupt bundle is refused
//! with an error naming the file.

use std::path::Path;
use std::process::Command;

use screener_core::nifti_io::read_nifti;
use screener_core::phantom::{write_ct_series, CtSeriesOptions, PhantomSpec};
use screener_core::Dims;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn phantom_series(dir: &Path) -> screener_core::CtVolume {
    let ct = PhantomSpec::new(7, Dims::new(128, 112, 20), [2.8, 2.8, 6.0])
        .generate()
        .ct;
    let opts = CtSeriesOptions {
        uid_seed: Some(7),
        ..CtSeriesOptions::default()
    };
    write_ct_series(&ct, dir, &opts).unwrap();
    ct
}

fn screener(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_screener"))
        .args(args)
        .output()
        .unwrap()
}

/// `screener score SERIES --model MODEL --out OUT --threads 2`.
fn score(series: &Path, model: &Path, out: &Path) -> std::process::Output {
    screener(&[
        "score",
        series.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "2",
    ])
}

fn assert_success(run: &std::process::Output) {
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn score_writes_map_mask_seg_overlay_and_summary_for_a_dicom_series() {
    let work = tempfile::tempdir().unwrap();
    let series = work.path().join("series");
    let ct = phantom_series(&series);
    let out = work.path().join("out");
    let model = repo().join("models/default");
    assert_success(&score(&series, &model, &out));

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(summary["model"]["name"], manifest["model"]["name"]);
    assert_eq!(summary["model"]["version"], manifest["model"]["version"]);
    assert_eq!(summary["statistic"], manifest["calibration"]["statistic"]);
    assert!(summary["study_score"].as_f64().unwrap().is_finite());
    assert_eq!(summary["dims"], serde_json::json!([128, 112, 20]));
    for stage in [
        "read_s",
        "preprocess_s",
        "inference_s",
        "blend_s",
        "reproject_s",
        "total_s",
    ] {
        assert!(
            summary["timings"][stage].as_f64().unwrap() >= 0.0,
            "{stage}"
        );
    }
    let map = read_nifti(&out.join("anomaly_map.nii.gz")).unwrap();
    assert_eq!(map.dims(), ct.dims());
    assert!(map.geometry.max_difference(&ct.geometry) < 1e-3);
    assert!(out.join("abnormal_mask.nii.gz").is_file());
    assert!(out.join("seg.dcm").is_file());
    assert_eq!(std::fs::read_dir(out.join("overlay")).unwrap().count(), 20);
}

/// A copy of the bundled model in `dir/bundle`.
fn default_bundle_copy(dir: &Path) -> std::path::PathBuf {
    let bundle = dir.join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    for entry in std::fs::read_dir(repo().join("models/default")).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, bundle.join(p.file_name().unwrap())).unwrap();
    }
    bundle
}

#[test]
fn a_bundle_calibrated_on_another_statistic_is_refused_until_calibrated_again() {
    let work = tempfile::tempdir().unwrap();
    let bundle = default_bundle_copy(work.path());
    let manifest_path = bundle.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["calibration"]["statistic"] = "max_body_mean3_pooled_nll".into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let series = work.path().join("series");
    phantom_series(&series);
    let out = work.path().join("out");
    let refused = score(&series, &bundle, &out);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("calibration.statistic") && err.contains("screener calibrate"),
        "{err}"
    );

    let calibrate = screener(&[
        "calibrate",
        "--model",
        bundle.to_str().unwrap(),
        "--phantoms",
        "1",
        "--phantom-size",
        "64x64x16",
    ]);
    assert_success(&calibrate);
    assert_success(&score(&series, &bundle, &out));
}

#[test]
fn a_corrupt_bundle_is_refused_naming_the_file() {
    let work = tempfile::tempdir().unwrap();
    let bundle = default_bundle_copy(work.path());
    let onnx = bundle.join("density.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&onnx, bytes).unwrap();
    let series = work.path().join("series");
    phantom_series(&series);
    let run = score(&series, &bundle, &work.path().join("out"));
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("density.onnx") && err.contains("SHA-256"),
        "{err}"
    );
}
