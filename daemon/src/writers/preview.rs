//! Preview images for the admin page: a few PNG slices through the most abnormal regions of
//! a scored series, drawn like the overlay series (grey CT, heat map above the voxel
//! threshold, colour bar, "NOT FOR DIAGNOSTIC USE").
//!
//! Slices are taken along the volume's third axis (axial for an axial CT). They are ranked by
//! their highest display score; a slice closer than [`MIN_GAP_MM`] to one already chosen is
//! passed over while others remain, unless the score dips by [`SEPARATING_DIP`] between the
//! two (then it shows another peak). So one large lesion does not fill every preview, and a
//! second lesion close to the first still gets its own.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, Axis};
use screener_core::{CtVolume, Volume};

use super::overlay::OverlayParams;
use super::render::render_slice;
use super::WriterError;

/// The folder, inside a result's output folder, that holds its previews.
pub const PREVIEW_DIR: &str = "preview";

/// Chosen slices keep at least this distance (mm) from each other while the volume allows.
pub const MIN_GAP_MM: f64 = 20.0;

/// A dip of the per-slice peak (display units, 0.5 = voxel threshold) between two slices
/// that makes them two peaks however close they are.
pub const SEPARATING_DIP: f32 = 0.1;

/// Slices smaller than this (pixels, shorter side) are enlarged by whole-pixel repetition so
/// the burned-in text and the colour bar fit.
const MIN_SIDE: usize = 256;

