//! Condition model `g`: the descriptor backbone fed with a block-masked input, where masked
//! voxels hold a learned scalar token, so that its output encodes context, not local content.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::unet3d::{UNet3d, UNet3dConfig};

#[derive(Config, Debug)]
pub struct ConditionModelConfig {
    /// `out_channels` is d_cond.
    #[config(default = "UNet3dConfig::new()")]
    pub backbone: UNet3dConfig,
    /// Initial value of the mask token (inputs are intensities scaled to [0, 1]).
    #[config(default = 0.0)]
    pub mask_token_init: f64,
}

/// Parameters: `mask_token [1]`, `backbone.<UNet3d path>`.
///
/// Forward with mask `m` (`[B, 1, D1, D2, D3]`, 1 = masked, 0 = visible):
/// `x' = x * (1 - m) + mask_token * m` (ONNX: Sub, Mul, Mul, Add; `mask_token` broadcast),
/// then `backbone(x')`. Without a mask (inference) the forward is `backbone(x)`.
#[derive(Module, Debug)]
pub struct ConditionModel {
    pub mask_token: Param<Tensor<1>>,
    pub backbone: UNet3d,
}

impl ConditionModelConfig {
    pub fn init(&self, device: &Device) -> ConditionModel {
        ConditionModel {
            mask_token: Param::from_tensor(Tensor::from_floats(
                [self.mask_token_init as f32],
                device,
            )),
            backbone: self.backbone.init(device),
        }
    }
}

impl ConditionModel {
    pub fn forward(&self, x: Tensor<5>, mask: Option<Tensor<5>>) -> Tensor<5> {
        let x = match mask {
            Some(m) => self.apply_mask(x, m),
            None => x,
        };
        self.backbone.forward(x)
    }

    /// Replaces the masked voxels of `x` by the mask token.
    pub fn apply_mask(&self, x: Tensor<5>, mask: Tensor<5>) -> Tensor<5> {
        let token = self.mask_token.val().reshape([1, 1, 1, 1, 1]);
        x * (mask.clone().neg() + 1.0) + mask * token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, randn, to_vec};

    #[test]
    fn masked_voxels_take_the_token_and_visible_voxels_keep_their_value() {
        let dev = device();
        let model = ConditionModelConfig::new()
            .with_mask_token_init(0.25)
            .with_backbone(UNet3dConfig::new().with_channels(vec![4]))
            .init(&dev);
        let x = randn([1, 1, 2, 2, 2], &dev);
        let m = Tensor::<1>::from_floats([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], &dev)
            .reshape([1, 1, 2, 2, 2]);
        let xs = to_vec(x.clone());
        let out = to_vec(model.apply_mask(x, m.clone()));
        for (i, ((o, xv), mv)) in out.iter().zip(&xs).zip(to_vec(m)).enumerate() {
            let expected = if mv > 0.5 { 0.25 } else { *xv };
            assert!((o - expected).abs() < 1e-6, "voxel {i}: {o} vs {expected}");
        }
    }

    #[test]
    fn condition_model_output_has_the_backbone_channels() {
        let dev = device();
        let model = ConditionModelConfig::new()
            .with_backbone(
                UNet3dConfig::new()
                    .with_channels(vec![4, 8])
                    .with_out_channels(6),
            )
            .init(&dev);
        let x = randn([1, 1, 4, 4, 4], &dev);
        let m = Tensor::<5>::ones([1, 1, 4, 4, 4], &dev);
        assert_eq!(model.forward(x, Some(m)).dims(), [1, 6, 4, 4, 4]);
    }
}
