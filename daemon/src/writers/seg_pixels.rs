//! Pixel data of a Segmentation: which source slices become frames, and their encoding.
//!
//! Only slices that hold part of the segment become frames (as highdicom does by default).
//! When the segment is empty, the first slice is written as one empty frame so the object
//! stays valid (a SEG needs at least one frame) and still tells the PACS "nothing found".
//! BINARY frames are 1 bit per pixel, packed little-endian-bit-first and contiguous across
//! frame boundaries (PS3.5 §8.1.1); FRACTIONAL frames are one byte per pixel, probability
//! times 255.

use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;
use screener_core::Volume;

/// The frames of a SEG, as source slice indices, and their Pixel Data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegFrames {
    pub slices: Vec<usize>,
    pub pixel_data: Vec<u8>,
    /// True when the segment has no voxel (then `slices` is `[0]`, all zero).
    pub empty: bool,
}

/// Largest stored value of a FRACTIONAL segmentation (MaximumFractionalValue).
pub(crate) const MAX_FRACTIONAL: u8 = 255;

/// Quantises a probability (clamped to [0, 1]; NaN counts as 0) to the stored 8-bit value.
pub(crate) fn quantise(p: f32) -> u8 {
    if p.is_nan() {
        0
    } else {
        (p.clamp(0.0, 1.0) * f32::from(MAX_FRACTIONAL)).round() as u8
    }
}

fn occupied_slices<T: Sync>(
    volume: &Volume<T>,
    inside: impl Fn(&T) -> bool + Sync,
) -> (Vec<usize>, bool) {
    let slices: Vec<usize> = volume
        .data
        .axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .filter(|(_, s)| s.iter().any(&inside))
        .map(|(k, _)| k)
        .collect();
    if slices.is_empty() {
        (vec![0], true)
    } else {
        (slices, false)
    }
}

pub(crate) fn binary_frames(mask: &Volume<u8>) -> SegFrames {
    let (slices, empty) = occupied_slices(mask, |&v| v != 0);
    let shape = mask.data.shape();
    let pixels_per_frame = shape[1] * shape[2];
    let total_bits = slices.len() * pixels_per_frame;
    let mut bytes = vec![0u8; even(total_bits.div_ceil(8))];
    if pixels_per_frame % 8 == 0 {
        // Frames start on byte boundaries: pack them independently.
        bytes[..total_bits / 8]
            .par_chunks_mut(pixels_per_frame / 8)
            .zip(slices.par_iter())
            .for_each(|(out, &k)| pack_aligned(mask.data.index_axis(Axis(0), k), out));
    } else {
        let mut bit = 0usize;
        for &k in &slices {
            for &v in mask.data.index_axis(Axis(0), k).iter() {
                if v != 0 {
                    bytes[bit / 8] |= 1 << (bit % 8);
                }
                bit += 1;
            }
        }
    }
    SegFrames {
        slices,
        pixel_data: bytes,
        empty,
    }
}

fn pack_aligned(slice: ArrayView2<u8>, out: &mut [u8]) {
    if let Some(values) = slice.as_slice() {
        for (byte, group) in out.iter_mut().zip(values.chunks_exact(8)) {
            *byte = group
                .iter()
                .enumerate()
                .fold(0u8, |acc, (b, &v)| acc | (u8::from(v != 0) << b));
        }
    } else {
        for (n, &v) in slice.iter().enumerate() {
            if v != 0 {
                out[n / 8] |= 1 << (n % 8);
            }
        }
    }
}

pub(crate) fn fractional_frames(probability: &Volume<f32>) -> SegFrames {
    let (slices, empty) = occupied_slices(probability, |&p| quantise(p) > 0);
    let shape = probability.data.shape();
    let pixels_per_frame = shape[1] * shape[2];
    let mut bytes = vec![0u8; even(slices.len() * pixels_per_frame)];
    bytes[..slices.len() * pixels_per_frame]
        .par_chunks_mut(pixels_per_frame)
        .zip(slices.par_iter())
        .for_each(|(out, &k)| {
            let slice = probability.data.index_axis(Axis(0), k);
            for (o, &p) in out.iter_mut().zip(slice.iter()) {
                *o = quantise(p);
            }
        });
    SegFrames {
        slices,
        pixel_data: bytes,
        empty,
    }
}

/// Pixel Data has an even length (PS3.5 §7.1.1).
fn even(n: usize) -> usize {
    n + n % 2
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;
    use screener_core::Geometry;

    use super::*;

    fn volume<T>(data: Array3<T>) -> Volume<T> {
        Volume::new(data, Geometry::axial([0.0; 3], [1.0; 3]))
    }

    #[test]
    fn binary_frames_pack_bits_across_frame_boundaries() {
        // 3 x 3 frames: 9 bits each, so the second frame starts in the middle of byte 1.
        let mut data = Array3::<u8>::zeros((3, 3, 3));
        data[[0, 0, 0]] = 1;
        data[[2, 0, 0]] = 1;
        data[[2, 2, 2]] = 1;
        let frames = binary_frames(&volume(data));
        assert_eq!(frames.slices, vec![0, 2]);
        assert!(!frames.empty);
        // bits 0 (frame 0, pixel 0), 9 (frame 1, pixel 0) and 17 (frame 1, pixel 8)
        assert_eq!(
            frames.pixel_data,
            vec![0b0000_0001, 0b0000_0010, 0b0000_0010, 0]
        );
    }

    #[test]
    fn aligned_binary_frames_put_the_first_pixel_in_the_lowest_bit() {
        let mut data = Array3::<u8>::zeros((2, 2, 8));
        data[[1, 0, 0]] = 1;
        data[[1, 1, 7]] = 3;
        let frames = binary_frames(&volume(data));
        assert_eq!(frames.slices, vec![1]);
        assert_eq!(frames.pixel_data, vec![0b0000_0001, 0b1000_0000]);
    }

    #[test]
    fn an_empty_mask_keeps_one_empty_frame() {
        let frames = binary_frames(&volume(Array3::<u8>::zeros((4, 3, 3))));
        assert_eq!(frames.slices, vec![0]);
        assert!(frames.empty);
        assert_eq!(frames.pixel_data, vec![0, 0]);
    }

    #[test]
    fn fractional_frames_store_probability_times_255() {
        let mut data = Array3::<f32>::zeros((3, 1, 3));
        data[[1, 0, 0]] = 1.0;
        data[[1, 0, 1]] = 0.5;
        data[[1, 0, 2]] = f32::NAN;
        data[[2, 0, 0]] = 0.001; // rounds to 0: not a frame
        let frames = fractional_frames(&volume(data));
        assert_eq!(frames.slices, vec![1]);
        assert_eq!(frames.pixel_data, vec![255, 128, 0, 0]);
    }
}
