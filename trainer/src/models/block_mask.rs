//! Random block masking of the condition model's input (METHOD.md: p = 0.9, ratio 0.6,
//! blocks of 24 x 24 x 16 voxels in (i, j, k)).

use burn::config::Config;
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::index::sample;
use rand::Rng;

/// Block sizes are in tensor order `[k, j, i]` (`[16, 24, 24]` is 24 x 24 x 16 in (i, j, k)).
#[derive(Config, Debug)]
pub struct BlockMaskConfig {
    /// Probability that a sample is masked at all.
    #[config(default = 0.9)]
    pub probability: f64,
    /// Fraction of the blocks masked in a masked sample.
    #[config(default = 0.6)]
    pub ratio: f64,
    #[config(default = "[16, 24, 24]")]
    pub block: [usize; 3],
}

impl BlockMaskConfig {
    /// One sample's mask over `dims = [D1, D2, D3]`, row-major, `true` = masked.
    ///
    /// The patch is tiled by a block grid anchored at voxel 0 (edge blocks are cut when a size
    /// is not a multiple of the block); `round(ratio * blocks)` distinct blocks are masked.
    pub fn sample_one<R: Rng>(&self, rng: &mut R, dims: [usize; 3]) -> Vec<bool> {
        let n: usize = dims.iter().product();
        let mut mask = vec![false; n];
        if !rng.gen_bool(self.probability) {
            return mask;
        }
        let grid: [usize; 3] = std::array::from_fn(|a| dims[a].div_ceil(self.block[a]));
        let blocks = grid.iter().product::<usize>();
        let chosen = ((self.ratio * blocks as f64).round() as usize).min(blocks);
        for b in sample(rng, blocks, chosen) {
            let cell = [
                b / (grid[1] * grid[2]),
                (b / grid[2]) % grid[1],
                b % grid[2],
            ];
            let lo: [usize; 3] = std::array::from_fn(|a| cell[a] * self.block[a]);
            let hi: [usize; 3] = std::array::from_fn(|a| (lo[a] + self.block[a]).min(dims[a]));
            for z in lo[0]..hi[0] {
                for y in lo[1]..hi[1] {
                    let row = (z * dims[1] + y) * dims[2];
                    mask[row + lo[2]..row + hi[2]].fill(true);
                }
            }
        }
        mask
    }

    /// A batch of independent masks as a `[B, 1, D1, D2, D3]` tensor of 0.0 / 1.0.
    pub fn sample_batch<R: Rng>(
        &self,
        rng: &mut R,
        batch: usize,
        dims: [usize; 3],
        device: &Device,
    ) -> Tensor<5> {
        let values: Vec<f32> = (0..batch)
            .flat_map(|_| self.sample_one(rng, dims))
            .map(|m| if m { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_data(
            TensorData::new(values, [batch, 1, dims[0], dims[1], dims[2]]),
            device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn a_masked_96x96x64_patch_hides_60_percent_in_whole_blocks() {
        let cfg = BlockMaskConfig::new().with_probability(1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let dims = [64, 96, 96];
        let mask = cfg.sample_one(&mut rng, dims);
        let hidden = mask.iter().filter(|&&m| m).count();
        // 4 x 4 x 4 = 64 blocks, round(0.6 * 64) = 38 masked.
        assert_eq!(hidden, 38 * 16 * 24 * 24);
        // Each block is uniformly masked or visible.
        for bz in 0..4 {
            for by in 0..4 {
                for bx in 0..4 {
                    let at = |z: usize, y: usize, x: usize| {
                        mask[((bz * 16 + z) * 96 + by * 24 + y) * 96 + bx * 24 + x]
                    };
                    let first = at(0, 0, 0);
                    assert_eq!(at(15, 23, 23), first);
                    assert_eq!(at(7, 3, 11), first);
                }
            }
        }
    }

    #[test]
    fn about_ninety_percent_of_samples_are_masked() {
        let cfg = BlockMaskConfig::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let masked = (0..1000)
            .filter(|_| cfg.sample_one(&mut rng, [16, 24, 24]).iter().any(|&m| m))
            .count();
        assert!((850..=950).contains(&masked), "{masked} of 1000 masked");
    }
}
