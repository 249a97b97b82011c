//! Body crop: the bounding box of the patient's body, found on a coarse grid of blocks.
//!
//! A voxel-level bounding box of `HU > -500` is pulled outwards by anything dense in the field
//! of view: the table, cables, a single noisy voxel in the air. Like the reference code we work
//! on blocks of about 5 mm instead: a block counts as body when at least `min_fraction` (0.5 by
//! default) of its voxels exceed the threshold, and the crop box is the union of the body
//! blocks. A thin table shell or scattered noise fills only a small part of a block and is
//! ignored; the box is aligned to the block grid, so it may keep up to one block of air around
//! the body and may miss skin that fills less than `min_fraction` of an outer block (under half
//! a block, about 2.5 mm). When no block qualifies the box is the whole volume.

use ndarray::{s, ArrayView3};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::geometry::Dims;
use crate::volume::Volume;

/// A box of voxels in `(i, j, k)` order: `start` inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CropBox {
    pub start: [usize; 3],
    pub end: [usize; 3],
}

impl CropBox {
    /// The box that covers a whole volume of `dims`.
    pub fn full(dims: Dims) -> Self {
        Self {
            start: [0; 3],
            end: dims.as_array(),
        }
    }

    pub fn dims(&self) -> Dims {
        Dims::new(
            self.end[0] - self.start[0],
            self.end[1] - self.start[1],
            self.end[2] - self.start[2],
        )
    }

    pub fn contains(&self, i: usize, j: usize, k: usize) -> bool {
        let v = [i, j, k];
        (0..3).all(|a| v[a] >= self.start[a] && v[a] < self.end[a])
    }

    /// A view of the boxed part of an array indexed `[k, j, i]`.
    pub fn view<'a, T>(&self, data: &'a ndarray::Array3<T>) -> ArrayView3<'a, T> {
        data.slice(s![
            self.start[2]..self.end[2],
            self.start[1]..self.end[1],
            self.start[0]..self.end[0]
        ])
    }
}

/// Block-based body bounding box of `ct` (see the module documentation).
pub fn body_crop_box(
    ct: &Volume<f32>,
    threshold_hu: f32,
    block_mm: f64,
    min_fraction: f32,
) -> CropBox {
    let dims = ct.dims().as_array();
    let mut bs = [1usize; 3];
    let mut nb = [0usize; 3];
    for a in 0..3 {
        bs[a] = ((block_mm / ct.geometry.spacing[a]).round() as usize).max(1);
        nb[a] = dims[a].div_ceil(bs[a]);
    }
    let data = ct.data.view();
    // One k-slab of blocks per task; each task counts the voxels above threshold per block.
    let slabs: Vec<Vec<u32>> = (0..nb[2])
        .into_par_iter()
        .map(|bk| {
            let mut counts = vec![0u32; nb[0] * nb[1]];
            for k in bk * bs[2]..((bk + 1) * bs[2]).min(dims[2]) {
                for j in 0..dims[1] {
                    let row = data.slice(s![k, j, ..]);
                    let base = (j / bs[1]) * nb[0];
                    for (bi, i0) in (0..dims[0]).step_by(bs[0]).enumerate() {
                        let i1 = (i0 + bs[0]).min(dims[0]);
                        let n = row
                            .slice(s![i0..i1])
                            .iter()
                            .filter(|&&v| v > threshold_hu)
                            .count();
                        counts[base + bi] += n as u32;
                    }
                }
            }
            counts
        })
        .collect();

    let extent = |a: usize, b: usize| ((b + 1) * bs[a]).min(dims[a]) - b * bs[a];
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for (bk, counts) in slabs.iter().enumerate() {
        for bj in 0..nb[1] {
            for bi in 0..nb[0] {
                let voxels = extent(0, bi) * extent(1, bj) * extent(2, bk);
                let n = counts[bj * nb[0] + bi];
                if n as f32 >= min_fraction * voxels as f32 && n > 0 {
                    let b = [bi, bj, bk];
                    for a in 0..3 {
                        lo[a] = lo[a].min(b[a]);
                        hi[a] = hi[a].max(b[a]);
                    }
                }
            }
        }
    }
    if lo[0] == usize::MAX {
        return CropBox::full(ct.dims());
    }
    let mut start = [0; 3];
    let mut end = [0; 3];
    for a in 0..3 {
        start[a] = lo[a] * bs[a];
        end[a] = ((hi[a] + 1) * bs[a]).min(dims[a]);
    }
    CropBox { start, end }
}

/// The boxed part of `vol` as a new volume whose geometry starts at the box's first voxel.
pub fn crop<T: Clone>(vol: &Volume<T>, b: &CropBox) -> Volume<T> {
    Volume::new(b.view(&vol.data).to_owned(), vol.geometry.cropped(b.start))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Geometry;

    fn air(dims: Dims) -> Volume<f32> {
        let mut v = Volume::zeros(dims, Geometry::axial([-10.0, 5.0, 30.0], [1.0, 1.0, 2.5]));
        v.data.fill(-1000.0);
        v
    }

    #[test]
    fn body_box_ignores_a_thin_table_and_isolated_noise() {
        let mut ct = air(Dims::new(60, 50, 20));
        // Body: i 10..40, j 10..30, k 4..16.
        ct.data.slice_mut(s![4..16, 10..30, 10..40]).fill(40.0);
        // A 1 mm table shell under the body along all slices, and noise voxels in the air.
        ct.data.slice_mut(s![.., 44..45, ..]).fill(200.0);
        ct.data[[0, 0, 0]] = 1000.0;
        ct.data[[19, 49, 59]] = 1000.0;
        let b = body_crop_box(&ct, -500.0, 5.0, 0.5);
        // Blocks are 5 x 5 x 2 voxels, so the body's faces lie on block edges.
        assert_eq!(
            b,
            CropBox {
                start: [10, 10, 4],
                end: [40, 30, 16]
            }
        );
        let c = crop(&ct, &b);
        assert_eq!(c.dims(), Dims::new(30, 20, 12));
        assert_eq!(c.geometry.origin, [0.0, 15.0, 40.0]);
        assert!(c.data.iter().all(|&v| v == 40.0));
    }

    #[test]
    fn body_box_is_block_aligned_around_an_unaligned_body() {
        let mut ct = air(Dims::new(60, 50, 20));
        ct.data.slice_mut(s![3..17, 7..31, 12..38]).fill(0.0);
        let b = body_crop_box(&ct, -500.0, 5.0, 0.5);
        // i: 12..38 covers blocks 10..15 (3/5), 15..35 fully, 35..40 (3/5): kept.
        // j: 7..31: block 5..10 (3/5) kept, block 30..35 (1/5) dropped.
        // k: 3..17 with 2-voxel blocks: block 2..4 (1/2) kept, 16..18 (1/2) kept.
        assert_eq!(
            b,
            CropBox {
                start: [10, 5, 2],
                end: [40, 30, 18]
            }
        );
    }

    #[test]
    fn volume_without_body_keeps_everything() {
        let ct = air(Dims::new(12, 10, 4));
        assert_eq!(
            body_crop_box(&ct, -500.0, 5.0, 0.5),
            CropBox::full(ct.dims())
        );
    }
}
