//! Dense VICReg (paper appendix B, eqs. 2-5): positive descriptor pairs go through a shared
//! expander; the loss pulls each pair together (invariance) and keeps every embedding
//! dimension spread out (variance) and decorrelated from the others (covariance).

use burn::module::Module;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::mlp::RowMlp;

/// How the variance and covariance terms of the two views are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewReduction {
    /// Average of the two views (ref. code, and the VICReg paper's variance term).
    Mean,
    /// Sum over the two views, as eqs. 4-5 of the Screener paper are written.
    Sum,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VicregConfig {
    /// Descriptor channels entering the expander (d_desc; 32 in the paper).
    pub input_channels: usize,
    /// Widths of the expander's layers after the input. Paper: [8192, 8192, 8192]. CPU
    /// default [256, 256, 256]: the covariance term costs D^2 per voxel pair.
    pub expander_dims: Vec<usize>,
    /// GroupNorm groups of the hidden layers (`gcd` with the width).
    pub norm_groups: usize,
    /// Loss = invariance_weight * inv + variance_weight * var + covariance_weight * cov.
    /// Paper: 25, 25, 1.
    pub invariance_weight: f64,
    pub variance_weight: f64,
    pub covariance_weight: f64,
    /// Hinge of the standard deviation. Paper: 1.
    pub variance_target: f64,
    /// Added to the variance under the square root. Paper: 1e-4.
    pub epsilon: f64,
    pub view_reduction: ViewReduction,
}

impl Default for VicregConfig {
    fn default() -> Self {
        Self {
            input_channels: 32,
            expander_dims: vec![256, 256, 256],
            norm_groups: 8,
            invariance_weight: 25.0,
            variance_weight: 25.0,
            covariance_weight: 1.0,
            variance_target: 1.0,
            epsilon: 1e-4,
            view_reduction: ViewReduction::Mean,
        }
    }
}

impl VicregConfig {
    /// The expander: hidden layers with bias, GroupNorm and SiLU; last layer without bias.
    pub fn init(&self, device: &Device) -> VicregExpander {
        let mut dims = vec![self.input_channels];
        dims.extend(&self.expander_dims);
        VicregExpander {
            mlp: RowMlp::new(&dims, self.norm_groups, false, device),
        }
    }
}

#[derive(Module, Debug)]
pub struct VicregExpander {
    pub mlp: RowMlp,
}

impl VicregExpander {
    pub fn forward(&self, y: Tensor<2>) -> Tensor<2> {
        self.mlp.forward(y)
    }
}

/// The terms of one VICReg evaluation (each `[1]`).
#[derive(Debug, Clone)]
pub struct VicregTerms {
    pub loss: Tensor<1>,
    pub invariance: Tensor<1>,
    pub variance: Tensor<1>,
    pub covariance: Tensor<1>,
}

/// VICReg of embeddings `z1`, `z2` (`[N, D]`, row `n` of both is a positive pair):
/// `inv = mean((z1 - z2)^2)`; per view, with `C` the covariance (unbiased, `/ (N - 1)`)
/// `var = mean_d relu(target - sqrt(C_dd + eps))` and `cov = sum_{d != e} C_de^2 / D`,
/// reduced over the views by `cfg.view_reduction`.
pub fn vicreg_loss(z1: Tensor<2>, z2: Tensor<2>, cfg: &VicregConfig) -> VicregTerms {
    let [n, _] = z1.dims();
    assert!(n >= 2, "VICReg needs at least two pairs, got {n}");
    let invariance = (z1.clone() - z2.clone()).square().mean();
    let (v1, c1) = variance_and_covariance(z1, cfg);
    let (v2, c2) = variance_and_covariance(z2, cfg);
    let scale = match cfg.view_reduction {
        ViewReduction::Mean => 0.5,
        ViewReduction::Sum => 1.0,
    };
    let variance = (v1 + v2) * scale;
    let covariance = (c1 + c2) * scale;
    let loss = invariance.clone() * cfg.invariance_weight
        + variance.clone() * cfg.variance_weight
        + covariance.clone() * cfg.covariance_weight;
    VicregTerms {
        loss,
        invariance,
        variance,
        covariance,
    }
}

