//! The DICOM Segmentation (SEG) writer: one segment "abnormal", BINARY or FRACTIONAL
//! (probability), on the frames of the source CT series.
//!
//! Coded concepts: category SCT 49755003 "Morphologically abnormal structure" and the same
//! code as property type, because the model flags anything abnormal (it is not trained to say
//! lesion, mass or nodule, which the narrower codes would claim). Frame choice and the empty
//! case are described in `seg_pixels`.

use std::path::Path;

use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::FileDicomObject;
use screener_core::{Mask, Volume};

use super::elements::{code, ds, ds_all, finish, item, save, ContentDateTime, Equipment, Obj, Put};
use super::seg_pixels::{binary_frames, fractional_frames, SegFrames, MAX_FRACTIONAL};
use super::source::SourceSeries;
use super::uid::uid_from_seed;
use super::WriterError;

/// The voxels to segment, on the source grid (`[k, j, i]`, slice `k` = layout frame `k`).
#[derive(Debug, Clone, Copy)]
pub enum SegmentationValues<'a> {
    /// Non-zero voxels are abnormal; written as a BINARY segmentation.
    Binary(&'a Mask),
    /// Probability of abnormality in [0, 1]; written as FRACTIONAL / PROBABILITY, 8 bits.
    Fractional(&'a Volume<f32>),
}

/// The model that produced the segment (Segmentation Algorithm Identification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Algorithm {
    pub name: String,
    pub version: String,
    /// Free text, e.g. the threshold and preprocessing (AlgorithmParameters); empty = none.
    pub parameters: String,
}

/// Identity and descriptive attributes of a SEG instance.
#[derive(Debug, Clone, PartialEq)]
pub struct SegParams {
    /// Reused on re-sends so the PACS replaces rather than duplicates.
    pub series_uid: String,
    pub instance_uid: String,
    pub series_number: u32,
    pub instance_number: u32,
    pub series_description: String,
    /// ContentLabel: upper case, digits, space or underscore, at most 16 characters.
    pub content_label: String,
    pub content_description: String,
    pub content_creator: String,
    pub segment_label: String,
    pub algorithm: Algorithm,
    pub equipment: Equipment,
    pub created: ContentDateTime,
}

impl SegParams {
    /// Defaults for everything but the identity and the algorithm.
    pub fn new(series_uid: String, instance_uid: String, algorithm: Algorithm) -> Self {
        Self {
            series_uid,
            instance_uid,
            series_number: 9001,
            instance_number: 1,
            series_description: "Screener abnormality segmentation".into(),
            content_label: "SCREENER".into(),
            content_description: "Voxels the anomaly model scores as abnormal".into(),
            content_creator: "Screener^Automatic".into(),
            segment_label: "abnormal".into(),
            algorithm,
            equipment: Equipment::default(),
            created: ContentDateTime::now(),
        }
    }

