//! Reads burn modules' parameters and writes the matching ONNX layers.

use burn::module::Param;
use burn::nn::conv::{Conv3d, ConvTranspose3d};
use burn::nn::{GroupNorm, PaddingConfig3d};
use burn::tensor::Tensor;
use screener_onnx::layers::{self, Conv3dWeights, ConvTranspose3dWeights};
use screener_onnx::GraphBuilder;

/// Host copy of a parameter and its shape.
pub fn values<const D: usize>(p: &Param<Tensor<D>>) -> (Vec<f32>, [usize; D]) {
    let t = p.val();
    let dims = t.dims();
    let v = t
        .into_data()
        .try_to_vec::<f32>()
        .expect("network parameters are f32");
    (v, dims)
}

/// `Conv` from a burn `Conv3d` (symmetric explicit or no padding).
pub fn conv3d(g: &mut GraphBuilder, name: &str, x: &str, conv: &Conv3d) -> String {
    let (w, shape) = values(&conv.weight);
    let bias = conv.bias.as_ref().map(|b| values(b).0);
    let padding = match conv.padding {
        PaddingConfig3d::Explicit(a, b, c) => [a, b, c],
        PaddingConfig3d::Valid => [0, 0, 0],
        PaddingConfig3d::Same => conv.kernel_size.map(|k| {
            assert!(k % 2 == 1, "'same' padding needs odd kernels");
            k / 2
        }),
    };
    layers::conv3d(
        g,
        name,
        x,
        &Conv3dWeights {
            weight: &w,
            shape,
            bias: bias.as_deref(),
            stride: conv.stride,
            padding,
            dilation: conv.dilation,
            groups: conv.groups,
        },
    )
}

/// `ConvTranspose` from a burn `ConvTranspose3d`.
pub fn conv_transpose3d(
    g: &mut GraphBuilder,
    name: &str,
    x: &str,
    conv: &ConvTranspose3d,
) -> String {
    let (w, shape) = values(&conv.weight);
    let bias = conv.bias.as_ref().map(|b| values(b).0);
    assert_eq!(
        conv.dilation,
        [1, 1, 1],
        "dilated transposed convolutions are not exported"
    );
    layers::conv_transpose3d(
        g,
        name,
        x,
        &ConvTranspose3dWeights {
            weight: &w,
            shape,
            bias: bias.as_deref(),
            stride: conv.stride,
            padding: conv.padding,
            output_padding: conv.padding_out,
            groups: conv.groups,
        },
    )
}

/// GroupNorm (affine) from a burn `GroupNorm`.
pub fn group_norm(g: &mut GraphBuilder, name: &str, x: &str, norm: &GroupNorm) -> String {
    let ones = vec![1.0; norm.num_channels];
    let zeros = vec![0.0; norm.num_channels];
    let gamma = norm.gamma.as_ref().map_or(ones, |p| values(p).0);
    let beta = norm.beta.as_ref().map_or(zeros, |p| values(p).0);
    layers::group_norm(
        g,
        name,
        x,
        norm.num_groups,
        &gamma,
        &beta,
        norm.epsilon as f32,
    )
}
