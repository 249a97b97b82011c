//! screener-export: turns trained burn modules (from `screener-trainer`) into ONNX graphs
//! written by our own code (burn's exporter does not lower 3D convolutions) and packs them
//! into a model bundle (`screener_core::bundle`). Not for running models: the daemon's engine
//! does that with ONNX Runtime.

pub mod bundle;
pub mod density;
pub use screener_trainer::flops;
pub mod glow;
pub mod graphs;
pub mod import;
pub mod unet;
pub mod weights;
