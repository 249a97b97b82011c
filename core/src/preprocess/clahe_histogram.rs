//! Per-region histogram work of CLAHE: clipping with redistribution of the excess, and the
//! cumulative grey-level mapping. Integer arithmetic follows scikit-image 0.26 step by step
//! (including its stride-based hand-out of the last excess counts) because the mapping feeds
//! straight into the output values.

/// Clips `hist` at `clip` and hands the clipped counts back to the bins below the limit.
pub(super) fn clip_histogram(hist: &mut [i64], clip: i64) {
    let n = hist.len() as i64;
    let mut excess = 0i64;
    for h in hist.iter_mut() {
        if *h > clip {
            excess += *h - clip;
            *h = clip;
        }
    }
    // Even share first; bins the share would push over the limit are filled to it.
    let incr = excess / n;
    let upper = clip - incr;
    for h in hist.iter_mut() {
        if *h < upper {
            *h += incr;
            excess -= incr;
        }
        if *h >= upper && *h < clip {
            excess += *h - clip;
            *h = clip;
        }
    }
    // Then one count at a time, striding so the remainder spreads over the histogram.
    let mut under = hist.iter().filter(|&&h| h < clip).count() as i64;
    while excess > 0 {
        let before = excess;
        for index in 0..hist.len() {
            let step = (under / excess).max(1) as usize;
            for h in hist.iter_mut().skip(index).step_by(step) {
                if *h < clip {
                    *h += 1;
                    excess -= 1;
                    if *h == clip {
                        under -= 1;
                    }
                }
            }
            if excess <= 0 {
                break;
            }
        }
        if before == excess {
            break;
        }
    }
}

/// Cumulative mapping of a clipped histogram of `n_pixels` counts onto `0..=max_val`.
pub(super) fn map_histogram(hist: &[i64], max_val: i64, n_pixels: usize, out: &mut [f32]) {
    let scale = max_val as f64 / n_pixels as f64;
    let mut cum = 0i64;
    for (o, &h) in out.iter_mut().zip(hist) {
        cum += h;
        *o = ((cum as f64 * scale).min(max_val as f64) as i64) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_matches_scikit_image_on_hand_checked_histograms() {
        // Expected values printed by skimage.exposure._adapthist.clip_histogram 0.26. Like
        // scikit-image, filling "mid" bins can hand out more than the excess, so totals grow.
        let mut h: Vec<i64> = vec![0, 50, 3, 0, 0, 1, 30, 0];
        clip_histogram(&mut h, 12);
        assert_eq!(h, vec![12; 8]);

        let mut h = vec![0i64; 42];
        h[1] = 50;
        h[2] = 3;
        h[5] = 1;
        h[6] = 30;
        clip_histogram(&mut h, 12);
        let mut want = vec![2i64, 12, 5, 1, 2, 2, 12];
        want.extend((7..42).map(|i| if i % 2 == 0 { 2 } else { 1 }));
        assert_eq!(h, want);
    }

    #[test]
    fn mapping_is_the_scaled_cumulative_sum() {
        let mut out = vec![0.0; 4];
        map_histogram(&[1, 1, 0, 2], 16383, 4, &mut out);
        assert_eq!(out, vec![4095.0, 8191.0, 8191.0, 16383.0]);
    }
}
