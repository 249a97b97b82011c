//! Parameter-free tensor operations shared by the networks, written with the ONNX graph they
//! must export to in mind.

use burn::tensor::activation::sigmoid;
use burn::tensor::Tensor;

/// SiLU as `x * sigmoid(x)` (ONNX: Sigmoid then Mul).
pub fn silu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.clone() * sigmoid(x)
}

/// Nearest-neighbour x2 upsampling of the three spatial axes of `[B, C, D1, D2, D3]`.
///
/// ONNX: Reshape to `[B, C, D1, 1, D2, 1, D3, 1]`, Expand to `[B, C, D1, 2, D2, 2, D3, 2]`,
/// Reshape to `[B, C, 2 D1, 2 D2, 2 D3]` (identical to Resize mode=nearest, scale 2).
pub fn upsample_nearest_2x(x: Tensor<5>) -> Tensor<5> {
    let [b, c, d1, d2, d3] = x.dims();
    x.reshape([b, c, d1, 1, d2, 1, d3, 1])
        .expand([b, c, d1, 2, d2, 2, d3, 2])
        .reshape([b, c, 2 * d1, 2 * d2, 2 * d3])
}

/// Greatest common divisor; GroupNorm uses `gcd(norm_groups, channels)` groups so that any
/// channel count is valid.
pub fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, to_vec};

    #[test]
    fn nearest_upsampling_repeats_each_voxel_in_a_2x2x2_cube() {
        let x = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], &device()).reshape([1, 1, 1, 2, 2]);
        let y = upsample_nearest_2x(x);
        assert_eq!(y.dims(), [1, 1, 2, 4, 4]);
        let v = to_vec(y);
        let expected_plane = [
            1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0,
        ];
        assert_eq!(&v[..16], &expected_plane);
        assert_eq!(&v[16..], &expected_plane);
    }

    #[test]
    fn silu_is_x_times_sigmoid_x() {
        let v = to_vec(silu(Tensor::<1>::from_floats([-2.0, 0.0, 3.0], &device())));
        for (got, x) in v.iter().zip([-2.0f32, 0.0, 3.0]) {
            assert!((got - x / (1.0 + (-x).exp())).abs() < 1e-6);
        }
    }
}
