//! The inverse of the modular export: reads a bundle's network weights back out of its ONNX
//! initializers into the trainer's burn modules and saves them as a run folder
//! (`<run>/{descriptor,condition,density}/final`), so that a bundle whose run folder is gone
//! can be trained further (`screener-train train-density`), evaluated (`screener-train
//! evaluate`) or exported again with another score (`screener-export from-run`).
//!
//! Parameters are found by the names the export gives them: a burn parameter path
//! `backbone.encoder.0.blocks.1.conv1.weight` of the descriptor is the initializer
//! `descriptor.encoder.0.blocks.1.conv1.weight`; GroupNorm's `gamma`/`beta` are `weight`/`bias`
//! with trailing unit axes. What the graph does not hold (the condition model's mask token,
//! used only in training) keeps the config's initial value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use burn::module::Module;
use burn::store::{bridge, ModuleSnapshot};
use burn::tensor::{Device, TensorData};
use screener_core::bundle::{sha256_file, Manifest, ModelBundle, ModelKind};
use screener_onnx::proto::{DataType, GraphProto};
use screener_trainer::config::{ConditionKind, DensityKind, TrainConfig};
use screener_trainer::models::{save_network, GaussianScore, Network};
use screener_trainer::stages::{RunLayout, Stage};
use serde::{Deserialize, Serialize};

use crate::graphs::{self, ExportedNetwork};

/// One ONNX file's graph and its float initializers by name (shape and values).
pub struct Initializers {
    file: PathBuf,
    graph: GraphProto,
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    read: BTreeSet<String>,
}

