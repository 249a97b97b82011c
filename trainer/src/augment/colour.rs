//! Intensity ("colour") augmentations of one view: in-plane blur or sharpening, Gaussian
//! noise, brightness, contrast and gamma, each drawn with its own probability.

use ndarray::{Array3, Axis};
use rand::Rng;

use super::config::ColourConfig;

/// A standard normal sample by the Box-Muller transform (rand 0.8 has no normal
/// distribution; the `rand_distr` in the lock file belongs to a newer rand).
pub fn standard_normal<R: Rng>(rng: &mut R) -> f32 {
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn uniform<R: Rng>(rng: &mut R, [lo, hi]: [f64; 2]) -> f64 {
    if hi > lo {
        rng.gen_range(lo..hi)
    } else {
        lo
    }
}

/// Augments `image` (`[k, j, i]`, values in [0, 1]) in place. `spacing_mm` is the view's
/// spacing along its axes; blur sigmas are in mm and act on axes 1 and 2 only (in-plane).
pub fn augment_colour<R: Rng>(
    image: &mut Array3<f32>,
    spacing_mm: [f64; 3],
    cfg: &ColourConfig,
    rng: &mut R,
) {
    if rng.gen_bool(cfg.blur_or_sharpen_probability) {
        if rng.gen_bool(0.5) {
            let sigma = uniform(rng, cfg.blur_sigma_mm);
            *image = blur_in_plane(image, sigma, spacing_mm);
        } else {
            let sigma = uniform(rng, cfg.sharpen_sigma_mm);
            let alpha = uniform(rng, cfg.sharpen_alpha) as f32;
            let blurred = blur_in_plane(image, sigma, spacing_mm);
            image.zip_mut_with(&blurred, |x, &b| *x += alpha * (*x - b));
        }
    }
    if rng.gen_bool(cfg.noise_probability) {
        let sigma = uniform(rng, cfg.noise_sigma) as f32;
        image
            .iter_mut()
            .for_each(|x| *x += sigma * standard_normal(rng));
    }
    if rng.gen_bool(cfg.brightness_probability) {
        let b = uniform(rng, cfg.brightness) as f32;
        image.mapv_inplace(|x| (x * b).clamp(0.0, 1.0));
    }
    if rng.gen_bool(cfg.contrast_probability) {
        let c = uniform(rng, cfg.contrast) as f32;
        let mean = image.mean().unwrap_or(0.0);
        image.mapv_inplace(|x| ((x - mean) * c + mean).clamp(0.0, 1.0));
    }
    if rng.gen_bool(cfg.gamma_probability) {
        let g = uniform(rng, cfg.gamma) as f32;
        image.mapv_inplace(|x| x.clamp(0.0, 1.0).powf(g));
    }
}

/// Gaussian blur along axes 1 and 2 with `sigma_mm`, converted to voxels per axis.
pub fn blur_in_plane(image: &Array3<f32>, sigma_mm: f64, spacing_mm: [f64; 3]) -> Array3<f32> {
    let mut out = image.clone();
    for axis in [1, 2] {
        out = gaussian_filter_1d(&out, axis, sigma_mm / spacing_mm[axis]);
    }
    out
}

/// Normalised Gaussian kernel truncated at 4 sigma (scipy's `gaussian_filter1d` default).
fn gaussian_kernel(sigma: f64) -> Vec<f32> {
    let radius = (4.0 * sigma + 0.5) as usize;
    let weights: Vec<f64> = (0..=2 * radius)
        .map(|n| {
            let x = n as f64 - radius as f64;
            (-0.5 * x * x / (sigma * sigma)).exp()
        })
        .collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total) as f32).collect()
}

/// Mirror index for scipy's 'reflect' mode (`d c b a | a b c d | d c b a`).
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let period = 2 * n;
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - 1 - m }) as usize
}

/// Convolution with a Gaussian of `sigma` voxels along `axis` ('reflect' boundaries); the
/// identity for sigma below 1e-3 voxels.
pub fn gaussian_filter_1d(image: &Array3<f32>, axis: usize, sigma: f64) -> Array3<f32> {
    if sigma < 1e-3 {
        return image.clone();
    }
    let kernel = gaussian_kernel(sigma);
    let radius = (kernel.len() / 2) as isize;
    let mut out = Array3::zeros(image.raw_dim());
    for (src, mut dst) in image
        .lanes(Axis(axis))
        .into_iter()
        .zip(out.lanes_mut(Axis(axis)))
    {
        let n = src.len();
        for o in 0..n {
            let mut acc = 0.0f32;
            for (t, w) in kernel.iter().enumerate() {
                acc += w * src[reflect(o as isize + t as isize - radius, n)];
            }
            dst[o] = acc;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn reflect_mirrors_about_the_edges_like_scipy() {
        let idx: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(idx, vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
    }

    #[test]
    fn blur_spreads_an_impulse_as_a_truncated_gaussian_in_plane_only() {
        let mut image = Array3::<f32>::zeros((1, 1, 21));
        image[[0, 0, 10]] = 1.0;
        let out = gaussian_filter_1d(&image, 2, 1.5);
        let total: f32 = out.iter().sum();
        assert!((total - 1.0).abs() < 1e-5);
        // A unit impulse blurred with sigma 1.5 is the normalised Gaussian truncated at radius
        // 6 (scipy's rule): exp(-x^2 / 4.5) / sum, 0.265964 at the centre, 0.212968 next to it.
        assert!(
            (out[[0, 0, 10]] - 0.265_964).abs() < 1e-5,
            "{}",
            out[[0, 0, 10]]
        );
        assert!(
            (out[[0, 0, 11]] - 0.212_968).abs() < 1e-5,
            "{}",
            out[[0, 0, 11]]
        );
        // Along the slice axis nothing moves.
        let slices = blur_in_plane(&Array3::from_elem((3, 1, 1), 0.5), 1.0, [1.0; 3]);
        assert!(slices.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    }

    #[test]
    fn disabled_augmentations_leave_the_view_unchanged() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let original = Array3::from_shape_fn((4, 5, 6), |(k, j, i)| ((k + j + i) % 7) as f32 / 7.0);
        let mut image = original.clone();
        augment_colour(&mut image, [2.0, 1.0, 1.0], &ColourConfig::none(), &mut rng);
        assert_eq!(image, original);
    }

    #[test]
    fn default_augmentations_change_the_view_and_keep_it_in_range_after_gamma() {
        let cfg = ColourConfig {
            gamma_probability: 1.0,
            ..ColourConfig::default()
        };
        let original =
            Array3::from_shape_fn((4, 8, 8), |(k, j, i)| ((k * 3 + j + i) % 9) as f32 / 9.0);
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut image = original.clone();
            augment_colour(&mut image, [2.0, 1.5, 1.5], &cfg, &mut rng);
            assert!(image.iter().all(|v| (0.0..=1.0).contains(v)), "seed {seed}");
            assert_ne!(image, original, "seed {seed}");
        }
    }

    #[test]
    fn standard_normal_has_zero_mean_and_unit_variance() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let xs: Vec<f64> = (0..20000)
            .map(|_| standard_normal(&mut rng) as f64)
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
