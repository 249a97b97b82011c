//! The defects a DICOM series can have, each naming the file(s) involved.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SeriesError {
    #[error("{path}: unreadable DICOM file: {reason}")]
    Unreadable { path: PathBuf, reason: String },

    #[error("{path}: missing or invalid attribute {attribute}: {reason}")]
    BadAttribute {
        path: PathBuf,
        attribute: &'static str,
        reason: String,
    },

    #[error("{path}: modality is {modality:?}, not CT")]
    NotCt { path: PathBuf, modality: String },

    #[error("no DICOM images found in {0}")]
    NoImages(PathBuf),

    #[error("{folder} holds {count} series ({uids}); choose one")]
    SeveralSeries {
        folder: PathBuf,
        count: usize,
        uids: String,
    },

    #[error("{other}: image orientation differs from {first}")]
    MixedOrientation { first: PathBuf, other: PathBuf },

    #[error("{other}: {what} is {found}, but {first} has {expected}")]
    InconsistentImage {
        first: PathBuf,
        other: PathBuf,
        what: &'static str,
        expected: String,
        found: String,
    },

    #[error(
        "missing slice(s): {gap_mm:.3} mm between {before} and {after} \
         (expected about {expected_mm:.3} mm; {missing} slice(s) missing after sorted position {index})"
    )]
    MissingSlices {
        before: PathBuf,
        after: PathBuf,
        index: usize,
        gap_mm: f64,
        expected_mm: f64,
        missing: usize,
    },

    #[error("{first} and {second} are at the same position ({position_mm:.3} mm along the slice normal)")]
    DuplicatePosition {
        first: PathBuf,
        second: PathBuf,
        position_mm: f64,
    },

    #[error("{path}: unsupported pixel data: {reason}")]
    UnsupportedPixelData { path: PathBuf, reason: String },

    #[error("{path}: cannot decode pixel data (transfer syntax {transfer_syntax}): {reason}")]
    Decode {
        path: PathBuf,
        transfer_syntax: String,
        reason: String,
    },

    #[error("cannot read folder {path}: {reason}")]
    Folder { path: PathBuf, reason: String },
}