impl Initializers {
    pub fn read(file: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let model = screener_onnx::decode(&bytes)
            .with_context(|| format!("{} is not an ONNX model", file.display()))?;
        let graph = model
            .graph
            .with_context(|| format!("{} holds no graph", file.display()))?;
        let mut tensors = BTreeMap::new();
        for t in &graph.initializer {
            if t.data_type != DataType::Float as i32 {
                continue;
            }
            let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
            let count: usize = dims.iter().product();
            ensure!(
                t.raw_data.len() == 4 * count,
                "{}: initializer {} has {} bytes of raw data for shape {:?} (was it written by \
                 screener-export?)",
                file.display(),
                t.name,
                t.raw_data.len(),
                dims
            );
            let values = t
                .raw_data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(t.name.clone(), (dims, values));
        }
        Ok(Self {
            file: file.to_owned(),
            graph,
            tensors,
            read: BTreeSet::new(),
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Sets every parameter of `module` that `onnx_name` maps to an initializer; parameters
    /// it maps to `None` keep their values. Shapes must match up to trailing unit axes.
    pub fn load_into<M: Module>(
        &mut self,
        module: &mut M,
        onnx_name: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<()> {
        let mut tensors = Vec::new();
        for param in module.collect(None, None, false) {
            let Some(name) = onnx_name(&param.name) else {
                continue;
            };
            let (dims, values) = self.tensors.get(&name).with_context(|| {
                format!(
                    "{} has no initializer {name} for the parameter {} (does the config \
                     describe the networks of this bundle?)",
                    self.file.display(),
                    param.name
                )
            })?;
            let shape = param.shape.as_slice();
            ensure!(
                same_up_to_unit_axes(dims, shape),
                "{}: initializer {name} has shape {dims:?}, the config's network wants {shape:?} \
                 for {}",
                self.file.display(),
                param.name
            );
            self.read.insert(name);
            let data = TensorData::new(values.clone(), shape.to_vec());
            tensors.push(bridge::from_data(data, param.name, param.param_id));
        }
        let result = module.apply(tensors, None, None, false);
        ensure!(
            result.errors.is_empty() && result.unused.is_empty(),
            "{}: loading the weights failed: errors {:?}, unused {:?}",
            self.file.display(),
            result.errors,
            result.unused
        );
        Ok(())
    }

    /// Fails if a weight or bias of the file was not read: the config's networks have fewer
    /// layers than the bundle's.
    pub fn ensure_all_weights_read(&self) -> anyhow::Result<()> {
        let left: Vec<&String> = self
            .tensors
            .keys()
            .filter(|n| (n.ends_with(".weight") || n.ends_with(".bias")) && !self.read.contains(*n))
            .collect();
        if let Some(first) = left.first() {
            bail!(
                "{}: the config's network has no parameter for {} of its weights, e.g. {first}; \
                 it describes smaller networks than this bundle's",
                self.file.display(),
                left.len()
            );
        }
        Ok(())
    }

    /// Fails unless `exported`, the imported network written again, is this file's graph:
    /// what the weights alone do not pin down (GroupNorm's group count and epsilon, padding)
    /// must match too.
    pub fn ensure_same_graph(&self, exported: &ExportedNetwork) -> anyhow::Result<()> {
        ensure!(
            exported.model.graph.as_ref() == Some(&self.graph),
            "{}: the networks the config describes do not export to this graph (other \
             models.norm_groups, or a bundle of another exporter version?)",
            self.file.display()
        );
        Ok(())
    }
}

fn same_up_to_unit_axes(onnx: &[usize], burn: &[usize]) -> bool {
    onnx.len() >= burn.len()
        && onnx[..burn.len()] == *burn
        && onnx[burn.len()..].iter().all(|&d| d == 1)
}

/// The initializer name of a UNet-backed network's parameter: `backbone.` becomes the
/// network's name, GroupNorm's `gamma`/`beta` become `weight`/`bias`; other fields (the
/// condition model's mask token) are not in the graph.
fn unet_param(network: &str, path: &str) -> Option<String> {
    let rest = path.strip_prefix("backbone.")?;
    let rest = match rest.rsplit_once('.') {
        Some((head, "gamma")) => format!("{head}.weight"),
        Some((head, "beta")) => format!("{head}.bias"),
        _ => rest.to_owned(),
    };
    Some(format!("{network}.{rest}"))
}

/// Builds `config`'s network, loads all of `weights` into it and checks that it exports
/// (`export`) to the same graph.
fn import_network<C: Network>(
    config: &C,
    mut weights: Initializers,
    onnx_name: impl Fn(&str) -> Option<String>,
    export: impl Fn(&C::Model) -> ExportedNetwork,
    device: &Device,
) -> anyhow::Result<C::Model> {
    let mut model = config.build(device);
    weights.load_into(&mut model, onnx_name)?;
    weights.ensure_all_weights_read()?;
    weights.ensure_same_graph(&export(&model))?;
    Ok(model)
}

/// What `<run>/imported.json` records: where the networks came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRecord {
    pub bundle: PathBuf,
    pub manifest: Manifest,
    /// SHA-256 of each stage's `final.safetensors` as imported, by stage name, so that a
    /// stage trained again since is recognised.
    #[serde(default)]
    pub weights: BTreeMap<String, String>,
}

impl ImportRecord {
    pub const FILE: &'static str = "imported.json";

    /// The record of the networks now in `layout`, imported from `bundle`.
    fn of_imported(bundle: &Path, manifest: &Manifest, layout: &RunLayout) -> anyhow::Result<Self> {
        let mut weights = BTreeMap::new();
        for stage in Stage::MODULAR {
            weights.insert(stage.name().to_string(), weights_hash(layout, stage)?);
        }
        Ok(Self {
            bundle: bundle.to_owned(),
            manifest: manifest.clone(),
            weights,
        })
    }

    /// The stages of `layout` whose networks are no longer the imported ones (trained again
    /// or replaced since). Records written before the hashes were kept name none.
    pub fn changed_stages(&self, layout: &RunLayout) -> Vec<&'static str> {
        Stage::MODULAR
            .into_iter()
            .filter(|&stage| match self.weights.get(stage.name()) {
                Some(imported) => weights_hash(layout, stage).ok().as_ref() != Some(imported),
                None => false,
            })
            .map(Stage::name)
            .collect()
    }

    /// The record of `run`, if its networks were imported.
    pub fn of_run(run: &Path) -> anyhow::Result<Option<Self>> {
        let path = run.join(Self::FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not an import record", path.display())
        })?))
    }
}

