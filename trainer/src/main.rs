//! `screener-train`: parses the command line, loads the config and runs one stage.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use screener_trainer::cli::{Cli, Command};
use screener_trainer::config::TrainConfig;
use screener_trainer::stages::{self, RunLayout};

fn ssl_not_built(stage: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "{stage}: the self-supervised stages are not built into this trainer yet; \
         put the trained network at <run>/{}/final.json + final.safetensors to continue",
        if stage == "train-descriptor" {
            "descriptor"
        } else {
            "condition"
        }
    )
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(args) = cli.command.args().cloned() else {
        print!("{}", TrainConfig::default().to_toml());
        return Ok(());
    };
    let config = TrainConfig::load(&args.config)?;
    let layout = RunLayout::new(&args.run, &config);
    match cli.command {
        Command::Prepare(_) => {
            let report = stages::prepare::run(&config, &layout)?;
            println!(
                "prepared {} volumes ({} reused from the cache) in {}; {} skipped (see skipped.json)",
                report.index.volumes.len(),
                report.reused,
                report.cache_dir.display(),
                report.skipped.len()
            );
        }
        Command::TrainDescriptor(_) => ssl_not_built("train-descriptor")?,
        Command::TrainCondition(_) => ssl_not_built("train-condition")?,
        Command::TrainDensity(a) => {
            let stem = stages::density::run(&config, &layout, a.resume)?;
            println!("density model: {}", stem.display());
        }
        Command::Distil(a) => {
            let stem = stages::distil::run(&config, &layout, a.resume)?;
            println!("distilled model: {}", stem.display());
        }
        Command::FineTune(a) => {
            let stem = stages::finetune::run(&config, &layout, a.resume)?;
            println!("fine-tuned model: {}", stem.display());
        }
        Command::Evaluate(_) => {
            let path = stages::evaluate::run(&config, &layout)?;
            println!(
                "{}",
                std::fs::read_to_string(&path).context("reading the report")?
            );
        }
        Command::Ablate(a) => {
            let path = stages::ablate::run(&config, &layout, a.resume)?;
            println!("ablation summary: {}", path.display());
        }
        Command::DefaultConfig => unreachable!("handled above"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("screener-train: {e:#}");
            ExitCode::FAILURE
        }
    }
}
