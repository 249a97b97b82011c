//! `ablate`: the paper's condition ablation (`docs/METHOD.md`, "Density model"). For each
//! condition (none, sin-cos positional, masking-invariant) and each density (Gaussian, Glow),
//! train the density model on the run's frozen descriptor (and condition model) and evaluate
//! the modular scorer with the paper's protocol. Each cell lives in
//! `<run>/ablation/<condition>-<density>/{density,evaluate}`; the table goes to
//! `ablation/ablation.json` and `ablation/ablation.txt`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use serde::{Deserialize, Serialize};

use super::evaluate::EvaluationReport;
use super::{density, evaluate, RunLayout, Stage};
use crate::config::{ConditionKind, DensityKind, EvaluatedModel, TrainConfig};
use crate::models::GaussianScore;

/// The rows and columns of the paper's table.
pub const CONDITIONS: [ConditionKind; 3] = [
    ConditionKind::None,
    ConditionKind::Sincos,
    ConditionKind::MaskingInvariant,
];
pub const DENSITIES: [DensityKind; 2] = [DensityKind::Gaussian, DensityKind::Glow];

pub fn condition_name(kind: ConditionKind) -> &'static str {
    match kind {
        ConditionKind::None => "none",
        ConditionKind::Sincos => "sincos",
        ConditionKind::MaskingInvariant => "masking_invariant",
    }
}

pub fn density_name(kind: DensityKind) -> &'static str {
    match kind {
        DensityKind::Gaussian => "gaussian",
        DensityKind::Glow => "glow",
    }
}

/// One cell: a condition with a density, evaluated or skipped with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationCell {
    pub condition: ConditionKind,
    pub density: DensityKind,
    pub evaluation: Option<EvaluationReport>,
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationTable {
    pub cells: Vec<AblationCell>,
}

fn format_auroc(report: &EvaluationReport) -> String {
    let mut text = format!("{:.3}", report.voxel_auroc.auroc);
    if report.groups.len() > 1 {
        let parts: Vec<String> = report
            .groups
            .iter()
            .map(|g| format!("{:.3}", g.voxel_auroc.auroc))
            .collect();
        text.push_str(&format!(" [{}]", parts.join(" | ")));
    }
    text
}

impl AblationTable {
    pub fn cell(&self, condition: ConditionKind, density: DensityKind) -> Option<&AblationCell> {
        self.cells
            .iter()
            .find(|c| c.condition == condition && c.density == density)
    }

    /// The table as text: conditions down, densities across, voxel AUROC in the cells (all
    /// evaluation cases pooled, then per group in brackets when there are several).
    pub fn to_text(&self) -> String {
        let groups: Vec<String> = self
            .cells
            .iter()
            .find_map(|c| c.evaluation.as_ref())
            .map(|r| r.groups.iter().map(|g| g.group.clone()).collect())
            .unwrap_or_default();
        let mut out = String::from("voxel AUROC (1000 lesion + 1000 body voxels per image)");
        if groups.len() > 1 {
            out.push_str(&format!(": all cases [{}]", groups.join(" | ")));
        }
        out.push('\n');
        let width = 34;
        out.push_str(&format!("{:<20}", "condition"));
        for d in DENSITIES {
            out.push_str(&format!("{:<width$}", density_name(d)));
        }
        out.push('\n');
        for c in CONDITIONS {
            out.push_str(&format!("{:<20}", condition_name(c)));
            for d in DENSITIES {
                let text = match self.cell(c, d) {
                    Some(AblationCell {
                        evaluation: Some(r),
                        ..
                    }) => format_auroc(r),
                    Some(AblationCell {
                        skipped: Some(why), ..
                    }) => format!("skipped ({why})"),
                    _ => "-".into(),
                };
                out.push_str(&format!("{text:<width$}"));
            }
            out.push('\n');
        }
        out
    }
}

