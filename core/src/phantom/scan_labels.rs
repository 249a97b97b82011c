//! Rough tissue labels of a real scan, so that the phantom's lesion inserter
//! ([`super::insert_random_lesions`]) can place synthetic lesions in a scan that has no organ
//! labels. Only the patient's body is labelled: in each slice (index k), the largest connected
//! region above -500 HU with the holes inside it filled, so the table, cushions and the air
//! around them are left out. Inside the body two hosts are labelled, with the [`Organ`] values
//! whose lesion kinds suit them:
//!
//! - air (lung parenchyma; also bowel gas and other cavities) as [`Organ::Lung`]: solid and
//!   ground-glass nodules, consolidation;
//! - solid soft tissue (0 to 150 HU: organs and muscle, not fat, bone or contrast-filled
//!   vessels) as [`Organ::Liver`], the stand-in host of solid-organ lesions: hypo- and
//!   hyperdense masses, set relative to the host's median, and water-density cysts.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use super::Organ;
use crate::volume::{CtVolume, Volume};

/// Below this, a voxel is air (lung parenchyma lies around -850 HU, fat above -150).
const AIR_BELOW_HU: f32 = -500.0;
/// Solid soft tissue, the host of solid-organ lesions.
const SOFT_TISSUE_HU: std::ops::RangeInclusive<f32> = 0.0..=150.0;

/// Labels of `ct`: inside the body, [`Organ::Lung`] for air and [`Organ::Liver`] for solid
/// soft tissue; [`Organ::Outside`] for everything else.
pub fn scan_tissue_labels(ct: &CtVolume) -> Volume<u8> {
    let mut labels: Volume<u8> = Volume::zeros(ct.dims(), ct.geometry);
    for (hu, out) in ct
        .data
        .axis_iter(Axis(0))
        .zip(labels.data.axis_iter_mut(Axis(0)))
    {
        label_slice(hu, out);
    }
    labels
}

fn label_slice(hu: ArrayView2<f32>, mut out: ArrayViewMut2<u8>) {
    let body = body_of_slice(hu);
    for ((&v, &inside), label) in hu.iter().zip(body.iter()).zip(out.iter_mut()) {
        *label = if !inside {
            Organ::Outside as u8
        } else if SOFT_TISSUE_HU.contains(&v) {
            Organ::Liver as u8
        } else if v < AIR_BELOW_HU {
            Organ::Lung as u8
        } else {
            Organ::Outside as u8
        };
    }
}

/// The largest 4-connected region of the slice above [`AIR_BELOW_HU`] with its holes
/// filled, row-major; all false when the slice holds no such voxel.
fn body_of_slice(hu: ArrayView2<f32>) -> Vec<bool> {
    let (nj, ni) = hu.dim();
    let tissue: Vec<bool> = hu.iter().map(|&v| v >= AIR_BELOW_HU).collect();
    // Component ids of the tissue, 0 = none.
    let mut component = vec![0u32; nj * ni];
    let mut largest = (0u32, 0usize);
    let mut next = 0u32;
    for start in 0..nj * ni {
        if tissue[start] && component[start] == 0 {
            next += 1;
            let size = flood(start, nj, ni, &mut |n| {
                let free = tissue[n] && component[n] == 0;
                if free {
                    component[n] = next;
                }
                free
            });
            if size > largest.1 {
                largest = (next, size);
            }
        }
    }
    // Outside: reachable from the border without crossing the body.
    let mut outside = vec![false; nj * ni];
    for start in 0..nj * ni {
        let (j, i) = (start / ni, start % ni);
        if j == 0 || i == 0 || j == nj - 1 || i == ni - 1 {
            flood(start, nj, ni, &mut |n| {
                let free = component[n] != largest.0 && !outside[n];
                if free {
                    outside[n] = true;
                }
                free
            });
        }
    }
    outside.iter().map(|&o| largest.1 > 0 && !o).collect()
}

