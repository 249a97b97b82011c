//! Sliding-window inference in burn: the modular pipeline (descriptor, condition, density)
//! and the distilled network over a whole preprocessed volume, with core's patch grid,
//! Gaussian blending and aggregator (`docs/METHOD.md`, "Inference"). Used by distillation
//! (the teacher's maps) and by evaluation.

use std::path::Path;

use anyhow::Context;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use ndarray::{s, Array3, ArrayView3};
use screener_core::patches::{fill_batch, Aggregator, Blending, Patch, PatchGrid};
use screener_core::preprocess::resample_linear;
use screener_core::Dims;

use crate::config::{ConditionKind, DensityKind, ModelsConfig};
use crate::models::pooling::POOL_WINDOW;
use crate::models::{
    avg_pool_3x3x2, load_network, ConditionModel, ConditionModelConfig, ConditionalGlow,
    ConditionalGlowConfig, DescriptorModel, DescriptorModelConfig, DistilledUNet,
    DistilledUNetConfig, GaussianDensity, GaussianDensityConfig, GaussianScore,
    SinCosPositionalConfig,
};

/// The pooling window (i, j, k).
pub const POOL_SCALE: Dims = Dims { i: 3, j: 3, k: 2 };

/// What the density model is conditioned on, ready to compute.
#[derive(Debug, Clone)]
pub enum ConditionSource {
    Model(Box<ConditionModel>),
    Sincos(SinCosPositionalConfig),
    /// One constant channel of ones: the marginal density.
    Constant,
}

impl ConditionSource {
    pub fn channels(&self, models: &ModelsConfig) -> usize {
        match self {
            ConditionSource::Model(_) => models.condition_channels,
            ConditionSource::Sincos(cfg) => cfg.channels(),
            ConditionSource::Constant => 1,
        }
    }

    /// Loads or builds the condition of `kind` (the condition model from `condition_stem`).
    pub fn load(
        kind: ConditionKind,
        models: &ModelsConfig,
        condition_stem: &Path,
        device: &Device,
    ) -> anyhow::Result<Self> {
        Ok(match kind {
            ConditionKind::MaskingInvariant => {
                let (_, g) = load_network::<ConditionModelConfig>(condition_stem, device)
                    .with_context(|| {
                        format!("loading the condition model {}", condition_stem.display())
                    })?;
                ConditionSource::Model(Box::new(g))
            }
            ConditionKind::Sincos => ConditionSource::Sincos(models.sincos()),
            ConditionKind::None => ConditionSource::Constant,
        })
    }
}

/// The frozen descriptor and condition of the modular pipeline on the compute device.
#[derive(Debug, Clone)]
pub struct FrozenFeatures {
    pub descriptor: DescriptorModel,
    pub condition: ConditionSource,
}

impl FrozenFeatures {
    /// Pooled descriptors `y` and conditions `c` of a batch `x [B, 1, k, j, i]` whose patches
    /// start at voxel `starts[b]` (i, j, k) of volumes with voxel spacing `spacings[b]`
    /// (i, j, k, mm; used by the sin-cos condition only).
    pub fn pooled(
        &self,
        x: Tensor<5>,
        starts: &[[usize; 3]],
        spacings: &[[f64; 3]],
    ) -> (Tensor<5>, Tensor<5>) {
        let device = x.device();
        let y = avg_pool_3x3x2(self.descriptor.forward(x.clone()));
        let [b, _, n1, n2, n3] = y.dims();
        let c = match &self.condition {
            ConditionSource::Model(g) => avg_pool_3x3x2(g.forward(x, None)),
            ConditionSource::Sincos(cfg) => {
                let parts = starts
                    .iter()
                    .zip(spacings)
                    .map(|(start, spacing)| {
                        let step = [0, 1, 2].map(|a| POOL_WINDOW[a] as f64 * spacing[2 - a]);
                        let origin = [0, 1, 2].map(|a| {
                            (start[2 - a] as f64 + (POOL_WINDOW[a] as f64 - 1.0) / 2.0)
                                * spacing[2 - a]
                        });
                        cfg.encode(origin, step, [n1, n2, n3], &device)
                    })
                    .collect();
                Tensor::cat(parts, 0)
            }
            ConditionSource::Constant => Tensor::ones([b, 1, n1, n2, n3], &device),
        };
        (y, c)
    }
}

