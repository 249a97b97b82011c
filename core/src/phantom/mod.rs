//! Synthetic chest and abdomen CT phantoms for tests, benchmarks and training data.
//!
//! This module owns the seeded phantom generator ([`PhantomSpec::generate`]), the insertion
//! of synthetic lesions into phantoms and real scans ([`lesions`], with rough tissue labels of a
//! real scan from [`scan_tissue_labels`]), and the writing of a CT
//! volume as a DICOM CT series ([`dicom_writer`]). A phantom is fully determined by its
//! [`PhantomSpec`]: the same spec gives the same voxels on any machine and thread count.
//!
//! The anatomy is analytic (ellipsoids, superellipses, capsules) and evaluated per voxel
//! with per-slice bounding boxes, so a 512 x 512 x 300 volume takes seconds.

mod anatomy;
pub mod dicom_writer;
pub mod lesions;
mod scan_labels;
mod slice;
mod texture;
mod tubes;

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use std::path::{Path, PathBuf};

use crate::geometry::{Dims, Geometry};
use crate::nifti_io::{write_nifti, NiftiError};
use crate::volume::{CtVolume, Mask, Volume};

pub use dicom_writer::{
    write_ct_series, CtSeriesOptions, DicomWriteError, PixelEncoding, SeriesTransferSyntax,
};
pub use lesions::{
    combined_mask, insert_lesion, insert_lesion_at, insert_random_lesions, Blend, InsertedLesion,
    LesionError, LesionKind, LesionPlacement, LesionSpec,
};
pub use scan_labels::scan_tissue_labels;

use anatomy::Anatomy;
use slice::SliceImage;
use texture::NoiseField;

/// Label values of the organ volume of a phantom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Organ {
    Outside = 0,
    /// Skin, fat, muscle, mediastinum and everything else not listed.
    SoftTissue = 1,
    /// Lung parenchyma, including its small vessels and bronchial walls.
    Lung = 2,
    /// Air inside the trachea and bronchi.
    Airway = 3,
    Heart = 4,
    Aorta = 5,
    Liver = 6,
    Spleen = 7,
    Kidney = 8,
    /// Vertebrae, ribs and sternum.
    Bone = 9,
    SpinalCanal = 10,
    Table = 11,
    Stomach = 12,
    Bowel = 13,
    /// Great vessels other than the aorta: pulmonary arteries and veins, venae cavae.
    Vessel = 14,
    Gallbladder = 15,
}

impl Organ {
    pub const ALL: [Organ; 16] = [
        Organ::Outside,
        Organ::SoftTissue,
        Organ::Lung,
        Organ::Airway,
        Organ::Heart,
        Organ::Aorta,
        Organ::Liver,
        Organ::Spleen,
        Organ::Kidney,
        Organ::Bone,
        Organ::SpinalCanal,
        Organ::Table,
        Organ::Stomach,
        Organ::Bowel,
        Organ::Vessel,
        Organ::Gallbladder,
    ];

    pub fn label(self) -> u8 {
        self as u8
    }

    pub fn from_label(label: u8) -> Option<Organ> {
        Organ::ALL.get(label as usize).copied()
    }
}

/// Everything that determines a phantom.
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomSpec {
    /// Seeds the anatomy, the placement and the noise.
    pub seed: u64,
    pub dims: Dims,
    /// Voxel spacing (mm) along i, j and k.
    pub spacing: [f64; 3],
    /// Height of the volume's middle slice above the top of the right diaphragm dome (mm):
    /// about +60 centres the chest, -100 the upper abdomen.
    pub centre_height_mm: f64,
    /// Standard deviation of the image noise in HU.
    pub noise_sigma: f32,
    /// Intravenous contrast: bright blood, enhancing liver, spleen and kidneys.
    pub contrast: bool,
}

impl PhantomSpec {
    /// A phantom of chosen size and spacing; the anatomy still varies with `seed`. The
    /// volume is centred on the lower chest, so it shows lungs, heart and liver dome.
    pub fn new(seed: u64, dims: Dims, spacing: [f64; 3]) -> Self {
        Self {
            seed,
            dims,
            spacing,
            centre_height_mm: 30.0,
            noise_sigma: 15.0,
            contrast: false,
        }
    }

