//! `distil`: a single UNet (`DistilledUNet`) learns the modular pipeline's NLL maps.
//!
//! The teacher (frozen descriptor, condition and density models) scores every training volume
//! once with sliding-window inference; its maps are cached under `distil/teacher/`. The
//! student then trains on random crops of (image, teacher map) pairs with MSE.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ndarray::Array3;
use screener_core::patches::patch_array;
use screener_core::{Dims, Volume};

use super::fit::{fit, FitSpec, StepOutput};
use super::progress::progress_bar;
use super::{RunLayout, Stage};
use crate::config::TrainConfig;
use crate::data::loader::image_patch;
use crate::data::{patches_to_tensor, read_volume, write_volume, DatasetIndex, Split, VolumeStore};
use crate::device::{compute_device, training_device};
use crate::inference::{ensure_score_fits, load_features, DensityModel, ModularScorer};
use crate::models::GaussianScore;
use crate::models::Network;

/// The modular pipeline trained in this run, as a scorer reporting `score`.
pub fn modular_scorer(
    config: &TrainConfig,
    layout: &RunLayout,
    batch: usize,
    score: GaussianScore,
    device: &Device,
) -> anyhow::Result<ModularScorer> {
    ensure_score_fits(config.density.model, score)?;
    let features = load_features(
        &config.models,
        config.density.condition,
        &layout.final_stem(Stage::Descriptor),
        &layout.final_stem(Stage::Condition),
        device,
    )?;
    let density = DensityModel::load(
        config.density.model,
        &layout.final_stem(Stage::Density),
        device,
    )?;
    let p = config.models.patch;
    Ok(ModularScorer {
        features,
        density,
        score,
        patch: Dims::new(p[0], p[1], p[2]),
        overlap: config.models.overlap,
        batch,
    })
}

/// Scores (or reads back) the teacher map of every training volume.
fn teacher_maps(
    config: &TrainConfig,
    layout: &RunLayout,
    store: &mut VolumeStore,
    dir: &Path,
) -> anyhow::Result<Vec<Array3<f32>>> {
    let device = compute_device();
    let teacher_dir = dir.join("teacher");
    std::fs::create_dir_all(&teacher_dir)?;
    let mut scorer = None;
    let bar = progress_bar(store.len() as u64, "teacher");
    let mut maps = Vec::with_capacity(store.len());
    for n in 0..store.len() {
        let stem = teacher_dir.join(format!("{}.nll", store.entries()[n].id));
        let map = match read_volume::<f32>(&stem) {
            Ok(v) => v.data,
            Err(_) => {
                if scorer.is_none() {
                    scorer = Some(modular_scorer(
                        config,
                        layout,
                        config.distil.teacher_batch,
                        // The teacher is the method's modular NLL.
                        GaussianScore::Nll,
                        &device,
                    )?);
                }
                let case = store.case(n)?;
                let map = scorer.as_ref().expect("built above").score(
                    case.image.view(),
                    case.geometry.spacing,
                    &device,
                )?;
                write_volume(&Volume::new(map.clone(), case.geometry), &stem)?;
                map
            }
        };
        maps.push(map);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(maps)
}

/// `distil`: returns the stem of the trained student.
pub fn run(config: &TrainConfig, layout: &RunLayout, resume: bool) -> anyhow::Result<PathBuf> {
    let dir = layout.start_stage(Stage::Distil, config)?;
    let index = DatasetIndex::load(layout.cache_dir())?;
    let mut store = VolumeStore::new(
        layout.cache_dir(),
        index.split(Split::Train),
        config.data.max_cached_volumes,
    );
    anyhow::ensure!(!store.is_empty(), "no training volumes in the cache");
    let teachers = teacher_maps(config, layout, &mut store, &dir)?;
    let device = training_device();
    device.seed(config.run.seed ^ Stage::Distil.seed_offset());
    let network = config.models.distilled();
    let model = network.build(&device);
    let p = config.models.patch;
    let patch = Dims::new(p[0], p[1], p[2]);
    let t = &config.distil.training;
    let spec = FitSpec {
        name: "distil",
        dir: &dir,
        training: t,
        run: &config.run,
        seed: config.run.seed ^ Stage::Distil.seed_offset(),
        resume,
    };
    let result = fit(&spec, &network, model, |student, rng, _| {
        let mut inputs = Vec::with_capacity(t.batch_size);
        let mut targets = Vec::with_capacity(t.batch_size);
        for _ in 0..t.batch_size {
            let (case, window) = store.random_patch(rng, patch)?;
            let n = store
                .entries()
                .iter()
                .position(|e| e.id == case.entry.id)
                .expect("the case comes from the store");
            inputs.push(image_patch(&case, &window));
            targets.push(patch_array(teachers[n].view(), &window, 0.0));
        }
        let x = patches_to_tensor(&inputs, &device);
        let target = patches_to_tensor(&targets, &device);
        let diff = student.forward(x) - target;
        Ok(StepOutput {
            loss: (diff.clone() * diff).mean(),
            terms: Vec::new(),
            voxels: t.batch_size * patch.len(),
        })
    })?;
    Ok(result.final_stem)
}
