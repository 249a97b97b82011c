//! Decodes the pixel data of a series' files straight into the slices of a volume, in HU.

use std::path::Path;

use dicom_object::open_file;
use dicom_pixeldata::{PixelDecoder, PixelRepresentation};
use ndarray::{Array3, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::error::SeriesError;
use super::header::InstanceHeader;
use super::layout::SeriesLayout;

/// Decodes every frame of `layout` into a `[frames, rows, columns]` array of HU values.
/// Files are decoded in parallel, each once, whatever number of frames it holds.
pub fn decode_series(
    instances: &[InstanceHeader],
    layout: &SeriesLayout,
) -> Result<Array3<f32>, SeriesError> {
    let mut data = Array3::<f32>::zeros((layout.frames.len(), layout.rows, layout.columns));
    // Hand each file the slices it fills.
    let mut per_file: Vec<Vec<SliceTarget>> = (0..instances.len()).map(|_| Vec::new()).collect();
    for (placed, slice) in layout.frames.iter().zip(data.axis_iter_mut(Axis(0))) {
        per_file[placed.instance].push(SliceTarget {
            frame: placed.frame,
            slope: placed.rescale_slope as f32,
            intercept: placed.rescale_intercept as f32,
            slice,
        });
    }
    per_file
        .into_par_iter()
        .enumerate()
        .filter(|(_, targets)| !targets.is_empty())
        .try_for_each(|(n, targets)| decode_file(&instances[n], targets))?;
    Ok(data)
}

/// One frame of a file and the volume slice it is decoded into.
struct SliceTarget<'a> {
    frame: u32,
    slope: f32,
    intercept: f32,
    slice: ArrayViewMut2<'a, f32>,
}

fn decode_file(inst: &InstanceHeader, targets: Vec<SliceTarget>) -> Result<(), SeriesError> {
    let path = inst.path.as_path();
    let decode_error = |reason: String| SeriesError::Decode {
        path: path.to_owned(),
        transfer_syntax: inst.transfer_syntax.clone(),
        reason,
    };
    let obj = open_file(path).map_err(|e| SeriesError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let pixels = obj
        .decode_pixel_data()
        .map_err(|e| decode_error(e.to_string()))?;
    if pixels.samples_per_pixel() != 1 {
        return Err(unsupported(path, "more than one sample per pixel"));
    }
    let format = SampleFormat {
        bytes: match pixels.bits_allocated() {
            8 => 1,
            16 => 2,
            32 => 4,
            b => return Err(unsupported(path, &format!("BitsAllocated {b}"))),
        },
        bits_stored: pixels.bits_stored() as u32,
        signed: pixels.pixel_representation() == PixelRepresentation::Signed,
    };
    let frame_len = pixels.rows() as usize * pixels.columns() as usize;
    let frame_bytes = frame_len * format.bytes;
    let raw = pixels.data();
    for SliceTarget {
        frame,
        slope,
        intercept,
        mut slice,
    } in targets
    {
        let start = frame as usize * frame_bytes;
        let bytes = raw.get(start..start + frame_bytes).ok_or_else(|| {
            decode_error(format!(
                "frame {frame} lies beyond the {} bytes of decoded pixel data",
                raw.len()
            ))
        })?;
        let out = slice
            .as_slice_mut()
            .expect("slices of a standard-layout array are contiguous");
        if out.len() != frame_len {
            return Err(unsupported(path, "frame size differs from Rows x Columns"));
        }
        format.convert(bytes, out, slope, intercept);
    }
    Ok(())
}

fn unsupported(path: &Path, reason: &str) -> SeriesError {
    SeriesError::UnsupportedPixelData {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// How stored values are laid out in native (little-endian) pixel data.
struct SampleFormat {
    bytes: usize,
    bits_stored: u32,
    signed: bool,
}

impl SampleFormat {
    /// Stored value -> HU, honouring BitsStored: unused high bits are masked, and signed
    /// values are sign-extended from their top stored bit.
    fn convert(&self, bytes: &[u8], out: &mut [f32], slope: f32, intercept: f32) {
        let width = 8 * self.bytes as u32;
        let unused = width - self.bits_stored.min(width);
        let signed = self.signed;
        let value = move |raw: u32| -> f32 {
            let shifted = raw << (32 - width + unused);
            if signed {
                ((shifted as i32) >> (32 - width + unused)) as f32
            } else {
                (shifted >> (32 - width + unused)) as f32
            }
        };
        match self.bytes {
            1 => {
                for (o, &b) in out.iter_mut().zip(bytes) {
                    *o = value(b as u32) * slope + intercept;
                }
            }
            2 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = value(u16::from_le_bytes([b[0], b[1]]) as u32) * slope + intercept;
                }
            }
            _ => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = value(u32::from_le_bytes([b[0], b[1], b[2], b[3]])) * slope + intercept;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_twelve_bit_values_are_sign_extended() {
        let f = SampleFormat {
            bytes: 2,
            bits_stored: 12,
            signed: true,
        };
        // 0x0FFF is -1 in 12-bit two's complement; the high nibble is garbage to be ignored.
        let bytes = [0xFF, 0xFF, 0x00, 0x08, 0x10, 0x00];
        let mut out = [0.0; 3];
        f.convert(&bytes, &mut out, 1.0, 0.0);
        assert_eq!(out, [-1.0, -2048.0, 16.0]);
    }

    #[test]
    fn unsigned_values_get_slope_and_intercept() {
        let f = SampleFormat {
            bytes: 2,
            bits_stored: 16,
            signed: false,
        };
        let bytes = [0x00, 0x04, 0xFF, 0xFF];
        let mut out = [0.0; 2];
        f.convert(&bytes, &mut out, 1.0, -1024.0);
        assert_eq!(out, [0.0, 64511.0]);
        f.convert(&bytes, &mut out, 0.5, 0.0);
        assert_eq!(out, [512.0, 32767.5]);
    }
}
