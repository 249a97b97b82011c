//! NIfTI-1 read and write (`.nii`, `.nii.gz`) with the geometry converted between NIfTI's
//! RAS world coordinates and DICOM's LPS patient coordinates.
//!
//! Reading prefers the sform, then the qform, then bare voxel sizes (NIfTI "method 1").
//! Writing sets both: the sform to the exact affine and the qform to the same rotation when
//! the axes are orthonormal, both with code 1 (scanner anatomical).

use std::path::{Path, PathBuf};

use ndarray::{Array3, Ix3};
use nifti::writer::WriterOptions;
use nifti::{IntoNdArray, NiftiHeader, NiftiObject, ReaderOptions};
use thiserror::Error;

use crate::geometry::{normalize, Geometry};
use crate::volume::Volume;

#[derive(Debug, Error)]
pub enum NiftiError {
    #[error("{path}: cannot read NIfTI: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: cannot write NIfTI: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{path}: expected a 3D image, found dimensions {dims:?}")]
    NotThreeD { path: PathBuf, dims: Vec<u16> },
    #[error("{path}: degenerate voxel-to-world transform")]
    Degenerate { path: PathBuf },
}

/// NIfTI's RAS world and DICOM's LPS differ by the sign of x and y.
const RAS_FROM_LPS: [f64; 3] = [-1.0, -1.0, 1.0];

/// Reads a 3D NIfTI image as f32 values (scl_slope and scl_inter applied).
pub fn read_nifti(path: &Path) -> Result<Volume<f32>, NiftiError> {
    let read_err = |reason: String| NiftiError::Read {
        path: path.to_owned(),
        reason,
    };
    let obj = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| read_err(e.to_string()))?;
    let header = obj.header().clone();
    let dims = header.dim().map_err(|e| read_err(e.to_string()))?.to_vec();
    if dims.len() < 3 || dims[3..].iter().any(|&d| d > 1) {
        return Err(NiftiError::NotThreeD {
            path: path.to_owned(),
            dims,
        });
    }
    let array = obj
        .into_volume()
        .into_ndarray::<f32>()
        .map_err(|e| read_err(e.to_string()))?;
    let (ni, nj, nk) = (dims[0] as usize, dims[1] as usize, dims[2] as usize);
    // NIfTI stores i fastest: the Fortran-ordered [i, j, k] array is our [k, j, i] reversed.
    let array = array
        .into_shape_with_order(((ni, nj, nk), ndarray::Order::F))
        .map_err(|e| read_err(e.to_string()))?;
    let data: Array3<f32> = array
        .reversed_axes()
        .into_dimensionality::<Ix3>()
        .map_err(|e| read_err(e.to_string()))?
        .as_standard_layout()
        .into_owned();
    let geometry = geometry_from_header(&header).ok_or_else(|| NiftiError::Degenerate {
        path: path.to_owned(),
    })?;
    Ok(Volume::new(data, geometry))
}

