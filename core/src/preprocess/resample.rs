//! Separable linear resampling between grids that cover the same extent ("grid mode").
//!
//! Output voxel `o` of an axis with `n_in` input and `n_out` output voxels samples the input at
//! `(o + 0.5) * n_in / n_out - 0.5`, clamped to `[0, n_in - 1]`: the voxel edges of both grids
//! line up, as in `scipy.ndimage.zoom(x, zoom, order=1, grid_mode=True, mode='nearest')` and
//! `Geometry::with_spacing`. Clamping the coordinate equals scipy's 'nearest' extension for a
//! linear kernel. Trilinear interpolation is a tensor product, so interpolating one axis after
//! the other gives the same values with far less work; the axis that shrinks most goes first.
//! Work is in f32 (scipy computes in f64): values agree to a few f32 ulps of the data range.

use ndarray::{s, Array3, ArrayView1, ArrayView3, Axis};
use rayon::prelude::*;

use crate::geometry::{Dims, Geometry};
use crate::volume::Volume;

/// One output voxel's interpolation along an axis: `(1 - w) * x[i0] + w * x[i1]`.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w: f32,
}

fn taps(n_in: usize, n_out: usize) -> Vec<Tap> {
    let zoom = n_in as f64 / n_out as f64;
    let last = n_in.saturating_sub(1);
    (0..n_out)
        .map(|o| {
            let c = ((o as f64 + 0.5) * zoom - 0.5).clamp(0.0, last as f64);
            let i0 = (c.floor() as usize).min(last.saturating_sub(1));
            let i1 = (i0 + 1).min(last);
            Tap {
                i0,
                i1,
                w: (c - i0 as f64) as f32,
            }
        })
        .collect()
}

/// Linear resampling of an `[k, j, i]` array to `out` voxels in grid mode (see module doc).
pub fn resample_linear(input: ArrayView3<f32>, out: Dims) -> Array3<f32> {
    let (nk, nj, ni) = input.dim();
    let n_in = [nk, nj, ni];
    let n_out = out.shape();
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| {
        let ra = n_out[a] as f64 / n_in[a] as f64;
        let rb = n_out[b] as f64 / n_in[b] as f64;
        ra.total_cmp(&rb)
    });
    let mut current: Option<Array3<f32>> = None;
    for axis in order {
        if n_in[axis] == n_out[axis] {
            continue;
        }
        let src = current.as_ref().map_or(input.view(), |a| a.view());
        let t = taps(n_in[axis], n_out[axis]);
        current = Some(match axis {
            0 => along_k(src, &t),
            1 => along_j(src, &t),
            _ => along_i(src, &t),
        });
    }
    current.unwrap_or_else(|| input.to_owned())
}

/// Resamples `input` (a view on the grid `geometry`) to `spacing` (i, j, k), over the same
/// extent; the output grid is `Geometry::with_spacing`'s.
pub fn resample_to_spacing(
    input: ArrayView3<f32>,
    geometry: &Geometry,
    spacing: [f64; 3],
) -> Volume<f32> {
    let dims = Dims::from_shape(input.shape());
    let (g, out) = geometry.with_spacing(dims, spacing);
    Volume::new(resample_linear(input, out), g)
}

fn lerp_into(out: &mut [f32], a: ArrayView1<f32>, b: ArrayView1<f32>, w: f32) {
    match (a.as_slice(), b.as_slice()) {
        (Some(a), Some(b)) => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = x + w * (y - x);
            }
        }
        _ => {
            for ((o, &x), &y) in out.iter_mut().zip(a.iter()).zip(b.iter()) {
                *o = x + w * (y - x);
            }
        }
    }
}

fn along_k(src: ArrayView3<f32>, taps: &[Tap]) -> Array3<f32> {
    let (_, nj, ni) = src.dim();
    let mut out = Array3::zeros((taps.len(), nj, ni));
    let plane = (nj * ni).max(1);
    out.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .zip(taps)
        .for_each(|(o, t)| {
            let (a, b) = (src.index_axis(Axis(0), t.i0), src.index_axis(Axis(0), t.i1));
            for (j, row) in o.chunks_mut(ni.max(1)).enumerate() {
                lerp_into(row, a.row(j), b.row(j), t.w);
            }
        });
    out
}

