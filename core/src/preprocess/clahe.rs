//! 3D contrast-limited adaptive histogram equalisation (CLAHE), equivalent to scikit-image 0.26
//! `exposure.equalize_adapthist(image, kernel_size, clip_limit, nbins)` on an f32 image in
//! `[0, 1]`.
//!
//! The algorithm, in the terms used here (axes in ndarray order `[k, j, i]`, kernel `K`):
//! 1. Grey levels: `u = rint(x * 65535)` (f32, as `img_as_uint`), stretched to 14 bits
//!    `q = round((u - umin) / (umax - umin) * 16383)` (f64), binned as `q / (1 + 16384 / nbins)`.
//! 2. Contextual regions tile the image from voxel 0 in steps of `K`, `ceil(n / K)` per axis;
//!    the last region reaches past the image and is filled by mirror reflection (numpy
//!    'reflect'). Each region's histogram is clipped at `max(1, clip_limit * |K|)` counts, the
//!    excess redistributed, and turned into a grey-level map by its cumulative sum.
//! 3. Voxel `x` (per axis) lies between regions `b - 1` and `b` (clamped), with
//!    `b = (x + K/2) / K`, and weight `((x + K/2) % K) / K` on region `b`; the eight maps
//!    are blended trilinearly, summed in f32 and truncated to an integer grey level.
//! 4. The result is stretched to `[0, 1]` by its own minimum and maximum.
//!
//! Step 1 and the clipping are bit-exact reproductions because a one-bin change moves the
//! output by up to `clip_limit`. Blending sums the same f32-rounded terms in the same order,
//! so outputs agree with scikit-image to within one 14-bit grey level (`1 / 16383` after the
//! final stretch) at worst. Inputs outside `[0, 1]` are clamped (scikit-image rejects them).
//! Regions are independent, so histograms and blending run in parallel (rayon).

use ndarray::{Array3, ArrayView3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::clahe_histogram::{clip_histogram, map_histogram};

const GREY_LEVELS: usize = 1 << 14;

/// CLAHE settings; `Default` is the preprocessing of `docs/METHOD.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClaheParams {
    /// Normalised clip limit in (0, 1); 0 disables clipping (plain AHE).
    pub clip_limit: f64,
    /// Number of histogram bins over the 14-bit grey range.
    pub nbins: usize,
    /// Region size in voxels along (i, j, k); `None` = 1/8 of each dimension (at least 1).
    pub kernel_size: Option<[usize; 3]>,
}

impl Default for ClaheParams {
    fn default() -> Self {
        Self {
            clip_limit: 0.05,
            nbins: 256,
            kernel_size: None,
        }
    }
}

/// CLAHE of an image indexed `[k, j, i]` with values in `[0, 1]`; output in `[0, 1]`.
pub fn clahe(image: ArrayView3<f32>, params: &ClaheParams) -> Array3<f32> {
    let shape = [image.dim().0, image.dim().1, image.dim().2];
    if shape.contains(&0) {
        return Array3::zeros(shape);
    }
    let kernel: [usize; 3] = match params.kernel_size {
        Some([ki, kj, kk]) => [kk.max(1), kj.max(1), ki.max(1)],
        None => shape.map(|s| (s / 8).max(1)),
    };
    let bin_size = 1 + GREY_LEVELS / params.nbins.max(1);
    let hist_len = params.nbins.max((GREY_LEVELS - 1) / bin_size + 1);
    let bins = grey_bins(image, bin_size);
    let n_regions = [0, 1, 2].map(|a| shape[a].div_ceil(kernel[a]));
    let maps = region_maps(&bins, kernel, n_regions, hist_len, params.clip_limit);
    let mut out = blend(&bins, kernel, n_regions, hist_len, &maps);
    stretch_to_unit(&mut out);
    out
}

