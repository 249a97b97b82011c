//! Sliding-window inference support: which overlapping patches cover a volume
//! ([`PatchGrid`]), copying a patch (padded where it leaves the volume) into a network's input
//! buffer ([`extract_patch`], [`fill_batch`]), and blending the per-patch outputs back into
//! one map ([`Blending`], [`Aggregator`]), as in "Inference" of `docs/METHOD.md`.
//!
//! Conventions: patch sizes, starts and scale factors are `(i, j, k)` (column, row, slice),
//! as [`Dims`](crate::Dims); arrays are indexed `[k, j, i]` as in [`Volume`](crate::Volume).
//! A window that reaches beyond the volume (only when the volume, rounded up to the
//! alignment, is smaller than a patch) is padded at the high end with a constant chosen by the
//! caller, e.g. `0.0` for a CT scaled to [0, 1] (air).
//!
//! Outputs at a lower resolution than the input (the density model's NLL map is pooled by
//! 3 x 3 x 2) are aggregated at that resolution: build the grid with
//! [`PatchGrid::aligned`] so that every start is a multiple of the pooling factor, aggregate
//! with the same factor as `scale`, and upsample the finished map afterwards (the method
//! averages first, then upsamples).

mod aggregate;
mod blend;
mod extract;
mod grid;

pub use aggregate::{pooled_geometry, Aggregator};
pub use blend::{Blending, GAUSSIAN_SIGMA_FRACTION, MIN_BLEND_WEIGHT};
pub use extract::{extract_patch, fill_batch, patch_array};
pub use grid::{Patch, PatchGrid, DEFAULT_OVERLAP, DEFAULT_PATCH};

use crate::geometry::Dims;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    #[error("overlap must lie in [0, 1), got {0}")]
    InvalidOverlap(f64),
    #[error("{what} has a zero extent: {dims:?}")]
    ZeroSize { what: &'static str, dims: Dims },
    #[error("patch size {patch:?} is not a multiple of the factor {factor:?}")]
    NotMultiple { patch: Dims, factor: Dims },
    #[error("patch start {start:?} is not a multiple of the output scale {scale:?}")]
    Misaligned { start: [usize; 3], scale: Dims },
    #[error("expected an array of shape {expected:?} ([k, j, i]), got {found:?}")]
    ShapeMismatch {
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("a batch buffer of {len} values cannot hold {patches} patches of {patch_len} voxels")]
    BatchBuffer {
        len: usize,
        patches: usize,
        patch_len: usize,
    },
}

fn check_nonzero(what: &'static str, dims: Dims) -> Result<(), PatchError> {
    if dims.as_array().contains(&0) {
        return Err(PatchError::ZeroSize { what, dims });
    }
    Ok(())
}

fn check_multiple(patch: Dims, factor: Dims) -> Result<(), PatchError> {
    check_nonzero("factor", factor)?;
    let (p, f) = (patch.as_array(), factor.as_array());
    if (0..3).any(|a| p[a] % f[a] != 0) {
        return Err(PatchError::NotMultiple { patch, factor });
    }
    Ok(())
}
