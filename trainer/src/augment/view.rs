//! Where one view of a crop pair lies in its source volume, and resampling the view from it.
//!
//! Coordinates are in tensor order `[k, j, i]` and in source voxel units: source voxel `n`
//! has its centre at `n`. A view is an axis-aligned box of the source, cut into `size` voxels
//! of `step` source voxels each, then mirrored and with its in-plane axes possibly swapped.
//! Because every view axis follows exactly one source axis, both directions of the mapping are
//! affine per axis and exact in floating point up to rounding.

use ndarray::{s, Array3, ArrayView3, Axis, Zip};

/// The affine map between a view's voxel indices and source coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewGeometry {
    /// Source coordinate of the box's first edge, per source axis.
    pub start: [f64; 3],
    /// Source voxels per view voxel, per source axis.
    pub step: [f64; 3],
    /// View voxels along each source axis.
    pub size: [usize; 3],
    /// View axis `d` runs along source axis `axes[d]`.
    pub axes: [usize; 3],
    /// View axis `d` runs against its source axis.
    pub flipped: [bool; 3],
}

impl ViewGeometry {
    /// Shape of the view array.
    pub fn shape(&self) -> [usize; 3] {
        self.axes.map(|a| self.size[a])
    }

    /// Source extent `[first edge, last edge]` of the box along source axis `a`.
    pub fn extent(&self, a: usize) -> [f64; 2] {
        [
            self.start[a],
            self.start[a] + self.size[a] as f64 * self.step[a],
        ]
    }

    /// Source coordinate of the (possibly fractional) view index `c`.
    pub fn to_source(&self, c: [f64; 3]) -> [f64; 3] {
        let mut x = [0.0; 3];
        for (d, &cd) in c.iter().enumerate() {
            let a = self.axes[d];
            let u = if self.flipped[d] {
                (self.size[a] - 1) as f64 - cd
            } else {
                cd
            };
            x[a] = self.start[a] + (u + 0.5) * self.step[a];
        }
        x
    }

    /// View index of the source coordinate `x` (the inverse of [`Self::to_source`]).
    pub fn to_view(&self, x: [f64; 3]) -> [f64; 3] {
        let mut c = [0.0; 3];
        for (d, cd) in c.iter_mut().enumerate() {
            let a = self.axes[d];
            let u = (x[a] - self.start[a]) / self.step[a] - 0.5;
            *cd = if self.flipped[d] {
                (self.size[a] - 1) as f64 - u
            } else {
                u
            };
        }
        c
    }

    /// Voxel spacing (mm) along each view axis, given the source spacing per source axis.
    pub fn spacing_mm(&self, source_spacing: [f64; 3]) -> [f64; 3] {
        self.axes.map(|a| self.step[a] * source_spacing[a])
    }

    /// The view: the source interpolated trilinearly at every view voxel centre (coordinates
    /// clamped to the source, which a box inside the span of source centres never needs).
    pub fn sample(&self, source: ArrayView3<f32>) -> Array3<f32> {
        let dims = source.dim();
        let dims = [dims.0, dims.1, dims.2];
        let taps: [Vec<Tap>; 3] =
            std::array::from_fn(|a| taps(self.start[a], self.step[a], self.size[a], dims[a]));
        // Only the source region the taps touch is read.
        let lo: [usize; 3] =
            std::array::from_fn(|a| taps[a].iter().map(|t| t.i0).min().unwrap_or(0));
        let hi: [usize; 3] =
            std::array::from_fn(|a| taps[a].iter().map(|t| t.i1).max().unwrap_or(0) + 1);
        let region = source.slice(s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]]);
        let shifted: [Vec<Tap>; 3] = std::array::from_fn(|a| {
            taps[a]
                .iter()
                .map(|t| Tap {
                    i0: t.i0 - lo[a],
                    i1: t.i1 - lo[a],
                    w: t.w,
                })
                .collect()
        });
        let along_k = interpolate_axis(region, 0, &shifted[0]);
        let along_j = interpolate_axis(along_k.view(), 1, &shifted[1]);
        let boxed = interpolate_axis(along_j.view(), 2, &shifted[2]);
        let mut view = boxed.permuted_axes(self.axes);
        for d in 0..3 {
            if self.flipped[d] {
                view.invert_axis(Axis(d));
            }
        }
        view.as_standard_layout().into_owned()
    }
}

