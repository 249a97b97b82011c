//! `prepare`: index and preprocess the dataset of `[data]` into the run's cache.

use std::sync::Mutex;

use super::progress::progress_bar;
use super::RunLayout;
use crate::config::TrainConfig;
use crate::data::{prepare_dataset, PrepareReport};

pub fn run(config: &TrainConfig, layout: &RunLayout) -> anyhow::Result<PrepareReport> {
    std::fs::create_dir_all(&layout.root)?;
    std::fs::write(layout.root.join("config.toml"), config.to_toml())?;
    let bar = Mutex::new(None);
    let report = prepare_dataset(&config.data, layout.cache_dir(), &|total, source| {
        let mut bar = bar.lock().expect("progress bar lock");
        let bar = bar.get_or_insert_with(|| progress_bar(total as u64, "prepare"));
        bar.set_prefix(source.to_string());
        bar.inc(1);
    })?;
    if let Some(bar) = bar.into_inner().expect("progress bar lock") {
        bar.finish_and_clear();
    }
    Ok(report)
}
