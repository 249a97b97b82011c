//! Choosing the score threshold that maximises the mean Dice over a set of cases (the paper
//! fixes it on 10 pathological cases), and Dice at a given threshold.
//!
//! A voxel is predicted anomalous when it lies inside the body mask and its score is
//! `>= threshold`. Lesion voxels outside the body count in the reference mask all the same.
//!
//! Candidate thresholds: the sorted unique scores of lesion voxels inside the body, pooled
//! over the cases. This is exact: between two consecutive such scores no case's true positives
//! change while its predicted voxels can only shrink as the threshold rises, so mean Dice is
//! maximal at one of them (or at "predict nothing", threshold `+inf`, which can only win when
//! cases without lesions dominate). With more unique scores than `max_candidates`, that many
//! evenly spaced order statistics of them are tried instead (always including the lowest and
//! the highest), an approximation that bounds the cost at O(voxels * log(max_candidates)).

use ndarray::Zip;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{dice::dice_from_counts, voxel_auroc::CaseMaps, MetricsError};

/// Cap on the number of candidate thresholds tried.
pub const DEFAULT_MAX_CANDIDATES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// Predict `score >= threshold` (inside the body); `+inf` means predict nothing.
    pub threshold: f64,
    pub mean_dice: f64,
    /// Dice of each case at `threshold`, in the order given.
    pub per_case: Vec<f64>,
    /// Number of candidate thresholds tried.
    pub candidates: usize,
}

