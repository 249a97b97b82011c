//! `screener-train check-device`: runs the operations the networks and losses are made of on
//! the compute device and on the flex CPU backend with the same inputs and weights, and
//! reports the largest difference of each. The first thing to run on a new GPU, driver or
//! burn version: a device that computes one kernel wrongly trains to nonsense without an error
//! (a software Vulkan driver's matmul did exactly that).

use burn::module::Module;
use burn::nn::{GroupNormConfig, LinearConfig};
use burn::tensor::{Device, Distribution, Tensor};

use crate::models::ops::silu;
use crate::models::{avg_pool_3x3x2, DescriptorModelConfig};

/// One operation compared across the two devices.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub name: &'static str,
    /// The largest magnitude on the CPU (the scale of the tolerance).
    pub cpu_scale: f32,
    /// The largest absolute difference (infinite when the device gave a non-finite value).
    pub max_diff: f32,
    /// Allowed difference relative to `cpu_scale` (gradients are tiny: an absolute floor
    /// would let a zero gradient pass).
    pub tolerance: f32,
}

impl Comparison {
    pub fn agrees(&self) -> bool {
        self.max_diff <= self.tolerance * self.cpu_scale.max(f32::MIN_POSITIVE)
    }

    /// A table row: name, scale, difference, verdict.
    pub fn line(&self) -> String {
        format!(
            "{:<28} max |cpu| {:>10.3e}   max diff {:>10.3e}   {}",
            self.name,
            self.cpu_scale,
            self.max_diff,
            if self.agrees() { "ok" } else { "MISMATCH" }
        )
    }
}

fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32 values")
}

/// Compares two tensors of the same shape, `cpu` being the reference.
pub fn compare<const D: usize>(
    name: &'static str,
    cpu: Tensor<D>,
    device: Tensor<D>,
    tolerance: f32,
) -> Comparison {
    assert_eq!(cpu.dims(), device.dims(), "{name}: shapes differ");
    let (a, b) = (values(cpu), values(device));
    let cpu_scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let max_diff = a.iter().zip(&b).fold(0f32, |m, (x, y)| {
        if y.is_finite() {
            m.max((x - y).abs())
        } else {
            f32::INFINITY
        }
    });
    Comparison {
        name,
        cpu_scale,
        max_diff,
        tolerance,
    }
}

/// The same values on another device.
fn on<const D: usize>(x: &Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(x.to_data(), device)
}

/// Runs every check of `device` against the flex CPU backend.
pub fn check(device: &Device) -> Vec<Comparison> {
    let cpu = Device::flex();
    let normal = Distribution::Normal(0.0, 1.0);
    let mut out = Vec::new();

    let x = Tensor::<5>::random([2, 8, 12, 12, 8], normal, &cpu);
    let xd = on(&x, device);
    out.push(compare("silu", silu(x.clone()), silu(xd.clone()), 1e-5));
    out.push(compare(
        "mean over channels",
        x.clone().mean_dim(1),
        xd.clone().mean_dim(1),
        1e-5,
    ));
    out.push(compare(
        "variance over the batch",
        x.clone().var(0),
        xd.clone().var(0),
        1e-4,
    ));
    out.push(compare(
        "3x3x2 average pooling",
        avg_pool_3x3x2(x.clone()),
        avg_pool_3x3x2(xd.clone()),
        1e-5,
    ));
    let norm = GroupNormConfig::new(4, 8).init(&cpu);
    out.push(compare(
        "group norm",
        norm.forward(x.clone()),
        norm.to_device(device).forward(xd),
        1e-4,
    ));

    // The shapes of the VICReg expander and covariance: [pairs, 32] -> [pairs, 256], and a
    // [256, pairs] x [pairs, 256] product.
    let a = Tensor::<2>::random([512, 32], normal, &cpu);
    let b = Tensor::<2>::random([32, 256], normal, &cpu);
    out.push(compare(
        "matmul 512x32 . 32x256",
        a.clone().matmul(b.clone()),
        on(&a, device).matmul(on(&b, device)),
        1e-4,
    ));
    let h = a.clone().matmul(b);
    out.push(compare(
        "matmul 256x512 . 512x256",
        h.clone().transpose().matmul(h.clone()),
        on(&h, device).transpose().matmul(on(&h, device)),
        1e-4,
    ));
    let linear = LinearConfig::new(32, 64).init(&cpu);
    out.push(compare(
        "linear 32 -> 64",
        linear.forward(a.clone()),
        linear.to_device(device).forward(on(&a, device)),
        1e-4,
    ));

    // The default descriptor, same weights: forward, and the gradient of a simple loss with
    // respect to the input and the stem's weights.
    // Built on the CPU with autodiff, so that its weights track gradients on either device.
    let model = DescriptorModelConfig::new().init(&cpu.clone().autodiff());
    let patch = Tensor::<5>::random([2, 1, 32, 48, 48], normal, &cpu);
    let run = |d: &Device| {
        let d = d.clone().autodiff();
        let net = model.clone().fork(&d);
        let input = on(&patch, &d).require_grad();
        let y = net.forward(input.clone());
        let grads = (y.clone() * y.clone()).mean().backward();
        let dx = input.grad(&grads).expect("input gradient");
        let dw = net
            .backbone
            .stem
            .weight
            .grad(&grads)
            .expect("stem gradient");
        (y.detach(), dx, dw)
    };
    let (y_cpu, dx_cpu, dw_cpu) = run(&cpu);
    let (y_dev, dx_dev, dw_dev) = run(device);
    out.push(compare("descriptor forward", y_cpu, y_dev, 1e-3));
    out.push(compare("descriptor d loss/d input", dx_cpu, dx_dev, 1e-3));
    out.push(compare("descriptor d loss/d stem", dw_cpu, dw_dev, 1e-3));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_agrees_with_itself() {
        let report = check(&Device::flex());
        assert_eq!(report.len(), 11);
        for c in &report {
            assert!(c.agrees(), "{}", c.line());
            assert!(c.cpu_scale > 0.0, "{}", c.line());
        }
    }

    #[test]
    fn a_wrong_or_non_finite_value_is_a_mismatch() {
        let device = Device::flex();
        let a = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device);
        let off = Tensor::<1>::from_floats([1.0, 2.1, 3.0], &device);
        let nan = Tensor::<1>::from_floats([1.0, f32::NAN, 3.0], &device);
        assert!(compare("same", a.clone(), a.clone(), 1e-5).agrees());
        let c = compare("off", a.clone(), off, 1e-5);
        assert!(!c.agrees());
        assert!((c.max_diff - 0.1).abs() < 1e-6);
        assert!(!compare("nan", a, nan, 1e-5).agrees());
    }
}
