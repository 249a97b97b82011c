//! The commands of `screener-train`, one module each, and what they share: the layout of a
//! run folder and the training loop (`fit`).
//!
//! Run folder layout (`<run>/`):
//! - `cache/` (unless `[data] cache_dir` is set): `index.json`, `skipped.json`, volumes;
//! - `<stage>/` for `descriptor`, `condition`, `density`, `distil`, `finetune`: `config.toml`
//!   (the config that trained it), `metrics.jsonl`, `curves.png`, `checkpoints/step-*/`
//!   (resumable) and `final.json` + `final.safetensors` (the network for `screener-export`
//!   and for the next stages, written with `models::save_network`);
//! - `evaluate/<model>.json`: the evaluation report.

pub mod ablate;
pub mod density;
pub mod distil;
pub mod evaluate;
pub mod finetune;
pub mod fit;
pub mod init;
pub mod prepare;
pub mod progress;
pub mod ssl;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::{StageTraining, TrainConfig};

/// A stage that trains a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Descriptor,
    Condition,
    Density,
    Distil,
    Finetune,
}

impl Stage {
    /// The stages whose networks make the modular model (and its bundle), in training order.
    pub const MODULAR: [Stage; 3] = [Stage::Descriptor, Stage::Condition, Stage::Density];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Descriptor => "descriptor",
            Stage::Condition => "condition",
            Stage::Density => "density",
            Stage::Distil => "distil",
            Stage::Finetune => "finetune",
        }
    }

    /// The stage's training settings in `config`.
    pub fn training(self, config: &TrainConfig) -> &StageTraining {
        match self {
            Stage::Descriptor => &config.ssl.descriptor_training,
            Stage::Condition => &config.ssl.condition_training,
            Stage::Density => &config.density.training,
            Stage::Distil => &config.distil.training,
            Stage::Finetune => &config.finetune.training,
        }
    }

    /// The saved network the stage starts from (`init::starting_network`); empty for random
    /// weights and for the stages that cannot start from one.
    pub fn init(self, config: &TrainConfig) -> &Path {
        match self {
            Stage::Descriptor => &config.ssl.descriptor_init,
            Stage::Condition => &config.ssl.condition_init,
            Stage::Density => &config.density.init,
            Stage::Distil | Stage::Finetune => Path::new(""),
        }
    }

    /// The config key of `init`, for messages.
    pub fn init_key(self) -> &'static str {
        match self {
            Stage::Descriptor => "ssl.descriptor_init",
            Stage::Condition => "ssl.condition_init",
            Stage::Density => "density.init",
            Stage::Distil | Stage::Finetune => "(none)",
        }
    }

    /// Offsets the run seed so that stages draw independent random streams.
    pub fn seed_offset(self) -> u64 {
        match self {
            Stage::Descriptor => 0x0d35_c000,
            Stage::Condition => 0x0c0d_1000,
            Stage::Density => 0x0de5_0000,
            Stage::Distil => 0x0d15_7000,
            Stage::Finetune => 0x0f1e_0000,
        }
    }
}

/// Paths inside a run folder.
#[derive(Debug, Clone)]
pub struct RunLayout {
    pub root: PathBuf,
    cache: PathBuf,
    /// Where the stages after the SSL ones write, when not `root` (ablation variants).
    variant: Option<PathBuf>,
}

impl RunLayout {
    pub fn new(root: &Path, config: &TrainConfig) -> Self {
        let cache = if config.data.cache_dir.as_os_str().is_empty() {
            root.join("cache")
        } else {
            config.data.cache_dir.clone()
        };
        Self {
            root: root.to_path_buf(),
            cache,
            variant: None,
        }
    }

    /// The same run with density, distillation, fine-tuning and evaluation written under
    /// `<run>/ablation/<name>/`; data and SSL models stay shared.
    pub fn variant(&self, name: &str) -> Self {
        Self {
            variant: Some(self.root.join("ablation").join(name)),
            ..self.clone()
        }
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    pub fn stage_dir(&self, stage: Stage) -> PathBuf {
        match (&self.variant, stage) {
            (Some(v), Stage::Density | Stage::Distil | Stage::Finetune) => v.join(stage.name()),
            _ => self.root.join(stage.name()),
        }
    }

    /// `<stage>/final`: the stem of `final.json` and `final.safetensors`.
    pub fn final_stem(&self, stage: Stage) -> PathBuf {
        self.stage_dir(stage).join("final")
    }

    pub fn evaluate_dir(&self) -> PathBuf {
        self.variant.as_ref().unwrap_or(&self.root).join("evaluate")
    }

    /// Creates `<stage>/` and writes the config into it.
    pub fn start_stage(&self, stage: Stage, config: &TrainConfig) -> anyhow::Result<PathBuf> {
        let dir = self.stage_dir(stage);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(STAGE_CONFIG), config.to_toml())?;
        Ok(dir)
    }

    /// The config `start_stage` last wrote for `stage`.
    pub fn stage_config(&self, stage: Stage) -> anyhow::Result<TrainConfig> {
        let path = self.stage_dir(stage).join(STAGE_CONFIG);
        TrainConfig::load(&path).with_context(|| format!("reading {}", path.display()))
    }
}

/// The file in a stage's folder that records the config it was trained with.
const STAGE_CONFIG: &str = "config.toml";
