//! Logs on stderr, plain or JSON, at the configured level (`RUST_LOG` overrides it).
//!
//! The node never passes patient name, patient ID or birth date to a log call: its spans
//! and events carry UIDs, AE titles, counts and times only.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LoggingSection};

pub fn init(section: &LoggingSection) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::try_new(spec).context("RUST_LOG")?,
        _ => EnvFilter::try_new(format!("{},ort=warn,sqlx=warn", section.level))
            .context("logging.level")?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match section.format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
}
