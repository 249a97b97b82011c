//! The sections of the trainer's TOML besides `[models]`: run, data, the per-stage training
//! settings, and evaluation.

use std::path::PathBuf;

use screener_core::preprocess::PreprocessParams;

use crate::augment::AugmentConfig;
use crate::losses::ObjectiveConfig;
use crate::models::GaussianScore;
use serde::{Deserialize, Serialize};

/// Seeds and bookkeeping shared by every stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Seeds weight initialisation and every random draw of the stages.
    pub seed: u64,
    /// Write a resumable checkpoint every this many steps (and always at the end).
    pub checkpoint_every: usize,
    /// Redraw the loss curves every this many steps.
    pub plot_every: usize,
    /// Resumable checkpoints kept per stage (older ones are deleted).
    pub keep_checkpoints: usize,
    /// Stop with an error after this many consecutive steps whose gradient is exactly zero
    /// (training cannot move; on a GPU usually a kernel computing wrongly). 0: never.
    pub zero_gradient_steps: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 20_240_601,
            checkpoint_every: 250,
            plot_every: 50,
            keep_checkpoints: 2,
            zero_gradient_steps: 3,
        }
    }
}

/// A set of generated phantoms (`screener_core::phantom`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhantomSetConfig {
    pub count: usize,
    /// Phantom `n` of the set uses seed `seed + n`.
    pub seed: u64,
    /// Voxels (i, j, k) and spacing (mm) of the generated CT, before preprocessing.
    pub dims: [usize; 3],
    pub spacing: [f64; 3],
    /// Synthetic lesions inserted per phantom (0 for normal training data).
    pub lesions: usize,
}

impl PhantomSetConfig {
    fn with(count: usize, seed: u64, lesions: usize) -> Self {
        Self {
            count,
            seed,
            dims: [192, 192, 96],
            spacing: [2.0, 2.0, 3.0],
            lesions,
        }
    }
}

impl Default for PhantomSetConfig {
    fn default() -> Self {
        Self::with(0, 1, 0)
    }
}

/// What a labelled image + mask pair is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelledRole {
    Finetune,
    Evaluate,
}

/// A CT (DICOM folder, NIfTI or NRRD) and its pathology mask (NIfTI or NRRD, non-zero inside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledPair {
    pub image: PathBuf,
    pub mask: PathBuf,
    pub role: LabelledRole,
}

/// A real CT (DICOM folder, NIfTI or NRRD) into which `prepare` inserts `lesions` synthetic
/// lesions (core's phantom lesions, placed with `screener_core::phantom::scan_tissue_labels`:
/// nodules in enclosed air, masses and cysts in soft tissue); their union is its mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LesionScan {
    pub image: PathBuf,
    pub lesions: usize,
    pub seed: u64,
    pub role: LabelledRole,
}

/// Preprocessing as core's `PreprocessParams`, repeated here so that unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessSection {
    pub body_threshold_hu: f32,
    pub body_block_mm: f64,
    pub body_block_fraction: f32,
    pub target_spacing: [f64; 3],
    pub clip_hu: [f32; 2],
    pub clahe_clip_limit: f64,
    pub clahe_nbins: usize,
}

impl Default for PreprocessSection {
    fn default() -> Self {
        let p = PreprocessParams::default();
        Self {
            body_threshold_hu: p.body_threshold_hu,
            body_block_mm: p.body_block_mm,
            body_block_fraction: p.body_block_fraction,
            target_spacing: p.target_spacing,
            clip_hu: p.clip_hu,
            clahe_clip_limit: p.clahe_clip_limit,
            clahe_nbins: p.clahe_nbins,
        }
    }
}

impl PreprocessSection {
    pub fn params(&self) -> PreprocessParams {
        PreprocessParams {
            body_threshold_hu: self.body_threshold_hu,
            body_block_mm: self.body_block_mm,
            body_block_fraction: self.body_block_fraction,
            target_spacing: self.target_spacing,
            clip_hu: self.clip_hu,
            clahe_clip_limit: self.clahe_clip_limit,
            clahe_nbins: self.clahe_nbins,
        }
    }
}

/// Where the training data comes from and how it is cached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Folder trees of unlabelled CTs: DICOM series, `.nii`, `.nii.gz`, `.nrrd`.
    pub roots: Vec<PathBuf>,
    /// Preprocessed cache; empty means `<run>/cache`.
    pub cache_dir: PathBuf,
    /// Parallel preprocessing workers (0 = one per core).
    pub workers: usize,
    /// Whole volumes the patch loader keeps in memory.
    pub max_cached_volumes: usize,
    pub preprocess: PreprocessSection,
    /// Lesion-free phantoms added to the unlabelled training set.
    pub phantoms: PhantomSetConfig,
    /// Phantoms with lesions and masks for fine-tuning.
    pub finetune_phantoms: PhantomSetConfig,
    /// Held-out phantoms with lesions and masks for evaluation.
    pub eval_phantoms: PhantomSetConfig,
    pub labelled: Vec<LabelledPair>,
    /// Real CTs with synthetic lesions inserted, and their masks.
    pub lesion_scans: Vec<LesionScan>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            cache_dir: PathBuf::new(),
            workers: 0,
            max_cached_volumes: 32,
            preprocess: PreprocessSection::default(),
            phantoms: PhantomSetConfig::with(16, 1000, 0),
            finetune_phantoms: PhantomSetConfig::with(8, 2000, 2),
            eval_phantoms: PhantomSetConfig::with(20, 3000, 2),
            labelled: Vec::new(),
            lesion_scans: Vec::new(),
        }
    }
}

/// How the learning rate falls after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecayKind {
    Cosine,
    Linear,
    Constant,
}

