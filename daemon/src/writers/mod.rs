//! DICOM objects the node sends back to the PACS: a Segmentation (SEG) of the abnormal
//! voxels and a fused heat-map overlay series, both derived from one source CT series.
//!
//! Both writers work on a [`SourceSeries`]: the instance headers and frame layout of the
//! CT plus the patient, study and frame-of-reference attributes copied from its files. The
//! mask or score volume must lie on the source grid, slice `k` being the `k`-th frame of the
//! layout (sorted along the slice normal). A series that was tilted or unevenly spaced was
//! resampled on loading, so its volume slices are not source frames: it is refused.

mod colormap;
mod elements;
mod font;
mod overlay;
pub mod preview;
mod render;
mod seg;
mod seg_pixels;
mod source;
mod uid;

use std::path::PathBuf;

pub use colormap::{heat_colour, HEAT_TABLE};
pub use elements::{ContentDateTime, Equipment};
pub use overlay::{overlay_instance_uid, write_overlay, OverlayParams, Window};
pub use preview::render_previews;
pub use render::render_slice;
pub use seg::{
    segmentation_object, write_segmentation, Algorithm, SegParams, SegSummary, SegmentationValues,
};
pub use source::SourceSeries;
pub use uid::uid_from_seed;

/// Why a derived object could not be written; each variant names the series or file.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("series {series_uid}: {reason}")]
    Layout { series_uid: String, reason: String },

    #[error(
        "series {series_uid}: the volume was resampled on loading ({reason}), so its slices are \
         not the source frames; derived objects need a series whose frames stack unchanged"
    )]
    NotFrameAligned { series_uid: String, reason: String },

    #[error("series {series_uid}: {what} has {found} but the source grid is {expected}")]
    GridMismatch {
        series_uid: String,
        what: &'static str,
        expected: String,
        found: String,
    },

    #[error("{path}: reading source attributes: {reason}")]
    Source { path: PathBuf, reason: String },

    #[error("{path}: {reason}")]
    Write { path: PathBuf, reason: String },

    #[error("invalid parameter {name}: {reason}")]
    Parameter { name: &'static str, reason: String },
}
