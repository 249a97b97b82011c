//! Agreement with scikit-learn and numpy on the fixtures written by
//! `scripts/make_metrics_fixtures.py` into `core/tests/fixtures/metrics/`.

use std::path::PathBuf;

use ndarray::{Array3, ArrayView3};
use serde::Deserialize;

use super::*;

const TOLERANCE: f64 = 1e-9;

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Deserialize)]
struct AurocCase {
    name: String,
    scores: Vec<f64>,
    labels: Vec<u8>,
    auroc: f64,
}

#[derive(Deserialize)]
struct DiceCase {
    name: String,
    shape: [usize; 3],
    a: Vec<u8>,
    b: Vec<u8>,
    dice: f64,
}

#[derive(Deserialize)]
struct Image {
    shape: [usize; 3],
    scores: Vec<f32>,
    lesion: Vec<u8>,
    body: Vec<u8>,
}

impl Image {
    fn arrays(&self) -> (Array3<f32>, Array3<u8>, Array3<u8>) {
        (
            Array3::from_shape_vec(self.shape, self.scores.clone()).unwrap(),
            Array3::from_shape_vec(self.shape, self.lesion.clone()).unwrap(),
            Array3::from_shape_vec(self.shape, self.body.clone()).unwrap(),
        )
    }
}

#[derive(Deserialize)]
struct Cases<T> {
    cases: Vec<T>,
}

#[derive(Deserialize)]
struct VoxelAurocFixture {
    cases: Vec<Image>,
    auroc_all_voxels: f64,
}

#[derive(Deserialize)]
struct ThresholdFixture {
    cases: Vec<Image>,
    best_threshold: f64,
    best_mean_dice: f64,
}

fn case_views(arrays: &[(Array3<f32>, Array3<u8>, Array3<u8>)]) -> Vec<CaseMaps<'_>> {
    arrays
        .iter()
        .map(|(s, l, b)| CaseMaps::new(s.view(), l.view(), b.view()).unwrap())
        .collect()
}

#[test]
fn auroc_agrees_with_sklearn_roc_auc_score() {
    let fixture: Cases<AurocCase> = load("auroc.json");
    assert!(fixture.cases.len() >= 5);
    for case in fixture.cases {
        let labels: Vec<bool> = case.labels.iter().map(|&l| l != 0).collect();
        let got = auroc(&case.scores, &labels).unwrap();
        assert!(
            (got - case.auroc).abs() < TOLERANCE,
            "{}: {got} vs {}",
            case.name,
            case.auroc
        );
    }
}

#[test]
fn dice_agrees_with_numpy() {
    let fixture: Cases<DiceCase> = load("dice.json");
    for case in fixture.cases {
        let a = ArrayView3::from_shape(case.shape, &case.a).unwrap();
        let b = ArrayView3::from_shape(case.shape, &case.b).unwrap();
        let got = dice(a, b).unwrap();
        assert!(
            (got - case.dice).abs() < TOLERANCE,
            "{}: {got} vs {}",
            case.name,
            case.dice
        );
    }
}

#[test]
fn voxel_auroc_taking_all_voxels_agrees_with_sklearn() {
    let fixture: VoxelAurocFixture = load("voxel_auroc.json");
    let arrays: Vec<_> = fixture.cases.iter().map(Image::arrays).collect();
    let protocol = VoxelAurocProtocol {
        per_class: usize::MAX,
        seed: 0,
    };
    let got = protocol.evaluate(&case_views(&arrays)).unwrap();
    assert!(
        (got.auroc - fixture.auroc_all_voxels).abs() < TOLERANCE,
        "{} vs {}",
        got.auroc,
        fixture.auroc_all_voxels
    );
}

#[test]
fn selected_threshold_agrees_with_numpy_brute_force() {
    let fixture: ThresholdFixture = load("threshold.json");
    let arrays: Vec<_> = fixture.cases.iter().map(Image::arrays).collect();
    let choice = select_threshold(&case_views(&arrays), DEFAULT_MAX_CANDIDATES).unwrap();
    assert!((choice.mean_dice - fixture.best_mean_dice).abs() < TOLERANCE);
    assert_eq!(choice.threshold, fixture.best_threshold);
}