/// Steps, batch and AdamW settings of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageTraining {
    pub steps: usize,
    pub batch_size: usize,
    /// Peak learning rate, reached at the end of the warm-up.
    pub lr: f64,
    pub warmup_steps: usize,
    pub decay: DecayKind,
    /// Learning rate at the last step.
    pub final_lr: f64,
    pub weight_decay: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    /// Gradients are scaled down to this global L2 norm (0 = no clipping).
    pub grad_clip_norm: f64,
}

impl StageTraining {
    fn cpu(steps: usize, batch_size: usize, lr: f64, warmup_steps: usize) -> Self {
        Self {
            steps,
            batch_size,
            lr,
            warmup_steps,
            decay: DecayKind::Cosine,
            final_lr: 0.0,
            weight_decay: 1e-6,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            grad_clip_norm: 1.0,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.steps == 0 || self.batch_size == 0 {
            return Err("steps and batch_size must be at least 1".into());
        }
        if self.lr <= 0.0 || self.final_lr < 0.0 || self.final_lr > self.lr {
            return Err(format!(
                "need 0 <= final_lr <= lr and lr > 0, got lr {} final_lr {}",
                self.lr, self.final_lr
            ));
        }
        Ok(())
    }
}

impl Default for StageTraining {
    fn default() -> Self {
        Self::cpu(1000, 2, 3e-4, 100)
    }
}

/// The two dense self-supervised stages (descriptor and condition models): their training
/// settings, the crop-pair augmentations (`crate::augment`) and the objective
/// (`crate::losses`), shared by both stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SslConfig {
    /// Paper: 300k steps, lr 3e-4 after 10k warm-up steps, weight decay 1e-6, clip 1.0,
    /// m = 8 crop pairs per batch.
    pub descriptor_training: StageTraining,
    pub condition_training: StageTraining,
    pub augment: AugmentConfig,
    #[serde(deserialize_with = "crate::losses::objective_with_default_kind")]
    pub objective: ObjectiveConfig,
    /// Start the descriptor model from the network saved at this stem (e.g.
    /// `runs/x/descriptor/final` of a bundle imported by `screener-export into-run`) instead
    /// of random weights; the objective's head, which no bundle holds, starts from random
    /// weights. Empty: random.
    pub descriptor_init: PathBuf,
    /// The same for the condition model.
    pub condition_init: PathBuf,
}

impl Default for SslConfig {
    fn default() -> Self {
        Self {
            descriptor_training: StageTraining::cpu(2000, 2, 3e-4, 200),
            condition_training: StageTraining::cpu(2000, 2, 3e-4, 200),
            augment: AugmentConfig::default(),
            objective: ObjectiveConfig::default(),
            descriptor_init: PathBuf::new(),
            condition_init: PathBuf::new(),
        }
    }
}

/// What the density model is conditioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionKind {
    /// The masking-invariant condition model `g` (the method).
    MaskingInvariant,
    /// Sin-cos encoding of the absolute voxel position in the volume (baseline).
    Sincos,
    /// A constant: the marginal density `q(y)`.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DensityConfig {
    pub training: StageTraining,
    pub model: super::DensityKind,
    pub condition: ConditionKind,
    /// Gaussian noise added to pooled `y` and `c` in training only. Paper: 0.1.
    pub noise_sigma: f64,
    /// Start from the density network saved at this stem (e.g. `runs/x/density/final` of a
    /// bundle imported by `screener-export into-run`) instead of random weights. Empty: random.
    pub init: PathBuf,
}

impl Default for DensityConfig {
    fn default() -> Self {
        Self {
            training: StageTraining::cpu(1000, 2, 1e-3, 50),
            model: super::DensityKind::Gaussian,
            condition: ConditionKind::MaskingInvariant,
            noise_sigma: 0.1,
            init: PathBuf::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DistilConfig {
    pub training: StageTraining,
    /// Patches per forward pass when the teacher scores whole volumes.
    pub teacher_batch: usize,
}

impl Default for DistilConfig {
    fn default() -> Self {
        Self {
            training: StageTraining::cpu(1000, 2, 3e-4, 50),
            teacher_batch: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    pub training: StageTraining,
    /// Start from the distilled model (true) or from random weights (the paper's baseline).
    pub from_distilled: bool,
    pub bce_weight: f64,
    pub dice_weight: f64,
    /// Fraction of training crops centred on a lesion voxel.
    pub lesion_crop_fraction: f64,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self {
            training: StageTraining::cpu(500, 2, 1e-4, 20),
            from_distilled: true,
            bce_weight: 1.0,
            dice_weight: 1.0,
            lesion_crop_fraction: 0.5,
        }
    }
}

/// Which trained scorer `evaluate` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluatedModel {
    Modular,
    Distilled,
    Finetuned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluateConfig {
    pub model: EvaluatedModel,
    /// Voxels sampled per class and image. Paper: 1000.
    pub samples_per_class: usize,
    /// Cases on which the Dice threshold is chosen. Paper: 10.
    pub threshold_cases: usize,
    pub seed: u64,
    /// Patches per forward pass of the sliding window.
    pub batch: usize,
    /// What a modular model's Gaussian density reports per voxel: the NLL (METHOD.md) or the
    /// NLL less its expectation (`screener-export --density-score`).
    pub density_score: GaussianScore,
}

impl Default for EvaluateConfig {
    fn default() -> Self {
        Self {
            model: EvaluatedModel::Modular,
            samples_per_class: 1000,
            threshold_cases: 10,
            seed: 7,
            batch: 2,
            density_score: GaussianScore::Nll,
        }
    }
}