    /// A realistic clinical-looking scan: 512 x 512 slices with 0.6 - 0.9 mm pixels, 1 - 5
    /// mm slices over 25 - 40 cm of chest and abdomen, with or without contrast.
    pub fn random(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed_5eed_5eed);
        let dz = *[1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0]
            .get(rng.gen_range(0..7))
            .unwrap_or(&2.0);
        let extent: f64 = rng.gen_range(250.0..400.0);
        let nz = (extent / dz).round().max(1.0) as usize;
        let pixel = rng.gen_range(0.6..0.9);
        Self {
            seed,
            dims: Dims::new(512, 512, nz),
            spacing: [pixel, pixel, dz],
            centre_height_mm: rng.gen_range(-80.0..80.0),
            noise_sigma: rng.gen_range(10.0..20.0),
            contrast: rng.gen_bool(0.5),
        }
    }

    /// Draws the phantom.
    pub fn generate(&self) -> Phantom {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let anatomy = Anatomy::random(&mut rng, self.contrast);
        let geometry = self.geometry(&mut rng);
        let shift: f64 = rng.gen_range(-10.0..10.0);
        let noise = NoiseField::new(rng.gen());
        let slice_seed: u64 = rng.gen();
        let Dims {
            i: nx,
            j: ny,
            k: nz,
        } = self.dims;
        let n = nx * ny;
        let mut hu = vec![0.0f32; n * nz];
        let mut labels = vec![0u8; n * nz];
        let centre = self.body_centre(&anatomy, &geometry, shift);
        hu.par_chunks_mut(n.max(1))
            .zip(labels.par_chunks_mut(n.max(1)))
            .enumerate()
            .for_each(|(k, (hu, labels))| {
                let z = geometry.origin[2] + k as f64 * self.spacing[2] - centre[2];
                let origin = [
                    geometry.origin[0] - centre[0],
                    geometry.origin[1] - centre[1],
                    z,
                ];
                let mut img = SliceImage::new(nx, ny, origin, [self.spacing[0], self.spacing[1]]);
                img.render(&anatomy);
                texture::blur_slice(&mut img.hu, nx, ny, 0.18);
                let seed = slice_seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                noise.add_to(&mut img.hu, nx, ny, self.noise_sigma, seed);
                for (o, v) in hu.iter_mut().zip(&img.hu) {
                    *o = v.round().clamp(-1024.0, 3071.0);
                }
                labels.copy_from_slice(&img.label);
            });
        let shape = self.dims.shape();
        let organs = Volume::new(
            Array3::from_shape_vec(shape, labels).expect("label buffer matches dims"),
            geometry,
        );
        let body = organs.map(|&l| u8::from(l != Organ::Outside as u8 && l != Organ::Table as u8));
        Phantom {
            ct: Volume::new(
                Array3::from_shape_vec(shape, hu).expect("HU buffer matches dims"),
                geometry,
            ),
            body,
            organs,
            spec: self.clone(),
        }
    }

    /// The grid: axial, its middle slice at `centre_height_mm`, the body slightly off the
    /// field-of-view centre and the table low in the field as on a real scanner.
    fn geometry(&self, rng: &mut ChaCha8Rng) -> Geometry {
        let Dims {
            i: nx,
            j: ny,
            k: nz,
        } = self.dims;
        let [sx, sy, sz] = self.spacing;
        let half = [
            (nx as f64 - 1.0) * 0.5 * sx,
            (ny as f64 - 1.0) * 0.5 * sy,
            (nz as f64 - 1.0) * 0.5 * sz,
        ];
        let table_z: f64 = rng.gen_range(-400.0..100.0);
        Geometry::axial(
            [
                -half[0] + rng.gen_range(-10.0..10.0),
                -half[1] + rng.gen_range(-10.0..10.0),
                table_z - half[2],
            ],
            self.spacing,
        )
    }

    /// Patient position (LPS mm) of the local anatomy origin: the body centre in-plane and
    /// the top of the right diaphragm dome in height.
    fn body_centre(&self, anatomy: &Anatomy, g: &Geometry, shift: f64) -> [f64; 3] {
        let Dims {
            i: nx,
            j: ny,
            k: nz,
        } = self.dims;
        let [sx, sy, sz] = self.spacing;
        let fov_centre = [
            g.origin[0] + (nx as f64 - 1.0) * 0.5 * sx,
            g.origin[1] + (ny as f64 - 1.0) * 0.5 * sy,
            g.origin[2] + (nz as f64 - 1.0) * 0.5 * sz,
        ];
        let b = anatomy.chest[1].max(anatomy.abdomen[1]);
        let fov_half_y = ny as f64 * 0.5 * sy;
        // Keep the table (about 45 mm under the back) inside the field when it fits.
        let low = fov_half_y - b - anatomy.table_gap - 50.0 - shift.abs();
        let high = b + 5.0 - fov_half_y;
        let offset_y = if high > fov_half_y - b {
            0.0
        } else {
            low.max(high)
        };
        [
            fov_centre[0] + shift,
            fov_centre[1] + offset_y,
            fov_centre[2] - self.centre_height_mm,
        ]
    }
}

