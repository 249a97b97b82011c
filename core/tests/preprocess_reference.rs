//! Preprocessing against the Python reference (fixtures from
//! `scripts/make_preprocess_fixtures.py` with the pinned venv: numpy 2.4.6, scipy 1.17.1,
//! scikit-image 0.26.0; numpy 2.5.5 and scipy 1.18.1 give byte-identical arrays).
//!
//! Tolerances, as max absolute difference:
//! - resampling vs `scipy.ndimage.zoom(order=1, grid_mode=True, mode='nearest')` on HU values
//!   in [-1100, 1000]: 1e-3 HU, i.e. 1e-6 of the value range (we work in f32, scipy in f64;
//!   the observed worst case is a few f32 ulps of 1000 HU);
//! - intensity window vs numpy float32 `(clip(x, -1000, 300) + 1000) / 1300`: bit-identical;
//! - CLAHE vs `equalize_adapthist(clip_limit=0.05)`: 1e-3, with at most 0.1% of voxels
//!   differing by more than one 14-bit grey level (`1 / 16383`); such a difference can only
//!   come from f32 rounding ties in the blend. Observed: bit-identical on all fixtures.

use std::path::PathBuf;

use ndarray::Array3;
use screener_core::preprocess::{clahe, clip_and_scale, resample_linear, ClaheParams};
use screener_core::{Dims, Geometry};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess")
}

fn load(entry: &Value) -> Array3<f32> {
    let shape: Vec<usize> = entry["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let bytes = std::fs::read(dir().join(entry["file"].as_str().unwrap())).unwrap();
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Array3::from_shape_vec((shape[0], shape[1], shape[2]), values).unwrap()
}

fn cases(kind: &str) -> Vec<Value> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir().join("index.json")).unwrap()).unwrap();
    let all = index["cases"].as_array().unwrap().clone();
    let picked: Vec<Value> = all.into_iter().filter(|c| c["kind"] == kind).collect();
    assert!(!picked.is_empty(), "no {kind} fixtures");
    picked
}

fn max_abs_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn resampling_matches_scipy_zoom_within_a_thousandth_of_a_hounsfield_unit() {
    for case in cases("zoom") {
        let input = load(&case["input"]);
        let want = load(&case["output"]);
        let got = resample_linear(input.view(), Dims::from_shape(want.shape()));
        let d = max_abs_diff(&got, &want);
        println!("{}: max abs diff {d:e} HU", case["name"]);
        assert!(d <= 1e-3, "{}: max abs diff {d}", case["name"]);
    }
}

#[test]
fn resampled_grid_size_matches_scipy_zoom_for_the_method_spacing() {
    let case = &cases("zoom")[0];
    assert_eq!(case["name"], "zoom_down");
    let input = load(&case["input"]);
    let want = load(&case["output"]);
    let g = Geometry::axial([0.0; 3], [0.8, 0.8, 1.25]);
    let (_, dims) = g.with_spacing(Dims::from_shape(input.shape()), [1.5, 1.5, 2.25]);
    assert_eq!(dims, Dims::from_shape(want.shape()));
}

#[test]
fn intensity_window_is_bit_identical_to_numpy_float32() {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir().join("index.json")).unwrap()).unwrap();
    let ct_entry = &index["cases"][0]["input"];
    assert_eq!(ct_entry["file"], "ct_24x40x48.f32");
    let mut got = load(ct_entry);
    clip_and_scale(&mut got, -1000.0, 300.0);
    let want_entry = serde_json::json!({"file": "windowed_24x40x48.f32", "shape": [24, 40, 48]});
    assert_eq!(got, load(&want_entry));
}

#[test]
fn clahe_matches_scikit_image_within_tolerance() {
    for case in cases("clahe") {
        let input = load(&case["input"]);
        let want = load(&case["output"]);
        let kernel_size = case["kernel_size"].as_array().map(|k| {
            let k: Vec<usize> = k.iter().map(|v| v.as_u64().unwrap() as usize).collect();
            [k[2], k[1], k[0]]
        });
        let params = ClaheParams {
            clip_limit: case["clip_limit"].as_f64().unwrap(),
            nbins: case["nbins"].as_u64().unwrap() as usize,
            kernel_size,
        };
        let got = clahe(input.view(), &params);
        let d = max_abs_diff(&got, &want);
        let off = got
            .iter()
            .zip(&want)
            .filter(|(x, y)| (*x - *y).abs() > 1.5 / 16383.0)
            .count();
        println!(
            "{}: max abs diff {d:e}, {off} voxels beyond one grey level",
            case["name"]
        );
        assert!(d <= 1e-3, "{}: max abs diff {d}", case["name"]);
        assert!(
            off * 1000 <= got.len(),
            "{}: {off} voxels differ",
            case["name"]
        );
    }
}
