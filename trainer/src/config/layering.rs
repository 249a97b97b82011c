//! Laying a config file (or one with `--set` overrides) over the default config. serde's
//! `default` fills a missing key from the default of the struct that holds it, so a section
//! given in part (`[density.training]` with only `steps`) would take the generic defaults of
//! `StageTraining` instead of the density stage's own (its learning rate, its warm-up).
//! Merging the TOML tables before deserialising keeps each section's own defaults.

use toml::{Table, Value};

/// Lays `given` over `base`: tables merge key by key, anything else replaces the base value.
/// A table that names another `kind` than the base's (a tagged choice such as
/// `[ssl.objective]`) replaces it whole, since the other kind has other keys.
pub fn lay_over(base: &mut Table, given: Table) {
    for (key, value) in given {
        let value = match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(g)) if same_kind(b, &g) => {
                lay_over(b, g);
                continue;
            }
            (_, value) => value,
        };
        base.insert(key, value);
    }
}

/// True unless `given` names a `kind` other than `base`'s.
fn same_kind(base: &Table, given: &Table) -> bool {
    given
        .get("kind")
        .is_none_or(|kind| base.get("kind") == Some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TrainConfig;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn tables_merge_key_by_key_and_other_values_are_replaced() {
        let mut base = table("a = 1\nlist = [1, 2]\n[s]\nx = 1\ny = 2\n");
        lay_over(&mut base, table("list = [3]\n[s]\ny = 5\nz = 6\n"));
        assert_eq!(base, table("a = 1\nlist = [3]\n[s]\nx = 1\ny = 5\nz = 6\n"));
    }

    #[test]
    fn a_table_of_another_kind_replaces_the_base_table() {
        let mut base = table("[o]\nkind = \"a\"\nonly_a = 1\n");
        lay_over(&mut base, table("[o]\nkind = \"b\"\nonly_b = 2\n"));
        assert_eq!(base, table("[o]\nkind = \"b\"\nonly_b = 2\n"));
        let mut base = table("[o]\nkind = \"a\"\nonly_a = 1\n");
        lay_over(&mut base, table("[o]\nonly_a = 3\n"));
        assert_eq!(base, table("[o]\nkind = \"a\"\nonly_a = 3\n"));
    }

    #[test]
    fn a_section_given_in_part_keeps_its_own_defaults() {
        let defaults = TrainConfig::default();
        let config = TrainConfig::from_toml(
            "[density.training]\nsteps = 7\n[ssl.descriptor_training]\nsteps = 9\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(config.density.training.steps, 7);
        assert_eq!(config.density.training.lr, defaults.density.training.lr);
        assert_eq!(
            config.density.training.warmup_steps,
            defaults.density.training.warmup_steps
        );
        assert_eq!(config.ssl.descriptor_training.steps, 9);
        assert_eq!(
            config.ssl.descriptor_training.warmup_steps,
            defaults.ssl.descriptor_training.warmup_steps
        );
        // The generic stage default differs, so the test would fail without the layering.
        assert_ne!(
            defaults.density.training.lr,
            crate::config::StageTraining::default().lr
        );
    }
}