/// A generated phantom: the CT in HU, the body mask and the organ labels ([`Organ`]).
#[derive(Debug, Clone)]
pub struct Phantom {
    pub ct: CtVolume,
    /// 1 inside the patient (not the table).
    pub body: Mask,
    /// One [`Organ`] label per voxel.
    pub organs: Volume<u8>,
    pub spec: PhantomSpec,
}

impl Phantom {
    /// Writes `ct.nii.gz`, `body.nii.gz` and `organs.nii.gz` into `dir` (created if
    /// missing) and returns their paths in that order.
    pub fn write_nifti(&self, dir: &Path) -> Result<[PathBuf; 3], NiftiError> {
        std::fs::create_dir_all(dir).map_err(|e| NiftiError::Write {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let paths = ["ct.nii.gz", "body.nii.gz", "organs.nii.gz"].map(|n| dir.join(n));
        write_nifti(&self.ct, &paths[0])?;
        write_nifti(&self.body, &paths[1])?;
        write_nifti(&self.organs, &paths[2])?;
        Ok(paths)
    }

    /// Mask of the voxels labelled `organ`.
    pub fn organ_mask(&self, organ: Organ) -> Mask {
        self.organs.map(|&l| u8::from(l == organ as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// A coarse phantom from the lower chest to the kidneys, shared by the tests.
    fn trunk() -> &'static Phantom {
        static P: OnceLock<Phantom> = OnceLock::new();
        P.get_or_init(|| {
            let mut spec = PhantomSpec::new(7, Dims::new(128, 128, 40), [3.0, 3.0, 6.0]);
            spec.centre_height_mm = -40.0;
            spec.generate()
        })
    }

    /// Mean HU of the voxels of `organ` whose in-plane neighbours share the label, so
    /// that the blur at organ edges does not count.
    fn mean_in(p: &Phantom, organ: Organ) -> Option<f32> {
        let l = organ as u8;
        let d = p.organs.dims();
        let mut sum = 0.0f64;
        let mut n = 0usize;
        for k in 0..d.k {
            for j in 1..d.j - 1 {
                for i in 1..d.i - 1 {
                    let o = &p.organs.data;
                    if o[[k, j, i]] == l
                        && o[[k, j - 1, i]] == l
                        && o[[k, j + 1, i]] == l
                        && o[[k, j, i - 1]] == l
                        && o[[k, j, i + 1]] == l
                    {
                        sum += p.ct.data[[k, j, i]] as f64;
                        n += 1;
                    }
                }
            }
        }
        (n > 0).then(|| (sum / n as f64) as f32)
    }

    #[test]
    fn same_seed_gives_the_same_phantom() {
        let spec = PhantomSpec::new(3, Dims::new(48, 40, 6), [8.0, 8.0, 20.0]);
        let a = spec.generate();
        let b = spec.generate();
        assert_eq!(a.ct, b.ct);
        assert_eq!(a.organs, b.organs);
    }

    #[test]
    fn different_seeds_give_different_patients() {
        let a = PhantomSpec::new(1, Dims::new(48, 40, 6), [8.0, 8.0, 20.0]).generate();
        let b = PhantomSpec::new(2, Dims::new(48, 40, 6), [8.0, 8.0, 20.0]).generate();
        assert_ne!(a.organs, b.organs);
    }

    #[test]
    fn volume_has_the_requested_grid() {
        let p = trunk();
        assert_eq!(p.ct.dims(), Dims::new(128, 128, 40));
        assert_eq!(p.ct.geometry.spacing, [3.0, 3.0, 6.0]);
        assert_eq!(p.organs.geometry, p.ct.geometry);
    }

    #[test]
    fn organs_have_realistic_attenuation() {
        let p = trunk();
        let expect = [
            (Organ::Outside, -1020.0, -980.0),
            (Organ::Lung, -900.0, -700.0),
            (Organ::Liver, 40.0, 80.0),
            (Organ::Heart, 25.0, 70.0),
            (Organ::Spleen, 30.0, 65.0),
            (Organ::Kidney, 15.0, 55.0),
            (Organ::Bone, 200.0, 900.0),
        ];
        for (organ, lo, hi) in expect {
            let m = mean_in(p, organ).unwrap_or_else(|| panic!("{organ:?} missing"));
            assert!(
                (lo..=hi).contains(&m),
                "{organ:?} mean {m} HU not in {lo}..{hi}"
            );
        }
    }

    #[test]
    fn contrast_brightens_blood_and_liver() {
        let mut spec = PhantomSpec::new(7, Dims::new(96, 96, 12), [4.0, 4.0, 10.0]);
        spec.centre_height_mm = -20.0;
        let plain = spec.generate();
        spec.contrast = true;
        let enhanced = spec.generate();
        let liver = (
            mean_in(&plain, Organ::Liver).unwrap(),
            mean_in(&enhanced, Organ::Liver).unwrap(),
        );
        assert!(liver.1 > liver.0 + 25.0, "liver {liver:?}");
        let aorta = mean_in(&enhanced, Organ::Aorta).unwrap();
        assert!(aorta > 120.0, "enhanced aorta {aorta}");
    }

    #[test]
    fn noise_has_the_requested_spread_in_air() {
        let p = trunk();
        let air: Vec<f32> =
            p.ct.data
                .slice(ndarray::s![.., 0..8, 0..8])
                .iter()
                .copied()
                .collect();
        let mean = air.iter().sum::<f32>() / air.len() as f32;
        let var = air.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / air.len() as f32;
        // Values below -1024 are clipped, which narrows the spread a little.
        assert!((8.0..=16.0).contains(&var.sqrt()), "air sd {}", var.sqrt());
    }

    #[test]
    fn table_lies_under_the_body_and_outside_its_mask() {
        let p = trunk();
        let d = p.ct.dims();
        let k = d.k / 2;
        let i = d.i / 2;
        let rows = |label: u8| {
            (0..d.j)
                .filter(|&j| p.organs.data[[k, j, i]] == label)
                .collect::<Vec<_>>()
        };
        let body_rows: Vec<usize> = (0..d.j).filter(|&j| p.body.data[[k, j, i]] == 1).collect();
        let table_rows = rows(Organ::Table as u8);
        assert!(!table_rows.is_empty(), "no table in the middle column");
        // Rows run towards the patient's back (+y), so the table has the larger indices.
        assert!(table_rows[0] > *body_rows.last().unwrap());
        assert!(table_rows.iter().all(|&j| p.body.data[[k, j, i]] == 0));
    }

    #[test]
    fn spine_lies_behind_the_heart_and_aorta() {
        let p = trunk();
        let centroid_j = |organ: Organ| {
            let (mut s, mut n) = (0usize, 0usize);
            for ((_, j, _), &l) in p.organs.data.indexed_iter() {
                if l == organ as u8 {
                    s += j;
                    n += 1;
                }
            }
            s as f64 / n as f64
        };
        let canal = centroid_j(Organ::SpinalCanal);
        assert!(canal > centroid_j(Organ::Heart));
        assert!(canal > centroid_j(Organ::Aorta));
    }

    #[test]
    fn nifti_files_read_back_with_the_phantom_grid() {
        let p = PhantomSpec::new(4, Dims::new(24, 20, 5), [10.0, 10.0, 20.0]).generate();
        let dir = tempfile::tempdir().unwrap();
        let [ct, _, organs] = p.write_nifti(dir.path()).unwrap();
        let back = crate::nifti_io::read_nifti(&ct).unwrap();
        assert_eq!(back.data, p.ct.data);
        assert!(back.geometry.max_difference(&p.ct.geometry) < 1e-3);
        let labels = crate::nifti_io::read_nifti(&organs).unwrap();
        assert_eq!(labels.data, p.organs.data.mapv(f32::from));
    }

    #[test]
    fn random_specs_look_like_clinical_scans() {
        for seed in 0..20 {
            let s = PhantomSpec::random(seed);
            assert_eq!((s.dims.i, s.dims.j), (512, 512));
            assert!((0.6..=0.9).contains(&s.spacing[0]) && s.spacing[0] == s.spacing[1]);
            assert!((1.0..=5.0).contains(&s.spacing[2]));
            let extent = s.dims.k as f64 * s.spacing[2];
            assert!((240.0..=410.0).contains(&extent), "extent {extent}");
            assert!((10.0..=20.0).contains(&s.noise_sigma));
        }
    }
}
