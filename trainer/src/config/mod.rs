//! The trainer's configuration: one TOML file holding every parameter of `docs/METHOD.md`
//! (preprocessing is core's `PreprocessParams`, embedded as `[data.preprocess]`).
//!
//! Every section rejects unknown keys, so a misspelt key fails with its own name and the
//! list of valid ones; missing keys take the CPU defaults below. Paper values are documented
//! next to each default in `config/train.example.toml` and `docs/training.md`.

mod layering;
mod models;
mod overrides;
mod sections;

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use models::{DensityKind, ModelsConfig};
pub use sections::{
    ConditionKind, DataConfig, DecayKind, DensityConfig, DistilConfig, EvaluateConfig,
    EvaluatedModel, FinetuneConfig, LabelledPair, LabelledRole, LesionScan, PhantomSetConfig,
    PreprocessSection, RunConfig, SslConfig, StageTraining,
};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The whole trainer configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub run: RunConfig,
    pub data: DataConfig,
    pub models: ModelsConfig,
    pub ssl: SslConfig,
    pub density: DensityConfig,
    pub distil: DistilConfig,
    pub finetune: FinetuneConfig,
    pub evaluate: EvaluateConfig,
}

impl TrainConfig {
    /// Parses TOML text laid over the defaults: a key it leaves out keeps its default, also
    /// inside a section it gives only in part (see [`layering::lay_over`]). `origin` names the
    /// source in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let parse_error = |message: String| ConfigError::Parse {
            path: origin.to_string(),
            message,
        };
        let given: toml::Table = text.parse().map_err(|e| parse_error(format!("{e}")))?;
        let mut merged =
            toml::Table::try_from(Self::default()).expect("the default config is plain data");
        layering::lay_over(&mut merged, given);
        let config: Self = merged.try_into().map_err(|e| parse_error(format!("{e}")))?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_overrides(path, &[])
    }

    /// Loads `path` with `overrides` (`section.key=value`, see `overrides::apply`) laid over
    /// it, as `screener-train --set` does.
    pub fn load_with_overrides(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: origin.clone(),
            source,
        })?;
        if overrides.is_empty() {
            return Self::from_toml(&text, &origin);
        }
        let text = overrides::apply(&text, overrides).map_err(|message| ConfigError::Parse {
            path: origin.clone(),
            message,
        })?;
        Self::from_toml(
            &text,
            &format!("{origin} with --set {}", overrides.join(" ")),
        )
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config is plain data")
    }

    /// Checks the relations that the types alone cannot express.
    pub fn validate(&self) -> Result<(), String> {
        let p = self.models.patch;
        let factor = 1usize << (self.models.channels.len().max(1) - 1);
        let window = [3usize, 3, 2];
        for (a, name) in ["i", "j", "k"].iter().enumerate() {
            if p[a] % factor != 0 {
                return Err(format!(
                    "models.patch.{name} = {} is not divisible by 2^(levels-1) = {factor}",
                    p[a]
                ));
            }
            if p[a] % window[a] != 0 {
                return Err(format!(
                    "models.patch.{name} = {} is not a multiple of the 3 x 3 x 2 pooling window",
                    p[a]
                ));
            }
        }
        if self.models.channels.is_empty() {
            return Err("models.channels must name at least one level".into());
        }
        self.ssl
            .augment
            .validate()
            .map_err(|e| format!("ssl.augment: {e}"))?;
        for (a, name) in ["i", "j", "k"].iter().enumerate() {
            let c = self.ssl.augment.crop_size[a];
            if c % factor != 0 {
                return Err(format!(
                    "ssl.augment.crop_size.{name} = {c} is not divisible by 2^(levels-1) = {factor}"
                ));
            }
        }
        if !(0.0..1.0).contains(&self.models.overlap) {
            return Err(format!(
                "models.overlap = {} is not in [0, 1)",
                self.models.overlap
            ));
        }
        for (stage, t) in [
            ("ssl.descriptor", &self.ssl.descriptor_training),
            ("ssl.condition", &self.ssl.condition_training),
            ("density", &self.density.training),
            ("distil", &self.distil.training),
            ("finetune", &self.finetune.training),
        ] {
            t.validate().map_err(|e| format!("{stage}: {e}"))?;
        }
        if let Some(scan) = self.data.lesion_scans.iter().find(|s| s.lesions == 0) {
            return Err(format!(
                "data.lesion_scans: {} asks for 0 lesions",
                scan.image.display()
            ));
        }
        if self.evaluate.threshold_cases == 0 {
            return Err("evaluate.threshold_cases must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_round_trips_through_toml() {
        let config = TrainConfig::default();
        let text = config.to_toml();
        assert_eq!(TrainConfig::from_toml(&text, "mem").unwrap(), config);
    }

    #[test]
    fn a_misspelt_key_names_itself() {
        let err = TrainConfig::from_toml("[density]\nnoise_sigmaa = 0.2\n", "t.toml").unwrap_err();
        let message = err.to_string();
        assert!(message.contains("noise_sigmaa"), "{message}");
        assert!(message.contains("t.toml"), "{message}");
    }

    #[test]
    fn an_ssl_crop_that_the_unet_levels_do_not_divide_is_rejected() {
        let text = "[models]\nchannels = [4, 8, 16]\n[ssl.augment]\ncrop_size = [12, 12, 6]\n";
        let err = TrainConfig::from_toml(text, "t").unwrap_err();
        assert!(err.to_string().contains("ssl.augment.crop_size.k"), "{err}");
    }

    #[test]
    fn overrides_replace_nested_keys_and_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[density.training]\nsteps = 5\n").unwrap();
        let sets = [
            "density.training.steps=7".to_string(),
            "ssl.descriptor_training.steps=3".to_string(),
            "data.cache_dir=/tmp/shared cache".to_string(),
        ];
        let config = TrainConfig::load_with_overrides(&path, &sets).unwrap();
        assert_eq!(config.density.training.steps, 7);
        assert_eq!(config.ssl.descriptor_training.steps, 3);
        assert_eq!(
            config.data.cache_dir,
            std::path::PathBuf::from("/tmp/shared cache")
        );
        let err = TrainConfig::load_with_overrides(&path, &["density.stepz=1".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("stepz"), "{err}");
    }

    #[test]
    fn an_objective_table_without_kind_is_vicreg_and_a_misspelt_key_still_names_itself() {
        use crate::losses::ObjectiveConfig;
        let config =
            TrainConfig::from_toml("[ssl.objective]\nexpander_dims = [64, 64]\n", "t").unwrap();
        match &config.ssl.objective {
            ObjectiveConfig::Vicreg(c) => assert_eq!(c.expander_dims, vec![64, 64]),
            other => panic!("expected VICReg, got {other:?}"),
        }
        let text = "[ssl.objective]\nkind = \"info_nce\"\n";
        let config = TrainConfig::from_toml(text, "t").unwrap();
        assert!(matches!(config.ssl.objective, ObjectiveConfig::InfoNce(_)));
        let err = TrainConfig::from_toml("[ssl.objective]\nexpander_dimz = [8]\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expander_dimz"), "{err}");
    }

    #[test]
    fn a_patch_that_the_pooling_window_does_not_divide_is_rejected() {
        let err = TrainConfig::from_toml("[models]\npatch = [96, 96, 63]\n", "t").unwrap_err();
        assert!(err.to_string().contains("models.patch.k"), "{err}");
    }
}