/// Step 1: the histogram bin of every voxel.
fn grey_bins(image: ArrayView3<f32>, bin_size: usize) -> Array3<u16> {
    let to_u16 = |x: f32| (x * 65535.0).round_ties_even().clamp(0.0, 65535.0) as u16;
    let (lo, hi) = image
        .as_slice_memory_order()
        .map(|s| {
            s.par_chunks(1 << 16).map(min_max).reduce(
                || (f32::INFINITY, f32::NEG_INFINITY),
                |a, b| (a.0.min(b.0), a.1.max(b.1)),
            )
        })
        .unwrap_or_else(|| min_max_iter(image.iter().copied()));
    let (umin, umax) = (to_u16(lo) as usize, to_u16(hi) as usize);
    let lut: Vec<u16> = (0..=umax)
        .map(|u| {
            let q = if umax > umin {
                ((u.max(umin) - umin) as f64 / (umax - umin) as f64 * (GREY_LEVELS - 1) as f64)
                    .round_ties_even() as usize
            } else {
                u.min(GREY_LEVELS - 1)
            };
            (q / bin_size) as u16
        })
        .collect();
    let mut bins = Array3::<u16>::zeros(image.raw_dim());
    let src = image.as_standard_layout();
    bins.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(1 << 16)
        .zip(src.as_slice().expect("standard layout").par_chunks(1 << 16))
        .for_each(|(b, x)| {
            for (b, &x) in b.iter_mut().zip(x) {
                *b = lut[to_u16(x) as usize];
            }
        });
    bins
}

fn min_max(s: &[f32]) -> (f32, f32) {
    min_max_iter(s.iter().copied())
}

fn min_max_iter(it: impl Iterator<Item = f32>) -> (f32, f32) {
    it.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    })
}

/// numpy 'reflect' padding: index `x >= n` mirrored about the last voxel (edge not repeated).
fn reflect(x: usize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = x % period;
    if m < n {
        m
    } else {
        period - m
    }
}

/// Step 2: the clipped, cumulated grey-level map of every region, `hist_len` values each,
/// regions in C order over `n_regions`.
fn region_maps(
    bins: &Array3<u16>,
    kernel: [usize; 3],
    n_regions: [usize; 3],
    hist_len: usize,
    clip_limit: f64,
) -> Vec<f32> {
    let shape = bins.dim();
    let shape = [shape.0, shape.1, shape.2];
    let mirror: Vec<Vec<usize>> = (0..3)
        .map(|a| {
            (0..n_regions[a] * kernel[a])
                .map(|x| reflect(x, shape[a]))
                .collect()
        })
        .collect();
    let kernel_elements: usize = kernel.iter().product();
    let clip = if clip_limit > 0.0 {
        (clip_limit * kernel_elements as f64).max(1.0) as i64
    } else {
        kernel_elements as i64
    };
    let data = bins.as_slice().expect("fresh array is contiguous");
    let mut maps = vec![0f32; n_regions.iter().product::<usize>() * hist_len];
    maps.par_chunks_mut(hist_len)
        .enumerate()
        .for_each(|(r, map)| {
            let r2 = r % n_regions[2];
            let r1 = (r / n_regions[2]) % n_regions[1];
            let r0 = r / (n_regions[2] * n_regions[1]);
            let xs = &mirror[2][r2 * kernel[2]..(r2 + 1) * kernel[2]];
            let mut hist = vec![0i64; hist_len];
            for &z in &mirror[0][r0 * kernel[0]..(r0 + 1) * kernel[0]] {
                for &y in &mirror[1][r1 * kernel[1]..(r1 + 1) * kernel[1]] {
                    let row = &data[(z * shape[1] + y) * shape[2]..][..shape[2]];
                    for &x in xs {
                        hist[row[x] as usize] += 1;
                    }
                }
            }
            clip_histogram(&mut hist, clip);
            map_histogram(&hist, (GREY_LEVELS - 1) as i64, kernel_elements, map);
        });
    maps
}

