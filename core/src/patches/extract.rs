//! Copying patches out of a volume into network input buffers, padding where a window leaves
//! the volume. The volume is only borrowed: nothing is copied but the patches themselves.

use ndarray::{s, Array3, ArrayView3, ArrayViewMut3};
use rayon::prelude::*;

use super::{grid::Patch, PatchError};
use crate::geometry::Dims;

/// Copies the window `patch` of `volume` (`[k, j, i]`) into `out` (shape `patch.size.shape()`),
/// writing `pad` where the window lies outside the volume.
pub fn extract_patch<T: Copy>(
    volume: ArrayView3<'_, T>,
    patch: &Patch,
    pad: T,
    mut out: ArrayViewMut3<'_, T>,
) -> Result<(), PatchError> {
    let expected = patch.size.shape();
    if out.shape() != expected {
        return Err(PatchError::ShapeMismatch {
            expected: expected.to_vec(),
            found: out.shape().to_vec(),
        });
    }
    let [ni, nj, nk] = patch.extent_inside(Dims::from_shape(volume.shape()));
    let [i0, j0, k0] = patch.start;
    if [ni, nj, nk] != patch.size.as_array() {
        out.fill(pad);
    }
    if ni * nj * nk > 0 {
        out.slice_mut(s![..nk, ..nj, ..ni]).assign(&volume.slice(s![
            k0..k0 + nk,
            j0..j0 + nj,
            i0..i0 + ni
        ]));
    }
    Ok(())
}

/// The window `patch` of `volume` as a new array, padded with `pad`.
pub fn patch_array<T: Copy>(volume: ArrayView3<'_, T>, patch: &Patch, pad: T) -> Array3<T> {
    let mut out = Array3::from_elem(patch.size.shape(), pad);
    extract_patch(volume, patch, pad, out.view_mut())
        .expect("the array was made with the patch's shape");
    out
}

/// Fills a contiguous batch buffer, laid out `[b, k, j, i]` (a single-channel NCDHW tensor),
/// with `patches` in order, in parallel. All patches must have the same size; `batch` must be a
/// whole number of patches long and hold at least `patches.len()` of them. Slots past the last
/// patch (a short final batch) are filled with `pad`.
pub fn fill_batch<T: Copy + Send + Sync>(
    volume: ArrayView3<'_, T>,
    patches: &[Patch],
    pad: T,
    batch: &mut [T],
) -> Result<(), PatchError> {
    let Some(first) = patches.first() else {
        batch.fill(pad);
        return Ok(());
    };
    let size = first.size;
    if let Some(other) = patches.iter().find(|p| p.size != size) {
        return Err(PatchError::ShapeMismatch {
            expected: size.shape().to_vec(),
            found: other.size.shape().to_vec(),
        });
    }
    let patch_len = size.len();
    if batch.len() % patch_len != 0 || batch.len() / patch_len < patches.len() {
        return Err(PatchError::BatchBuffer {
            len: batch.len(),
            patches: patches.len(),
            patch_len,
        });
    }
    batch
        .par_chunks_mut(patch_len)
        .enumerate()
        .try_for_each(|(b, chunk)| match patches.get(b) {
            Some(patch) => {
                let out = ArrayViewMut3::from_shape(size.shape(), chunk)
                    .expect("chunk length equals the patch length");
                extract_patch(volume, patch, pad, out)
            }
            None => {
                chunk.fill(pad);
                Ok(())
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    fn ramp(dims: Dims) -> Array3<f32> {
        Array3::from_shape_fn(dims.shape(), |(k, j, i)| (i + 100 * j + 10_000 * k) as f32)
    }

    #[test]
    fn interior_patch_is_a_copy_of_the_window() {
        let v = ramp(Dims::new(20, 15, 10));
        let patch = Patch {
            start: [3, 4, 5],
            size: Dims::new(6, 5, 4),
        };
        let p = patch_array(v.view(), &patch, -1.0);
        assert_eq!(p.shape(), &[4, 5, 6]);
        assert_eq!(p, v.slice(s![5..9, 4..9, 3..9]));
    }

    #[test]
    fn window_past_the_volume_is_padded_with_the_given_constant() {
        let v = ramp(Dims::new(4, 3, 2));
        let patch = Patch {
            start: [0, 0, 0],
            size: Dims::new(6, 5, 4),
        };
        let p = patch_array(v.view(), &patch, -7.0);
        for ((k, j, i), &x) in p.indexed_iter() {
            let want = if i < 4 && j < 3 && k < 2 {
                v[[k, j, i]]
            } else {
                -7.0
            };
            assert_eq!(x, want, "at {k},{j},{i}");
        }
    }

    #[test]
    fn batch_holds_patches_in_order_and_pads_unused_slots() {
        let v = ramp(Dims::new(10, 10, 10));
        let size = Dims::new(4, 4, 4);
        let patches = [
            Patch {
                start: [0, 0, 0],
                size,
            },
            Patch {
                start: [6, 6, 6],
                size,
            },
            Patch {
                start: [8, 0, 0],
                size,
            },
        ];
        let mut batch = vec![f32::NAN; 4 * size.len()];
        fill_batch(v.view(), &patches, 0.5, &mut batch).unwrap();
        for (b, chunk) in batch.chunks(size.len()).enumerate() {
            let got = ArrayView3::from_shape(size.shape(), chunk).unwrap();
            match patches.get(b) {
                Some(p) => assert_eq!(got, patch_array(v.view(), p, 0.5)),
                None => assert!(chunk.iter().all(|&x| x == 0.5)),
            }
        }
    }

    #[test]
    fn batch_buffer_of_the_wrong_length_is_rejected() {
        let v = ramp(Dims::new(10, 10, 10));
        let size = Dims::new(4, 4, 4);
        let patches = [Patch {
            start: [0, 0, 0],
            size,
        }; 2];
        let mut short = vec![0.0; size.len()];
        assert!(fill_batch(v.view(), &patches, 0.0, &mut short).is_err());
        let mut ragged = vec![0.0; 2 * size.len() + 1];
        assert!(fill_batch(v.view(), &patches, 0.0, &mut ragged).is_err());
    }
}