/// Refuses a score other than the NLL for a flow: only a Gaussian has a closed-form
/// expectation to subtract.
pub fn ensure_score_fits(density: DensityKind, score: GaussianScore) -> anyhow::Result<()> {
    anyhow::ensure!(
        score == GaussianScore::Nll || density == DensityKind::Gaussian,
        "density score {} needs a Gaussian density (only a Gaussian has a closed-form \
         expectation); this run's is {density:?}",
        score.output_name()
    );
    Ok(())
}

/// A trained density model of either kind.
#[derive(Debug, Clone)]
pub enum DensityModel {
    Gaussian(Box<GaussianDensity>),
    Glow(Box<ConditionalGlow>),
}

impl DensityModel {
    /// The anomaly score per pooled voxel: `score` for a Gaussian, the NLL for a flow.
    pub fn score(&self, y: Tensor<5>, c: Tensor<5>, score: GaussianScore) -> Tensor<5> {
        match self {
            DensityModel::Gaussian(q) => q.score(y, c, score),
            DensityModel::Glow(q) => q.nll(y, c),
        }
    }

    pub fn load(kind: DensityKind, stem: &Path, device: &Device) -> anyhow::Result<Self> {
        let context = || format!("loading the density model {}", stem.display());
        Ok(match kind {
            DensityKind::Gaussian => DensityModel::Gaussian(Box::new(
                load_network::<GaussianDensityConfig>(stem, device)
                    .with_context(context)?
                    .1,
            )),
            DensityKind::Glow => DensityModel::Glow(Box::new(
                load_network::<ConditionalGlowConfig>(stem, device)
                    .with_context(context)?
                    .1,
            )),
        })
    }
}

/// Runs `network` over overlapping patches of `volume` (`[k, j, i]`) and blends the outputs.
/// The network maps `[B, 1, k, j, i]` (and the patches' starts) to `[B, 1, k/f_k, j/f_j,
/// i/f_i]` for the output `scale` f; the blended map is upsampled back to the volume's grid
/// (linearly, voxel edges aligned) when the scale is not one.
pub fn sliding_window(
    volume: ArrayView3<'_, f32>,
    patch: Dims,
    overlap: f64,
    scale: Dims,
    batch: usize,
    device: &Device,
    mut network: impl FnMut(Tensor<5>, &[Patch]) -> anyhow::Result<Tensor<5>>,
) -> anyhow::Result<Array3<f32>> {
    let dims = Dims::from_shape(volume.shape());
    let grid = PatchGrid::aligned(dims, patch, overlap, scale)?;
    let mut aggregator = Aggregator::new(dims, patch, scale, Blending::Gaussian)?;
    let batch = batch.max(1);
    let mut buffer = vec![0f32; batch * patch.len()];
    let [pk, pj, pi] = patch.shape();
    for chunk in grid.patches().chunks(batch) {
        fill_batch(volume, chunk, 0.0, &mut buffer)?;
        let x = Tensor::<5>::from_data(
            TensorData::new(
                buffer[..chunk.len() * patch.len()].to_vec(),
                [chunk.len(), 1, pk, pj, pi],
            ),
            device,
        );
        let out = network(x, chunk)?;
        let values: Vec<f32> = out
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        aggregator.add_batch(chunk, &values)?;
    }
    let pooled = aggregator.finish(f32::NAN);
    if scale == Dims::new(1, 1, 1) {
        return Ok(pooled);
    }
    let covered = Dims::from_shape(pooled.shape());
    let full = Dims::new(
        covered.i * scale.i,
        covered.j * scale.j,
        covered.k * scale.k,
    );
    let up = resample_linear(pooled.view(), full);
    Ok(up.slice(s![..dims.k, ..dims.j, ..dims.i]).to_owned())
}

/// The modular scorer: `nll = q(pool(f(x)) | pool(g(x)))` per patch (or, for a Gaussian,
/// the NLL less its expectation when `score` says so).
#[derive(Debug, Clone)]
pub struct ModularScorer {
    pub features: FrozenFeatures,
    pub density: DensityModel,
    pub score: GaussianScore,
    pub patch: Dims,
    pub overlap: f64,
    pub batch: usize,
}

