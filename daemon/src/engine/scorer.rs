//! Scores a CT with a model bundle: preprocess -> patches in batches -> networks -> blend ->
//! back onto the original grid -> anomaly map, study score and flag.
//!
//! Memory is bounded by the batch: each batch's full-resolution feature maps are pooled
//! before the next batch runs, and only the pooled anomaly map of the whole volume (plus its
//! blending weights) is kept.

use std::path::Path;
use std::time::Instant;

use ndarray::{s, Array3, ArrayView, Ix5, IxDyn};
use screener_core::bundle::{BlendingKind, ModelBundle, ModelKind};
use screener_core::patches::{fill_batch, pooled_geometry, Aggregator, Blending, PatchGrid};
use screener_core::preprocess::{preprocess, resample_linear, Preprocessed};
use screener_core::{CtVolume, Dims, Volume};

use super::network::Network;
use super::pool::mean_pool;
use super::study_score::study_score;
use super::EngineError;

/// How the engine runs.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// CPU threads for ONNX Runtime. With two or more, the descriptor and condition networks
    /// of a modular bundle run at the same time on half of them each (their convolutions
    /// scale poorly across threads: 1.4-1.5x the throughput of running them one after the
    /// other on 2 threads each, `docs/bench-engine.md`); the density network then takes all.
    pub threads: usize,
    /// Patches per network call.
    pub batch_size: usize,
    /// Run on a CUDA GPU when the build has the `cuda` feature and one is available.
    pub use_gpu: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            batch_size: 1,
            use_gpu: cfg!(feature = "cuda"),
        }
    }
}

/// Seconds spent in each stage of one scoring.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StageTimings {
    pub preprocess_s: f64,
    pub inference_s: f64,
    pub blend_s: f64,
    pub reproject_s: f64,
    pub study_score_s: f64,
}

/// The result of scoring one CT.
#[derive(Debug, Clone)]
pub struct ScoreResult {
    /// Anomaly (negative log-density) per voxel, on the original CT grid.
    pub map: Volume<f32>,
    pub study_score: f64,
    pub flagged: bool,
    pub threshold: f64,
    pub patches: usize,
    pub timings: StageTimings,
}

struct ModularNetworks {
    descriptor: Network,
    condition: Network,
    density: Network,
    /// Run the descriptor and the condition network at the same time (on separate threads).
    concurrent_features: bool,
}

impl ModularNetworks {
    /// Negative log-density of the pooled descriptors given the pooled conditions.
    fn run(
        &mut self,
        x: ArrayView<f32, IxDyn>,
        pooling: [usize; 3],
    ) -> Result<ndarray::ArrayD<f32>, EngineError> {
        let pooled = |net: &mut Network| -> Result<ndarray::Array5<f32>, EngineError> {
            let out = net.run(&[x.view()])?;
            Ok(mean_pool(as_5d(&out)?, pooling))
        };
        let (y, c) = if self.concurrent_features {
            let (descriptor, condition) = (&mut self.descriptor, &mut self.condition);
            std::thread::scope(|scope| {
                let c = scope.spawn(|| pooled(condition));
                let y = pooled(descriptor);
                let c = c.join().expect("the condition network's thread panicked");
                (y, c)
            })
        } else {
            (pooled(&mut self.descriptor), pooled(&mut self.condition))
        };
        let (y, c) = (y?, c?);
        self.density
            .run(&[y.view().into_dyn(), c.view().into_dyn()])
    }
}

enum Networks {
    Modular(Box<ModularNetworks>),
    Distilled(Box<Network>),
}

pub struct Scorer {
    bundle: ModelBundle,
    networks: Networks,
    options: EngineOptions,
}

impl Scorer {
    /// Verifies the bundle in `dir` (files and calibration), loads ONNX Runtime and opens its
    /// networks.
    pub fn load(dir: &Path, options: EngineOptions) -> Result<Self, EngineError> {
        let bundle = ModelBundle::open(dir)?;
        bundle.ensure_calibration_current()?;
        Self::with_bundle(bundle, options)
    }

    /// As `load`, for `screener calibrate`: a calibration set on another statistic is what it
    /// replaces, so it is not refused.
    pub fn load_to_calibrate(dir: &Path, options: EngineOptions) -> Result<Self, EngineError> {
        Self::with_bundle(ModelBundle::open(dir)?, options)
    }

    fn with_bundle(bundle: ModelBundle, options: EngineOptions) -> Result<Self, EngineError> {
        let open = |role: &str, threads: usize| -> Result<Network, EngineError> {
            let spec = &bundle.manifest.networks[role];
            let options = EngineOptions { threads, ..options };
            Network::open(&bundle.dir.join(&spec.file), spec, &options)
        };
        let threads = options.threads.max(1);
        let networks = match bundle.manifest.kind {
            ModelKind::Modular => Networks::Modular(Box::new(ModularNetworks {
                descriptor: open("descriptor", threads.div_ceil(2))?,
                condition: open("condition", (threads / 2).max(1))?,
                density: open("density", threads)?,
                concurrent_features: threads >= 2,
            })),
            ModelKind::Distilled => Networks::Distilled(Box::new(open("distilled", threads)?)),
        };
        Ok(Self {
            bundle,
            networks,
            options,
        })
    }

