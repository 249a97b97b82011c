//! The score histogram as inline SVG: recent study scores as bars (red above the flag
//! threshold), the calibration's normal scores as an outline scaled to the same total, and
//! the threshold as a vertical line.

use maud::{html, Markup};

use super::format::score;

const BINS: usize = 24;
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 590.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 180.0;

/// Bin edges covering the scores, the normal scores and the threshold.
fn range(scores: &[f64], normal: &[f64], threshold: f64) -> (f64, f64) {
    let all = scores
        .iter()
        .chain(normal)
        .copied()
        .filter(|s| s.is_finite());
    let (lo, hi) = all.fold((threshold, threshold), |(lo, hi), s| (lo.min(s), hi.max(s)));
    let pad = ((hi - lo) * 0.05).max(threshold.abs() * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

fn counts(values: &[f64], lo: f64, hi: f64) -> [usize; BINS] {
    let mut bins = [0; BINS];
    for v in values.iter().filter(|v| v.is_finite()) {
        let b = ((v - lo) / (hi - lo) * BINS as f64).floor();
        bins[(b.max(0.0) as usize).min(BINS - 1)] += 1;
    }
    bins
}

pub fn score_histogram(scores: &[f64], threshold: f64, normal: &[f64]) -> Markup {
    if scores.is_empty() {
        return html! { p.empty { "No scored studies yet." } };
    }
    let (lo, hi) = range(scores, normal, threshold);
    let recent = counts(scores, lo, hi);
    let normal_counts = counts(normal, lo, hi);
    let scale_normal = if normal.is_empty() {
        0.0
    } else {
        scores.len() as f64 / normal.len() as f64
    };
    let tallest = recent
        .iter()
        .map(|&c| c as f64)
        .chain(normal_counts.iter().map(|&c| c as f64 * scale_normal))
        .fold(1.0, f64::max);
    let x = |v: f64| LEFT + (v - lo) / (hi - lo) * (RIGHT - LEFT);
    let y = |c: f64| BOTTOM - c / tallest * (BOTTOM - TOP);
    let bin_width = (RIGHT - LEFT) / BINS as f64;
    let above = scores.iter().filter(|&&s| s > threshold).count();
    let label = format!(
        "Histogram of the last {} study scores: {} above the threshold {}",
        scores.len(),
        above,
        score(threshold)
    );
    let outline = (!normal.is_empty()).then(|| {
        let mut d = format!("M{LEFT:.1},{BOTTOM:.1}");
        for (b, &c) in normal_counts.iter().enumerate() {
            let top = y(c as f64 * scale_normal);
            let x0 = LEFT + b as f64 * bin_width;
            d.push_str(&format!(
                " L{x0:.1},{top:.1} L{:.1},{top:.1}",
                x0 + bin_width
            ));
        }
        d.push_str(&format!(" L{RIGHT:.1},{BOTTOM:.1}"));
        d
    });
    let tx = x(threshold);
    html! {
        svg.histogram viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label)
            xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            @for (b, &c) in recent.iter().enumerate() {
                @if c > 0 {
                    @let x0 = LEFT + b as f64 * bin_width;
                    @let centre = lo + (b as f64 + 0.5) / BINS as f64 * (hi - lo);
                    rect x=(format!("{:.1}", x0 + 1.0)) y=(format!("{:.1}", y(c as f64)))
                        width=(format!("{:.1}", bin_width - 2.0))
                        height=(format!("{:.1}", BOTTOM - y(c as f64)))
                        fill=(if centre > threshold { "#b3261e" } else { "#5b7a99" }) {
                        title { (c) " studies from " (score(lo + b as f64 / BINS as f64 * (hi - lo))) }
                    }
                }
            }
            @if let Some(d) = outline {
                path d=(d) fill="none" stroke="#1b1f24" stroke-width="1.5" stroke-dasharray="4 3" {}
            }
            line x1=(format!("{tx:.1}")) x2=(format!("{tx:.1}")) y1=(TOP - 6.0) y2=(BOTTOM)
                stroke="#b3261e" stroke-width="2" {}
            text x=(format!("{:.1}", tx + 4.0)) y=(TOP + 4.0) font-size="12" fill="#b3261e" {
                "threshold " (score(threshold))
            }
            line x1=(LEFT) x2=(RIGHT) y1=(BOTTOM) y2=(BOTTOM) stroke="#5b6470" {}
            text x=(LEFT) y=(BOTTOM + 16.0) font-size="12" fill="#5b6470" { (score(lo)) }
            text x=(RIGHT) y=(BOTTOM + 16.0) font-size="12" fill="#5b6470" text-anchor="end" {
                (score(hi))
            }
            text x=(LEFT - 6.0) y=(TOP + 8.0) font-size="12" fill="#5b6470" text-anchor="end" {
                (tallest.round())
            }
            text x=((LEFT + RIGHT) / 2.0) y=(BOTTOM + 34.0) font-size="12" fill="#5b6470"
                text-anchor="middle" {
                "study score (bars: recent studies; dashed: normal calibration scans)"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_hold_every_score_and_the_range_covers_the_threshold() {
        let scores = [1.0, 1.1, 1.2, 5.0];
        let (lo, hi) = range(&scores, &[], 9.0);
        assert!(lo < 1.0 && hi > 9.0);
        assert_eq!(counts(&scores, lo, hi).iter().sum::<usize>(), 4);
    }

    #[test]
    fn the_svg_marks_the_threshold_and_colours_flagged_bins() {
        let svg = score_histogram(&[1.0, 1.2, 3.0], 2.0, &[0.9, 1.0, 1.1]).into_string();
        assert!(svg.contains("threshold 2.000"), "{svg}");
        assert!(svg.contains("1 above the threshold"), "{svg}");
        assert_eq!(
            svg.matches("#b3261e\"").count(),
            1 + 2,
            "one red bar, line, label"
        );
        assert!(svg.contains("stroke-dasharray"));
    }

    #[test]
    fn no_scores_give_a_sentence_instead_of_an_empty_chart() {
        assert!(score_histogram(&[], 1.0, &[1.0])
            .into_string()
            .contains("No scored"));
    }
}
