//! Preprocessing parameters, with `docs/METHOD.md`'s values as the default.

use serde::{Deserialize, Serialize};

use super::clahe::ClaheParams;

/// Settings of [`super::preprocess`]. Vectors are in (i, j, k) order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PreprocessParams {
    /// Voxels above this (HU) are body for the crop.
    pub body_threshold_hu: f32,
    /// Edge of the crop blocks in mm.
    pub body_block_mm: f64,
    /// Fraction of a block's voxels above the threshold for the block to count as body.
    pub body_block_fraction: f32,
    /// Voxel spacing (mm) after resampling.
    pub target_spacing: [f64; 3],
    /// Intensity window (HU) mapped to [0, 1].
    pub clip_hu: [f32; 2],
    /// CLAHE normalised clip limit.
    pub clahe_clip_limit: f64,
    /// CLAHE histogram bins.
    pub clahe_nbins: usize,
}

impl Default for PreprocessParams {
    fn default() -> Self {
        Self {
            body_threshold_hu: -500.0,
            body_block_mm: 5.0,
            body_block_fraction: 0.5,
            target_spacing: [1.5, 1.5, 2.25],
            clip_hu: [-1000.0, 300.0],
            clahe_clip_limit: 0.05,
            clahe_nbins: 256,
        }
    }
}

impl PreprocessParams {
    pub fn clahe(&self) -> ClaheParams {
        ClaheParams {
            clip_limit: self.clahe_clip_limit,
            nbins: self.clahe_nbins,
            kernel_size: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip_through_json_and_fill_missing_fields_with_defaults() {
        let p = PreprocessParams::default();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<PreprocessParams>(&json).unwrap(), p);
        let partial: PreprocessParams =
            serde_json::from_str(r#"{"target_spacing": [1.0, 1.0, 1.5]}"#).unwrap();
        assert_eq!(partial.target_spacing, [1.0, 1.0, 1.5]);
        assert_eq!(partial.clahe_clip_limit, 0.05);
    }
}
