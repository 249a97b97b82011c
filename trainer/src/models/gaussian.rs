//! Conditional diagonal Gaussian density `q(y | c)` on pooled maps: mean and log-variance
//! predicted from the condition by small 3x3x3 conv nets.

use std::f64::consts::PI;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{Initializer, PaddingConfig3d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::ops::silu;
use super::res_block::conv3x3x3;

#[derive(Config, Debug)]
pub struct GaussianDensityConfig {
    /// d_desc: channels of `y`.
    #[config(default = 32)]
    pub descriptor_channels: usize,
    /// d_cond: channels of `c`.
    #[config(default = 32)]
    pub condition_channels: usize,
    #[config(default = 64)]
    pub hidden_channels: usize,
}

/// Two-layer conv net `Conv3x3x3(c_in -> hidden) -> SiLU -> Conv3x3x3(hidden -> c_out)`.
/// Parameters: `hidden.{weight [H, C_in, 3,3,3], bias [H]}`, `out.{weight [C_out, H, 3,3,3],
/// bias [C_out]}`; both convs stride 1, pads 1.
#[derive(Module, Debug)]
pub struct ConvHead {
    pub hidden: Conv3d,
    pub out: Conv3d,
}

impl ConvHead {
    /// The output layer starts at zero so that an untrained density is the standard normal.
    pub fn new(c_in: usize, hidden: usize, c_out: usize, device: &Device) -> Self {
        Self {
            hidden: conv3x3x3(c_in, hidden, device),
            out: Conv3dConfig::new([hidden, c_out], [3, 3, 3])
                .with_padding(PaddingConfig3d::Explicit(1, 1, 1))
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        self.out.forward(silu(self.hidden.forward(x)))
    }
}

/// Parameters: `mean.<ConvHead>` (`C_cond -> C_desc`), `log_var.<ConvHead>` (`C_cond -> C_desc`).
///
/// Forward on `y [B, D, N1, N2, N3]`, `c [B, C_cond, N1, N2, N3]`:
/// `mu = mean(c)`, `lv = log_var(c)`,
/// `nll = 0.5 * ReduceSum_axis1((y - mu)^2 * exp(-lv) + lv + ln(2 pi))` -> `[B, 1, N1, N2, N3]`.
#[derive(Module, Debug)]
pub struct GaussianDensity {
    pub mean: ConvHead,
    pub log_var: ConvHead,
}

impl GaussianDensityConfig {
    pub fn init(&self, device: &Device) -> GaussianDensity {
        let head = || {
            ConvHead::new(
                self.condition_channels,
                self.hidden_channels,
                self.descriptor_channels,
                device,
            )
        };
        GaussianDensity {
            mean: head(),
            log_var: head(),
        }
    }
}

impl GaussianDensity {
    /// `(mu, log sigma^2)`, each `[B, D, N1, N2, N3]`.
    pub fn params(&self, c: Tensor<5>) -> (Tensor<5>, Tensor<5>) {
        (self.mean.forward(c.clone()), self.log_var.forward(c))
    }

    /// Per-voxel negative log-density `[B, 1, N1, N2, N3]`.
    pub fn nll(&self, y: Tensor<5>, c: Tensor<5>) -> Tensor<5> {
        let (mu, log_var) = self.params(c);
        let diff = y - mu;
        let terms = diff.clone() * diff * log_var.clone().neg().exp() + log_var + (2.0 * PI).ln();
        terms.sum_dim(1) * 0.5
    }

    /// The NLL less its expectation under the predicted Gaussian,
    /// `0.5 * sum_d((y - mu)^2 / sigma^2 - 1)`: zero on average wherever the model is
    /// calibrated, whatever the tissue's variance (see [`GaussianScore::ExcessNll`]).
    pub fn excess_nll(&self, y: Tensor<5>, c: Tensor<5>) -> Tensor<5> {
        let (mu, log_var) = self.params(c);
        let diff = y - mu;
        let terms = diff.clone() * diff * log_var.neg().exp() - 1.0;
        terms.sum_dim(1) * 0.5
    }

    /// The anomaly score `score` per pooled voxel, `[B, 1, n1, n2, n3]`.
    pub fn score(&self, y: Tensor<5>, c: Tensor<5>, score: GaussianScore) -> Tensor<5> {
        match score {
            GaussianScore::Nll => self.nll(y, c),
            GaussianScore::ExcessNll => self.excess_nll(y, c),
        }
    }
}

/// What a Gaussian density reports per voxel as the anomaly score. Spelt `nll` and
/// `excess_nll` in configs, manifests and on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum GaussianScore {
    /// The negative log-likelihood (METHOD.md, the paper).
    #[default]
    #[value(name = "nll")]
    Nll,
    /// The NLL less its expectation given the condition. The NLL's `0.5 * sum(log sigma^2)`
    /// is large wherever the model expects variety (lung, bone), so lesions in quiet tissue
    /// (liver) rank below normal lung; this score drops that baseline
    /// (docs/model-card.md, "What the maps find and what they miss").
    #[value(name = "excess_nll", alias = "excess-nll")]
    ExcessNll,
}

impl GaussianScore {
    /// The density network's output name in a bundle.
    pub fn output_name(self) -> &'static str {
        match self {
            GaussianScore::Nll => "nll",
            GaussianScore::ExcessNll => "excess_nll",
        }
    }

    /// The score a density network reports, from its output name in a bundle.
    pub fn from_output_name(name: &str) -> Option<Self> {
        [GaussianScore::Nll, GaussianScore::ExcessNll]
            .into_iter()
            .find(|s| s.output_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, randn, to_vec};
    use burn::module::Param;

    fn randomise_output_layers(mut q: GaussianDensity, dev: &Device) -> GaussianDensity {
        let rand_like = |w: &Param<Tensor<5>>| Param::from_tensor(randn(w.dims(), dev) * 0.1);
        q.mean.out.weight = rand_like(&q.mean.out.weight);
        q.log_var.out.weight = rand_like(&q.log_var.out.weight);
        q
    }

    /// A Gaussian with 3 descriptor and 2 condition channels and random output layers, and
    /// `y`, `c` for 2 x 12 voxels.
    fn small_case() -> (GaussianDensity, Tensor<5>, Tensor<5>) {
        let dev = device();
        let q = GaussianDensityConfig::new()
            .with_descriptor_channels(3)
            .with_condition_channels(2)
            .with_hidden_channels(4)
            .init(&dev);
        let q = randomise_output_layers(q, &dev);
        (
            q,
            randn([2, 3, 2, 3, 2], &dev),
            randn([2, 2, 2, 3, 2], &dev),
        )
    }

    #[test]
    fn gaussian_nll_matches_the_closed_form_in_f64() {
        let (q, y, c) = small_case();
        let (mu, lv) = q.params(c.clone());
        let nll = q.nll(y.clone(), c);
        assert_eq!(nll.dims(), [2, 1, 2, 3, 2]);
        let (ys, mus, lvs, nlls) = (to_vec(y), to_vec(mu), to_vec(lv), to_vec(nll));
        let voxels = 12;
        for b in 0..2 {
            for v in 0..voxels {
                let mut expected = 0.0f64;
                for d in 0..3 {
                    let i = (b * 3 + d) * voxels + v;
                    let (y, m, l) = (ys[i] as f64, mus[i] as f64, lvs[i] as f64);
                    expected += 0.5 * ((y - m).powi(2) / l.exp() + l + (2.0 * PI).ln());
                }
                let got = nlls[b * voxels + v] as f64;
                assert!((got - expected).abs() < 1e-4 * expected.abs().max(1.0));
            }
        }
    }

    #[test]
    fn excess_nll_is_the_nll_less_its_expectation_under_the_prediction() {
        let (q, y, c) = small_case();
        let (_, lv) = q.params(c.clone());
        let nll = to_vec(q.score(y.clone(), c.clone(), GaussianScore::Nll));
        let excess = to_vec(q.score(y, c, GaussianScore::ExcessNll));
        let lvs = to_vec(lv);
        let voxels = 12;
        for b in 0..2 {
            for v in 0..voxels {
                // E[NLL] = 0.5 * sum_d(1 + log sigma_d^2 + ln 2pi).
                let expectation: f64 = (0..3)
                    .map(|d| 0.5 * (1.0 + lvs[(b * 3 + d) * voxels + v] as f64 + (2.0 * PI).ln()))
                    .sum();
                let (got, want) = (excess[b * voxels + v] as f64, nll[b * voxels + v] as f64);
                assert!((got - (want - expectation)).abs() < 1e-4 * want.abs().max(1.0));
            }
        }
    }

    #[test]
    fn untrained_gaussian_is_the_standard_normal() {
        let dev = device();
        let q = GaussianDensityConfig::new()
            .with_descriptor_channels(2)
            .with_condition_channels(3)
            .init(&dev);
        let y = Tensor::<5>::zeros([1, 2, 1, 1, 1], &dev);
        let nll = to_vec(q.nll(y, randn([1, 3, 1, 1, 1], &dev)))[0] as f64;
        assert!((nll - (2.0 * PI).ln()).abs() < 1e-5);
    }
}
