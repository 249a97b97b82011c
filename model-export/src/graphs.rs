//! Whole networks as ONNX models with named inputs and outputs, and the manifest entry
//! (`NetworkSpec`) that tells the engine how to call each.

use burn::nn::conv::Conv3d;
use screener_core::bundle::{NetworkSpec, TensorSpec};
use screener_onnx::{Dim, GraphBuilder, ModelProto};
use screener_trainer::models::{
    ConditionModel, ConditionalGlow, DescriptorModel, DistilledUNet, GaussianDensity,
    GaussianScore, UNet3d,
};

use crate::density::gaussian_score;
use crate::glow::{self, glow_nll};
use crate::unet::unet;
use crate::weights::conv3d;

pub const CT_INPUT: &str = "ct";

/// `[batch, channels, k, j, i]` with dynamic batch and spatial axes.
fn feature_dims(channels: usize) -> Vec<Dim> {
    vec![
        Dim::named("batch"),
        Dim::Fixed(channels as i64),
        Dim::named("k"),
        Dim::named("j"),
        Dim::named("i"),
    ]
}

fn tensor_spec(name: &str, channels: usize) -> TensorSpec {
    TensorSpec {
        name: name.to_owned(),
        shape: vec![-1, channels as i64, -1, -1, -1],
    }
}

/// An exported network: the ONNX model and how to call it.
pub struct ExportedNetwork {
    pub model: ModelProto,
    pub spec: NetworkSpec,
}

/// A UNet-backed network mapping the CT patch to maps named `output`, optionally through a
/// final 1x1x1 convolution `head`.
fn unet_network(
    name: &str,
    net: &UNet3d,
    head: Option<&Conv3d>,
    output: &str,
    file: &str,
) -> ExportedNetwork {
    let last = head.unwrap_or(&net.heads[0]);
    let out_channels = last.weight.val().dims()[0];
    let mut g = GraphBuilder::new(name);
    let x = g.input(CT_INPUT, &feature_dims(1));
    let mut y = unet(&mut g, name, &x, net);
    if let Some(head) = head {
        y = conv3d(&mut g, &format!("{name}.head"), &y, head);
    }
    g.output(&y, output, &feature_dims(out_channels));
    ExportedNetwork {
        model: g.finish(env!("CARGO_PKG_VERSION"), &[("network", name)]),
        spec: NetworkSpec {
            file: file.to_owned(),
            inputs: vec![tensor_spec(CT_INPUT, 1)],
            outputs: vec![tensor_spec(output, out_channels)],
        },
    }
}

pub fn descriptor(model: &DescriptorModel) -> ExportedNetwork {
    unet_network(
        "descriptor",
        &model.backbone,
        None,
        "descriptors",
        "descriptor.onnx",
    )
}

/// The condition model at inference: no mask, so the mask token does not appear.
pub fn condition(model: &ConditionModel) -> ExportedNetwork {
    unet_network(
        "condition",
        &model.backbone,
        None,
        "conditions",
        "condition.onnx",
    )
}

pub fn distilled(model: &DistilledUNet) -> ExportedNetwork {
    unet_network(
        "distilled",
        &model.backbone,
        Some(&model.head),
        "nll",
        "distilled.onnx",
    )
}

/// A density network on pooled maps: `descriptors [B, d]`, `conditions [B, c]` -> `nll`, the
/// NLL nodes added by `nll`.
fn density_network(
    network: &str,
    (d, c): (usize, usize),
    output: &str,
    score: impl FnOnce(&mut GraphBuilder, &str, &str) -> String,
) -> ExportedNetwork {
    let mut g = GraphBuilder::new("density");
    let y = g.input("descriptors", &feature_dims(d));
    let cond = g.input("conditions", &feature_dims(c));
    let out = score(&mut g, &y, &cond);
    g.output(&out, output, &feature_dims(1));
    ExportedNetwork {
        model: g.finish(env!("CARGO_PKG_VERSION"), &[("network", network)]),
        spec: NetworkSpec {
            file: "density.onnx".into(),
            inputs: vec![tensor_spec("descriptors", d), tensor_spec("conditions", c)],
            outputs: vec![tensor_spec(output, 1)],
        },
    }
}

/// The conditional Gaussian density on pooled maps: `descriptors`, `conditions` -> `nll` or
/// `excess_nll` (the output is named after `score`, so the manifest says which).
pub fn gaussian_density(model: &GaussianDensity, score: GaussianScore) -> ExportedNetwork {
    let d = model.mean.out.weight.val().dims()[0];
    let c = model.mean.hidden.weight.val().dims()[1];
    density_network(
        "gaussian density",
        (d, c),
        score.output_name(),
        |g, y, cond| gaussian_score(g, y, cond, model, score),
    )
}

/// The conditional Glow flow density on pooled maps: `descriptors`, `conditions` -> `nll`.
pub fn glow_density(model: &ConditionalGlow) -> ExportedNetwork {
    let d = glow::channels(model);
    let c = glow::condition_channels(model);
    density_network("glow density", (d, c), "nll", |g, y, cond| {
        glow_nll(g, y, cond, model)
    })
}
