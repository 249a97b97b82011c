//! The training stages on tiny volumes: exact resume, a density loss that falls, and the
//! distil -> fine-tune -> evaluate chain writing its artefacts.

mod common;

use screener_trainer::checkpoint::Checkpoints;
use screener_trainer::config::{ConditionKind, DensityKind, EvaluatedModel};
use screener_trainer::stages::{self, Stage};

#[test]
fn training_n_steps_equals_n_half_then_resume_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::ci_config();
    config.density.training.steps = 6;
    config.run.checkpoint_every = 3;
    config.run.keep_checkpoints = 5;
    let layout = common::prepared_run(&config, dir.path());
    let stage_dir = layout.stage_dir(Stage::Density);

    stages::density::run(&config, &layout, false).unwrap();
    let straight_losses = common::losses(&stage_dir);
    let straight = dir.path().join("straight");
    for ext in ["json", "safetensors"] {
        std::fs::copy(
            stage_dir.join(format!("final.{ext}")),
            straight.with_extension(ext),
        )
        .unwrap();
    }
    assert_eq!(straight_losses.len(), 6);

    // Forget everything after step 3, as if the process had died there.
    let checkpoints = Checkpoints::new(&stage_dir, 5);
    let steps: Vec<usize> = checkpoints.list().unwrap().iter().map(|c| c.0).collect();
    assert_eq!(steps, vec![3, 6]);
    std::fs::remove_dir_all(&checkpoints.list().unwrap()[1].1).unwrap();
    std::fs::remove_file(common::final_weights(&stage_dir)).unwrap();

    stages::density::run(&config, &layout, true).unwrap();
    assert_eq!(common::losses(&stage_dir), straight_losses);
    let difference = common::max_weight_difference(&straight, &stage_dir.join("final"));
    assert!(
        difference <= 1e-6,
        "final weights differ by {difference} after resume"
    );
}

#[test]
fn density_loss_falls_on_a_tiny_problem_for_every_condition() {
    for (model, condition) in [
        (DensityKind::Gaussian, ConditionKind::MaskingInvariant),
        (DensityKind::Gaussian, ConditionKind::Sincos),
        (DensityKind::Glow, ConditionKind::None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::ci_config();
        config.density.training.steps = 30;
        config.density.training.lr = 0.02;
        config.density.model = model;
        config.density.condition = condition;
        config.run.checkpoint_every = 100;
        let layout = common::prepared_run(&config, dir.path());
        stages::density::run(&config, &layout, false).unwrap();
        let losses = common::losses(&layout.stage_dir(Stage::Density));
        let first: f64 = losses[..5].iter().sum::<f64>() / 5.0;
        let last: f64 = losses[25..].iter().sum::<f64>() / 5.0;
        assert!(
            last < first - 0.1,
            "{model:?}/{condition:?}: loss {first:.3} -> {last:.3}"
        );
        assert!(layout.stage_dir(Stage::Density).join("curves.png").exists());
    }
}

#[test]
fn distil_fine_tune_and_evaluate_write_their_artefacts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::ci_config();
    let layout = common::prepared_run(&config, dir.path());
    stages::density::run(&config, &layout, false).unwrap();
    let distilled = stages::distil::run(&config, &layout, false).unwrap();
    assert!(distilled.with_extension("safetensors").exists());
    let teachers = std::fs::read_dir(layout.stage_dir(Stage::Distil).join("teacher"))
        .unwrap()
        .count();
    assert_eq!(
        teachers,
        2 * 2,
        "one map (data + header) per training volume"
    );
    let tuned = stages::finetune::run(&config, &layout, false).unwrap();
    assert!(tuned.with_extension("json").exists());
    let records = screener_trainer::metrics_log::read_records(
        &layout.stage_dir(Stage::Finetune).join("metrics.jsonl"),
    )
    .unwrap();
    assert!(records
        .iter()
        .all(|r| r.terms.contains_key("bce") && r.terms.contains_key("dice")));

    for model in [
        EvaluatedModel::Modular,
        EvaluatedModel::Distilled,
        EvaluatedModel::Finetuned,
    ] {
        config.evaluate.model = model;
        let path = stages::evaluate::run(&config, &layout).unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let auroc = report["report"]["voxel_auroc"]["auroc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&auroc), "{model:?}: {auroc}");
        assert_eq!(report["report"]["cases"], 2);
    }
}

#[test]
fn ablation_trains_and_evaluates_every_cell_of_the_paper_table() {
    use screener_trainer::stages::ablate::{AblationTable, CONDITIONS, DENSITIES};
    let dir = tempfile::tempdir().unwrap();
    let config = common::ci_config();
    let layout = common::prepared_run(&config, dir.path());
    // One column per run: the second keeps the first's cells that are still current.
    let gaussian = stages::ablate::run(&config, &layout, &[DensityKind::Gaussian], false).unwrap();
    assert!(gaussian
        .cell(ConditionKind::None, DensityKind::Glow)
        .is_none());
    let text = gaussian.to_text();
    assert!(
        text.lines()
            .skip(2)
            .all(|row| row.trim_end().ends_with(" -")),
        "the glow column is empty: {text}"
    );
    let [json, txt] = stages::ablate::table_paths(&layout);
    // Mark a kept cell (a retrained one would lose the mark), and make another stale.
    let mut saved: AblationTable = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let marked = saved
        .cells
        .iter_mut()
        .find(|c| c.condition == ConditionKind::Sincos)
        .unwrap();
    marked.evaluation.as_mut().unwrap().voxel_auroc.auroc = 0.123;
    std::fs::write(&json, serde_json::to_vec(&saved).unwrap()).unwrap();
    let stale = layout.variant("none-gaussian").stage_dir(Stage::Density);
    let mut other = config.clone();
    other.run.seed += 1;
    std::fs::write(stale.join("config.toml"), other.to_toml()).unwrap();

    let glow = stages::ablate::run(&config, &layout, &[DensityKind::Glow], false).unwrap();
    let kept = glow
        .cell(ConditionKind::Sincos, DensityKind::Gaussian)
        .unwrap();
    assert_eq!(kept.evaluation.as_ref().unwrap().voxel_auroc.auroc, 0.123);
    assert_eq!(
        glow.cell(ConditionKind::MaskingInvariant, DensityKind::Gaussian),
        gaussian.cell(ConditionKind::MaskingInvariant, DensityKind::Gaussian)
    );
    assert!(glow
        .cell(ConditionKind::None, DensityKind::Gaussian)
        .is_none());
    assert_eq!(glow.cells.len(), 5);

    let table = stages::ablate::run(&config, &layout, &DENSITIES, false).unwrap();
    assert_eq!(table.cells.len(), CONDITIONS.len() * DENSITIES.len());
    for condition in CONDITIONS {
        for density in DENSITIES {
            let cell = table.cell(condition, density).unwrap();
            let report = cell.evaluation.as_ref().unwrap();
            assert!((0.0..=1.0).contains(&report.voxel_auroc.auroc));
            assert_eq!(report.cases, 2);
        }
    }
    let text = table.to_text();
    assert_eq!(text.lines().count(), 2 + CONDITIONS.len(), "{text}");
    assert!(
        text.contains("masking_invariant") && text.contains("glow"),
        "{text}"
    );
    let saved: AblationTable = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(saved, table);
    assert_eq!(std::fs::read_to_string(txt).unwrap(), text);
    let sincos_glow = layout.variant("sincos-glow");
    assert!(sincos_glow
        .final_stem(Stage::Density)
        .with_extension("safetensors")
        .exists());
}
