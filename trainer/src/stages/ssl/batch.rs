//! A batch of crop pairs as tensors, and taking the network's maps at the positive pairs.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::augment::CropPair;
use crate::data::patches_to_tensor;

/// Where the positives of one side (view A or view B) of a batch sit in its maps: the eight
/// trilinear corners of every positive, as rows of the maps flattened to `[B * voxels, C]`.
pub struct PositiveGather {
    /// `[8 N]`, corner-major: corner `c` of positive `n` at `c * N + n`.
    rows: Tensor<1, Int>,
    /// `[8, N, 1]` trilinear weights.
    weights: Tensor<3>,
    pairs: usize,
}

impl PositiveGather {
    /// `positions[b]` are the fractional `[k, j, i]` indices in sample `b` of a batch of maps
    /// of spatial `shape`; indices are clamped into the maps.
    pub fn new(positions: &[Vec<[f32; 3]>], shape: [usize; 3], device: &Device) -> Self {
        let pairs: usize = positions.iter().map(Vec::len).sum();
        let voxels: usize = shape.iter().product();
        let mut rows = vec![0i64; 8 * pairs];
        let mut weights = vec![0f32; 8 * pairs];
        let mut n = 0;
        for (b, sample) in positions.iter().enumerate() {
            for c in sample {
                let mut base = [0usize; 3];
                let mut frac = [0f32; 3];
                for d in 0..3 {
                    let last = shape[d] - 1;
                    let x = c[d].clamp(0.0, last as f32);
                    base[d] = (x.floor() as usize).min(last.saturating_sub(1));
                    frac[d] = x - base[d] as f32;
                }
                for corner in 0..8 {
                    let mut w = 1.0;
                    let mut idx = [0usize; 3];
                    for d in 0..3 {
                        let up = (corner >> d) & 1 == 1;
                        idx[d] = (base[d] + usize::from(up)).min(shape[d] - 1);
                        w *= if up { frac[d] } else { 1.0 - frac[d] };
                    }
                    let voxel = (idx[0] * shape[1] + idx[1]) * shape[2] + idx[2];
                    rows[corner * pairs + n] = (b * voxels + voxel) as i64;
                    weights[corner * pairs + n] = w;
                }
                n += 1;
            }
        }
        Self {
            rows: Tensor::from_data(TensorData::new(rows, [8 * pairs]), device),
            weights: Tensor::from_data(TensorData::new(weights, [8, pairs, 1]), device),
            pairs,
        }
    }

    pub fn pairs(&self) -> usize {
        self.pairs
    }

    /// The maps `[B, C, D1, D2, D3]` interpolated at the positives: `[N, C]`.
    pub fn gather(&self, maps: Tensor<5>) -> Tensor<2> {
        let [b, c, d1, d2, d3] = maps.dims();
        let rows = maps.permute([0, 2, 3, 4, 1]).reshape([b * d1 * d2 * d3, c]);
        let corners = rows
            .select(0, self.rows.clone())
            .reshape([8, self.pairs, c]);
        (corners * self.weights.clone())
            .sum_dim(0)
            .reshape([self.pairs, c])
    }
}

/// `m` crop pairs stacked: views `[m, 1, D1, D2, D3]` per side and the positives' gathers.
pub struct SslBatch {
    pub views: [Tensor<5>; 2],
    pub positives: [PositiveGather; 2],
}

impl SslBatch {
    pub fn new(pairs: &[CropPair], device: &Device) -> Self {
        assert!(!pairs.is_empty(), "a batch needs at least one crop pair");
        let shape = {
            let s = pairs[0].views[0].image.shape();
            [s[0], s[1], s[2]]
        };
        let views = [0, 1].map(|side| {
            let arrays: Vec<_> = pairs.iter().map(|p| p.views[side].image.clone()).collect();
            patches_to_tensor(&arrays, device)
        });
        let positives = [0, 1].map(|side| {
            let positions: Vec<Vec<[f32; 3]>> = pairs
                .iter()
                .map(|p| {
                    p.positives
                        .iter()
                        .map(|q| if side == 0 { q.a } else { q.b })
                        .collect()
                })
                .collect();
            PositiveGather::new(&positions, shape, device)
        });
        Self { views, positives }
    }

    pub fn pairs(&self) -> usize {
        self.positives[0].pairs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::{sample_crop_pair, AugmentConfig, ColourConfig};
    use crate::models::test_util::{device, to_vec};
    use ndarray::Array3;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_batch_gathers_the_same_source_point_from_both_sides_of_every_pair() {
        let dev = device();
        let dims = (20, 30, 30);
        let body = Array3::from_elem(dims, 1u8);
        let cfg = AugmentConfig {
            crop_size: [12, 12, 8],
            positives_per_pair: 40,
            colour: ColourConfig::none(),
            ..AugmentConfig::default()
        };
        for axis in 0..3 {
            // The "network" is the identity: its map at a positive is the view's intensity,
            // here the source coordinate along `axis`.
            let image = Array3::from_shape_fn(dims, |(k, j, i)| [k, j, i][axis] as f32);
            let mut rng = ChaCha8Rng::seed_from_u64(9);
            let pairs: Vec<_> = (0..3)
                .map(|_| {
                    sample_crop_pair(image.view(), body.view(), [2.25, 1.5, 1.5], &cfg, &mut rng)
                        .unwrap()
                })
                .collect();
            let batch = SslBatch::new(&pairs, &dev);
            let ya = to_vec(batch.positives[0].gather(batch.views[0].clone()));
            let yb = to_vec(batch.positives[1].gather(batch.views[1].clone()));
            let sources: Vec<f32> = pairs
                .iter()
                .flat_map(|p| p.positives.iter().map(|q| q.source[axis] as f32))
                .collect();
            assert_eq!(ya.len(), sources.len());
            for ((a, b), s) in ya.iter().zip(&yb).zip(&sources) {
                assert!(
                    (a - s).abs() < 1e-3 && (b - s).abs() < 1e-3,
                    "{a} {b} vs {s}"
                );
            }
        }
    }

    #[test]
    fn gather_interpolates_each_channel_trilinearly_in_its_own_sample() {
        let dev = device();
        let shape = [3, 4, 5];
        // Channel 0 holds 100 k + 10 j + i, channel 1 its negative, sample 1 adds 1000.
        let mut values = Vec::new();
        for b in 0..2 {
            for sign in [1.0f32, -1.0] {
                for k in 0..3 {
                    for j in 0..4 {
                        for i in 0..5 {
                            let v = 1000.0 * b as f32 + (100 * k + 10 * j + i) as f32;
                            values.push(sign * v);
                        }
                    }
                }
            }
        }
        let maps = Tensor::<5>::from_data(TensorData::new(values, [2, 2, 3, 4, 5]), &dev);
        let positions = vec![
            vec![[0.5, 1.25, 3.0]],
            vec![[2.0, 3.0, 4.0], [1.0, 0.0, 0.75]],
        ];
        let got = to_vec(PositiveGather::new(&positions, shape, &dev).gather(maps));
        let expected = [
            [50.0 + 12.5 + 3.0, -65.5],
            [1000.0 + 234.0, -1234.0],
            [1000.0 + 100.75, -1100.75],
        ];
        for (n, want) in expected.iter().enumerate() {
            for c in 0..2 {
                let g = got[n * 2 + c];
                assert!(
                    (g - want[c]).abs() < 1e-3,
                    "pair {n} channel {c}: {g} vs {}",
                    want[c]
                );
            }
        }
    }
}
