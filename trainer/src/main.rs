//! `screener-train`: parses the command line, loads the config and runs one stage.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use screener_trainer::cli::{Cli, Command};
use screener_trainer::config::TrainConfig;
use screener_trainer::device::compute_device;
use screener_trainer::device_check;
use screener_trainer::stages::{self, RunLayout};

fn check_device() -> anyhow::Result<()> {
    let device = compute_device();
    println!("{device:?} against the flex CPU backend:");
    let report = device_check::check(&device);
    for c in &report {
        println!("{}", c.line());
    }
    let mismatches = report.iter().filter(|c| !c.agrees()).count();
    anyhow::ensure!(
        mismatches == 0,
        "{mismatches} of {} operations differ from the CPU: do not train on this device",
        report.len()
    );
    println!("all {} operations agree", report.len());
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::DefaultConfig => {
            print!("{}", TrainConfig::default().to_toml());
            return Ok(());
        }
        Command::CheckDevice => return check_device(),
        _ => {}
    }
    let args = cli
        .command
        .args()
        .cloned()
        .expect("the other commands are stages");
    let config = TrainConfig::load_with_overrides(&args.config, &args.overrides)?;
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
        Command::TrainDescriptor(a) => {
            let stem = stages::ssl::run_descriptor(&config, &layout, a.resume)?;
            println!("descriptor model: {}", stem.display());
        }
        Command::TrainCondition(a) => {
            let stem = stages::ssl::run_condition(&config, &layout, a.resume)?;
            println!("condition model: {}", stem.display());
        }
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
            let text = std::fs::read_to_string(&path).context("reading the report")?;
            let saved: serde_json::Value = serde_json::from_str(&text)?;
            let report: stages::evaluate::EvaluationReport =
                serde_json::from_value(saved["report"].clone())?;
            eprintln!("{}: {}", path.display(), report.summary());
            println!("{text}");
        }
        Command::Ablate(a) => {
            let table = stages::ablate::run(&config, &layout, &a.columns(), a.stage.resume)?;
            print!("{}", table.to_text());
            let [json, _] = stages::ablate::table_paths(&layout);
            println!("ablation table: {}", json.display());
        }
        Command::DefaultConfig | Command::CheckDevice => unreachable!("handled above"),
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