/// The threshold with the highest mean Dice over `cases`; among equal means, the lowest.
pub fn select_threshold(
    cases: &[CaseMaps<'_>],
    max_candidates: usize,
) -> Result<ThresholdChoice, MetricsError> {
    if cases.is_empty() {
        return Err(MetricsError::NoCases);
    }
    for case in cases {
        case.check()?;
    }
    let candidates = candidate_thresholds(cases, max_candidates.max(2));
    let per_case: Vec<Vec<f64>> = cases
        .par_iter()
        .map(|case| dice_curve(case, &candidates))
        .collect();
    let n = cases.len() as f64;
    // Index candidates.len() stands for "predict nothing".
    let mean = |m: usize| per_case.iter().map(|curve| curve[m]).sum::<f64>() / n;
    let mut best = candidates.len();
    let mut best_mean = mean(best);
    for m in 0..candidates.len() {
        let value = mean(m);
        if value > best_mean || (value == best_mean && best == candidates.len()) {
            best = m;
            best_mean = value;
        }
    }
    Ok(ThresholdChoice {
        threshold: candidates.get(best).copied().unwrap_or(f64::INFINITY),
        mean_dice: best_mean,
        per_case: per_case.iter().map(|curve| curve[best]).collect(),
        candidates: candidates.len(),
    })
}

/// Dice of one case when voxels inside the body with `score >= threshold` are predicted.
pub fn dice_at_threshold(case: &CaseMaps<'_>, threshold: f64) -> Result<f64, MetricsError> {
    case.check()?;
    let (mut tp, mut predicted, mut reference) = (0u64, 0u64, 0u64);
    Zip::from(&case.scores)
        .and(&case.lesion)
        .and(&case.body)
        .for_each(|&s, &l, &b| {
            let p = b != 0 && f64::from(s) >= threshold;
            tp += u64::from(p && l != 0);
            predicted += u64::from(p);
            reference += u64::from(l != 0);
        });
    Ok(dice_from_counts(tp, reference, predicted))
}

/// Mean of [`dice_at_threshold`] over `cases`.
pub fn mean_dice_at_threshold(cases: &[CaseMaps<'_>], threshold: f64) -> Result<f64, MetricsError> {
    if cases.is_empty() {
        return Err(MetricsError::NoCases);
    }
    let dices = cases
        .par_iter()
        .map(|c| dice_at_threshold(c, threshold))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(dices.iter().sum::<f64>() / dices.len() as f64)
}

fn candidate_thresholds(cases: &[CaseMaps<'_>], max_candidates: usize) -> Vec<f64> {
    let mut scores: Vec<f64> = cases
        .par_iter()
        .flat_map_iter(|case| {
            let mut found = Vec::new();
            Zip::from(&case.scores)
                .and(&case.lesion)
                .and(&case.body)
                .for_each(|&s, &l, &b| {
                    if l != 0 && b != 0 && !s.is_nan() {
                        // Adding 0.0 merges -0.0 into +0.0 before sorting by total order.
                        found.push(f64::from(s) + 0.0);
                    }
                });
            found
        })
        .collect();
    scores.par_sort_unstable_by(f64::total_cmp);
    scores.dedup();
    if scores.len() <= max_candidates {
        return scores;
    }
    let last = (scores.len() - 1) as f64;
    let steps = (max_candidates - 1) as f64;
    (0..max_candidates)
        .map(|q| scores[(q as f64 * last / steps).round() as usize])
        .collect()
}

/// Dice of one case at every candidate (ascending), then at "predict nothing".
fn dice_curve(case: &CaseMaps<'_>, candidates: &[f64]) -> Vec<f64> {
    // Bucket b holds voxels predicted for exactly the candidates 0..b.
    let mut predicted = vec![0u64; candidates.len() + 1];
    let mut hits = vec![0u64; candidates.len() + 1];
    let mut reference = 0u64;
    Zip::from(&case.scores)
        .and(&case.lesion)
        .and(&case.body)
        .for_each(|&s, &l, &b| {
            reference += u64::from(l != 0);
            if b != 0 {
                let s = f64::from(s);
                let bucket = candidates.partition_point(|&c| c <= s);
                predicted[bucket] += 1;
                hits[bucket] += u64::from(l != 0);
            }
        });
    let mut curve = vec![0.0; candidates.len() + 1];
    let (mut pred_above, mut hits_above) = (0u64, 0u64);
    curve[candidates.len()] = dice_from_counts(0, reference, 0);
    for m in (0..candidates.len()).rev() {
        pred_above += predicted[m + 1];
        hits_above += hits[m + 1];
        curve[m] = dice_from_counts(hits_above, reference, pred_above);
    }
    curve
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    struct Owned {
        scores: Array3<f32>,
        lesion: Array3<u8>,
        body: Array3<u8>,
    }

    impl Owned {
        fn case(&self) -> CaseMaps<'_> {
            CaseMaps::new(self.scores.view(), self.lesion.view(), self.body.view()).unwrap()
        }
    }

    /// Noisy scores, higher on average in a lesion block; scores rounded to a coarse grid so
    /// that ties occur.
    fn noisy_case(seed: u64, lesion: bool) -> Owned {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let shape = (12, 16, 16);
        let lesion = Array3::from_shape_fn(shape, |(k, j, i)| {
            u8::from(lesion && (3..7).contains(&k) && (4..9).contains(&j) && (5..11).contains(&i))
        });
        let body = Array3::from_shape_fn(shape, |(_, j, i)| u8::from(i > 0 && j < 15));
        let scores = Array3::from_shape_fn(shape, |(k, j, i)| {
            let mean = if lesion[[k, j, i]] != 0 { 1.0 } else { 0.0 };
            ((mean + rng.gen::<f32>() * 1.5) * 64.0).round() / 64.0
        });
        Owned {
            scores,
            lesion,
            body,
        }
    }

    #[test]
    fn separable_case_gets_dice_one_at_the_lowest_lesion_score() {
        let mut c = noisy_case(1, true);
        c.scores
            .zip_mut_with(&c.lesion, |s, &l| *s += 10.0 * f32::from(l));
        let lowest = c
            .scores
            .iter()
            .zip(&c.lesion)
            .filter(|(_, &l)| l != 0)
            .map(|(&s, _)| f64::from(s))
            .fold(f64::INFINITY, f64::min);
        let choice = select_threshold(&[c.case()], DEFAULT_MAX_CANDIDATES).unwrap();
        assert_eq!(choice.mean_dice, 1.0);
        assert_eq!(choice.threshold, lowest);
    }

    #[test]
    fn selected_threshold_beats_every_threshold_on_all_unique_scores() {
        let owned: Vec<Owned> = (0..4).map(|s| noisy_case(s, s != 3)).collect();
        let cases: Vec<CaseMaps> = owned.iter().map(Owned::case).collect();
        let choice = select_threshold(&cases, DEFAULT_MAX_CANDIDATES).unwrap();
        let mut all: Vec<f64> = owned
            .iter()
            .flat_map(|o| o.scores.iter().map(|&s| f64::from(s)))
            .collect();
        all.sort_by(f64::total_cmp);
        all.dedup();
        let brute = all
            .iter()
            .map(|&t| mean_dice_at_threshold(&cases, t).unwrap())
            .fold(0.0, f64::max);
        assert!(
            (choice.mean_dice - brute).abs() < 1e-12,
            "{} vs {brute}",
            choice.mean_dice
        );
        let again = mean_dice_at_threshold(&cases, choice.threshold).unwrap();
        assert!((again - choice.mean_dice).abs() < 1e-12);
        for (case, &d) in cases.iter().zip(&choice.per_case) {
            assert_eq!(dice_at_threshold(case, choice.threshold).unwrap(), d);
        }
    }

    #[test]
    fn capped_candidates_stay_close_to_the_exact_optimum() {
        let owned: Vec<Owned> = (0..3).map(|s| noisy_case(s + 10, true)).collect();
        let cases: Vec<CaseMaps> = owned.iter().map(Owned::case).collect();
        let exact = select_threshold(&cases, DEFAULT_MAX_CANDIDATES).unwrap();
        let capped = select_threshold(&cases, 20).unwrap();
        assert_eq!(capped.candidates, 20);
        assert!(capped.mean_dice <= exact.mean_dice);
        assert!(capped.mean_dice > exact.mean_dice - 0.05);
    }

    #[test]
    fn cases_without_lesions_prefer_predicting_nothing() {
        let c = noisy_case(5, false);
        let choice = select_threshold(&[c.case()], DEFAULT_MAX_CANDIDATES).unwrap();
        assert_eq!(choice.threshold, f64::INFINITY);
        assert_eq!(choice.mean_dice, 1.0);
        assert_eq!(choice.candidates, 0);
    }

    #[test]
    fn only_voxels_inside_the_body_are_predicted() {
        let c = noisy_case(2, true);
        let inside = c.body.iter().filter(|&&b| b != 0).count() as u64;
        let lesion = c.lesion.iter().filter(|&&l| l != 0).count() as u64;
        let expected = dice_from_counts(lesion, lesion, inside);
        assert_eq!(
            dice_at_threshold(&c.case(), f64::NEG_INFINITY).unwrap(),
            expected
        );
    }
}
