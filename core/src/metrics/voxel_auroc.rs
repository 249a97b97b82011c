//! The paper's voxel-level AUROC: per image, a seeded sample of voxels inside the pathology
//! mask (positives) and outside it but inside the body (negatives), pooled over a dataset.
//!
//! Sampling is without replacement and uses two passes over the masks (count, then pick the
//! chosen ranks), so memory is proportional to the sample, not to the volume. Each case draws
//! from its own ChaCha8 stream (`seed`, stream = case index), so the sample of a case does not
//! depend on the other cases or on the number of threads.

use ndarray::{ArrayView3, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{auroc, check_same_shape, MetricsError};

/// Voxels sampled per class and image in the paper.
pub const SAMPLES_PER_CLASS: usize = 1000;

/// One evaluated image: anomaly scores, pathology (lesion) mask and body mask, all `[k, j, i]`
/// of one shape; masks are non-zero inside.
#[derive(Debug, Clone, Copy)]
pub struct CaseMaps<'a> {
    pub scores: ArrayView3<'a, f32>,
    pub lesion: ArrayView3<'a, u8>,
    pub body: ArrayView3<'a, u8>,
}

impl<'a> CaseMaps<'a> {
    pub fn new(
        scores: ArrayView3<'a, f32>,
        lesion: ArrayView3<'a, u8>,
        body: ArrayView3<'a, u8>,
    ) -> Result<Self, MetricsError> {
        let case = Self {
            scores,
            lesion,
            body,
        };
        case.check()?;
        Ok(case)
    }

    pub(crate) fn check(&self) -> Result<(), MetricsError> {
        check_same_shape(
            "scores and lesion mask",
            self.scores.shape(),
            self.lesion.shape(),
        )?;
        check_same_shape(
            "scores and body mask",
            self.scores.shape(),
            self.body.shape(),
        )
    }
}

/// Scores of the voxels sampled from one image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoxelSample {
    /// Inside the lesion mask (whether or not inside the body mask).
    pub positives: Vec<f64>,
    /// Outside the lesion mask, inside the body mask.
    pub negatives: Vec<f64>,
}

/// The sampling protocol: `per_class` voxels of each class per image (all of them where an
/// image has fewer), drawn with `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoxelAurocProtocol {
    pub per_class: usize,
    pub seed: u64,
}

impl Default for VoxelAurocProtocol {
    fn default() -> Self {
        Self {
            per_class: SAMPLES_PER_CLASS,
            seed: 0,
        }
    }
}

/// The pooled AUROC and how many sampled voxels it rests on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VoxelAuroc {
    pub auroc: f64,
    pub positives: usize,
    pub negatives: usize,
}

impl VoxelAurocProtocol {
    /// The sample of every case, in order, drawn in parallel.
    pub fn sample(&self, cases: &[CaseMaps<'_>]) -> Result<Vec<VoxelSample>, MetricsError> {
        cases
            .par_iter()
            .enumerate()
            .map(|(index, case)| {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                rng.set_stream(index as u64);
                sample_case(case, self.per_class, &mut rng)
            })
            .collect()
    }

    /// AUROC of the pooled samples of all cases.
    pub fn evaluate(&self, cases: &[CaseMaps<'_>]) -> Result<VoxelAuroc, MetricsError> {
        if cases.is_empty() {
            return Err(MetricsError::NoCases);
        }
        let samples = self.sample(cases)?;
        let positives: usize = samples.iter().map(|s| s.positives.len()).sum();
        let negatives: usize = samples.iter().map(|s| s.negatives.len()).sum();
        let mut scores = Vec::with_capacity(positives + negatives);
        let mut labels = Vec::with_capacity(positives + negatives);
        for s in &samples {
            scores.extend_from_slice(&s.positives);
            labels.extend(std::iter::repeat_n(true, s.positives.len()));
            scores.extend_from_slice(&s.negatives);
            labels.extend(std::iter::repeat_n(false, s.negatives.len()));
        }
        Ok(VoxelAuroc {
            auroc: auroc(&scores, &labels)?,
            positives,
            negatives,
        })
    }
}

/// Draws up to `per_class` positive and `per_class` negative voxels of one image, without
/// replacement, and returns their scores.
pub fn sample_case<R: Rng + ?Sized>(
    case: &CaseMaps<'_>,
    per_class: usize,
    rng: &mut R,
) -> Result<VoxelSample, MetricsError> {
    case.check()?;
    let (mut n_pos, mut n_neg) = (0usize, 0usize);
    Zip::from(&case.lesion).and(&case.body).for_each(|&l, &b| {
        if l != 0 {
            n_pos += 1;
        } else if b != 0 {
            n_neg += 1;
        }
    });
    let pos_ranks = choose_ranks(n_pos, per_class, rng);
    let neg_ranks = choose_ranks(n_neg, per_class, rng);
    let mut positives = Picker::new(&pos_ranks);
    let mut negatives = Picker::new(&neg_ranks);
    Zip::from(&case.scores)
        .and(&case.lesion)
        .and(&case.body)
        .for_each(|&s, &l, &b| {
            if l != 0 {
                positives.offer(s);
            } else if b != 0 {
                negatives.offer(s);
            }
        });
    Ok(VoxelSample {
        positives: positives.picked,
        negatives: negatives.picked,
    })
}

/// Sorted ranks of `amount` distinct members out of `count` (all of them if fewer).
fn choose_ranks<R: Rng + ?Sized>(count: usize, amount: usize, rng: &mut R) -> Vec<usize> {
    if count <= amount {
        return (0..count).collect();
    }
    let mut ranks = rand::seq::index::sample(rng, count, amount).into_vec();
    ranks.sort_unstable();
    ranks
}

/// Keeps the members of a stream whose rank is in a sorted list.
struct Picker<'r> {
    ranks: &'r [usize],
    seen: usize,
    picked: Vec<f64>,
}

impl<'r> Picker<'r> {
    fn new(ranks: &'r [usize]) -> Self {
        Self {
            ranks,
            seen: 0,
            picked: Vec::with_capacity(ranks.len()),
        }
    }

