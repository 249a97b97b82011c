//! Orders the frames of a series in space and checks that they form one volume.
//!
//! Frames are sorted by ImagePositionPatient projected on the slice normal, never by file
//! name or InstanceNumber. A gap counts as missing slices when it exceeds 1.5 times the
//! spacing expected there: the median of up to four neighbouring gaps on each side, taking the
//! larger side. Using the neighbourhood rather than the series' global median keeps series
//! with deliberately variable spacing (a head CT at 4 mm then 7 mm) readable while still
//! catching a single dropped slice.
//!
//! Gantry tilt and uneven spacing are not rejected: such a series is marked for restacking
//! onto an orthogonal, evenly spaced grid (see `restack`).

use std::path::PathBuf;

use crate::geometry::{cross, dot, normalize, Dims, Geometry};

use super::error::SeriesError;
use super::header::InstanceHeader;

/// Relative tolerance for orientation cosines and pixel spacing between frames.
const SAME_TOLERANCE: f64 = 1e-3;
/// Frames closer than this along the normal (mm) are at the same position.
const DUPLICATE_MM: f64 = 0.01;
/// Factor above the expected spacing from which a gap means missing slices.
const MISSING_FACTOR: f64 = 1.5;
/// How many neighbouring gaps on each side set the expected spacing.
const NEIGHBOUR_GAPS: usize = 4;

/// One frame, placed in the stack.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedFrame {
    /// Index into the series' instances.
    pub instance: usize,
    pub frame: u32,
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
    /// Position along the slice normal (mm), relative to the first frame.
    pub normal_offset: f64,
    /// Offset of the frame's first pixel within the plane (mm, along rows then columns),
    /// relative to the first frame; non-zero only with gantry tilt.
    pub in_plane_offset: [f64; 2],
}

/// How the frames of a series make a volume.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesLayout {
    /// Frames sorted along the slice normal.
    pub frames: Vec<PlacedFrame>,
    pub rows: usize,
    pub columns: usize,
    /// Geometry of the frames stacked as they are, with the median gap as slice spacing.
    pub stacked: Geometry,
    /// True when tilt or uneven spacing requires resampling onto the `stacked` grid.
    pub needs_restack: bool,
    /// Gantry tilt in degrees (0 when the frames sit straight above each other).
    pub tilt_degrees: f64,
}

impl SeriesLayout {
    pub fn dims(&self) -> Dims {
        Dims::new(self.columns, self.rows, self.frames.len())
    }
}

