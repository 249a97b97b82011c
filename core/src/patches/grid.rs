//! Where the sliding windows lie: evenly spaced, overlapping patch starts per axis, the first
//! at 0 and the last flush with the end of the volume.

use super::{check_multiple, check_nonzero, PatchError};
use crate::geometry::Dims;

/// Patch size (i, j, k) in voxels: the crop size the networks are trained on.
pub const DEFAULT_PATCH: Dims = Dims {
    i: 96,
    j: 96,
    k: 64,
};

/// Fraction of a patch shared with its neighbour (at least; see [`PatchGrid::new`]).
pub const DEFAULT_OVERLAP: f64 = 0.5;

/// One window of a [`PatchGrid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Patch {
    /// Index (i, j, k) of the window's first voxel in the volume.
    pub start: [usize; 3],
    pub size: Dims,
}

impl Patch {
    /// One past the window's last voxel (i, j, k); beyond the volume where it is padded.
    pub fn end(&self) -> [usize; 3] {
        let s = self.size.as_array();
        [
            self.start[0] + s[0],
            self.start[1] + s[1],
            self.start[2] + s[2],
        ]
    }

    /// Number of voxels (i, j, k) of the window that lie inside a volume of `dims`.
    pub fn extent_inside(&self, dims: Dims) -> [usize; 3] {
        let (d, s) = (dims.as_array(), self.size.as_array());
        [0, 1, 2].map(|a| s[a].min(d[a].saturating_sub(self.start[a])))
    }

    /// True when part of the window lies outside a volume of `dims`.
    pub fn is_padded(&self, dims: Dims) -> bool {
        self.extent_inside(dims) != self.size.as_array()
    }
}

/// The patches that cover a volume, listed with `i` fastest and `k` slowest (memory order).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchGrid {
    dims: Dims,
    patch: Dims,
    alignment: Dims,
    starts: [Vec<usize>; 3],
    patches: Vec<Patch>,
}

impl PatchGrid {
    /// Patches of size `patch` over a volume of `dims`. Along each axis the number of patches
    /// is the smallest for which neighbours share at least `overlap` of a patch; starts are
    /// then spread evenly (rounded) from 0 to `dims - patch`, as nnU-Net does. An axis shorter
    /// than the patch gets one patch at 0, padded at the end.
    pub fn new(dims: Dims, patch: Dims, overlap: f64) -> Result<Self, PatchError> {
        Self::aligned(dims, patch, overlap, Dims::new(1, 1, 1))
    }

    /// As [`new`](Self::new), with every start a multiple of `alignment` (i, j, k), so that
    /// outputs pooled by that factor fall on one coarse grid. `patch` must be a multiple of
    /// `alignment`. The layout is that of [`new`](Self::new) on the coarse grid of
    /// `ceil(dims / alignment)` cells, so the last patch may pass the end of the volume by up
    /// to `alignment - 1` voxels (padded).
    pub fn aligned(
        dims: Dims,
        patch: Dims,
        overlap: f64,
        alignment: Dims,
    ) -> Result<Self, PatchError> {
        if !(0.0..1.0).contains(&overlap) {
            return Err(PatchError::InvalidOverlap(overlap));
        }
        check_nonzero("volume", dims)?;
        check_nonzero("patch", patch)?;
        check_multiple(patch, alignment)?;
        let (d, p, f) = (dims.as_array(), patch.as_array(), alignment.as_array());
        let starts = [0, 1, 2].map(|a| {
            axis_starts(d[a].div_ceil(f[a]), p[a] / f[a], overlap)
                .into_iter()
                .map(|s| s * f[a])
                .collect::<Vec<_>>()
        });
        let mut patches = Vec::with_capacity(starts.iter().map(Vec::len).product());
        for &k in &starts[2] {
            for &j in &starts[1] {
                for &i in &starts[0] {
                    patches.push(Patch {
                        start: [i, j, k],
                        size: patch,
                    });
                }
            }
        }
        Ok(Self {
            dims,
            patch,
            alignment,
            starts,
            patches,
        })
    }

    pub fn dims(&self) -> Dims {
        self.dims
    }

    pub fn patch_size(&self) -> Dims {
        self.patch
    }

    pub fn alignment(&self) -> Dims {
        self.alignment
    }

    /// Starts along `axis` (0 = i, 1 = j, 2 = k).
    pub fn starts(&self, axis: usize) -> &[usize] {
        &self.starts[axis]
    }

    /// Number of patches along i, j and k.
    pub fn counts(&self) -> [usize; 3] {
        [0, 1, 2].map(|a| self.starts[a].len())
    }

    pub fn len(&self) -> usize {
        self.patches.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patches.is_empty()
    }

    /// All patches; `patches().chunks(b)` gives the batches of a network with batch size `b`.
    pub fn patches(&self) -> &[Patch] {
        &self.patches
    }

    /// True when some patch reaches beyond the volume and is padded.
    pub fn needs_padding(&self) -> bool {
        self.patches.last().is_some_and(|p| p.is_padded(self.dims))
    }
}

