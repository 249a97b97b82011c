//! Settings of the crop-pair sampler and the colour augmentations (`docs/METHOD.md`, "Dense
//! SSL"). Vectors of three are (i, j, k), like `screener_core`'s parameters; ranges are
//! `[low, high]` and drawn uniformly.

use serde::{Deserialize, Serialize};

/// Spatial augmentations of the two views of a crop pair and the positive pairs drawn from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Voxels of each view (i, j, k). Paper: 96 x 96 x 64. CPU default 48 x 48 x 32 (a
    /// quarter of the voxels in-plane, half the slices) so that a step fits a laptop CPU.
    pub crop_size: [usize; 3],
    /// Voxel spacing (mm) of a view is drawn per axis in `[min_spacing_mm, max_spacing_mm]`,
    /// independently for the two views. Ref. code: [1, 1, 1.5] .. [2, 2, 3]. The upper end is
    /// lowered where the volume is too small to hold a crop at that spacing.
    pub min_spacing_mm: [f64; 3],
    pub max_spacing_mm: [f64; 3],
    /// Per axis, the overlap of the two views as a fraction of the shorter view's extent.
    /// Ref. code: uniform in [0.25, 1]. Exact unless the volume is too short to place both
    /// views that far apart, where the overlap is larger.
    pub overlap_fraction: [f64; 2],
    /// Probability that a view is mirrored along each of its axes (independently).
    pub flip_probability: f64,
    /// Swap the in-plane axes of a view with probability 1/2. With the flips this draws every
    /// 90-degree rotation about the slice axis. Rotations that involve the slice axis are never
    /// drawn: CT grids are anisotropic (2.25 mm slices vs 1.5 mm in-plane after
    /// preprocessing) and crops are not cubes (96 x 96 x 64), so such a rotation would change
    /// the crop's shape and hand the network slice-direction structure where it expects
    /// in-plane structure. In-plane axes are swapped only when their crop sizes and spacing
    /// ranges agree.
    pub rotate_in_plane: bool,
    /// Positive voxel pairs per crop pair, drawn without replacement from the body voxels of
    /// the overlap (all of them when fewer). Ref. code: up to 1024 (N = 8 x 1024 = 8192 per
    /// batch). CPU default 256.
    pub positives_per_pair: usize,
    /// Layouts drawn before giving up on a volume whose overlaps hold no body voxel.
    pub max_attempts: usize,
    pub colour: ColourConfig,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            crop_size: [48, 48, 32],
            min_spacing_mm: [1.0, 1.0, 1.5],
            max_spacing_mm: [2.0, 2.0, 3.0],
            overlap_fraction: [0.25, 1.0],
            flip_probability: 0.5,
            rotate_in_plane: true,
            positives_per_pair: 256,
            max_attempts: 16,
            colour: ColourConfig::default(),
        }
    }
}

impl AugmentConfig {
    /// The crop size in tensor order `[k, j, i]`.
    pub fn crop_shape(&self) -> [usize; 3] {
        [self.crop_size[2], self.crop_size[1], self.crop_size[0]]
    }

    /// Checks what the types cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.crop_size.contains(&0) {
            return Err(format!("crop_size {:?} has an empty axis", self.crop_size));
        }
        for a in 0..3 {
            let (lo, hi) = (self.min_spacing_mm[a], self.max_spacing_mm[a]);
            if !(lo > 0.0 && lo <= hi) {
                return Err(format!(
                    "need 0 < min_spacing_mm <= max_spacing_mm, axis {a}: {lo} .. {hi}"
                ));
            }
        }
        let [lo, hi] = self.overlap_fraction;
        if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
            return Err(format!(
                "overlap_fraction {lo} .. {hi} is not inside (0, 1]"
            ));
        }
        if !(0.0..=1.0).contains(&self.flip_probability) {
            return Err(format!(
                "flip_probability {} is not a probability",
                self.flip_probability
            ));
        }
        if self.positives_per_pair == 0 || self.max_attempts == 0 {
            return Err("positives_per_pair and max_attempts must be at least 1".into());
        }
        self.colour.validate()
    }
}

