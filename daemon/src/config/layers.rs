//! Builds the effective TOML table: the embedded default, then a file laid over it key by
//! key (tables merge, arrays and values replace), then `SCREENER__SECTION__KEY` environment
//! variables. Typing of environment values follows the key's type in the layers below it.

use toml::{Table, Value};

use super::error::ConfigError;

/// Prefix of overriding environment variables; path segments are separated by `__`.
pub const ENV_PREFIX: &str = "SCREENER__";

/// The embedded default configuration.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// A key set from the environment, remembered so that errors can name the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvOverride {
    pub var: String,
    /// Dotted key path as problems name it (`destinations[0].host`).
    pub key: String,
}

pub fn parse_table(text: &str, origin: &str) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| ConfigError::Syntax {
        origin: origin.to_owned(),
        message: e.to_string(),
    })
}

/// Lays `top` over `base`: tables merge recursively; anything else in `top` replaces.
pub fn merge(base: &mut Table, top: Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(t)) => merge(b, t),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Applies every `SCREENER__…` variable of `env` to `table`, in name order so the result does
/// not depend on the environment's order (array appends need index 0 before 1). `template`
/// is a configuration with every optional key present: it types values for keys that the
/// layers below do not set.
pub fn apply_env(
    table: &mut Table,
    template: &Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<EnvOverride>, ConfigError> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    vars.into_iter()
        .map(|(var, raw)| {
            let key =
                set_path(table, template, &var, &raw).map_err(|problem| ConfigError::Env {
                    var: var.clone(),
                    problem,
                })?;
            Ok(EnvOverride { var, key })
        })
        .collect()
}

/// Sets the value named by `var` (`SCREENER__A__0__B`) and returns its dotted path.
fn set_path(root: &mut Table, template: &Table, var: &str, raw: &str) -> Result<String, String> {
    let segments: Vec<String> = var[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if segments.iter().any(String::is_empty) {
        return Err("empty key segment (use __ only between keys)".into());
    }
    let (last, parents) = segments.split_last().expect("split yields one segment");
    let mut path = String::new();
    let mut slot = Slot::Table(root);
    for (depth, segment) in parents.iter().enumerate() {
        // A key missing below takes the template's shape: `destinations` is a list.
        let empty = match template_value(template, &segments[..=depth]) {
            Some(Value::Array(_)) => Value::Array(Vec::new()),
            _ => Value::Table(Table::new()),
        };
        slot = slot.descend(segment, empty, &mut path)?;
    }
    match slot {
        Slot::Table(t) => {
            push_key(&mut path, last);
            let like = t
                .get(last.as_str())
                .or_else(|| template_value(template, &segments));
            let value = typed_value(like, raw).map_err(|p| format!("{path}: {p}"))?;
            t.insert(last.clone(), value);
        }
        Slot::Array(_) => return Err(format!("{path} is a list of tables; name a key inside one")),
    }
    Ok(path)
}

enum Slot<'a> {
    Table(&'a mut Table),
    Array(&'a mut Vec<Value>),
}

impl<'a> Slot<'a> {
    fn descend(self, segment: &str, empty: Value, path: &mut String) -> Result<Slot<'a>, String> {
        match self {
            Slot::Table(t) => {
                push_key(path, segment);
                let child = t.entry(segment.to_owned()).or_insert(empty);
                Slot::of(child, path)
            }
            Slot::Array(a) => {
                let index: usize = segment
                    .parse()
                    .map_err(|_| format!("{path} is a list; expected an index, got {segment:?}"))?;
                if index == a.len() {
                    a.push(Value::Table(Table::new()));
                } else if index > a.len() {
                    return Err(format!(
                        "{path} has {} entries; index {index} would leave a gap",
                        a.len()
                    ));
                }
                path.push_str(&format!("[{index}]"));
                Slot::of(&mut a[index], path)
            }
        }
    }

    fn of(value: &'a mut Value, path: &str) -> Result<Slot<'a>, String> {
        match value {
            Value::Table(t) => Ok(Slot::Table(t)),
            Value::Array(a) => Ok(Slot::Array(a)),
            _ => Err(format!("{path} is a value, not a section")),
        }
    }
}

/// The template's value at `segments`, every list index standing for the list's first entry.
fn template_value<'t>(template: &'t Table, segments: &[String]) -> Option<&'t Value> {
    let (first, rest) = segments.split_first()?;
    rest.iter()
        .try_fold(template.get(first.as_str())?, |v, s| match v {
            Value::Table(t) => t.get(s.as_str()),
            Value::Array(a) if s.parse::<usize>().is_ok() => a.first(),
            _ => None,
        })
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Reads `raw` as the type of the value it replaces; a new key takes a TOML literal if `raw`
/// is one and a string otherwise.
fn typed_value(existing: Option<&Value>, raw: &str) -> Result<Value, String> {
    let trimmed = raw.trim();
    match existing {
        Some(Value::String(_)) => Ok(Value::String(raw.to_owned())),
        Some(Value::Integer(_)) => trimmed
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("expected an integer, got {raw:?}")),
        Some(Value::Float(_)) => trimmed
            .parse()
            .map(Value::Float)
            .map_err(|_| format!("expected a number, got {raw:?}")),
        Some(Value::Boolean(_)) => match trimmed.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        },
        Some(Value::Array(_)) if trimmed.starts_with('[') => {
            literal(trimmed).ok_or_else(|| format!("not a TOML array: {raw:?}"))
        }
        Some(Value::Array(_)) => Ok(Value::Array(
            trimmed
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        Some(Value::Table(_)) => Err("is a section; set its keys instead".into()),
        Some(Value::Datetime(_)) | None => {
            Ok(literal(trimmed).unwrap_or_else(|| Value::String(raw.to_owned())))
        }
    }
}

fn literal(text: &str) -> Option<Value> {
    let mut t = format!("v = {text}").parse::<Table>().ok()?;
    t.remove("v")
}
