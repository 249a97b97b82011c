//! Image formation effects of a phantom: the slight in-plane blur of a CT reconstruction
//! kernel and spatially correlated Gaussian noise drawn from one seeded noise field.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Side of the square noise field; slices read it at random offsets so that a volume
/// needs one field, not fresh random numbers per voxel.
const FIELD: usize = 1024;

/// A unit-variance, in-plane correlated Gaussian noise field.
pub(crate) struct NoiseField {
    values: Vec<f32>,
}

impl NoiseField {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut values: Vec<f32> = (0..FIELD * FIELD / 2)
            .flat_map(|_| {
                let (a, b) = gaussian_pair(&mut rng);
                [a, b]
            })
            .collect();
        // Correlate neighbouring pixels as a smooth reconstruction kernel does.
        blur_wrapping(&mut values, FIELD, FIELD);
        let var = values.iter().map(|v| v * v).sum::<f32>() / values.len() as f32;
        let inv = 1.0 / var.sqrt();
        values.iter_mut().for_each(|v| *v *= inv);
        Self { values }
    }

    /// Adds `sigma` times the field to `img`, read from the offset chosen by `slice_seed`.
    pub fn add_to(&self, img: &mut [f32], nx: usize, ny: usize, sigma: f32, slice_seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(slice_seed);
        let ox = rng.gen_range(0..FIELD);
        let oy = rng.gen_range(0..FIELD);
        for j in 0..ny {
            let row = &self.values[((j + oy) % FIELD) * FIELD..][..FIELD];
            let out = &mut img[j * nx..(j + 1) * nx];
            for (i, v) in out.iter_mut().enumerate() {
                *v += sigma * row[(i + ox) % FIELD];
            }
        }
    }
}

fn gaussian_pair(rng: &mut ChaCha8Rng) -> (f32, f32) {
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
    ((r * c) as f32, (r * s) as f32)
}

/// Separable [1 2 1]/4 blur with wrap-around edges.
fn blur_wrapping(v: &mut [f32], nx: usize, ny: usize) {
    let mut tmp = vec![0.0f32; v.len()];
    for j in 0..ny {
        for i in 0..nx {
            let l = v[j * nx + (i + nx - 1) % nx];
            let r = v[j * nx + (i + 1) % nx];
            tmp[j * nx + i] = 0.25 * (l + r) + 0.5 * v[j * nx + i];
        }
    }
    for j in 0..ny {
        let up = (j + ny - 1) % ny;
        let down = (j + 1) % ny;
        for i in 0..nx {
            v[j * nx + i] = 0.25 * (tmp[up * nx + i] + tmp[down * nx + i]) + 0.5 * tmp[j * nx + i];
        }
    }
}

/// Slight separable blur `[w, 1 - 2w, w]` with clamped edges, in place.
pub(crate) fn blur_slice(v: &mut [f32], nx: usize, ny: usize, w: f32) {
    let c = 1.0 - 2.0 * w;
    let mut tmp = vec![0.0f32; v.len()];
    for j in 0..ny {
        let row = &v[j * nx..(j + 1) * nx];
        let out = &mut tmp[j * nx..(j + 1) * nx];
        for i in 0..nx {
            let l = row[i.saturating_sub(1)];
            let r = row[(i + 1).min(nx - 1)];
            out[i] = w * (l + r) + c * row[i];
        }
    }
    for j in 0..ny {
        let up = j.saturating_sub(1);
        let down = (j + 1).min(ny - 1);
        for i in 0..nx {
            v[j * nx + i] = w * (tmp[up * nx + i] + tmp[down * nx + i]) + c * tmp[j * nx + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_field_has_unit_variance() {
        let f = NoiseField::new(3);
        let mut img = vec![0.0f32; 256 * 256];
        f.add_to(&mut img, 256, 256, 1.0, 11);
        let var = img.iter().map(|v| v * v).sum::<f32>() / img.len() as f32;
        assert!((var - 1.0).abs() < 0.1, "variance {var}");
    }

    #[test]
    fn blur_keeps_a_flat_image_flat() {
        let mut img = vec![5.0f32; 30 * 20];
        blur_slice(&mut img, 30, 20, 0.2);
        assert!(img.iter().all(|v| (v - 5.0).abs() < 1e-5));
    }
}
