//! The preprocessing pipeline of `docs/METHOD.md` (body crop, resampling, intensity window,
//! CLAHE) and the way back from the preprocessed grid to the original one.

use ndarray::Array3;

use super::clahe::clahe;
use super::crop::{body_crop_box, CropBox};
use super::intensity::clip_and_scale;
use super::params::PreprocessParams;
use super::resample::{resample_linear, resample_to_spacing};
use crate::geometry::{Dims, Geometry};
use crate::volume::Volume;

/// A preprocessed CT and what is needed to map results back onto the CT it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessed {
    /// Cropped, resampled, windowed and equalised volume, values in [0, 1].
    pub volume: Volume<f32>,
    /// The body box on the original grid.
    pub crop: CropBox,
    pub original_geometry: Geometry,
    pub original_dims: Dims,
}

/// Runs the whole preprocessing on a CT in Hounsfield units.
pub fn preprocess(ct: &Volume<f32>, params: &PreprocessParams) -> Preprocessed {
    let crop = body_crop_box(
        ct,
        params.body_threshold_hu,
        params.body_block_mm,
        params.body_block_fraction,
    );
    let mut resampled = resample_to_spacing(
        crop.view(&ct.data),
        &ct.geometry.cropped(crop.start),
        params.target_spacing,
    );
    clip_and_scale(&mut resampled.data, params.clip_hu[0], params.clip_hu[1]);
    let data = clahe(resampled.data.view(), &params.clahe());
    Preprocessed {
        volume: Volume::new(data, resampled.geometry),
        crop,
        original_geometry: ct.geometry,
        original_dims: ct.dims(),
    }
}

impl Preprocessed {
    /// Crops and resamples a map given on the original grid onto the preprocessed grid, with
    /// the same interpolation as the CT (no intensity steps).
    pub fn from_original_grid(&self, map: &Volume<f32>) -> Volume<f32> {
        assert_eq!(
            map.dims(),
            self.original_dims,
            "map is not on the original grid"
        );
        let data = resample_linear(self.crop.view(&map.data), self.volume.dims());
        Volume::new(data, self.volume.geometry)
    }

    /// Puts a map computed on the preprocessed grid back onto the original grid: the inverse
    /// of crop + resample. Inside the crop box each original voxel centre is interpolated
    /// trilinearly at its position on the preprocessed grid (both grids cover the box's extent
    /// with aligned voxel edges, so the index mapping per axis is affine; it equals going
    /// through patient coordinates); voxels outside the box get `outside`.
    pub fn to_original_grid(&self, map: &Volume<f32>, outside: f32) -> Volume<f32> {
        assert_eq!(
            map.dims(),
            self.volume.dims(),
            "map is not on the preprocessed grid"
        );
        let inside = resample_linear(map.data.view(), self.crop.dims());
        let mut data = Array3::from_elem(self.original_dims.shape(), outside);
        let mut boxed = data.slice_mut(ndarray::s![
            self.crop.start[2]..self.crop.end[2],
            self.crop.start[1]..self.crop.end[1],
            self.crop.start[0]..self.crop.end[0]
        ]);
        boxed.assign(&inside);
        Volume::new(data, self.original_geometry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::VoxelPoint;

    /// An elliptic "body" of soft tissue in air on an anisotropic, off-origin grid.
    fn phantom() -> Volume<f32> {
        let g = Geometry::axial([-123.4, 56.7, -310.0], [0.8, 0.8, 2.5]);
        let dims = Dims::new(96, 80, 40);
        let data = Array3::from_shape_fn(dims.shape(), |(k, j, i)| {
            let (x, y) = ((i as f64 - 50.0) / 36.0, (j as f64 - 38.0) / 28.0);
            let inside = x * x + y * y <= 1.0 && (5..35).contains(&k);
            if inside {
                40.0 + ((i * 7 + j * 3 + k) % 11) as f32 * 20.0
            } else {
                -1000.0
            }
        });
        Volume::new(data, g)
    }

    #[test]
    fn pipeline_crops_to_the_body_resamples_and_equalises() {
        let ct = phantom();
        let p = preprocess(&ct, &PreprocessParams::default());
        let c = p.crop;
        // Body spans i 14..=86, j 10..=66 and k 5..35; the box is aligned to 6x6x2 blocks and
        // may miss less than half a block of the body's rim.
        assert!(
            c.start[0] <= 17 && c.end[0] >= 84 && c.end[0] - c.start[0] <= 84,
            "{c:?}"
        );
        assert!(
            c.start[1] <= 13 && c.end[1] >= 64 && c.end[1] - c.start[1] <= 68,
            "{c:?}"
        );
        assert_eq!((c.start[2], c.end[2]), (4, 36));
        let want = ct
            .geometry
            .cropped(c.start)
            .with_spacing(c.dims(), [1.5, 1.5, 2.25]);
        assert_eq!((p.volume.geometry, p.volume.dims()), want);
        let (lo, hi) = p
            .volume
            .data
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn sphere_survives_the_round_trip_to_the_preprocessed_grid_and_back() {
        let ct = phantom();
        let p = preprocess(&ct, &PreprocessParams::default());
        let centre = ct.voxel_to_patient(45.0, 40.0, 20.0).0;
        let sphere = ct.map(|_| 0.0f32);
        let mut sphere = sphere;
        for ((k, j, i), v) in sphere.data.indexed_iter_mut() {
            let q = ct.voxel_to_patient(i as f64, j as f64, k as f64).0;
            let d2: f64 = (0..3).map(|a| (q[a] - centre[a]).powi(2)).sum();
            *v = if d2 <= 12.0f64.powi(2) { 1.0 } else { 0.0 };
        }
        let there = p.from_original_grid(&sphere);
        let back = p.to_original_grid(&there, 0.0);
        assert_eq!(back.geometry, ct.geometry);
        let (mut both, mut a, mut b) = (0usize, 0usize, 0usize);
        for (&x, &y) in sphere.data.iter().zip(back.data.iter()) {
            let (x, y) = (x > 0.5, y > 0.5);
            both += (x && y) as usize;
            a += x as usize;
            b += y as usize;
        }
        let dice = 2.0 * both as f64 / (a + b) as f64;
        assert!(a > 1000, "sphere too small: {a} voxels");
        assert!(dice >= 0.95, "Dice {dice}");
    }

    #[test]
    fn inverse_mapping_agrees_with_patient_coordinates() {
        let ct = phantom();
        let p = preprocess(&ct, &PreprocessParams::default());
        // A map holding each preprocessed voxel's patient x and z comes back as the original
        // voxels' patient x and z wherever interpolation is not clamped at the box edge.
        let g = p.volume.geometry;
        for axis in [0usize, 2] {
            let mut coord = p.volume.map(|_| 0.0f32);
            for ((k, j, i), v) in coord.data.indexed_iter_mut() {
                *v = g
                    .voxel_to_patient(VoxelPoint([i as f64, j as f64, k as f64]))
                    .0[axis] as f32;
            }
            let back = p.to_original_grid(&coord, f32::NAN);
            let c = p.crop;
            for k in c.start[2] + 2..c.end[2] - 2 {
                for j in c.start[1] + 2..c.end[1] - 2 {
                    for i in c.start[0] + 2..c.end[0] - 2 {
                        let want = ct.voxel_to_patient(i as f64, j as f64, k as f64).0[axis];
                        let got = back.data[[k, j, i]] as f64;
                        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
                    }
                }
            }
            assert!(back.data[[0, 0, 0]].is_nan());
        }
    }
}
