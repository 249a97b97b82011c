//! Parity: every exported network, run by ONNX Runtime, agrees with the burn module it was
//! exported from on the same random input (max abs diff <= 1e-4).

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor};
use ndarray::{ArrayD, IxDyn};
use ort::session::Session;
use ort::value::TensorRef;
use screener_export::graphs::{self, ExportedNetwork};
use screener_trainer::models::{
    ConditionModelConfig, DescriptorModelConfig, DistilledUNetConfig, GaussianDensityConfig,
    UNet3dConfig,
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
    let expected = host(q.nll(y.clone(), c.clone()));
    let got = run_onnx(&graphs::gaussian_density(&q), &[host(y), host(c)]);
    let worst = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f32::max);
    assert!(worst <= 1e-4, "max relative diff {worst}");
}
