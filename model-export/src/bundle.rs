//! Writes model bundles: the ONNX files of the networks and `manifest.json` with their hashes.

use std::collections::BTreeMap;
use std::path::Path;

use screener_core::bundle::{
    write_manifest, BlendingKind, BundleError, Calibration, Manifest, ModelIdentity, ModelKind,
    PatchSpec, Provenance, SCHEMA_VERSION,
};
use screener_core::preprocess::PreprocessParams;
use screener_trainer::models::{
    ConditionModel, ConditionalGlow, DescriptorModel, DistilledUNet, GaussianDensity, GaussianScore,
};

use crate::graphs::{self, ExportedNetwork};

/// Everything in a manifest besides the networks and hashes.
#[derive(Debug, Clone)]
pub struct BundleInfo {
    pub model: ModelIdentity,
    pub preprocessing: PreprocessParams,
    pub patch: PatchSpec,
    pub calibration: Calibration,
    pub provenance: Provenance,
}

impl BundleInfo {
    /// METHOD.md's inference settings, with an uncalibrated threshold (`screener calibrate`
    /// sets it from normal scans).
    pub fn method_defaults(model: ModelIdentity, provenance: Provenance) -> Self {
        Self {
            model,
            preprocessing: PreprocessParams::default(),
            patch: PatchSpec {
                size: [96, 96, 64],
                overlap: 0.5,
                blending: BlendingKind::Gaussian,
                pooling: [3, 3, 2],
                pad_value: 0.0,
            },
            calibration: Calibration {
                // Named after the density's output when the bundle is written.
                statistic: String::new(),
                normal_scores: vec![],
                threshold: f64::MAX,
                voxel_threshold: f64::MAX,
                voxel_scale: 1.0,
                method: "uncalibrated: run `screener calibrate` on normal scans".into(),
            },
            provenance,
        }
    }
}

fn write(
    dir: &Path,
    kind: ModelKind,
    nets: Vec<(&str, ExportedNetwork)>,
    info: BundleInfo,
) -> Result<Manifest, BundleError> {
    std::fs::create_dir_all(dir).map_err(|e| BundleError::Manifest {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    let mut networks = BTreeMap::new();
    for (role, net) in nets {
        let path = dir.join(&net.spec.file);
        screener_onnx::write(&net.model, &path).map_err(|e| BundleError::MissingFile {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        networks.insert(role.to_owned(), net.spec);
    }
    let mut manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        model: info.model,
        kind,
        preprocessing: info.preprocessing,
        patch: info.patch,
        networks,
        calibration: info.calibration,
        provenance: info.provenance,
        files: BTreeMap::new(),
    };
    manifest.calibration.statistic = manifest.study_score_statistic();
    write_manifest(dir, &mut manifest)?;
    Ok(manifest)
}

/// The density network of a modular bundle (written as `density.onnx` either way).
#[derive(Debug, Clone, Copy)]
pub enum Density<'a> {
    /// The Gaussian and the score its graph reports.
    Gaussian(&'a GaussianDensity, GaussianScore),
    Glow(&'a ConditionalGlow),
}

impl Density<'_> {
    fn export(self) -> ExportedNetwork {
        match self {
            Density::Gaussian(q, score) => graphs::gaussian_density(q, score),
            Density::Glow(q) => graphs::glow_density(q),
        }
    }
}

/// A modular bundle: descriptor, condition and density (Gaussian or Glow) networks.
pub fn write_modular_bundle(
    dir: &Path,
    descriptor: &DescriptorModel,
    condition: &ConditionModel,
    density: Density,
    info: BundleInfo,
) -> Result<Manifest, BundleError> {
    write(
        dir,
        ModelKind::Modular,
        vec![
            ("descriptor", graphs::descriptor(descriptor)),
            ("condition", graphs::condition(condition)),
            ("density", density.export()),
        ],
        info,
    )
}

/// A distilled bundle: one network.
pub fn write_distilled_bundle(
    dir: &Path,
    distilled: &DistilledUNet,
    info: BundleInfo,
) -> Result<Manifest, BundleError> {
    write(
        dir,
        ModelKind::Distilled,
        vec![("distilled", graphs::distilled(distilled))],
        info,
    )
}
