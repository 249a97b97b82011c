//! The scoring engine on real ONNX Runtime with tiny graphs whose output is known: an
//! identity "network" must give back the preprocessed CT on the original grid, which checks
//! batching, blending, pooling and reprojection end to end.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array3;
use screener_core::bundle::{
    write_manifest, BlendingKind, Calibration, Manifest, ModelIdentity, ModelKind, NetworkSpec,
    PatchSpec, Provenance, TensorSpec, SCHEMA_VERSION,
};
use screener_core::phantom::PhantomSpec;
use screener_core::preprocess::{preprocess, resample_linear, PreprocessParams};
use screener_core::{CtVolume, Dims, Volume};
use screener_daemon::engine::{EngineError, EngineOptions, Scorer};
use screener_onnx::{Dim, GraphBuilder};

const PATCH: [usize; 3] = [48, 48, 32];
const POOL: [usize; 3] = [3, 3, 2];

/// `[batch, 1, k, j, i]` with dynamic batch and spatial axes.
fn dyn5() -> Vec<Dim> {
    vec![
        Dim::named("batch"),
        Dim::Fixed(1),
        Dim::named("k"),
        Dim::named("j"),
        Dim::named("i"),
    ]
}

fn spec(file: &str, inputs: &[&str], output: &str) -> NetworkSpec {
    let t = |name: &str| TensorSpec {
        name: name.into(),
        shape: vec![-1, 1, -1, -1, -1],
    };
    NetworkSpec {
        file: file.into(),
        inputs: inputs.iter().map(|n| t(n)).collect(),
        outputs: vec![t(output)],
    }
}

/// `ct` -> `out` scaled by `gain` (a 1x1x1 convolution, so ONNX Runtime really runs a conv).
fn write_gain_graph(path: &Path, input: &str, output: &str, gain: f32) {
    let mut g = GraphBuilder::new("gain");
    let x = g.input(input, &dyn5());
    let w = g.initializer("w", &[1, 1, 1, 1, 1], &[gain]);
    let y = g.node("Conv", &[&x, &w], vec![], None);
    g.output(&y, output, &dyn5());
    screener_onnx::write(&g.finish("test", &[]), path).unwrap();
}

/// Density stand-in: nll = y + 0 * c (depends on both inputs, returns the descriptor).
fn write_density_graph(path: &Path) {
    let mut g = GraphBuilder::new("density");
    let y = g.input("y", &dyn5());
    let c = g.input("c", &dyn5());
    let zero = g.initializer("zero", &[1], &[0.0]);
    let c0 = g.node("Mul", &[&c, &zero], vec![], None);
    let out = g.node("Add", &[&y, &c0], vec![], None);
    g.output(&out, "nll", &dyn5());
    screener_onnx::write(&g.finish("test", &[]), path).unwrap();
}

fn manifest(kind: ModelKind, networks: BTreeMap<String, NetworkSpec>) -> Manifest {
    Manifest {
        schema_version: SCHEMA_VERSION,
        model: ModelIdentity {
            name: "identity-test".into(),
            version: "0".into(),
            description: "graphs that return their input".into(),
        },
        kind,
        preprocessing: PreprocessParams::default(),
        patch: PatchSpec {
            size: PATCH,
            overlap: 0.5,
            blending: BlendingKind::Gaussian,
            pooling: POOL,
            pad_value: 0.0,
        },
        networks,
        calibration: Calibration {
            statistic: "max_body_mean3_pooled_nll".into(),
            normal_scores: vec![],
            threshold: 0.5,
            voxel_threshold: 0.5,
            voxel_scale: 0.1,
            method: "fixed for the test".into(),
        },
        provenance: Provenance {
            trainer_version: "none".into(),
            created: "test".into(),
            data: "none".into(),
            steps: BTreeMap::new(),
            notes: "test graphs, not a model".into(),
        },
        files: BTreeMap::new(),
    }
}

fn distilled_bundle(dir: &Path) {
    write_gain_graph(&dir.join("distilled.onnx"), "ct", "nll", 1.0);
    let mut m = manifest(
        ModelKind::Distilled,
        [("distilled".into(), spec("distilled.onnx", &["ct"], "nll"))].into(),
    );
    write_manifest(dir, &mut m).unwrap();
}

fn modular_bundle(dir: &Path) {
    write_gain_graph(&dir.join("descriptor.onnx"), "ct", "y", 1.0);
    write_gain_graph(&dir.join("condition.onnx"), "ct", "c", 2.0);
    write_density_graph(&dir.join("density.onnx"));
    let mut m = manifest(
        ModelKind::Modular,
        [
            ("descriptor".into(), spec("descriptor.onnx", &["ct"], "y")),
            ("condition".into(), spec("condition.onnx", &["ct"], "c")),
            ("density".into(), spec("density.onnx", &["y", "c"], "nll")),
        ]
        .into(),
    );
    write_manifest(dir, &mut m).unwrap();
}