/// The configuration a cell trains and evaluates with: the run's, with the cell's condition
/// and density, trained from random weights and scored by the NLL.
fn cell_config(
    config: &TrainConfig,
    condition: ConditionKind,
    density: DensityKind,
) -> TrainConfig {
    let mut variant = config.clone();
    variant.density.condition = condition;
    variant.density.model = density;
    // A start saved for the run's own density has another configuration than most cells.
    variant.density.init = PathBuf::new();
    variant.evaluate.model = EvaluatedModel::Modular;
    // METHOD.md's table: every cell reports the NLL, which a flow also has.
    variant.evaluate.density_score = GaussianScore::Nll;
    variant
}

fn cell_name(condition: ConditionKind, density: DensityKind) -> String {
    format!("{}-{}", condition_name(condition), density_name(density))
}

/// Trains and evaluates every cell of the given density columns whose inputs exist; writes
/// and returns the table. The other columns keep the cells of the table saved before whose
/// density was trained with the configuration this run would give it, so the columns can be
/// filled one run at a time; the others are dropped, with a line on stderr. (Whether the
/// descriptor or condition model changed since is not checked.)
pub fn run(
    config: &TrainConfig,
    layout: &RunLayout,
    densities: &[DensityKind],
    resume: bool,
) -> anyhow::Result<AblationTable> {
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
    let [json, txt] = table_paths(layout);
    let mut cells = saved_cells(&json)?;
    cells.retain(|c| !densities.contains(&c.density) && still_current(c, config, layout));
    for condition in CONDITIONS {
        for density in DENSITIES.into_iter().filter(|d| densities.contains(d)) {
            if condition == ConditionKind::MaskingInvariant && !has_condition {
                eprintln!("ablate: skipping masking_invariant (no condition model)");
                cells.push(AblationCell {
                    condition,
                    density,
                    evaluation: None,
                    skipped: Some("no condition model: run train-condition".into()),
                });
                continue;
            }
            let variant = cell_config(config, condition, density);
            let name = cell_name(condition, density);
            eprintln!("ablate: {name}");
            let cell_layout = layout.variant(&name);
            density::run(&variant, &cell_layout, resume)?;
            let report_path = evaluate::run(&variant, &cell_layout)?;
            let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&report_path)?)?;
            cells.push(AblationCell {
                condition,
                density,
                evaluation: Some(serde_json::from_value(saved["report"].clone())?),
                skipped: None,
            });
        }
    }
    let position = |c: &AblationCell| {
        let row = CONDITIONS.iter().position(|&k| k == c.condition);
        (row, DENSITIES.iter().position(|&k| k == c.density))
    };
    cells.sort_by_key(position);
    let table = AblationTable { cells };
    std::fs::create_dir_all(json.parent().expect("table_paths are in a folder"))?;
    std::fs::write(&json, serde_json::to_vec_pretty(&table)?)?;
    std::fs::write(&txt, table.to_text())?;
    Ok(table)
}

/// The cells of the table saved at `path`; none when there is no table yet.
fn saved_cells(path: &Path) -> anyhow::Result<Vec<AblationCell>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let table: AblationTable =
        serde_json::from_slice(&std::fs::read(path)?).with_context(|| {
            format!(
                "reading {} (remove it to start the table afresh)",
                path.display()
            )
        })?;
    Ok(table.cells)
}

/// Whether a saved cell's density was trained with the configuration this run gives the cell
/// (its `config.toml`); says so on stderr when not.
fn still_current(cell: &AblationCell, config: &TrainConfig, layout: &RunLayout) -> bool {
    let name = cell_name(cell.condition, cell.density);
    let current = cell.evaluation.is_some()
        && layout
            .variant(&name)
            .stage_config(Stage::Density)
            .is_ok_and(|c| c == cell_config(config, cell.condition, cell.density));
    if !current {
        eprintln!("ablate: dropping the saved {name} cell: not trained with this configuration");
    }
    current
}

/// Where `run` writes the table.
pub fn table_paths(layout: &RunLayout) -> [PathBuf; 2] {
    let dir = layout.root.join("ablation");
    [dir.join("ablation.json"), dir.join("ablation.txt")]
}
