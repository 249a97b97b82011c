//! Two overlapping views of one volume and the positive voxel pairs between them.
//!
//! Per axis, each view gets a spacing drawn from the config's range, hence an extent in the
//! source; the two extents are placed so that they overlap by the drawn fraction of the
//! shorter one, inside the span of source voxel centres (so no view voxel is extrapolated).
//! Each view is then mirrored and rotated about the slice axis on its own. Positives are
//! source voxel centres inside the body whose positions in both views lie within the views'
//! voxel-centre span; each is stored as its fractional index in both views, so the two
//! descriptors taken there (trilinear interpolation) describe the same source point exactly.
//! Integer view indices cannot do that: views of different spacings share no voxel centres.

use ndarray::{s, Array3, ArrayView3};
use rand::seq::index::sample;
use rand::Rng;
use screener_core::{Mask, Volume};
use thiserror::Error;

use super::colour::augment_colour;
use super::config::AugmentConfig;
use super::view::ViewGeometry;

#[derive(Debug, Error, PartialEq)]
pub enum AugmentError {
    #[error("image {image:?} and body mask {body:?} differ in shape")]
    ShapeMismatch { image: [usize; 3], body: [usize; 3] },
    #[error("a {dims:?} volume is too small for crop pairs (at least 2 voxels per axis)")]
    TooSmall { dims: [usize; 3] },
    #[error("no body voxel in the overlap of {attempts} crop pairs drawn from a {dims:?} volume")]
    NoBodyInOverlap { attempts: usize, dims: [usize; 3] },
}

/// One positive pair: the same source point seen in view A and in view B. Indices are
/// fractional view voxel indices in tensor order `[k, j, i]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositivePair {
    pub a: [f32; 3],
    pub b: [f32; 3],
    /// The source voxel (tensor order) both indices point at.
    pub source: [usize; 3],
}

/// The spatial part of a crop pair: where the views are and which voxels correspond.
#[derive(Debug, Clone, PartialEq)]
pub struct PairLayout {
    pub views: [ViewGeometry; 2],
    pub positives: Vec<PositivePair>,
    /// Overlap per source axis (tensor order) as a fraction of the shorter view's extent.
    pub overlap_fraction: [f64; 3],
}

/// A view ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentedView {
    /// `[k, j, i]` intensities of shape `AugmentConfig::crop_shape()`.
    pub image: Array3<f32>,
    pub geometry: ViewGeometry,
    /// Spacing (mm) along the view's axes.
    pub spacing_mm: [f64; 3],
}

#[derive(Debug, Clone, PartialEq)]
pub struct CropPair {
    pub views: [AugmentedView; 2],
    pub positives: Vec<PositivePair>,
    pub overlap_fraction: [f64; 3],
}

/// A crop pair from a preprocessed volume and its body mask (same grid).
pub fn sample_crop_pair_from_volume<R: Rng>(
    volume: &Volume<f32>,
    body: &Mask,
    cfg: &AugmentConfig,
    rng: &mut R,
) -> Result<CropPair, AugmentError> {
    let sp = volume.geometry.spacing;
    sample_crop_pair(
        volume.data.view(),
        body.data.view(),
        [sp[2], sp[1], sp[0]],
        cfg,
        rng,
    )
}

/// A crop pair from `[k, j, i]` arrays: `image` in [0, 1], `body` non-zero inside the body,
/// `spacing_mm` in tensor order.
pub fn sample_crop_pair<R: Rng>(
    image: ArrayView3<f32>,
    body: ArrayView3<u8>,
    spacing_mm: [f64; 3],
    cfg: &AugmentConfig,
    rng: &mut R,
) -> Result<CropPair, AugmentError> {
    check_shapes(image, body)?;
    let layout = sample_layout(body, spacing_mm, cfg, rng)?;
    let views = layout.views.map(|geometry| {
        let spacing = geometry.spacing_mm(spacing_mm);
        let mut view = geometry.sample(image);
        augment_colour(&mut view, spacing, &cfg.colour, rng);
        AugmentedView {
            image: view,
            geometry,
            spacing_mm: spacing,
        }
    });
    Ok(CropPair {
        views,
        positives: layout.positives,
        overlap_fraction: layout.overlap_fraction,
    })
}

/// Draws layouts until one has a body voxel in its overlap (at most `cfg.max_attempts`).
pub fn sample_layout<R: Rng>(
    body: ArrayView3<u8>,
    spacing_mm: [f64; 3],
    cfg: &AugmentConfig,
    rng: &mut R,
) -> Result<PairLayout, AugmentError> {
    let (d0, d1, d2) = body.dim();
    let dims = [d0, d1, d2];
    if dims.iter().any(|&n| n < 2) {
        return Err(AugmentError::TooSmall { dims });
    }
    for _ in 0..cfg.max_attempts {
        let layout = draw_layout(body, spacing_mm, cfg, rng);
        if !layout.positives.is_empty() {
            return Ok(layout);
        }
    }
    Err(AugmentError::NoBodyInOverlap {
        attempts: cfg.max_attempts,
        dims,
    })
}

