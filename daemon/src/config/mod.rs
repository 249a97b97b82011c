//! The node's configuration: the embedded `config/default.toml`, an optional file laid over
//! it, then `SCREENER__SECTION__KEY` environment variables; deserialized with unknown keys
//! rejected and validated so that a bad value stops the node before it listens.
//! See docs/configuration.md.
//!
//! - [`sections`]: the TOML shape.
//! - [`layers`]: default + file + environment into one table.
//! - [`validate`]: checks beyond the types; [`error`] names key and problem.
//! - [`convert`]: settings for the listener, sender, engine, store and web page.
//! - [`redact`]: secrets hidden for printing; [`check`]: the `check-config` command.

pub mod check;
pub mod convert;
pub mod error;
pub mod layers;
pub mod redact;
pub mod sections;
pub mod validate;

use std::path::Path;

use toml::{Table, Value};

pub use check::check_config;
pub use error::{ConfigError, Problem};
pub use layers::{EnvOverride, DEFAULT_TOML, ENV_PREFIX};
pub use sections::{
    Config, DestinationSection, DicomSection, EngineSection, LogFormat, LoggingSection,
    NodeSection, PipelineSection, RetrySection, StoreSection, WebSection, WebhookSection,
};

impl Config {
    /// The default, `file` if given, and the process environment; validated.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, process_env())
    }

    /// As [`Config::load`] with the environment given explicitly (tests, `check-config`).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let origin = file.map(|p| p.display().to_string());
        Self::from_layers(
            text.as_deref().zip(origin.as_deref()).map(|(t, o)| (o, t)),
            env,
        )
    }

    /// Builds from the default, an optional `(origin, text)` TOML layer and `env`; validated.
    pub fn from_layers(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = layers::parse_table(DEFAULT_TOML, "the embedded default configuration")?;
        if let Some((origin, text)) = file {
            layers::merge(&mut table, layers::parse_table(text, origin)?);
        }
        let overrides = layers::apply_env(&mut table, &template(), env)?;
        let config: Config = serde_path_to_error::deserialize(Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                ConfigError::Invalid(vec![Problem {
                    key: key.clone(),
                    problem: e.inner().message().to_owned(),
                }])
            })
            .map_err(|e| name_variables(e, &overrides))?;
        config
            .validate()
            .map_err(|e| name_variables(e, &overrides))?;
        Ok(config)
    }

    /// Checks values beyond their types (ranges, AE titles, paths); every problem reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

/// `SCREENER__…` variables of this process; names or values that are not UTF-8 are skipped.
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect()
}

/// Adds "(set by SCREENER__…)" to problems whose key an environment variable set.
fn name_variables(error: ConfigError, overrides: &[EnvOverride]) -> ConfigError {
    match error {
        ConfigError::Invalid(problems) => ConfigError::Invalid(
            problems
                .into_iter()
                .map(|mut p| {
                    if let Some(o) = overrides
                        .iter()
                        .find(|o| p.key == o.key || p.key.starts_with(&format!("{}.", o.key)))
                    {
                        p.problem = format!("{} (set by {})", p.problem, o.var);
                    }
                    p
                })
                .collect(),
        ),
        other => other,
    }
}

/// The default with every optional key present and one destination: it tells the type of a
/// key that an environment variable sets but no layer below it has.
fn template() -> Table {
    let mut c: Config = toml::from_str(DEFAULT_TOML).expect("the embedded default parses");
    c.web.token = Some(String::new());
    c.web.token_file = Some("".into());
    c.webhook.url = Some(String::new());
    c.webhook.secret = Some(String::new());
    c.destinations = vec![DestinationSection {
        name: String::new(),
        ae_title: String::new(),
        host: String::new(),
        port: 104,
        retry: RetrySection::default(),
    }];
    Table::try_from(&c).expect("a configuration serializes to a table")
}
