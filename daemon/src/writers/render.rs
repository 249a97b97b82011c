//! Draws one overlay image: the CT slice in a grey window, the heat map blended on it where
//! the score passes the threshold (opacity proportional to the score above it), a colour bar
//! with its end values, and "NOT FOR DIAGNOSTIC USE" burned into the pixels.

use ndarray::ArrayView2;

use super::colormap::heat_colour;
use super::font::{text_pixels, text_width, HEIGHT};
use super::overlay::OverlayParams;

/// The words every overlay image carries.
pub const WARNING: &str = "NOT FOR DIAGNOSTIC USE";

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];

/// An interleaved 8-bit RGB image.
struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let p = 3 * (y * self.width + x);
            self.rgb[p..p + 3].copy_from_slice(&c);
        }
    }

    /// Text with a one-pixel black shadow so it reads on white bone and black air alike.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, c: [u8; 3]) {
        for (dx, dy) in text_pixels(text, scale) {
            self.set(x + dx + 1, y + dy + 1, BLACK);
        }
        for (dx, dy) in text_pixels(text, scale) {
            self.set(x + dx, y + dy, c);
        }
    }
}

/// The RGB pixels (row by row, R G B interleaved) of one overlay image. `hu` and `scores`
/// are one slice of the CT and of the score map, `[row, column]`.
pub fn render_slice(
    hu: ArrayView2<f32>,
    scores: ArrayView2<f32>,
    params: &OverlayParams,
) -> Vec<u8> {
    let (height, width) = hu.dim();
    let mut canvas = Canvas {
        width,
        height,
        rgb: vec![0; width * height * 3],
    };
    let low = params.window.center - params.window.width / 2.0;
    let span = params.window.width.max(1.0);
    let threshold = params.threshold;
    let above = (1.0 - threshold).max(f32::EPSILON);
    for ((out, &h), &s) in canvas
        .rgb
        .chunks_exact_mut(3)
        .zip(hu.iter())
        .zip(scores.iter())
    {
        let grey = ((h - low) / span).clamp(0.0, 1.0) * 255.0;
        if s > threshold {
            let t = ((s - threshold) / above).min(1.0);
            let alpha = params.max_alpha * t;
            let heat = heat_colour(t);
            for c in 0..3 {
                out[c] = (grey * (1.0 - alpha) + f32::from(heat[c]) * alpha).round() as u8;
            }
        } else {
            out.fill(grey.round() as u8);
        }
    }
    let scale = (width.min(height) / 256).max(1);
    let margin = 4 * scale;
    canvas.text(margin, margin, WARNING, scale, WHITE);
    draw_colour_bar(&mut canvas, threshold, scale, margin);
    canvas.rgb
}

/// A vertical bar at the right edge, score 1 at the top and the threshold at the bottom.
fn draw_colour_bar(canvas: &mut Canvas, threshold: f32, scale: usize, margin: usize) {
    let bar_width = 6 * scale;
    let label_height = (HEIGHT + 3) * scale;
    if canvas.width < bar_width + 2 * margin || canvas.height < 4 * label_height {
        return;
    }
    let right = canvas.width - margin;
    let left = right - bar_width;
    let top = canvas.height / 4;
    let bottom = canvas.height - canvas.height / 4;
    for y in top..bottom {
        let t = (bottom - 1 - y) as f32 / (bottom - 1 - top).max(1) as f32;
        for x in left..right {
            let edge = x == left || x + 1 == right || y == top || y + 1 == bottom;
            canvas.set(x, y, if edge { WHITE } else { heat_colour(t) });
        }
    }
    let top_label = "1.0";
    let bottom_label = format!("{threshold:.2}");
    canvas.text(
        right.saturating_sub(text_width(top_label, scale)),
        top - label_height,
        top_label,
        scale,
        WHITE,
    );
    canvas.text(
        right.saturating_sub(text_width(&bottom_label, scale)),
        bottom + 3 * scale,
        &bottom_label,
        scale,
        WHITE,
    );
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    fn params() -> OverlayParams {
        OverlayParams::new("1.2.3".into())
    }

    fn pixel(rgb: &[u8], width: usize, x: usize, y: usize) -> [u8; 3] {
        let p = 3 * (y * width + x);
        [rgb[p], rgb[p + 1], rgb[p + 2]]
    }

    #[test]
    fn grey_follows_the_window_and_heat_shows_above_the_threshold() {
        let mut hu = Array2::<f32>::from_elem((256, 256), 40.0);
        hu[[200, 10]] = -1000.0;
        let mut scores = Array2::<f32>::zeros((256, 256));
        scores[[128, 100]] = 1.0;
        scores[[128, 101]] = params().threshold;
        let rgb = render_slice(hu.view(), scores.view(), &params());
        assert_eq!(pixel(&rgb, 256, 50, 128), [128, 128, 128]);
        assert_eq!(pixel(&rgb, 256, 10, 200), [0, 0, 0]);
        assert_eq!(pixel(&rgb, 256, 101, 128), [128, 128, 128]);
        let hot = pixel(&rgb, 256, 100, 128);
        assert!(hot[0] > hot[2] + 40, "{hot:?} should be warm");
    }

    #[test]
    fn the_warning_is_burned_in_at_the_top_left() {
        let hu = Array2::<f32>::from_elem((256, 256), 40.0);
        let scores = Array2::<f32>::zeros((256, 256));
        let rgb = render_slice(hu.view(), scores.view(), &params());
        let white = (0..20)
            .flat_map(|y| (0..140).map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(&rgb, 256, x, y) == WHITE)
            .count();
        let expected = text_pixels(WARNING, 1).count();
        assert_eq!(white, expected);
    }

    #[test]
    fn the_colour_bar_runs_from_threshold_colour_to_top_colour() {
        let hu = Array2::<f32>::from_elem((512, 512), 40.0);
        let scores = Array2::<f32>::zeros((512, 512));
        let rgb = render_slice(hu.view(), scores.view(), &params());
        let x = 512 - 8 - 6; // inside the bar: margin 8, width 12 at scale 2
                             // Rows 128..384 hold the bar; its inner rows span t = 254/255 down to 1/255.
        assert_eq!(pixel(&rgb, 512, x, 129), heat_colour(254.0 / 255.0));
        assert_eq!(pixel(&rgb, 512, x, 382), heat_colour(1.0 / 255.0));
    }
}
