//! The model identity and calibration the admin page shows, taken from the bundle manifest.

use screener_core::bundle::{Manifest, ModelKind};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub kind: ModelKind,
    pub calibration: CalibrationInfo,
    /// Anything a user must know about the weights (e.g. that they are untrained).
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationInfo {
    pub statistic: String,
    /// A study is flagged when its score exceeds this.
    pub threshold: f64,
    pub voxel_threshold: f64,
    pub voxel_scale: f64,
    /// How the threshold was chosen, in words.
    pub method: String,
    pub normal_scores: NormalScores,
}

/// The study scores of the normal scans the threshold was set on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormalScores {
    pub count: usize,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
    /// Every score, sorted.
    pub scores: Vec<f64>,
}

impl ModelInfo {
    pub fn from_manifest(manifest: &Manifest) -> Self {
        let c = &manifest.calibration;
        Self {
            name: manifest.model.name.clone(),
            version: manifest.model.version.clone(),
            description: manifest.model.description.clone(),
            kind: manifest.kind,
            calibration: CalibrationInfo {
                statistic: c.statistic.clone(),
                threshold: c.threshold,
                voxel_threshold: c.voxel_threshold,
                voxel_scale: c.voxel_scale,
                method: c.method.clone(),
                normal_scores: NormalScores::new(&c.normal_scores),
            },
            notes: manifest.provenance.notes.clone(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ModelKind::Modular => "modular",
            ModelKind::Distilled => "distilled",
        }
    }
}

impl NormalScores {
    pub fn new(scores: &[f64]) -> Self {
        let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        Self {
            count: sorted.len(),
            min: sorted.first().copied(),
            median: quantile(&sorted, 0.5),
            p95: quantile(&sorted, 0.95),
            max: sorted.last().copied(),
            scores: sorted,
        }
    }
}

/// Linear interpolation between the closest ranks of sorted values.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_scores_are_summarised_with_interpolated_quantiles() {
        let n = NormalScores::new(&[4.0, 1.0, f64::NAN, 3.0, 2.0, 5.0]);
        assert_eq!(n.count, 5);
        assert_eq!(n.scores, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!((n.min, n.median, n.max), (Some(1.0), Some(3.0), Some(5.0)));
        assert!((n.p95.unwrap() - 4.8).abs() < 1e-12);
        assert_eq!(NormalScores::new(&[]).median, None);
    }
}
