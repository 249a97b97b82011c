//! Network layers written as ONNX nodes: each function takes the graph, an input value name
//! and the layer's weights (flat, row-major, PyTorch/burn layout), adds the nodes, and returns
//! the output value name. Tensors are `[batch, channels, d1, d2, d3]`.

use crate::builder::{Attr, GraphBuilder};

/// Weights of a 3D convolution: `weight` is `[out, in / groups, k1, k2, k3]`.
#[derive(Debug, Clone)]
pub struct Conv3dWeights<'a> {
    pub weight: &'a [f32],
    pub shape: [usize; 5],
    pub bias: Option<&'a [f32]>,
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
    pub groups: usize,
}

fn i64s(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

/// The inputs of a (transposed) convolution node: `x`, its weight and optional bias.
fn conv_inputs(
    g: &mut GraphBuilder,
    name: &str,
    x: &str,
    weight: &[f32],
    shape: &[usize; 5],
    bias: Option<&[f32]>,
) -> Vec<String> {
    let weight = g.initializer(&format!("{name}.weight"), &i64s(shape), weight);
    let mut inputs = vec![x.to_owned(), weight];
    if let Some(b) = bias {
        inputs.push(g.initializer(&format!("{name}.bias"), &[b.len() as i64], b));
    }
    inputs
}

/// ONNX `pads` (begin of every axis, then end of every axis) for symmetric padding.
fn symmetric_pads(padding: &[usize; 3]) -> Vec<i64> {
    i64s(&[
        padding[0], padding[1], padding[2], padding[0], padding[1], padding[2],
    ])
}

/// `Conv` with symmetric padding.
pub fn conv3d(g: &mut GraphBuilder, name: &str, x: &str, w: &Conv3dWeights) -> String {
    let inputs = conv_inputs(g, name, x, w.weight, &w.shape, w.bias);
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    g.node(
        "Conv",
        &refs,
        vec![
            Attr::ints("kernel_shape", &i64s(&w.shape[2..])),
            Attr::ints("strides", &i64s(&w.stride)),
            Attr::ints("pads", &symmetric_pads(&w.padding)),
            Attr::ints("dilations", &i64s(&w.dilation)),
            Attr::int("group", w.groups as i64),
        ],
        None,
    )
}

/// Weights of a 3D transposed convolution: `weight` is `[in, out / groups, k1, k2, k3]`.
#[derive(Debug, Clone)]
pub struct ConvTranspose3dWeights<'a> {
    pub weight: &'a [f32],
    pub shape: [usize; 5],
    pub bias: Option<&'a [f32]>,
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub output_padding: [usize; 3],
    pub groups: usize,
}

pub fn conv_transpose3d(
    g: &mut GraphBuilder,
    name: &str,
    x: &str,
    w: &ConvTranspose3dWeights,
) -> String {
    let inputs = conv_inputs(g, name, x, w.weight, &w.shape, w.bias);
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    g.node(
        "ConvTranspose",
        &refs,
        vec![
            Attr::ints("kernel_shape", &i64s(&w.shape[2..])),
            Attr::ints("strides", &i64s(&w.stride)),
            Attr::ints("pads", &symmetric_pads(&w.padding)),
            Attr::ints("output_padding", &i64s(&w.output_padding)),
            Attr::int("group", w.groups as i64),
        ],
        None,
    )
}

/// GroupNorm over `groups` groups of channels with a per-channel affine, written as
/// reshape -> InstanceNormalization -> reshape -> scale and shift, which every ONNX Runtime
/// version runs natively.
pub fn group_norm(
    g: &mut GraphBuilder,
    name: &str,
    x: &str,
    groups: usize,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
) -> String {
    let channels = gamma.len() as i64;
    let shape = g.node("Shape", &[x], vec![], None);
    let grouped_shape = g.initializer_i64(
        &format!("{name}.grouped_shape"),
        &[3],
        &[0, groups as i64, -1],
    );
    let grouped = g.node("Reshape", &[x, &grouped_shape], vec![], None);
    let ones = g.initializer(
        &format!("{name}.ones"),
        &[groups as i64],
        &vec![1.0; groups],
    );
    let zeros = g.initializer(
        &format!("{name}.zeros"),
        &[groups as i64],
        &vec![0.0; groups],
    );
    let normed = g.node(
        "InstanceNormalization",
        &[&grouped, &ones, &zeros],
        vec![Attr::float("epsilon", epsilon)],
        None,
    );
    let restored = g.node("Reshape", &[&normed, &shape], vec![], None);
    let gamma = g.initializer(&format!("{name}.weight"), &[channels, 1, 1, 1], gamma);
    let beta = g.initializer(&format!("{name}.bias"), &[channels, 1, 1, 1], beta);
    let scaled = g.node("Mul", &[&restored, &gamma], vec![], None);
    g.node("Add", &[&scaled, &beta], vec![], None)
}

/// SiLU: x * sigmoid(x).
pub fn silu(g: &mut GraphBuilder, x: &str) -> String {
    let s = g.node("Sigmoid", &[x], vec![], None);
    g.node("Mul", &[x, &s], vec![], None)
}

pub fn add(g: &mut GraphBuilder, a: &str, b: &str) -> String {
    g.node("Add", &[a, b], vec![], None)
}

/// Concatenation along the channel axis.
pub fn concat_channels(g: &mut GraphBuilder, parts: &[&str]) -> String {
    g.node("Concat", parts, vec![Attr::int("axis", 1)], None)
}

/// Average pooling with kernel = stride = `factor` (no padding).
pub fn average_pool3d(g: &mut GraphBuilder, x: &str, factor: [usize; 3]) -> String {
    g.node(
        "AveragePool",
        &[x],
        vec![
            Attr::ints("kernel_shape", &i64s(&factor)),
            Attr::ints("strides", &i64s(&factor)),
        ],
        None,
    )
}

/// Nearest-neighbour upsampling by an integer factor per spatial axis.
pub fn upsample_nearest3d(g: &mut GraphBuilder, name: &str, x: &str, factor: [usize; 3]) -> String {
    let scales = g.initializer(
        &format!("{name}.scales"),
        &[5],
        &[
            1.0,
            1.0,
            factor[0] as f32,
            factor[1] as f32,
            factor[2] as f32,
        ],
    );
    g.node(
        "Resize",
        &[x, "", &scales],
        vec![
            Attr::string("mode", "nearest"),
            Attr::string("coordinate_transformation_mode", "asymmetric"),
            Attr::string("nearest_mode", "floor"),
        ],
        None,
    )
}
