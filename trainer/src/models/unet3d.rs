//! The 3D UNet backbone shared by the descriptor, condition and distilled models.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::nn::PaddingConfig3d;
use burn::tensor::{Device, Tensor};

use super::ops::upsample_nearest_2x;
use super::res_block::{conv1x1x1, conv3x3x3, ResBlock, ResBlockConfig};

/// UNet hyper-parameters. Reference code: 6 levels `[16, 32, 64, 128, 256, 512]`; the default
/// is a CPU-sized 4-level model.
#[derive(Config, Debug)]
pub struct UNet3dConfig {
    #[config(default = 1)]
    pub in_channels: usize,
    /// Channels per level, finest first; level `l` runs at resolution `/ 2^l`.
    #[config(default = "vec![8, 16, 32, 64]")]
    pub channels: Vec<usize>,
    /// Residual blocks per level, in the encoder and again in the decoder.
    #[config(default = 1)]
    pub blocks_per_level: usize,
    /// Channels of the summed full-resolution output map.
    #[config(default = 32)]
    pub out_channels: usize,
    #[config(default = 8)]
    pub norm_groups: usize,
    #[config(default = 1e-5)]
    pub norm_eps: f64,
}

/// One encoder level: an optional stride-2 down convolution, then residual blocks.
#[derive(Module, Debug)]
pub struct EncoderLevel {
    /// `weight [C_l, C_{l-1}, 3, 3, 3]`, `bias [C_l]`; stride 2, pads 1. `None` at level 0.
    pub down: Option<Conv3d>,
    pub blocks: Vec<ResBlock>,
}

/// One decoder level `l < L-1`: transposed-conv upsampling, concat with the skip, 1x1x1 fuse.
#[derive(Module, Debug)]
pub struct DecoderLevel {
    /// ConvTranspose `weight [C_{l+1}, C_l, 2, 2, 2]`, `bias [C_l]`; kernel 2, stride 2, pads 0.
    pub up: ConvTranspose3d,
    /// `weight [C_l, 2 C_l, 1, 1, 1]`, `bias [C_l]`; input is `Concat([up, skip], axis=1)`.
    pub fuse: Conv3d,
    pub blocks: Vec<ResBlock>,
}

/// 3D UNet producing a full-resolution `out_channels` map.
///
/// Input `[B, in_channels, D1, D2, D3]`, each spatial size divisible by `2^(L-1)`; output
/// `[B, out_channels, D1, D2, D3]`. Parameter paths (burn-store / safetensors keys) are the
/// field paths, e.g. `stem.weight`, `encoder.1.down.weight`, `encoder.0.blocks.0.norm1.gamma`,
/// `decoder.0.up.weight`, `decoder.0.fuse.bias`, `heads.3.weight`.
///
/// Forward (L = number of levels, C_l = `channels[l]`):
/// 1. `h = stem(x)`: Conv 3x3x3, pads 1, `in_channels -> C_0`.
/// 2. For l in 0..L: if l > 0 `h = encoder[l].down(h)` (Conv 3x3x3 stride 2 pads 1,
///    `C_{l-1} -> C_l`); `h = encoder[l].blocks[..](h)` (see `ResBlock`); `skip_l = h`.
/// 3. `dec = skip_{L-1}`; `out = heads[L-1](dec)` (Conv 1x1x1 `C_{L-1} -> out_channels`).
/// 4. For l in (0..L-1) descending: `u = decoder[l].up(dec)` (ConvTranspose k2 s2);
///    `dec = decoder[l].fuse(Concat([u, skip_l], axis=1))`; `dec = decoder[l].blocks[..](dec)`;
///    `out = heads[l](dec) + upsample_nearest_2x(out)`.
/// 5. Return `out`.
#[derive(Module, Debug)]
pub struct UNet3d {
    pub stem: Conv3d,
    pub encoder: Vec<EncoderLevel>,
    /// `decoder[l]` for l in 0..L-1 (the deepest level has no decoder).
    pub decoder: Vec<DecoderLevel>,
    /// `heads[l]`: `weight [out_channels, C_l, 1, 1, 1]`, `bias [out_channels]`.
    pub heads: Vec<Conv3d>,
}