/// Writes up to `count` PNG previews into `out_dir` and returns their paths, most abnormal
/// first. Names are `preview-RR-slice-KKKK.png` (rank, then 0-based slice index), so sorting
/// the names gives the ranking. `display` is the anomaly mapped to [0, 1] with 0.5 at the
/// voxel threshold, on the grid of `ct` (HU).
pub fn render_previews(
    ct: &CtVolume,
    display: &Volume<f32>,
    out_dir: &Path,
    count: usize,
) -> Result<Vec<PathBuf>, WriterError> {
    if ct.data.shape() != display.data.shape() {
        return Err(WriterError::Parameter {
            name: "display",
            reason: format!(
                "shape {:?} differs from the CT's {:?}",
                display.data.shape(),
                ct.data.shape()
            ),
        });
    }
    let slices = choose_slices(display, count);
    if slices.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(out_dir).map_err(|e| WriterError::Write {
        path: out_dir.to_owned(),
        reason: e.to_string(),
    })?;
    let params = OverlayParams::new(String::new());
    let mut paths = Vec::with_capacity(slices.len());
    for (rank, &k) in slices.iter().enumerate() {
        let hu = ct.data.index_axis(Axis(0), k);
        let scores = display.data.index_axis(Axis(0), k);
        let factor = enlargement(hu.dim());
        let (hu, scores) = (enlarge(hu, factor), enlarge(scores, factor));
        let rgb = render_slice(hu.view(), scores.view(), &params);
        let (height, width) = hu.dim();
        let path = out_dir.join(format!("preview-{:02}-slice-{k:04}.png", rank + 1));
        write_png(&path, width, height, &rgb)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Slice indices, best first: ranked by their highest value, skipping slices within the
/// minimum gap of a chosen one (and on the same peak) until no other slice is left.
fn choose_slices(display: &Volume<f32>, count: usize) -> Vec<usize> {
    let peaks: Vec<f32> = display
        .data
        .axis_iter(Axis(0))
        .map(|s| {
            s.iter()
                .copied()
                .filter(|v| !v.is_nan())
                .fold(f32::MIN, f32::max)
        })
        .collect();
    let n = peaks.len();
    let count = count.min(n);
    if count == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| peaks[b].total_cmp(&peaks[a]).then(a.cmp(&b)));
    let spacing = display.geometry.spacing[2].abs().max(1e-3);
    // Never ask for a gap so wide that `count` slices cannot be spread over the volume.
    let gap = ((MIN_GAP_MM / spacing).ceil() as usize).clamp(1, (n / count).max(1));
    let mut chosen: Vec<usize> = Vec::with_capacity(count);
    for &k in &order {
        if chosen.len() == count {
            break;
        }
        let apart = |c: usize| {
            let between = &peaks[c.min(k) + 1..c.max(k)];
            let valley = between.iter().copied().fold(f32::INFINITY, f32::min);
            c.abs_diff(k) >= gap || valley <= peaks[k] - SEPARATING_DIP
        };
        if chosen.iter().all(|&c| apart(c)) {
            chosen.push(k);
        }
    }
    for &k in &order {
        if chosen.len() == count {
            break;
        }
        if !chosen.contains(&k) {
            chosen.push(k);
        }
    }
    chosen
}

fn enlargement((rows, columns): (usize, usize)) -> usize {
    let side = rows.min(columns).max(1);
    MIN_SIDE.div_ceil(side).clamp(1, 8)
}

/// Each pixel repeated `factor` times along both axes.
fn enlarge(image: ArrayView2<f32>, factor: usize) -> Array2<f32> {
    let (rows, columns) = image.dim();
    Array2::from_shape_fn((rows * factor, columns * factor), |(r, c)| {
        image[[r / factor, c / factor]]
    })
}

fn write_png(path: &Path, width: usize, height: usize, rgb: &[u8]) -> Result<(), WriterError> {
    let fail = |reason: String| WriterError::Write {
        path: path.to_owned(),
        reason,
    };
    let file = File::create(path).map_err(|e| fail(e.to_string()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| fail(e.to_string()))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| fail(e.to_string()))?;
    writer.finish().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use screener_core::{Dims, Geometry};

    use super::*;

    fn volume(dims: Dims, spacing_k: f64, value: f32) -> Volume<f32> {
        let geometry = Geometry::axial([0.0; 3], [1.0, 1.0, spacing_k]);
        Volume::new(ndarray::Array3::from_elem(dims.shape(), value), geometry)
    }

    fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        assert_eq!(info.color_type, png::ColorType::Rgb);
        (info.width, info.height, buf)
    }

    #[test]
    fn the_first_preview_is_the_slice_with_the_peak() {
        let dims = Dims::new(32, 32, 20);
        let ct = volume(dims, 2.0, 40.0);
        let mut display = volume(dims, 2.0, 0.1);
        display.data[[13, 10, 12]] = 0.95;
        display.data[[4, 20, 20]] = 0.7;
        let dir = tempfile::tempdir().unwrap();
        let paths = render_previews(&ct, &display, dir.path(), 2).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["preview-01-slice-0013.png", "preview-02-slice-0004.png"]
        );
    }

    #[test]
    fn previews_are_spread_over_peaks_rather_than_neighbours_of_one() {
        let dims = Dims::new(8, 8, 60);
        let mut display = volume(dims, 1.0, 0.0);
        // A large lesion around slice 20 (its neighbours all score high) and a weaker one at 50.
        for k in 14..27 {
            display.data[[k, 4, 4]] = 0.9 - 0.01 * (k as f32 - 20.0).abs();
        }
        display.data[[50, 4, 4]] = 0.6;
        let chosen = choose_slices(&display, 3);
        assert_eq!(chosen[0], 20);
        assert!(chosen.contains(&50), "{chosen:?}");
        assert!(
            chosen.iter().all(|&k| k == 20 || k.abs_diff(20) >= 20),
            "{chosen:?}"
        );
    }

    #[test]
    fn a_short_volume_still_gives_the_requested_count() {
        let dims = Dims::new(8, 8, 4);
        let mut display = volume(dims, 5.0, 0.0);
        display.data[[2, 1, 1]] = 1.0;
        let chosen = choose_slices(&display, 6);
        assert_eq!(chosen.len(), 4);
        assert_eq!(chosen[0], 2);
    }

    #[test]
    fn previews_decode_as_rgb_with_heat_where_the_score_is_high() {
        let dims = Dims::new(64, 48, 3);
        let ct = volume(dims, 1.0, 40.0);
        let mut display = volume(dims, 1.0, 0.0);
        for j in 20..30 {
            for i in 20..30 {
                display.data[[1, j, i]] = 1.0;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let paths = render_previews(&ct, &display, &dir.path().join("preview"), 1).unwrap();
        assert_eq!(paths.len(), 1);
        let (width, height, rgb) = decode(&paths[0]);
        // Enlarged 6 times so the short side reaches 256 pixels.
        assert_eq!((width, height), (64 * 6, 48 * 6));
        let pixel = |x: usize, y: usize| {
            let p = 3 * (y * width as usize + x);
            [rgb[p], rgb[p + 1], rgb[p + 2]]
        };
        let hot = pixel(25 * 6, 25 * 6);
        assert!(hot[0] > hot[2] + 40, "{hot:?} should be warm");
        assert_eq!(pixel(10 * 6, 40 * 6), [128, 128, 128]);
    }

    #[test]
    fn a_display_map_on_another_grid_is_refused() {
        let ct = volume(Dims::new(8, 8, 4), 1.0, 0.0);
        let display = volume(Dims::new(8, 8, 5), 1.0, 0.0);
        let dir = tempfile::tempdir().unwrap();
        let err = render_previews(&ct, &display, dir.path(), 1).unwrap_err();
        assert!(err.to_string().contains("display"), "{err}");
    }
}
