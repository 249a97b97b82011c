//! The dense SSL stages learn: a few dozen steps on tiny volumes with a tiny UNet lower the
//! loss, and the stage leaves the model alone as its final network.

use std::path::PathBuf;

use burn::tensor::Device;
use ndarray::Array3;
use screener_core::{Geometry, Volume};
use screener_trainer::augment::{AugmentConfig, ColourConfig};
use screener_trainer::config::{RunConfig, StageTraining};
use screener_trainer::losses::{ObjectiveConfig, VicregConfig};
use screener_trainer::metrics_log::read_records;
use screener_trainer::models::{
    load_network, BlockMaskConfig, ConditionModelConfig, DescriptorModelConfig, Network,
    UNet3dConfig,
};
use screener_trainer::stages::fit::{FitResult, FitSpec};
use screener_trainer::stages::ssl::{
    train_condition, train_descriptor, ConditionSslConfig, DescriptorSslConfig, SslVolume,
};

/// Smooth "anatomy" in [0, 1] with a blob whose place differs per volume.
fn volume(seed: usize) -> SslVolume {
    let c = [
        8.0 + seed as f64,
        14.0 + 3.0 * seed as f64,
        20.0 - 2.0 * seed as f64,
    ];
    let data = Array3::from_shape_fn((24, 40, 40), |(k, j, i)| {
        let (z, y, x) = (k as f64, j as f64, i as f64);
        let waves = 0.2 * (x / 4.0).sin() * (y / 6.0).cos() + 0.1 * (z / 3.0).sin();
        let d2 = (z - c[0]).powi(2) + (y - c[1]).powi(2) + (x - c[2]).powi(2);
        (0.45 + waves + 0.3 * (-d2 / 30.0).exp()).clamp(0.0, 1.0) as f32
    });
    let geometry = Geometry::axial([0.0; 3], [1.5, 1.5, 2.25]);
    let body = Volume::new(data.mapv(|_| 1u8), geometry);
    SslVolume {
        image: Volume::new(data, geometry),
        body,
    }
}

fn augment() -> AugmentConfig {
    AugmentConfig {
        crop_size: [16, 16, 16],
        positives_per_pair: 256,
        colour: ColourConfig {
            noise_sigma: [0.0, 0.02],
            ..ColourConfig::default()
        },
        ..AugmentConfig::default()
    }
}

fn backbone() -> UNet3dConfig {
    UNet3dConfig::new()
        .with_channels(vec![4, 8])
        .with_out_channels(8)
        .with_norm_groups(4)
}

fn training(steps: usize) -> StageTraining {
    StageTraining {
        steps,
        batch_size: 2,
        lr: 5e-3,
        warmup_steps: 3,
        ..StageTraining::default()
    }
}

fn run_config() -> RunConfig {
    RunConfig {
        seed: 5,
        checkpoint_every: 1000,
        plot_every: 1000,
        keep_checkpoints: 1,
        ..RunConfig::default()
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Mean of the first and of the last `window` steps of one logged series (`loss` or a term),
/// and the number of steps.
fn first_and_last(dir: &std::path::Path, series: &str, window: usize) -> (f64, f64, usize) {
    let records = read_records(&dir.join("metrics.jsonl")).unwrap();
    let values: Vec<f64> = records
        .iter()
        .map(|r| match series {
            "loss" => r.loss,
            term => r.terms[term],
        })
        .collect();
    eprintln!(
        "{series} {:?}",
        values
            .iter()
            .map(|l| (l * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    for r in &records {
        assert!(r.voxels_per_second > 0.0 && r.step_seconds > 0.0);
    }
    (
        mean(&values[..window]),
        mean(&values[values.len() - window..]),
        records.len(),
    )
}

fn vicreg() -> ObjectiveConfig {
    ObjectiveConfig::Vicreg(VicregConfig {
        expander_dims: vec![32, 32, 32],
        norm_groups: 4,
        ..VicregConfig::default()
    })
}

/// Runs `train` for 50 steps on three volumes in a fresh folder (device seed `seed`, stage
/// seed `10 + seed`) and checks that the loss fell by a tenth and the positive pairs came
/// closer than other pairs; returns the final network's stem (inside the returned folder)
/// and the device.
fn fifty_steps_lower_the_loss<M>(
    name: &'static str,
    seed: u64,
    train: impl FnOnce(&FitSpec, &mut [SslVolume], &Device) -> anyhow::Result<FitResult<M>>,
) -> (tempfile::TempDir, PathBuf, Device) {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex().autodiff();
    device.seed(seed);
    let t = training(50);
    let run = run_config();
    let spec = FitSpec {
        name,
        dir: dir.path(),
        training: &t,
        run: &run,
        seed: 10 + seed,
        resume: false,
    };
    let mut volumes: Vec<SslVolume> = (0..3).map(volume).collect();
    let result = train(&spec, volumes.as_mut_slice(), &device).unwrap();
    let (first, last, steps) = first_and_last(dir.path(), "loss", 10);
    assert_eq!(steps, 50);
    assert!(last < 0.9 * first, "loss {first:.4} -> {last:.4}");
    // The network learnt correspondences, not only a spread of its outputs.
    let (first, last, _) = first_and_last(dir.path(), "positive_distance_ratio", 10);
    assert!(
        last < 0.8 * first,
        "positive distance ratio {first:.4} -> {last:.4}"
    );
    (dir, result.final_stem, device)
}

#[test]
fn descriptor_vicreg_training_lowers_the_loss_and_keeps_the_descriptor_model() {
    let network = DescriptorSslConfig::new(
        DescriptorModelConfig::new().with_backbone(backbone()),
        &vicreg(),
    );
    let (_dir, stem, device) =
        fifty_steps_lower_the_loss("descriptor", 1, |spec, volumes, device| {
            let start = network.build(device);
            train_descriptor(spec, &network, start, volumes, &augment(), device)
        });
    let (cfg, _) = load_network::<DescriptorModelConfig>(&stem, &device).unwrap();
    assert_eq!(cfg.backbone.channels, vec![4, 8]);
}

#[test]
fn condition_vicreg_training_with_block_masking_lowers_the_loss() {
    let network = ConditionSslConfig::new(
        ConditionModelConfig::new().with_backbone(backbone()),
        &vicreg(),
        // A light mask: a 2-level UNet sees too little context to fill in 60 % of the crop.
        BlockMaskConfig::new()
            .with_block([4, 4, 4])
            .with_ratio(0.25),
    );
    let (_dir, stem, device) =
        fifty_steps_lower_the_loss("condition", 2, |spec, volumes, device| {
            let start = network.build(device);
            train_condition(spec, &network, start, volumes, &augment(), device)
        });
    load_network::<ConditionModelConfig>(&stem, &device).unwrap();
}