/// Linear interpolation weights of one output voxel along one axis.
#[derive(Debug, Clone, Copy)]
struct Tap {
    i0: usize,
    i1: usize,
    w: f32,
}

fn taps(start: f64, step: f64, size: usize, n_in: usize) -> Vec<Tap> {
    let last = n_in.saturating_sub(1);
    (0..size)
        .map(|u| {
            let x = (start + (u as f64 + 0.5) * step).clamp(0.0, last as f64);
            let i0 = (x.floor() as usize).min(last.saturating_sub(1));
            let i1 = (i0 + 1).min(last);
            Tap {
                i0,
                i1,
                w: (x - i0 as f64) as f32,
            }
        })
        .collect()
}

fn interpolate_axis(src: ArrayView3<f32>, axis: usize, taps: &[Tap]) -> Array3<f32> {
    let mut shape = src.dim();
    match axis {
        0 => shape.0 = taps.len(),
        1 => shape.1 = taps.len(),
        _ => shape.2 = taps.len(),
    }
    let mut out = Array3::zeros(shape);
    for (o, t) in taps.iter().enumerate() {
        let a = src.index_axis(Axis(axis), t.i0);
        let b = src.index_axis(Axis(axis), t.i1);
        Zip::from(out.index_axis_mut(Axis(axis), o))
            .and(&a)
            .and(&b)
            .for_each(|o, &x, &y| *o = x + t.w * (y - x));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> ViewGeometry {
        ViewGeometry {
            start: [1.25, 2.0, 0.5],
            step: [0.75, 1.5, 1.2],
            size: [4, 3, 3],
            axes: [0, 2, 1],
            flipped: [false, true, false],
        }
    }

    #[test]
    fn view_and_source_coordinates_are_inverse_maps() {
        let g = geometry();
        for c in [[0.0, 0.0, 0.0], [3.0, 2.0, 1.0], [1.5, 0.25, 2.75]] {
            let back = g.to_view(g.to_source(c));
            for d in 0..3 {
                assert!((back[d] - c[d]).abs() < 1e-12, "{c:?} -> {back:?}");
            }
        }
        assert_eq!(g.shape(), [4, 3, 3]);
        // First view voxel: axis 0 unflipped, view axis 1 = source axis 2 flipped.
        let x = g.to_source([0.0, 0.0, 0.0]);
        assert!((x[0] - (1.25 + 0.375)).abs() < 1e-12);
        assert!((x[2] - (0.5 + 2.5 * 1.2)).abs() < 1e-12);
        assert!((x[1] - (2.0 + 0.75)).abs() < 1e-12);
    }

    #[test]
    fn sampling_a_linear_volume_gives_its_value_at_each_view_voxel_centre() {
        let src =
            Array3::from_shape_fn((8, 9, 10), |(k, j, i)| (100 * k + 10 * j + i) as f32 * 0.01);
        let g = geometry();
        let view = g.sample(src.view());
        assert_eq!(view.shape(), &[4, 3, 3]);
        for ((c0, c1, c2), v) in view.indexed_iter() {
            let x = g.to_source([c0 as f64, c1 as f64, c2 as f64]);
            let want = (100.0 * x[0] + 10.0 * x[1] + x[2]) * 0.01;
            assert!(
                (*v as f64 - want).abs() < 1e-4,
                "{:?}: {v} vs {want}",
                (c0, c1, c2)
            );
        }
    }
}
