//! Specifications of the flow: exact log-determinant, invertibility, identity at init.

use std::f64::consts::PI;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use super::linalg::determinant;
use super::*;
use crate::models::gaussian::GaussianDensityConfig;
use crate::models::test_util::{device, max_abs_diff, randn, to_vec};

fn jitter<const D: usize>(p: &Param<Tensor<D>>, scale: f64, dev: &Device) -> Param<Tensor<D>> {
    let moved = p.val() + randn(p.dims(), dev) * scale;
    // Rebuilt from data: a parameter must be a leaf of the autodiff graph.
    Param::from_tensor(Tensor::from_data(moved.into_data(), dev))
}

/// Moves every trainable parameter away from its (mostly zero) initial value.
fn randomised(config: &ConditionalGlowConfig, dev: &Device) -> ConditionalGlow {
    let mut glow = config.init(dev);
    for b in &mut glow.blocks {
        b.actnorm.log_scale = jitter(&b.actnorm.log_scale, 0.1, dev);
        b.actnorm.bias = jitter(&b.actnorm.bias, 0.1, dev);
        b.actnorm.cond.weight = jitter(&b.actnorm.cond.weight, 0.1, dev);
        b.mix.lower = jitter(&b.mix.lower, 0.1, dev);
        b.mix.upper = jitter(&b.mix.upper, 0.1, dev);
        b.mix.log_s = jitter(&b.mix.log_s, 0.1, dev);
        b.coupling.out.weight = jitter(&b.coupling.out.weight, 0.1, dev);
        if let Some(bias) = &b.coupling.out.bias {
            b.coupling.out.bias = Some(jitter(bias, 0.1, dev));
        }
    }
    glow
}

fn small_config(channels: usize, kernel: usize) -> ConditionalGlowConfig {
    ConditionalGlowConfig::new()
        .with_channels(channels)
        .with_condition_channels(3)
        .with_blocks(4)
        .with_hidden_channels(8)
        .with_coupling_kernel(kernel)
}

#[test]
fn glow_log_determinant_matches_brute_force_jacobian() {
    let dev = device().autodiff();
    let d = 4;
    let mut glow = randomised(&small_config(d, 1), &dev);
    // The random draw alone can leave log|det| near zero (burn's random stream is shared with
    // the tests running beside this one, so the draw varies from run to run); 0.25 more
    // log-scale per channel and block moves it to about 4.
    for b in &mut glow.blocks {
        let shifted = b.actnorm.log_scale.val() + 0.25;
        b.actnorm.log_scale = Param::from_tensor(Tensor::from_data(shifted.into_data(), &dev));
    }
    let y: Vec<f32> = to_vec(randn([1, d, 1, 1, 1], &dev));
    let c = randn([1, 3, 1, 1, 1], &dev);

    let mut jacobian = vec![0.0f64; d * d];
    for out in 0..d {
        let x = Tensor::<5>::from_data(TensorData::new(y.clone(), [1, d, 1, 1, 1]), &dev)
            .require_grad();
        let (z, _) = glow.forward(x.clone(), c.clone());
        let grads = z.narrow(1, out, 1).sum().backward();
        let row = to_vec(x.grad(&grads).expect("gradient of the input"));
        for (i, g) in row.iter().enumerate() {
            jacobian[out * d + i] = *g as f64;
        }
    }
    let brute = determinant(&jacobian, d).abs().ln();
    let x = Tensor::<5>::from_data(TensorData::new(y, [1, d, 1, 1, 1]), &dev);
    let (_, logdet) = glow.forward(x, c);
    let logdet = to_vec(logdet)[0] as f64;
    assert!(
        (logdet - brute).abs() < 1e-3,
        "model log|det| {logdet}, brute force {brute}"
    );
    assert!(
        brute.abs() > 0.1,
        "the test flow should not be volume-preserving"
    );
}

#[test]
fn glow_inverse_recovers_the_input() {
    let dev = device();
    for kernel in [1, 3] {
        let glow = randomised(&small_config(5, kernel), &dev);
        let y = randn([2, 5, 2, 3, 2], &dev);
        let c = randn([2, 3, 2, 3, 2], &dev);
        let (z, _) = glow.forward(y.clone(), c.clone());
        let back = glow.inverse(z, c);
        let err = max_abs_diff(&to_vec(back), &to_vec(y));
        assert!(err < 1e-4, "kernel {kernel}: max error {err}");
    }
}

#[test]
fn untrained_glow_nll_equals_the_untrained_gaussian_nll() {
    let dev = device();
    let glow = small_config(6, 3).init(&dev);
    let gaussian = GaussianDensityConfig::new()
        .with_descriptor_channels(6)
        .with_condition_channels(3)
        .init(&dev);
    let y = randn([2, 6, 2, 2, 3], &dev);
    let c = randn([2, 3, 2, 2, 3], &dev);
    let ys = to_vec(y.clone());
    let flow = to_vec(glow.nll(y.clone(), c.clone()));
    let normal = to_vec(gaussian.nll(y, c));
    assert!(max_abs_diff(&flow, &normal) < 1e-4);
    let voxels = 12;
    for b in 0..2 {
        let v = 7;
        let sq: f64 = (0..6)
            .map(|ch| (ys[(b * 6 + ch) * voxels + v] as f64).powi(2))
            .sum();
        let expected = 0.5 * sq + 3.0 * (2.0 * PI).ln();
        assert!((flow[b * voxels + v] as f64 - expected).abs() < 1e-4);
    }
}

#[test]
fn reference_scale_without_shift_contracts_at_init() {
    let dev = device();
    let glow = small_config(4, 1).with_identity_at_init(false).init(&dev);
    let (_, logdet) = glow.forward(randn([1, 4, 1, 1, 1], &dev), randn([1, 3, 1, 1, 1], &dev));
    // 4 blocks x 2 transformed channels x ln sigmoid(2).
    let expected = 8.0 * -(1.0 + (-2.0f64).exp()).ln();
    assert!((to_vec(logdet)[0] as f64 - expected).abs() < 1e-4);
}

#[test]
fn glow_trains_the_lu_factors_but_not_the_permutation_or_signs() {
    let dev = device().autodiff();
    let glow = small_config(4, 1).init(&dev);
    let nll = glow.nll(randn([1, 4, 2, 1, 1], &dev), randn([1, 3, 2, 1, 1], &dev));
    let grads = nll.sum().backward();
    let mix = &glow.blocks[0].mix;
    assert!(mix.lower.grad(&grads).is_some());
    assert!(mix.log_s.grad(&grads).is_some());
    assert!(mix.perm.grad(&grads).is_none());
    assert!(mix.sign_s.grad(&grads).is_none());
}
