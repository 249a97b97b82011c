//! Reads a CT from whatever the user points at: a DICOM series folder, a NIfTI file or an
//! NRRD file (chosen by what the path is and its extension).

use std::path::Path;

use thiserror::Error;

use crate::dicom_series::{read_series_folder, SeriesError};
use crate::nifti_io::{read_nifti, NiftiError};
use crate::nrrd_io::{read_nrrd, NrrdError};
use crate::volume::CtVolume;

#[derive(Debug, Error)]
pub enum InputError {
    #[error(transparent)]
    Dicom(#[from] SeriesError),
    #[error(transparent)]
    Nifti(#[from] NiftiError),
    #[error(transparent)]
    Nrrd(#[from] NrrdError),
    #[error("{0}: not a DICOM folder, .nii, .nii.gz or .nrrd file")]
    UnknownFormat(String),
}

/// A CT read from any input, with a note on anything done to it (such as tilt correction).
#[derive(Debug, Clone)]
pub struct CtInput {
    pub volume: CtVolume,
    pub note: Option<String>,
}

pub fn read_ct(path: &Path) -> Result<CtInput, InputError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if path.is_dir() {
        let s = read_series_folder(path)?;
        let note = s.restacked.then(|| {
            format!(
                "resampled onto an orthogonal, evenly spaced grid (gantry tilt {:.1} degrees)",
                s.tilt_degrees
            )
        });
        Ok(CtInput {
            volume: s.volume,
            note,
        })
    } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
        Ok(CtInput {
            volume: read_nifti(path)?,
            note: None,
        })
    } else if name.ends_with(".nrrd") {
        Ok(CtInput {
            volume: read_nrrd(path)?,
            note: None,
        })
    } else {
        Err(InputError::UnknownFormat(path.display().to_string()))
    }
}
