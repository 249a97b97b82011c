//! The source CT series of a derived object: its frames in slice order, its grid, and the
//! patient, study and frame-of-reference attributes copied from its first file.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::OpenFileOptions;
use screener_core::dicom_series::{layout_series, FrameHeader, InstanceHeader, SeriesLayout};
use screener_core::{Dims, Geometry, Volume};

use super::elements::{code, item, Obj, Put};
use super::WriterError;

/// Patient, study and patient-study attributes carried over to derived objects unchanged.
const COPIED: [Tag; 22] = [
    tags::SPECIFIC_CHARACTER_SET,
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::PATIENT_IDENTITY_REMOVED,
    tags::DEIDENTIFICATION_METHOD,
    tags::PATIENT_AGE,
    tags::PATIENT_SIZE,
    tags::PATIENT_WEIGHT,
    tags::STUDY_INSTANCE_UID,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_ID,
    tags::ACCESSION_NUMBER,
    tags::STUDY_DESCRIPTION,
    tags::CLINICAL_TRIAL_SPONSOR_NAME,
    tags::CLINICAL_TRIAL_PROTOCOL_ID,
    tags::CLINICAL_TRIAL_SUBJECT_ID,
    tags::CLINICAL_TRIAL_SITE_ID,
];

/// Type 2 attributes among [`COPIED`]: written empty when the source lacks them.
const REQUIRED_EMPTY: [(Tag, VR); 7] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

/// DCM 121322: why a derived image references its source.
pub(crate) fn purpose_source_for_processing() -> Obj {
    code(
        "121322",
        "DCM",
        "Source image for image processing operation",
    )
}

/// A CT series that derived objects can be written for.
#[derive(Debug, Clone)]
pub struct SourceSeries {
    pub instances: Vec<InstanceHeader>,
    pub layout: SeriesLayout,
    pub frame_of_reference_uid: String,
    /// SliceThickness of the first file, when it has one.
    pub slice_thickness: Option<f64>,
    copied: Vec<InMemElement>,
}

impl SourceSeries {
    /// Lays out the frames and reads the copied attributes from the first instance's file.
    /// Refuses a series that needs restacking: its loaded volume does not match its frames.
    pub fn open(instances: Vec<InstanceHeader>) -> Result<Self, WriterError> {
        let series_uid = instances
            .first()
            .map_or_else(String::new, |i| i.series_uid.clone());
        let layout = layout_series(&instances).map_err(|e| WriterError::Layout {
            series_uid: series_uid.clone(),
            reason: e.to_string(),
        })?;
        if layout.needs_restack {
            let reason = if layout.tilt_degrees != 0.0 {
                format!("gantry tilt of {:.2} degrees", layout.tilt_degrees)
            } else {
                "uneven slice spacing".to_string()
            };
            return Err(WriterError::NotFrameAligned { series_uid, reason });
        }
        let path = &instances[0].path;
        let source = |reason: String| WriterError::Source {
            path: path.clone(),
            reason,
        };
        let file = OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
            .map_err(|e| source(e.to_string()))?;
        let frame_of_reference_uid = file
            .get(tags::FRAME_OF_REFERENCE_UID)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| source("no FrameOfReferenceUID".into()))?;
        let slice_thickness = file
            .get(tags::SLICE_THICKNESS)
            .and_then(|e| e.to_float64().ok())
            .filter(|t| t.is_finite() && *t > 0.0);
        let copied = COPIED
            .iter()
            .filter_map(|&tag| file.get(tag).cloned())
            .collect();
        Ok(Self {
            instances,
            layout,
            frame_of_reference_uid,
            slice_thickness,
            copied,
        })
    }

    pub fn series_uid(&self) -> &str {
        &self.instances[0].series_uid
    }

    pub fn study_uid(&self) -> &str {
        &self.instances[0].study_uid
    }

    pub fn dims(&self) -> Dims {
        self.layout.dims()
    }

    pub fn geometry(&self) -> Geometry {
        self.layout.stacked
    }

    /// The instance and frame header of slice `k` (in slice order).
    pub fn slice(&self, k: usize) -> (&InstanceHeader, &FrameHeader) {
        let placed = &self.layout.frames[k];
        let inst = &self.instances[placed.instance];
        let frame = inst
            .frames
            .iter()
            .find(|f| f.frame == placed.frame)
            .expect("layout frames come from the instance headers");
        (inst, frame)
    }

    /// Fails unless `volume` lies on the source grid, slice for frame.
    pub(crate) fn check_grid<T>(
        &self,
        volume: &Volume<T>,
        what: &'static str,
    ) -> Result<(), WriterError> {
        let mismatch = |expected: String, found: String| WriterError::GridMismatch {
            series_uid: self.series_uid().to_string(),
            what,
            expected,
            found,
        };
        let (want, got) = (self.dims(), volume.dims());
        if want != got {
            return Err(mismatch(
                format!("{} x {} x {} voxels", want.i, want.j, want.k),
                format!("{} x {} x {} voxels", got.i, got.j, got.k),
            ));
        }
        let difference = self.geometry().max_difference(&volume.geometry);
        if difference > 1e-3 {
            return Err(mismatch(
                format!("{:?}", self.geometry()),
                format!("{:?} ({difference:.4} apart)", volume.geometry),
            ));
        }
        Ok(())
    }

    /// Puts the copied patient and study attributes, with empty type 2 ones where missing.
    pub(crate) fn put_patient_and_study(&self, obj: &mut Obj) {
        for element in &self.copied {
            obj.put(element.clone());
        }
        for (tag, vr) in REQUIRED_EMPTY {
            if obj.get(tag).is_none() {
                obj.text(tag, vr, "");
            }
        }
        if obj.get(tags::SPECIFIC_CHARACTER_SET).is_none() {
            obj.text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
        }
    }

    pub(crate) fn put_frame_of_reference(&self, obj: &mut Obj) {
        obj.text(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &self.frame_of_reference_uid,
        );
        obj.text(tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    }

    /// An item referencing slice `k` as the source of derived pixels (Image SOP Instance
    /// Reference Macro, with the frame number when the source is multi-frame).
    pub(crate) fn source_image_item(&self, k: usize) -> Obj {
        let (inst, frame) = self.slice(k);
        item(|o| {
            o.text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &inst.sop_class_uid);
            o.text(
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                &inst.sop_instance_uid,
            );
            if inst.frames.len() > 1 {
                o.text(
                    tags::REFERENCED_FRAME_NUMBER,
                    VR::IS,
                    &(frame.frame + 1).to_string(),
                );
            }
            o.seq(
                tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                vec![purpose_source_for_processing()],
            );
            o.text(tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES");
        })
    }

    /// One ReferencedSeriesSequence item listing every instance of the series (Common
    /// Instance Reference module).
    pub(crate) fn referenced_series_item(&self) -> Obj {
        let instances = self
            .instances
            .iter()
            .map(|inst| {
                item(|o| {
                    o.text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &inst.sop_class_uid);
                    o.text(
                        tags::REFERENCED_SOP_INSTANCE_UID,
                        VR::UI,
                        &inst.sop_instance_uid,
                    );
                })
            })
            .collect();
        item(|o| {
            o.text(tags::SERIES_INSTANCE_UID, VR::UI, self.series_uid());
            o.seq(tags::REFERENCED_INSTANCE_SEQUENCE, instances);
        })
    }
}
