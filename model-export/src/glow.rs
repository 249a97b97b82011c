//! The conditional Glow flow density (`screener_trainer::models::ConditionalGlow`) as ONNX
//! nodes, following the forward documented on the module and its layers: for each block,
//! conditional ActNorm, the invertible 1x1x1 channel mixing (its matrix computed here on the
//! host in f64 and written as a Conv weight) and the conditional affine coupling, summing the
//! per-voxel log-determinants; then
//! `nll = 0.5 * sum_d z^2 + (D / 2) ln 2pi - logdet`, `[B, 1, n1, n2, n3]`.
//!
//! The log-determinants that do not depend on the input (the mixing's `sum(log_s)`) are folded,
//! with `(D / 2) ln 2pi`, into one constant.

use screener_onnx::{layers, Attr, GraphBuilder};
use screener_trainer::models::glow::linalg::matmul;
use screener_trainer::models::glow::{AffineCoupling, CondActNorm, ConditionalGlow, InvConv1x1};

use crate::weights::{conv3d, values};

/// Constants shared by every block.
struct Shared {
    /// `[1]` int64 `1`: the channel axis for `Slice` and `ReduceSum`.
    channel_axis: String,
}

/// `x[:, start:start + len]`.
fn slice_channels(
    g: &mut GraphBuilder,
    name: &str,
    shared: &Shared,
    x: &str,
    start: usize,
    len: usize,
) -> String {
    let starts = g.initializer_i64(&format!("{name}.starts"), &[1], &[start as i64]);
    let ends = g.initializer_i64(&format!("{name}.ends"), &[1], &[(start + len) as i64]);
    g.node(
        "Slice",
        &[x, &starts, &ends, &shared.channel_axis],
        vec![],
        None,
    )
}

/// `ReduceSum` over the channel axis, keeping it: `[B, C, ...] -> [B, 1, ...]`.
fn sum_channels(g: &mut GraphBuilder, shared: &Shared, x: &str) -> String {
    g.node(
        "ReduceSum",
        &[x, &shared.channel_axis],
        vec![Attr::int("keepdims", 1)],
        None,
    )
}

/// A per-channel vector as a `[1, D, 1, 1, 1]` constant.
fn channel_constant(g: &mut GraphBuilder, name: &str, v: &[f32]) -> String {
    g.initializer(name, &[1, v.len() as i64, 1, 1, 1], v)
}

/// `(y, per-voxel log|det| [B, 1, ...])` of the conditional ActNorm.
fn actnorm(
    g: &mut GraphBuilder,
    name: &str,
    shared: &Shared,
    x: &str,
    c: &str,
    layer: &CondActNorm,
) -> (String, String) {
    let (log_scale, [d]) = values(&layer.log_scale);
    let (bias, _) = values(&layer.bias);
    let h = conv3d(g, &format!("{name}.cond"), c, &layer.cond);
    let ds = slice_channels(g, &format!("{name}.scale_part"), shared, &h, 0, d);
    let db = slice_channels(g, &format!("{name}.shift_part"), shared, &h, d, d);
    let log_scale = channel_constant(g, &format!("{name}.log_scale"), &log_scale);
    let bias = channel_constant(g, &format!("{name}.bias"), &bias);
    let ls = g.node("Add", &[&ds, &log_scale], vec![], None);
    let shift = g.node("Add", &[&db, &bias], vec![], None);
    let shifted = g.node("Add", &[x, &shift], vec![], None);
    let scale = g.node("Exp", &[&ls], vec![], None);
    let y = g.node("Mul", &[&shifted, &scale], vec![], None);
    (y, sum_channels(g, shared, &ls))
}

/// The mixing matrix `W = perm @ (tril(lower, -1) + I) @ (triu(upper, 1) + diag(sign_s *
/// exp(log_s)))`, row-major `[D, D]`, in f64, and its log|det| `sum(log_s)`.
pub fn mixing_matrix(mix: &InvConv1x1) -> (Vec<f64>, f64) {
    let f64s = |v: Vec<f32>| -> Vec<f64> { v.into_iter().map(f64::from).collect() };
    let (perm, [n, m]) = values(&mix.perm);
    assert_eq!(n, m, "the permutation is square");
    let perm = f64s(perm);
    let lower = f64s(values(&mix.lower).0);
    let upper = f64s(values(&mix.upper).0);
    let log_s = f64s(values(&mix.log_s).0);
    let sign_s = f64s(values(&mix.sign_s).0);
    let mut l = vec![0.0; n * n];
    let mut u = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let k = i * n + j;
            if j < i {
                l[k] = lower[k];
            } else if j == i {
                l[k] = 1.0;
                u[k] = sign_s[i] * log_s[i].exp();
            } else {
                u[k] = upper[k];
            }
        }
    }
    let w = matmul(&matmul(&perm, &l, n), &u, n);
    (w, log_s.iter().sum())
}

/// The mixing as a bias-free 1x1x1 `Conv`; returns `(y, constant log|det| per voxel)`.
fn mix(g: &mut GraphBuilder, name: &str, x: &str, layer: &InvConv1x1) -> (String, f64) {
    let (w, logdet) = mixing_matrix(layer);
    let n = layer.channels();
    let w: Vec<f32> = w.iter().map(|&v| v as f32).collect();
    let y = layers::conv3d(
        g,
        name,
        x,
        &layers::Conv3dWeights {
            weight: &w,
            shape: [n, n, 1, 1, 1],
            bias: None,
            stride: [1, 1, 1],
            padding: [0, 0, 0],
            dilation: [1, 1, 1],
            groups: 1,
        },
    );
    (y, logdet)
}

