//! Descriptor model `f`: CT patch -> full-resolution descriptor map `y` (32-d by default).

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use super::unet3d::{UNet3d, UNet3dConfig};

#[derive(Config, Debug)]
pub struct DescriptorModelConfig {
    /// `out_channels` is d_desc (32 in the method).
    #[config(default = "UNet3dConfig::new()")]
    pub backbone: UNet3dConfig,
}

/// Forward: `backbone(x)`; input `[B, 1, D1, D2, D3]`, output `[B, d_desc, D1, D2, D3]`.
/// Parameter paths: `backbone.<UNet3d path>`.
#[derive(Module, Debug)]
pub struct DescriptorModel {
    pub backbone: UNet3d,
}

impl DescriptorModelConfig {
    pub fn init(&self, device: &Device) -> DescriptorModel {
        DescriptorModel {
            backbone: self.backbone.init(device),
        }
    }
}

impl DescriptorModel {
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.backbone.forward(x)
    }
}
