//! Reads what series assembly needs from a DICOM file's header, without its pixel data.
//!
//! Classic CT has one frame per file; Enhanced (and Legacy Converted Enhanced) CT has many
//! frames whose position, orientation, spacing and rescale live in functional groups. Both
//! become a list of [`FrameHeader`]s, so assembly does not care which kind it was given.

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use super::error::SeriesError;

/// One image plane: a single-frame file, or one frame of a multi-frame file.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameHeader {
    /// Index of the frame within its file (0 for single-frame files).
    pub frame: u32,
    /// ImagePositionPatient: LPS position of the centre of the first pixel.
    pub position: [f64; 3],
    /// ImageOrientationPatient: row direction, then column direction.
    pub orientation: [f64; 6],
    /// PixelSpacing as DICOM orders it: between rows, then between columns (mm).
    pub pixel_spacing: [f64; 2],
    pub rescale_slope: f64,
    pub rescale_intercept: f64,
}

/// The header of one DICOM file that holds image data.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceHeader {
    pub path: PathBuf,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub study_uid: String,
    pub series_uid: String,
    pub modality: String,
    pub transfer_syntax: String,
    pub rows: u16,
    pub columns: u16,
    pub frames: Vec<FrameHeader>,
}

type Obj = InMemDicomObject;

/// Reads the header of `path` (everything before the pixel data).
pub fn read_instance_header(path: &Path) -> Result<InstanceHeader, SeriesError> {
    let file = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| SeriesError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    let transfer_syntax = file
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    instance_header_from(path, &file, transfer_syntax)
}

/// Builds the header from an already parsed data set (used for received instances too).
pub fn instance_header_from(
    path: &Path,
    obj: &Obj,
    transfer_syntax: String,
) -> Result<InstanceHeader, SeriesError> {
    let attr = Attributes { path, obj };
    let modality = attr.string(tags::MODALITY, "Modality")?;
    let rows = attr.int(tags::ROWS, "Rows")? as u16;
    let columns = attr.int(tags::COLUMNS, "Columns")? as u16;
    let number_of_frames = match obj.get(tags::NUMBER_OF_FRAMES) {
        Some(_) => attr.int(tags::NUMBER_OF_FRAMES, "NumberOfFrames")?.max(1) as u32,
        None => 1,
    };
    let frames = if obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .is_some()
    {
        attr.functional_group_frames(number_of_frames)?
    } else {
        if number_of_frames > 1 {
            return Err(SeriesError::UnsupportedPixelData {
                path: path.to_owned(),
                reason: format!(
                    "{number_of_frames} frames without per-frame functional groups (no frame positions)"
                ),
            });
        }
        vec![attr.frame_from(0, &[obj])?]
    };
    Ok(InstanceHeader {
        path: path.to_owned(),
        sop_class_uid: attr.string(tags::SOP_CLASS_UID, "SOPClassUID")?,
        sop_instance_uid: attr.string(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        study_uid: attr.string(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        series_uid: attr.string(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        modality,
        transfer_syntax,
        rows,
        columns,
        frames,
    })
}

struct Attributes<'a> {
    path: &'a Path,
    obj: &'a Obj,
}

impl Attributes<'_> {
    fn bad(&self, attribute: &'static str, reason: impl ToString) -> SeriesError {
        SeriesError::BadAttribute {
            path: self.path.to_owned(),
            attribute,
            reason: reason.to_string(),
        }
    }

    fn string(&self, tag: Tag, name: &'static str) -> Result<String, SeriesError> {
        let e = self.obj.get(tag).ok_or_else(|| self.bad(name, "absent"))?;
        let s = e.to_str().map_err(|err| self.bad(name, err))?;
        Ok(s.trim_end_matches(['\0', ' ']).trim().to_owned())
    }

    fn int(&self, tag: Tag, name: &'static str) -> Result<i64, SeriesError> {
        let e = self.obj.get(tag).ok_or_else(|| self.bad(name, "absent"))?;
        e.to_int::<i64>().map_err(|err| self.bad(name, err))
    }

    /// The first of `sources` that has `tag` wins (per-frame group before shared group).
    fn floats(
        &self,
        sources: &[&Obj],
        tag: Tag,
        name: &'static str,
        count: usize,
    ) -> Result<Option<Vec<f64>>, SeriesError> {
        for obj in sources {
            if let Some(e) = obj.get(tag) {
                let v = e.to_multi_float64().map_err(|err| self.bad(name, err))?;
                if v.len() != count || v.iter().any(|x| !x.is_finite()) {
                    return Err(self.bad(name, format!("expected {count} numbers, found {v:?}")));
                }
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn required(
        &self,
        sources: &[&Obj],
        tag: Tag,
        name: &'static str,
        count: usize,
    ) -> Result<Vec<f64>, SeriesError> {
        self.floats(sources, tag, name, count)?
            .ok_or_else(|| self.bad(name, "absent"))
    }

    fn frame_from(&self, frame: u32, sources: &[&Obj]) -> Result<FrameHeader, SeriesError> {
        let p = self.required(
            sources,
            tags::IMAGE_POSITION_PATIENT,
            "ImagePositionPatient",
            3,
        )?;
        let o = self.required(
            sources,
            tags::IMAGE_ORIENTATION_PATIENT,
            "ImageOrientationPatient",
            6,
        )?;
        let s = self.required(sources, tags::PIXEL_SPACING, "PixelSpacing", 2)?;
        if s.iter().any(|&x| x <= 0.0) {
            return Err(self.bad("PixelSpacing", format!("not positive: {s:?}")));
        }
        let slope = self
            .floats(sources, tags::RESCALE_SLOPE, "RescaleSlope", 1)?
            .map_or(1.0, |v| v[0]);
        let intercept = self
            .floats(sources, tags::RESCALE_INTERCEPT, "RescaleIntercept", 1)?
            .map_or(0.0, |v| v[0]);
        Ok(FrameHeader {
            frame,
            position: [p[0], p[1], p[2]],
            orientation: [o[0], o[1], o[2], o[3], o[4], o[5]],
            pixel_spacing: [s[0], s[1]],
            rescale_slope: slope,
            rescale_intercept: intercept,
        })
    }

    /// Frames of an enhanced multi-frame object: each attribute is looked up in the frame's
    /// own functional group first, then in the shared group.
    fn functional_group_frames(&self, count: u32) -> Result<Vec<FrameHeader>, SeriesError> {
        let per_frame = self
            .obj
            .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
            .and_then(|e| e.items())
            .ok_or_else(|| self.bad("PerFrameFunctionalGroupsSequence", "not a sequence"))?;
        if per_frame.len() != count as usize {
            return Err(self.bad(
                "PerFrameFunctionalGroupsSequence",
                format!("{} items for {count} frames", per_frame.len()),
            ));
        }
        let shared = self
            .obj
            .get(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first());
        per_frame
            .iter()
            .enumerate()
            .map(|(n, item)| {
                let mut sources = Vec::with_capacity(8);
                for group in std::iter::once(item).chain(shared) {
                    for seq in FRAME_MACROS {
                        if let Some(inner) = group.get(seq).and_then(|e| e.items()) {
                            sources.extend(inner.first());
                        }
                    }
                }
                self.frame_from(n as u32, &sources)
            })
            .collect()
    }
}

/// Functional group macros holding the attributes of a frame's plane and values.
const FRAME_MACROS: [Tag; 4] = [
    tags::PLANE_POSITION_SEQUENCE,
    tags::PLANE_ORIENTATION_SEQUENCE,
    tags::PIXEL_MEASURES_SEQUENCE,
    tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
];
