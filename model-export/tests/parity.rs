//! Parity: every exported network, run by ONNX Runtime, agrees with the burn module it was
//! exported from on the same random input (max abs diff <= 1e-4).

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor};
use ndarray::{ArrayD, IxDyn};
use ort::session::Session;
use ort::value::TensorRef;
use screener_export::graphs::{self, ExportedNetwork};
use screener_trainer::models::{
    ConditionModelConfig, ConditionalGlow, ConditionalGlowConfig, DescriptorModelConfig,
    DistilledUNetConfig, GaussianDensityConfig, GaussianScore, UNet3dConfig,
};

fn device() -> Device {
    Device::flex()
}

fn random(shape: [usize; 5]) -> Tensor<5> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device())
}

fn host(t: Tensor<5>) -> ArrayD<f32> {
    let dims = t.dims().to_vec();
    let v = t.into_data().try_to_vec::<f32>().unwrap();
    ArrayD::from_shape_vec(IxDyn(&dims), v).unwrap()
}

/// Runs an exported network with ONNX Runtime on `inputs` (in the spec's order).
fn run_onnx(net: &ExportedNetwork, inputs: &[ArrayD<f32>]) -> ArrayD<f32> {
    let env = screener_daemon::engine::runtime::environment().expect("ONNX Runtime");
    let bytes = screener_onnx::encode(&net.model);
    let mut session = Session::builder(env)
        .unwrap()
        .commit_from_memory(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", net.spec.file));
    let values: Vec<_> = net
        .spec
        .inputs
        .iter()
        .zip(inputs)
        .map(|(t, a)| {
            (
                t.name.as_str(),
                TensorRef::from_array_view(a.view()).unwrap(),
            )
        })
        .collect();
    let out = session.run(values).unwrap();
    let (shape, data) = out[net.spec.outputs[0].name.as_str()]
        .try_extract_tensor::<f32>()
        .unwrap();
    let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    ArrayD::from_shape_vec(IxDyn(&dims), data.to_vec()).unwrap()
}

fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// max over elements of `|a - b| / max(|b|, 1)`.
fn max_relative_diff(got: &ArrayD<f32>, expected: &ArrayD<f32>) -> f32 {
    assert_eq!(got.shape(), expected.shape());
    got.iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f32::max)
}

fn small_unet(out_channels: usize) -> UNet3dConfig {
    UNet3dConfig::new()
        .with_channels(vec![4, 8, 16])
        .with_out_channels(out_channels)
        .with_norm_groups(2)
        .with_blocks_per_level(2)
}

