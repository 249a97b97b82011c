//! The whole path as a user runs it, with the binaries as processes and `config/train-ci.toml`:
//! `screener-train prepare`, `train-descriptor`, `train-condition`, `train-density`,
//! `evaluate`; `screener-export from-run`; `screener calibrate` on normal phantoms; and
//! `screener score` of a phantom DICOM series with lesions by the exported bundle.
//!
//! `screener-export` and `screener` belong to other packages, so cargo gives this test only
//! the path of `screener-train`; the other two are taken from the same target folder.
//! `cargo test --workspace` builds every binary before running any test; with `cargo test -p
//! screener-trainer` alone, build them first (`cargo build -p screener-export -p
//! screener-daemon`). A missing or outdated binary fails the test with that command.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use screener_core::bundle::ModelBundle;
use screener_core::nifti_io::{read_nifti, write_nifti};
use screener_core::phantom::{
    insert_random_lesions, write_ct_series, CtSeriesOptions, PhantomSpec,
};
use screener_core::Dims;
use screener_trainer::config::TrainConfig;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let time = if path.is_dir() {
            newest_source(&path)
        } else {
            path.metadata().unwrap().modified().unwrap()
        };
        newest = newest.max(time);
    }
    newest
}

/// A binary of another workspace package, next to `screener-train`, newer than the sources
/// of the crates it is built from.
fn sibling_binary(name: &str, package: &str, crates: &[&str]) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_screener-train"))
        .with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let build = format!("cargo build -p {package} (cargo test --workspace builds it)");
    let built = path
        .metadata()
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {build}", path.display()));
    for krate in crates {
        let sources = repo().join(krate).join("src");
        assert!(
            built >= newest_source(&sources),
            "{} is older than {}: {build}",
            path.display(),
            sources.display()
        );
    }
    path
}

fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {}\nstdout: {}\nstderr: {}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn metrics_lines(stage_dir: &Path) -> usize {
    std::fs::read_to_string(stage_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .count()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn prepare_train_export_calibrate_and_score_a_dicom_series() {
    let export = sibling_binary(
        "screener-export",
        "screener-export",
        &["model-export", "trainer", "core", "onnx"],
    );
    let screener = sibling_binary("screener", "screener-daemon", &["daemon", "core"]);
    let train = Path::new(env!("CARGO_BIN_EXE_screener-train"));
    let work = tempfile::tempdir().unwrap();
    let run_dir = work.path().join("run");
    let config_path = repo().join("config/train-ci.toml");
    let config = TrainConfig::load(&config_path).unwrap();

    let stage = |name: &str, extra: &[&str]| {
        let mut args = vec![name, "--config", s(&config_path), "--run", s(&run_dir)];
        args.extend_from_slice(extra);
        run(train, &args)
    };
    stage("prepare", &[]);
    stage("train-descriptor", &[]);
    stage(
        "train-condition",
        &["--set", "ssl.condition_training.steps=3"],
    );
    stage("train-density", &[]);
    assert_eq!(
        metrics_lines(&run_dir.join("descriptor")),
        config.ssl.descriptor_training.steps
    );
    assert_eq!(metrics_lines(&run_dir.join("condition")), 3);
    assert_eq!(
        metrics_lines(&run_dir.join("density")),
        config.density.training.steps
    );
    let report: serde_json::Value = serde_json::from_str(&stage("evaluate", &[])).unwrap();
    let auroc = report["report"]["voxel_auroc"]["auroc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auroc), "{auroc}");
    assert_eq!(report["report"]["groups"][0]["group"], "phantoms");
    // The Gaussian's NLL less its expectation, reported beside the NLL's report.
    let excess: serde_json::Value = serde_json::from_str(&stage(
        "evaluate",
        &["--set", "evaluate.density_score=excess_nll"],
    ))
    .unwrap();
    assert_eq!(excess["model"], "modular-excess_nll");
    assert_eq!(excess["density_score"], "excess_nll");
    assert!(run_dir.join("evaluate/modular.json").is_file());
    assert!(run_dir.join("evaluate/modular-excess_nll.json").is_file());

    let export_run = |out: &Path, name: &str, extra: &[&str]| {
        let mut args = vec!["from-run", "--run", s(&run_dir), "--out", s(out)];
        args.extend_from_slice(&["--name", name, "--version", "0.0.1"]);
        args.extend_from_slice(extra);
        run(&export, &args)
    };
    let bundle_dir = work.path().join("bundle");
    export_run(&bundle_dir, "ci-pipeline", &[]);
    let manifest = ModelBundle::open(&bundle_dir).unwrap().manifest;
    assert_eq!(manifest.patch.size, config.models.patch);
    assert_eq!(manifest.patch.overlap, config.models.overlap);
    assert_eq!(manifest.patch.pooling, [3, 3, 2]);
    assert_eq!(manifest.preprocessing, config.data.preprocess.params());
    assert_eq!(manifest.provenance.steps["condition"], 3);
    assert!(
        manifest.calibration.normal_scores.is_empty(),
        "not calibrated yet"
    );

    // Calibration on normal phantoms that training never saw (training uses seeds 100..).
    let dims = config.data.phantoms.dims;
    let spacing = config.data.phantoms.spacing;
    let mut normals = Vec::new();
    for seed in [900, 901] {
        let path = work.path().join(format!("normal-{seed}.nii.gz"));
        let ct = PhantomSpec::new(seed, Dims::new(dims[0], dims[1], dims[2]), spacing)
            .generate()
            .ct;
        write_nifti(&ct, &path).unwrap();
        normals.push(path);
    }
    let mut args = vec!["calibrate", "--model", s(&bundle_dir), "--threads", "2"];
    args.extend(normals.iter().map(|p| s(p)));
    run(&screener, &args);
    let calibrated = ModelBundle::open(&bundle_dir).unwrap().manifest;
    assert_eq!(calibrated.calibration.normal_scores.len(), 2);
    assert!(calibrated.calibration.threshold.is_finite());
    assert_eq!(calibrated.patch, manifest.patch);

    // A phantom with lesions, sent as a DICOM series.
    let mut phantom =
        PhantomSpec::new(950, Dims::new(dims[0], dims[1], dims[2]), spacing).generate();
    insert_random_lesions(&mut phantom.ct, &phantom.organs, 2, 950);
    let series = work.path().join("series");
    let options = CtSeriesOptions {
        uid_seed: Some(950),
        ..CtSeriesOptions::default()
    };
    write_ct_series(&phantom.ct, &series, &options).unwrap();
    let out = work.path().join("scored");
    run(
        &screener,
        &[
            "score",
            s(&series),
            "--model",
            s(&bundle_dir),
            "--out",
            s(&out),
            "--threads",
            "2",
        ],
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["model"]["name"], "ci-pipeline");
    assert!(summary["study_score"].as_f64().unwrap().is_finite());
    assert_eq!(summary["threshold"], calibrated.calibration.threshold);
    let map = read_nifti(&out.join("anomaly_map.nii.gz")).unwrap();
    assert_eq!(map.dims(), phantom.ct.dims());
    assert!(map.data.iter().all(|v| v.is_finite()));
    assert!(out.join("abnormal_mask.nii.gz").is_file());
    assert!(out.join("seg.dcm").is_file());

    // The same networks reporting the NLL less its expectation: the manifest names the
    // score, and the node runs the bundle unchanged.
    let excess_dir = work.path().join("bundle-excess");
    export_run(
        &excess_dir,
        "ci-pipeline-excess",
        &["--density-score", "excess_nll"],
    );
    let excess = ModelBundle::open(&excess_dir).unwrap().manifest;
    assert_eq!(excess.networks["density"].outputs[0].name, "excess_nll");
    assert_eq!(manifest.networks["density"].outputs[0].name, "nll");
    assert_eq!(
        excess.files["descriptor.onnx"],
        manifest.files["descriptor.onnx"]
    );
    assert_ne!(excess.files["density.onnx"], manifest.files["density.onnx"]);
    let out_excess = work.path().join("scored-excess");
    run(
        &screener,
        &[
            "score",
            s(&series),
            "--model",
            s(&excess_dir),
            "--out",
            s(&out_excess),
            "--threads",
            "2",
        ],
    );
    let excess_map = read_nifti(&out_excess.join("anomaly_map.nii.gz")).unwrap();
    assert_eq!(excess_map.dims(), phantom.ct.dims());
    assert!(excess_map.data.iter().all(|v| v.is_finite()));
    assert!(excess_map
        .data
        .iter()
        .zip(map.data.iter())
        .any(|(a, b)| a != b));

    // A second run whose stages start from the first run's networks (`*_init`), each for one
    // step at a vanishing learning rate: it scores as the first run does (random starts, from
    // another seed, would not), and its provenance counts the steps of both runs.
    let continued = work.path().join("run-continued");
    let cache = format!("data.cache_dir={}", s(&run_dir.join("cache")));
    let seed = "run.seed=8".to_string();
    for (stage, init, training) in [
        (
            "descriptor",
            "ssl.descriptor_init",
            "ssl.descriptor_training",
        ),
        ("condition", "ssl.condition_init", "ssl.condition_training"),
        ("density", "density.init", "density.training"),
    ] {
        let init = format!("{init}={}", s(&run_dir.join(stage).join("final")));
        let (steps, lr) = (
            format!("{training}.steps=1"),
            format!("{training}.lr=1e-12"),
        );
        let mut args = vec![format!("train-{stage}"), "--config".into()];
        args.extend([s(&config_path).into(), "--run".into(), s(&continued).into()]);
        for set in [&cache, &seed, &init, &steps, &lr] {
            args.extend(["--set".to_string(), set.clone()]);
        }
        run(train, &args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let continued_bundle = work.path().join("bundle-continued");
    run(
        &export,
        &[
            "from-run",
            "--run",
            s(&continued),
            "--out",
            s(&continued_bundle),
            "--name",
            "ci-continued",
            "--version",
            "0.0.2",
        ],
    );
    let provenance = ModelBundle::open(&continued_bundle)
        .unwrap()
        .manifest
        .provenance;
    assert_eq!(
        provenance.steps["descriptor"],
        config.ssl.descriptor_training.steps as u64 + 1
    );
    assert_eq!(provenance.steps["condition"], 3 + 1);
    assert_eq!(
        provenance.steps["density"],
        config.density.training.steps as u64 + 1
    );
    assert!(
        provenance.notes.contains("started from"),
        "{}",
        provenance.notes
    );
    let out_continued = work.path().join("scored-continued");
    run(
        &screener,
        &[
            "score",
            s(&series),
            "--model",
            s(&continued_bundle),
            "--out",
            s(&out_continued),
            "--threads",
            "2",
        ],
    );
    let continued_map = read_nifti(&out_continued.join("anomaly_map.nii.gz")).unwrap();
    let largest_difference = continued_map
        .data
        .iter()
        .zip(map.data.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(largest_difference < 1e-3, "{largest_difference}");
}
