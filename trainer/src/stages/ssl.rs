//! `train-descriptor` and `train-condition`: dense self-supervised learning of the descriptor
//! model `f` and the masking-invariant condition model `g` (`docs/METHOD.md`, "Dense SSL").
//!
//! Per step: `batch_size` crop pairs, each from a uniformly drawn training volume
//! (`crate::augment`); both views of every pair through the network (for `g`, each view with
//! its own random block mask, as in the ref. code); the maps interpolated at the positive
//! pairs; the objective (`crate::losses`) on those `N` pairs. The loop, AdamW, warm-up +
//! decay, global-norm clipping, metrics and checkpoints are `fit`'s. All randomness comes from
//! the stage's generator, so the stages resume exactly. The stage's final network is the
//! model alone (`DescriptorModelConfig` / `ConditionModelConfig`); the objective's head lives
//! only in the checkpoints.

mod batch;
mod network;

use std::path::PathBuf;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::Device;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use screener_core::{Mask, Volume};

pub use batch::{PositiveGather, SslBatch};
pub use network::{
    ConditionSsl, ConditionSslConfig, DescriptorSsl, DescriptorSslConfig, SslNetwork,
    SslNetworkConfig,
};

use super::fit::{fit, FitResult, FitSpec, StepOutput};
use super::init::starting_network;
use super::{RunLayout, Stage};
use crate::augment::{sample_crop_pair, AugmentConfig, AugmentError, CropPair};
use crate::config::TrainConfig;
use crate::data::{DatasetIndex, Split, VolumeStore};
use crate::device::training_device;
use crate::losses::ObjectiveConfig;
use crate::models::{save_network, BlockMaskConfig};

/// Volumes that crop pairs are drawn from.
pub trait CropSource {
    fn volumes(&self) -> usize;
    /// A crop pair from volume `n`.
    fn crop_pair(
        &mut self,
        n: usize,
        cfg: &AugmentConfig,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<Result<CropPair, AugmentError>>;
}

/// A preprocessed volume (values in [0, 1]) with its body mask, held in memory.
#[derive(Debug, Clone)]
pub struct SslVolume {
    pub image: Volume<f32>,
    pub body: Mask,
}

fn tensor_order(spacing_ijk: [f64; 3]) -> [f64; 3] {
    [spacing_ijk[2], spacing_ijk[1], spacing_ijk[0]]
}

impl CropSource for [SslVolume] {
    fn volumes(&self) -> usize {
        self.len()
    }

    fn crop_pair(
        &mut self,
        n: usize,
        cfg: &AugmentConfig,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<Result<CropPair, AugmentError>> {
        let v = &self[n];
        let spacing = tensor_order(v.image.geometry.spacing);
        Ok(sample_crop_pair(
            v.image.data.view(),
            v.body.data.view(),
            spacing,
            cfg,
            rng,
        ))
    }
}

impl CropSource for VolumeStore {
    fn volumes(&self) -> usize {
        self.len()
    }

