//! Synthetic lesions: lobulated blobs of chosen size and attenuation blended into a CT
//! volume (a phantom or a real scan) with the noise of their surroundings, returning the
//! lesion's mask as ground truth.
//!
//! [`insert_lesion_at`] is the general form: a centre, a diameter, a tissue HU and an
//! optional mask of where the lesion may grow. [`insert_lesion`] picks a centre inside the
//! right organ of a labelled volume (a phantom's, or organ labels of a real scan).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::tubes::{self, Tube};
use super::Organ;
use crate::geometry::{PatientPoint, VoxelPoint};
use crate::volume::{CtVolume, Mask, Volume};

/// What a lesion looks like and which organ it grows in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LesionKind {
    /// Solid lung nodule, about +30 HU.
    SolidNodule,
    /// Ground-glass lung nodule, about -600 HU; vessels stay visible through it.
    GroundGlassNodule,
    HypodenseLiverTumour,
    HyperdenseLiverTumour,
    HypodenseKidneyTumour,
    HyperdenseKidneyTumour,
    /// Water-density liver cyst with a sharp wall.
    LiverCyst,
    KidneyCyst,
    /// Lung turning to soft tissue, with air bronchograms.
    Consolidation,
}

/// How the lesion's value is combined with the tissue it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blend {
    /// The lesion replaces the tissue (solid lesions, cysts).
    Replace,
    /// The lesion only raises attenuation, so brighter structures show through (ground
    /// glass).
    Raise,
}

impl LesionKind {
    pub const ALL: [LesionKind; 9] = [
        LesionKind::SolidNodule,
        LesionKind::GroundGlassNodule,
        LesionKind::HypodenseLiverTumour,
        LesionKind::HyperdenseLiverTumour,
        LesionKind::HypodenseKidneyTumour,
        LesionKind::HyperdenseKidneyTumour,
        LesionKind::LiverCyst,
        LesionKind::KidneyCyst,
        LesionKind::Consolidation,
    ];

    /// The organ the lesion is placed in.
    pub fn organ(self) -> Organ {
        use LesionKind::*;
        match self {
            SolidNodule | GroundGlassNodule | Consolidation => Organ::Lung,
            HypodenseLiverTumour | HyperdenseLiverTumour | LiverCyst => Organ::Liver,
            HypodenseKidneyTumour | HyperdenseKidneyTumour | KidneyCyst => Organ::Kidney,
        }
    }

    /// Plausible diameters (mm) for random lesions of this kind.
    pub fn diameter_range_mm(self) -> (f64, f64) {
        use LesionKind::*;
        match self {
            SolidNodule => (3.0, 30.0),
            GroundGlassNodule => (5.0, 30.0),
            HypodenseLiverTumour | HyperdenseLiverTumour => (8.0, 50.0),
            HypodenseKidneyTumour | HyperdenseKidneyTumour => (8.0, 40.0),
            LiverCyst | KidneyCyst => (4.0, 40.0),
            Consolidation => (20.0, 50.0),
        }
    }

    fn hosts(self) -> &'static [u8] {
        match self {
            LesionKind::Consolidation => &[Organ::Lung as u8, Organ::Airway as u8],
            k => match k.organ() {
                Organ::Lung => &[Organ::Lung as u8],
                Organ::Liver => &[Organ::Liver as u8],
                _ => &[Organ::Kidney as u8],
            },
        }
    }

    /// Placement parameters other than centre and size, for a host of median `host_hu`.
    fn look(self, rng: &mut ChaCha8Rng, host_hu: f32) -> Look {
        use LesionKind::*;
        let (hu, edge, lobulation, heterogeneity, blend) = match self {
            SolidNodule => (rng.gen_range(20.0..50.0), 0.8, 0.25, 0.0, Blend::Replace),
            GroundGlassNodule => (rng.gen_range(-650.0..-550.0), 1.8, 0.2, 0.0, Blend::Raise),
            HypodenseLiverTumour | HypodenseKidneyTumour => (
                host_hu - rng.gen_range(25.0..60.0),
                1.2,
                0.2,
                -15.0,
                Blend::Replace,
            ),
            HyperdenseLiverTumour | HyperdenseKidneyTumour => (
                host_hu + rng.gen_range(30.0..70.0),
                1.0,
                0.2,
                20.0,
                Blend::Replace,
            ),
            LiverCyst | KidneyCyst => (rng.gen_range(0.0..15.0), 0.3, 0.03, 0.0, Blend::Replace),
            Consolidation => (rng.gen_range(20.0..45.0), 2.0, 0.45, 0.0, Blend::Replace),
        };
        Look {
            tissue_hu: hu,
            edge_mm: edge,
            lobulation,
            heterogeneity,
            blend,
            air_bronchograms: self == Consolidation,
        }
    }
}

