//! `ablate`: the paper's condition ablation. For each condition (none, sin-cos positional,
//! masking-invariant) train the density model on the run's frozen descriptor and evaluate the
//! modular scorer; results go to `<run>/ablation/<condition>/` and `ablation.json`.

use std::path::PathBuf;

use serde_json::json;

use super::{density, evaluate, RunLayout, Stage};
use crate::config::{ConditionKind, EvaluatedModel, TrainConfig};

fn name(kind: ConditionKind) -> &'static str {
    match kind {
        ConditionKind::None => "none",
        ConditionKind::Sincos => "sincos",
        ConditionKind::MaskingInvariant => "masking_invariant",
    }
}

/// Runs the variants whose inputs exist; returns the summary's path.
pub fn run(config: &TrainConfig, layout: &RunLayout, resume: bool) -> anyhow::Result<PathBuf> {
    let descriptor = layout.final_stem(Stage::Descriptor).with_extension("json");
    anyhow::ensure!(
        descriptor.exists(),
        "the ablation needs a trained descriptor ({} is missing): run train-descriptor first",
        descriptor.display()
    );
    let has_condition = layout
        .final_stem(Stage::Condition)
        .with_extension("json")
        .exists();
    let mut rows = Vec::new();
    for kind in [
        ConditionKind::None,
        ConditionKind::Sincos,
        ConditionKind::MaskingInvariant,
    ] {
        if kind == ConditionKind::MaskingInvariant && !has_condition {
            eprintln!(
                "ablate: skipping masking_invariant (no condition model: run train-condition)"
            );
            rows.push(json!({ "condition": name(kind), "skipped": "no condition model" }));
            continue;
        }
        let mut variant = config.clone();
        variant.density.condition = kind;
        variant.evaluate.model = EvaluatedModel::Modular;
        let variant_layout = layout.variant(name(kind));
        density::run(&variant, &variant_layout, resume)?;
        let report_path = evaluate::run(&variant, &variant_layout)?;
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path)?)?;
        rows.push(json!({ "condition": name(kind), "evaluation": report["report"] }));
    }
    let path = layout.root.join("ablation").join("ablation.json");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&json!({ "variants": rows }))?,
    )?;
    Ok(path)
}
