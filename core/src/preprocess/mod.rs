//! Preprocessing of `docs/METHOD.md`, shared by the node and the trainer: body crop on 5 mm
//! blocks, trilinear resampling to 1.5 x 1.5 x 2.25 mm, the [-1000, 300] HU window scaled to
//! [0, 1], and 3D CLAHE equivalent to scikit-image's `equalize_adapthist`; plus the inverse
//! mapping of results from the preprocessed grid back to the original CT grid.

mod clahe;
mod clahe_histogram;
mod crop;
mod intensity;
mod params;
mod pipeline;
mod resample;

pub use clahe::{clahe, ClaheParams};
pub use crop::{body_crop_box, crop, CropBox};
pub use intensity::clip_and_scale;
pub use params::PreprocessParams;
pub use pipeline::{preprocess, Preprocessed};
pub use resample::{resample_linear, resample_to_spacing};
