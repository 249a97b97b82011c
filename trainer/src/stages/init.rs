//! Starting a stage from a saved network instead of random weights (`ssl.descriptor_init`,
//! `ssl.condition_init`, `density.init`): to train further the networks of an earlier run or
//! of a bundle imported by `screener-export into-run`.

use std::path::Path;

use anyhow::Context;
use burn::tensor::Device;

use super::{RunLayout, Stage};
use crate::checkpoint::Checkpoints;
use crate::config::TrainConfig;
use crate::models::{load_network, Network};

/// The network `stage` starts from: the one saved at its init stem, which must have
/// `network`'s configuration, or random weights when the stem is empty. Call it before the
/// stage's folder is written: a start inside that folder is refused, since training
/// overwrites it (and the `config.toml` that records how the start was trained). A resumed
/// stage with a checkpoint continues from that, so its start is not read (it may have moved
/// since) and random weights stand in for it; the start must still be the one the stage's
/// `config.toml` records, which the bundle's provenance follows.
pub fn starting_network<C: Network>(
    stage: Stage,
    network: &C,
    config: &TrainConfig,
    layout: &RunLayout,
    resume: bool,
    device: &Device,
) -> anyhow::Result<C::Model> {
    let stage_dir = layout.stage_dir(stage);
    let init = stage.init(config);
    // `Checkpoints` only lists here; the keep count matters when saving.
    if resume && !Checkpoints::new(&stage_dir, 1).list()?.is_empty() {
        let started = layout.stage_config(stage).context("resuming")?;
        anyhow::ensure!(
            stage.init(&started) == init,
            "{} {:?} is not the start the checkpoints in {} were trained from ({:?}): resume \
             with that start, or train the stage again without --resume",
            stage.init_key(),
            init,
            stage_dir.display(),
            stage.init(&started)
        );
        return Ok(network.build(device));
    }
    anyhow::ensure!(
        !lies_in(init, &stage_dir),
        "{} {} is in this stage's own folder, which training overwrites: copy the network \
         (with its config.toml) to another folder and start from there",
        stage.init_key(),
        init.display()
    );
    load_start(network, init, stage.init_key(), device)
}

/// `init`'s saved network (`key` names it in errors), or random weights when it is empty.
fn load_start<C: Network>(
    network: &C,
    init: &Path,
    key: &str,
    device: &Device,
) -> anyhow::Result<C::Model> {
    if init.as_os_str().is_empty() {
        return Ok(network.build(device));
    }
    let (saved, model) = load_network::<C>(init, device)
        .with_context(|| format!("loading {key} {}", init.display()))?;
    anyhow::ensure!(
        saved.architecture()? == network.architecture()?,
        "{key} {} is a network of another configuration ({saved:?}) than this run's \
         ({network:?})",
        init.display()
    );
    Ok(model)
}

