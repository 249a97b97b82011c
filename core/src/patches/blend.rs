//! Blending windows: how much each voxel of a patch output counts where patches overlap.

use ndarray::Array3;
use serde::{Deserialize, Serialize};

use crate::geometry::Dims;

/// Gaussian sigma as a fraction of the patch size along each axis (nnU-Net's choice).
pub const GAUSSIAN_SIGMA_FRACTION: f64 = 1.0 / 8.0;

/// Smallest blending weight. Without a floor, a voxel reached only by patch corners could
/// get a weight that underflows to zero and an undefined average.
pub const MIN_BLEND_WEIGHT: f32 = 1e-6;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Blending {
    /// Every voxel of a patch counts the same: a plain average in overlaps.
    Uniform,
    /// Importance falls off from the patch centre, where the network sees the most context.
    #[default]
    Gaussian,
}

impl Blending {
    /// The weight of every voxel of a patch of `size` (i, j, k), as an array `[k, j, i]` with
    /// maximum 1. The Gaussian is the product of one Gaussian per axis, centred on the middle of
    /// the patch, with sigma = [`GAUSSIAN_SIGMA_FRACTION`] of the size, floored at
    /// [`MIN_BLEND_WEIGHT`].
    pub fn window(self, size: Dims) -> Array3<f32> {
        match self {
            Blending::Uniform => Array3::ones(size.shape()),
            Blending::Gaussian => {
                let [gi, gj, gk] = size.as_array().map(gaussian_1d);
                Array3::from_shape_fn(size.shape(), |(k, j, i)| {
                    ((gk[k] * gj[j] * gi[i]) as f32).max(MIN_BLEND_WEIGHT)
                })
            }
        }
    }
}

/// Samples of a Gaussian over `n` voxels, normalised so that the centre voxel(s) weigh 1.
fn gaussian_1d(n: usize) -> Vec<f64> {
    let centre = (n as f64 - 1.0) / 2.0;
    let sigma = n as f64 * GAUSSIAN_SIGMA_FRACTION;
    let raw: Vec<f64> = (0..n)
        .map(|x| (-0.5 * ((x as f64 - centre) / sigma).powi(2)).exp())
        .collect();
    let peak = raw.iter().copied().fold(0.0, f64::max);
    raw.into_iter().map(|w| w / peak).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_window_is_all_ones() {
        let w = Blending::Uniform.window(Dims::new(5, 4, 3));
        assert_eq!(w.shape(), &[3, 4, 5]);
        assert!(w.iter().all(|&x| x == 1.0));
    }

    #[test]
    fn gaussian_window_peaks_at_one_in_the_centre_and_is_symmetric() {
        let w = Blending::Gaussian.window(Dims::new(96, 96, 64));
        let max = w.iter().copied().fold(0.0f32, f32::max);
        assert!((max - 1.0).abs() < 1e-6);
        assert!((w[[31, 47, 47]] - max).abs() < 1e-6);
        assert_eq!(w[[0, 10, 20]], w[[63, 85, 75]]);
        assert!(w[[32, 48, 48]] > w[[32, 48, 70]]);
    }

    #[test]
    fn gaussian_window_is_positive_even_in_the_corners() {
        let w = Blending::Gaussian.window(Dims::new(96, 96, 64));
        assert!(w.iter().all(|&x| x >= MIN_BLEND_WEIGHT));
        assert_eq!(w[[0, 0, 0]], MIN_BLEND_WEIGHT);
    }

    #[test]
    fn gaussian_sigma_is_an_eighth_of_the_patch_size_per_axis() {
        let g = gaussian_1d(64);
        let (centre, sigma) = (31.5, 8.0);
        let unnormalised = |x: f64| (-0.5 * ((x - centre) / sigma).powi(2)).exp();
        for x in [0usize, 20, 39, 63] {
            let want = unnormalised(x as f64) / unnormalised(31.0);
            assert!((g[x] - want).abs() < 1e-12, "voxel {x}: {} vs {want}", g[x]);
        }
    }
}