    fn crop_pair(
        &mut self,
        n: usize,
        cfg: &AugmentConfig,
        rng: &mut ChaCha8Rng,
    ) -> anyhow::Result<Result<CropPair, AugmentError>> {
        let case = self.case(n)?;
        let spacing = tensor_order(case.geometry.spacing);
        Ok(sample_crop_pair(
            case.image.view(),
            case.body.view(),
            spacing,
            cfg,
            rng,
        ))
    }
}

/// `pairs` crop pairs from uniformly drawn volumes; a volume whose overlaps hold no body voxel
/// is replaced by another draw (at most `cfg.max_attempts` times per pair).
pub fn draw_crop_pairs<S: CropSource + ?Sized>(
    source: &mut S,
    cfg: &AugmentConfig,
    pairs: usize,
    rng: &mut ChaCha8Rng,
) -> anyhow::Result<Vec<CropPair>> {
    anyhow::ensure!(source.volumes() > 0, "no volumes to draw crop pairs from");
    let mut out = Vec::with_capacity(pairs);
    while out.len() < pairs {
        let mut last_error = None;
        for _ in 0..cfg.max_attempts {
            let n = rng.gen_range(0..source.volumes());
            match source.crop_pair(n, cfg, rng)? {
                Ok(pair) => {
                    out.push(pair);
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some((n, e)),
            }
        }
        if let Some((n, e)) = last_error {
            return Err(e).with_context(|| format!("drawing a crop pair (last from volume {n})"));
        }
    }
    Ok(out)
}

/// One SSL step's forward: the loss of `pairs` on `net` (built on an autodiff device for
/// training). `masking` (the condition model) draws one mask per view from `rng`.
pub fn ssl_step<N: SslNetwork>(
    net: &N,
    pairs: &[CropPair],
    objective: &ObjectiveConfig,
    masking: Option<&BlockMaskConfig>,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> anyhow::Result<StepOutput> {
    let batch = SslBatch::new(pairs, device);
    anyhow::ensure!(
        batch.pairs() >= 2,
        "the objectives need at least two positive pairs, the batch has {}",
        batch.pairs()
    );
    let [b, _, d1, d2, d3] = batch.views[0].dims();
    let [ya, yb] = [0, 1].map(|side| {
        let mask = masking.map(|m| m.sample_batch(rng, b, [d1, d2, d3], device));
        let maps = net.maps(batch.views[side].clone(), mask);
        batch.positives[side].gather(maps)
    });
    let t = net.head().objective(ya, yb, objective);
    Ok(StepOutput {
        loss: t.loss,
        terms: t.terms,
        voxels: batch.pairs(),
    })
}

/// Trains an SSL network with `fit` from `start`, with its config's objective and masking:
/// `spec.training.batch_size` crop pairs per step.
pub fn train_ssl<C, S>(
    spec: &FitSpec,
    network: &C,
    start: C::Model,
    source: &mut S,
    augment: &AugmentConfig,
    device: &Device,
) -> anyhow::Result<FitResult<C::Model>>
where
    C: SslNetworkConfig,
    C::Model: SslNetwork,
    S: CropSource + ?Sized,
{
    augment.validate().map_err(anyhow::Error::msg)?;
    let pairs = spec.training.batch_size;
    fit(spec, network, start, |net, rng, _| {
        let crop_pairs = draw_crop_pairs(source, augment, pairs, rng)?;
        ssl_step(
            net,
            &crop_pairs,
            network.objective(),
            network.masking(),
            rng,
            device,
        )
    })
}

/// Trains the descriptor model on `source` from `start`; its final network (the descriptor
/// model alone) is written to `<spec.dir>/final`.
pub fn train_descriptor<S: CropSource + ?Sized>(
    spec: &FitSpec,
    network: &DescriptorSslConfig,
    start: DescriptorSsl,
    source: &mut S,
    augment: &AugmentConfig,
    device: &Device,
) -> anyhow::Result<FitResult<DescriptorSsl>> {
    let result = train_ssl(spec, network, start, source, augment, device)?;
    save_network(
        &network.descriptor,
        &result.model.descriptor.valid(),
        &result.final_stem,
    )?;
    Ok(result)
}

/// Trains the condition model with block masking on `source` from `start`; its final
/// network (the condition model alone) is written to `<spec.dir>/final`.
pub fn train_condition<S: CropSource + ?Sized>(
    spec: &FitSpec,
    network: &ConditionSslConfig,
    start: ConditionSsl,
    source: &mut S,
    augment: &AugmentConfig,
    device: &Device,
) -> anyhow::Result<FitResult<ConditionSsl>> {
    let result = train_ssl(spec, network, start, source, augment, device)?;
    save_network(
        &network.condition,
        &result.model.condition.valid(),
        &result.final_stem,
    )?;
    Ok(result)
}

fn training_volumes(config: &TrainConfig, layout: &RunLayout) -> anyhow::Result<VolumeStore> {
    let index = DatasetIndex::load(layout.cache_dir())?;
    let store = VolumeStore::new(
        layout.cache_dir(),
        index.split(Split::Train),
        config.data.max_cached_volumes,
    );
    anyhow::ensure!(!store.is_empty(), "no training volumes in the cache");
    Ok(store)
}

/// What `train-descriptor` and `train-condition` share once their network and start are
/// built: the stage folder, the cached training volumes and the fit spec, handed to `train`;
/// returns the final network's stem.
fn run_ssl_stage<M>(
    stage: Stage,
    config: &TrainConfig,
    layout: &RunLayout,
    resume: bool,
    train: impl FnOnce(&FitSpec, &mut VolumeStore) -> anyhow::Result<FitResult<M>>,
) -> anyhow::Result<PathBuf> {
    let dir = layout.start_stage(stage, config)?;
    let mut store = training_volumes(config, layout)?;
    let spec = FitSpec {
        name: stage.name(),
        dir: &dir,
        training: stage.training(config),
        run: &config.run,
        seed: config.run.seed ^ stage.seed_offset(),
        resume,
    };
    Ok(train(&spec, &mut store)?.final_stem)
}

/// `train-descriptor` on the cached training volumes with `[ssl]`'s augmentations and
/// objective, from `ssl.descriptor_init` if set; returns the final network's stem.
pub fn run_descriptor(
    config: &TrainConfig,
    layout: &RunLayout,
    resume: bool,
) -> anyhow::Result<PathBuf> {
    let settings = &config.ssl;
    let device = training_device();
    device.seed(config.run.seed);
    let network = DescriptorSslConfig::new(config.models.descriptor(), &settings.objective);
    let start = DescriptorSsl {
        descriptor: starting_network(
            Stage::Descriptor,
            &network.descriptor,
            config,
            layout,
            resume,
            &device,
        )?,
        head: network.objective.init(&device),
    };
    run_ssl_stage(Stage::Descriptor, config, layout, resume, |spec, store| {
        train_descriptor(spec, &network, start, store, &settings.augment, &device)
    })
}

/// `train-condition` on the cached training volumes with `[ssl]`'s augmentations, objective
/// and `[models]`' block masking, from `ssl.condition_init` if set; returns the final
/// network's stem.
pub fn run_condition(
    config: &TrainConfig,
    layout: &RunLayout,
    resume: bool,
) -> anyhow::Result<PathBuf> {
    let settings = &config.ssl;
    let device = training_device();
    device.seed(config.run.seed ^ Stage::Condition.seed_offset());
    let network = ConditionSslConfig::new(
        config.models.condition(),
        &settings.objective,
        config.models.block_mask(),
    );
    let start = ConditionSsl {
        condition: starting_network(
            Stage::Condition,
            &network.condition,
            config,
            layout,
            resume,
            &device,
        )?,
        head: network.objective.init(&device),
    };
    run_ssl_stage(Stage::Condition, config, layout, resume, |spec, store| {
        train_condition(spec, &network, start, store, &settings.augment, &device)
    })
}
