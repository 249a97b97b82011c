//! The density models as ONNX nodes: the conditional Gaussian's NLL
//! `0.5 * sum_d((y - mu)^2 * exp(-lv) + lv + ln 2pi)` with `mu` and `lv` from 3x3x3 conv heads
//! on the condition map, or its excess over its expectation,
//! `0.5 * sum_d((y - mu)^2 * exp(-lv) - 1)` ([`GaussianScore`]).

use screener_onnx::{layers, Attr, GraphBuilder};
use screener_trainer::models::gaussian::ConvHead;
use screener_trainer::models::{GaussianDensity, GaussianScore};

use crate::weights::conv3d;

fn conv_head(g: &mut GraphBuilder, name: &str, c: &str, head: &ConvHead) -> String {
    let h = conv3d(g, &format!("{name}.hidden"), c, &head.hidden);
    let h = layers::silu(g, &h);
    conv3d(g, &format!("{name}.out"), &h, &head.out)
}

/// `score` per pooled voxel, `[B, 1, n1, n2, n3]`, of descriptors `y` given conditions `c`.
pub fn gaussian_score(
    g: &mut GraphBuilder,
    y: &str,
    c: &str,
    model: &GaussianDensity,
    score: GaussianScore,
) -> String {
    let mu = conv_head(g, "gaussian.mean", c, &model.mean);
    let lv = conv_head(g, "gaussian.log_var", c, &model.log_var);
    let diff = g.node("Sub", &[y, &mu], vec![], None);
    let sq = g.node("Mul", &[&diff, &diff], vec![], None);
    let neg_lv = g.node("Neg", &[&lv], vec![], None);
    let precision = g.node("Exp", &[&neg_lv], vec![], None);
    let scaled = g.node("Mul", &[&sq, &precision], vec![], None);
    let terms = match score {
        GaussianScore::Nll => {
            let with_lv = g.node("Add", &[&scaled, &lv], vec![], None);
            let ln_2pi = g.initializer(
                "gaussian.ln_2pi",
                &[1],
                &[(2.0 * std::f32::consts::PI).ln()],
            );
            g.node("Add", &[&with_lv, &ln_2pi], vec![], None)
        }
        GaussianScore::ExcessNll => {
            let one = g.initializer("gaussian.one", &[1], &[1.0]);
            g.node("Sub", &[&scaled, &one], vec![], None)
        }
    };
    // ReduceSum takes its axes as an input from opset 13 on.
    let axes = g.initializer_i64("gaussian.channel_axis", &[1], &[1]);
    let sum = g.node(
        "ReduceSum",
        &[&terms, &axes],
        vec![Attr::int("keepdims", 1)],
        None,
    );
    let half = g.initializer("gaussian.half", &[1], &[0.5]);
    g.node("Mul", &[&sum, &half], vec![], None)
}