struct Look {
    tissue_hu: f32,
    edge_mm: f64,
    lobulation: f64,
    heterogeneity: f32,
    blend: Blend,
    air_bronchograms: bool,
}

/// A lesion to place in a labelled volume: the inserter chooses the centre and the HU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LesionSpec {
    pub kind: LesionKind,
    /// Longest diameter in mm.
    pub diameter_mm: f64,
    pub seed: u64,
}

/// A lesion at a chosen place, for volumes without organ labels such as real scans.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LesionPlacement {
    pub centre: PatientPoint,
    /// Longest diameter in mm.
    pub diameter_mm: f64,
    /// Mean attenuation of the lesion.
    pub tissue_hu: f32,
    /// Width of the blurred rim in mm (0.3 is sharp, 2 is fuzzy).
    pub edge_mm: f64,
    /// Depth of the lobes relative to the radius: 0 is a sphere, 0.4 very irregular.
    pub lobulation: f64,
    /// HU added at the centre and removed at the rim (a negative value darkens the
    /// centre, as necrosis does).
    pub heterogeneity: f32,
    pub blend: Blend,
    /// Keep air-filled voxels and draw a few air-filled bronchi through the lesion.
    pub air_bronchograms: bool,
    /// Noise of the lesion in HU; `None` estimates it from the surrounding tissue.
    pub noise_sigma: Option<f32>,
    pub seed: u64,
}

impl LesionPlacement {
    /// A solid, mildly lobulated lesion of `tissue_hu` with a 1 mm rim.
    pub fn solid(centre: PatientPoint, diameter_mm: f64, tissue_hu: f32, seed: u64) -> Self {
        Self {
            centre,
            diameter_mm,
            tissue_hu,
            edge_mm: 1.0,
            lobulation: 0.2,
            heterogeneity: 0.0,
            blend: Blend::Replace,
            air_bronchograms: false,
            noise_sigma: None,
            seed,
        }
    }
}

