//! `fine-tune`: the distilled UNet (or a randomly initialised one, the paper's baseline) with
//! its last 1x1x1 conv re-initialised and a sigmoid on top, trained on labelled masks with
//! BCE + soft Dice.
//!
//! Crops: with probability `lesion_crop_fraction` centred on a random lesion voxel, otherwise
//! uniform, so that rare lesions are seen often enough.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::Tensor;
use ndarray::Array3;
use rand::Rng;
use screener_core::patches::patch_array;
use screener_core::Dims;

use super::fit::{fit, FitSpec, StepOutput};
use super::{RunLayout, Stage};
use crate::config::TrainConfig;
use crate::data::loader::{image_patch, patch_around};
use crate::data::{patches_to_tensor, DatasetIndex, Split, VolumeStore};
use crate::device::training_device;
use crate::models::res_block::conv1x1x1;
use crate::models::{load_network, DistilledUNetConfig, Network};

/// Mean binary cross-entropy of `logits` against `target` in {0, 1}, computed stably from
/// log-sigmoids.
pub fn bce_with_logits(logits: Tensor<5>, target: Tensor<5>) -> Tensor<1> {
    let positive = log_sigmoid(logits.clone()) * target.clone();
    let negative = log_sigmoid(logits.neg()) * (target.neg() + 1.0);
    (positive + negative).mean().neg()
}

/// Soft Dice loss `1 - (2 sum(p t) + 1) / (sum p + sum t + 1)` over the whole batch.
pub fn soft_dice_loss(probabilities: Tensor<5>, target: Tensor<5>) -> Tensor<1> {
    let intersection = (probabilities.clone() * target.clone()).sum();
    let total = probabilities.sum() + target.sum();
    ((intersection * 2.0 + 1.0) / (total + 1.0)).neg() + 1.0
}

/// `fine-tune`: returns the stem of the fine-tuned network.
pub fn run(config: &TrainConfig, layout: &RunLayout, resume: bool) -> anyhow::Result<PathBuf> {
    let f = &config.finetune;
    let dir = layout.start_stage(Stage::Finetune, config)?;
    let index = DatasetIndex::load(layout.cache_dir())?;
    let labelled: Vec<_> = index
        .split(Split::Finetune)
        .into_iter()
        .filter(|v| v.lesion.is_some())
        .collect();
    anyhow::ensure!(
        !labelled.is_empty(),
        "no labelled fine-tuning volumes in the cache"
    );
    let mut store = VolumeStore::new(layout.cache_dir(), labelled, config.data.max_cached_volumes);
    let device = training_device();
    device.seed(config.run.seed ^ Stage::Finetune.seed_offset());
    let (network, mut model) = if f.from_distilled {
        let stem = layout.final_stem(Stage::Distil);
        load_network::<DistilledUNetConfig>(&stem, &device)
            .with_context(|| format!("loading the distilled model {}", stem.display()))?
    } else {
        let network = config.models.distilled();
        let model = network.build(&device);
        (network, model)
    };
    model.head = conv1x1x1(network.backbone.out_channels, 1, &device);
    let p = config.models.patch;
    let patch = Dims::new(p[0], p[1], p[2]);
    let t = &f.training;
    let spec = FitSpec {
        name: "fine-tune",
        dir: &dir,
        training: t,
        run: &config.run,
        seed: config.run.seed ^ Stage::Finetune.seed_offset(),
        resume,
    };
    let mut lesion_voxels: HashMap<String, Vec<[usize; 3]>> = HashMap::new();
    let result = fit(&spec, &network, model, |net, rng, _| {
        let mut inputs = Vec::with_capacity(t.batch_size);
        let mut targets: Vec<Array3<f32>> = Vec::with_capacity(t.batch_size);
        for _ in 0..t.batch_size {
            let (case, mut window) = store.random_patch(rng, patch)?;
            let lesion = case.lesion.as_ref().expect("labelled volumes only");
            if rng.gen_bool(f.lesion_crop_fraction.clamp(0.0, 1.0)) {
                let voxels = lesion_voxels
                    .entry(case.entry.id.clone())
                    .or_insert_with(|| {
                        lesion
                            .indexed_iter()
                            .filter(|(_, &v)| v != 0)
                            .map(|((k, j, i), _)| [i, j, k])
                            .collect()
                    });
                if !voxels.is_empty() {
                    let centre = voxels[rng.gen_range(0..voxels.len())];
                    window = patch_around(centre, patch, case.dims());
                }
            }
            inputs.push(image_patch(&case, &window));
            targets.push(patch_array(lesion.view(), &window, 0).mapv(f32::from));
        }
        let x = patches_to_tensor(&inputs, &device);
        let target = patches_to_tensor(&targets, &device);
        let logits = net.forward(x);
        let bce = bce_with_logits(logits.clone(), target.clone());
        let dice = soft_dice_loss(sigmoid(logits), target);
        let loss = bce.clone() * f.bce_weight + dice.clone() * f.dice_weight;
        Ok(StepOutput {
            loss,
            terms: vec![("bce", bce.detach()), ("dice", dice.detach())],
            voxels: t.batch_size * patch.len(),
        })
    })?;
    Ok(result.final_stem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn losses_match_their_closed_forms() {
        let dev = Device::flex();
        let logits =
            Tensor::<1>::from_floats([2.0, -1.0, 0.5, -3.0], &dev).reshape([1, 1, 1, 2, 2]);
        let target = Tensor::<1>::from_floats([1.0, 0.0, 0.0, 1.0], &dev).reshape([1, 1, 1, 2, 2]);
        let z = [2.0f64, -1.0, 0.5, -3.0];
        let y = [1.0f64, 0.0, 0.0, 1.0];
        let p: Vec<f64> = z.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
        let bce: f64 = -(0..4)
            .map(|n| y[n] * p[n].ln() + (1.0 - y[n]) * (1.0 - p[n]).ln())
            .sum::<f64>()
            / 4.0;
        let inter: f64 = (0..4).map(|n| p[n] * y[n]).sum();
        let dice = 1.0 - (2.0 * inter + 1.0) / (p.iter().sum::<f64>() + 2.0 + 1.0);
        let got_bce = bce_with_logits(logits.clone(), target.clone()).into_scalar::<f32>() as f64;
        let got_dice = soft_dice_loss(sigmoid(logits), target).into_scalar::<f32>() as f64;
        assert!((got_bce - bce).abs() < 1e-5, "{got_bce} vs {bce}");
        assert!((got_dice - dice).abs() < 1e-5, "{got_dice} vs {dice}");
    }
}