fn small_ct() -> CtVolume {
    PhantomSpec::new(3, Dims::new(120, 110, 40), [2.4, 2.4, 5.0])
        .generate()
        .ct
}

fn max_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn identity_distilled_network_returns_the_preprocessed_ct_on_the_original_grid() {
    let dir = tempfile::tempdir().unwrap();
    distilled_bundle(dir.path());
    let ct = small_ct();
    let mut scorer = Scorer::load(
        dir.path(),
        EngineOptions {
            threads: 2,
            batch_size: 3,
            use_gpu: false,
        },
    )
    .unwrap();
    let mut calls = 0;
    let result = scorer.score(&ct, &mut |_, _| calls += 1).unwrap();
    assert_eq!(result.map.geometry, ct.geometry);
    assert_eq!(result.map.dims(), ct.dims());
    assert!(calls >= 1 && result.patches > 1);

    let pre = preprocess(&ct, &PreprocessParams::default());
    let least = pre
        .volume
        .data
        .iter()
        .copied()
        .fold(f32::INFINITY, f32::min);
    let expected = pre.to_original_grid(&pre.volume, least);
    let diff = max_diff(&result.map.data, &expected.data);
    assert!(diff < 1e-4, "max difference {diff}");
    assert_eq!(result.flagged, result.study_score > 0.5);
}

#[test]
fn modular_pipeline_pools_descriptor_and_condition_and_runs_the_density() {
    let dir = tempfile::tempdir().unwrap();
    modular_bundle(dir.path());
    let ct = small_ct();
    // One thread runs the feature networks one after the other, more run them concurrently.
    let results: Vec<_> = [1, 2, 3]
        .map(|threads| {
            let options = EngineOptions {
                threads,
                ..EngineOptions::default()
            };
            let mut scorer = Scorer::load(dir.path(), options).unwrap();
            scorer.score(&ct, &mut |_, _| {}).unwrap()
        })
        .into();

    // Expected: the preprocessed CT pooled by whole 3x3x2 blocks, upsampled and reprojected.
    let pre = preprocess(&ct, &PreprocessParams::default());
    let d = pre.volume.dims();
    let pd = Dims::new(d.i.div_ceil(3), d.j.div_ceil(3), d.k.div_ceil(2));
    // Blocks past the end hold the pad value (0) where a patch reached beyond the volume.
    let mut padded = Array3::<f32>::zeros((pd.k * 2, pd.j * 3, pd.i * 3));
    padded
        .slice_mut(ndarray::s![..d.k, ..d.j, ..d.i])
        .assign(&pre.volume.data);
    let pooled = Array3::from_shape_fn(pd.shape(), |(k, j, i)| {
        padded
            .slice(ndarray::s![
                2 * k..2 * k + 2,
                3 * j..3 * j + 3,
                3 * i..3 * i + 3
            ])
            .mean()
            .unwrap()
    });
    let up = resample_linear(pooled.view(), Dims::new(pd.i * 3, pd.j * 3, pd.k * 2));
    let on_grid = up.slice(ndarray::s![..d.k, ..d.j, ..d.i]).to_owned();
    let least = on_grid.iter().copied().fold(f32::INFINITY, f32::min);
    let expected = pre.to_original_grid(&Volume::new(on_grid, pre.volume.geometry), least);
    for (result, threads) in results.iter().zip([1, 2, 3]) {
        let diff = max_diff(&result.map.data, &expected.data);
        assert!(diff < 1e-4, "{threads} threads: max difference {diff}");
    }
}

#[test]
fn a_tampered_network_file_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    distilled_bundle(dir.path());
    let path = dir.path().join("distilled.onnx");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    match Scorer::load(dir.path(), EngineOptions::default()) {
        Err(EngineError::Bundle(e)) => assert!(e.to_string().contains("distilled.onnx"), "{e}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a tampered bundle loaded"),
    }
}

#[test]
fn a_graph_without_the_named_input_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_gain_graph(&dir.path().join("distilled.onnx"), "image", "nll", 1.0);
    let mut m = manifest(
        ModelKind::Distilled,
        [("distilled".into(), spec("distilled.onnx", &["ct"], "nll"))].into(),
    );
    write_manifest(dir.path(), &mut m).unwrap();
    match Scorer::load(dir.path(), EngineOptions::default()) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains("distilled.onnx") && text.contains("'ct'"),
                "{text}"
            );
        }
        Ok(_) => panic!("loaded a graph without the manifest's input"),
    }
}
