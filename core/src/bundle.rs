//! Model bundles: a folder with `manifest.json` and the ONNX files it names.
//!
//! The manifest says what the model is (name, version, kind), how to feed it (preprocessing,
//! patch size, overlap, blending, pooling, tensor names), how to read its output
//! (calibration: the study scores of normal scans and the flag threshold) and where it came
//! from (training provenance). Every file is listed with its SHA-256, checked at load, so a
//! corrupt, missing or mismatched bundle is refused with an error naming the file.
//! Written by `model-export`, read by the daemon's engine.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::preprocess::PreprocessParams;

/// The manifest format this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{path}: cannot read the model bundle manifest: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{path}: manifest schema version {found}, this build reads version {expected}")]
    SchemaVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: file listed in the manifest is missing or unreadable: {reason}")]
    MissingFile { path: PathBuf, reason: String },
    #[error("{path}: SHA-256 is {found}, the manifest says {expected}: the bundle is corrupt or was changed")]
    HashMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: {reason}")]
    Inconsistent { path: PathBuf, reason: String },
}

/// Modular: descriptor, condition and density networks; distilled: one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Modular,
    Distilled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlendingKind {
    Gaussian,
    Uniform,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub name: String,
    pub version: String,
    pub description: String,
}

/// How the preprocessed volume is cut into network inputs. Sizes are (i, j, k) voxels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchSpec {
    pub size: [usize; 3],
    pub overlap: f64,
    pub blending: BlendingKind,
    /// Average-pooling factor between the networks' input and the anomaly map they produce.
    pub pooling: [usize; 3],
    /// Value given to voxels a patch reaches beyond the volume (in the scaled [0, 1] range).
    pub pad_value: f32,
}

/// A named tensor of a network; `shape` uses -1 for dynamic axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<i64>,
}

/// One ONNX file of the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub file: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// How study scores are computed and turned into a flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Name of the study-score statistic (see the engine's documentation).
    pub statistic: String,
    /// Study scores of normal scans the threshold was set on (may be empty when uncalibrated).
    pub normal_scores: Vec<f64>,
    /// A study is flagged when its score exceeds this.
    pub threshold: f64,
    /// Voxels whose anomaly exceeds this form the "abnormal" segment.
    pub voxel_threshold: f64,
    /// Spread of voxel anomaly (e.g. its standard deviation inside the body of normal scans):
    /// displays map anomaly `a` to `1 / (1 + exp(-(a - voxel_threshold) / voxel_scale))`.
    pub voxel_scale: f64,
    /// How the threshold was chosen, in words (e.g. "99th percentile of normal scores").
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub trainer_version: String,
    pub created: String,
    /// Training data and their licences, in words.
    pub data: String,
    pub steps: BTreeMap<String, u64>,
    /// Anything a user must know, e.g. that the weights are untrained.
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub model: ModelIdentity,
    pub kind: ModelKind,
    pub preprocessing: PreprocessParams,
    pub patch: PatchSpec,
    /// The networks by role: `descriptor`, `condition`, `density` (modular) or `distilled`.
    pub networks: BTreeMap<String, NetworkSpec>,
    pub calibration: Calibration,
    pub provenance: Provenance,
    /// SHA-256 (hex) of every file of the bundle other than the manifest.
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// The name of the per-voxel anomaly the bundle reports: the output of its density
    /// (modular) or distilled network, e.g. `nll` or `excess_nll`.
    pub fn anomaly_output(&self) -> &str {
        let role = match self.kind {
            ModelKind::Modular => "density",
            ModelKind::Distilled => "distilled",
        };
        self.networks
            .get(role)
            .and_then(|n| n.outputs.first())
            .map_or("nll", |o| o.name.as_str())
    }

    /// The name of the study score's statistic (computed by the node's engine) for this
    /// bundle's anomaly, e.g. `max_body_mean3_pooled_excess_nll`.
    pub fn study_score_statistic(&self) -> String {
        format!("max_body_mean3_pooled_{}", self.anomaly_output())
    }
}

/// Network roles each kind needs.
pub fn required_networks(kind: ModelKind) -> &'static [&'static str] {
    match kind {
        ModelKind::Modular => &["descriptor", "condition", "density"],
        ModelKind::Distilled => &["distilled"],
    }
}

