//! Screener trainer: the burn networks of `docs/METHOD.md` (descriptor, condition, density and
//! distilled models) and the loops that train them: data preparation, checkpoints with exact
//! resume, metrics, sliding-window inference and the training and evaluation stages.
//! Not for serving: the node runs exported ONNX bundles (`screener-export`).

pub mod augment;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod device_check;
pub mod flops;
pub mod inference;
pub mod losses;
pub mod metrics_log;
pub mod models;
pub mod schedule;
pub mod stages;
