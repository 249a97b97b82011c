//! Average pooling of descriptor and condition maps before the density model:
//! kernel = stride = 3 x 3 x 2 in (i, j, k), i.e. `[2, 3, 3]` over tensor axes `[d1, d2, d3]`.

use burn::tensor::Tensor;

/// Pooling window in tensor order `[k, j, i]`.
pub const POOL_WINDOW: [usize; 3] = [2, 3, 3];

/// Mean over non-overlapping `[2, 3, 3]` windows of `[B, C, D1, D2, D3]`:
/// `[B, C, 64, 96, 96] -> [B, C, 32, 32, 32]`.
///
/// Sizes that are not multiples of the window are cropped at the end of each axis (floor,
/// like ONNX AveragePool without padding or ceil_mode). ONNX: Slice (only when cropping),
/// Reshape to `[B, C, D1/2, 2, D2/3, 3, D3/3, 3]`, ReduceMean over axes 3, 5, 7 (keepdims 0);
/// equivalently AveragePool kernel_shape = strides = `[2, 3, 3]`.
pub fn avg_pool_3x3x2(x: Tensor<5>) -> Tensor<5> {
    let [b, c, d1, d2, d3] = x.dims();
    let [w1, w2, w3] = POOL_WINDOW;
    let (n1, n2, n3) = (d1 / w1, d2 / w2, d3 / w3);
    assert!(
        n1 > 0 && n2 > 0 && n3 > 0,
        "pooling needs at least one full window, got {:?}",
        [d1, d2, d3]
    );
    let x = if (n1 * w1, n2 * w2, n3 * w3) == (d1, d2, d3) {
        x
    } else {
        x.slice([0..b, 0..c, 0..n1 * w1, 0..n2 * w2, 0..n3 * w3])
    };
    x.reshape([b, c, n1, w1, n2, w2, n3, w3])
        .mean_dim(7)
        .mean_dim(5)
        .mean_dim(3)
        .reshape([b, c, n1, n2, n3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_util::{device, randn, to_vec};

    #[test]
    fn pooling_averages_each_2x3x3_window() {
        let dev = device();
        let x = randn([2, 3, 4, 6, 9], &dev);
        let xs = to_vec(x.clone());
        let y = avg_pool_3x3x2(x);
        assert_eq!(y.dims(), [2, 3, 2, 2, 3]);
        let ys = to_vec(y);
        let at = |b: usize, c: usize, z: usize, r: usize, q: usize| {
            xs[(((b * 3 + c) * 4 + z) * 6 + r) * 9 + q] as f64
        };
        for b in 0..2 {
            for c in 0..3 {
                for (z, r, q) in [(0, 0, 0), (1, 1, 2), (0, 1, 1)] {
                    let mut sum = 0.0;
                    for dz in 0..2 {
                        for dr in 0..3 {
                            for dq in 0..3 {
                                sum += at(b, c, 2 * z + dz, 3 * r + dr, 3 * q + dq);
                            }
                        }
                    }
                    let got = ys[(((b * 3 + c) * 2 + z) * 2 + r) * 3 + q] as f64;
                    assert!((got - sum / 18.0).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn pooling_a_96x96x64_patch_gives_a_32_cube_and_crops_remainders() {
        let dev = device();
        assert_eq!(
            avg_pool_3x3x2(randn([1, 2, 64, 96, 96], &dev)).dims(),
            [1, 2, 32, 32, 32]
        );
        assert_eq!(
            avg_pool_3x3x2(randn([1, 1, 5, 7, 8], &dev)).dims(),
            [1, 1, 2, 2, 2]
        );
    }
}