fn along_j(src: ArrayView3<f32>, taps: &[Tap]) -> Array3<f32> {
    let (nk, _, ni) = src.dim();
    let mut out = Array3::zeros((nk, taps.len(), ni));
    let plane = (taps.len() * ni).max(1);
    out.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(k, o)| {
            let slice = src.index_axis(Axis(0), k);
            for (row, t) in o.chunks_mut(ni.max(1)).zip(taps) {
                lerp_into(row, slice.row(t.i0), slice.row(t.i1), t.w);
            }
        });
    out
}

fn along_i(src: ArrayView3<f32>, taps: &[Tap]) -> Array3<f32> {
    let (nk, nj, _) = src.dim();
    let mut out = Array3::zeros((nk, nj, taps.len()));
    let plane = (nj * taps.len()).max(1);
    out.as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(k, o)| {
            let mut scratch = Vec::new();
            for (j, row) in o.chunks_mut(taps.len().max(1)).enumerate() {
                let line = src.slice(s![k, j, ..]);
                let x = match line.as_slice() {
                    Some(x) => x,
                    None => {
                        scratch.clear();
                        scratch.extend(line.iter().copied());
                        &scratch
                    }
                };
                for (v, t) in row.iter_mut().zip(taps) {
                    let (a, b) = (x[t.i0], x[t.i1]);
                    *v = a + t.w * (b - a);
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn linear_ramp_is_reproduced_exactly_inside_the_grid() {
        // f = 2i + 3j - k is linear, so linear interpolation reproduces it wherever the sample
        // coordinate is not clamped.
        let a = Array3::from_shape_fn((9, 10, 12), |(k, j, i)| {
            2.0 * i as f32 + 3.0 * j as f32 - k as f32
        });
        let out = resample_linear(a.view(), Dims::new(5, 4, 3));
        for ((k, j, i), &v) in out.indexed_iter() {
            let ci = (i as f64 + 0.5) * 12.0 / 5.0 - 0.5;
            let cj = (j as f64 + 0.5) * 10.0 / 4.0 - 0.5;
            let ck = (k as f64 + 0.5) * 9.0 / 3.0 - 0.5;
            let want = 2.0 * ci + 3.0 * cj - ck;
            assert!((v as f64 - want).abs() < 1e-4, "{v} vs {want}");
        }
    }

    #[test]
    fn upsampling_clamps_to_the_edge_voxels() {
        let a = Array3::from_shape_vec((1, 1, 2), vec![1.0f32, 3.0]).unwrap();
        let out = resample_linear(a.view(), Dims::new(4, 1, 1));
        // Samples at -0.25, 0.25, 0.75, 1.25 in input voxels.
        assert_eq!(out.as_slice().unwrap(), &[1.0, 1.5, 2.5, 3.0]);
    }

    #[test]
    fn non_contiguous_views_resample_like_owned_arrays() {
        let a = Array3::from_shape_fn((8, 9, 10), |(k, j, i)| ((k * 31 + j * 7 + i) % 13) as f32);
        let view = a.slice(s![1..7, 2..9, 1..9]);
        let owned = view.to_owned();
        let dims = Dims::new(5, 4, 9);
        assert_eq!(
            resample_linear(view, dims),
            resample_linear(owned.view(), dims)
        );
    }

    #[test]
    fn resampled_volume_uses_the_geometry_of_with_spacing() {
        let g = Geometry::axial([5.0, -3.0, 100.0], [0.7, 0.7, 1.25]);
        let a = Array3::<f32>::zeros((24, 40, 48));
        let v = resample_to_spacing(a.view(), &g, [1.5, 1.5, 2.25]);
        let (ng, nd) = g.with_spacing(Dims::new(48, 40, 24), [1.5, 1.5, 2.25]);
        assert_eq!(v.dims(), nd);
        assert_eq!(v.geometry, ng);
    }
}