/// Checks the instances of one series and places every frame.
pub fn layout_series(instances: &[InstanceHeader]) -> Result<SeriesLayout, SeriesError> {
    let first = instances
        .first()
        .ok_or_else(|| SeriesError::NoImages(PathBuf::new()))?;
    for inst in instances {
        if !inst.modality.eq_ignore_ascii_case("CT") {
            return Err(SeriesError::NotCt {
                path: inst.path.clone(),
                modality: inst.modality.clone(),
            });
        }
    }
    let reference = &first.frames[0];
    let mut flat = Vec::new();
    for (n, inst) in instances.iter().enumerate() {
        check_same_image(first, inst)?;
        for f in &inst.frames {
            if !all_close(&f.orientation, &reference.orientation, SAME_TOLERANCE) {
                return Err(SeriesError::MixedOrientation {
                    first: first.path.clone(),
                    other: inst.path.clone(),
                });
            }
            if !all_close(&f.pixel_spacing, &reference.pixel_spacing, SAME_TOLERANCE) {
                return Err(inconsistent(
                    first,
                    inst,
                    "PixelSpacing",
                    format!("{:?}", reference.pixel_spacing),
                    format!("{:?}", f.pixel_spacing),
                ));
            }
            flat.push((n, f));
        }
    }
    if flat.len() < 2 {
        return Err(SeriesError::UnsupportedPixelData {
            path: first.path.clone(),
            reason: "a single image is not a volume".into(),
        });
    }

    let o = &reference.orientation;
    let row_dir = normalize([o[0], o[1], o[2]]);
    let col_dir = normalize([o[3], o[4], o[5]]);
    let normal = normalize(cross(row_dir, col_dir));
    flat.sort_by(|a, b| dot(a.1.position, normal).total_cmp(&dot(b.1.position, normal)));

    let origin = flat[0].1.position;
    let frames: Vec<PlacedFrame> = flat
        .iter()
        .map(|&(instance, f)| {
            let rel = sub(f.position, origin);
            PlacedFrame {
                instance,
                frame: f.frame,
                rescale_slope: f.rescale_slope,
                rescale_intercept: f.rescale_intercept,
                normal_offset: dot(rel, normal),
                in_plane_offset: [dot(rel, row_dir), dot(rel, col_dir)],
            }
        })
        .collect();

    let path_of = |p: &PlacedFrame| instances[p.instance].path.clone();
    let gaps: Vec<f64> = frames
        .windows(2)
        .map(|w| w[1].normal_offset - w[0].normal_offset)
        .collect();
    for (n, &gap) in gaps.iter().enumerate() {
        if gap < DUPLICATE_MM {
            return Err(SeriesError::DuplicatePosition {
                first: path_of(&frames[n]),
                second: path_of(&frames[n + 1]),
                position_mm: dot(flat[n].1.position, normal),
            });
        }
    }
    for (n, &gap) in gaps.iter().enumerate() {
        let expected = expected_gap(&gaps, n);
        if gap > MISSING_FACTOR * expected {
            return Err(SeriesError::MissingSlices {
                before: path_of(&frames[n]),
                after: path_of(&frames[n + 1]),
                index: n,
                gap_mm: gap,
                expected_mm: expected,
                missing: ((gap / expected).round() as usize).saturating_sub(1).max(1),
            });
        }
    }

    let spacing = median(&gaps);
    let uneven = gaps
        .iter()
        .any(|g| (g - spacing).abs() > (0.01 * spacing).max(0.01));
    let last = frames.last().expect("at least two frames");
    let drift = last.in_plane_offset[0].hypot(last.in_plane_offset[1]);
    let tilt_degrees = drift.atan2(last.normal_offset).to_degrees();
    let max_drift = frames
        .iter()
        .map(|f| f.in_plane_offset[0].hypot(f.in_plane_offset[1]))
        .fold(0.0, f64::max);
    let tilted = max_drift > 0.05 * reference.pixel_spacing[0].min(reference.pixel_spacing[1]);

    Ok(SeriesLayout {
        rows: first.rows as usize,
        columns: first.columns as usize,
        stacked: Geometry {
            origin,
            spacing: [
                reference.pixel_spacing[1],
                reference.pixel_spacing[0],
                spacing,
            ],
            direction: [row_dir, col_dir, normal],
        },
        needs_restack: uneven || tilted,
        tilt_degrees: if tilted { tilt_degrees } else { 0.0 },
        frames,
    })
}

/// The spacing expected at gap `n`: the larger of the medians of the neighbouring gaps on
/// each side (the gap itself excluded).
fn expected_gap(gaps: &[f64], n: usize) -> f64 {
    let before = &gaps[n.saturating_sub(NEIGHBOUR_GAPS)..n];
    let after = &gaps[(n + 1).min(gaps.len())..(n + 1 + NEIGHBOUR_GAPS).min(gaps.len())];
    let sides = [before, after];
    let local = sides
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| median(s))
        .fold(f64::NAN, f64::max);
    if local.is_nan() {
        gaps[n]
    } else {
        local
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

fn check_same_image(first: &InstanceHeader, other: &InstanceHeader) -> Result<(), SeriesError> {
    if other.rows != first.rows {
        return Err(inconsistent(
            first,
            other,
            "Rows",
            first.rows.to_string(),
            other.rows.to_string(),
        ));
    }
    if other.columns != first.columns {
        return Err(inconsistent(
            first,
            other,
            "Columns",
            first.columns.to_string(),
            other.columns.to_string(),
        ));
    }
    Ok(())
}

fn inconsistent(
    first: &InstanceHeader,
    other: &InstanceHeader,
    what: &'static str,
    expected: String,
    found: String,
) -> SeriesError {
    SeriesError::InconsistentImage {
        first: first.path.clone(),
        other: other.path.clone(),
        what,
        expected,
        found,
    }
}

fn all_close(a: &[f64], b: &[f64], rel: f64) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| (x - y).abs() <= rel * x.abs().max(y.abs()).max(1.0))
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_gap_follows_the_local_spacing() {
        let gaps = [4.0, 4.0, 4.0, 4.0, 1.1, 7.0, 7.0, 7.0, 7.0];
        assert_eq!(expected_gap(&gaps, 5), 7.0);
        assert_eq!(expected_gap(&gaps, 1), 4.0);
        let dropped = [2.5, 2.5, 5.0, 2.5, 2.5];
        assert_eq!(expected_gap(&dropped, 2), 2.5);
    }

    #[test]
    fn median_of_even_count_is_the_mean_of_the_middle_pair() {
        assert_eq!(median(&[1.0, 4.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
