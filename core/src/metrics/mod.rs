//! Evaluation metrics of the paper's protocol ("Evaluation protocol" in `docs/METHOD.md`):
//! exact AUROC, the voxel-level AUROC over sampled voxels, Dice, and the choice of a score
//! threshold that maximises mean Dice. Masks are `u8` arrays where non-zero means inside;
//! score maps are `f32` arrays of the same shape, higher meaning more anomalous.

mod auroc;
mod dice;
mod threshold;
mod voxel_auroc;

#[cfg(test)]
mod sklearn_fixtures;

pub use auroc::auroc;
pub use dice::{dice, dice_from_counts};
pub use threshold::{
    dice_at_threshold, mean_dice_at_threshold, select_threshold, ThresholdChoice,
    DEFAULT_MAX_CANDIDATES,
};
pub use voxel_auroc::{
    sample_case, CaseMaps, VoxelAuroc, VoxelAurocProtocol, VoxelSample, SAMPLES_PER_CLASS,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("{what}: lengths or shapes differ ({left:?} vs {right:?})")]
    ShapeMismatch {
        what: &'static str,
        left: Vec<usize>,
        right: Vec<usize>,
    },
    #[error(
        "AUROC needs at least one positive and one negative (got {positives} and {negatives})"
    )]
    OneClass { positives: usize, negatives: usize },
    #[error("a score is NaN")]
    NanScore,
    #[error("no cases given")]
    NoCases,
}

fn check_same_shape(
    what: &'static str,
    left: &[usize],
    right: &[usize],
) -> Result<(), MetricsError> {
    if left != right {
        return Err(MetricsError::ShapeMismatch {
            what,
            left: left.to_vec(),
            right: right.to_vec(),
        });
    }
    Ok(())
}
