//! Resumable checkpoints of a training stage: the model's weights with their parameter ids
//! (burnpack, so that the optimiser state, keyed by parameter id, finds them again), the AdamW
//! state, the number of finished steps and the state of the stage's random generator.
//!
//! Layout under a stage folder: `checkpoints/step-00000100/{model.bpk, optimizer.bpk,
//! state.json}`. A checkpoint is written into a `.tmp` folder and renamed, so a crash never
//! leaves a half-written one that `latest` would pick.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Where a ChaCha8 generator is: seed, stream and position in its output (in 32-bit words),
/// enough to continue the exact same sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: [u8; 32],
    pub stream: u64,
    /// `u128` as a decimal string: JSON numbers lose precision past 2^53.
    pub word_pos: String,
}

impl RngState {
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        Self {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    pub fn restore(&self) -> anyhow::Result<ChaCha8Rng> {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        let pos: u128 = self.word_pos.parse().context("rng word position")?;
        rng.set_word_pos(pos);
        Ok(rng)
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Steps finished; training resumes at this step index.
    pub step: usize,
    pub rng: RngState,
}

/// A stage's checkpoint folder.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    dir: PathBuf,
    keep: usize,
}

impl Checkpoints {
    pub fn new(stage_dir: &Path, keep: usize) -> Self {
        Self {
            dir: stage_dir.join("checkpoints"),
            keep: keep.max(1),
        }
    }

    fn step_dir(&self, step: usize) -> PathBuf {
        self.dir.join(format!("step-{step:08}"))
    }

    /// Writes the checkpoint after `state.step` finished steps and prunes older ones.
    pub fn save<M: Module>(
        &self,
        model: &M,
        optimizer: &ModuleOptimizer,
        state: &CheckpointState,
    ) -> anyhow::Result<PathBuf> {
        let final_dir = self.step_dir(state.step);
        let tmp = final_dir.with_extension("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        model
            .clone()
            .save_file(tmp.join("model.bpk"))
            .map_err(|e| anyhow::anyhow!("writing model weights: {e:?}"))?;
        optimizer
            .save(tmp.join("optimizer.bpk"))
            .map_err(|e| anyhow::anyhow!("writing optimizer state: {e:?}"))?;
        std::fs::write(tmp.join("state.json"), serde_json::to_vec_pretty(state)?)?;
        if final_dir.exists() {
            std::fs::remove_dir_all(&final_dir)?;
        }
        std::fs::rename(&tmp, &final_dir)?;
        self.prune()?;
        Ok(final_dir)
    }

    /// Finished checkpoints, oldest first.
    pub fn list(&self) -> anyhow::Result<Vec<(usize, PathBuf)>> {
        let mut out = Vec::new();
        if !self.dir.exists() {
            return Ok(out);
        }
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(step) = name.strip_prefix("step-").and_then(|s| s.parse().ok()) {
                if path.join("state.json").exists() {
                    out.push((step, path));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn prune(&self) -> anyhow::Result<()> {
        let all = self.list()?;
        let excess = all.len().saturating_sub(self.keep);
        for (_, path) in all.into_iter().take(excess) {
            std::fs::remove_dir_all(path)?;
        }
        Ok(())
    }

    /// Loads the newest checkpoint into `model` (built from the same config) and `optimizer`.
    pub fn load_latest<M: Module>(
        &self,
        model: M,
        optimizer: ModuleOptimizer,
    ) -> anyhow::Result<Option<(M, ModuleOptimizer, CheckpointState)>> {
        let Some((_, dir)) = self.list()?.pop() else {
            return Ok(None);
        };
        let state: CheckpointState = serde_json::from_slice(
            &std::fs::read(dir.join("state.json"))
                .with_context(|| format!("reading {}", dir.display()))?,
        )?;
        let model = model
            .try_load_file(dir.join("model.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: model weights: {e:?}", dir.display()))?;
        let optimizer = optimizer
            .load(dir.join("optimizer.bpk"))
            .map_err(|e| anyhow::anyhow!("{}: optimizer state: {e:?}", dir.display()))?;
        if state.rng.restore().is_err() {
            bail!("{}: bad random generator state", dir.display());
        }
        Ok(Some((model, optimizer, state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn restored_generator_continues_the_same_sequence() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let _: Vec<u32> = (0..37).map(|_| rng.gen()).collect();
        let state = RngState::capture(&rng);
        let json = serde_json::to_string(&state).unwrap();
        let mut back = serde_json::from_str::<RngState>(&json)
            .unwrap()
            .restore()
            .unwrap();
        for _ in 0..100 {
            assert_eq!(rng.gen::<u64>(), back.gen::<u64>());
        }
    }
}
