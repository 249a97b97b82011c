//! `train-density`: maximum likelihood of the density model `q(y | c)` on pooled descriptor
//! maps of random patches, with the descriptor (and condition) models frozen.
//!
//! Per step: `batch_size` random patches of the training volumes; `y = pool(f(x))` and
//! `c` = `pool(g(x))`, the sin-cos encoding of the pooled voxels' absolute positions, or a
//! constant (per `[density] condition`); Gaussian noise of `noise_sigma` added to `y` and `c`;
//! loss = mean per-voxel NLL. `f` and `g` run without autodiff on the compute device; the
//! noise is drawn from the stage's generator, so the stage resumes exactly.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use screener_core::Dims;

use super::fit::{fit, FitSpec, StepOutput};
use super::init::starting_network;
use super::{RunLayout, Stage};
use crate::augment::standard_normal;
use crate::config::{DensityKind, TrainConfig};
use crate::data::loader::image_patch;
use crate::data::{patches_to_tensor, DatasetIndex, Split, VolumeStore};
use crate::device::{compute_device, training_device};
use crate::inference::{load_features, FrozenFeatures};
use crate::models::Network;

/// Copies a tensor to `device` as a new leaf, plus `sigma` times standard normal noise.
fn with_noise<R: Rng>(t: Tensor<5>, sigma: f64, rng: &mut R, device: &Device) -> Tensor<5> {
    let dims = t.dims();
    let mut values: Vec<f32> = t.into_data().try_to_vec::<f32>().expect("f32 features");
    if sigma > 0.0 {
        for v in &mut values {
            *v += sigma as f32 * standard_normal(rng);
        }
    }
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// One density training batch: pooled, noised `(y, c)` on the training device.
pub fn density_batch(
    features: &FrozenFeatures,
    store: &mut VolumeStore,
    rng: &mut ChaCha8Rng,
    patch: Dims,
    batch: usize,
    noise_sigma: f64,
    train_device: &Device,
) -> anyhow::Result<(Tensor<5>, Tensor<5>)> {
    let mut arrays = Vec::with_capacity(batch);
    let mut starts = Vec::with_capacity(batch);
    let mut spacings = Vec::with_capacity(batch);
    for _ in 0..batch {
        let (case, p) = store.random_patch(rng, patch)?;
        arrays.push(image_patch(&case, &p));
        starts.push(p.start);
        spacings.push(case.geometry.spacing);
    }
    let x = patches_to_tensor(&arrays, &compute_device());
    let (y, c) = features.pooled(x, &starts, &spacings);
    Ok((
        with_noise(y, noise_sigma, rng, train_device),
        with_noise(c, noise_sigma, rng, train_device),
    ))
}

/// Trains the density model of `config.density` on `model`'s parameters; shared by the
/// Gaussian and the flow.
fn train<C: Network>(
    config: &TrainConfig,
    layout: &RunLayout,
    features: FrozenFeatures,
    network: &C,
    resume: bool,
    nll: impl Fn(&C::Model, Tensor<5>, Tensor<5>) -> Tensor<5>,
) -> anyhow::Result<PathBuf> {
    let device = training_device();
    device.seed(config.run.seed);
    let model = starting_network(Stage::Density, network, config, layout, resume, &device)?;
    let dir = layout.start_stage(Stage::Density, config)?;
    let index = DatasetIndex::load(layout.cache_dir())?;
    let mut store = VolumeStore::new(
        layout.cache_dir(),
        index.split(Split::Train),
        config.data.max_cached_volumes,
    );
    anyhow::ensure!(!store.is_empty(), "no training volumes in the cache");
    let p = config.models.patch;
    let patch = Dims::new(p[0], p[1], p[2]);
    let t = &config.density.training;
    let spec = FitSpec {
        name: "density",
        dir: &dir,
        training: t,
        run: &config.run,
        seed: config.run.seed ^ Stage::Density.seed_offset(),
        resume,
    };
    let result = fit(&spec, network, model, |q, rng, _| {
        let (y, c) = density_batch(
            &features,
            &mut store,
            rng,
            patch,
            t.batch_size,
            config.density.noise_sigma,
            &device,
        )?;
        let voxels = y.dims()[0] * y.dims()[2] * y.dims()[3] * y.dims()[4];
        Ok(StepOutput {
            loss: nll(q, y, c).mean(),
            terms: Vec::new(),
            voxels,
        })
    })?;
    Ok(result.final_stem)
}

/// `train-density`: returns the stem of the trained network.
pub fn run(config: &TrainConfig, layout: &RunLayout, resume: bool) -> anyhow::Result<PathBuf> {
    let features = load_features(
        &config.models,
        config.density.condition,
        &layout.final_stem(Stage::Descriptor),
        &layout.final_stem(Stage::Condition),
        &compute_device(),
    )?;
    let c_dim = features.condition.channels(&config.models);
    match config.density.model {
        DensityKind::Gaussian => train(
            config,
            layout,
            features,
            &config.models.gaussian(c_dim),
            resume,
            |q, y, c| q.nll(y, c),
        ),
        DensityKind::Glow => train(
            config,
            layout,
            features,
            &config.models.glow(c_dim),
            resume,
            |q, y, c| q.nll(y, c),
        ),
    }
}
