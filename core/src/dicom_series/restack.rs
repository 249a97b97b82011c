//! Resamples tilted or unevenly spaced slices onto an orthogonal, evenly spaced grid.
//!
//! The output grid keeps the slices' row and column directions, runs along the slice normal
//! with the median gap as spacing, and is widened in-plane to hold every tilted slice. Each
//! output voxel is found by bilinear interpolation within the two nearest slices and linear
//! interpolation between them; voxels outside every slice's field of view are air (-1024 HU).

use ndarray::parallel::prelude::*;
use ndarray::{Array3, ArrayView2, Axis};

use crate::geometry::{Dims, Geometry, VoxelPoint};
use crate::volume::CtVolume;

use super::layout::SeriesLayout;

/// HU given to output voxels that no slice covers.
pub const OUTSIDE_HU: f32 = -1024.0;

pub fn restack(stacked: &Array3<f32>, layout: &SeriesLayout) -> CtVolume {
    let g = &layout.stacked;
    let (sx, sy, sz) = (g.spacing[0], g.spacing[1], g.spacing[2]);
    let frames = &layout.frames;
    let (mut u_min, mut v_min, mut u_max, mut v_max) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for f in frames {
        let [u, v] = f.in_plane_offset;
        u_min = u_min.min(u);
        v_min = v_min.min(v);
        u_max = u_max.max(u + (layout.columns - 1) as f64 * sx);
        v_max = v_max.max(v + (layout.rows - 1) as f64 * sy);
    }
    let last = frames.last().expect("a layout has frames").normal_offset;
    let dims = Dims::new(
        ((u_max - u_min) / sx).round() as usize + 1,
        ((v_max - v_min) / sy).round() as usize + 1,
        (last / sz).round() as usize + 1,
    );
    let origin = g
        .voxel_to_patient(VoxelPoint([u_min / sx, v_min / sy, 0.0]))
        .0;
    let geometry = Geometry { origin, ..*g };

    let mut out = Array3::<f32>::from_elem(dims.shape(), OUTSIDE_HU);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(k, mut plane)| {
            let t = (k as f64 * sz).min(last);
            // Frames n and n + 1 bracket the plane at offset t along the normal.
            let n = frames
                .partition_point(|f| f.normal_offset <= t)
                .clamp(1, frames.len() - 1)
                - 1;
            let (a, b) = (&frames[n], &frames[n + 1]);
            let w = ((t - a.normal_offset) / (b.normal_offset - a.normal_offset)).clamp(0.0, 1.0);
            let sa = stacked.index_axis(Axis(0), n);
            let sb = stacked.index_axis(Axis(0), n + 1);
            for ((j, i), value) in plane.indexed_iter_mut() {
                let u = u_min + i as f64 * sx;
                let v = v_min + j as f64 * sy;
                let pa = bilinear(
                    &sa,
                    (u - a.in_plane_offset[0]) / sx,
                    (v - a.in_plane_offset[1]) / sy,
                );
                let pb = bilinear(
                    &sb,
                    (u - b.in_plane_offset[0]) / sx,
                    (v - b.in_plane_offset[1]) / sy,
                );
                *value = match (pa, pb) {
                    (Some(x), Some(y)) => ((1.0 - w) * x as f64 + w * y as f64) as f32,
                    (Some(x), None) if w < 0.5 => x,
                    (None, Some(y)) if w >= 0.5 => y,
                    _ => OUTSIDE_HU,
                };
            }
        });
    CtVolume::new(out, geometry)
}

/// Bilinear interpolation at fractional (column, row); `None` outside the image.
fn bilinear(img: &ArrayView2<f32>, c: f64, r: f64) -> Option<f32> {
    let (rows, cols) = img.dim();
    const EDGE: f64 = 1e-6;
    if c < -EDGE || r < -EDGE || c > (cols - 1) as f64 + EDGE || r > (rows - 1) as f64 + EDGE {
        return None;
    }
    let c = c.clamp(0.0, (cols - 1) as f64);
    let r = r.clamp(0.0, (rows - 1) as f64);
    let (c0, r0) = (c.floor() as usize, r.floor() as usize);
    let (c1, r1) = ((c0 + 1).min(cols - 1), (r0 + 1).min(rows - 1));
    let (fc, fr) = ((c - c0 as f64) as f32, (r - r0 as f64) as f32);
    let top = img[[r0, c0]] * (1.0 - fc) + img[[r0, c1]] * fc;
    let bottom = img[[r1, c0]] * (1.0 - fc) + img[[r1, c1]] * fc;
    Some(top * (1.0 - fr) + bottom * fr)
}
