//! Finding the inputs of a dataset: DICOM series and NIfTI / NRRD files under the data roots,
//! the generated phantom sets and the labelled image + mask pairs.

use std::path::{Path, PathBuf};

use screener_core::dicom_series::{scan_folder, SeriesError, SeriesFiles};

use super::index::{Skipped, Split};
use crate::config::{DataConfig, LabelledPair, LabelledRole, LesionScan, PhantomSetConfig};

/// One input to preprocess.
#[derive(Debug, Clone)]
pub enum Source {
    Dicom(SeriesFiles),
    /// A `.nii`, `.nii.gz` or `.nrrd` file.
    File(PathBuf),
    /// Phantom number `index` of a set.
    Phantom {
        set: PhantomSetConfig,
        index: usize,
    },
    Labelled(LabelledPair),
    /// A real CT that receives synthetic lesions.
    LesionScan(LesionScan),
}

impl Source {
    /// A human-readable name for the index and for error reports.
    pub fn describe(&self) -> String {
        match self {
            Source::Dicom(s) => format!(
                "DICOM series {} ({} files under {})",
                s.series_uid,
                s.instances.len(),
                s.instances
                    .first()
                    .and_then(|h| h.path.parent())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            Source::File(p) => p.display().to_string(),
            Source::Phantom { set, index } => format!(
                "phantom seed {}, {}x{}x{} voxels of {}x{}x{} mm ({} lesions)",
                set.seed + *index as u64,
                set.dims[0],
                set.dims[1],
                set.dims[2],
                set.spacing[0],
                set.spacing[1],
                set.spacing[2],
                set.lesions
            ),
            Source::Labelled(p) => format!("{} with mask {}", p.image.display(), p.mask.display()),
            Source::LesionScan(s) => format!(
                "{} with {} synthetic lesions (seed {})",
                s.image.display(),
                s.lesions,
                s.seed
            ),
        }
    }

    /// The group evaluation reports a volume under: `phantoms` for generated ones, the image's
    /// file name for a labelled pair, `unlabelled` for the data roots.
    pub fn group(&self) -> String {
        match self {
            Source::Dicom(_) | Source::File(_) => "unlabelled".into(),
            Source::Phantom { .. } => "phantoms".into(),
            Source::Labelled(p) => file_name(&p.image),
            Source::LesionScan(s) => format!("{} + lesions", file_name(&s.image)),
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn split_of(role: LabelledRole) -> Split {
    match role {
        LabelledRole::Finetune => Split::Finetune,
        LabelledRole::Evaluate => Split::Evaluate,
    }
}

/// True for the file names the trainer reads as whole volumes.
pub fn is_volume_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz") || name.ends_with(".nrrd")
}

fn collect_volume_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_volume_files(&path, out)?;
        } else if is_volume_file(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Every input of the dataset with its split, and the inputs already known to be unusable.
/// A root is a folder tree or a single `.nii`, `.nii.gz` or `.nrrd` file.
pub fn discover_sources(config: &DataConfig) -> (Vec<(Split, Source)>, Vec<Skipped>) {
    let mut sources = Vec::new();
    let mut skipped = Vec::new();
    for root in &config.roots {
        if root.is_file() {
            if is_volume_file(root) {
                sources.push((Split::Train, Source::File(root.clone())));
            } else {
                skipped.push(Skipped {
                    source: root.display().to_string(),
                    reason: "a root that is a file must be .nii, .nii.gz or .nrrd".into(),
                });
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = collect_volume_files(root, &mut files) {
            skipped.push(Skipped {
                source: root.display().to_string(),
                reason: format!("cannot list the folder: {e}"),
            });
            continue;
        }
        files.sort();
        sources.extend(files.into_iter().map(|f| (Split::Train, Source::File(f))));
        match scan_folder(root) {
            Ok(scan) => {
                sources.extend(
                    scan.series
                        .into_iter()
                        .map(|s| (Split::Train, Source::Dicom(s))),
                );
                for e in scan.unreadable {
                    // Volume files are read above; the scan only tried them as DICOM.
                    let path = match &e {
                        SeriesError::Unreadable { path, .. } => Some(path.clone()),
                        _ => None,
                    };
                    if path.as_deref().is_some_and(is_volume_file) {
                        continue;
                    }
                    skipped.push(Skipped {
                        source: path
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| root.display().to_string()),
                        reason: e.to_string(),
                    });
                }
            }
            Err(e) => skipped.push(Skipped {
                source: root.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }
    for (set, split) in [
        (&config.phantoms, Split::Train),
        (&config.finetune_phantoms, Split::Finetune),
        (&config.eval_phantoms, Split::Evaluate),
    ] {
        for index in 0..set.count {
            sources.push((
                split,
                Source::Phantom {
                    set: set.clone(),
                    index,
                },
            ));
        }
    }
    for pair in &config.labelled {
        sources.push((split_of(pair.role), Source::Labelled(pair.clone())));
    }
    for scan in &config.lesion_scans {
        sources.push((split_of(scan.role), Source::LesionScan(scan.clone())));
    }
    (sources, skipped)
}
