//! `[models]`: patch size and network sizes, and their conversion into the burn configs of
//! `crate::models`.

use serde::{Deserialize, Serialize};

use crate::models::{
    BlockMaskConfig, ConditionModelConfig, ConditionalGlowConfig, DescriptorModelConfig,
    DistilledUNetConfig, GaussianDensityConfig, SinCosPositionalConfig, UNet3dConfig,
};

/// Which density model `q(y | c)` to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DensityKind {
    Gaussian,
    Glow,
}

/// Patch and network sizes. Vectors of three are (i, j, k).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Crop size (i, j, k) the networks see. Paper: 96 x 96 x 64.
    pub patch: [usize; 3],
    /// Sliding-window overlap at inference. Reference code: 0.5.
    pub overlap: f64,
    /// UNet channels per level, finest first. Reference code: [16, 32, 64, 128, 256, 512].
    pub channels: Vec<usize>,
    pub blocks_per_level: usize,
    pub norm_groups: usize,
    /// d_desc. Paper: 32.
    pub descriptor_channels: usize,
    /// d_cond. Paper: 32.
    pub condition_channels: usize,
    /// Block masking of the condition model's input. Paper: p = 0.9, ratio 0.6, 24 x 24 x 16,
    /// a quarter of its crop per axis; the CPU default is a quarter of the CPU crop.
    pub mask_probability: f64,
    pub mask_ratio: f64,
    pub mask_block: [usize; 3],
    pub mask_token_init: f64,
    /// Gaussian density: hidden channels of the mean and log-variance nets.
    pub gaussian_hidden: usize,
    /// Glow: blocks and hidden channels. Reference code: 64 blocks, hidden 512.
    pub glow_blocks: usize,
    pub glow_hidden: usize,
    pub glow_coupling_kernel: usize,
    /// Sin-cos positional condition: frequencies per axis and wavelength range (mm).
    pub sincos_frequencies: usize,
    pub sincos_min_wavelength_mm: f64,
    pub sincos_max_wavelength_mm: f64,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            patch: [96, 96, 64],
            overlap: 0.5,
            channels: vec![8, 16, 32, 64],
            blocks_per_level: 1,
            norm_groups: 8,
            descriptor_channels: 32,
            condition_channels: 32,
            mask_probability: 0.9,
            mask_ratio: 0.6,
            mask_block: [12, 12, 8],
            mask_token_init: 0.0,
            gaussian_hidden: 64,
            glow_blocks: 8,
            glow_hidden: 128,
            glow_coupling_kernel: 1,
            sincos_frequencies: 8,
            sincos_min_wavelength_mm: 8.0,
            sincos_max_wavelength_mm: 1024.0,
        }
    }
}

impl ModelsConfig {
    /// Patch as a tensor shape `[k, j, i]`.
    pub fn patch_shape(&self) -> [usize; 3] {
        [self.patch[2], self.patch[1], self.patch[0]]
    }

    pub fn backbone(&self, out_channels: usize) -> UNet3dConfig {
        UNet3dConfig::new()
            .with_channels(self.channels.clone())
            .with_blocks_per_level(self.blocks_per_level)
            .with_norm_groups(self.norm_groups)
            .with_out_channels(out_channels)
    }

    pub fn descriptor(&self) -> DescriptorModelConfig {
        DescriptorModelConfig::new().with_backbone(self.backbone(self.descriptor_channels))
    }

    pub fn condition(&self) -> ConditionModelConfig {
        ConditionModelConfig::new()
            .with_backbone(self.backbone(self.condition_channels))
            .with_mask_token_init(self.mask_token_init)
    }

    pub fn block_mask(&self) -> BlockMaskConfig {
        let b = self.mask_block;
        BlockMaskConfig::new()
            .with_probability(self.mask_probability)
            .with_ratio(self.mask_ratio)
            .with_block([b[2], b[1], b[0]])
    }

    pub fn distilled(&self) -> DistilledUNetConfig {
        DistilledUNetConfig::new().with_backbone(self.backbone(self.descriptor_channels))
    }

    pub fn sincos(&self) -> SinCosPositionalConfig {
        SinCosPositionalConfig::new()
            .with_frequencies(self.sincos_frequencies)
            .with_min_wavelength_mm(self.sincos_min_wavelength_mm)
            .with_max_wavelength_mm(self.sincos_max_wavelength_mm)
    }

    pub fn gaussian(&self, condition_channels: usize) -> GaussianDensityConfig {
        GaussianDensityConfig::new()
            .with_descriptor_channels(self.descriptor_channels)
            .with_condition_channels(condition_channels)
            .with_hidden_channels(self.gaussian_hidden)
    }

    pub fn glow(&self, condition_channels: usize) -> ConditionalGlowConfig {
        ConditionalGlowConfig::new()
            .with_channels(self.descriptor_channels)
            .with_condition_channels(condition_channels)
            .with_blocks(self.glow_blocks)
            .with_hidden_channels(self.glow_hidden)
            .with_coupling_kernel(self.glow_coupling_kernel)
    }
}
