//! Conditional normalising flow (Glow) `q(y | c)`: blocks of conditional ActNorm, LU
//! 1x1x1 channel mixing and conditional affine coupling, applied voxel-wise to pooled maps.

mod actnorm;
mod coupling;
mod inv_conv;
pub mod linalg;
#[cfg(test)]
mod tests;

use std::f64::consts::PI;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

pub use actnorm::CondActNorm;
pub use coupling::{AffineCoupling, CouplingShape};
pub use inv_conv::InvConv1x1;

/// Reference code: 64 blocks, hidden 512. The default is CPU-sized.
#[derive(Config, Debug)]
pub struct ConditionalGlowConfig {
    /// D = d_desc.
    #[config(default = 32)]
    pub channels: usize,
    /// d_cond.
    #[config(default = 32)]
    pub condition_channels: usize,
    #[config(default = 8)]
    pub blocks: usize,
    #[config(default = 128)]
    pub hidden_channels: usize,
    /// Kernel of the coupling net's first conv (1 or 3).
    #[config(default = 1)]
    pub coupling_kernel: usize,
    /// Coupling scale `sigmoid(s + 2) / sigmoid(2)` (true) instead of `sigmoid(s + 2)` (false,
    /// reference code): with zero-initialised last layers the flow then starts as the identity.
    #[config(default = true)]
    pub identity_at_init: bool,
}

/// One flow step: `actnorm -> mix -> coupling`.
#[derive(Module, Debug)]
pub struct GlowBlock {
    pub actnorm: CondActNorm,
    pub mix: InvConv1x1,
    pub coupling: AffineCoupling,
}

/// Parameters: `blocks.<i>.{actnorm, mix, coupling}.<...>` (see each layer's doc).
///
/// Forward `z = f(y; c)` on `y [B, D, N1, N2, N3]`, `c [B, C_cond, N1, N2, N3]`: for each block
/// in order, `y = actnorm(y, c)`, `y = mix(y)`, `y = coupling(y, c)`, summing the per-voxel
/// log-determinants. Block `i` has `coupling.swap = (i odd)`.
/// `nll = 0.5 * ReduceSum_axis1(z^2) + (D / 2) ln(2 pi) - logdet` -> `[B, 1, N1, N2, N3]`.
#[derive(Module, Debug)]
pub struct ConditionalGlow {
    pub blocks: Vec<GlowBlock>,
}

impl ConditionalGlowConfig {
    pub fn init(&self, device: &Device) -> ConditionalGlow {
        let blocks = (0..self.blocks)
            .map(|i| GlowBlock {
                actnorm: CondActNorm::new(self.channels, self.condition_channels, device),
                mix: InvConv1x1::new(self.channels, device),
                coupling: AffineCoupling::new(
                    &CouplingShape {
                        channels: self.channels,
                        condition_channels: self.condition_channels,
                        hidden_channels: self.hidden_channels,
                        kernel: self.coupling_kernel,
                        swap: i % 2 == 1,
                        identity_at_init: self.identity_at_init,
                    },
                    device,
                ),
            })
            .collect();
        ConditionalGlow { blocks }
    }
}

impl ConditionalGlow {
    /// `(z, log|det dz/dy|)`, the log-determinant per voxel as `[B, 1, N1, N2, N3]`.
    pub fn forward(&self, y: Tensor<5>, c: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        let [b, _, n1, n2, n3] = y.dims();
        let mut logdet = Tensor::<5>::zeros([b, 1, n1, n2, n3], &y.device());
        let mut x = y;
        for block in &self.blocks {
            let (h, ld_norm) = block.actnorm.forward(x, c.clone());
            let (h, ld_mix) = block.mix.forward(h);
            let (h, ld_coupling) = block.coupling.forward(h, c.clone());
            logdet = logdet + ld_norm + ld_mix + ld_coupling;
            x = h;
        }
        (x, logdet)
    }

    /// Per-voxel negative log-density `[B, 1, N1, N2, N3]`.
    pub fn nll(&self, y: Tensor<5>, c: Tensor<5>) -> Tensor<5> {
        let d = y.dims()[1] as f64;
        let (z, logdet) = self.forward(y, c);
        (z.clone() * z).sum_dim(1) * 0.5 + 0.5 * d * (2.0 * PI).ln() - logdet
    }

    /// `y = f^-1(z; c)`.
    pub fn inverse(&self, z: Tensor<5>, c: Tensor<5>) -> Tensor<5> {
        let mut x = z;
        for block in self.blocks.iter().rev() {
            x = block.coupling.inverse(x, c.clone());
            x = block.mix.inverse(x);
            x = block.actnorm.inverse(x, c.clone());
        }
        x
    }
}