/// Visits the 4-connected region around `start` (row-major index in an `nj` x `ni` slice)
/// whose voxels `claim` accepts (and marks); returns how many it accepted.
fn flood(start: usize, nj: usize, ni: usize, claim: &mut dyn FnMut(usize) -> bool) -> usize {
    if !claim(start) {
        return 0;
    }
    let mut stack = vec![start];
    let mut count = 1;
    while let Some(n) = stack.pop() {
        let (j, i) = (n / ni, n % ni);
        let neighbours = [
            (j > 0).then(|| n - ni),
            (j + 1 < nj).then(|| n + ni),
            (i > 0).then(|| n - 1),
            (i + 1 < ni).then(|| n + 1),
        ];
        for m in neighbours.into_iter().flatten() {
            if claim(m) {
                count += 1;
                stack.push(m);
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Dims, Geometry};
    use crate::phantom::{combined_mask, insert_random_lesions};

    /// Inside the 28 x 20 voxel half-axes ellipse of the "patient".
    fn in_patient(j: usize, i: usize) -> bool {
        let (x, y) = ((i as f64 - 31.5) / 28.0, (j as f64 - 23.5) / 20.0);
        x * x + y * y <= 1.0
    }

    /// A 64 x 56 x 6 "patient": an ellipse of 40 HU tissue holding two air "lungs", in air,
    /// with air outside the field of view at -2000 HU in a corner and, below the patient, a
    /// table: a 40 HU shell around a core of air.
    fn patient() -> CtVolume {
        let dims = Dims::new(64, 56, 6);
        let mut ct: CtVolume = Volume::zeros(dims, Geometry::axial([0.0; 3], [2.0, 2.0, 4.0]));
        for ((_, j, i), v) in ct.data.indexed_iter_mut() {
            let lung = |cx: f64| {
                ((i as f64 - cx) / 9.0).powi(2) + ((j as f64 - 23.5) / 12.0).powi(2) < 1.0
            };
            let table_shell = (47..=53).contains(&j) && (4..=59).contains(&i);
            let table_core = (49..=51).contains(&j) && (6..=57).contains(&i);
            *v = if in_patient(j, i) {
                if lung(20.0) || lung(43.0) {
                    -850.0
                } else {
                    40.0
                }
            } else if table_shell && !table_core {
                40.0
            } else if i < 2 && j < 2 {
                -2000.0
            } else {
                -1000.0
            };
        }
        ct
    }

    #[test]
    fn air_and_tissue_are_labelled_inside_the_patient_only() {
        let labels = scan_tissue_labels(&patient());
        for k in 0..6 {
            assert_eq!(labels.data[[k, 23, 20]], Organ::Lung as u8);
            assert_eq!(labels.data[[k, 23, 43]], Organ::Lung as u8);
            assert_eq!(labels.data[[k, 23, 31]], Organ::Liver as u8);
            assert_eq!(labels.data[[k, 0, 0]], Organ::Outside as u8);
            assert_eq!(labels.data[[k, 2, 32]], Organ::Outside as u8);
            // The table's shell and the air it encloses.
            assert_eq!(labels.data[[k, 47, 30]], Organ::Outside as u8);
            assert_eq!(labels.data[[k, 50, 30]], Organ::Outside as u8);
        }
    }

    #[test]
    fn lesions_inserted_into_a_scan_lie_inside_the_patient() {
        let mut ct = patient();
        let labels = scan_tissue_labels(&ct);
        let lesions = insert_random_lesions(&mut ct, &labels, 6, 7);
        assert!(!lesions.is_empty());
        let mask = combined_mask(&lesions).unwrap();
        assert!(mask.data.iter().any(|&m| m != 0));
        for ((k, j, i), &m) in mask.data.indexed_iter() {
            assert!(
                m == 0 || in_patient(j, i),
                "lesion voxel {k} {j} {i} off the patient"
            );
        }
    }
}