/// A lesion that was inserted, with its ground-truth mask on the volume's grid.
#[derive(Debug, Clone)]
pub struct InsertedLesion {
    pub kind: LesionKind,
    pub centre: PatientPoint,
    pub diameter_mm: f64,
    pub tissue_hu: f32,
    pub mask: Mask,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LesionError {
    #[error("the volume has no {0:?} voxels to place the lesion in")]
    NoHostTissue(Organ),
    #[error("organ labels ({labels:?}) and CT ({ct:?}) have different dimensions")]
    ShapeMismatch { labels: Vec<usize>, ct: Vec<usize> },
    #[error("lesion diameter {0} mm is not positive and finite")]
    BadDiameter(f64),
}

/// Places a lesion of `spec.kind` inside its organ (labels as in [`Organ`]) and blends it
/// into `ct`. The centre is chosen so the lesion fits inside the organ where possible.
pub fn insert_lesion(
    ct: &mut CtVolume,
    organs: &Volume<u8>,
    spec: &LesionSpec,
) -> Result<InsertedLesion, LesionError> {
    if organs.data.shape() != ct.data.shape() {
        return Err(LesionError::ShapeMismatch {
            labels: organs.data.shape().to_vec(),
            ct: ct.data.shape().to_vec(),
        });
    }
    if !(spec.diameter_mm.is_finite() && spec.diameter_mm > 0.0) {
        return Err(LesionError::BadDiameter(spec.diameter_mm));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let hosts = spec.kind.hosts();
    let primary = hosts[0];
    let centre = choose_centre(organs, primary, spec.diameter_mm * 0.5, &mut rng)
        .ok_or(LesionError::NoHostTissue(spec.kind.organ()))?;
    let host_hu = host_median(ct, organs, primary, centre, spec.diameter_mm);
    let look = spec.kind.look(&mut rng, host_hu);
    let placement = LesionPlacement {
        centre,
        diameter_mm: spec.diameter_mm,
        tissue_hu: look.tissue_hu,
        edge_mm: look.edge_mm,
        lobulation: look.lobulation,
        heterogeneity: look.heterogeneity,
        blend: look.blend,
        air_bronchograms: look.air_bronchograms,
        noise_sigma: None,
        seed: rng.gen(),
    };
    let allowed = |k: usize, j: usize, i: usize| hosts.contains(&organs.data[[k, j, i]]);
    let mask = blend_lesion(ct, &placement, &allowed);
    Ok(InsertedLesion {
        kind: spec.kind,
        centre,
        diameter_mm: spec.diameter_mm,
        tissue_hu: look.tissue_hu,
        mask,
    })
}

/// Blends the lesion described by `placement` into `ct` and returns its mask. Voxels where
/// `within` is zero are left alone (pass an organ or body mask of a real scan there).
pub fn insert_lesion_at(
    ct: &mut CtVolume,
    placement: &LesionPlacement,
    within: Option<&Mask>,
) -> Mask {
    match within {
        Some(m) => {
            let allowed = |k: usize, j: usize, i: usize| m.data[[k, j, i]] != 0;
            blend_lesion(ct, placement, &allowed)
        }
        None => blend_lesion(ct, placement, &|_, _, _| true),
    }
}

/// Inserts `count` lesions of random kinds (among those whose organ is present) and sizes.
pub fn insert_random_lesions(
    ct: &mut CtVolume,
    organs: &Volume<u8>,
    count: usize,
    seed: u64,
) -> Vec<InsertedLesion> {
    let mut present = [false; 256];
    organs.data.iter().for_each(|&l| present[l as usize] = true);
    let kinds: Vec<LesionKind> = LesionKind::ALL
        .into_iter()
        .filter(|k| present[k.organ() as usize])
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    if kinds.is_empty() {
        return out;
    }
    for _ in 0..count {
        let kind = kinds[rng.gen_range(0..kinds.len())];
        let (lo, hi): (f64, f64) = kind.diameter_range_mm();
        let diameter_mm = (rng.gen_range(lo.ln()..hi.ln())).exp();
        let spec = LesionSpec {
            kind,
            diameter_mm,
            seed: rng.gen(),
        };
        if let Ok(lesion) = insert_lesion(ct, organs, &spec) {
            out.push(lesion);
        }
    }
    out
}

/// Union of the masks of `lesions`, or `None` when there are none.
pub fn combined_mask(lesions: &[InsertedLesion]) -> Option<Mask> {
    let first = lesions.first()?;
    let mut m = first.mask.clone();
    for l in &lesions[1..] {
        m.data.zip_mut_with(&l.mask.data, |a, &b| *a |= b);
    }
    Some(m)
}

/// A random voxel of `label` around which a ball of `radius` mm stays in the label, or the
/// best-fitting of a few hundred candidates.
fn choose_centre(
    organs: &Volume<u8>,
    label: u8,
    radius: f64,
    rng: &mut ChaCha8Rng,
) -> Option<PatientPoint> {
    let count = organs.data.iter().filter(|&&l| l == label).count();
    if count == 0 {
        return None;
    }
    let [nk, nj, ni] = [
        organs.data.shape()[0],
        organs.data.shape()[1],
        organs.data.shape()[2],
    ];
    let total = nk * nj * ni;
    let probes = probe_directions();
    let mut best: Option<(f64, PatientPoint)> = None;
    let mut hits = 0;
    for _ in 0..total.min(2_000_000) {
        let idx = rng.gen_range(0..total);
        let (k, j, i) = (idx / (nj * ni), (idx / ni) % nj, idx % ni);
        if organs.data[[k, j, i]] != label {
            continue;
        }
        let c = organs.voxel_to_patient(i as f64, j as f64, k as f64);
        let inside = probes
            .iter()
            .filter(|d| {
                let p = tubes::add(c.0, tubes::scale(**d, radius * 1.1));
                label_at(organs, p) == Some(label)
            })
            .count();
        let score = inside as f64 / probes.len() as f64;
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, c));
        }
        hits += 1;
        if score >= 1.0 || hits >= 400 {
            break;
        }
    }
    best.map(|(_, c)| c)
}

