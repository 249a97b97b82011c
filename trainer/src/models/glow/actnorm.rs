//! Conditional ActNorm: per-channel affine map whose scale and shift are a learned constant
//! plus a 1x1x1 conv of the condition (zero-initialised, so the layer starts as identity).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

/// Parameters: `log_scale [D]`, `bias [D]`, `cond.{weight [2D, C_cond, 1,1,1], bias [2D]}`.
///
/// Forward: `h = cond(c)`; `ds = h[:, 0:D]`, `db = h[:, D:2D]`;
/// `ls = log_scale[1,D,1,1,1] + ds`; `y = (x + bias[1,D,1,1,1] + db) * exp(ls)`;
/// per-voxel log|det| = `ReduceSum_axis1(ls)`. Inverse: `x = y * exp(-ls) - bias - db`.
#[derive(Module, Debug)]
pub struct CondActNorm {
    pub log_scale: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub cond: Conv3d,
}

impl CondActNorm {
    pub fn new(channels: usize, condition_channels: usize, device: &Device) -> Self {
        Self {
            log_scale: Initializer::Zeros.init([channels], device),
            bias: Initializer::Zeros.init([channels], device),
            cond: Conv3dConfig::new([condition_channels, 2 * channels], [1, 1, 1])
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    fn scale_and_shift(&self, c: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let d = self.log_scale.dims()[0];
        let h = self.cond.forward(c);
        let ls = h.clone().narrow(1, 0, d) + self.log_scale.val().reshape([1, d, 1, 1, 1]);
        let shift = h.narrow(1, d, d) + self.bias.val().reshape([1, d, 1, 1, 1]);
        (ls, shift)
    }

    /// `(y, log|det| [B, 1, ...])`.
    pub fn forward(&self, x: Tensor<5>, c: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let (ls, shift) = self.scale_and_shift(c);
        ((x + shift) * ls.clone().exp(), ls.sum_dim(1))
    }

    pub fn inverse(&self, y: Tensor<5>, c: Tensor<5>) -> Tensor<5> {
        let (ls, shift) = self.scale_and_shift(c);
        y * ls.neg().exp() - shift
    }
}
