//! Pre-activation residual block of the UNet: `x + conv2(silu(gn2(conv1(silu(gn1(x))))))`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig3d};
use burn::tensor::{Device, Tensor};

use super::ops::{gcd, silu};

/// Residual block hyper-parameters; channels in = channels out.
#[derive(Config, Debug)]
pub struct ResBlockConfig {
    pub channels: usize,
    /// GroupNorm uses `gcd(norm_groups, channels)` groups.
    #[config(default = 8)]
    pub norm_groups: usize,
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

/// Parameters: `norm1.{gamma,beta}` `[C]`, `conv1.{weight [C,C,3,3,3], bias [C]}`,
/// `norm2.{gamma,beta}` `[C]`, `conv2.{weight [C,C,3,3,3], bias [C]}`.
///
/// Forward: `h = GN1(x); h = h*sigmoid(h); h = Conv1(h)` (3x3x3, stride 1, pads 1);
/// `h = GN2(h); h = h*sigmoid(h); h = Conv2(h)`; output `x + h`.
/// GN: per sample, channels split into `groups` contiguous groups; mean and biased variance
/// over (group channels x all voxels); `(x - mean) / sqrt(var + eps) * gamma[c] + beta[c]`.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub norm1: GroupNorm,
    pub conv1: Conv3d,
    pub norm2: GroupNorm,
    pub conv2: Conv3d,
}

impl ResBlockConfig {
    pub fn init(&self, device: &Device) -> ResBlock {
        let c = self.channels;
        let groups = gcd(self.norm_groups, c);
        let norm = || {
            GroupNormConfig::new(groups, c)
                .with_epsilon(self.norm_eps)
                .init(device)
        };
        let conv = || conv3x3x3(c, c, device);
        ResBlock {
            norm1: norm(),
            conv1: conv(),
            norm2: norm(),
            conv2: conv(),
        }
    }
}

impl ResBlock {
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        x + h
    }
}

/// 3x3x3 convolution, stride 1, zero padding 1 on every side, with bias.
pub fn conv3x3x3(c_in: usize, c_out: usize, device: &Device) -> Conv3d {
    Conv3dConfig::new([c_in, c_out], [3, 3, 3])
        .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
        .init(device)
}

/// 1x1x1 convolution with bias.
pub fn conv1x1x1(c_in: usize, c_out: usize, device: &Device) -> Conv3d {
    Conv3dConfig::new([c_in, c_out], [1, 1, 1]).init(device)
}