fn label_at(organs: &Volume<u8>, p: [f64; 3]) -> Option<u8> {
    let v = organs.geometry.patient_to_voxel(PatientPoint(p)).0;
    let d = organs.dims();
    let idx = [v[0].round(), v[1].round(), v[2].round()];
    if idx.iter().any(|x| *x < 0.0)
        || idx[0] >= d.i as f64
        || idx[1] >= d.j as f64
        || idx[2] >= d.k as f64
    {
        return None;
    }
    Some(organs.data[[idx[2] as usize, idx[1] as usize, idx[0] as usize]])
}

/// 26 unit directions: the faces, edges and corners of a cube.
fn probe_directions() -> Vec<[f64; 3]> {
    let mut out = Vec::new();
    for a in -1i32..=1 {
        for b in -1i32..=1 {
            for c in -1i32..=1 {
                if (a, b, c) != (0, 0, 0) {
                    out.push(tubes::normalize([a as f64, b as f64, c as f64]));
                }
            }
        }
    }
    out
}

fn host_median(
    ct: &CtVolume,
    organs: &Volume<u8>,
    label: u8,
    centre: PatientPoint,
    diameter: f64,
) -> f32 {
    let (lo, hi) = voxel_box(ct, centre, diameter);
    let mut values = Vec::new();
    for k in lo[2]..=hi[2] {
        for j in lo[1]..=hi[1] {
            for i in lo[0]..=hi[0] {
                if organs.data[[k, j, i]] == label {
                    values.push(ct.data[[k, j, i]]);
                }
            }
        }
    }
    median(&mut values).unwrap_or(0.0)
}

fn median(v: &mut [f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
    Some(*m)
}

/// Inclusive voxel index box `[i, j, k]` covering a cube of side `size` mm around `c`.
fn voxel_box(vol: &CtVolume, c: PatientPoint, size: f64) -> ([usize; 3], [usize; 3]) {
    let d = vol.dims().as_array();
    let mut lo = [f64::MAX; 3];
    let mut hi = [f64::MIN; 3];
    let h = size * 0.5;
    for corner in 0..8 {
        let p = [
            c.0[0] + if corner & 1 == 0 { -h } else { h },
            c.0[1] + if corner & 2 == 0 { -h } else { h },
            c.0[2] + if corner & 4 == 0 { -h } else { h },
        ];
        let v = vol.geometry.patient_to_voxel(PatientPoint(p)).0;
        for a in 0..3 {
            lo[a] = lo[a].min(v[a].floor());
            hi[a] = hi[a].max(v[a].ceil());
        }
    }
    let mut l = [0usize; 3];
    let mut u = [0usize; 3];
    for a in 0..3 {
        l[a] = lo[a].max(0.0).min(d[a] as f64 - 1.0) as usize;
        u[a] = hi[a].max(0.0).min(d[a] as f64 - 1.0) as usize;
    }
    (l, u)
}

/// A lobulated blob: radius `r0 * (1 + sum of bumps)` in each direction.
struct Shape {
    r0: f64,
    bumps: Vec<([f64; 3], f64, i32)>,
}

impl Shape {
    fn random(diameter: f64, lobulation: f64, rng: &mut ChaCha8Rng) -> Self {
        let n = if lobulation > 0.0 {
            rng.gen_range(3..8)
        } else {
            0
        };
        let bumps = (0..n)
            .map(|_| {
                (
                    tubes::random_unit(rng),
                    lobulation * rng.gen_range(0.4..1.0),
                    rng.gen_range(2..7),
                )
            })
            .collect();
        let mut s = Shape { r0: 1.0, bumps };
        // Scale so the longest diameter (over many directions) equals `diameter`.
        let longest = fibonacci_directions(400)
            .into_iter()
            .map(|d| s.radius(d) + s.radius(tubes::scale(d, -1.0)))
            .fold(0.0, f64::max);
        s.r0 = diameter / longest;
        s
    }

    fn radius(&self, dir: [f64; 3]) -> f64 {
        let bump: f64 = self
            .bumps
            .iter()
            .map(|(n, a, p)| a * tubes::dot(*n, dir).max(0.0).powi(*p))
            .sum();
        self.r0 * (1.0 + bump)
    }
}

fn fibonacci_directions(n: usize) -> Vec<[f64; 3]> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..n)
        .map(|k| {
            let z = 1.0 - 2.0 * (k as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).sqrt();
            let phi = golden * k as f64;
            [r * phi.cos(), r * phi.sin(), z]
        })
        .collect()
}