/// Writes a volume as NIfTI (gzip-compressed when the name ends in `.gz`).
pub fn write_nifti<T>(volume: &Volume<T>, path: &Path) -> Result<(), NiftiError>
where
    T: nifti::DataElement + bytemuck::Pod,
{
    let header = header_for(&volume.geometry);
    WriterOptions::new(path)
        .reference_header(&header)
        .write_nifti(&volume.data.view().reversed_axes())
        .map_err(|e| NiftiError::Write {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// The LPS geometry described by a NIfTI header.
pub fn geometry_from_header(h: &NiftiHeader) -> Option<Geometry> {
    let (columns, offset) = if h.sform_code > 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z];
        let cols = [0, 1, 2].map(|a| [0, 1, 2].map(|r| rows[r][a] as f64));
        (cols, [0, 1, 2].map(|r| rows[r][3] as f64))
    } else if h.qform_code > 0 {
        qform_columns(h)
    } else {
        let p = h.pixdim;
        (
            [
                [p[1].abs() as f64, 0.0, 0.0],
                [0.0, p[2].abs() as f64, 0.0],
                [0.0, 0.0, p[3].abs() as f64],
            ],
            [0.0; 3],
        )
    };
    let mut geometry = Geometry {
        origin: [0.0; 3],
        spacing: [0.0; 3],
        direction: [[0.0; 3]; 3],
    };
    for a in 0..3 {
        let lps = [0, 1, 2].map(|r| columns[a][r] * RAS_FROM_LPS[r]);
        let len = (lps[0] * lps[0] + lps[1] * lps[1] + lps[2] * lps[2]).sqrt();
        if len == 0.0 || !len.is_finite() {
            return None;
        }
        geometry.spacing[a] = len;
        geometry.direction[a] = normalize(lps);
        geometry.origin[a] = offset[a] * RAS_FROM_LPS[a];
    }
    Some(geometry)
}

/// The columns (spacing x direction, RAS) and offset of the qform transform.
fn qform_columns(h: &NiftiHeader) -> ([[f64; 3]; 3], [f64; 3]) {
    let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
    let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
    let r = [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ];
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let scale = [
        h.pixdim[1] as f64,
        h.pixdim[2] as f64,
        qfac * h.pixdim[3] as f64,
    ];
    let columns = [0, 1, 2].map(|col| [0, 1, 2].map(|row| r[row][col] * scale[col]));
    (
        columns,
        [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64],
    )
}

/// A header carrying `g` as sform and (for orthonormal axes) qform.
fn header_for(g: &Geometry) -> NiftiHeader {
    let mut h = NiftiHeader::default();
    let ras_dir = g
        .direction
        .map(|d| [0, 1, 2].map(|r| d[r] * RAS_FROM_LPS[r]));
    let ras_origin = [0, 1, 2].map(|r| g.origin[r] * RAS_FROM_LPS[r]);
    let mut srow = [[0f32; 4]; 3];
    for (r, row) in srow.iter_mut().enumerate() {
        for a in 0..3 {
            row[a] = (ras_dir[a][r] * g.spacing[a]) as f32;
        }
        row[3] = ras_origin[r] as f32;
    }
    h.srow_x = srow[0];
    h.srow_y = srow[1];
    h.srow_z = srow[2];
    h.sform_code = 1;
    h.pixdim = [
        1.0,
        g.spacing[0] as f32,
        g.spacing[1] as f32,
        g.spacing[2] as f32,
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    h.xyzt_units = 2; // millimetres
    match quaternion(ras_dir) {
        Some((qfac, [b, c, d])) if g.is_orthonormal(1e-4) => {
            h.qform_code = 1;
            h.pixdim[0] = qfac as f32;
            h.quatern_b = b as f32;
            h.quatern_c = c as f32;
            h.quatern_d = d as f32;
            h.quatern_x = ras_origin[0] as f32;
            h.quatern_y = ras_origin[1] as f32;
            h.quatern_z = ras_origin[2] as f32;
        }
        _ => h.qform_code = 0,
    }
    h
}

/// Unit quaternion (b, c, d) of the rotation whose columns are `dir` (third column flipped
/// when the axes are left-handed, signalled by qfac = -1).
fn quaternion(dir: [[f64; 3]; 3]) -> Option<(f64, [f64; 3])> {
    // r[row][col], columns are the axis directions.
    let mut r = [[0.0; 3]; 3];
    for (col, d) in dir.iter().enumerate() {
        for row in 0..3 {
            r[row][col] = d[row];
        }
    }
    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    if det.abs() < 1e-6 {
        return None;
    }
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    if qfac < 0.0 {
        for row in r.iter_mut() {
            row[2] = -row[2];
        }
    }
    let trace = r[0][0] + r[1][1] + r[2][2];
    let (a, b, c, d);
    if trace > 0.0 {
        let s = 2.0 * (1.0 + trace).sqrt();
        a = 0.25 * s;
        b = (r[2][1] - r[1][2]) / s;
        c = (r[0][2] - r[2][0]) / s;
        d = (r[1][0] - r[0][1]) / s;
    } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
        let s = 2.0 * (1.0 + r[0][0] - r[1][1] - r[2][2]).sqrt();
        a = (r[2][1] - r[1][2]) / s;
        b = 0.25 * s;
        c = (r[0][1] + r[1][0]) / s;
        d = (r[0][2] + r[2][0]) / s;
    } else if r[1][1] > r[2][2] {
        let s = 2.0 * (1.0 + r[1][1] - r[0][0] - r[2][2]).sqrt();
        a = (r[0][2] - r[2][0]) / s;
        b = (r[0][1] + r[1][0]) / s;
        c = 0.25 * s;
        d = (r[1][2] + r[2][1]) / s;
    } else {
        let s = 2.0 * (1.0 + r[2][2] - r[0][0] - r[1][1]).sqrt();
        a = (r[1][0] - r[0][1]) / s;
        b = (r[0][2] + r[2][0]) / s;
        c = (r[1][2] + r[2][1]) / s;
        d = 0.25 * s;
    }
    // NIfTI stores only b, c, d and assumes a >= 0.
    let sign = if a < 0.0 { -1.0 } else { 1.0 };
    Some((qfac, [sign * b, sign * c, sign * d]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Dims;

    fn sample(geometry: Geometry) -> Volume<f32> {
        let dims = Dims::new(5, 4, 3);
        let data = Array3::from_shape_fn(dims.shape(), |(k, j, i)| (100 * k + 10 * j + i) as f32);
        Volume::new(data, geometry)
    }

    fn round_trip(v: &Volume<f32>, name: &str) -> Volume<f32> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        write_nifti(v, &path).unwrap();
        read_nifti(&path).unwrap()
    }

    #[test]
    fn axial_volume_round_trips_values_and_geometry() {
        let v = sample(Geometry::axial([-120.5, 33.0, -800.25], [0.75, 0.8, 2.5]));
        let back = round_trip(&v, "a.nii.gz");
        assert_eq!(back.data, v.data);
        assert!(back.geometry.max_difference(&v.geometry) < 1e-4);
    }

    #[test]
    fn oblique_and_flipped_volumes_round_trip_through_the_qform() {
        let (s, c) = (0.4f64.sin(), 0.4f64.cos());
        for direction in [
            [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
            [[-1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, -1.0, 0.0]],
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]],
        ] {
            let g = Geometry {
                origin: [10.0, -20.0, 30.0],
                spacing: [0.9, 1.1, 3.0],
                direction,
            };
            let v = sample(g);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("o.nii");
            write_nifti(&v, &path).unwrap();
            let mut header = NiftiHeader::from_file(&path).unwrap();
            assert!(geometry_from_header(&header).unwrap().max_difference(&g) < 1e-4);
            // The qform alone must describe the same grid.
            header.sform_code = 0;
            let from_q = geometry_from_header(&header).unwrap();
            assert!(from_q.max_difference(&g) < 1e-4, "{from_q:?} vs {g:?}");
        }
    }

    #[test]
    fn lps_origin_becomes_ras_in_the_file() {
        let v = sample(Geometry::axial([5.0, 7.0, 9.0], [1.0; 3]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.nii");
        write_nifti(&v, &path).unwrap();
        let h = NiftiHeader::from_file(&path).unwrap();
        assert_eq!([h.srow_x[3], h.srow_y[3], h.srow_z[3]], [-5.0, -7.0, 9.0]);
        assert_eq!(h.srow_x[0], -1.0);
    }
}
