//! Data side of dense self-supervised learning (`docs/METHOD.md`, "Dense SSL"): from one
//! preprocessed volume and its body mask, two overlapping, independently resampled, mirrored,
//! rotated and colour-augmented views, and the positive voxel pairs between them with exact
//! correspondences. Plain `ndarray` work on the CPU, driven by a seedable generator passed in;
//! no tensors (the SSL stage turns crop pairs into batches).

mod colour;
mod config;
mod crop_pair;
mod view;

pub use colour::{augment_colour, blur_in_plane, gaussian_filter_1d, standard_normal};
pub use config::{AugmentConfig, ColourConfig};
pub use crop_pair::{
    check_shapes, sample_crop_pair, sample_crop_pair_from_volume, sample_layout, AugmentError,
    AugmentedView, CropPair, PairLayout, PositivePair,
};
pub use view::ViewGeometry;
