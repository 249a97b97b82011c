//! `screener`: the Screener DICOM node's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "screener",
    version,
    about = "Screener: unsupervised CT anomaly detection as a DICOM node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node: DICOM listener, scoring, delivery to the PACS, worklist and admin page.
    Serve(screener_daemon::service::ServeArgs),
    /// Read a CT (DICOM series folder, NIfTI or NRRD file) and describe it.
    Inspect {
        /// A DICOM series folder, a .nii/.nii.gz file or a .nrrd file.
        input: PathBuf,
    },
    /// Set a bundle's flag threshold and voxel calibration from normal scans.
    Calibrate(screener_daemon::calibrate_cmd::CalibrateArgs),
    /// Score one CT: anomaly map, abnormal mask and summary.json in the output folder.
    Score(screener_daemon::score_cmd::ScoreArgs),
    /// Run the DICOM listener alone: receive, spool and group series (no scoring).
    Listen(screener_daemon::dicom::cli::ListenArgs),
    /// Validate a configuration (FILE over the embedded default, then SCREENER__* variables)
    /// and print the effective configuration with secrets redacted.
    CheckConfig {
        /// A TOML file laid over the embedded default; without it, the default alone.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => screener_daemon::service::run_serve(args),
        Command::Inspect { input } => screener_daemon::inspect(&input),
        Command::Calibrate(args) => {
            screener_daemon::calibrate_cmd::run_calibrate(args).map(|s| println!("{s}"))
        }
        Command::Score(args) => screener_daemon::score_cmd::run_score(args).map(|s| {
            println!(
                "study score {:.3} (threshold {:.3}): {}; {} abnormal voxels; {:.1} s",
                s.study_score,
                s.threshold,
                if s.flagged { "FLAGGED" } else { "not flagged" },
                s.abnormal_voxels,
                s.timings.total_s
            )
        }),
        Command::Listen(args) => screener_daemon::dicom::cli::run_listen(args),
        Command::CheckConfig { file } => {
            screener_daemon::config::check_config(file.as_deref()).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
