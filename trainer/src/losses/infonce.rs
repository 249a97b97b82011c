//! Dense InfoNCE (paper appendix B, eq. 1): positive descriptor pairs go through a shared
//! projector and are L2-normalised; each embedding must pick its partner out of all other
//! embeddings of the batch, of both views.

use burn::module::Module;
use burn::tensor::{Bool, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::mlp::RowMlp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfoNceConfig {
    /// Descriptor channels entering the projector (d_desc).
    pub input_channels: usize,
    /// Widths of the projector's layers after the input; the last is the embedding (paper:
    /// 128). CPU default [128, 128]: one hidden layer as in SimCLR.
    pub projector_dims: Vec<usize>,
    pub norm_groups: usize,
    /// Softmax temperature. Paper: 0.1.
    pub temperature: f64,
}

impl Default for InfoNceConfig {
    fn default() -> Self {
        Self {
            input_channels: 32,
            projector_dims: vec![128, 128],
            norm_groups: 8,
            temperature: 0.1,
        }
    }
}

impl InfoNceConfig {
    pub fn init(&self, device: &Device) -> InfoNceProjector {
        let mut dims = vec![self.input_channels];
        dims.extend(&self.projector_dims);
        InfoNceProjector {
            mlp: RowMlp::new(&dims, self.norm_groups, true, device),
        }
    }
}

#[derive(Module, Debug)]
pub struct InfoNceProjector {
    pub mlp: RowMlp,
}

impl InfoNceProjector {
    /// Projected and L2-normalised rows.
    pub fn forward(&self, y: Tensor<2>) -> Tensor<2> {
        l2_normalise(self.mlp.forward(y))
    }
}

/// Rows divided by their L2 norm (at least 1e-12, like `torch.nn.functional.normalize`).
pub fn l2_normalise(z: Tensor<2>) -> Tensor<2> {
    let norm = z.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    z / norm
}

/// Eq. 1 averaged over its `2N` terms, for normalised `z1`, `z2` (`[N, d]`, row `n` of both a
/// positive pair): term `(i, k)` is `-log(exp(s_pos) / sum_{all other rows r} exp(s_r))` with
/// `s = <z_i^k, z_r> / temperature`; the denominator holds the positive and the `2N - 2`
/// negatives from both views.
pub fn info_nce_loss(z1: Tensor<2>, z2: Tensor<2>, temperature: f64) -> Tensor<1> {
    let [n, _] = z1.dims();
    assert!(n >= 2, "InfoNCE needs at least two pairs, got {n}");
    let device = z1.device();
    let positive = (z1.clone() * z2.clone()).sum_dim(1) / temperature;
    let positive = Tensor::cat(vec![positive.clone(), positive], 0);
    let z = Tensor::cat(vec![z1, z2], 0);
    let logits = z.clone().matmul(z.transpose()) / temperature;
    // Each row's own similarity is no candidate; exp(-1e9) is zero in f32. (burn's
    // `diag_mask` is false on the diagonal, hence the negation.)
    let diagonal = Tensor::<2, Bool>::diag_mask([2 * n, 2 * n], 0, &device).bool_not();
    let logits = logits.mask_fill(diagonal, -1e9);
    let peak = logits.clone().max_dim(1).detach();
    let log_denominator = (logits - peak.clone()).exp().sum_dim(1).log() + peak;
    (log_denominator - positive).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, to_vec};
    use burn::tensor::TensorData;

    fn normalised(values: &[[f64; 2]]) -> Vec<[f64; 2]> {
        values
            .iter()
            .map(|r| {
                let n = (r[0] * r[0] + r[1] * r[1]).sqrt();
                [r[0] / n, r[1] / n]
            })
            .collect()
    }

    fn rows(values: &[[f64; 2]], dev: &Device) -> Tensor<2> {
        let flat: Vec<f32> = values.iter().flatten().map(|&v| v as f32).collect();
        Tensor::from_data(TensorData::new(flat, [values.len(), 2]), dev)
    }

    /// Eq. 1 with plain f64 loops, averaged over i and k.
    fn reference(z1: &[[f64; 2]], z2: &[[f64; 2]], tau: f64) -> f64 {
        let n = z1.len();
        let dot = |a: [f64; 2], b: [f64; 2]| (a[0] * b[0] + a[1] * b[1]) / tau;
        let views = [z1, z2];
        let mut total = 0.0;
        for i in 0..n {
            for k in 0..2 {
                let anchor = views[k][i];
                let pos = dot(anchor, views[1 - k][i]).exp();
                let mut negatives = 0.0;
                for j in (0..n).filter(|&j| j != i) {
                    for view in views {
                        negatives += dot(anchor, view[j]).exp();
                    }
                }
                total += -(pos / (pos + negatives)).ln();
            }
        }
        total / (2 * n) as f64
    }

    #[test]
    fn info_nce_matches_equation_one_on_a_tiny_batch() {
        let dev = device();
        let z1 = normalised(&[[1.0, 0.2], [0.3, 1.0], [-1.0, 0.5]]);
        let z2 = normalised(&[[0.9, 0.4], [-0.2, 1.0], [-1.0, -0.3]]);
        for tau in [0.1, 0.5] {
            let got = to_vec(info_nce_loss(rows(&z1, &dev), rows(&z2, &dev), tau))[0] as f64;
            let want = reference(&z1, &z2, tau);
            assert!(
                (got - want).abs() < 1e-4 * (1.0 + want),
                "tau {tau}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn projector_output_has_unit_norm_and_gradients_change_its_weights() {
        use burn::optim::{GradientsParams, SgdConfig};
        let dev = device().autodiff();
        let cfg = InfoNceConfig {
            input_channels: 2,
            projector_dims: vec![8, 4],
            norm_groups: 2,
            ..InfoNceConfig::default()
        };
        let projector = cfg.init(&dev);
        let z1 = projector.forward(rows(&[[1.0, 0.2], [0.3, 1.0], [-1.0, 0.5]], &dev));
        let z2 = projector.forward(rows(&[[0.9, 0.4], [-0.2, 1.0], [-1.0, -0.3]], &dev));
        let norms = to_vec(z1.clone().square().sum_dim(1));
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
        let before = to_vec(projector.mlp.hidden[0].linear.weight.val());
        let loss = info_nce_loss(z1, z2, cfg.temperature);
        let grads = GradientsParams::from_grads(loss.backward(), &projector);
        let projector = SgdConfig::new().init().step(0.5, projector, grads);
        let after = to_vec(projector.mlp.hidden[0].linear.weight.val());
        assert!(before.iter().zip(&after).any(|(a, b)| a != b));
    }
}
