//! The training loop every stage shares: AdamW with the warm-up + decay schedule, clipping by
//! the global gradient norm, metrics per step, curves, resumable checkpoints and the final
//! network. A stage supplies only its step: the loss of one batch drawn with the stage's
//! random generator.
//!
//! Exact resume: every random draw of a step comes from the stage's ChaCha8 generator (none
//! from the device's), and a checkpoint holds the weights with their parameter ids, the AdamW
//! state and the generator's position, so N steps in one go and N/2 + N/2 with a restart in
//! between give the same weights and losses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::progress::progress_bar;
use crate::checkpoint::{CheckpointState, Checkpoints, RngState};
use crate::config::{RunConfig, StageTraining};
use crate::metrics_log::{plot_curves, read_records, MetricsLog, StepRecord};
use crate::models::{save_network, Network};
use crate::schedule::{clip_global_norm, LrSchedule};

/// What one training step computed.
pub struct StepOutput {
    /// The scalar loss to minimise (`[1]`).
    pub loss: Tensor<1>,
    /// Named terms of the loss, logged next to it.
    pub terms: Vec<(&'static str, Tensor<1>)>,
    /// Voxels (or voxel pairs) the step trained on, for the throughput figure.
    pub voxels: usize,
}

/// Where and how long a stage trains.
pub struct FitSpec<'a> {
    pub name: &'a str,
    pub dir: &'a Path,
    pub training: &'a StageTraining,
    pub run: &'a RunConfig,
    /// Seed of the stage's generator (used when not resuming).
    pub seed: u64,
    pub resume: bool,
}

/// What `fit` leaves behind.
pub struct FitResult<M> {
    pub model: M,
    /// `final.json` + `final.safetensors` stem.
    pub final_stem: PathBuf,
    /// Step the run started at (0, or the resumed checkpoint's step).
    pub started_at: usize,
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_scalar::<f32>() as f64
}

/// Trains `model` (built by `config` on the training device) with `step` until
/// `spec.training.steps` steps are done, resuming from the stage's newest checkpoint when
/// `spec.resume` is set.
pub fn fit<C, S>(
    spec: &FitSpec,
    config: &C,
    model: C::Model,
    mut step: S,
) -> anyhow::Result<FitResult<C::Model>>
where
    C: Network,
    S: FnMut(&C::Model, &mut ChaCha8Rng, usize) -> anyhow::Result<StepOutput>,
{
    let t = spec.training;
    std::fs::create_dir_all(spec.dir)?;
    let checkpoints = Checkpoints::new(spec.dir, spec.run.keep_checkpoints);
    let optimizer = AdamWConfig::new()
        .with_beta_1(t.beta1 as f32)
        .with_beta_2(t.beta2 as f32)
        .with_epsilon(t.epsilon as f32)
        .with_weight_decay(t.weight_decay as f32)
        .init();
    let (mut model, mut optimizer, start, mut rng) = match spec
        .resume
        .then(|| checkpoints.load_latest(model.clone(), optimizer.clone()))
        .transpose()?
        .flatten()
    {
        Some((m, o, state)) => (m, o, state.step, state.rng.restore()?),
        None => (model, optimizer, 0, ChaCha8Rng::seed_from_u64(spec.seed)),
    };
    let metrics_path = spec.dir.join("metrics.jsonl");
    let mut log = MetricsLog::open(&metrics_path, start)
        .with_context(|| format!("opening {}", metrics_path.display()))?;
    let schedule = LrSchedule::from_training(t);
    let bar = progress_bar(t.steps as u64, spec.name);
    bar.set_position(start as u64);
    let mut zero_gradient_steps = 0;
    for index in start..t.steps {
        let began = Instant::now();
        let out = step(&model, &mut rng, index)?;
        let terms: BTreeMap<String, f64> = out
            .terms
            .into_iter()
            .map(|(name, v)| (name.to_string(), scalar(v)))
            .collect();
        let loss = scalar(out.loss.clone());
        anyhow::ensure!(
            loss.is_finite(),
            "{}: loss is {loss} at step {index}",
            spec.name
        );
        let mut grads = GradientsParams::from_grads(out.loss.backward(), &model);
        let grad_norm = clip_global_norm(&model, &mut grads, t.grad_clip_norm);
        zero_gradient_steps = if grad_norm == 0.0 {
            zero_gradient_steps + 1
        } else {
            0
        };
        let limit = spec.run.zero_gradient_steps;
        anyhow::ensure!(
            limit == 0 || zero_gradient_steps < limit,
            "{}: the gradient has been exactly zero for {limit} steps (to step \
             {index}, loss {loss}): the loss does not depend on the weights, so training \
             cannot move. On a GPU, run `screener-train check-device`: a kernel that computes \
             wrongly gives this",
            spec.name
        );
        let lr = schedule.lr(index);
        model = optimizer.step(lr, model, grads);
        let seconds = began.elapsed().as_secs_f64();
        log.append(&StepRecord {
            step: index,
            loss,
            terms,
            lr,
            grad_norm,
            step_seconds: seconds,
            voxels_per_second: out.voxels as f64 / seconds.max(1e-9),
        })?;
        bar.set_prefix(format!("loss {loss:.4}"));
        bar.inc(1);
        let done = index + 1;
        if done % spec.run.checkpoint_every.max(1) == 0 || done == t.steps {
            checkpoints.save(
                &model,
                &optimizer,
                &CheckpointState {
                    step: done,
                    rng: RngState::capture(&rng),
                },
            )?;
        }
        if done % spec.run.plot_every.max(1) == 0 || done == t.steps {
            plot_curves(&read_records(&metrics_path)?, &spec.dir.join("curves.png"))?;
        }
    }
    bar.finish_and_clear();
    let final_stem = spec.dir.join("final");
    save_network(config, &model.valid(), &final_stem)?;
    Ok(FitResult {
        model,
        final_stem,
        started_at: start,
    })
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::models::GaussianDensityConfig;

    fn fit_density(dir: &Path, loss_scale: f32, zero_gradient_steps: usize) -> anyhow::Result<()> {
        let training = StageTraining {
            steps: 5,
            warmup_steps: 1,
            ..StageTraining::default()
        };
        let run = RunConfig {
            zero_gradient_steps,
            ..RunConfig::default()
        };
        let spec = FitSpec {
            name: "density",
            dir,
            training: &training,
            run: &run,
            seed: 1,
            resume: false,
        };
        let device = Device::flex().autodiff();
        let config = GaussianDensityConfig::new()
            .with_descriptor_channels(2)
            .with_condition_channels(2)
            .with_hidden_channels(4);
        let model = config.init(&device);
        fit(&spec, &config, model, |q, _, _| {
            let normal = Distribution::Normal(0.0, 1.0);
            let y = Tensor::<5>::random([1, 2, 4, 4, 4], normal, &device);
            let c = Tensor::<5>::random([1, 2, 4, 4, 4], normal, &device);
            Ok(StepOutput {
                loss: q.nll(y, c).mean().reshape([1]) * loss_scale,
                terms: Vec::new(),
                voxels: 64,
            })
        })
        .map(|_| ())
    }

    #[test]
    fn a_loss_that_does_not_depend_on_the_weights_stops_training_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        fit_density(&dir.path().join("learns"), 1.0, 3).unwrap();
        // 0 turns the check off.
        fit_density(&dir.path().join("unchecked"), 0.0, 0).unwrap();
        let err = fit_density(&dir.path().join("stuck"), 0.0, 3).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("exactly zero for 3 steps"), "{message}");
        assert!(message.contains("check-device"), "{message}");
    }
}
