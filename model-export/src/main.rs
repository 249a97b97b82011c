//! `screener-export`: writes model bundles.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::Device;
use clap::{Parser, Subcommand};
use screener_core::bundle::{ModelIdentity, Provenance};
use screener_export::bundle::{write_modular_bundle, BundleInfo, Density};
use screener_trainer::models::{
    load_network, ConditionModelConfig, ConditionalGlowConfig, DescriptorModelConfig,
    GaussianDensityConfig,
};

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
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::FromRun {
            run,
            out,
            name,
            version,
        } => {
            let device = Device::flex();
            let (_, descriptor) =
                load_network::<DescriptorModelConfig>(&run.join("descriptor/final"), &device)?;
            let (_, condition) =
                load_network::<ConditionModelConfig>(&run.join("condition/final"), &device)?;
            let density_stem = run.join("density/final");
            let gaussian = load_network::<GaussianDensityConfig>(&density_stem, &device);
            let glow = match &gaussian {
                Ok(_) => None,
                Err(_) => Some(load_network::<ConditionalGlowConfig>(&density_stem, &device)?.1),
            };
            let density = match (&gaussian, &glow) {
                (Ok((_, q)), _) => Density::Gaussian(q),
                (_, Some(q)) => Density::Glow(q),
                _ => unreachable!("one of the two loaded"),
            };
            let info = BundleInfo::method_defaults(
                ModelIdentity {
                    name,
                    version,
                    description: format!("trained by screener-train in {}", run.display()),
                },
                Provenance {
                    trainer_version: env!("CARGO_PKG_VERSION").into(),
                    created: "written by `screener-export from-run`".into(),
                    data: format!("see {}/cache/index.json", run.display()),
                    steps: BTreeMap::new(),
                    notes: "uncalibrated: run `screener calibrate` on normal scans".into(),
                },
            );
            let manifest = write_modular_bundle(&out, &descriptor, &condition, density, info)?;
            println!(
                "wrote {} ({} networks) to {}",
                manifest.model.name,
                manifest.networks.len(),
                out.display()
            );
            Ok(())
        }
        Command::Untrained { out, seed } => {
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
                Density::Gaussian(&density),
                info,
            )?;
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
