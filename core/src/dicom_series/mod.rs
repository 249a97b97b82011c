//! DICOM CT series -> volume in HU with its patient geometry.
//!
//! `scan_folder` reads headers and groups files by SeriesInstanceUID; `load_series` checks a
//! series (modality, orientation, image size, spacing, gaps, duplicates), decodes its pixel
//! data in every transfer syntax dicom-pixeldata decodes here, applies Rescale Slope and
//! Intercept, and stacks the slices along the slice normal. Enhanced multi-frame CT is read
//! from its functional groups. Gantry tilt and uneven spacing are resampled onto an
//! orthogonal grid (see `restack`) rather than rejected.

mod error;
mod header;
mod layout;
mod pixels;
mod restack;
mod scan;

use std::path::Path;

pub use error::SeriesError;
pub use header::{instance_header_from, read_instance_header, FrameHeader, InstanceHeader};
pub use layout::{layout_series, PlacedFrame, SeriesLayout};
pub use restack::OUTSIDE_HU;
pub use scan::{scan_folder, FolderScan, SeriesFiles};

use crate::volume::CtVolume;

/// A CT volume read from DICOM, with what was done to make it one.
#[derive(Debug, Clone)]
pub struct LoadedSeries {
    pub volume: CtVolume,
    /// Gantry tilt that was corrected, in degrees (0 when none).
    pub tilt_degrees: f64,
    /// True when the slices were resampled onto an orthogonal, evenly spaced grid.
    pub restacked: bool,
}

/// Checks and decodes one series.
pub fn load_series(series: &SeriesFiles) -> Result<LoadedSeries, SeriesError> {
    let layout = layout_series(&series.instances)?;
    let stacked = pixels::decode_series(&series.instances, &layout)?;
    if layout.needs_restack {
        Ok(LoadedSeries {
            volume: restack::restack(&stacked, &layout),
            tilt_degrees: layout.tilt_degrees,
            restacked: true,
        })
    } else {
        Ok(LoadedSeries {
            volume: CtVolume::new(stacked, layout.stacked),
            tilt_degrees: 0.0,
            restacked: false,
        })
    }
}

/// Reads the single CT series held in `folder` (error if it holds none or several).
pub fn read_series_folder(folder: &Path) -> Result<LoadedSeries, SeriesError> {
    let scan = scan_folder(folder)?;
    match scan.series.as_slice() {
        [] => Err(scan
            .unreadable
            .into_iter()
            .next()
            .unwrap_or_else(|| SeriesError::NoImages(folder.to_owned()))),
        [one] => load_series(one),
        several => Err(SeriesError::SeveralSeries {
            folder: folder.to_owned(),
            count: several.len(),
            uids: several
                .iter()
                .map(|s| s.series_uid.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