impl ModularScorer {
    /// Anomaly map (`self.score`) of a preprocessed volume with voxel `spacing` (i, j, k), on
    /// its grid.
    pub fn score(
        &self,
        volume: ArrayView3<'_, f32>,
        spacing: [f64; 3],
        device: &Device,
    ) -> anyhow::Result<Array3<f32>> {
        sliding_window(
            volume,
            self.patch,
            self.overlap,
            POOL_SCALE,
            self.batch,
            device,
            |x, patches| {
                let starts: Vec<[usize; 3]> = patches.iter().map(|p| p.start).collect();
                let (y, c) = self
                    .features
                    .pooled(x, &starts, &vec![spacing; starts.len()]);
                Ok(self.density.score(y, c, self.score))
            },
        )
    }
}

/// Loads the frozen descriptor from `descriptor_stem` with the condition of `kind`.
pub fn load_features(
    models: &ModelsConfig,
    kind: ConditionKind,
    descriptor_stem: &Path,
    condition_stem: &Path,
    device: &Device,
) -> anyhow::Result<FrozenFeatures> {
    let (_, descriptor) = load_network::<DescriptorModelConfig>(descriptor_stem, device)
        .with_context(|| format!("loading the descriptor model {}", descriptor_stem.display()))?;
    Ok(FrozenFeatures {
        descriptor: descriptor.no_grad(),
        condition: ConditionSource::load(kind, models, condition_stem, device)?,
    })
}

/// The distilled (or fine-tuned) network over a whole volume; `sigmoid` for fine-tuned ones.
#[derive(Debug, Clone)]
pub struct DistilledScorer {
    pub network: DistilledUNet,
    pub sigmoid: bool,
    pub patch: Dims,
    pub overlap: f64,
    pub batch: usize,
}

impl DistilledScorer {
    pub fn load(
        stem: &Path,
        sigmoid: bool,
        models: &ModelsConfig,
        batch: usize,
        device: &Device,
    ) -> anyhow::Result<Self> {
        let (_, network) = load_network::<DistilledUNetConfig>(stem, device)
            .with_context(|| format!("loading {}", stem.display()))?;
        Ok(Self {
            network,
            sigmoid,
            patch: Dims::new(models.patch[0], models.patch[1], models.patch[2]),
            overlap: models.overlap,
            batch,
        })
    }

    pub fn score(
        &self,
        volume: ArrayView3<'_, f32>,
        device: &Device,
    ) -> anyhow::Result<Array3<f32>> {
        sliding_window(
            volume,
            self.patch,
            self.overlap,
            Dims::new(1, 1, 1),
            self.batch,
            device,
            |x, _| {
                let out = self.network.forward(x);
                Ok(if self.sigmoid {
                    burn::tensor::activation::sigmoid(out)
                } else {
                    out
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gaussian_reports_the_excess_nll() {
        assert!(ensure_score_fits(DensityKind::Gaussian, GaussianScore::ExcessNll).is_ok());
        assert!(ensure_score_fits(DensityKind::Glow, GaussianScore::Nll).is_ok());
        let refused = ensure_score_fits(DensityKind::Glow, GaussianScore::ExcessNll);
        assert!(refused.unwrap_err().to_string().contains("Glow"));
    }

    #[test]
    fn pooled_identity_window_recovers_a_smooth_volume() {
        // A network that average-pools its input: the blended, upsampled map of a linear ramp
        // equals the ramp away from the borders.
        let device = Device::flex();
        let dims = Dims::new(30, 24, 20);
        let volume =
            Array3::from_shape_fn(dims.shape(), |(k, j, i)| (i + 2 * j + 3 * k) as f32 * 0.01);
        let out = sliding_window(
            volume.view(),
            Dims::new(12, 12, 8),
            0.5,
            POOL_SCALE,
            3,
            &device,
            |x, _| Ok(avg_pool_3x3x2(x)),
        )
        .unwrap();
        assert_eq!(out.shape(), volume.shape());
        for k in 2..18 {
            for j in 3..21 {
                for i in 3..27 {
                    let (got, want) = (out[[k, j, i]], volume[[k, j, i]]);
                    assert!(
                        (got - want).abs() < 0.02,
                        "{:?}: {got} vs {want}",
                        (i, j, k)
                    );
                }
            }
        }
    }
}
