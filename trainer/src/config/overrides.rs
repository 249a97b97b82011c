//! `--set section.key=value`: single keys laid over a TOML config file, so that a script can
//! change step counts or paths without writing a second file. The result is validated like
//! any config (unknown keys are refused), and each stage saves it as its `config.toml`.

use toml::{Table, Value};

/// `value` as TOML (`3`, `0.5`, `[1, 2]`, `"text"`, `true`), or as a plain string when it is
/// none of those (`/data/ct`).
fn parse_value(value: &str) -> Value {
    format!("v = {value}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(value.to_string()))
}

/// Applies `overrides` (each `dotted.key=value`) to the TOML document `text`; missing
/// sections are created.
pub fn apply(text: &str, overrides: &[String]) -> Result<String, String> {
    let mut root: Table = text.parse().map_err(|e| format!("{e}"))?;
    for entry in overrides {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| format!("--set {entry:?}: expected section.key=value"))?;
        let path: Vec<&str> = key.trim().split('.').collect();
        if path.iter().any(|p| p.is_empty()) {
            return Err(format!("--set {entry:?}: empty key segment"));
        }
        let (last, sections) = path.split_last().expect("split yields one part at least");
        let mut table = &mut root;
        for section in sections {
            let slot = table
                .entry(section.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            table = slot
                .as_table_mut()
                .ok_or_else(|| format!("--set {entry:?}: {section} is not a section"))?;
        }
        table.insert(last.to_string(), parse_value(value.trim()));
    }
    toml::to_string(&root).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_toml_type_and_bare_words_become_strings() {
        assert_eq!(parse_value("3"), Value::Integer(3));
        assert_eq!(parse_value("0.5"), Value::Float(0.5));
        assert_eq!(parse_value("\"7\""), Value::String("7".into()));
        assert_eq!(
            parse_value("../data/ct"),
            Value::String("../data/ct".into())
        );
        assert_eq!(
            parse_value("[1, 2]"),
            Value::Array(vec![Value::Integer(1), Value::Integer(2)])
        );
    }

    #[test]
    fn an_entry_without_equals_sign_or_through_a_value_is_refused() {
        assert!(apply("", &["steps".into()]).is_err());
        assert!(apply("[run]\nseed = 1\n", &["run.seed.x=2".into()]).is_err());
    }
}