/// A bundle whose manifest was read and whose files were all verified.
#[derive(Debug, Clone)]
pub struct ModelBundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelBundle {
    /// Reads the manifest in `dir` and verifies the schema version and every file's hash.
    pub fn open(dir: &Path) -> Result<Self, BundleError> {
        let path = dir.join(MANIFEST_FILE);
        let manifest_error = |reason: String| BundleError::Manifest {
            path: path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| manifest_error(e.to_string()))?;
        // Read the version alone first, so a future manifest gets a version error rather
        // than a confusing field error.
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let version: Version =
            serde_json::from_str(&text).map_err(|e| manifest_error(e.to_string()))?;
        if version.schema_version != SCHEMA_VERSION {
            return Err(BundleError::SchemaVersion {
                path,
                found: version.schema_version,
                expected: SCHEMA_VERSION,
            });
        }
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| manifest_error(e.to_string()))?;
        for role in required_networks(manifest.kind) {
            let network =
                manifest
                    .networks
                    .get(*role)
                    .ok_or_else(|| BundleError::Inconsistent {
                        path: path.clone(),
                        reason: format!("a {:?} bundle needs a '{role}' network", manifest.kind),
                    })?;
            if !manifest.files.contains_key(&network.file) {
                return Err(BundleError::Inconsistent {
                    path: path.clone(),
                    reason: format!("network file {} has no hash in 'files'", network.file),
                });
            }
        }
        for (file, expected) in &manifest.files {
            let file_path = safe_join(dir, file).ok_or_else(|| BundleError::Inconsistent {
                path: path.clone(),
                reason: format!("file name {file:?} leaves the bundle folder"),
            })?;
            let found = sha256_file(&file_path).map_err(|e| BundleError::MissingFile {
                path: file_path.clone(),
                reason: e.to_string(),
            })?;
            if !found.eq_ignore_ascii_case(expected) {
                return Err(BundleError::HashMismatch {
                    path: file_path,
                    expected: expected.clone(),
                    found,
                });
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            manifest,
        })
    }

    /// Refuses a calibrated bundle whose threshold was set on another study statistic than
    /// the one the engine computes for its output (e.g. after its density output was
    /// changed by hand). The node and `screener score` check this; `screener calibrate`,
    /// which replaces the calibration, does not.
    pub fn ensure_calibration_current(&self) -> Result<(), BundleError> {
        let statistic = self.manifest.study_score_statistic();
        let calibration = &self.manifest.calibration;
        if !calibration.normal_scores.is_empty() && calibration.statistic != statistic {
            return Err(BundleError::Inconsistent {
                path: self.dir.join(MANIFEST_FILE),
                reason: format!(
                    "calibration.statistic is {:?}, but for this bundle's output the engine \
                     computes {statistic:?}: the threshold was set on another score; calibrate \
                     again (`screener calibrate`)",
                    calibration.statistic
                ),
            });
        }
        Ok(())
    }

    /// Path of the ONNX file of a network role.
    pub fn network_path(&self, role: &str) -> Option<PathBuf> {
        self.manifest
            .networks
            .get(role)
            .map(|n| self.dir.join(&n.file))
    }
}

