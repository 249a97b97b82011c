//! `index.json` (the cached volumes) and `skipped.json` (inputs that could not be used, with
//! the reason) of a prepared dataset.

use std::path::{Path, PathBuf};

use anyhow::Context;
use screener_core::preprocess::PreprocessParams;
use screener_core::{Dims, Geometry};
use serde::{Deserialize, Serialize};

/// What a cached volume is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Unlabelled: self-supervised and density training, distillation.
    Train,
    /// Labelled: fine-tuning.
    Finetune,
    /// Labelled and held out: evaluation.
    Evaluate,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Finetune => "finetune",
            Split::Evaluate => "evaluate",
        }
    }
}

/// One preprocessed volume in the cache. File stems are relative to the cache folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedVolume {
    pub id: String,
    pub split: Split,
    /// Where it came from: a path, a series UID or a phantom seed.
    pub source: String,
    /// Preprocessed grid.
    pub dims: Dims,
    pub geometry: Geometry,
    /// Intensities in [0, 1] (`.f32`).
    pub image: String,
    /// 1 inside the body (`.u8`).
    pub body: String,
    /// 1 inside the pathology (`.u8`), for labelled volumes.
    pub lesion: Option<String>,
    /// What evaluation reports it under (`Source::group`).
    #[serde(default)]
    pub group: String,
}

/// An input that was not used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub source: String,
    pub reason: String,
}

/// `index.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetIndex {
    /// The preprocessing the volumes went through; a cache made with other settings is not
    /// reused.
    #[serde(default)]
    pub preprocess: Option<PreprocessParams>,
    pub volumes: Vec<CachedVolume>,
}

impl DatasetIndex {
    pub const FILE: &'static str = "index.json";
    pub const SKIPPED_FILE: &'static str = "skipped.json";

    pub fn load(cache_dir: &Path) -> anyhow::Result<Self> {
        let path = cache_dir.join(Self::FILE);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "reading {} (run `screener-train prepare` first)",
                path.display()
            )
        })?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn save(&self, cache_dir: &Path) -> anyhow::Result<PathBuf> {
        let path = cache_dir.join(Self::FILE);
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)?;
        Ok(path)
    }

    pub fn split(&self, split: Split) -> Vec<CachedVolume> {
        self.volumes
            .iter()
            .filter(|v| v.split == split)
            .cloned()
            .collect()
    }
}
