//! The networks of the method, one file each, plus the pieces they share.
//!
//! Tensor layout everywhere: `[batch, channels, d1, d2, d3]` with `d1 = k` (slices),
//! `d2 = j` (rows), `d3 = i` (columns). A 96 x 96 x 64 (i, j, k) patch is `[B, 1, 64, 96, 96]`.
//! Every forward uses only operations with a one-to-one ONNX counterpart (Conv, ConvTranspose,
//! GroupNormalization or its ReduceMean decomposition, Sigmoid, Mul, Add, Sub, Div, Exp, Log,
//! Concat, Slice, Reshape, Expand, ReduceMean, ReduceSum); each model's doc states its forward.

pub mod block_mask;
pub mod condition;
pub mod descriptor;
pub mod distilled;
pub mod gaussian;
pub mod glow;
pub mod ops;
pub mod persist;
pub mod pooling;
pub mod positional;
pub mod res_block;
pub mod unet3d;

#[cfg(test)]
pub(crate) mod test_util;

pub use block_mask::BlockMaskConfig;
pub use condition::{ConditionModel, ConditionModelConfig};
pub use descriptor::{DescriptorModel, DescriptorModelConfig};
pub use distilled::{DistilledUNet, DistilledUNetConfig};
pub use gaussian::{GaussianDensity, GaussianDensityConfig, GaussianScore};
pub use glow::{ConditionalGlow, ConditionalGlowConfig};
pub use persist::{load_network, save_network, Network};
pub use pooling::avg_pool_3x3x2;
pub use positional::SinCosPositionalConfig;
pub use unet3d::{UNet3d, UNet3dConfig};
