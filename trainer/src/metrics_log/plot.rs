//! Loss curves as a PNG: one panel per series (loss, each loss term, learning rate, gradient
//! norm) stacked vertically, each with its name and its y range written in the corner.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use thiserror::Error;

use super::font::{text_pixels, text_width};
use super::jsonl::StepRecord;

#[derive(Debug, Error)]
pub enum PlotError {
    #[error("writing {path}: {reason}")]
    Write { path: String, reason: String },
}

const WIDTH: usize = 640;
const PANEL_HEIGHT: usize = 150;
const MARGIN: usize = 12;
const SCALE: usize = 2;
const LINE: [u8; 3] = [20, 90, 200];
const INK: [u8; 3] = [40, 40, 40];
const FRAME: [u8; 3] = [170, 170, 170];

struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            rgb: vec![255; width * height * 3],
        }
    }

    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// Bresenham line.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), c: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            if x >= 0 && y >= 0 {
                self.set(x as usize, y as usize, c);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn text(&mut self, s: &str, x: usize, y: usize, c: [u8; 3]) {
        for (px, py) in text_pixels(s, x, y, SCALE) {
            self.set(px, py, c);
        }
    }
}

/// The series drawn: `(name, values by step)`.
fn series(records: &[StepRecord]) -> Vec<(String, Vec<(usize, f64)>)> {
    let mut out = vec![(
        "loss".to_string(),
        records.iter().map(|r| (r.step, r.loss)).collect(),
    )];
    let mut names: Vec<&String> = records.iter().flat_map(|r| r.terms.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let values = records
            .iter()
            .filter_map(|r| r.terms.get(name).map(|v| (r.step, *v)))
            .collect();
        out.push((name.clone(), values));
    }
    out.push((
        "lr".into(),
        records.iter().map(|r| (r.step, r.lr)).collect(),
    ));
    out.push((
        "grad norm".into(),
        records.iter().map(|r| (r.step, r.grad_norm)).collect(),
    ));
    out
}

fn draw_panel(canvas: &mut Canvas, top: usize, name: &str, values: &[(usize, f64)]) {
    let (left, right) = (MARGIN, WIDTH - MARGIN);
    let (y_top, y_bottom) = (top + MARGIN, top + PANEL_HEIGHT - MARGIN);
    for x in left..=right {
        canvas.set(x, y_top, FRAME);
        canvas.set(x, y_bottom, FRAME);
    }
    for y in y_top..=y_bottom {
        canvas.set(left, y, FRAME);
        canvas.set(right, y, FRAME);
    }
    let finite: Vec<(usize, f64)> = values.iter().copied().filter(|v| v.1.is_finite()).collect();
    if finite.is_empty() {
        canvas.text(name, left + 4, y_top + 4, INK);
        return;
    }
    let (mut lo, mut hi) = finite
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v.1), b.max(v.1)));
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let (s0, s1) = (finite[0].0, finite[finite.len() - 1].0.max(finite[0].0 + 1));
    let inner = (right - left - 4) as f64;
    let height = (y_bottom - y_top - 4) as f64;
    let to_px = |(s, v): (usize, f64)| {
        let x = left + 2 + ((s - s0) as f64 / (s1 - s0) as f64 * inner).round() as usize;
        let y = y_bottom - 2 - ((v - lo) / (hi - lo) * height).round() as usize;
        (x as i64, y as i64)
    };
    for pair in finite.windows(2) {
        canvas.line(to_px(pair[0]), to_px(pair[1]), LINE);
    }
    if finite.len() == 1 {
        let (x, y) = to_px(finite[0]);
        canvas.set(x as usize, y as usize, LINE);
    }
    canvas.text(name, left + 4, y_top + 4, INK);
    let max_label = format!("{hi:.4e}");
    let min_label = format!("{lo:.4e}");
    let steps = format!("steps {s0}-{}", finite[finite.len() - 1].0);
    canvas.text(
        &max_label,
        right - 4 - text_width(&max_label, SCALE),
        y_top + 4,
        INK,
    );
    canvas.text(
        &min_label,
        right - 4 - text_width(&min_label, SCALE),
        y_bottom - 14,
        INK,
    );
    canvas.text(&steps, left + 4, y_bottom - 14, INK);
}

/// Draws the curves of `records` into `path` (overwritten).
pub fn plot_curves(records: &[StepRecord], path: &Path) -> Result<(), PlotError> {
    let all = series(records);
    let mut canvas = Canvas::new(WIDTH, PANEL_HEIGHT * all.len());
    for (n, (name, values)) in all.iter().enumerate() {
        draw_panel(&mut canvas, n * PANEL_HEIGHT, name, values);
    }
    let err = |e: &dyn std::fmt::Display| PlotError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = File::create(path).map_err(|e| err(&e))?;
    let mut encoder = png::Encoder::new(
        BufWriter::new(file),
        canvas.width as u32,
        canvas.height as u32,
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| err(&e))?;
    writer.write_image_data(&canvas.rgb).map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn curves_png_has_one_panel_per_series_and_draws_the_line() {
        let records: Vec<StepRecord> = (0..50)
            .map(|s| StepRecord {
                step: s,
                loss: (-(s as f64) / 10.0).exp(),
                terms: BTreeMap::from([("dice".to_string(), 1.0 - s as f64 / 50.0)]),
                lr: 1e-3,
                grad_norm: 1.0,
                step_seconds: 0.1,
                voxels_per_second: 1.0,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.png");
        plot_curves(&records, &path).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (640, 4 * 150));
        let blue = buf[..info.buffer_size()]
            .chunks(3)
            .filter(|p| p == &LINE)
            .count();
        assert!(blue > 500, "only {blue} line pixels");
    }
}
