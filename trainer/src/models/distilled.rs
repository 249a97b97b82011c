//! Distilled model: one UNet mapping a CT patch straight to the modular pipeline's NLL map.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv3d;
use burn::tensor::{Device, Tensor};

use super::res_block::conv1x1x1;
use super::unet3d::{UNet3d, UNet3dConfig};

#[derive(Config, Debug)]
pub struct DistilledUNetConfig {
    #[config(default = "UNet3dConfig::new()")]
    pub backbone: UNet3dConfig,
}

/// Parameters: `backbone.<UNet3d path>`, `head.{weight [1, C_out, 1, 1, 1], bias [1]}`.
///
/// Forward: `head(backbone(x))` (Conv 1x1x1 to one channel, no activation); input
/// `[B, 1, D1, D2, D3]`, output `[B, 1, D1, D2, D3]`. Fine-tuning re-initialises `head` and
/// adds a Sigmoid.
#[derive(Module, Debug)]
pub struct DistilledUNet {
    pub backbone: UNet3d,
    pub head: Conv3d,
}

impl DistilledUNetConfig {
    pub fn init(&self, device: &Device) -> DistilledUNet {
        DistilledUNet {
            backbone: self.backbone.init(device),
            head: conv1x1x1(self.backbone.out_channels, 1, device),
        }
    }
}

impl DistilledUNet {
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.head.forward(self.backbone.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, randn};

    #[test]
    fn distilled_unet_outputs_one_channel_at_full_resolution() {
        let dev = device();
        let net = DistilledUNetConfig::new()
            .with_backbone(UNet3dConfig::new().with_channels(vec![4, 8]))
            .init(&dev);
        assert_eq!(
            net.forward(randn([2, 1, 4, 6, 8], &dev)).dims(),
            [2, 1, 4, 6, 8]
        );
    }
}