/// SHA-256 of `stage`'s `final.safetensors` in `layout`.
fn weights_hash(layout: &RunLayout, stage: Stage) -> anyhow::Result<String> {
    let path = layout.final_stem(stage).with_extension("safetensors");
    sha256_file(&path).with_context(|| format!("hashing {}", path.display()))
}

/// Checks that `config` describes the way `manifest`'s networks were trained and are run.
fn ensure_config_fits(manifest: &Manifest, config: &TrainConfig) -> anyhow::Result<()> {
    ensure!(
        manifest.kind == ModelKind::Modular,
        "only modular bundles can be imported (this one is {:?})",
        manifest.kind
    );
    ensure!(
        manifest.preprocessing == config.data.preprocess.params(),
        "the bundle's preprocessing {:?} differs from the config's {:?}",
        manifest.preprocessing,
        config.data.preprocess.params()
    );
    ensure!(
        manifest.patch.size == config.models.patch
            && manifest.patch.overlap == config.models.overlap,
        "the bundle runs patches of {:?} with overlap {}, the config {:?} with {} (set \
         models.patch and models.overlap)",
        manifest.patch.size,
        manifest.patch.overlap,
        config.models.patch,
        config.models.overlap
    );
    ensure!(
        config.density.model == DensityKind::Gaussian
            && config.density.condition == ConditionKind::MaskingInvariant,
        "importing needs a config with the Gaussian density on the masking-invariant condition \
         (found {:?} on {:?})",
        config.density.model,
        config.density.condition
    );
    Ok(())
}