    fn check(&self) -> Result<(), WriterError> {
        let label = &self.content_label;
        let valid = !label.is_empty()
            && label.len() <= 16
            && label
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ' || c == '_');
        if !valid {
            return Err(WriterError::Parameter {
                name: "content_label",
                reason: format!("{label:?} is not a 1-16 character CS value"),
            });
        }
        for (name, uid) in [
            ("series_uid", &self.series_uid),
            ("instance_uid", &self.instance_uid),
        ] {
            let ok = !uid.is_empty()
                && uid.len() <= 64
                && uid.chars().all(|c| c.is_ascii_digit() || c == '.');
            if !ok {
                return Err(WriterError::Parameter {
                    name,
                    reason: format!("{uid:?} is not a UID"),
                });
            }
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegSummary {
    pub sop_instance_uid: String,
    /// Frames in the SEG (1 for an empty segment).
    pub frames: usize,
    pub empty: bool,
}

/// Writes the SEG of `values` over `source` to `path`.
pub fn write_segmentation(
    source: &SourceSeries,
    values: SegmentationValues,
    params: &SegParams,
    path: &Path,
) -> Result<SegSummary, WriterError> {
    let (file, summary) = segmentation_object(source, values, params)?;
    save(&file, path)?;
    Ok(summary)
}

/// Builds the SEG in memory (for sending without a file).
pub fn segmentation_object(
    source: &SourceSeries,
    values: SegmentationValues,
    params: &SegParams,
) -> Result<(FileDicomObject<Obj>, SegSummary), WriterError> {
    params.check()?;
    let (frames, fractional) = match values {
        SegmentationValues::Binary(mask) => {
            source.check_grid(mask, "the mask")?;
            (binary_frames(mask), false)
        }
        SegmentationValues::Fractional(p) => {
            source.check_grid(p, "the probability map")?;
            (fractional_frames(p), true)
        }
    };
    let mut obj = Obj::new_empty();
    source.put_patient_and_study(&mut obj);
    put_series_and_equipment(&mut obj, source, params);
    put_image(&mut obj, source, params, &frames, fractional);
    obj.seq(
        tags::SEGMENT_SEQUENCE,
        vec![segment_item(params, fractional)],
    );
    put_dimensions(&mut obj, &params.instance_uid);
    put_functional_groups(&mut obj, source, &frames);
    obj.seq(
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![source.referenced_series_item()],
    );
    let summary = SegSummary {
        sop_instance_uid: params.instance_uid.clone(),
        frames: frames.slices.len(),
        empty: frames.empty,
    };
    obj.bytes(tags::PIXEL_DATA, VR::OB, frames.pixel_data);
    let file = finish(
        obj,
        uids::SEGMENTATION_STORAGE,
        &params.instance_uid,
        &params.created,
    )?;
    Ok((file, summary))
}

fn put_series_and_equipment(obj: &mut Obj, source: &SourceSeries, params: &SegParams) {
    obj.text(tags::MODALITY, VR::CS, "SEG");
    obj.text(tags::SERIES_INSTANCE_UID, VR::UI, &params.series_uid);
    obj.text(
        tags::SERIES_NUMBER,
        VR::IS,
        &params.series_number.to_string(),
    );
    obj.text(tags::SERIES_DESCRIPTION, VR::LO, &params.series_description);
    obj.text(tags::SERIES_DATE, VR::DA, &params.created.date);
    obj.text(tags::SERIES_TIME, VR::TM, &params.created.time);
    source.put_frame_of_reference(obj);
    params.equipment.put_into(obj);
    obj.seq(
        tags::CONTRIBUTING_EQUIPMENT_SEQUENCE,
        vec![contributing_equipment(params)],
    );
}

fn contributing_equipment(params: &SegParams) -> Obj {
    let e = &params.equipment;
    let a = &params.algorithm;
    item(|o| {
        o.text(tags::MANUFACTURER, VR::LO, &e.manufacturer);
        o.text(tags::MANUFACTURER_MODEL_NAME, VR::LO, &a.name);
        o.text(tags::SOFTWARE_VERSIONS, VR::LO, &a.version);
        o.text(tags::DEVICE_SERIAL_NUMBER, VR::LO, &e.device_serial_number);
        o.seq(
            tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
            vec![code("109102", "DCM", "Processing Equipment")],
        );
        o.text(
            tags::CONTRIBUTION_DESCRIPTION,
            VR::ST,
            &format!("Anomaly model {} {}", a.name, a.version),
        );
    })
}

fn put_image(
    obj: &mut Obj,
    source: &SourceSeries,
    params: &SegParams,
    frames: &SegFrames,
    fractional: bool,
) {
    obj.texts(
        tags::IMAGE_TYPE,
        VR::CS,
        vec!["DERIVED".into(), "PRIMARY".into()],
    );
    obj.text(
        tags::INSTANCE_NUMBER,
        VR::IS,
        &params.instance_number.to_string(),
    );
    obj.text(tags::CONTENT_DATE, VR::DA, &params.created.date);
    obj.text(tags::CONTENT_TIME, VR::TM, &params.created.time);
    obj.text(tags::CONTENT_LABEL, VR::CS, &params.content_label);
    obj.text(
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        &params.content_description,
    );
    obj.text(tags::CONTENT_CREATOR_NAME, VR::PN, &params.content_creator);
    obj.u16(tags::SAMPLES_PER_PIXEL, 1);
    obj.text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    obj.u16(tags::ROWS, source.layout.rows as u16);
    obj.u16(tags::COLUMNS, source.layout.columns as u16);
    let bits = if fractional { 8 } else { 1 };
    obj.u16(tags::BITS_ALLOCATED, bits);
    obj.u16(tags::BITS_STORED, bits);
    obj.u16(tags::HIGH_BIT, bits - 1);
    obj.u16(tags::PIXEL_REPRESENTATION, 0);
    obj.text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    obj.text(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &frames.slices.len().to_string(),
    );
    if fractional {
        obj.text(tags::SEGMENTATION_TYPE, VR::CS, "FRACTIONAL");
        obj.text(tags::SEGMENTATION_FRACTIONAL_TYPE, VR::CS, "PROBABILITY");
        obj.u16(tags::MAXIMUM_FRACTIONAL_VALUE, u16::from(MAX_FRACTIONAL));
    } else {
        obj.text(tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    }
    obj.text(tags::SEGMENTS_OVERLAP, VR::CS, "NO");
}

fn segment_item(params: &SegParams, fractional: bool) -> Obj {
    let abnormal = || code("49755003", "SCT", "Morphologically abnormal structure");
    let a = &params.algorithm;
    let algorithm = item(|o| {
        o.seq(
            tags::ALGORITHM_FAMILY_CODE_SEQUENCE,
            vec![code("123110", "DCM", "Artificial Intelligence")],
        );
        o.text(tags::ALGORITHM_NAME, VR::LO, &a.name);
        o.text(tags::ALGORITHM_VERSION, VR::LO, &a.version);
        if !a.parameters.is_empty() {
            o.text(tags::ALGORITHM_PARAMETERS, VR::LT, &a.parameters);
        }
        o.text(
            tags::ALGORITHM_SOURCE,
            VR::LO,
            &params.equipment.manufacturer,
        );
    });
    item(|o| {
        o.u16(tags::SEGMENT_NUMBER, 1);
        o.text(tags::SEGMENT_LABEL, VR::LO, &params.segment_label);
        o.text(
            tags::SEGMENT_DESCRIPTION,
            VR::ST,
            if fractional {
                "Probability that the voxel is abnormal"
            } else {
                "Voxels scored abnormal"
            },
        );
        o.seq(
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            vec![abnormal()],
        );
        o.seq(
            tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
            vec![abnormal()],
        );
        o.text(tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC");
        o.text(tags::SEGMENT_ALGORITHM_NAME, VR::LO, &a.name);
        o.seq(
            tags::SEGMENTATION_ALGORITHM_IDENTIFICATION_SEQUENCE,
            vec![algorithm],
        );
        // CIELab of a saturated red, scaled to 0..65535 as PS3.3 C.10.7.1.1 defines.
        o.put(dicom_core::DataElement::new(
            tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
            VR::US,
            dicom_core::value::PrimitiveValue::U16(vec![34891u16, 53482, 50166].into()),
        ));
    })
}

/// Two dimensions: the segment, then the frame position.
fn put_dimensions(obj: &mut Obj, instance_uid: &str) {
    let organization = uid_from_seed(&format!("{instance_uid}/dimension-organization"));
    obj.seq(
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![item(|o| {
            o.text(tags::DIMENSION_ORGANIZATION_UID, VR::UI, &organization)
        })],
    );
    let index = |pointer, group, label: &str| {
        item(|o| {
            o.text(tags::DIMENSION_ORGANIZATION_UID, VR::UI, &organization);
            o.attribute_tags(tags::DIMENSION_INDEX_POINTER, vec![pointer]);
            o.attribute_tags(tags::FUNCTIONAL_GROUP_POINTER, vec![group]);
            o.text(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label);
        })
    };
    obj.seq(
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            index(
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "ReferencedSegmentNumber",
            ),
            index(
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "ImagePositionPatient",
            ),
        ],
    );
}

fn put_functional_groups(obj: &mut Obj, source: &SourceSeries, frames: &SegFrames) {
    let g = source.geometry();
    let (_, first) = source.slice(0);
    let shared = item(|o| {
        o.seq(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(|m| {
                m.texts(tags::PIXEL_SPACING, VR::DS, ds_all(&first.pixel_spacing));
                m.text(
                    tags::SLICE_THICKNESS,
                    VR::DS,
                    &ds(source.slice_thickness.unwrap_or(g.spacing[2])),
                );
                m.text(tags::SPACING_BETWEEN_SLICES, VR::DS, &ds(g.spacing[2]));
            })],
        );
        o.seq(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(|p| {
                p.texts(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    ds_all(&first.orientation),
                )
            })],
        );
    });
    obj.seq(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]);
    let per_frame = frames
        .slices
        .iter()
        .enumerate()
        .map(|(n, &k)| frame_item(source, k, n as u32 + 1))
        .collect();
    obj.seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame);
}

/// Per-frame groups of the frame made from slice `k`, the `position_index`-th written.
fn frame_item(source: &SourceSeries, k: usize, position_index: u32) -> Obj {
    let (_, frame) = source.slice(k);
    item(|o| {
        o.seq(
            tags::DERIVATION_IMAGE_SEQUENCE,
            vec![item(|d| {
                d.seq(
                    tags::DERIVATION_CODE_SEQUENCE,
                    vec![code("113076", "DCM", "Segmentation")],
                );
                d.seq(
                    tags::SOURCE_IMAGE_SEQUENCE,
                    vec![source.source_image_item(k)],
                );
            })],
        );
        o.seq(
            tags::FRAME_CONTENT_SEQUENCE,
            vec![item(|f| {
                f.u32s(tags::DIMENSION_INDEX_VALUES, vec![1, position_index])
            })],
        );
        o.seq(
            tags::PLANE_POSITION_SEQUENCE,
            vec![item(|p| {
                p.texts(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    ds_all(&frame.position),
                )
            })],
        );
        o.seq(
            tags::SEGMENT_IDENTIFICATION_SEQUENCE,
            vec![item(|s| s.u16(tags::REFERENCED_SEGMENT_NUMBER, 1))],
        );
    })
}