    fn offer(&mut self, score: f32) {
        if self.ranks.get(self.picked.len()) == Some(&self.seen) {
            self.picked.push(f64::from(score));
        }
        self.seen += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

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

    /// A 40^3 image: body is a ball, the lesion a smaller ball inside; scores are 2 in the
    /// lesion and 1 elsewhere, plus a ramp that keeps them distinct.
    fn ball_case(lesion_radius: f32) -> Owned {
        let shape = (40, 40, 40);
        let r = |k: usize, j: usize, i: usize, c: f32| {
            let d = |x: usize| x as f32 - c;
            (d(k).powi(2) + d(j).powi(2) + d(i).powi(2)).sqrt()
        };
        let body = Array3::from_shape_fn(shape, |(k, j, i)| u8::from(r(k, j, i, 20.0) < 18.0));
        let lesion = Array3::from_shape_fn(shape, |(k, j, i)| {
            u8::from(r(k, j, i, 14.0) < lesion_radius)
        });
        let scores = Array3::from_shape_fn(shape, |(k, j, i)| {
            f32::from(lesion[[k, j, i]]) + 1.0 + (i + 40 * j + 1600 * k) as f32 * 1e-6
        });
        Owned {
            scores,
            lesion,
            body,
        }
    }

    #[test]
    fn sample_takes_per_class_voxels_from_the_right_regions() {
        let c = ball_case(8.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = sample_case(&c.case(), 1000, &mut rng).unwrap();
        assert_eq!(s.positives.len(), 1000);
        assert_eq!(s.negatives.len(), 1000);
        assert!(s.positives.iter().all(|&x| x >= 2.0));
        assert!(s.negatives.iter().all(|&x| x < 2.0));
        let mut distinct = s.negatives.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert_eq!(distinct.len(), 1000, "sampled without replacement");
    }

    #[test]
    fn image_with_fewer_voxels_than_requested_gives_all_of_them() {
        let c = ball_case(2.5);
        let lesion_voxels = c.lesion.iter().filter(|&&l| l != 0).count();
        assert!(lesion_voxels < 1000);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let s = sample_case(&c.case(), 1000, &mut rng).unwrap();
        assert_eq!(s.positives.len(), lesion_voxels);
        assert_eq!(s.negatives.len(), 1000);
    }

    #[test]
    fn same_seed_gives_same_sample_and_other_seed_another() {
        let c = ball_case(8.0);
        let cases = [c.case(), c.case()];
        let p = VoxelAurocProtocol::default();
        let a = p.sample(&cases).unwrap();
        assert_eq!(a, p.sample(&cases).unwrap());
        assert_ne!(a[0], a[1], "each case has its own stream");
        let other = VoxelAurocProtocol { seed: 9, ..p };
        assert_ne!(a, other.sample(&cases).unwrap());
    }

    #[test]
    fn separable_scores_give_voxel_auroc_one() {
        let (a, b) = (ball_case(8.0), ball_case(5.0));
        let r = VoxelAurocProtocol::default()
            .evaluate(&[a.case(), b.case()])
            .unwrap();
        assert_eq!(r.auroc, 1.0);
        assert_eq!(r.negatives, 2000);
        assert_eq!(
            r.positives,
            1000 + b.lesion.iter().filter(|&&l| l != 0).count()
        );
    }

    #[test]
    fn healthy_images_contribute_only_negatives() {
        let (sick, healthy) = (ball_case(8.0), ball_case(0.0));
        let r = VoxelAurocProtocol::default()
            .evaluate(&[sick.case(), healthy.case()])
            .unwrap();
        assert_eq!((r.positives, r.negatives), (1000, 2000));
    }

    #[test]
    fn mismatched_shapes_or_no_cases_are_errors() {
        let s = Array3::<f32>::zeros((2, 2, 2));
        let m = Array3::<u8>::zeros((2, 2, 3));
        assert!(CaseMaps::new(s.view(), m.view(), m.view()).is_err());
        assert_eq!(
            VoxelAurocProtocol::default().evaluate(&[]),
            Err(MetricsError::NoCases)
        );
    }
}