/// `(y, per-voxel log|det| [B, 1, ...])` of the conditional affine coupling on `d` channels:
/// `n_a = d / 2` conditioning channels, `n_b = d - n_a` transformed ones.
fn coupling(
    g: &mut GraphBuilder,
    name: &str,
    shared: &Shared,
    (x, d): (&str, usize),
    c: &str,
    layer: &AffineCoupling,
) -> (String, String) {
    let (n_a, n_b) = (d / 2, d - d / 2);
    assert_eq!(
        layer.out.weight.val().dims()[0],
        2 * n_b,
        "{name}: the coupling predicts a scale and a shift per transformed channel"
    );
    let (a, b) = if layer.swap {
        (
            slice_channels(g, &format!("{name}.a"), shared, x, n_b, n_a),
            slice_channels(g, &format!("{name}.b"), shared, x, 0, n_b),
        )
    } else {
        (
            slice_channels(g, &format!("{name}.a"), shared, x, 0, n_a),
            slice_channels(g, &format!("{name}.b"), shared, x, n_a, n_b),
        )
    };
    let input = layers::concat_channels(g, &[&a, c]);
    let h = conv3d(g, &format!("{name}.hidden_in"), &input, &layer.hidden_in);
    let h = layers::silu(g, &h);
    let h = conv3d(g, &format!("{name}.hidden_mid"), &h, &layer.hidden_mid);
    let h = layers::silu(g, &h);
    let st = conv3d(g, &format!("{name}.out"), &h, &layer.out);
    let s = slice_channels(g, &format!("{name}.s"), shared, &st, 0, n_b);
    let t = slice_channels(g, &format!("{name}.t"), shared, &st, n_b, n_b);
    // ls = log sigmoid(s + 2) - shift = -softplus(-(s + 2)) - shift = (-shift) - softplus(-s - 2)
    let two = g.initializer(&format!("{name}.two"), &[1], &[2.0]);
    let s2 = g.node("Add", &[&s, &two], vec![], None);
    let neg = g.node("Neg", &[&s2], vec![], None);
    let softplus = g.node("Softplus", &[&neg], vec![], None);
    let neg_shift = g.initializer(
        &format!("{name}.neg_log_scale_shift"),
        &[1],
        &[-(layer.log_scale_shift as f32)],
    );
    let ls = g.node("Sub", &[&neg_shift, &softplus], vec![], None);
    let scale = g.node("Exp", &[&ls], vec![], None);
    let scaled = g.node("Mul", &[&b, &scale], vec![], None);
    let b = g.node("Add", &[&scaled, &t], vec![], None);
    let y = if layer.swap {
        layers::concat_channels(g, &[&b, &a])
    } else {
        layers::concat_channels(g, &[&a, &b])
    };
    (y, sum_channels(g, shared, &ls))
}

/// NLL per pooled voxel, `[B, 1, n1, n2, n3]`, of descriptors `y` given conditions `c`.
pub fn glow_nll(g: &mut GraphBuilder, y: &str, c: &str, model: &ConditionalGlow) -> String {
    let d = channels(model);
    let shared = Shared {
        channel_axis: g.initializer_i64("glow.channel_axis", &[1], &[1]),
    };
    let mut constant = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
    let mut logdet: Option<String> = None;
    let mut x = y.to_owned();
    for (i, block) in model.blocks.iter().enumerate() {
        let prefix = format!("glow.blocks.{i}");
        let (h, ld_norm) = actnorm(
            g,
            &format!("{prefix}.actnorm"),
            &shared,
            &x,
            c,
            &block.actnorm,
        );
        let (h, ld_mix) = mix(g, &format!("{prefix}.mix"), &h, &block.mix);
        constant -= ld_mix;
        let (h, ld_coupling) = coupling(
            g,
            &format!("{prefix}.coupling"),
            &shared,
            (&h, d),
            c,
            &block.coupling,
        );
        let ld_block = layers::add(g, &ld_norm, &ld_coupling);
        logdet = Some(match logdet {
            Some(total) => layers::add(g, &total, &ld_block),
            None => ld_block,
        });
        x = h;
    }
    let sq = g.node("Mul", &[&x, &x], vec![], None);
    let sum = sum_channels(g, &shared, &sq);
    let half = g.initializer("glow.half", &[1], &[0.5]);
    let energy = g.node("Mul", &[&sum, &half], vec![], None);
    let constant = g.initializer("glow.constant", &[1], &[constant as f32]);
    let nll = g.node("Add", &[&energy, &constant], vec![], None);
    match logdet {
        Some(logdet) => g.node("Sub", &[&nll, &logdet], vec![], None),
        None => nll,
    }
}

/// `D`, the descriptor channels the flow acts on.
pub fn channels(model: &ConditionalGlow) -> usize {
    model
        .blocks
        .first()
        .expect("an exported flow has at least one block")
        .mix
        .channels()
}

/// `C_cond`, the condition channels.
pub fn condition_channels(model: &ConditionalGlow) -> usize {
    model
        .blocks
        .first()
        .expect("an exported flow has at least one block")
        .actnorm
        .cond
        .weight
        .val()
        .dims()[1]
}
