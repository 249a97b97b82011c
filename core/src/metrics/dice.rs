//! Dice overlap of two binary masks.

use ndarray::{ArrayView, Dimension, Zip};

use super::{check_same_shape, MetricsError};

/// Dice `2 |A and B| / (|A| + |B|)` of two masks of the same shape (non-zero = inside).
/// Two empty masks agree perfectly, so their Dice is 1.0 (numpy's formula would give 0 / 0).
pub fn dice<D: Dimension>(
    a: ArrayView<'_, u8, D>,
    b: ArrayView<'_, u8, D>,
) -> Result<f64, MetricsError> {
    check_same_shape("dice masks", a.shape(), b.shape())?;
    let (mut both, mut in_a, mut in_b) = (0u64, 0u64, 0u64);
    Zip::from(&a).and(&b).for_each(|&x, &y| {
        let (x, y) = (x != 0, y != 0);
        both += u64::from(x && y);
        in_a += u64::from(x);
        in_b += u64::from(y);
    });
    Ok(dice_from_counts(both, in_a, in_b))
}

/// Dice from voxel counts: the intersection and the sizes of the two masks; 1.0 when both
/// are empty.
pub fn dice_from_counts(intersection: u64, size_a: u64, size_b: u64) -> f64 {
    if size_a + size_b == 0 {
        1.0
    } else {
        2.0 * intersection as f64 / (size_a + size_b) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr1, Array3};

    #[test]
    fn identical_masks_have_dice_one() {
        let m = Array3::from_shape_fn((3, 4, 5), |(k, j, i)| u8::from((i + j + k) % 3 == 0));
        assert_eq!(dice(m.view(), m.view()).unwrap(), 1.0);
    }

    #[test]
    fn disjoint_masks_have_dice_zero() {
        let a = arr1(&[1u8, 1, 0, 0]);
        let b = arr1(&[0u8, 0, 1, 0]);
        assert_eq!(dice(a.view(), b.view()).unwrap(), 0.0);
    }

    #[test]
    fn any_nonzero_value_counts_as_inside() {
        let a = arr1(&[1u8, 255, 0, 0]);
        let b = arr1(&[7u8, 0, 1, 0]);
        // |A and B| = 1, |A| = 2, |B| = 2.
        assert_eq!(dice(a.view(), b.view()).unwrap(), 0.5);
    }

    #[test]
    fn empty_masks_have_dice_one() {
        let e = Array3::<u8>::zeros((2, 2, 2));
        assert_eq!(dice(e.view(), e.view()).unwrap(), 1.0);
        assert_eq!(dice_from_counts(0, 0, 3), 0.0);
    }

    #[test]
    fn masks_of_different_shapes_are_an_error() {
        let a = Array3::<u8>::zeros((2, 2, 2));
        let b = Array3::<u8>::zeros((2, 2, 3));
        assert!(dice(a.view(), b.view()).is_err());
    }
}
