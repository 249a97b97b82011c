//! Measures a descriptor SSL training step at the CPU defaults (crops 48 x 48 x 32, 2 crop
//! pairs, 256 positives per pair, the default 4-level UNet, VICReg expander 256-256-256):
//! step time, voxel pairs per second, peak RSS and the achieved FLOP rate.
//!
//! `cargo test --release -p screener-trainer --test ssl_bench -- --ignored --nocapture`
//!
//! FLOPs: convolutions of one UNet forward, counted by `screener_trainer::flops`, plus the
//! expander's matrix products; training = 3 x forward (forward + two backward products).

use burn::tensor::Device;
use ndarray::Array3;
use screener_core::{Geometry, Volume};
use screener_trainer::augment::AugmentConfig;
use screener_trainer::config::{ModelsConfig, RunConfig, StageTraining};
use screener_trainer::losses::{ObjectiveConfig, VicregConfig};
use screener_trainer::metrics_log::read_records;
use screener_trainer::models::Network;
use screener_trainer::stages::fit::FitSpec;
use screener_trainer::stages::ssl::{train_descriptor, DescriptorSslConfig, SslVolume};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn descriptor_ssl_step_at_the_cpu_defaults() {
    // A preprocessed-size volume: 160 x 160 x 80 voxels at 1.5 x 1.5 x 2.25 mm.
    let data = Array3::from_shape_fn((80, 160, 160), |(k, j, i)| {
        let (z, y, x) = (k as f32, j as f32, i as f32);
        (0.5 + 0.2 * (x / 7.0).sin() * (y / 9.0).cos() + 0.1 * (z / 5.0).sin()).clamp(0.0, 1.0)
    });
    let geometry = Geometry::axial([0.0; 3], [1.5, 1.5, 2.25]);
    let mut volumes = vec![SslVolume {
        body: Volume::new(data.mapv(|_| 1u8), geometry),
        image: Volume::new(data, geometry),
    }];
    let augment = AugmentConfig::default();
    let vicreg = VicregConfig::default();
    let network = DescriptorSslConfig::new(
        ModelsConfig::default().descriptor(),
        &ObjectiveConfig::Vicreg(vicreg.clone()),
    );
    let steps = 6;
    let training = StageTraining {
        steps,
        ..StageTraining::default()
    };
    let run = RunConfig {
        checkpoint_every: 1_000_000,
        plot_every: 1_000_000,
        ..RunConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = FitSpec {
        name: "ssl-bench",
        dir: dir.path(),
        training: &training,
        run: &run,
        seed: 1,
        resume: false,
    };
    let device = Device::flex().autodiff();
    train_descriptor(
        &spec,
        &network,
        network.build(&device),
        volumes.as_mut_slice(),
        &augment,
        &device,
    )
    .unwrap();
    let records = read_records(&dir.path().join("metrics.jsonl")).unwrap();
    // The first step pays for allocation warm-up.
    let mut times: Vec<f64> = records[1..].iter().map(|r| r.step_seconds).collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let pairs_per_second: Vec<f64> = records[1..].iter().map(|r| r.voxels_per_second).collect();

    let crop: usize = augment.crop_size.iter().product();
    let crops = 2 * training.batch_size;
    let unet = network.build(&Device::flex()).descriptor.backbone;
    let unet_flops = screener_trainer::flops::unet(&unet, crop) * crops as f64;
    let pairs = (augment.positives_per_pair * training.batch_size) as f64;
    let mut widths = vec![vicreg.input_channels];
    widths.extend(&vicreg.expander_dims);
    let expander: f64 = widths.windows(2).map(|w| 2.0 * (w[0] * w[1]) as f64).sum();
    let d = *vicreg.expander_dims.last().unwrap() as f64;
    let head_flops = 2.0 * pairs * expander + 2.0 * 2.0 * pairs * d * d;
    let train_flops = 3.0 * (unet_flops + head_flops);
    println!(
        "crops {crops} x {:?} (i,j,k), positives {pairs}, UNet {:?}",
        augment.crop_size,
        ModelsConfig::default().channels
    );
    println!("step seconds (steps 2..{steps}): {times:?}, median {median:.3}");
    println!("voxel pairs per second: {pairs_per_second:?}");
    println!(
        "forward GFLOP per step: UNet {:.2}, head {:.3}; training ~{:.2} GFLOP/step, \
         achieved {:.2} GFLOP/s",
        unet_flops / 1e9,
        head_flops / 1e9,
        train_flops / 1e9,
        train_flops / median / 1e9
    );
    println!("peak RSS {:.0} MiB", peak_rss_mib());
    assert!(median > 0.0);
}