/// Checks that an image and its body mask share a grid.
pub fn check_shapes(image: ArrayView3<f32>, body: ArrayView3<u8>) -> Result<(), AugmentError> {
    let (a, b) = (image.dim(), body.dim());
    if a != b {
        return Err(AugmentError::ShapeMismatch {
            image: [a.0, a.1, a.2],
            body: [b.0, b.1, b.2],
        });
    }
    Ok(())
}

fn draw_layout<R: Rng>(
    body: ArrayView3<u8>,
    spacing_mm: [f64; 3],
    cfg: &AugmentConfig,
    rng: &mut R,
) -> PairLayout {
    let (d0, d1, d2) = body.dim();
    let dims = [d0, d1, d2];
    let crop = cfg.crop_shape();
    let to_tensor = |v: [f64; 3]| [v[2], v[1], v[0]];
    let (min_mm, max_mm) = (to_tensor(cfg.min_spacing_mm), to_tensor(cfg.max_spacing_mm));
    let mut start = [[0.0; 3]; 2];
    let mut step = [[0.0; 3]; 2];
    let mut overlap_fraction = [0.0; 3];
    for a in 0..3 {
        // Views stay inside [0, n - 1], the span of source voxel centres.
        let span = dims[a].saturating_sub(1) as f64;
        let largest = span * spacing_mm[a] / crop[a] as f64;
        let hi = max_mm[a].min(largest);
        let lo = min_mm[a].min(hi);
        for view_step in step.iter_mut() {
            let mm = if hi > lo { rng.gen_range(lo..=hi) } else { lo };
            view_step[a] = mm / spacing_mm[a];
        }
        let len = [0, 1].map(|v| crop[a] as f64 * step[v][a]);
        let shorter = len[0].min(len[1]);
        let fraction = rng.gen_range(cfg.overlap_fraction[0]..=cfg.overlap_fraction[1]);
        let wanted = fraction * shorter;
        let first = usize::from(rng.gen_bool(0.5));
        let second = 1 - first;
        let union = len[0] + len[1] - wanted;
        if union <= span {
            let s0 = rng.gen_range(0.0..=span - union);
            start[first][a] = s0;
            start[second][a] = s0 + len[first] - wanted;
        } else {
            // Too short for that little overlap: the views cover the span, overlapping more.
            start[first][a] = 0.0;
            start[second][a] = span - len[second];
        }
        let overlap =
            (start[0][a] + len[0]).min(start[1][a] + len[1]) - start[0][a].max(start[1][a]);
        overlap_fraction[a] = if shorter > 0.0 {
            overlap / shorter
        } else {
            1.0
        };
    }
    let views = [0, 1].map(|v| ViewGeometry {
        start: start[v],
        step: step[v],
        size: crop,
        axes: orientation_axes(cfg, rng),
        flipped: std::array::from_fn(|_| rng.gen_bool(cfg.flip_probability)),
    });
    let positives = draw_positives(body, &views, cfg.positives_per_pair, rng);
    PairLayout {
        views,
        positives,
        overlap_fraction,
    }
}

/// `[0, 2, 1]` (in-plane axes swapped) with probability 1/2 when allowed, else `[0, 1, 2]`.
fn orientation_axes<R: Rng>(cfg: &AugmentConfig, rng: &mut R) -> [usize; 3] {
    let square = cfg.crop_size[0] == cfg.crop_size[1]
        && cfg.min_spacing_mm[0] == cfg.min_spacing_mm[1]
        && cfg.max_spacing_mm[0] == cfg.max_spacing_mm[1];
    if cfg.rotate_in_plane && square && rng.gen_bool(0.5) {
        [0, 2, 1]
    } else {
        [0, 1, 2]
    }
}

/// Body voxel centres whose positions lie within both views' voxel-centre spans; at most
/// `limit` of them, drawn without replacement.
fn draw_positives<R: Rng>(
    body: ArrayView3<u8>,
    views: &[ViewGeometry; 2],
    limit: usize,
    rng: &mut R,
) -> Vec<PositivePair> {
    let (d0, d1, d2) = body.dim();
    let dims = [d0, d1, d2];
    let mut lo = [0usize; 3];
    let mut hi = [0usize; 3];
    for a in 0..3 {
        let centres = views.map(|g| {
            let [e0, e1] = g.extent(a);
            [e0 + 0.5 * g.step[a], e1 - 0.5 * g.step[a]]
        });
        let first = centres[0][0].max(centres[1][0]).max(0.0).ceil();
        let last = centres[0][1]
            .min(centres[1][1])
            .min(dims[a] as f64 - 1.0)
            .floor();
        if last < first {
            return Vec::new();
        }
        lo[a] = first as usize;
        hi[a] = last as usize + 1;
    }
    let region = body.slice(s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]]);
    let inside: Vec<[usize; 3]> = region
        .indexed_iter()
        .filter(|(_, &m)| m != 0)
        .map(|((k, j, i), _)| [lo[0] + k, lo[1] + j, lo[2] + i])
        .collect();
    let chosen: Vec<[usize; 3]> = if inside.len() > limit {
        sample(rng, inside.len(), limit)
            .into_iter()
            .map(|n| inside[n])
            .collect()
    } else {
        inside
    };
    chosen
        .into_iter()
        .map(|source| {
            let x = source.map(|n| n as f64);
            let [a, b] = views.map(|g| g.to_view(x).map(|c| c as f32));
            PositivePair { a, b, source }
        })
        .collect()
}
