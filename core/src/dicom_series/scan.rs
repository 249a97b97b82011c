//! Finds the DICOM image files under a folder and groups them by series.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::error::SeriesError;
use super::header::{read_instance_header, InstanceHeader};

/// The instances of one series, in no particular order.
#[derive(Debug, Clone)]
pub struct SeriesFiles {
    pub study_uid: String,
    pub series_uid: String,
    pub instances: Vec<InstanceHeader>,
}

/// What a folder holds: its image series, and the files that could not be used (with why).
#[derive(Debug, Default)]
pub struct FolderScan {
    pub series: Vec<SeriesFiles>,
    pub unreadable: Vec<SeriesError>,
}

/// Reads the headers of every file under `folder` (recursively, in parallel) and groups the
/// images by SeriesInstanceUID. Files that are not DICOM images are listed in `unreadable`.
pub fn scan_folder(folder: &Path) -> Result<FolderScan, SeriesError> {
    let mut files = Vec::new();
    collect_files(folder, &mut files)?;
    files.sort();
    let headers: Vec<_> = files.par_iter().map(|p| read_instance_header(p)).collect();
    let mut by_series: BTreeMap<String, SeriesFiles> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for h in headers {
        match h {
            Ok(h) => by_series
                .entry(h.series_uid.clone())
                .or_insert_with(|| SeriesFiles {
                    study_uid: h.study_uid.clone(),
                    series_uid: h.series_uid.clone(),
                    instances: Vec::new(),
                })
                .instances
                .push(h),
            Err(e) => unreadable.push(e),
        }
    }
    Ok(FolderScan {
        series: by_series.into_values().collect(),
        unreadable,
    })
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), SeriesError> {
    let folder_error = |e: std::io::Error| SeriesError::Folder {
        path: dir.to_owned(),
        reason: e.to_string(),
    };
    for entry in std::fs::read_dir(dir).map_err(folder_error)? {
        let entry = entry.map_err(folder_error)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(folder_error)?;
        if kind.is_dir() {
            collect_files(&path, out)?;
        } else if kind.is_file() && !is_ignored(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Files that are never images: the media directory and hidden files.
fn is_ignored(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.') || name.eq_ignore_ascii_case("DICOMDIR")
}
