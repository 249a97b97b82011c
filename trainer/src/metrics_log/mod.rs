//! Per-step training metrics: a JSON-lines log (`metrics.jsonl`) and loss curves drawn to
//! PNG (`curves.png`) without any font or plotting dependency.

mod font;
mod jsonl;
mod plot;

pub use jsonl::{read_records, MetricsLog, StepRecord};
pub use plot::{plot_curves, PlotError};
