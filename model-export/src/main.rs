//! `screener-export`: writes model bundles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;
use clap::{Parser, Subcommand};
use screener_core::bundle::{ModelIdentity, Provenance};
use screener_export::bundle::{write_modular_bundle, BundleInfo, Density};
use screener_export::import::{into_run, ImportRecord};
use screener_trainer::config::{ConditionKind, DensityKind, TrainConfig};
use screener_trainer::data::{DatasetIndex, Split};
use screener_trainer::inference::{ensure_score_fits, POOL_SCALE};
use screener_trainer::models::{
    load_network, save_network, ConditionModelConfig, ConditionalGlowConfig, DescriptorModelConfig,
    GaussianDensityConfig, GaussianScore,
};
use screener_trainer::stages::{RunLayout, Stage};

#[derive(Parser)]
#[command(
    name = "screener-export",
    version,
    about = "Writes Screener model bundles"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A modular bundle of the CPU-default networks with seeded, UNTRAINED weights: a stand-in
    /// that exercises the whole pipeline until the trainer produces a real model.
    Untrained {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 20261128)]
        seed: u64,
        /// Also save the networks as a run folder (`<DIR>/{descriptor,condition,density}/
        /// final`), so that `screener-train evaluate --run DIR` scores the same weights.
        #[arg(long, value_name = "DIR")]
        networks: Option<PathBuf>,
        /// What the Gaussian density reports per voxel (as for `from-run`).
        #[arg(long, value_enum, default_value = "nll")]
        density_score: GaussianScore,
    },
    /// A modular bundle of the networks a `screener-train` run folder holds
    /// (`<run>/{descriptor,condition,density}/final.{json,safetensors}`).
    FromRun {
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        version: String,
        /// What a Gaussian density reports per voxel: the NLL (METHOD.md), or the NLL less
        /// its expectation under the predicted Gaussian, which drops the tissue-dependent
        /// baseline `0.5 * sum(log sigma^2)` (docs/model-card.md). Recalibrate after.
        #[arg(long, value_enum, default_value = "nll")]
        density_score: GaussianScore,
    },
    /// The inverse of `from-run`: reads a modular bundle's weights back into a run folder
    /// (`<run>/{descriptor,condition,density}/final`), for a bundle whose run is gone. Then
    /// `screener-train train-density`, `evaluate` and `screener-export from-run` work on it.
    /// The condition model's mask token (training only) restarts from its initial value.
    IntoRun {
        #[arg(long)]
        bundle: PathBuf,
        /// The trainer config the bundle's networks were built with (sizes, preprocessing,
        /// patch); checked against the bundle.
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        run: PathBuf,
        /// Overrides one key of the config, as `screener-train --set` does (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        overrides: Vec<String>,
    },
}

/// The config a stage of `run` was trained with (`<run>/<stage>/config.toml`).
fn stage_config(run: &Path, stage: Stage) -> anyhow::Result<TrainConfig> {
    let path = run.join(stage.name()).join("config.toml");
    TrainConfig::load(&path).with_context(|| {
        format!(
            "reading the config of the {} stage (train it first)",
            stage.name()
        )
    })
}

/// The training data in words: the real series by source, the phantoms by count.
fn describe_data(index: &DatasetIndex) -> String {
    let train = index.split(Split::Train);
    let phantoms = train.iter().filter(|v| v.group == "phantoms").count();
    let real: Vec<&str> = train
        .iter()
        .filter(|v| v.group != "phantoms")
        .map(|v| v.source.as_str())
        .collect();
    format!(
        "{} training volumes: {} generated phantoms (screener_core::phantom){}{}",
        train.len(),
        phantoms,
        if real.is_empty() { "" } else { "; real CT: " },
        real.join("; ")
    )
}

/// A stage's training steps: its own plus those of the networks it started from (its init
/// stem, e.g. `density.init`, whose folder holds the config it was trained with), and a note
/// for the provenance when it did not start from random weights.
fn stage_steps(config: &TrainConfig, stage: Stage) -> (u64, String) {
    let mut steps = stage.training(config).steps as u64;
    let mut init = stage.init(config).to_path_buf();
    let mut note = String::new();
    let mut seen = Vec::new();
    while !init.as_os_str().is_empty() && !seen.contains(&init) {
        let path = init.with_file_name("config.toml");
        let Ok(prior) = TrainConfig::load(&path) else {
            note = format!(
                "; the {} started from {}, whose steps are not counted ({} unreadable)",
                stage.name(),
                init.display(),
                path.display()
            );
            break;
        };
        steps += stage.training(&prior).steps as u64;
        note = format!(
            "; the {}'s steps include those of the network it started from ({})",
            stage.name(),
            stage.init(config).display()
        );
        let next = stage.init(&prior).to_path_buf();
        seen.push(std::mem::replace(&mut init, next));
    }
    (steps, note)
}

