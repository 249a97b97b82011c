//! Learning-rate schedule (linear warm-up, then cosine, linear or no decay) and gradient
//! clipping by the global L2 norm over all parameters.
//!
//! burn's `GradientClippingConfig::Norm` clips each parameter tensor by its own norm, which is
//! not the method's clipping (one norm over the whole model), hence `clip_global_norm`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::config::{DecayKind, StageTraining};

/// Learning rate as a function of the step (0-based).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    pub peak: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
    pub decay: DecayKind,
    pub final_lr: f64,
}

impl LrSchedule {
    pub fn from_training(t: &StageTraining) -> Self {
        Self {
            peak: t.lr,
            warmup_steps: t.warmup_steps,
            total_steps: t.steps,
            decay: t.decay,
            final_lr: t.final_lr,
        }
    }

    /// Warm-up from `peak / warmup_steps` at step 0 to `peak` at step `warmup_steps - 1`,
    /// then decay from `peak` to `final_lr` at the last step.
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps);
        if decay_steps <= 1 {
            return self.peak;
        }
        let t = ((step - self.warmup_steps) as f64 / (decay_steps - 1) as f64).min(1.0);
        let fraction = match self.decay {
            DecayKind::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
            DecayKind::Linear => 1.0 - t,
            DecayKind::Constant => 1.0,
        };
        self.final_lr + (self.peak - self.final_lr) * fraction
    }
}

/// Sums the squares of the gradients of a module's float parameters.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

/// Multiplies every gradient of a module's float parameters by a factor.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g * self.factor);
        }
    }
}

/// Global L2 norm of the gradients of `module`'s parameters.
pub fn global_grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    let mut visitor = SquaredNorm { grads, sum: None };
    module.visit(&mut visitor);
    visitor
        .sum
        .map(|s| s.into_scalar::<f32>() as f64)
        .unwrap_or(0.0)
        .sqrt()
}

/// Scales the gradients so that their global norm is at most `max_norm` (no-op for
/// `max_norm <= 0`); returns the norm before clipping.
pub fn clip_global_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let norm = global_grad_norm(module, grads);
    if max_norm > 0.0 && norm > max_norm {
        let factor = max_norm / (norm + 1e-6);
        module.visit(&mut Scale { grads, factor });
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    fn schedule(decay: DecayKind) -> LrSchedule {
        LrSchedule {
            peak: 1.0,
            warmup_steps: 10,
            total_steps: 110,
            decay,
            final_lr: 0.0,
        }
    }

    #[test]
    fn warmup_rises_linearly_to_the_peak() {
        let s = schedule(DecayKind::Cosine);
        assert!((s.lr(0) - 0.1).abs() < 1e-12);
        assert!((s.lr(4) - 0.5).abs() < 1e-12);
        assert!((s.lr(9) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn cosine_decay_reaches_the_final_rate_at_the_last_step() {
        let s = schedule(DecayKind::Cosine);
        assert!((s.lr(10) - 1.0).abs() < 1e-12);
        assert!(s.lr(109).abs() < 1e-12);
        let mid = s.lr(10 + 99 / 2);
        assert!((mid - 0.5).abs() < 0.02, "{mid}");
        let linear = schedule(DecayKind::Linear);
        assert!((linear.lr(10 + 99 / 3) - 2.0 / 3.0).abs() < 1e-9);
    }

    fn linear_with_grads(dev: &Device) -> (Linear, GradientsParams) {
        let layer: Linear = LinearConfig::new(3, 2).init(dev);
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0], [-4.0, 5.0, 6.0]], dev);
        let loss = (layer.forward(x) * 10.0).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        (layer, grads)
    }

    #[test]
    fn clipping_scales_all_gradients_to_the_global_norm() {
        let dev = Device::flex().autodiff();
        let (layer, mut grads) = linear_with_grads(&dev);
        let w: Vec<f32> = grads
            .get::<2>(layer.weight.id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let b: Vec<f32> = grads
            .get::<1>(layer.bias.as_ref().unwrap().id)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let expected: f64 = w
            .iter()
            .chain(&b)
            .map(|g| (*g as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let before = clip_global_norm(&layer, &mut grads, 1.0);
        assert!((before - expected).abs() < 1e-3 * expected);
        let after = global_grad_norm(&layer, &grads);
        assert!((after - 1.0).abs() < 1e-4, "{after}");
    }
}
