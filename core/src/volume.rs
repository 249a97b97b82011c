//! A dense 3D image with its patient geometry.

use ndarray::Array3;

use crate::geometry::{Dims, Geometry, PatientPoint, VoxelPoint};

/// A 3D image: `data` is indexed `[k, j, i]` (slice, row, column), so one slice is a
/// contiguous row-major image as in DICOM, and the memory order equals NIfTI's.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    pub data: Array3<T>,
    pub geometry: Geometry,
}

/// A CT volume in Hounsfield units.
pub type CtVolume = Volume<f32>;

/// A binary mask (1 = inside).
pub type Mask = Volume<u8>;

impl<T> Volume<T> {
    pub fn new(data: Array3<T>, geometry: Geometry) -> Self {
        Self { data, geometry }
    }

    pub fn dims(&self) -> Dims {
        Dims::from_shape(self.data.shape())
    }

    /// Value at column `i`, row `j`, slice `k`.
    pub fn at(&self, i: usize, j: usize, k: usize) -> &T {
        &self.data[[k, j, i]]
    }

    pub fn voxel_to_patient(&self, i: f64, j: f64, k: f64) -> PatientPoint {
        self.geometry.voxel_to_patient(VoxelPoint([i, j, k]))
    }

    /// A volume of the same geometry holding `f` of every value.
    pub fn map<U, F: FnMut(&T) -> U>(&self, f: F) -> Volume<U> {
        Volume {
            data: self.data.map(f),
            geometry: self.geometry,
        }
    }
}

impl<T: Clone + Default> Volume<T> {
    /// A volume of `dims` filled with the default value.
    pub fn zeros(dims: Dims, geometry: Geometry) -> Self {
        Self {
            data: Array3::from_elem(dims.shape(), T::default()),
            geometry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_is_column_row_slice() {
        let mut v: Volume<i32> =
            Volume::zeros(Dims::new(4, 3, 2), Geometry::axial([0.0; 3], [1.0; 3]));
        v.data[[1, 2, 3]] = 7;
        assert_eq!(*v.at(3, 2, 1), 7);
        assert_eq!(v.dims(), Dims::new(4, 3, 2));
    }
}