fn axis_starts(len: usize, patch: usize, overlap: f64) -> Vec<usize> {
    if len <= patch {
        return vec![0];
    }
    let span = len - patch;
    // A step under one voxel would only repeat starts.
    let target_step = (patch as f64 * (1.0 - overlap)).max(1.0);
    // The epsilon keeps an exact quotient (e.g. 144 / 48) from rounding up to one step more.
    let steps = (span as f64 / target_step - 1e-9).ceil().max(1.0) as usize;
    let step = span as f64 / steps as f64;
    (0..=steps)
        .map(|s| (s as f64 * step).round() as usize)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grid_over_240x240x170_has_4x4x5_patches() {
        let grid =
            PatchGrid::new(Dims::new(240, 240, 170), DEFAULT_PATCH, DEFAULT_OVERLAP).unwrap();
        assert_eq!(grid.counts(), [4, 4, 5]);
        assert_eq!(grid.len(), 80);
        assert_eq!(grid.starts(0), &[0, 48, 96, 144]);
        assert_eq!(grid.starts(2), &[0, 27, 53, 80, 106]);
        assert!(!grid.needs_padding());
    }

    #[test]
    fn last_patch_on_every_axis_is_flush_with_the_end() {
        for dims in [
            Dims::new(240, 240, 170),
            Dims::new(97, 200, 65),
            Dims::new(513, 100, 301),
        ] {
            let grid = PatchGrid::new(dims, DEFAULT_PATCH, DEFAULT_OVERLAP).unwrap();
            let (d, p) = (dims.as_array(), DEFAULT_PATCH.as_array());
            for a in 0..3 {
                let starts = grid.starts(a);
                assert_eq!(starts[0], 0);
                assert_eq!(*starts.last().unwrap() + p[a], d[a], "{dims:?} axis {a}");
            }
        }
    }

    #[test]
    fn neighbouring_patches_overlap_by_at_least_the_requested_fraction() {
        for overlap in [0.0, 0.25, 0.5, 0.75] {
            let grid = PatchGrid::new(Dims::new(300, 211, 170), DEFAULT_PATCH, overlap).unwrap();
            for (a, p) in DEFAULT_PATCH.as_array().into_iter().enumerate() {
                for w in grid.starts(a).windows(2) {
                    let step = w[1] - w[0];
                    assert!(step >= 1);
                    // Rounding of the evenly spread starts may cost half a voxel.
                    assert!(step as f64 <= p as f64 * (1.0 - overlap) + 0.5);
                }
            }
        }
    }

    #[test]
    fn patches_are_listed_with_i_fastest() {
        let grid = PatchGrid::new(Dims::new(150, 100, 70), DEFAULT_PATCH, DEFAULT_OVERLAP).unwrap();
        let starts: Vec<_> = grid.patches().iter().map(|p| p.start).collect();
        assert_eq!(grid.counts(), [3, 2, 2]);
        assert_eq!(
            &starts[..4],
            &[[0, 0, 0], [27, 0, 0], [54, 0, 0], [0, 4, 0]]
        );
        assert_eq!(*starts.last().unwrap(), [54, 4, 6]);
    }

    #[test]
    fn volume_smaller_than_a_patch_gets_one_padded_patch_on_that_axis() {
        let grid = PatchGrid::new(Dims::new(50, 200, 64), DEFAULT_PATCH, DEFAULT_OVERLAP).unwrap();
        assert_eq!(grid.counts(), [1, 4, 1]);
        assert!(grid.needs_padding());
        let first = grid.patches()[0];
        assert_eq!(first.extent_inside(grid.dims()), [50, 96, 64]);
    }

    #[test]
    fn aligned_grid_starts_on_multiples_of_the_pooling_factor() {
        let align = Dims::new(3, 3, 2);
        let dims = Dims::new(241, 240, 171);
        let grid = PatchGrid::aligned(dims, DEFAULT_PATCH, DEFAULT_OVERLAP, align).unwrap();
        let (d, f, p) = (dims.as_array(), align.as_array(), DEFAULT_PATCH.as_array());
        for a in 0..3 {
            let starts = grid.starts(a);
            assert!(starts.iter().all(|s| s % f[a] == 0));
            let end = starts.last().unwrap() + p[a];
            assert!(end >= d[a] && end < d[a] + f[a], "axis {a}: end {end}");
        }
        assert_eq!(grid.starts(2), &[0, 28, 54, 82, 108]);
    }

    #[test]
    fn invalid_arguments_are_rejected() {
        let d = Dims::new(10, 10, 10);
        assert!(matches!(
            PatchGrid::new(d, DEFAULT_PATCH, 1.0),
            Err(PatchError::InvalidOverlap(_))
        ));
        assert!(PatchGrid::new(d, DEFAULT_PATCH, f64::NAN).is_err());
        assert!(PatchGrid::new(Dims::new(0, 10, 10), DEFAULT_PATCH, 0.5).is_err());
        assert!(PatchGrid::new(d, Dims::new(8, 0, 8), 0.5).is_err());
        assert!(matches!(
            PatchGrid::aligned(d, Dims::new(8, 8, 8), 0.5, Dims::new(3, 1, 1)),
            Err(PatchError::NotMultiple { .. })
        ));
    }
}
