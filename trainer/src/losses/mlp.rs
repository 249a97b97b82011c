//! The MLP heads of the SSL objectives (VICReg expander, InfoNCE projector), applied to rows of
//! descriptors `[N, C]`: hidden layers `Linear -> GroupNorm -> SiLU`, then a `Linear` output.
//! On rows, GroupNorm normalises each row over the features of each group (one group is
//! LayerNorm); a group needs at least two features, or its output is the constant `beta`.

use burn::module::Module;
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use crate::models::ops::{gcd, silu};

/// One hidden layer; GroupNorm uses `gcd(norm_groups, width)` groups.
#[derive(Module, Debug)]
pub struct HiddenLayer {
    pub linear: Linear,
    pub norm: GroupNorm,
}

/// Parameters: `hidden.<l>.linear.{weight, bias}`, `hidden.<l>.norm.{gamma, beta}`,
/// `out.weight` (and `out.bias` when built with one).
#[derive(Module, Debug)]
pub struct RowMlp {
    pub hidden: Vec<HiddenLayer>,
    pub out: Linear,
}

impl RowMlp {
    /// `dims = [in, hidden.., out]` (at least two entries).
    pub fn new(dims: &[usize], norm_groups: usize, out_bias: bool, device: &Device) -> Self {
        assert!(
            dims.len() >= 2,
            "an MLP needs input and output widths, got {dims:?}"
        );
        let n = dims.len();
        for &width in &dims[1..n - 1] {
            assert!(
                width / gcd(norm_groups, width) >= 2,
                "GroupNorm with {norm_groups} groups over {width} features leaves one feature \
                 per group, whose output would not depend on the input"
            );
        }
        let hidden = dims
            .windows(2)
            .take(n - 2)
            .map(|w| HiddenLayer {
                linear: LinearConfig::new(w[0], w[1]).init(device),
                norm: GroupNormConfig::new(gcd(norm_groups, w[1]), w[1]).init(device),
            })
            .collect();
        let out = LinearConfig::new(dims[n - 2], dims[n - 1])
            .with_bias(out_bias)
            .init(device);
        Self { hidden, out }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut h = x;
        for layer in &self.hidden {
            h = silu(layer.norm.forward(layer.linear.forward(h)));
        }
        self.out.forward(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, randn};

    #[test]
    fn mlp_maps_rows_through_every_width_and_the_output_has_no_bias() {
        let dev = device();
        let mlp = RowMlp::new(&[4, 16, 16, 8], 8, false, &dev);
        assert!(std::panic::catch_unwind(|| RowMlp::new(&[4, 8, 2], 8, true, &device())).is_err());
        assert_eq!(mlp.hidden.len(), 2);
        assert!(mlp.out.bias.is_none());
        assert_eq!(mlp.forward(randn([5, 4], &dev)).dims(), [5, 8]);
    }
}