fn blend_lesion(
    ct: &mut CtVolume,
    p: &LesionPlacement,
    allowed: &dyn Fn(usize, usize, usize) -> bool,
) -> Mask {
    let mut mask: Mask = Volume::zeros(ct.dims(), ct.geometry);
    if !(p.diameter_mm.is_finite() && p.diameter_mm > 0.0) {
        return mask;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let shape = Shape::random(p.diameter_mm, p.lobulation, &mut rng);
    let sigma = p
        .noise_sigma
        .unwrap_or_else(|| surrounding_noise(ct, p, allowed));
    let bronchi = if p.air_bronchograms {
        bronchograms(p, &mut rng)
    } else {
        Vec::new()
    };
    let c = p.centre.0;
    let reach = p.diameter_mm * 2.0 + 2.0 * p.edge_mm;
    let (lo, hi) = voxel_box(ct, p.centre, reach);
    let dims = [hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1];
    let noise = correlated_noise(dims, &mut rng);
    let g = ct.geometry;
    for k in lo[2]..=hi[2] {
        for j in lo[1]..=hi[1] {
            for i in lo[0]..=hi[0] {
                if !allowed(k, j, i) {
                    continue;
                }
                let q = g
                    .voxel_to_patient(VoxelPoint([i as f64, j as f64, k as f64]))
                    .0;
                let d = tubes::sub(q, c);
                let dist = tubes::norm(d);
                let r = if dist > 1e-9 {
                    shape.radius(tubes::scale(d, 1.0 / dist))
                } else {
                    shape.r0
                };
                let s = dist - r;
                let w = (0.5 - s / p.edge_mm.max(1e-3)).clamp(0.0, 1.0) as f32;
                if w <= 0.0 {
                    continue;
                }
                if s <= 0.0 {
                    mask.data[[k, j, i]] = 1;
                }
                let old = ct.data[[k, j, i]];
                if p.air_bronchograms
                    && s <= 0.0
                    && (old < -950.0 || bronchi.iter().any(|t| t.distance(q) < t.r))
                {
                    let n = noise[((k - lo[2]) * dims[1] + (j - lo[1])) * dims[0] + (i - lo[0])];
                    ct.data[[k, j, i]] = old.min(-940.0 + sigma * n);
                    continue;
                }
                let rel = (dist / r).min(1.0) as f32;
                let target = p.tissue_hu
                    + p.heterogeneity * (1.0 - 2.0 * rel)
                    + sigma * noise[((k - lo[2]) * dims[1] + (j - lo[1])) * dims[0] + (i - lo[0])];
                let mixed = old + w * (target - old);
                ct.data[[k, j, i]] = match p.blend {
                    Blend::Replace => mixed,
                    Blend::Raise => mixed.max(old),
                };
            }
        }
    }
    mask
}

/// Robust spread (MAD) of the allowed voxels around the lesion: the noise the lesion
/// should carry to look like it belongs there.
fn surrounding_noise(
    ct: &CtVolume,
    p: &LesionPlacement,
    allowed: &dyn Fn(usize, usize, usize) -> bool,
) -> f32 {
    let (lo, hi) = voxel_box(ct, p.centre, p.diameter_mm * 2.0 + 10.0);
    let mut diffs = Vec::new();
    for k in lo[2]..=hi[2] {
        for j in lo[1]..=hi[1] {
            for i in lo[0] + 1..=hi[0] {
                if allowed(k, j, i) && allowed(k, j, i - 1) {
                    diffs.push(ct.data[[k, j, i]] - ct.data[[k, j, i - 1]]);
                }
            }
        }
    }
    // Neighbouring voxels differ by noise mainly; structure edges are outliers for the MAD.
    let med = median(&mut diffs.clone()).unwrap_or(0.0);
    let mut dev: Vec<f32> = diffs.iter().map(|d| (d - med).abs()).collect();
    let mad = median(&mut dev).unwrap_or(10.0);
    // With noise smoothed like the phantom's ([1 2 1] per axis) neighbours correlate at
    // 2/3, so their difference has sqrt(2/3) of the per-voxel sigma.
    (1.4826 * mad / 0.816).clamp(3.0, 60.0)
}

/// White noise blurred in-plane with [1 2 1] and rescaled to unit variance.
fn correlated_noise(dims: [usize; 3], rng: &mut ChaCha8Rng) -> Vec<f32> {
    let [ni, nj, nk] = dims;
    let mut v: Vec<f32> = (0..ni * nj * nk)
        .map(|_| {
            let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
            let u2: f64 = rng.gen();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
        })
        .collect();
    for k in 0..nk {
        let s = &mut v[k * ni * nj..(k + 1) * ni * nj];
        super::texture::blur_slice(s, ni, nj, 0.25);
        // [1 2 1]/4 in two dimensions keeps 0.375^2 of the variance.
        s.iter_mut().for_each(|x| *x /= 0.375);
    }
    v
}

/// A few thin air-filled tubes crossing the lesion.
fn bronchograms(p: &LesionPlacement, rng: &mut ChaCha8Rng) -> Vec<Tube> {
    let r = p.diameter_mm * 0.5;
    (0..rng.gen_range(2..5))
        .map(|_| {
            let u = tubes::random_unit(rng);
            let v = tubes::normalize(tubes::add(
                tubes::scale(u, -1.0),
                tubes::scale(tubes::random_unit(rng), 0.5),
            ));
            Tube::new(
                tubes::add(p.centre.0, tubes::scale(u, r * 0.9)),
                tubes::add(p.centre.0, tubes::scale(v, r * 0.6)),
                rng.gen_range(0.8..1.6),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Dims, Geometry};
    use crate::phantom::{Phantom, PhantomSpec};
    use std::sync::OnceLock;

    /// Lower chest to upper abdomen at 2.5 mm: lungs, liver and kidneys.
    fn trunk() -> &'static Phantom {
        static P: OnceLock<Phantom> = OnceLock::new();
        P.get_or_init(|| {
            let mut spec = PhantomSpec::new(11, Dims::new(160, 136, 72), [2.5, 2.5, 3.0]);
            spec.centre_height_mm = -50.0;
            spec.generate()
        })
    }

    fn insert(kind: LesionKind, diameter_mm: f64, seed: u64) -> (CtVolume, InsertedLesion) {
        let p = trunk();
        let mut ct = p.ct.clone();
        let spec = LesionSpec {
            kind,
            diameter_mm,
            seed,
        };
        let lesion = insert_lesion(&mut ct, &p.organs, &spec).unwrap();
        (ct, lesion)
    }

    fn voxels(m: &Mask) -> Vec<(usize, usize, usize)> {
        m.data
            .indexed_iter()
            .filter(|(_, &v)| v != 0)
            .map(|(idx, _)| idx)
            .collect()
    }

    fn mean_in_mask(ct: &CtVolume, m: &Mask) -> f32 {
        let v = voxels(m);
        v.iter().map(|&(k, j, i)| ct.data[[k, j, i]]).sum::<f32>() / v.len() as f32
    }

    /// Longest extent of the mask along the grid axes, in mm.
    fn extent_mm(m: &Mask) -> f64 {
        let v = voxels(m);
        let span = |f: fn(&(usize, usize, usize)) -> usize| {
            let lo = v.iter().map(f).min().unwrap();
            let hi = v.iter().map(f).max().unwrap();
            (hi - lo + 1) as f64
        };
        let s = m.geometry.spacing;
        (span(|x| x.2) * s[0])
            .max(span(|x| x.1) * s[1])
            .max(span(|x| x.0) * s[2])
    }

    fn assert_inside(lesion: &InsertedLesion, hosts: &[Organ]) {
        let organs = &trunk().organs;
        let v = voxels(&lesion.mask);
        assert!(!v.is_empty(), "empty mask");
        for (k, j, i) in v {
            let l = organs.data[[k, j, i]];
            assert!(hosts.iter().any(|h| *h as u8 == l), "voxel in label {l}");
        }
    }

    fn assert_diameter(lesion: &InsertedLesion) {
        let e = extent_mm(&lesion.mask);
        let d = lesion.diameter_mm;
        let tol = 0.25 * d + 3.0;
        assert!((e - d).abs() <= tol, "extent {e} mm for diameter {d} mm");
    }

    #[test]
    fn solid_nodule_lies_inside_the_lung_at_its_size() {
        let (ct, lesion) = insert(LesionKind::SolidNodule, 14.0, 1);
        assert_inside(&lesion, &[Organ::Lung]);
        assert_diameter(&lesion);
        let m = mean_in_mask(&ct, &lesion.mask);
        assert!((-150.0..80.0).contains(&m), "nodule mean {m}");
    }

    #[test]
    fn small_nodule_of_three_millimetres_is_not_lost() {
        let (_, lesion) = insert(LesionKind::SolidNodule, 3.0, 2);
        assert!(!voxels(&lesion.mask).is_empty());
        assert_inside(&lesion, &[Organ::Lung]);
    }

    #[test]
    fn ground_glass_nodule_raises_lung_towards_minus_600() {
        let (ct, lesion) = insert(LesionKind::GroundGlassNodule, 20.0, 3);
        assert_inside(&lesion, &[Organ::Lung]);
        assert_diameter(&lesion);
        let m = mean_in_mask(&ct, &lesion.mask);
        assert!((-720.0..-400.0).contains(&m), "ground glass mean {m}");
    }

    #[test]
    fn liver_tumours_differ_from_the_liver_in_their_direction() {
        let (ct, hypo) = insert(LesionKind::HypodenseLiverTumour, 25.0, 4);
        assert_inside(&hypo, &[Organ::Liver]);
        assert_diameter(&hypo);
        let liver = trunk().ct.data.iter().zip(trunk().organs.data.iter());
        let (s, n) = liver
            .filter(|(_, &l)| l == Organ::Liver as u8)
            .fold((0.0f64, 0usize), |(s, n), (v, _)| (s + *v as f64, n + 1));
        let liver_mean = (s / n as f64) as f32;
        assert!(mean_in_mask(&ct, &hypo.mask) < liver_mean - 15.0);
        let (ct, hyper) = insert(LesionKind::HyperdenseLiverTumour, 25.0, 5);
        assert!(mean_in_mask(&ct, &hyper.mask) > liver_mean + 15.0);
    }

    #[test]
    fn kidney_cyst_is_water_dense_inside_the_kidney() {
        let (ct, cyst) = insert(LesionKind::KidneyCyst, 15.0, 6);
        assert_inside(&cyst, &[Organ::Kidney]);
        assert_diameter(&cyst);
        let m = mean_in_mask(&ct, &cyst.mask);
        assert!((-15.0..35.0).contains(&m), "cyst mean {m}");
    }

    #[test]
    fn consolidation_turns_lung_into_soft_tissue_with_air_bronchograms() {
        let (ct, lesion) = insert(LesionKind::Consolidation, 40.0, 7);
        assert_inside(&lesion, &[Organ::Lung, Organ::Airway]);
        let mut values: Vec<f32> = voxels(&lesion.mask)
            .iter()
            .map(|&(k, j, i)| ct.data[[k, j, i]])
            .collect();
        let air = values.iter().filter(|&&v| v < -800.0).count();
        let median = median(&mut values).unwrap();
        assert!(
            (0.0..80.0).contains(&median),
            "consolidation median {median}"
        );
        assert!(air > 0, "no air bronchogram");
    }

    #[test]
    fn lesion_insertion_is_reproducible_per_seed() {
        let (a, la) = insert(LesionKind::SolidNodule, 10.0, 8);
        let (b, lb) = insert(LesionKind::SolidNodule, 10.0, 8);
        assert_eq!(a, b);
        assert_eq!(la.mask, lb.mask);
        let (_, lc) = insert(LesionKind::SolidNodule, 10.0, 9);
        assert_ne!(la.mask, lc.mask);
    }

    #[test]
    fn random_lesions_land_in_their_organs() {
        let p = trunk();
        let mut ct = p.ct.clone();
        let lesions = insert_random_lesions(&mut ct, &p.organs, 6, 21);
        assert_eq!(lesions.len(), 6);
        for l in &lesions {
            let hosts: Vec<Organ> = l
                .kind
                .hosts()
                .iter()
                .filter_map(|&h| Organ::from_label(h))
                .collect();
            assert_inside(l, &hosts);
        }
        assert!(combined_mask(&lesions).is_some());
    }

    #[test]
    fn missing_organ_is_reported() {
        let p = trunk();
        let mut ct = p.ct.clone();
        let empty: Volume<u8> = Volume::zeros(ct.dims(), ct.geometry);
        let spec = LesionSpec {
            kind: LesionKind::LiverCyst,
            diameter_mm: 10.0,
            seed: 1,
        };
        assert_eq!(
            insert_lesion(&mut ct, &empty, &spec).unwrap_err(),
            LesionError::NoHostTissue(Organ::Liver)
        );
    }

    #[test]
    fn lesion_at_a_chosen_centre_carries_the_surrounding_noise() {
        let g = Geometry::axial([0.0; 3], [0.8, 0.8, 1.0]);
        let dims = Dims::new(80, 80, 40);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut ct: CtVolume = Volume::zeros(dims, g);
        let noise = correlated_noise([80, 80, 40], &mut rng);
        ct.data
            .iter_mut()
            .zip(&noise)
            .for_each(|(v, n)| *v = 40.0 + 12.0 * n);
        let centre = ct.voxel_to_patient(40.0, 40.0, 20.0);
        let placement = LesionPlacement::solid(centre, 16.0, 120.0, 4);
        let before = ct.clone();
        let mask = insert_lesion_at(&mut ct, &placement, None);
        let inside: Vec<f32> = voxels(&mask)
            .iter()
            .map(|&(k, j, i)| ct.data[[k, j, i]])
            .collect();
        let mean = inside.iter().sum::<f32>() / inside.len() as f32;
        let sd = (inside.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()
            / inside.len() as f32)
            .sqrt();
        assert!((100.0..130.0).contains(&mean), "mean {mean}");
        assert!((7.0..20.0).contains(&sd), "lesion noise {sd} vs 12");
        // Far from the lesion nothing changes.
        assert_eq!(ct.data[[2, 2, 2]], before.data[[2, 2, 2]]);
    }

    #[test]
    fn lesion_stays_within_the_given_mask() {
        let g = Geometry::axial([0.0; 3], [1.0; 3]);
        let dims = Dims::new(40, 40, 40);
        let mut ct: CtVolume = Volume::zeros(dims, g);
        let mut within: Mask = Volume::zeros(dims, g);
        within.data.slice_mut(ndarray::s![.., .., 0..20]).fill(1);
        let centre = ct.voxel_to_patient(20.0, 20.0, 20.0);
        let mask = insert_lesion_at(
            &mut ct,
            &LesionPlacement::solid(centre, 12.0, 60.0, 1),
            Some(&within),
        );
        assert!(voxels(&mask).iter().all(|&(_, _, i)| i < 20));
        assert!(ct
            .data
            .slice(ndarray::s![.., .., 20..])
            .iter()
            .all(|&v| v == 0.0));
    }
}
