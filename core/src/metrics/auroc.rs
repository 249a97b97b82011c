//! Exact area under the ROC curve: the Mann-Whitney U statistic over all positive-negative
//! pairs, ties counting one half, in O(n log n).

use rayon::prelude::*;

use super::MetricsError;

/// AUROC of `scores` (higher = more likely positive) against `labels` (true = positive).
/// Equals scikit-learn's `roc_auc_score`. The pair counts are exact integers, so the only
/// rounding is the final division. Errors on a NaN score or when a class is empty.
pub fn auroc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricsError> {
    if scores.len() != labels.len() {
        return Err(MetricsError::ShapeMismatch {
            what: "scores and labels",
            left: vec![scores.len()],
            right: vec![labels.len()],
        });
    }
    if scores.iter().any(|s| s.is_nan()) {
        return Err(MetricsError::NanScore);
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(MetricsError::OneClass {
            positives,
            negatives,
        });
    }
    // Adding 0.0 turns -0.0 into +0.0, which `total_cmp` would otherwise order apart.
    let mut pairs: Vec<(f64, bool)> = scores
        .iter()
        .map(|&s| s + 0.0)
        .zip(labels.iter().copied())
        .collect();
    pairs.par_sort_unstable_by(|a, b| a.0.total_cmp(&b.0));

    // Twice U: each positive scores 2 per negative below it and 1 per negative tied with it.
    let mut twice_u: u128 = 0;
    let mut negatives_below: u128 = 0;
    for group in pairs.chunk_by(|a, b| a.0 == b.0) {
        let pos = group.iter().filter(|p| p.1).count() as u128;
        let neg = group.len() as u128 - pos;
        twice_u += pos * (2 * negatives_below + neg);
        negatives_below += neg;
    }
    let twice_pairs = 2 * positives as u128 * negatives as u128;
    Ok(twice_u as f64 / twice_pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_separation_gives_one_and_reversed_gives_zero() {
        let labels = [false, false, true, true];
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &labels).unwrap(), 1.0);
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &labels).unwrap(), 0.0);
    }

    #[test]
    fn all_scores_tied_gives_one_half() {
        assert_eq!(
            auroc(&[3.0; 5], &[true, false, true, false, false]).unwrap(),
            0.5
        );
    }

    #[test]
    fn ties_between_classes_count_one_half() {
        // Pairs (pos, neg): (2,1) win, (2,2) tie, (3,1) win, (3,2) win -> 3.5 / 4.
        let s = [1.0, 2.0, 2.0, 3.0];
        let l = [false, false, true, true];
        assert_eq!(auroc(&s, &l).unwrap(), 0.875);
    }

    #[test]
    fn negative_zero_ties_with_positive_zero() {
        assert_eq!(auroc(&[-0.0, 0.0], &[true, false]).unwrap(), 0.5);
    }

    #[test]
    fn auroc_matches_the_quadratic_pair_count() {
        let scores: Vec<f64> = (0..300).map(|x| ((x * 37) % 41) as f64 / 4.0).collect();
        let labels: Vec<bool> = (0..300).map(|x| (x * 13) % 7 < 3).collect();
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (sp, _) in scores.iter().zip(&labels).filter(|p| *p.1) {
            for (sn, _) in scores.iter().zip(&labels).filter(|p| !*p.1) {
                pairs += 1.0;
                wins += if sp > sn {
                    1.0
                } else if sp == sn {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert!((auroc(&scores, &labels).unwrap() - wins / pairs).abs() < 1e-12);
    }

    #[test]
    fn one_class_nan_and_length_mismatch_are_errors() {
        assert!(matches!(
            auroc(&[1.0, 2.0], &[true, true]),
            Err(MetricsError::OneClass { .. })
        ));
        assert_eq!(
            auroc(&[f64::NAN, 2.0], &[true, false]),
            Err(MetricsError::NanScore)
        );
        assert!(auroc(&[1.0], &[true, false]).is_err());
    }
}
