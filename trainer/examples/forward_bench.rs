//! Times forward + backward of the CPU-default descriptor UNet on a `[2, 1, 64, 96, 96]` batch
//! (two 96 x 96 x 64 patches) on the training device (flex CPU, or CUDA with `--features cuda`).
//!
//! `cargo run -p screener-trainer --example forward_bench [--release] -- [repeats]`

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Distribution, Tensor};
use screener_trainer::device::training_device;
use screener_trainer::models::DescriptorModelConfig;

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("repeats: a number"))
        .unwrap_or(2);
    let device = training_device();
    let model = DescriptorModelConfig::new().init(&device);
    println!(
        "descriptor UNet channels {:?}, {} parameters",
        DescriptorModelConfig::new().backbone.channels,
        model.num_params()
    );
    for run in 0..repeats {
        let x = Tensor::<5>::random([2, 1, 64, 96, 96], Distribution::Default, &device);
        let start = Instant::now();
        let y = model.forward(x);
        let loss = (y.clone() * y).mean();
        let value: f32 = loss.clone().into_scalar();
        let forward = start.elapsed();
        let grads = loss.backward();
        let grad_norm: f32 = model
            .backbone
            .stem
            .weight
            .grad(&grads)
            .expect("stem gradient")
            .square()
            .sum()
            .into_scalar();
        let total = start.elapsed();
        println!(
            "run {run}: forward {:.2} s, forward+backward {:.2} s (loss {value:.4}, |grad stem|^2 {grad_norm:.3e})",
            forward.as_secs_f64(),
            total.as_secs_f64()
        );
    }
}
