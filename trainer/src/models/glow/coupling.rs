//! Conditional affine coupling: half of the channels, with the condition, predict a scale and
//! shift for the other half.

use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{Initializer, PaddingConfig3d};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor};

use crate::models::ops::silu;

/// Layout: `D` channels, `n_a = D / 2` conditioning channels, `n_b = D - n_a` transformed ones.
/// `swap = false`: `a = x[:, 0:n_a]`, `b = x[:, n_a:D]`; `swap = true`: `b = x[:, 0:n_b]`,
/// `a = x[:, n_b:D]` (blocks alternate). The output keeps the input's channel order.
///
/// Parameters: `hidden_in.{weight [H, n_a + C_cond, k,k,k], bias [H]}` (pads k/2),
/// `hidden_mid.{weight [H, H, 1,1,1], bias [H]}`, `out.{weight [2 n_b, H, 1,1,1], bias [2 n_b]}`
/// (zero-initialised); `swap`; `log_scale_shift` (a constant).
///
/// Forward: `h = silu(hidden_in(Concat([a, c], 1)))`; `h = silu(hidden_mid(h))`;
/// `st = out(h)`; `s = st[:, 0:n_b]`, `t = st[:, n_b:2 n_b]`;
/// `ls = log(sigmoid(s + 2)) - log_scale_shift` (ONNX: `-Softplus(-(s + 2)) - shift`);
/// `b' = b * exp(ls) + t`; per-voxel log|det| = `ReduceSum_axis1(ls)`.
/// `log_scale_shift = ln sigmoid(2)` makes a zero-initialised block exactly the identity
/// (reference code: 0, i.e. plain `sigmoid(s + 2)`).
#[derive(Module, Debug)]
pub struct AffineCoupling {
    pub hidden_in: Conv3d,
    pub hidden_mid: Conv3d,
    pub out: Conv3d,
    pub swap: bool,
    pub log_scale_shift: f64,
}

/// Construction parameters of one coupling layer.
pub struct CouplingShape {
    pub channels: usize,
    pub condition_channels: usize,
    pub hidden_channels: usize,
    pub kernel: usize,
    pub swap: bool,
    pub identity_at_init: bool,
}

impl AffineCoupling {
    pub fn new(shape: &CouplingShape, device: &Device) -> Self {
        let (n_a, n_b) = split_sizes(shape.channels);
        let (k, h) = (shape.kernel, shape.hidden_channels);
        let pad = k / 2;
        Self {
            hidden_in: Conv3dConfig::new([n_a + shape.condition_channels, h], [k, k, k])
                .with_padding(PaddingConfig3d::Explicit(pad, pad, pad))
                .init(device),
            hidden_mid: Conv3dConfig::new([h, h], [1, 1, 1]).init(device),
            out: Conv3dConfig::new([h, 2 * n_b], [1, 1, 1])
                .with_initializer(Initializer::Zeros)
                .init(device),
            swap: shape.swap,
            log_scale_shift: if shape.identity_at_init {
                -(1.0 + (-2.0f64).exp()).ln()
            } else {
                0.0
            },
        }
    }

    fn split(&self, x: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let d = x.dims()[1];
        let (n_a, n_b) = split_sizes(d);
        if self.swap {
            (x.clone().narrow(1, n_b, n_a), x.narrow(1, 0, n_b))
        } else {
            (x.clone().narrow(1, 0, n_a), x.narrow(1, n_a, n_b))
        }
    }

    fn join(&self, a: Tensor<5>, b: Tensor<5>) -> Tensor<5> {
        if self.swap {
            Tensor::cat(vec![b, a], 1)
        } else {
            Tensor::cat(vec![a, b], 1)
        }
    }

    fn log_scale_and_shift(&self, a: Tensor<5>, c: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let h = silu(self.hidden_in.forward(Tensor::cat(vec![a, c], 1)));
        let st = self.out.forward(silu(self.hidden_mid.forward(h)));
        let n_b = st.dims()[1] / 2;
        let ls = log_sigmoid(st.clone().narrow(1, 0, n_b) + 2.0) - self.log_scale_shift;
        (ls, st.narrow(1, n_b, n_b))
    }

    /// `(y, log|det| [B, 1, ...])`.
    pub fn forward(&self, x: Tensor<5>, c: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let (a, b) = self.split(x);
        let (ls, t) = self.log_scale_and_shift(a.clone(), c);
        let b = b * ls.clone().exp() + t;
        (self.join(a, b), ls.sum_dim(1))
    }

    pub fn inverse(&self, y: Tensor<5>, c: Tensor<5>) -> Tensor<5> {
        let (a, b) = self.split(y);
        let (ls, t) = self.log_scale_and_shift(a.clone(), c);
        let b = (b - t) * ls.neg().exp();
        self.join(a, b)
    }
}

/// `(n_a, n_b)`: conditioning and transformed channel counts.
pub fn split_sizes(channels: usize) -> (usize, usize) {
    assert!(channels >= 2, "coupling needs at least 2 channels");
    (channels / 2, channels - channels / 2)
}