#[test]
fn descriptor_onnx_matches_burn() {
    let model = DescriptorModelConfig::new()
        .with_backbone(small_unet(6))
        .init(&device());
    let x = random([2, 1, 8, 12, 16]);
    let expected = host(model.forward(x.clone()));
    let got = run_onnx(&graphs::descriptor(&model), &[host(x)]);
    let diff = max_abs_diff(&got, &expected);
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

#[test]
fn condition_onnx_matches_burn_without_a_mask() {
    let model = ConditionModelConfig::new()
        .with_backbone(small_unet(5))
        .init(&device());
    let x = random([1, 1, 4, 8, 12]);
    let expected = host(model.forward(x.clone(), None));
    let got = run_onnx(&graphs::condition(&model), &[host(x)]);
    let diff = max_abs_diff(&got, &expected);
    assert!(diff <= 1e-4, "max abs diff {diff}");
}

#[test]
fn distilled_onnx_matches_burn_and_has_dynamic_axes() {
    let model = DistilledUNetConfig::new()
        .with_backbone(small_unet(1))
        .init(&device());
    let exported = graphs::distilled(&model);
    // Two different batch and spatial sizes through the same graph.
    for shape in [[1, 1, 4, 8, 8], [3, 1, 8, 4, 12]] {
        let x = random(shape);
        let expected = host(model.forward(x.clone()));
        let got = run_onnx(&exported, &[host(x)]);
        let diff = max_abs_diff(&got, &expected);
        assert!(diff <= 1e-4, "{shape:?}: max abs diff {diff}");
    }
}

#[test]
fn gaussian_density_onnx_matches_burn_in_relative_terms() {
    let mut q = GaussianDensityConfig::new()
        .with_descriptor_channels(6)
        .with_condition_channels(5)
        .with_hidden_channels(7)
        .init(&device());
    // The output layers start at zero; randomise them so the test sees a real mean/variance.
    q.mean.out.weight = Param::from_tensor(
        q.mean
            .out
            .weight
            .val()
            .random_like(Distribution::Normal(0.0, 0.1)),
    );
    q.log_var.out.weight = Param::from_tensor(
        q.log_var
            .out
            .weight
            .val()
            .random_like(Distribution::Normal(0.0, 0.1)),
    );
    let y = random([2, 6, 4, 5, 6]);
    let c = random([2, 5, 4, 5, 6]);
    for score in [GaussianScore::Nll, GaussianScore::ExcessNll] {
        let expected = host(q.score(y.clone(), c.clone(), score));
        let exported = graphs::gaussian_density(&q, score);
        assert_eq!(exported.spec.outputs[0].name, score.output_name());
        let got = run_onnx(&exported, &[host(y.clone()), host(c.clone())]);
        let worst = max_relative_diff(&got, &expected);
        assert!(worst <= 1e-4, "{score:?}: max relative diff {worst}");
    }
}

/// `p + N(0, std^2)` noise, as a fresh parameter.
fn perturbed<const D: usize>(p: &Param<Tensor<D>>, std: f64) -> Param<Tensor<D>> {
    let v = p.val();
    Param::from_tensor(v.clone() + v.random_like(Distribution::Normal(0.0, std)))
}

/// A small flow with every trainable parameter moved away from its initial value (most start
/// at zero, which would make the flow the identity), so the export sees real condition-
/// dependent scales and shifts, LU factors and coupling nets.
fn randomised_glow(channels: usize, kernel: usize) -> ConditionalGlow {
    let mut glow = ConditionalGlowConfig::new()
        .with_channels(channels)
        .with_condition_channels(3)
        .with_blocks(3)
        .with_hidden_channels(8)
        .with_coupling_kernel(kernel)
        .init(&device());
    for b in &mut glow.blocks {
        let norm = &mut b.actnorm;
        norm.log_scale = perturbed(&norm.log_scale, 0.1);
        norm.bias = perturbed(&norm.bias, 0.1);
        norm.cond.weight = perturbed(&norm.cond.weight, 0.1);
        norm.cond.bias = norm.cond.bias.as_ref().map(|p| perturbed(p, 0.1));
        let mix = &mut b.mix;
        mix.lower = perturbed(&mix.lower, 0.1);
        mix.upper = perturbed(&mix.upper, 0.1);
        mix.log_s = perturbed(&mix.log_s, 0.1);
        let cpl = &mut b.coupling;
        for conv in [&mut cpl.hidden_in, &mut cpl.hidden_mid, &mut cpl.out] {
            conv.weight = perturbed(&conv.weight, 0.1);
            conv.bias = conv.bias.as_ref().map(|p| perturbed(p, 0.1));
        }
    }
    glow
}

#[test]
fn glow_mixing_matrix_matches_the_module() {
    let glow = randomised_glow(5, 1);
    for block in &glow.blocks {
        let (w, logdet) = screener_export::glow::mixing_matrix(&block.mix);
        let burn_w = block.mix.weight().into_data().try_to_vec::<f32>().unwrap();
        let err = w
            .iter()
            .zip(&burn_w)
            .map(|(a, &b)| (a - b as f64).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-5, "max abs diff {err}");
        let log_s: f64 = block
            .mix
            .log_s
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .sum();
        assert!((logdet - log_s).abs() < 1e-6);
    }
}

#[test]
fn glow_density_onnx_matches_burn_in_relative_terms() {
    // 4 channels as the spec asks; 5 makes the two halves of the coupling differ in size, so
    // a swapped split or join in the export would show.
    for (channels, kernel) in [(4, 1), (4, 3), (5, 3)] {
        let glow = randomised_glow(channels, kernel);
        let exported = graphs::glow_density(&glow);
        assert_eq!(exported.spec.file, "density.onnx");
        // Two batch and spatial sizes through the same graph.
        for spatial in [[4, 5, 6], [3, 2, 5]] {
            let [n1, n2, n3] = spatial;
            let batch = if n1 == 4 { 2 } else { 1 };
            let y = random([batch, channels, n1, n2, n3]);
            let c = random([batch, 3, n1, n2, n3]);
            let expected = host(glow.nll(y.clone(), c.clone()));
            let plain = host(glow_free_nll(y.clone()));
            let got = run_onnx(&exported, &[host(y), host(c)]);
            assert_eq!(got.shape(), [batch, 1, n1, n2, n3]);
            let worst = max_relative_diff(&got, &expected);
            eprintln!(
                "glow D={channels} k={kernel} {spatial:?}: max relative diff {worst:e}, \
                 max abs diff {:e}, NLL in [{}, {}]",
                max_abs_diff(&got, &expected),
                expected.iter().copied().fold(f32::MAX, f32::min),
                expected.iter().copied().fold(f32::MIN, f32::max),
            );
            assert!(
                worst <= 1e-4,
                "D={channels} k={kernel} {spatial:?}: max relative diff {worst}"
            );
            // The randomised flow must be far from the identity for the test to mean much.
            let moved = max_abs_diff(&expected, &plain);
            assert!(moved > 0.5, "the flow is close to the identity ({moved})");
        }
    }
}

/// The standard normal NLL of `y` (the flow's NLL when it is the identity).
fn glow_free_nll(y: Tensor<5>) -> Tensor<5> {
    let d = y.dims()[1] as f64;
    (y.clone() * y).sum_dim(1) * 0.5 + 0.5 * d * (2.0 * std::f64::consts::PI).ln()
}
