//! Patient geometry of a voxel grid, in DICOM's patient coordinate system (LPS, millimetres).
//!
//! Voxel indices are `(i, j, k)`: `i` runs along a row (column index), `j` down the rows,
//! `k` across slices. A grid is described by the patient position of voxel (0, 0, 0), the
//! spacing along each index axis, and the three unit direction vectors of the index axes.

use serde::{Deserialize, Serialize};

/// A point in DICOM patient coordinates: x towards the patient's Left, y Posterior, z Superior.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PatientPoint(pub [f64; 3]);

/// A continuous voxel index (column, row, slice); integer values are voxel centres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoxelPoint(pub [f64; 3]);

/// Number of voxels along i (columns), j (rows) and k (slices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dims {
    pub i: usize,
    pub j: usize,
    pub k: usize,
}

impl Dims {
    pub fn new(i: usize, j: usize, k: usize) -> Self {
        Self { i, j, k }
    }

    /// Shape of the ndarray that holds a volume of these dimensions: `[k, j, i]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.k, self.j, self.i]
    }

    pub fn from_shape(shape: &[usize]) -> Self {
        Self::new(shape[2], shape[1], shape[0])
    }

    pub fn as_array(&self) -> [usize; 3] {
        [self.i, self.j, self.k]
    }

    pub fn len(&self) -> usize {
        self.i * self.j * self.k
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a voxel grid lies in the patient.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Geometry {
    /// Patient position (LPS, mm) of the centre of voxel (0, 0, 0).
    pub origin: [f64; 3],
    /// Distance in mm between neighbouring voxel centres along i, j and k.
    pub spacing: [f64; 3],
    /// Unit vectors (LPS) of the i, j and k index axes: `direction[a]` is axis `a`.
    pub direction: [[f64; 3]; 3],
}

impl Geometry {
    /// An axial grid: rows along +x (L), columns along +y (P), slices along +z (S).
    pub fn axial(origin: [f64; 3], spacing: [f64; 3]) -> Self {
        Self {
            origin,
            spacing,
            direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        }
    }

    /// Patient coordinates of a (possibly fractional) voxel index.
    pub fn voxel_to_patient(&self, v: VoxelPoint) -> PatientPoint {
        let mut p = self.origin;
        for (axis, dir) in self.direction.iter().enumerate() {
            let step = v.0[axis] * self.spacing[axis];
            for (c, d) in p.iter_mut().zip(dir) {
                *c += step * d;
            }
        }
        PatientPoint(p)
    }

    /// Fractional voxel index of a patient point. Exact for orthonormal directions; for a
    /// sheared grid (direction vectors not orthogonal) it solves the 3x3 system.
    pub fn patient_to_voxel(&self, p: PatientPoint) -> VoxelPoint {
        let d = [
            p.0[0] - self.origin[0],
            p.0[1] - self.origin[1],
            p.0[2] - self.origin[2],
        ];
        let inv = self.inverse_matrix();
        let mut v = [0.0; 3];
        for (a, row) in inv.iter().enumerate() {
            v[a] = row[0] * d[0] + row[1] * d[1] + row[2] * d[2];
        }
        VoxelPoint(v)
    }

    /// The 3x3 matrix M with patient = origin + M * index (columns are spacing * direction).
    pub fn index_to_patient_matrix(&self) -> [[f64; 3]; 3] {
        let mut m = [[0.0; 3]; 3];
        for (axis, dir) in self.direction.iter().enumerate() {
            for row in 0..3 {
                m[row][axis] = dir[row] * self.spacing[axis];
            }
        }
        m
    }

    fn inverse_matrix(&self) -> [[f64; 3]; 3] {
        invert3(&self.index_to_patient_matrix())
    }

    /// Unit normal of the slices (i x j), which need not equal the k axis for a tilted grid.
    pub fn slice_normal(&self) -> [f64; 3] {
        normalize(cross(self.direction[0], self.direction[1]))
    }

    /// True when the three axes are orthogonal unit vectors within `tol`.
    pub fn is_orthonormal(&self, tol: f64) -> bool {
        let d = &self.direction;
        (0..3).all(|a| (dot(d[a], d[a]) - 1.0).abs() <= tol)
            && dot(d[0], d[1]).abs() <= tol
            && dot(d[0], d[2]).abs() <= tol
            && dot(d[1], d[2]).abs() <= tol
    }

    /// Geometry of the sub-grid that starts at voxel `start` of this grid.
    pub fn cropped(&self, start: [usize; 3]) -> Geometry {
        let origin = self
            .voxel_to_patient(VoxelPoint([
                start[0] as f64,
                start[1] as f64,
                start[2] as f64,
            ]))
            .0;
        Geometry { origin, ..*self }
    }

    /// Geometry of a grid over the same extent with a new spacing. The first voxel centre is
    /// placed so that both grids cover the same physical box (voxel edges line up), which is
    /// what `scipy.ndimage.zoom(grid_mode=True)` and SimpleITK's resampling with a matched
    /// extent do.
    pub fn with_spacing(&self, dims: Dims, new_spacing: [f64; 3]) -> (Geometry, Dims) {
        let old = dims.as_array();
        let mut new_dims = [0usize; 3];
        let mut start = [0.0; 3];
        for a in 0..3 {
            let extent = old[a] as f64 * self.spacing[a];
            new_dims[a] = ((extent / new_spacing[a]).round() as usize).max(1);
            // Voxel-index position (in old voxels) of the first new voxel centre.
            let scale = old[a] as f64 / new_dims[a] as f64;
            start[a] = 0.5 * scale - 0.5;
        }
        let origin = self.voxel_to_patient(VoxelPoint(start)).0;
        let mut spacing = [0.0; 3];
        for a in 0..3 {
            spacing[a] = self.spacing[a] * old[a] as f64 / new_dims[a] as f64;
        }
        (
            Geometry {
                origin,
                spacing,
                direction: self.direction,
            },
            Dims::new(new_dims[0], new_dims[1], new_dims[2]),
        )
    }

    /// Largest difference between two geometries' origins (mm), spacings (mm) and
    /// direction components; used to compare geometries read from different formats.
    pub fn max_difference(&self, other: &Geometry) -> f64 {
        let mut m: f64 = 0.0;
        for a in 0..3 {
            m = m.max((self.origin[a] - other.origin[a]).abs());
            m = m.max((self.spacing[a] - other.spacing[a]).abs());
            for c in 0..3 {
                m = m.max((self.direction[a][c] - other.direction[a][c]).abs());
            }
        }
        m
    }
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn normalize(a: [f64; 3]) -> [f64; 3] {
    let n = dot(a, a).sqrt();
    if n == 0.0 {
        a
    } else {
        [a[0] / n, a[1] / n, a[2] / n]
    }
}

fn invert3(m: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let inv_det = 1.0 / det;
    let mut r = [[0.0; 3]; 3];
    r[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * inv_det;
    r[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det;
    r[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det;
    r[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * inv_det;
    r[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det;
    r[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det;
    r[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * inv_det;
    r[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det;
    r[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 3], b: [f64; 3]) -> bool {
        (0..3).all(|c| (a[c] - b[c]).abs() < 1e-9)
    }

    #[test]
    fn axial_grid_maps_indices_along_lps_axes() {
        let g = Geometry::axial([-100.0, -50.0, 20.0], [0.5, 0.7, 2.0]);
        let p = g.voxel_to_patient(VoxelPoint([2.0, 3.0, 4.0]));
        assert!(close(p.0, [-99.0, -47.9, 28.0]));
        let v = g.patient_to_voxel(p);
        assert!(close(v.0, [2.0, 3.0, 4.0]));
    }

    #[test]
    fn flipped_grid_runs_slices_towards_the_feet() {
        let g = Geometry {
            origin: [0.0, 0.0, 100.0],
            spacing: [1.0, 1.0, 2.5],
            direction: [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]],
        };
        let p = g.voxel_to_patient(VoxelPoint([1.0, 2.0, 4.0]));
        assert!(close(p.0, [-1.0, -2.0, 90.0]));
        assert!(close(g.patient_to_voxel(p).0, [1.0, 2.0, 4.0]));
        assert!(close(g.slice_normal(), [0.0, 0.0, 1.0]));
    }

    #[test]
    fn oblique_grid_round_trips_every_corner() {
        let (s, c) = (0.3f64.sin(), 0.3f64.cos());
        let g = Geometry {
            origin: [12.0, -7.5, 33.0],
            spacing: [0.8, 0.9, 3.0],
            direction: [[c, s, 0.0], [0.0, 0.0, -1.0], [s, -c, 0.0]],
        };
        assert!(g.is_orthonormal(1e-12));
        for v in [[0.0, 0.0, 0.0], [10.0, 0.0, 5.0], [3.5, 7.25, 1.5]] {
            let back = g.patient_to_voxel(g.voxel_to_patient(VoxelPoint(v)));
            assert!(close(back.0, v), "{v:?} -> {back:?}");
        }
        // One step along i moves 0.8 mm along the first direction vector.
        let a = g.voxel_to_patient(VoxelPoint([0.0, 0.0, 0.0])).0;
        let b = g.voxel_to_patient(VoxelPoint([1.0, 0.0, 0.0])).0;
        assert!(close(
            [b[0] - a[0], b[1] - a[1], b[2] - a[2]],
            [0.8 * c, 0.8 * s, 0.0]
        ));
    }

    #[test]
    fn sheared_grid_inverts_exactly() {
        let g = Geometry {
            origin: [0.0; 3],
            spacing: [1.0, 1.0, 2.0],
            direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], normalize([0.0, 0.2, 1.0])],
        };
        assert!(!g.is_orthonormal(1e-6));
        let v = [4.0, 5.0, 6.0];
        assert!(close(
            g.patient_to_voxel(g.voxel_to_patient(VoxelPoint(v))).0,
            v
        ));
    }

    #[test]
    fn resampled_grid_covers_the_same_extent() {
        let g = Geometry::axial([0.0; 3], [0.5, 0.5, 1.0]);
        let (ng, nd) = g.with_spacing(Dims::new(100, 80, 30), [1.5, 1.5, 2.25]);
        assert_eq!(nd, Dims::new(33, 27, 13));
        // Left edge of the first voxel is the same physical plane in both grids.
        assert!((ng.origin[0] - 0.5 * ng.spacing[0] - (-0.25)).abs() < 1e-9);
        let last_edge_new = ng.origin[2] + (nd.k as f64 - 0.5) * ng.spacing[2];
        assert!((last_edge_new - 29.5).abs() < 1e-9);
    }

    #[test]
    fn cropping_moves_the_origin_to_the_first_kept_voxel() {
        let g = Geometry::axial([10.0, 20.0, 30.0], [2.0, 2.0, 5.0]);
        assert!(close(g.cropped([1, 2, 3]).origin, [12.0, 24.0, 45.0]));
    }
}