/// Per voxel along one axis: the two neighbouring regions and their weights.
#[derive(Clone, Copy)]
struct Blend {
    lo: usize,
    hi: usize,
    w_lo: f64,
    w_hi: f64,
}

fn axis_blend(n: usize, kernel: usize, n_regions: usize) -> Vec<Blend> {
    (0..n)
        .map(|x| {
            let p = x + kernel / 2;
            let b = p / kernel;
            let c = (p % kernel) as f64 / kernel as f64;
            Blend {
                lo: b.saturating_sub(1).min(n_regions - 1),
                hi: b.min(n_regions - 1),
                w_lo: 1.0 - c,
                w_hi: c,
            }
        })
        .collect()
}

/// Step 3: trilinear blend of the eight surrounding region maps, truncated to grey levels.
fn blend(
    bins: &Array3<u16>,
    kernel: [usize; 3],
    n_regions: [usize; 3],
    hist_len: usize,
    maps: &[f32],
) -> Array3<f32> {
    let (nk, nj, ni) = bins.dim();
    let ax: Vec<Vec<Blend>> = [nk, nj, ni]
        .iter()
        .enumerate()
        .map(|(a, &n)| axis_blend(n, kernel[a], n_regions[a]))
        .collect();
    let data = bins.as_slice().expect("fresh array is contiguous");
    let mut out = Array3::<f32>::zeros((nk, nj, ni));
    let plane = nj * ni;
    out.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(z, o)| {
            let bz = ax[0][z];
            for y in 0..nj {
                let by = ax[1][y];
                // Map offsets of the four (k, j) region pairs, in scikit-image's edge order.
                let rows = [
                    (bz.lo, by.lo, bz.w_lo, by.w_lo),
                    (bz.lo, by.hi, bz.w_lo, by.w_hi),
                    (bz.hi, by.lo, bz.w_hi, by.w_lo),
                    (bz.hi, by.hi, bz.w_hi, by.w_hi),
                ]
                .map(|(rz, ry, wz, wy)| ((rz * n_regions[1] + ry) * n_regions[2], wz, wy));
                let line = &data[(z * nj + y) * ni..][..ni];
                let out_line = &mut o[y * ni..][..ni];
                for (x, (v, &bin)) in out_line.iter_mut().zip(line).enumerate() {
                    let bx = ax[2][x];
                    let bin = bin as usize;
                    let mut acc = 0f32;
                    for &(base, wz, wy) in &rows {
                        for (rx, wx) in [(bx.lo, bx.w_lo), (bx.hi, bx.w_hi)] {
                            let m = maps[(base + rx) * hist_len + bin] as f64;
                            acc += (m * (wx * wy * wz)) as f32;
                        }
                    }
                    *v = (acc as u16) as f32;
                }
            }
        });
    out
}

/// Step 4: min-max stretch to [0, 1] in f32, as scikit-image's final `rescale_intensity`.
fn stretch_to_unit(out: &mut Array3<f32>) {
    let s = out.as_slice_mut().expect("fresh array is contiguous");
    let (lo, hi) = min_max(s);
    if hi > lo {
        let range = hi - lo;
        s.par_iter_mut().for_each(|v| *v = (*v - lo) / range);
    } else {
        s.par_iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_mirrors_about_the_last_voxel() {
        let r: Vec<usize> = (0..9).map(|x| reflect(x, 4)).collect();
        assert_eq!(r, vec![0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(reflect(5, 1), 0);
    }

    #[test]
    fn output_spans_zero_to_one() {
        let img = Array3::from_shape_fn((16, 16, 16), |(k, j, i)| (i + j + k) as f32 / 45.0);
        let out = clahe(img.view(), &ClaheParams::default());
        assert_eq!(min_max(out.as_slice().unwrap()), (0.0, 1.0));
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = Array3::from_elem((9, 10, 11), 0.3f32);
        let out = clahe(img.view(), &ClaheParams::default());
        let first = out[[0, 0, 0]];
        assert!(out.iter().all(|&v| v == first));
    }
}