/// Intensity augmentations, applied to each view independently in this order, each with its
/// own probability. Values are ref. code's (`p = 0.8` each); intensities are in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColourConfig {
    /// Blur or (with equal chance) sharpen, in-plane only. Ref. code: p = 0.8.
    pub blur_or_sharpen_probability: f64,
    /// Gaussian sigma (mm) of the blur. Ref. code: 0 .. 1.5 mm.
    pub blur_sigma_mm: [f64; 2],
    /// Unsharp masking `x + alpha (x - blur(x))`. Ref. code: sigma 0 .. 1.5 mm, alpha 0 .. 2.
    pub sharpen_sigma_mm: [f64; 2],
    pub sharpen_alpha: [f64; 2],
    /// Additive Gaussian noise. Ref. code: p = 0.8, sigma 0 .. 0.1.
    pub noise_probability: f64,
    pub noise_sigma: [f64; 2],
    /// `clip(x * b, 0, 1)`. Ref. code: p = 0.8, b in 0.8 .. 1.2.
    pub brightness_probability: f64,
    pub brightness: [f64; 2],
    /// `clip((x - mean) * c + mean, 0, 1)`. Ref. code: p = 0.8, c in 0.8 .. 1.2.
    pub contrast_probability: f64,
    pub contrast: [f64; 2],
    /// `clip(x, 0, 1)^g`. Ref. code: p = 0.8, g in 0.8 .. 1.25.
    pub gamma_probability: f64,
    pub gamma: [f64; 2],
}

impl Default for ColourConfig {
    fn default() -> Self {
        Self {
            blur_or_sharpen_probability: 0.8,
            blur_sigma_mm: [0.0, 1.5],
            sharpen_sigma_mm: [0.0, 1.5],
            sharpen_alpha: [0.0, 2.0],
            noise_probability: 0.8,
            noise_sigma: [0.0, 0.1],
            brightness_probability: 0.8,
            brightness: [0.8, 1.2],
            contrast_probability: 0.8,
            contrast: [0.8, 1.2],
            gamma_probability: 0.8,
            gamma: [0.8, 1.25],
        }
    }
}

impl ColourConfig {
    /// No intensity change at all (every probability 0).
    pub fn none() -> Self {
        Self {
            blur_or_sharpen_probability: 0.0,
            noise_probability: 0.0,
            brightness_probability: 0.0,
            contrast_probability: 0.0,
            gamma_probability: 0.0,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            (
                "blur_or_sharpen_probability",
                self.blur_or_sharpen_probability,
            ),
            ("noise_probability", self.noise_probability),
            ("brightness_probability", self.brightness_probability),
            ("contrast_probability", self.contrast_probability),
            ("gamma_probability", self.gamma_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("colour.{name} = {p} is not a probability"));
            }
        }
        for (name, [lo, hi]) in [
            ("blur_sigma_mm", self.blur_sigma_mm),
            ("sharpen_sigma_mm", self.sharpen_sigma_mm),
            ("sharpen_alpha", self.sharpen_alpha),
            ("noise_sigma", self.noise_sigma),
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("gamma", self.gamma),
        ] {
            if !(lo >= 0.0 && lo <= hi) {
                return Err(format!(
                    "colour.{name} = [{lo}, {hi}] is not a range of non-negative values"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_json() {
        let cfg = AugmentConfig::default();
        cfg.validate().unwrap();
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<AugmentConfig>(&json).unwrap(), cfg);
        assert_eq!(cfg.crop_shape(), [32, 48, 48]);
    }

    #[test]
    fn unknown_keys_are_rejected_and_missing_keys_take_defaults() {
        let err = serde_json::from_str::<AugmentConfig>(r#"{"crop_sise": [8, 8, 8]}"#).unwrap_err();
        assert!(err.to_string().contains("crop_sise"), "{err}");
        let partial: AugmentConfig =
            serde_json::from_str(r#"{"colour": {"gamma": [1.0, 1.5]}}"#).unwrap();
        assert_eq!(partial.colour.gamma, [1.0, 1.5]);
        assert_eq!(partial.colour.noise_probability, 0.8);
        assert_eq!(partial.positives_per_pair, 256);
    }

    #[test]
    fn an_inverted_spacing_range_is_rejected() {
        let cfg = AugmentConfig {
            min_spacing_mm: [2.0, 1.0, 1.5],
            max_spacing_mm: [1.0, 2.0, 3.0],
            ..AugmentConfig::default()
        };
        assert!(cfg.validate().unwrap_err().contains("axis 0"));
    }
}
