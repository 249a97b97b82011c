//! The study score: one number per CT saying how abnormal its most abnormal region is.
//!
//! Statistic `max_body_mean3_pooled_<anomaly>` (`Manifest::study_score_statistic`, e.g.
//! `max_body_mean3_pooled_nll`): the anomaly map at the density model's pooled
//! resolution (each value already averages a 3 x 3 x 2 block, about 4.5 mm) is smoothed by a
//! 3 x 3 x 3 mean (about 13 mm), and the score is its maximum over voxels inside the body
//! (CT > -500 HU at the voxel's centre). Why: a lesion of about a centimetre or more raises a
//! whole neighbourhood and so the maximum, while a single noisy voxel does not; restricting to
//! the body keeps air, table and field-of-view edges from dominating. The threshold that turns
//! it into a flag is calibrated on normal scans and stored in the bundle.

use ndarray::Array3;
use screener_core::{CtVolume, Dims, Volume, VoxelPoint};

/// HU above which a voxel is body.
const BODY_HU: f32 = -500.0;

pub fn study_score(pooled: &Volume<f32>, ct: &CtVolume) -> f64 {
    let smoothed = mean3(&pooled.data);
    let ct_dims = ct.dims();
    let mut best_body = f32::NEG_INFINITY;
    let mut best_any = f32::NEG_INFINITY;
    for ((k, j, i), &v) in smoothed.indexed_iter() {
        best_any = best_any.max(v);
        let p = pooled
            .geometry
            .voxel_to_patient(VoxelPoint([i as f64, j as f64, k as f64]));
        let c = ct.geometry.patient_to_voxel(p).0.map(|x| x.round());
        let inside = c.iter().all(|&x| x >= 0.0)
            && (c[0] as usize) < ct_dims.i
            && (c[1] as usize) < ct_dims.j
            && (c[2] as usize) < ct_dims.k;
        if inside && *ct.at(c[0] as usize, c[1] as usize, c[2] as usize) > BODY_HU {
            best_body = best_body.max(v);
        }
    }
    if best_body.is_finite() {
        best_body as f64
    } else {
        best_any as f64
    }
}

/// 3 x 3 x 3 mean, averaging over the neighbours that exist at the edges.
fn mean3(a: &Array3<f32>) -> Array3<f32> {
    let d = Dims::from_shape(a.shape());
    Array3::from_shape_fn(a.raw_dim(), |(k, j, i)| {
        let mut sum = 0.0;
        let mut n = 0.0;
        for kk in k.saturating_sub(1)..(k + 2).min(d.k) {
            for jj in j.saturating_sub(1)..(j + 2).min(d.j) {
                for ii in i.saturating_sub(1)..(i + 2).min(d.i) {
                    sum += a[[kk, jj, ii]];
                    n += 1.0;
                }
            }
        }
        sum / n
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use screener_core::Geometry;

    #[test]
    fn a_compact_hot_region_in_the_body_beats_a_single_hot_voxel() {
        let g = Geometry::axial([0.0; 3], [1.0; 3]);
        let ct = CtVolume::new(Array3::from_elem((10, 10, 10), 40.0), g);
        let mut map = Array3::from_elem((10, 10, 10), 1.0f32);
        map[[1, 1, 1]] = 50.0;
        let single = study_score(&Volume::new(map.clone(), g), &ct);
        map[[1, 1, 1]] = 1.0;
        for k in 4..7 {
            for j in 4..7 {
                for i in 4..7 {
                    map[[k, j, i]] = 10.0;
                }
            }
        }
        let region = study_score(&Volume::new(map, g), &ct);
        assert!(region > single, "{region} vs {single}");
        assert!((region - 10.0).abs() < 1e-5);
    }

    #[test]
    fn voxels_outside_the_body_do_not_count() {
        let g = Geometry::axial([0.0; 3], [1.0; 3]);
        let mut air = Array3::from_elem((6, 6, 6), -1000.0f32);
        air[[3, 3, 3]] = 40.0;
        let ct = CtVolume::new(air, g);
        let mut map = Array3::from_elem((6, 6, 6), 0.0f32);
        map[[0, 0, 0]] = 270.0;
        let score = study_score(&Volume::new(map, g), &ct);
        assert_eq!(score, 0.0);
    }
}
