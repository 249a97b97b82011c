//! The scoring engine: runs a model bundle's ONNX networks with ONNX Runtime over a CT and
//! produces the anomaly map on the CT's own grid, the study score and the flag.

#[cfg(feature = "cuda")]
pub mod gpu;
pub mod network;
mod pool;
pub mod runtime;
mod scorer;
mod study_score;

use std::path::PathBuf;

use screener_core::bundle::BundleError;
use screener_core::patches::PatchError;
use thiserror::Error;

pub use network::Network;
pub use runtime::{ensure_runtime, RuntimeError};
pub use scorer::{EngineOptions, ScoreResult, Scorer, StageTimings};

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("{path}: {reason}")]
    Network { path: PathBuf, reason: String },
    #[error(transparent)]
    Patches(#[from] PatchError),
    #[error("internal error: {0}")]
    Internal(String),
}
