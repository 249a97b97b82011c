//! `evaluate`: the paper's protocol on held-out labelled volumes (phantoms with inserted
//! lesions, or image + mask pairs), on the preprocessed grid: voxel-level AUROC over 1000
//! lesion and 1000 body voxels sampled per image, and Dice at the threshold that maximises
//! mean Dice on the first `threshold_cases` cases, reported on the remaining ones.

use std::path::PathBuf;

use ndarray::Array3;
use screener_core::metrics::{
    dice_at_threshold, select_threshold, CaseMaps, VoxelAuroc, VoxelAurocProtocol,
    DEFAULT_MAX_CANDIDATES,
};
use serde::{Deserialize, Serialize};

use super::distil::modular_scorer;
use super::progress::progress_bar;
use super::{RunLayout, Stage};
use crate::config::{EvaluatedModel, TrainConfig};
use crate::data::{CachedCase, DatasetIndex, Split};
use crate::device::compute_device;
use crate::inference::DistilledScorer;
use crate::models::GaussianScore;

/// Scores one cached case on its preprocessed grid.
type CaseScorer = Box<dyn Fn(&CachedCase) -> anyhow::Result<Array3<f32>>>;

/// The outcome of the protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub cases: usize,
    pub voxel_auroc: VoxelAuroc,
    /// Score threshold chosen on the first `threshold_cases` cases.
    pub threshold: f64,
    pub threshold_cases: usize,
    /// Mean Dice on the cases that chose the threshold.
    pub dice_threshold_cases: f64,
    /// Mean Dice on the other cases (`None` when there are none).
    pub dice_held_out: Option<f64>,
    /// Dice of every case at the threshold, in order.
    pub per_case_dice: Vec<f64>,
    /// The voxel AUROC of each group of cases alone (phantoms, each labelled image).
    #[serde(default)]
    pub groups: Vec<GroupAuroc>,
}

impl EvaluationReport {
    /// One line: pooled AUROC, then each group's, then the held-out Dice.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "voxel AUROC {:.3} over {} cases",
            self.voxel_auroc.auroc, self.cases
        );
        for g in &self.groups {
            text.push_str(&format!(
                "; {} {:.3} ({} cases)",
                g.group, g.voxel_auroc.auroc, g.cases
            ));
        }
        if let Some(dice) = self.dice_held_out {
            text.push_str(&format!(
                "; Dice {dice:.3} at threshold {:.3} (chosen on {} cases)",
                self.threshold, self.threshold_cases
            ));
        }
        text
    }
}

/// The protocol's AUROC over the cases of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupAuroc {
    pub group: String,
    pub cases: usize,
    pub voxel_auroc: VoxelAuroc,
}