/// Writes the networks of the modular bundle in `bundle_dir` as the run folder `run`, built
/// from `config` (which must describe them; the training step counts are taken from the
/// manifest). Returns the score the bundle's density reported.
pub fn into_run(
    bundle_dir: &Path,
    config: &TrainConfig,
    run: &Path,
) -> anyhow::Result<GaussianScore> {
    let bundle = ModelBundle::open(bundle_dir)
        .with_context(|| format!("opening the bundle {}", bundle_dir.display()))?;
    let manifest = &bundle.manifest;
    ensure_config_fits(manifest, config)?;
    let output = manifest.anomaly_output();
    let score = GaussianScore::from_output_name(output)
        .with_context(|| format!("unknown density output {output:?}"))?;
    let weights = |role: &str| {
        Initializers::read(
            &bundle
                .network_path(role)
                .expect("a modular bundle's network"),
        )
    };
    let density_weights = weights("density")?;
    if !density_weights.contains("gaussian.mean.hidden.weight") {
        bail!(
            "{} is not a Gaussian density; importing a flow is not supported",
            density_weights.file.display()
        );
    }

    // The stage configs say how the networks were trained: the manifest's steps (where it has
    // none, as for an untrained bundle, the config's own count stays: zero is not a valid
    // count), from random weights.
    let mut config = config.clone();
    config.ssl.descriptor_init = PathBuf::new();
    config.ssl.condition_init = PathBuf::new();
    config.density.init = PathBuf::new();
    let steps = &manifest.provenance.steps;
    for (stage, training) in [
        ("descriptor", &mut config.ssl.descriptor_training),
        ("condition", &mut config.ssl.condition_training),
        ("density", &mut config.density.training),
    ] {
        if let Some(&n) = steps.get(stage) {
            training.steps = n as usize;
        }
    }
    let device = Device::flex();
    let layout = RunLayout::new(run, &config);
    for stage in Stage::MODULAR {
        let dir = layout.stage_dir(stage);
        ensure!(
            !dir.exists(),
            "{} exists: importing would overwrite that run's networks; import into a new folder",
            dir.display()
        );
    }
    let m = &config.models;
    let descriptor_config = m.descriptor();
    let descriptor = import_network(
        &descriptor_config,
        weights("descriptor")?,
        |p| unet_param("descriptor", p),
        graphs::descriptor,
        &device,
    )?;
    let condition_config = m.condition();
    let condition = import_network(
        &condition_config,
        weights("condition")?,
        |p| unet_param("condition", p),
        graphs::condition,
        &device,
    )?;
    let density_config = m.gaussian(m.condition_channels);
    let density = import_network(
        &density_config,
        density_weights,
        |p| Some(format!("gaussian.{p}")),
        |q| graphs::gaussian_density(q, score),
        &device,
    )?;

    // Only now, with all three imported, does anything get written.
    let stem = |stage: Stage| -> anyhow::Result<PathBuf> {
        layout.start_stage(stage, &config)?;
        Ok(layout.final_stem(stage))
    };
    save_network(&descriptor_config, &descriptor, &stem(Stage::Descriptor)?)?;
    save_network(&condition_config, &condition, &stem(Stage::Condition)?)?;
    save_network(&density_config, &density, &stem(Stage::Density)?)?;

    let record = ImportRecord::of_imported(bundle_dir, manifest, &layout)?;
    let record_path = run.join(ImportRecord::FILE);
    std::fs::write(&record_path, serde_json::to_string_pretty(&record)?)
        .with_context(|| format!("writing {}", record_path.display()))?;
    Ok(score)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use screener_core::bundle::{ModelIdentity, Provenance};
    use screener_trainer::models::{
        load_network, ConditionModelConfig, DescriptorModelConfig, GaussianDensityConfig,
    };

    use super::*;
    use crate::bundle::{write_modular_bundle, BundleInfo, Density};

    fn small_config() -> TrainConfig {
        let mut config = TrainConfig::default();
        let m = &mut config.models;
        m.channels = vec![8, 16];
        m.norm_groups = 4;
        m.descriptor_channels = 4;
        m.condition_channels = 4;
        m.gaussian_hidden = 8;
        m.mask_token_init = 0.25;
        config
    }

    fn info(config: &TrainConfig) -> BundleInfo {
        let mut info = BundleInfo::method_defaults(
            ModelIdentity {
                name: "test".into(),
                version: "1".into(),
                description: String::new(),
            },
            Provenance {
                trainer_version: "0".into(),
                created: String::new(),
                data: "none".into(),
                steps: BTreeMap::from([("descriptor".to_string(), 7)]),
                notes: String::new(),
            },
        );
        info.preprocessing = config.data.preprocess.params();
        info.patch.size = config.models.patch;
        info.patch.overlap = config.models.overlap;
        info
    }

    /// A bundle of `config`'s networks with seeded random weights.
    fn write_bundle(config: &TrainConfig, dir: &Path, score: GaussianScore) {
        let device = Device::flex();
        device.seed(5);
        let m = &config.models;
        let descriptor = m.descriptor().init(&device);
        let condition = m.condition().init(&device);
        let density = m.gaussian(m.condition_channels).init(&device);
        write_modular_bundle(
            dir,
            &descriptor,
            &condition,
            Density::Gaussian(&density, score),
            info(config),
        )
        .unwrap();
    }

    /// Exports the networks of `run` again into `dir` with `info`.
    fn export_run(run: &Path, dir: &Path, info: BundleInfo, score: GaussianScore) {
        let device = Device::flex();
        let stem = |s: &str| run.join(s).join("final");
        let (_, descriptor) =
            load_network::<DescriptorModelConfig>(&stem("descriptor"), &device).unwrap();
        let (_, condition) =
            load_network::<ConditionModelConfig>(&stem("condition"), &device).unwrap();
        let (_, density) =
            load_network::<GaussianDensityConfig>(&stem("density"), &device).unwrap();
        write_modular_bundle(
            dir,
            &descriptor,
            &condition,
            Density::Gaussian(&density, score),
            info,
        )
        .unwrap();
    }

    fn bytes(dir: &Path, file: &str) -> Vec<u8> {
        std::fs::read(dir.join(file)).unwrap()
    }

    #[test]
    fn an_imported_bundle_exports_again_to_the_same_graphs() {
        let tmp = tempfile::tempdir().unwrap();
        let (bundle, run, again) = (
            tmp.path().join("bundle"),
            tmp.path().join("run"),
            tmp.path().join("again"),
        );
        let config = small_config();
        write_bundle(&config, &bundle, GaussianScore::ExcessNll);

        let score = into_run(&bundle, &config, &run).unwrap();
        assert_eq!(score, GaussianScore::ExcessNll);
        export_run(&run, &again, info(&config), score);
        for file in ["descriptor.onnx", "condition.onnx", "density.onnx"] {
            assert!(
                bytes(&bundle, file) == bytes(&again, file),
                "{file} differs"
            );
        }

        let (_, condition) = load_network::<ConditionModelConfig>(
            &run.join("condition").join("final"),
            &Device::flex(),
        )
        .unwrap();
        let token = condition
            .mask_token
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(token.iter().all(|&v| v == 0.25), "mask token {token:?}");
        let stage = TrainConfig::load(&run.join("descriptor").join("config.toml")).unwrap();
        assert_eq!(stage.ssl.descriptor_training.steps, 7);
        let record = ImportRecord::of_run(&run).unwrap().unwrap();
        assert_eq!(record.manifest.model.name, "test");
        let layout = RunLayout::new(&run, &config);
        assert!(record.changed_stages(&layout).is_empty());
        // The condition trained again: its weights are no longer the imported ones.
        let retrained = config.models.condition();
        save_network(
            &retrained,
            &retrained.init(&Device::flex()),
            &layout.final_stem(Stage::Condition),
        )
        .unwrap();
        assert_eq!(record.changed_stages(&layout), ["condition"]);
        let older = ImportRecord {
            weights: BTreeMap::new(),
            ..record
        };
        assert!(older.changed_stages(&layout).is_empty());

        let err = into_run(&bundle, &config, &run).unwrap_err();
        assert!(format!("{err:#}").contains("would overwrite"), "{err:#}");
    }

    #[test]
    fn a_config_that_does_not_describe_the_bundle_is_refused_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("bundle");
        let config = small_config();
        write_bundle(&config, &bundle, GaussianScore::Nll);
        let refused = |change: fn(&mut TrainConfig), expected: &str| {
            let mut other = config.clone();
            change(&mut other);
            let err = format!(
                "{:#}",
                into_run(&bundle, &other, &tmp.path().join("r")).unwrap_err()
            );
            assert!(err.contains(expected), "{err}");
        };
        refused(
            |c| c.models.channels = vec![8, 24],
            "descriptor.encoder.1.down.weight has shape",
        );
        refused(|c| c.models.blocks_per_level = 2, "has no initializer");
        refused(|c| c.models.channels = vec![8], "smaller networks");
        refused(|c| c.models.norm_groups = 8, "do not export to this graph");
        refused(|c| c.models.patch = [48, 48, 32], "patches of");
    }

    #[test]
    fn a_damaged_bundle_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("bundle");
        let config = small_config();
        write_bundle(&config, &bundle, GaussianScore::Nll);
        let mut file = std::fs::read(bundle.join("condition.onnx")).unwrap();
        let last = file.len() - 1;
        file[last] ^= 1;
        std::fs::write(bundle.join("condition.onnx"), file).unwrap();
        let err = into_run(&bundle, &config, &tmp.path().join("r")).unwrap_err();
        assert!(format!("{err:#}").contains("condition.onnx"), "{err:#}");
    }

    /// The shipped model: its run folder is gone, and importing it must give back exactly the
    /// networks it runs.
    #[test]
    fn the_default_bundle_imports_and_exports_again_unchanged() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bundle = root.join("models/default");
        let config = TrainConfig::load(&root.join("config/train-default.toml")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let (run, again) = (tmp.path().join("run"), tmp.path().join("again"));
        let score = into_run(&bundle, &config, &run).unwrap();
        let manifest = ModelBundle::open(&bundle).unwrap().manifest;
        let info = BundleInfo {
            model: manifest.model.clone(),
            preprocessing: manifest.preprocessing.clone(),
            patch: manifest.patch.clone(),
            calibration: manifest.calibration.clone(),
            provenance: manifest.provenance.clone(),
        };
        export_run(&run, &again, info, score);
        for file in ["descriptor.onnx", "condition.onnx", "density.onnx"] {
            assert!(
                bytes(&bundle, file) == bytes(&again, file),
                "{file} differs"
            );
        }
    }
}