/// Whether the saved network `stem` lies inside `dir` (both resolved, so `./runs/x` and
/// `runs/x`, absolute paths and links compare equal).
fn lies_in(stem: &Path, dir: &Path) -> bool {
    let folder = stem
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .and_then(|p| p.canonicalize().ok());
    match (folder, dir.canonicalize()) {
        (Some(folder), Ok(dir)) => folder.starts_with(dir),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, to_vec};
    use crate::models::{save_network, GaussianDensityConfig};

    fn small(hidden: usize) -> GaussianDensityConfig {
        GaussianDensityConfig::new()
            .with_descriptor_channels(3)
            .with_condition_channels(2)
            .with_hidden_channels(hidden)
    }

    #[test]
    fn a_stage_starts_from_its_init_weights_or_refuses_another_configuration() {
        let dev = device();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("final");
        let saved = small(4).init(&dev);
        save_network(&small(4), &saved, &stem).unwrap();

        let loaded = load_start(&small(4), &stem, "density.init", &dev).unwrap();
        let weights = |m: &crate::models::GaussianDensity| to_vec(m.mean.hidden.weight.val());
        assert_eq!(weights(&loaded), weights(&saved));
        let random = load_start(&small(4), Path::new(""), "density.init", &dev).unwrap();
        assert_ne!(weights(&random), weights(&saved));

        let err = load_start(&small(5), &stem, "density.init", &dev).unwrap_err();
        assert!(
            format!("{err:#}").contains("another configuration"),
            "{err:#}"
        );
        let absent = dir.path().join("absent");
        let err = load_start(&small(4), &absent, "ssl.condition_init", &dev).unwrap_err();
        assert!(format!("{err:#}").contains("ssl.condition_init"), "{err:#}");
    }

    #[test]
    fn a_condition_start_loads_whatever_its_mask_token_started_from() {
        use crate::models::{ConditionModelConfig, UNet3dConfig};
        let dev = device();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("final");
        let config = |token: f64| {
            ConditionModelConfig::new()
                .with_mask_token_init(token)
                .with_backbone(UNet3dConfig::new().with_channels(vec![4]))
        };
        save_network(&config(0.5), &config(0.5).init(&dev), &stem).unwrap();

        let loaded = load_start(&config(0.0), &stem, "ssl.condition_init", &dev).unwrap();
        assert_eq!(to_vec(loaded.mask_token.val()), vec![0.5]);
        let other = config(0.0).with_backbone(UNet3dConfig::new().with_channels(vec![8]));
        let err = load_start(&other, &stem, "ssl.condition_init", &dev).unwrap_err();
        assert!(
            format!("{err:#}").contains("another configuration"),
            "{err:#}"
        );
    }

    #[test]
    fn a_start_inside_the_stage_folder_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let mut config = TrainConfig::default();
        let layout = RunLayout::new(&run, &config);
        let stage_dir = layout.stage_dir(Stage::Condition);
        std::fs::create_dir_all(&stage_dir).unwrap();
        config.ssl.condition_init = stage_dir.join("final");
        let network = small(4);
        let err = starting_network(
            Stage::Condition,
            &network,
            &config,
            &layout,
            false,
            &device(),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("ssl.condition_init") && err.to_string().contains("own"),
            "{err:#}"
        );
    }

    #[test]
    fn a_resumed_stage_with_a_checkpoint_does_not_read_its_start() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = TrainConfig::default();
        let layout = RunLayout::new(&tmp.path().join("run"), &config);
        config.density.init = tmp.path().join("moved/final");
        let start = |resume| {
            starting_network(
                Stage::Density,
                &small(4),
                &config,
                &layout,
                resume,
                &device(),
            )
        };
        let err = start(true).unwrap_err();
        assert!(format!("{err:#}").contains("density.init"), "{err:#}");
        let step = layout
            .stage_dir(Stage::Density)
            .join("checkpoints/step-00000005");
        std::fs::create_dir_all(&step).unwrap();
        std::fs::write(step.join("state.json"), "{}").unwrap();
        layout.start_stage(Stage::Density, &config).unwrap();
        start(true).unwrap();
        let err = start(false).unwrap_err();
        assert!(format!("{err:#}").contains("density.init"), "{err:#}");

        // Resuming with another start than the checkpoints were trained from is refused.
        let mut other = config.clone();
        other.density.init = tmp.path().join("other/final");
        let err = starting_network(Stage::Density, &small(4), &other, &layout, true, &device())
            .unwrap_err();
        assert!(err.to_string().contains("not the start"), "{err:#}");
    }

    #[test]
    fn a_start_inside_the_stage_folder_is_recognised_however_it_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let stage = tmp.path().join("run/density");
        std::fs::create_dir_all(stage.join("checkpoints/step-1")).unwrap();
        std::fs::create_dir_all(tmp.path().join("elsewhere")).unwrap();
        assert!(lies_in(&stage.join("final"), &stage));
        assert!(lies_in(&stage.join("checkpoints/step-1/model"), &stage));
        let dotted = tmp.path().join("run/./density/../density/final");
        assert!(lies_in(&dotted, &tmp.path().join("run/density")));
        assert!(!lies_in(&tmp.path().join("elsewhere/final"), &stage));
        assert!(!lies_in(Path::new(""), &stage));
    }
}
