//! Step time and throughput of `train-density` at the default (CPU) sizes: 96 x 96 x 64
//! patches, batch 2, the default descriptor and condition UNets (untrained stand-ins) and
//! the Gaussian density. A measurement, not a check; run it in release:
//! `cargo test -p screener-trainer --release --test density_throughput -- --ignored --nocapture`

mod common;

use screener_trainer::config::TrainConfig;
use screener_trainer::metrics_log::read_records;
use screener_trainer::stages::{self, RunLayout, Stage};

#[test]
#[ignore = "a measurement at full size; run in release"]
fn density_step_time_at_the_default_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = TrainConfig::default();
    config.data.phantoms.count = 2;
    config.data.finetune_phantoms.count = 0;
    config.data.eval_phantoms.count = 0;
    config.density.training.steps = 6;
    config.run.checkpoint_every = 1000;
    let layout = RunLayout::new(dir.path(), &config);
    stages::prepare::run(&config, &layout).unwrap();
    common::write_ssl_networks(&config, &layout);
    stages::density::run(&config, &layout, false).unwrap();
    let records = read_records(&layout.stage_dir(Stage::Density).join("metrics.jsonl")).unwrap();
    let timed = &records[1..];
    let seconds = timed.iter().map(|r| r.step_seconds).sum::<f64>() / timed.len() as f64;
    let throughput = timed.iter().map(|r| r.voxels_per_second).sum::<f64>() / timed.len() as f64;
    println!(
        "density (gaussian, masking-invariant, batch {}): {seconds:.2} s/step, {throughput:.0} pooled voxels/s, losses {:?}",
        config.density.training.batch_size,
        records.iter().map(|r| r.loss).collect::<Vec<_>>()
    );
}