impl UNet3dConfig {
    pub fn init(&self, device: &Device) -> UNet3d {
        assert!(!self.channels.is_empty(), "UNet3d needs at least one level");
        let ch = &self.channels;
        let blocks = |c: usize| -> Vec<ResBlock> {
            (0..self.blocks_per_level)
                .map(|_| {
                    ResBlockConfig::new(c)
                        .with_norm_groups(self.norm_groups)
                        .with_norm_eps(self.norm_eps)
                        .init(device)
                })
                .collect()
        };
        let encoder = ch
            .iter()
            .enumerate()
            .map(|(l, &c)| EncoderLevel {
                down: (l > 0).then(|| {
                    Conv3dConfig::new([ch[l - 1], c], [3, 3, 3])
                        .with_stride([2, 2, 2])
                        .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                        .init(device)
                }),
                blocks: blocks(c),
            })
            .collect();
        let decoder = (0..ch.len() - 1)
            .map(|l| DecoderLevel {
                up: ConvTranspose3dConfig::new([ch[l + 1], ch[l]], [2, 2, 2])
                    .with_stride([2, 2, 2])
                    .init(device),
                fuse: conv1x1x1(2 * ch[l], ch[l], device),
                blocks: blocks(ch[l]),
            })
            .collect();
        let heads = ch
            .iter()
            .map(|&c| conv1x1x1(c, self.out_channels, device))
            .collect();
        UNet3d {
            stem: conv3x3x3(self.in_channels, ch[0], device),
            encoder,
            decoder,
            heads,
        }
    }
}

impl UNet3d {
    pub fn levels(&self) -> usize {
        self.encoder.len()
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let levels = self.levels();
        let [_, _, d1, d2, d3] = x.dims();
        let factor = 1 << (levels - 1);
        assert!(
            d1 % factor == 0 && d2 % factor == 0 && d3 % factor == 0,
            "UNet3d with {levels} levels needs spatial sizes divisible by {factor}, got {:?}",
            [d1, d2, d3]
        );

        let mut h = self.stem.forward(x);
        let mut skips = Vec::with_capacity(levels);
        for level in &self.encoder {
            if let Some(down) = &level.down {
                h = down.forward(h);
            }
            for block in &level.blocks {
                h = block.forward(h);
            }
            skips.push(h.clone());
        }

        let mut dec = skips.pop().expect("at least one level");
        let mut out = self.heads[levels - 1].forward(dec.clone());
        for l in (0..levels - 1).rev() {
            let level = &self.decoder[l];
            let up = level.up.forward(dec);
            let skip = skips.pop().expect("one skip per level");
            dec = level.fuse.forward(Tensor::cat(vec![up, skip], 1));
            for block in &level.blocks {
                dec = block.forward(dec);
            }
            out = self.heads[l].forward(dec.clone()) + upsample_nearest_2x(out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, randn};

    #[test]
    fn unet_maps_a_patch_to_a_full_resolution_out_channels_map() {
        let dev = device();
        let net = UNet3dConfig::new()
            .with_channels(vec![4, 8, 16])
            .with_out_channels(5)
            .init(&dev);
        let y = net.forward(randn([2, 1, 8, 12, 16], &dev));
        assert_eq!(y.dims(), [2, 5, 8, 12, 16]);
    }

    #[test]
    fn unet_parameter_count_grows_with_the_reference_channels() {
        let dev = device();
        let small = UNet3dConfig::new().init(&dev).num_params();
        let reference = UNet3dConfig::new()
            .with_channels(vec![16, 32, 64, 128, 256, 512])
            .init(&dev)
            .num_params();
        assert!(small < 1_000_000, "CPU default has {small} parameters");
        assert!(reference > 10 * small);
    }

    #[test]
    #[should_panic(expected = "divisible by 4")]
    fn unet_rejects_sizes_not_divisible_by_the_coarsest_stride() {
        let dev = device();
        let net = UNet3dConfig::new().with_channels(vec![4, 8, 16]).init(&dev);
        net.forward(randn([1, 1, 8, 8, 6], &dev));
    }
}
