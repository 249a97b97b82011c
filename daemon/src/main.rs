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
    /// Start the node (not built yet: prints what it will do).
    Serve,
    /// Read a CT (DICOM series folder, NIfTI or NRRD file) and describe it.
    Inspect {
        /// A DICOM series folder, a .nii/.nii.gz file or a .nrrd file.
        input: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve => {
            screener_daemon::serve_plan();
            Ok(())
        }
        Command::Inspect { input } => screener_daemon::inspect(&input),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
