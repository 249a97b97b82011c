//! Sin-cos positional encoding of absolute voxel position in the whole volume: the baseline
//! condition of the density model (paper, appendix C).

use std::f64::consts::PI;

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};

/// Per axis, `frequencies` wavelengths spaced geometrically from `min_wavelength_mm` to
/// `max_wavelength_mm`; channels are `3 * 2 * frequencies`.
#[derive(Config, Debug)]
pub struct SinCosPositionalConfig {
    #[config(default = 8)]
    pub frequencies: usize,
    #[config(default = 8.0)]
    pub min_wavelength_mm: f64,
    #[config(default = 1024.0)]
    pub max_wavelength_mm: f64,
}

impl SinCosPositionalConfig {
    pub fn channels(&self) -> usize {
        6 * self.frequencies
    }

    /// Wavelength of frequency `f` (0 = shortest).
    pub fn wavelength_mm(&self, f: usize) -> f64 {
        if self.frequencies == 1 {
            return self.min_wavelength_mm;
        }
        let t = f as f64 / (self.frequencies - 1) as f64;
        self.min_wavelength_mm * (self.max_wavelength_mm / self.min_wavelength_mm).powf(t)
    }

    /// Encoding `[1, 6F, N1, N2, N3]` of the grid whose voxel `(n1, n2, n3)` sits at
    /// `origin_mm[a] + n_a * step_mm[a]` on axis `a` (tensor order `[k, j, i]`, in the whole
    /// volume's frame). Channel `(a * F + f) * 2` is `sin(2 pi p_a / lambda_f)`, the next one
    /// the cosine. For the 3 x 3 x 2 pooled grid of a patch starting at voxel `v0` with spacing
    /// `s`: `origin = (v0 + (window - 1) / 2) * s`, `step = window * s`.
    pub fn encode(
        &self,
        origin_mm: [f64; 3],
        step_mm: [f64; 3],
        shape: [usize; 3],
        device: &Device,
    ) -> Tensor<5> {
        let f_count = self.frequencies;
        let voxels: usize = shape.iter().product();
        let mut values = vec![0f32; self.channels() * voxels];
        for axis in 0..3 {
            for f in 0..f_count {
                let omega = 2.0 * PI / self.wavelength_mm(f);
                let sin_channel = (axis * f_count + f) * 2;
                for v in 0..voxels {
                    let idx = [
                        v / (shape[1] * shape[2]),
                        (v / shape[2]) % shape[1],
                        v % shape[2],
                    ];
                    let p = origin_mm[axis] + idx[axis] as f64 * step_mm[axis];
                    values[sin_channel * voxels + v] = (omega * p).sin() as f32;
                    values[(sin_channel + 1) * voxels + v] = (omega * p).cos() as f32;
                }
            }
        }
        Tensor::from_data(
            TensorData::new(values, [1, self.channels(), shape[0], shape[1], shape[2]]),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, to_vec};

    #[test]
    fn encoding_depends_on_absolute_position_not_on_the_patch() {
        let cfg = SinCosPositionalConfig::new();
        let dev = device();
        // Voxel (1, 2, 3) of a patch starting at (10, 20, 30) mm is voxel (0, 0, 0) of a
        // patch starting one step further on each axis.
        let step = [2.25, 1.5, 1.5];
        let a = to_vec(cfg.encode([10.0, 20.0, 30.0], step, [2, 3, 4], &dev));
        let b = to_vec(cfg.encode([12.25, 23.0, 34.5], step, [1, 1, 1], &dev));
        let voxels = 2 * 3 * 4;
        let v = (3 + 2) * 4 + 3;
        for ch in 0..cfg.channels() {
            assert!((a[ch * voxels + v] - b[ch]).abs() < 1e-5, "channel {ch}");
        }
    }

    #[test]
    fn each_sin_cos_pair_has_unit_norm() {
        let cfg = SinCosPositionalConfig::new().with_frequencies(3);
        let e = to_vec(cfg.encode([0.0, 5.0, 7.0], [1.0; 3], [2, 2, 2], &device()));
        for pair in 0..9 {
            let (s, c) = (e[pair * 16 + 5], e[pair * 16 + 8 + 5]);
            assert!((s * s + c * c - 1.0).abs() < 1e-5);
        }
    }
}