    pub fn bundle(&self) -> &ModelBundle {
        &self.bundle
    }

    /// Scores `ct`; `progress(done, total)` is called after every batch of patches.
    pub fn score(
        &mut self,
        ct: &CtVolume,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ScoreResult, EngineError> {
        let manifest = self.bundle.manifest.clone();
        let mut timings = StageTimings::default();

        let t = Instant::now();
        let pre = preprocess(ct, &manifest.preprocessing);
        timings.preprocess_s = t.elapsed().as_secs_f64();

        let [pi, pj, pk] = manifest.patch.size;
        let patch = Dims::new(pi, pj, pk);
        let scale = match manifest.kind {
            ModelKind::Modular => {
                let [a, b, c] = manifest.patch.pooling;
                Dims::new(a, b, c)
            }
            ModelKind::Distilled => Dims::new(1, 1, 1),
        };
        let dims = pre.volume.dims();
        let grid = PatchGrid::aligned(dims, patch, manifest.patch.overlap, scale)?;
        let blending = match manifest.patch.blending {
            BlendingKind::Gaussian => Blending::Gaussian,
            BlendingKind::Uniform => Blending::Uniform,
        };
        let mut aggregator = Aggregator::new(dims, patch, scale, blending)?;

        let batch = self.options.batch_size.max(1);
        let total = grid.len();
        let mut buffer = vec![0f32; batch * patch.len()];
        let mut done = 0;
        for chunk in grid.patches().chunks(batch) {
            let t = Instant::now();
            let n = chunk.len();
            let input = &mut buffer[..n * patch.len()];
            fill_batch(
                pre.volume.data.view(),
                chunk,
                manifest.patch.pad_value,
                input,
            )?;
            let x = ArrayView::from_shape(IxDyn(&[n, 1, pk, pj, pi]), input)
                .expect("buffer matches the batch shape");
            let map = self.run_networks(x, manifest.patch.pooling)?;
            timings.inference_s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            aggregator.add_batch(chunk, map.as_slice().expect("network output is contiguous"))?;
            timings.blend_s += t.elapsed().as_secs_f64();
            done += n;
            progress(done, total);
        }

        let t = Instant::now();
        let uncovered = aggregator.uncovered();
        if uncovered > 0 {
            return Err(EngineError::Internal(format!(
                "{uncovered} voxels of the anomaly map were covered by no patch"
            )));
        }
        let pooled = aggregator.finish(0.0);
        timings.blend_s += t.elapsed().as_secs_f64();

        let t = Instant::now();
        let pooled_geom = pooled_geometry(&pre.volume.geometry, scale);
        let pooled_volume = Volume::new(pooled, pooled_geom);
        let score = study_score(&pooled_volume, ct);
        timings.study_score_s = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let map = to_original_grid(&pre, &pooled_volume.data, scale);
        timings.reproject_s = t.elapsed().as_secs_f64();

        let threshold = manifest.calibration.threshold;
        Ok(ScoreResult {
            map,
            study_score: score,
            flagged: score > threshold,
            threshold,
            patches: total,
            timings,
        })
    }

    /// Runs the bundle's networks on a `[n, 1, k, j, i]` batch; returns `[n, 1, k', j', i']`.
    fn run_networks(
        &mut self,
        x: ArrayView<f32, IxDyn>,
        pooling: [usize; 3],
    ) -> Result<ndarray::ArrayD<f32>, EngineError> {
        match &mut self.networks {
            Networks::Distilled(net) => net.run(&[x]),
            Networks::Modular(nets) => nets.run(x, pooling),
        }
    }
}

fn as_5d(a: &ndarray::ArrayD<f32>) -> Result<ndarray::ArrayView5<'_, f32>, EngineError> {
    a.view().into_dimensionality::<Ix5>().map_err(|_| {
        EngineError::Internal(format!("feature map of shape {:?} is not 5-D", a.shape()))
    })
}

/// Puts a map computed at `scale`-pooled resolution on the preprocessed grid back on the
/// original CT grid: upsample to the preprocessed grid (the pooled grid covers whole blocks,
/// so it may reach past the volume's end), then undo resampling and crop.
fn to_original_grid(pre: &Preprocessed, pooled: &Array3<f32>, scale: Dims) -> Volume<f32> {
    let d = Dims::from_shape(pooled.shape());
    let full = Dims::new(d.i * scale.i, d.j * scale.j, d.k * scale.k);
    let dims = pre.volume.dims();
    let upsampled = if full == d {
        pooled.clone()
    } else {
        resample_linear(pooled.view(), full)
    };
    let on_grid = upsampled.slice(s![..dims.k, ..dims.j, ..dims.i]).to_owned();
    let least = on_grid.iter().copied().fold(f32::INFINITY, f32::min);
    pre.to_original_grid(&Volume::new(on_grid, pre.volume.geometry), least)
}
