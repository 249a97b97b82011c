//! Saving and loading a network: weights as `<stem>.safetensors` (burn-store, keys are the
//! module field paths) and its hyper-parameters as `<stem>.json` next to them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use burn::config::Config;
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use super::{
    ConditionModel, ConditionModelConfig, ConditionalGlow, ConditionalGlowConfig, DescriptorModel,
    DescriptorModelConfig, DistilledUNet, DistilledUNetConfig, GaussianDensity,
    GaussianDensityConfig, UNet3d, UNet3dConfig,
};

/// A config that builds a network; the pair is what gets saved.
pub trait Network: Config {
    type Model: Module;
    fn build(&self, device: &Device) -> Self::Model;

    /// The configuration less the start values that training replaces: two networks with
    /// equal architectures take each other's weights.
    fn architecture(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self)
    }
}

macro_rules! network {
    ($config:ty => $model:ty) => {
        impl Network for $config {
            type Model = $model;
            fn build(&self, device: &Device) -> $model {
                self.init(device)
            }
        }
    };
}

network!(UNet3dConfig => UNet3d);
network!(DescriptorModelConfig => DescriptorModel);
network!(GaussianDensityConfig => GaussianDensity);
network!(ConditionalGlowConfig => ConditionalGlow);
network!(DistilledUNetConfig => DistilledUNet);

/// The mask token's start value is not part of the architecture: training replaces it.
impl Network for ConditionModelConfig {
    type Model = ConditionModel;
    fn build(&self, device: &Device) -> ConditionModel {
        self.init(device)
    }

    fn architecture(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::to_value(self.clone().with_mask_token_init(0.0))
    }
}

fn with_extension(stem: &Path, ext: &str) -> PathBuf {
    let mut name = stem.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// Writes `<stem>.safetensors` and `<stem>.json`.
pub fn save_network<C: Network>(config: &C, model: &C::Model, stem: &Path) -> anyhow::Result<()> {
    let json = with_extension(stem, "json");
    config
        .save(&json)
        .with_context(|| format!("writing {}", json.display()))?;
    let weights = with_extension(stem, "safetensors");
    let mut store = SafetensorsStore::from_file(&weights).overwrite(true);
    model
        .save_into(&mut store)
        .with_context(|| format!("writing {}", weights.display()))
}

/// Reads `<stem>.json`, builds the network on `device` and loads `<stem>.safetensors` into it;
/// every parameter must be present and no tensor may be left over.
pub fn load_network<C: Network>(stem: &Path, device: &Device) -> anyhow::Result<(C, C::Model)> {
    let json = with_extension(stem, "json");
    let config = C::load(&json).map_err(|e| anyhow::anyhow!("reading {}: {e}", json.display()))?;
    let mut model = config.build(device);
    let weights = with_extension(stem, "safetensors");
    let mut store = SafetensorsStore::from_file(&weights);
    let result = model
        .load_from(&mut store)
        .with_context(|| format!("reading {}", weights.display()))?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        bail!(
            "{} does not match the config: errors {:?}, missing {:?}, unused {:?}",
            weights.display(),
            result.errors,
            result.missing,
            result.unused
        );
    }
    Ok((config, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, max_abs_diff, randn, to_vec};

    #[test]
    fn saved_weights_and_config_load_back_to_the_same_function() {
        let dev = device();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("condition");
        let config = ConditionModelConfig::new()
            .with_mask_token_init(0.5)
            .with_backbone(
                UNet3dConfig::new()
                    .with_channels(vec![4, 8])
                    .with_out_channels(3),
            );
        let model = config.init(&dev);
        save_network(&config, &model, &stem).unwrap();
        assert!(dir.path().join("condition.json").exists());

        dev.seed(99);
        let (loaded_config, loaded): (ConditionModelConfig, _) = load_network(&stem, &dev).unwrap();
        assert_eq!(loaded_config.backbone.channels, vec![4, 8]);
        let x = randn([1, 1, 4, 4, 4], &dev);
        let mask = Some(burn::tensor::Tensor::<5>::ones([1, 1, 4, 4, 4], &dev));
        let a = to_vec(model.forward(x.clone(), mask.clone()));
        let b = to_vec(loaded.forward(x, mask));
        assert_eq!(max_abs_diff(&a, &b), 0.0);
    }

    #[test]
    fn glow_round_trip_keeps_the_fixed_permutation_and_signs() {
        let dev = device();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("glow");
        let config = ConditionalGlowConfig::new()
            .with_channels(4)
            .with_condition_channels(2)
            .with_blocks(2)
            .with_hidden_channels(4);
        let model = config.init(&dev);
        save_network(&config, &model, &stem).unwrap();
        dev.seed(12345);
        let (_, loaded): (ConditionalGlowConfig, ConditionalGlow) =
            load_network(&stem, &dev).unwrap();
        for (a, b) in model.blocks.iter().zip(&loaded.blocks) {
            assert_eq!(to_vec(a.mix.weight()), to_vec(b.mix.weight()));
        }
    }

    #[test]
    fn loading_into_a_different_architecture_fails() {
        let dev = device();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("unet");
        let config = UNet3dConfig::new().with_channels(vec![4, 8]);
        save_network(&config, &config.init(&dev), &stem).unwrap();
        UNet3dConfig::new()
            .with_channels(vec![4, 8, 16])
            .save(dir.path().join("unet.json"))
            .unwrap();
        assert!(load_network::<UNet3dConfig>(&stem, &dev).is_err());
    }

    #[test]
    fn parameter_names_are_the_documented_field_paths() {
        let dev = device();
        let model = DistilledUNetConfig::new()
            .with_backbone(UNet3dConfig::new().with_channels(vec![4, 8]))
            .init(&dev);
        let names: Vec<String> = model
            .collect(None, None, false)
            .into_iter()
            .map(|t| t.name)
            .collect();
        for expected in [
            "backbone.stem.weight",
            "backbone.encoder.0.blocks.0.norm1.gamma",
            "backbone.encoder.0.blocks.0.conv2.bias",
            "backbone.encoder.1.down.weight",
            "backbone.decoder.0.up.weight",
            "backbone.decoder.0.fuse.weight",
            "backbone.heads.1.bias",
            "head.weight",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} not in {names:?}"
            );
        }
    }
}