/// `from-run`: a modular bundle of a run's trained networks, fed the way they were trained
/// (preprocessing, patch size, overlap and pooling from the density stage's config).
fn from_run(
    run: &Path,
    out: &Path,
    name: String,
    version: String,
    score: GaussianScore,
) -> anyhow::Result<()> {
    let config = stage_config(run, Stage::Density)?;
    ensure_score_fits(config.density.model, score)
        .with_context(|| format!("--density-score for the run {}", run.display()))?;
    anyhow::ensure!(
        config.density.condition == ConditionKind::MaskingInvariant,
        "the density in {} is conditioned on {:?}; the node's modular bundle runs the \
         masking-invariant condition model only",
        run.display(),
        config.density.condition
    );
    let mut steps = BTreeMap::new();
    let mut notes = String::new();
    for stage in Stage::MODULAR {
        let c = stage_config(run, stage)?;
        anyhow::ensure!(
            c.data.preprocess == config.data.preprocess,
            "the {} stage was trained on other preprocessing than the density stage",
            stage.name()
        );
        let (trained, note) = stage_steps(&c, stage);
        steps.insert(stage.name().to_string(), trained);
        notes += &note;
    }
    let layout = RunLayout::new(run, &config);
    let imported = ImportRecord::of_run(run)?;
    let data = match (DatasetIndex::load(layout.cache_dir()), &imported) {
        (Ok(index), _) => describe_data(&index),
        (Err(_), Some(record)) => record.manifest.provenance.data.clone(),
        (Err(e), None) => format!("training data index unreadable: {e:#}"),
    };
    let mut created = format!(
        "written by `screener-export from-run` from {}",
        run.display()
    );
    if let Some(record) = &imported {
        created += &format!(
            ", whose networks were imported from the bundle {} {} ({})",
            record.manifest.model.name,
            record.manifest.model.version,
            record.bundle.display()
        );
        let changed = record.changed_stages(&layout);
        if !changed.is_empty() {
            created += &format!("; trained since: {}", changed.join(", "));
        }
    }

    let device = Device::flex();
    let (_, descriptor) =
        load_network::<DescriptorModelConfig>(&layout.final_stem(Stage::Descriptor), &device)?;
    let (_, condition) =
        load_network::<ConditionModelConfig>(&layout.final_stem(Stage::Condition), &device)?;
    let density_stem = layout.final_stem(Stage::Density);
    let gaussian;
    let glow;
    let density = match config.density.model {
        DensityKind::Gaussian => {
            gaussian = load_network::<GaussianDensityConfig>(&density_stem, &device)?.1;
            Density::Gaussian(&gaussian, score)
        }
        DensityKind::Glow => {
            glow = load_network::<ConditionalGlowConfig>(&density_stem, &device)?.1;
            Density::Glow(&glow)
        }
    };
    let m = &config.models;
    let mut info = BundleInfo::method_defaults(
        ModelIdentity {
            name,
            version,
            description: format!(
                "Modular model trained by screener-train: UNet channels {:?}, d_desc {}, \
                 d_cond {}, {:?} density on the masking-invariant condition, patch {:?}, \
                 score {}",
                m.channels,
                m.descriptor_channels,
                m.condition_channels,
                config.density.model,
                m.patch,
                score.output_name()
            ),
        },
        Provenance {
            trainer_version: env!("CARGO_PKG_VERSION").into(),
            created,
            data,
            steps,
            notes: format!(
                "calibration.method says how the flag threshold was set (`screener \
                 calibrate`){notes}"
            ),
        },
    );
    info.preprocessing = config.data.preprocess.params();
    info.patch.size = m.patch;
    info.patch.overlap = m.overlap;
    info.patch.pooling = [POOL_SCALE.i, POOL_SCALE.j, POOL_SCALE.k];
    let manifest = write_modular_bundle(out, &descriptor, &condition, density, info)?;
    println!(
        "wrote {} ({} networks, patch {:?}) to {}",
        manifest.model.name,
        manifest.networks.len(),
        manifest.patch.size,
        out.display()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::FromRun {
            run,
            out,
            name,
            version,
            density_score,
        } => from_run(&run, &out, name, version, density_score),
        Command::IntoRun {
            bundle,
            config,
            run,
            overrides,
        } => {
            let config = TrainConfig::load_with_overrides(&config, &overrides)?;
            let score = into_run(&bundle, &config, &run)?;
            println!(
                "imported the networks of {} into {} (its density reports {}; export again \
                 with `screener-export from-run --run {} --out DIR --name NAME --version V`)",
                bundle.display(),
                run.display(),
                score.output_name(),
                run.display()
            );
            Ok(())
        }
        Command::Untrained {
            out,
            seed,
            networks,
            density_score,
        } => {
            let device = Device::flex();
            device.seed(seed);
            let descriptor = DescriptorModelConfig::new().init(&device);
            let condition = ConditionModelConfig::new().init(&device);
            let density = GaussianDensityConfig::new().init(&device);
            let info = BundleInfo::method_defaults(
                ModelIdentity {
                    name: "screener-untrained".into(),
                    version: format!("0.0.0-seed{seed}"),
                    description: "UNTRAINED stand-in: CPU-default descriptor, condition and \
                                  Gaussian density networks with random weights. Its scores \
                                  carry no medical meaning."
                        .into(),
                },
                Provenance {
                    trainer_version: env!("CARGO_PKG_VERSION").into(),
                    created: "written by `screener-export untrained`".into(),
                    data: "none: the weights are random (seeded), not trained".into(),
                    steps: BTreeMap::new(),
                    notes: "NOT A TRAINED MODEL. This bundle only exercises the node's \
                            pipeline (export, ONNX Runtime, SEG, overlay) until the trainer's \
                            real model replaces it. Do not use its flags or maps clinically."
                        .into(),
                },
            );
            let manifest = write_modular_bundle(
                &out,
                &descriptor,
                &condition,
                Density::Gaussian(&density, density_score),
                info,
            )?;
            // After the export: burn initialises parameters lazily, in the order they are
            // first read, so saving first would draw the seeded weights in another order.
            if let Some(dir) = networks {
                let stem = |stage: Stage| dir.join(stage.name()).join("final");
                for stage in Stage::MODULAR {
                    std::fs::create_dir_all(dir.join(stage.name()))?;
                }
                save_network(
                    &DescriptorModelConfig::new(),
                    &descriptor,
                    &stem(Stage::Descriptor),
                )?;
                save_network(
                    &ConditionModelConfig::new(),
                    &condition,
                    &stem(Stage::Condition),
                )?;
                save_network(
                    &GaussianDensityConfig::new(),
                    &density,
                    &stem(Stage::Density),
                )?;
            }
            println!(
                "wrote {} ({} networks) to {}",
                manifest.model.name,
                manifest.networks.len(),
                out.display()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage_config_with(stage: Stage, steps: usize, init: &Path) -> TrainConfig {
        let mut c = TrainConfig::default();
        match stage {
            Stage::Condition => {
                c.ssl.condition_training.steps = steps;
                c.ssl.condition_init = init.to_owned();
            }
            Stage::Density => {
                c.density.training.steps = steps;
                c.density.init = init.to_owned();
            }
            _ => unreachable!("not used here"),
        }
        c
    }

    #[test]
    fn stage_steps_count_the_networks_it_started_from() {
        for stage in [Stage::Condition, Stage::Density] {
            let tmp = tempfile::tempdir().unwrap();
            let first = tmp.path().join("first");
            std::fs::create_dir(&first).unwrap();
            std::fs::write(
                first.join("config.toml"),
                stage_config_with(stage, 70, Path::new("")).to_toml(),
            )
            .unwrap();
            let config = |steps, init: &Path| stage_config_with(stage, steps, init);

            assert_eq!(
                stage_steps(&config(30, Path::new("")), stage),
                (30, String::new())
            );
            let (steps, note) = stage_steps(&config(150, &first.join("final")), stage);
            assert_eq!(steps, 220);
            assert!(
                note.contains("include those") && note.contains(stage.name()),
                "{note}"
            );
            let (steps, note) = stage_steps(&config(150, &tmp.path().join("gone/final")), stage);
            assert_eq!(steps, 150);
            assert!(note.contains("not counted"), "{note}");
        }
    }
}