/// Fills `manifest.files` with the hash of every network file and writes `manifest.json`.
pub fn write_manifest(dir: &Path, manifest: &mut Manifest) -> Result<(), BundleError> {
    manifest.files.clear();
    for network in manifest.networks.values() {
        let path = dir.join(&network.file);
        let hash = sha256_file(&path).map_err(|e| BundleError::MissingFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        manifest.files.insert(network.file.clone(), hash);
    }
    let path = dir.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(manifest).expect("manifests serialise");
    std::fs::write(&path, text + "\n").map_err(|e| BundleError::Manifest {
        path,
        reason: e.to_string(),
    })
}

/// Hex SHA-256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// `dir/name` when `name` is a plain relative path inside `dir`.
fn safe_join(dir: &Path, name: &str) -> Option<PathBuf> {
    let rel = Path::new(name);
    let plain = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    (plain && !name.is_empty()).then(|| dir.join(rel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_manifest() -> Manifest {
        let net = |file: &str| NetworkSpec {
            file: file.into(),
            inputs: vec![TensorSpec {
                name: "ct".into(),
                shape: vec![-1, 1, 64, 96, 96],
            }],
            outputs: vec![TensorSpec {
                name: "nll".into(),
                shape: vec![-1, 1, 32, 32, 32],
            }],
        };
        Manifest {
            schema_version: SCHEMA_VERSION,
            model: ModelIdentity {
                name: "test".into(),
                version: "0.0.1".into(),
                description: "unit test".into(),
            },
            kind: ModelKind::Distilled,
            preprocessing: PreprocessParams::default(),
            patch: PatchSpec {
                size: [96, 96, 64],
                overlap: 0.5,
                blending: BlendingKind::Gaussian,
                pooling: [3, 3, 2],
                pad_value: 0.0,
            },
            networks: [("distilled".to_string(), net("distilled.onnx"))].into(),
            calibration: Calibration {
                statistic: "max_body_mean3_pooled_nll".into(),
                normal_scores: vec![1.0, 2.0],
                threshold: 3.0,
                voxel_threshold: 2.0,
                voxel_scale: 1.0,
                method: "fixed".into(),
            },
            provenance: Provenance {
                trainer_version: "0".into(),
                created: "2026-11-28".into(),
                data: "none".into(),
                steps: BTreeMap::new(),
                notes: "untrained".into(),
            },
            files: BTreeMap::new(),
        }
    }

    fn written_bundle() -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("distilled.onnx"), b"not really onnx").unwrap();
        let mut m = sample_manifest();
        write_manifest(dir.path(), &mut m).unwrap();
        (dir, m)
    }

    #[test]
    fn a_written_bundle_opens_with_its_manifest() {
        let (dir, m) = written_bundle();
        let b = ModelBundle::open(dir.path()).unwrap();
        assert_eq!(b.manifest, m);
        assert_eq!(b.manifest.files["distilled.onnx"].len(), 64);
        assert_eq!(
            b.network_path("distilled").unwrap(),
            dir.path().join("distilled.onnx")
        );
    }

    #[test]
    fn the_study_statistic_is_named_after_the_anomaly_output() {
        let mut m = sample_manifest();
        assert_eq!(m.study_score_statistic(), "max_body_mean3_pooled_nll");
        let distilled = m.networks.get_mut("distilled").unwrap();
        distilled.outputs[0].name = "excess_nll".into();
        assert_eq!(m.anomaly_output(), "excess_nll");
        assert_eq!(
            m.study_score_statistic(),
            "max_body_mean3_pooled_excess_nll"
        );
    }

    #[test]
    fn a_calibration_of_another_statistic_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("distilled.onnx"), b"onnx").unwrap();
        let mut m = sample_manifest();
        m.networks.get_mut("distilled").unwrap().outputs[0].name = "excess_nll".into();
        write_manifest(dir.path(), &mut m).unwrap();
        // It opens (so that it can be calibrated again), but is not current.
        let e = ModelBundle::open(dir.path())
            .unwrap()
            .ensure_calibration_current()
            .unwrap_err();
        assert!(matches!(e, BundleError::Inconsistent { .. }), "{e}");
        assert!(
            e.to_string().contains("max_body_mean3_pooled_excess_nll"),
            "{e}"
        );
        // Uncalibrated, the statistic is not yet used.
        m.calibration.normal_scores.clear();
        write_manifest(dir.path(), &mut m).unwrap();
        let bundle = ModelBundle::open(dir.path()).unwrap();
        bundle.ensure_calibration_current().unwrap();
    }

    #[test]
    fn a_changed_file_is_refused_naming_it() {
        let (dir, _) = written_bundle();
        std::fs::write(dir.path().join("distilled.onnx"), b"tampered").unwrap();
        let e = ModelBundle::open(dir.path()).unwrap_err();
        assert!(matches!(e, BundleError::HashMismatch { .. }), "{e}");
        assert!(e.to_string().contains("distilled.onnx"));
    }

    #[test]
    fn a_missing_file_is_refused_naming_it() {
        let (dir, _) = written_bundle();
        std::fs::remove_file(dir.path().join("distilled.onnx")).unwrap();
        let e = ModelBundle::open(dir.path()).unwrap_err();
        assert!(matches!(e, BundleError::MissingFile { .. }), "{e}");
        assert!(e.to_string().contains("distilled.onnx"));
    }

    #[test]
    fn another_schema_version_is_refused() {
        let (dir, mut m) = written_bundle();
        m.schema_version = 99;
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_string(&m).unwrap(),
        )
        .unwrap();
        let e = ModelBundle::open(dir.path()).unwrap_err();
        assert!(
            matches!(e, BundleError::SchemaVersion { found: 99, .. }),
            "{e}"
        );
    }

    #[test]
    fn garbage_manifest_and_escaping_file_names_are_refused() {
        let (dir, mut m) = written_bundle();
        std::fs::write(dir.path().join(MANIFEST_FILE), "{ not json").unwrap();
        assert!(matches!(
            ModelBundle::open(dir.path()).unwrap_err(),
            BundleError::Manifest { .. }
        ));
        m.files.insert("../outside".into(), "00".into());
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_string(&m).unwrap(),
        )
        .unwrap();
        let e = ModelBundle::open(dir.path()).unwrap_err();
        assert!(e.to_string().contains("leaves the bundle folder"), "{e}");
    }

    #[test]
    fn a_modular_bundle_without_its_density_network_is_inconsistent() {
        let (dir, mut m) = written_bundle();
        m.kind = ModelKind::Modular;
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_string(&m).unwrap(),
        )
        .unwrap();
        let e = ModelBundle::open(dir.path()).unwrap_err();
        assert!(e.to_string().contains("'descriptor'"), "{e}");
    }
}