fn variance_and_covariance(z: Tensor<2>, cfg: &VicregConfig) -> (Tensor<1>, Tensor<1>) {
    let [n, d] = z.dims();
    let centred = z.clone() - z.mean_dim(0);
    let var = centred.clone().square().sum_dim(0) / (n - 1) as f64;
    let std = (var.clone() + cfg.epsilon).sqrt();
    let variance = relu(std.neg() + cfg.variance_target).mean();
    let cov = centred.clone().transpose().matmul(centred) / (n - 1) as f64;
    // Off-diagonal squares = all squares minus the diagonal's, which is `var`.
    let covariance = (cov.square().sum() - var.square().sum()) / d as f64;
    (variance, covariance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, to_vec};
    use burn::tensor::TensorData;

    fn rows(values: &[[f64; 3]], dev: &Device) -> Tensor<2> {
        let flat: Vec<f32> = values.iter().flatten().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(flat, [values.len(), 3]), dev)
    }

    /// The paper's formulas with plain f64 loops.
    fn reference(z1: &[[f64; 3]], z2: &[[f64; 3]], sum_views: bool) -> [f64; 3] {
        let (n, d) = (z1.len(), 3);
        let mut inv = 0.0;
        for i in 0..n {
            for k in 0..d {
                inv += (z1[i][k] - z2[i][k]).powi(2);
            }
        }
        inv /= (n * d) as f64;
        let mut var_total = 0.0;
        let mut cov_total = 0.0;
        for z in [z1, z2] {
            let mean: Vec<f64> = (0..d)
                .map(|k| z.iter().map(|r| r[k]).sum::<f64>() / n as f64)
                .collect();
            let mut c = [[0.0; 3]; 3];
            for (a, row) in c.iter_mut().enumerate() {
                for (b, cell) in row.iter_mut().enumerate() {
                    *cell = z
                        .iter()
                        .map(|r| (r[a] - mean[a]) * (r[b] - mean[b]))
                        .sum::<f64>()
                        / (n - 1) as f64;
                }
            }
            var_total += (0..d)
                .map(|k| (1.0 - (c[k][k] + 1e-4).sqrt()).max(0.0))
                .sum::<f64>()
                / d as f64;
            let mut off = 0.0;
            for (a, row) in c.iter().enumerate() {
                for (b, cell) in row.iter().enumerate() {
                    if a != b {
                        off += cell * cell;
                    }
                }
            }
            cov_total += off / d as f64;
        }
        let k = if sum_views { 1.0 } else { 0.5 };
        [inv, var_total * k, cov_total * k]
    }

    const Z1: [[f64; 3]; 4] = [
        [0.5, -0.2, 0.1],
        [0.1, 0.3, -0.4],
        [-0.6, 0.2, 0.9],
        [0.2, -0.1, 0.3],
    ];
    const Z2: [[f64; 3]; 4] = [
        [0.4, -0.1, 0.0],
        [0.3, 0.2, -0.5],
        [-0.5, 0.6, 1.2],
        [2.0, -1.5, 0.2],
    ];

    #[test]
    fn vicreg_terms_match_the_paper_formulas_on_a_tiny_batch() {
        let dev = device();
        for (reduction, sum_views) in [(ViewReduction::Mean, false), (ViewReduction::Sum, true)] {
            let cfg = VicregConfig {
                view_reduction: reduction,
                ..VicregConfig::default()
            };
            let t = vicreg_loss(rows(&Z1, &dev), rows(&Z2, &dev), &cfg);
            let [inv, var, cov] = reference(&Z1, &Z2, sum_views);
            let got = [t.invariance, t.variance, t.covariance].map(|x| to_vec(x)[0] as f64);
            for (g, w) in got.iter().zip([inv, var, cov]) {
                assert!(
                    (g - w).abs() < 1e-5 * (1.0 + w.abs()),
                    "{reduction:?}: {got:?} vs {w}"
                );
            }
            let loss = to_vec(t.loss)[0] as f64;
            let want = 25.0 * inv + 25.0 * var + cov;
            assert!((loss - want).abs() < 1e-4 * want, "{loss} vs {want}");
            // The variance hinge is active on this batch, so every term contributes.
            assert!(var > 0.1 && cov > 0.0 && inv > 0.0);
        }
    }

    #[test]
    fn gradients_reach_the_expander_and_a_step_changes_its_weights() {
        use burn::optim::{GradientsParams, SgdConfig};
        let dev = device().autodiff();
        let cfg = VicregConfig {
            input_channels: 3,
            expander_dims: vec![8, 8],
            norm_groups: 2,
            ..VicregConfig::default()
        };
        let expander = cfg.init(&dev);
        let before = to_vec(expander.mlp.out.weight.val());
        let t = vicreg_loss(
            expander.forward(rows(&Z1, &dev)),
            expander.forward(rows(&Z2, &dev)),
            &cfg,
        );
        let grads = GradientsParams::from_grads(t.loss.backward(), &expander);
        let g = grads
            .get::<2>(expander.mlp.hidden[0].linear.weight.id)
            .expect("first layer gradient");
        assert!(to_vec(g).iter().any(|v| v.abs() > 0.0));
        let mut optim = SgdConfig::new().init();
        let expander = optim.step(0.1, expander, grads);
        let after = to_vec(expander.mlp.out.weight.val());
        assert!(before.iter().zip(&after).any(|(a, b)| a != b));
    }
}