/// The voxel AUROC of every group of `cases` (`groups[n]` names case `n`'s), in the order the
/// groups first appear.
pub fn group_aurocs(
    cases: &[CaseMaps<'_>],
    groups: &[String],
    protocol: VoxelAurocProtocol,
) -> anyhow::Result<Vec<GroupAuroc>> {
    anyhow::ensure!(cases.len() == groups.len(), "one group name per case");
    let mut names: Vec<&String> = Vec::new();
    for g in groups {
        if !names.contains(&g) {
            names.push(g);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let members: Vec<CaseMaps> = cases
                .iter()
                .zip(groups)
                .filter(|(_, g)| *g == name)
                .map(|(c, _)| *c)
                .collect();
            Ok(GroupAuroc {
                group: name.clone(),
                cases: members.len(),
                voxel_auroc: protocol.evaluate(&members)?,
            })
        })
        .collect()
}

/// Runs the protocol on score maps with their lesion and body masks.
pub fn evaluate_maps(
    cases: &[CaseMaps<'_>],
    protocol: VoxelAurocProtocol,
    threshold_cases: usize,
) -> anyhow::Result<EvaluationReport> {
    anyhow::ensure!(!cases.is_empty(), "no cases to evaluate");
    let voxel_auroc = protocol.evaluate(cases)?;
    let chosen = threshold_cases.clamp(1, cases.len());
    let choice = select_threshold(&cases[..chosen], DEFAULT_MAX_CANDIDATES)?;
    let per_case_dice = cases
        .iter()
        .map(|c| dice_at_threshold(c, choice.threshold))
        .collect::<Result<Vec<_>, _>>()?;
    let held_out = &per_case_dice[chosen..];
    Ok(EvaluationReport {
        cases: cases.len(),
        voxel_auroc,
        threshold: choice.threshold,
        threshold_cases: chosen,
        dice_threshold_cases: choice.mean_dice,
        dice_held_out: (!held_out.is_empty())
            .then(|| held_out.iter().sum::<f64>() / held_out.len() as f64),
        per_case_dice,
        groups: Vec::new(),
    })
}

/// `evaluate`: writes `evaluate/<model>.json` and returns its path.
pub fn run(config: &TrainConfig, layout: &RunLayout) -> anyhow::Result<PathBuf> {
    let e = &config.evaluate;
    let index = DatasetIndex::load(layout.cache_dir())?;
    let entries: Vec<_> = index
        .split(Split::Evaluate)
        .into_iter()
        .filter(|v| v.lesion.is_some())
        .collect();
    anyhow::ensure!(
        !entries.is_empty(),
        "no labelled evaluation volumes in the cache"
    );
    let device = compute_device();
    let score: CaseScorer = match e.model {
        EvaluatedModel::Modular => {
            let scorer = modular_scorer(config, layout, e.batch, e.density_score, &device)?;
            let device = device.clone();
            Box::new(move |case| scorer.score(case.image.view(), case.geometry.spacing, &device))
        }
        EvaluatedModel::Distilled | EvaluatedModel::Finetuned => {
            let (stage, sigmoid) = if e.model == EvaluatedModel::Distilled {
                (Stage::Distil, false)
            } else {
                (Stage::Finetune, true)
            };
            let scorer = DistilledScorer::load(
                &layout.final_stem(stage),
                sigmoid,
                &config.models,
                e.batch,
                &device,
            )?;
            let device = device.clone();
            Box::new(move |case| scorer.score(case.image.view(), &device))
        }
    };
    let bar = progress_bar(entries.len() as u64, "evaluate");
    let mut loaded = Vec::with_capacity(entries.len());
    for entry in &entries {
        let case = CachedCase::load(layout.cache_dir(), entry)?;
        let scores = score(&case)?;
        loaded.push((case, scores));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let maps = loaded
        .iter()
        .map(|(case, scores)| {
            CaseMaps::new(
                scores.view(),
                case.lesion.as_ref().expect("filtered above").view(),
                case.body.view(),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let protocol = VoxelAurocProtocol {
        per_class: e.samples_per_class,
        seed: e.seed,
    };
    let mut report = evaluate_maps(&maps, protocol, e.threshold_cases)?;
    let groups: Vec<String> = entries.iter().map(|v| v.group.clone()).collect();
    report.groups = group_aurocs(&maps, &groups, protocol)?;
    let dir = layout.evaluate_dir();
    std::fs::create_dir_all(&dir)?;
    let name = match e.model {
        EvaluatedModel::Modular if e.density_score != GaussianScore::Nll => {
            format!("modular-{}", e.density_score.output_name())
        }
        EvaluatedModel::Modular => "modular".into(),
        EvaluatedModel::Distilled => "distilled".into(),
        EvaluatedModel::Finetuned => "finetuned".into(),
    };
    let path = dir.join(format!("{name}.json"));
    let sources: Vec<&str> = entries.iter().map(|v| v.source.as_str()).collect();
    let mut saved = serde_json::json!({
        "model": name,
        "report": report,
        "sources": sources,
    });
    if e.model == EvaluatedModel::Modular {
        saved["density_score"] = serde_json::json!(e.density_score);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&saved)?)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// Body: a 20^3 cube; lesion: an 6^3 cube inside it.
    fn masks() -> (Array3<u8>, Array3<u8>) {
        let body = Array3::from_shape_fn([20, 20, 20], |(k, j, i)| {
            u8::from((2..18).contains(&k) && (2..18).contains(&j) && (2..18).contains(&i))
        });
        let lesion = Array3::from_shape_fn([20, 20, 20], |(k, j, i)| {
            u8::from((7..13).contains(&k) && (7..13).contains(&j) && (7..13).contains(&i))
        });
        (body, lesion)
    }

    #[test]
    fn a_perfect_scorer_gets_auroc_one_and_dice_one() {
        let (body, lesion) = masks();
        let scores = lesion.mapv(|v| if v > 0 { 5.0 } else { 1.0 } as f32);
        let cases: Vec<CaseMaps> = (0..3)
            .map(|_| CaseMaps::new(scores.view(), lesion.view(), body.view()).unwrap())
            .collect();
        let protocol = VoxelAurocProtocol {
            per_class: 100,
            seed: 1,
        };
        let report = evaluate_maps(&cases, protocol, 2).unwrap();
        assert_eq!(report.voxel_auroc.auroc, 1.0);
        assert_eq!(report.voxel_auroc.positives, 300);
        assert_eq!(report.threshold, 5.0);
        assert_eq!(report.dice_held_out, Some(1.0));
    }

    #[test]
    fn each_group_gets_the_auroc_of_its_own_cases() {
        let (body, lesion) = masks();
        let perfect = lesion.mapv(|v| if v > 0 { 5.0 } else { 1.0 } as f32);
        let inverted = lesion.mapv(|v| if v > 0 { 0.0 } else { 1.0 } as f32);
        let cases: Vec<CaseMaps> = [&perfect, &inverted, &perfect]
            .iter()
            .map(|s| CaseMaps::new(s.view(), lesion.view(), body.view()).unwrap())
            .collect();
        let groups = ["phantoms", "lung1.nrrd", "phantoms"].map(String::from);
        let protocol = VoxelAurocProtocol {
            per_class: 40,
            seed: 3,
        };
        let got = group_aurocs(&cases, &groups, protocol).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].group.as_str(), got[0].cases), ("phantoms", 2));
        assert_eq!(got[0].voxel_auroc.auroc, 1.0);
        assert_eq!((got[1].group.as_str(), got[1].cases), ("lung1.nrrd", 1));
        assert_eq!(got[1].voxel_auroc.auroc, 0.0);
    }

    #[test]
    fn an_inverted_scorer_gets_auroc_zero_and_a_constant_one_half() {
        let (body, lesion) = masks();
        let inverted = lesion.mapv(|v| if v > 0 { 0.0 } else { 1.0 } as f32);
        let constant = lesion.mapv(|_| 3.0f32);
        let protocol = VoxelAurocProtocol {
            per_class: 50,
            seed: 2,
        };
        let case = CaseMaps::new(inverted.view(), lesion.view(), body.view()).unwrap();
        let low = evaluate_maps(&[case], protocol, 1).unwrap();
        assert_eq!(low.voxel_auroc.auroc, 0.0);
        let case = CaseMaps::new(constant.view(), lesion.view(), body.view()).unwrap();
        let flat = evaluate_maps(&[case], protocol, 1).unwrap();
        assert_eq!(flat.voxel_auroc.auroc, 0.5);
        // Predicting the whole body: Dice = 2 * 216 / (216 + 16^3).
        let expected = 2.0 * 216.0 / (216.0 + 4096.0);
        assert!((flat.dice_threshold_cases - expected).abs() < 1e-12);
    }
}
