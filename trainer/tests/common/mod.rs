//! Shared set-up of the trainer's integration tests: the CI config with tiny volumes, a
//! prepared run folder and seeded (untrained) SSL networks standing in for trained ones.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use screener_trainer::config::TrainConfig;
use screener_trainer::models::save_network;
use screener_trainer::stages::{self, RunLayout, Stage};

pub fn ci_config() -> TrainConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/train-ci.toml");
    TrainConfig::load(&path).expect("config/train-ci.toml parses")
}

/// A prepared run folder with descriptor and condition networks at their final stems.
pub fn prepared_run(config: &TrainConfig, root: &Path) -> RunLayout {
    let layout = RunLayout::new(root, config);
    stages::prepare::run(config, &layout).expect("prepare");
    write_ssl_networks(config, &layout);
    layout
}

/// Seeded descriptor and condition networks, as if the SSL stages had run.
pub fn write_ssl_networks(config: &TrainConfig, layout: &RunLayout) {
    let device = Device::flex();
    device.seed(11);
    for stage in [Stage::Descriptor, Stage::Condition] {
        std::fs::create_dir_all(layout.stage_dir(stage)).unwrap();
    }
    let d = config.models.descriptor();
    save_network(&d, &d.init(&device), &layout.final_stem(Stage::Descriptor)).unwrap();
    let c = config.models.condition();
    save_network(&c, &c.init(&device), &layout.final_stem(Stage::Condition)).unwrap();
}

pub fn losses(stage_dir: &Path) -> Vec<f64> {
    screener_trainer::metrics_log::read_records(&stage_dir.join("metrics.jsonl"))
        .unwrap()
        .iter()
        .map(|r| r.loss)
        .collect()
}

pub fn final_weights(stage_dir: &Path) -> PathBuf {
    stage_dir.join("final.safetensors")
}

/// Largest absolute difference between the parameters of two saved Gaussian densities.
pub fn max_weight_difference(a: &Path, b: &Path) -> f32 {
    use burn::store::ModuleSnapshot;
    use screener_trainer::models::{load_network, GaussianDensityConfig};
    let device = Device::flex();
    let values = |stem: &Path| -> Vec<(String, Vec<f32>)> {
        let (_, model) = load_network::<GaussianDensityConfig>(stem, &device).unwrap();
        model
            .collect(None, None, false)
            .into_iter()
            .map(|t| {
                let bytes = t.to_bytes().unwrap();
                let data = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                (t.name.clone(), data)
            })
            .collect()
    };
    let (va, vb) = (values(a), values(b));
    assert_eq!(va.len(), vb.len());
    let mut max = 0f32;
    for ((na, xa), (nb, xb)) in va.iter().zip(&vb) {
        assert_eq!(na, nb);
        for (x, y) in xa.iter().zip(xb) {
            max = max.max((x - y).abs());
        }
    }
    max
}
