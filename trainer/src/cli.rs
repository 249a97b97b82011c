//! Command line of `screener-train`: one subcommand per stage, each with `--config` and the
//! run folder. The binary only parses and dispatches; the stages live in `crate::stages`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::DensityKind;
use crate::stages::ablate;

#[derive(Debug, Parser)]
#[command(
    name = "screener-train",
    version,
    about = "Trains Screener's models of normal CT anatomy (docs/training.md)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What every stage takes.
#[derive(Debug, Clone, Args)]
pub struct StageArgs {
    /// The trainer's TOML configuration (see config/train.example.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Run folder: cache, checkpoints, metrics and final networks.
    #[arg(long)]
    pub run: PathBuf,
    /// Continue from the stage's newest checkpoint instead of starting over.
    #[arg(long)]
    pub resume: bool,
    /// Overrides one key of the config, e.g. `--set density.training.steps=200` (repeatable;
    /// the value is TOML, or a plain string such as a path). A section the file lacks is
    /// created; `[ssl.objective]` then also needs its `kind`.
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// `ablate`: the stage arguments and the table's columns.
#[derive(Debug, Clone, Args)]
pub struct AblateArgs {
    #[command(flatten)]
    pub stage: StageArgs,
    /// Only these density columns (repeatable: `gaussian`, `glow`); all when not given.
    #[arg(long = "density", value_name = "DENSITY", value_enum)]
    pub densities: Vec<DensityKind>,
}

impl AblateArgs {
    /// The columns to fill (`ablate::run` puts them in the table's order).
    pub fn columns(&self) -> Vec<DensityKind> {
        if self.densities.is_empty() {
            ablate::DENSITIES.to_vec()
        } else {
            self.densities.clone()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Index the data roots and phantoms, preprocess every volume once into the cache.
    Prepare(StageArgs),
    /// Dense self-supervised training of the descriptor model.
    TrainDescriptor(StageArgs),
    /// Dense self-supervised training of the masked condition model.
    TrainCondition(StageArgs),
    /// Maximum likelihood of the density model on frozen descriptors and conditions.
    TrainDensity(StageArgs),
    /// Train one UNet on the modular pipeline's NLL maps.
    Distil(StageArgs),
    /// Re-initialise the distilled model's head and train it on labelled masks.
    FineTune(StageArgs),
    /// Voxel AUROC and Dice of a trained model on the held-out labelled volumes.
    Evaluate(StageArgs),
    /// The paper's condition ablation: density and evaluation per condition kind.
    Ablate(AblateArgs),
    /// Print the default configuration as TOML.
    DefaultConfig,
    /// Compare the compute device (GPU) with the CPU, op by op; fails on a mismatch.
    CheckDevice,
}

impl Command {
    /// The stage arguments (`None` for `default-config` and `check-device`).
    pub fn args(&self) -> Option<&StageArgs> {
        Some(match self {
            Command::Prepare(a)
            | Command::TrainDescriptor(a)
            | Command::TrainCondition(a)
            | Command::TrainDensity(a)
            | Command::Distil(a)
            | Command::FineTune(a)
            | Command::Evaluate(a) => a,
            Command::Ablate(a) => &a.stage,
            Command::DefaultConfig | Command::CheckDevice => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_takes_config_run_and_resume() {
        let cli = Cli::try_parse_from([
            "screener-train",
            "train-density",
            "--config",
            "c.toml",
            "--run",
            "runs/a",
            "--resume",
            "--set",
            "density.training.steps=3",
            "--set",
            "run.seed=2",
        ])
        .unwrap();
        let a = cli.command.args().unwrap();
        assert_eq!(a.config, PathBuf::from("c.toml"));
        assert!(a.resume);
        assert_eq!(a.overrides, ["density.training.steps=3", "run.seed=2"]);
        assert!(Cli::try_parse_from(["screener-train", "fine-tune", "--run", "r"]).is_err());
    }

    fn ablate_columns(extra: &[&str]) -> Result<Vec<DensityKind>, clap::Error> {
        let base = [
            "screener-train",
            "ablate",
            "--config",
            "c.toml",
            "--run",
            "r",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(extra))?;
        match cli.command {
            Command::Ablate(a) => Ok(a.columns()),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn ablate_fills_the_density_columns_asked_for() {
        let both = vec![DensityKind::Gaussian, DensityKind::Glow];
        assert_eq!(ablate_columns(&[]).unwrap(), both);
        assert_eq!(
            ablate_columns(&["--density", "gaussian"]).unwrap(),
            [DensityKind::Gaussian]
        );
        let refused = ablate_columns(&["--density", "flow"]).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("[possible values: gaussian, glow]"),
            "{refused}"
        );
    }
}
