//! `screener check-config [FILE]`: validates the configuration the node would run with and
//! prints it, secrets redacted.

use std::path::Path;

use super::{process_env, Config, ConfigError};

/// Loads the default, `file` and the `SCREENER__…` environment; prints the effective
/// configuration to stdout, or returns every problem found.
pub fn check_config(file: Option<&Path>) -> Result<(), ConfigError> {
    let env = process_env();
    let overridden: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    let config = Config::load_with_env(file, env.clone())?;
    let source = match file {
        Some(f) => format!("{} over the embedded default", f.display()),
        None => "the embedded default".to_owned(),
    };
    eprintln!("configuration OK: {source}");
    if !overridden.is_empty() {
        eprintln!("overridden by: {}", overridden.join(", "));
    }
    print!("{}", config.to_redacted_toml());
    Ok(())
}
