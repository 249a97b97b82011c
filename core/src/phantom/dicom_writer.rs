//! Writing a CT volume as a DICOM CT Image Storage series: one file per slice, 16-bit
//! pixels with a rescale to HU, geometry from the volume, and patient, study, series,
//! frame of reference, equipment and image modules complete enough for `dciodvfy`.

use std::path::{Path, PathBuf};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dicom_text::decimal_string as ds;
use crate::geometry::{dot, VoxelPoint};
use crate::volume::CtVolume;

/// How HU are stored in the 16-bit pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelEncoding {
    /// Unsigned pixels, HU = value - 1024 (RescaleIntercept -1024), as many scanners do.
    UnsignedOffset1024,
    /// Signed pixels holding HU directly (RescaleIntercept 0).
    Signed,
}

/// The transfer syntax of the written files (both uncompressed little endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesTransferSyntax {
    ExplicitVrLittleEndian,
    ImplicitVrLittleEndian,
}

impl SeriesTransferSyntax {
    fn uid(self) -> &'static str {
        match self {
            Self::ExplicitVrLittleEndian => uids::EXPLICIT_VR_LITTLE_ENDIAN,
            Self::ImplicitVrLittleEndian => uids::IMPLICIT_VR_LITTLE_ENDIAN,
        }
    }
}

/// Identity and encoding of a written series. UIDs left `None` are generated from
/// `uid_seed` (or randomly when that is `None` too).
#[derive(Debug, Clone, PartialEq)]
pub struct CtSeriesOptions {
    pub patient_name: String,
    pub patient_id: String,
    pub study_uid: Option<String>,
    pub series_uid: Option<String>,
    pub frame_of_reference_uid: Option<String>,
    pub study_description: String,
    pub series_description: String,
    pub series_number: u32,
    /// `YYYYMMDD` and `HHMMSS`, used for study, series and content dates.
    pub study_date: String,
    pub study_time: String,
    pub uid_seed: Option<u64>,
    pub transfer_syntax: SeriesTransferSyntax,
    pub pixel_encoding: PixelEncoding,
}

impl Default for CtSeriesOptions {
    fn default() -> Self {
        Self {
            patient_name: "PHANTOM^SYNTHETIC".to_string(),
            patient_id: "PHANTOM0001".to_string(),
            study_uid: None,
            series_uid: None,
            frame_of_reference_uid: None,
            study_description: "Synthetic CT phantom".to_string(),
            series_description: "Screener phantom".to_string(),
            series_number: 1,
            study_date: "20240101".to_string(),
            study_time: "120000".to_string(),
            uid_seed: None,
            transfer_syntax: SeriesTransferSyntax::ExplicitVrLittleEndian,
            pixel_encoding: PixelEncoding::UnsignedOffset1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DicomWriteError {
    #[error("creating {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building the file meta group: {0}")]
    Meta(String),
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("the volume has no voxels")]
    Empty,
}

/// A DICOM UID under the UUID root `2.25`, from a version-4 UUID drawn from `rng`.
pub fn uuid_uid(rng: &mut impl Rng) -> String {
    let mut x: u128 = rng.gen();
    x = (x & !(0xF << 76)) | (0x4 << 76);
    x = (x & !(0x3 << 62)) | (0x2 << 62);
    format!("2.25.{x}")
}

/// Writes `ct` as one file per slice, `CT00001.dcm` upwards in slice order, into `dir`
/// (created if missing), and returns their paths.
pub fn write_ct_series(
    ct: &CtVolume,
    dir: &Path,
    opts: &CtSeriesOptions,
) -> Result<Vec<PathBuf>, DicomWriteError> {
    let dims = ct.dims();
    if dims.is_empty() {
        return Err(DicomWriteError::Empty);
    }
    std::fs::create_dir_all(dir).map_err(|source| DicomWriteError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut rng = match opts.uid_seed {
        Some(s) => ChaCha8Rng::seed_from_u64(s),
        None => ChaCha8Rng::seed_from_u64(rand::thread_rng().gen()),
    };
    let study_uid = opts.study_uid.clone().unwrap_or_else(|| uuid_uid(&mut rng));
    let series_uid = opts
        .series_uid
        .clone()
        .unwrap_or_else(|| uuid_uid(&mut rng));
    let frame_uid = opts
        .frame_of_reference_uid
        .clone()
        .unwrap_or_else(|| uuid_uid(&mut rng));
    let g = &ct.geometry;
    let normal = g.slice_normal();
    let orientation: Vec<String> = g.direction[0]
        .iter()
        .chain(g.direction[1].iter())
        .map(|&v| ds(v))
        .collect();
    let (signed, intercept) = match opts.pixel_encoding {
        PixelEncoding::UnsignedOffset1024 => (false, -1024.0f32),
        PixelEncoding::Signed => (true, 0.0),
    };
    let mut paths = Vec::with_capacity(dims.k);
    for k in 0..dims.k {
        let position = g.voxel_to_patient(VoxelPoint([0.0, 0.0, k as f64])).0;
        let sop_uid = uuid_uid(&mut rng);
        let pixels: Vec<u16> = ct
            .data
            .index_axis(ndarray::Axis(0), k)
            .iter()
            .map(|&hu| {
                let v = (hu - intercept).round();
                if signed {
                    v.clamp(i16::MIN as f32, i16::MAX as f32) as i16 as u16
                } else {
                    v.clamp(0.0, u16::MAX as f32) as u16
                }
            })
            .collect();
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag: Tag, vr: VR, value: PrimitiveValue| {
            obj.put(DataElement::new(tag, vr, value));
        };
        let s = |v: &str| PrimitiveValue::from(v.to_string());
        let strs = |v: Vec<String>| PrimitiveValue::Strs(v.into());
        // SOP common
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, s("ISO_IR 100"));
        put(tags::SOP_CLASS_UID, VR::UI, s(uids::CT_IMAGE_STORAGE));
        put(tags::SOP_INSTANCE_UID, VR::UI, s(&sop_uid));
        put(tags::INSTANCE_CREATION_DATE, VR::DA, s(&opts.study_date));
        put(tags::INSTANCE_CREATION_TIME, VR::TM, s(&opts.study_time));
        // Patient
        put(tags::PATIENT_NAME, VR::PN, s(&opts.patient_name));
        put(tags::PATIENT_ID, VR::LO, s(&opts.patient_id));
        put(tags::PATIENT_BIRTH_DATE, VR::DA, s(""));
        put(tags::PATIENT_SEX, VR::CS, s("O"));
        // General study
        put(tags::STUDY_INSTANCE_UID, VR::UI, s(&study_uid));
        put(tags::STUDY_DATE, VR::DA, s(&opts.study_date));
        put(tags::STUDY_TIME, VR::TM, s(&opts.study_time));
        put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, s(""));
        put(tags::STUDY_ID, VR::SH, s("1"));
        put(tags::ACCESSION_NUMBER, VR::SH, s(""));
        put(tags::STUDY_DESCRIPTION, VR::LO, s(&opts.study_description));
        // General series
        put(tags::MODALITY, VR::CS, s("CT"));
        put(tags::SERIES_INSTANCE_UID, VR::UI, s(&series_uid));
        put(
            tags::SERIES_NUMBER,
            VR::IS,
            s(&opts.series_number.to_string()),
        );
        put(tags::SERIES_DATE, VR::DA, s(&opts.study_date));
        put(tags::SERIES_TIME, VR::TM, s(&opts.study_time));
        put(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            s(&opts.series_description),
        );
        put(tags::PATIENT_POSITION, VR::CS, s("HFS"));
        put(tags::BODY_PART_EXAMINED, VR::CS, s("CHEST"));
        // Frame of reference and equipment
        put(tags::FRAME_OF_REFERENCE_UID, VR::UI, s(&frame_uid));
        put(tags::POSITION_REFERENCE_INDICATOR, VR::LO, s(""));
        put(tags::MANUFACTURER, VR::LO, s("Screener"));
        put(
            tags::MANUFACTURER_MODEL_NAME,
            VR::LO,
            s("Synthetic phantom"),
        );
        // General image and CT image
        put(
            tags::IMAGE_TYPE,
            VR::CS,
            strs(vec!["DERIVED".into(), "SECONDARY".into(), "AXIAL".into()]),
        );
        put(tags::INSTANCE_NUMBER, VR::IS, s(&(k + 1).to_string()));
        put(tags::ACQUISITION_NUMBER, VR::IS, s("1"));
        put(tags::CONTENT_DATE, VR::DA, s(&opts.study_date));
        put(tags::CONTENT_TIME, VR::TM, s(&opts.study_time));
        put(tags::BURNED_IN_ANNOTATION, VR::CS, s("NO"));
        put(tags::KVP, VR::DS, s("120"));
        put(tags::RESCALE_INTERCEPT, VR::DS, s(&ds(intercept as f64)));
        put(tags::RESCALE_SLOPE, VR::DS, s("1"));
        put(tags::RESCALE_TYPE, VR::LO, s("HU"));
        put(tags::WINDOW_CENTER, VR::DS, s("40"));
        put(tags::WINDOW_WIDTH, VR::DS, s("400"));
        // Image plane
        put(
            tags::PIXEL_SPACING,
            VR::DS,
            strs(vec![ds(g.spacing[1]), ds(g.spacing[0])]),
        );
        put(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            strs(orientation.clone()),
        );
        put(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            strs(position.iter().map(|&v| ds(v)).collect()),
        );
        put(tags::SLICE_THICKNESS, VR::DS, s(&ds(g.spacing[2])));
        put(tags::SLICE_LOCATION, VR::DS, s(&ds(dot(position, normal))));
        // Image pixel
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, s("MONOCHROME2"));
        put(tags::ROWS, VR::US, PrimitiveValue::from(dims.j as u16));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(dims.i as u16));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(u16::from(signed)),
        );
        put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(pixels.into()));
        let file = obj
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(opts.transfer_syntax.uid()))
            .map_err(|e| DicomWriteError::Meta(e.to_string()))?;
        let path = dir.join(format!("CT{:05}.dcm", k + 1));
        file.write_to_file(&path)
            .map_err(|e| DicomWriteError::Write {
                path: path.clone(),
                message: e.to_string(),
            })?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_in_sixteen_characters() {
        assert_eq!(ds(0.7421875), "0.742188");
        assert_eq!(ds(-1024.0), "-1024");
        assert_eq!(ds(-0.0000001), "0");
        assert!(ds(-123456789.123456).len() <= 16);
    }

    #[test]
    fn uuid_uids_are_valid_and_short() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let uid = uuid_uid(&mut rng);
        assert!(uid.len() <= 64 && uid.starts_with("2.25."));
        assert!(uid[5..].chars().all(|c| c.is_ascii_digit()));
        assert!(!uid[5..].starts_with('0'));
    }

    use crate::geometry::{Dims, Geometry};
    use crate::phantom::PhantomSpec;
    use dicom_object::open_file;

    fn small_ct() -> CtVolume {
        let mut spec = PhantomSpec::new(5, Dims::new(40, 32, 4), [9.0, 9.5, 12.5]);
        spec.noise_sigma = 12.0;
        spec.generate().ct
    }

    fn dciodvfy_report(path: &Path) -> Option<String> {
        let out = std::process::Command::new("dciodvfy")
            .arg(path)
            .output()
            .ok()?;
        Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    fn assert_valid(transfer_syntax: SeriesTransferSyntax, pixel_encoding: PixelEncoding) {
        let dir = tempfile::tempdir().unwrap();
        let opts = CtSeriesOptions {
            uid_seed: Some(9),
            transfer_syntax,
            pixel_encoding,
            ..Default::default()
        };
        let files = write_ct_series(&small_ct(), dir.path(), &opts).unwrap();
        let Some(report) = dciodvfy_report(&files[0]) else {
            eprintln!("skipped: dciodvfy is not installed (scripts/install-system-deps.sh)");
            return;
        };
        eprintln!("{report}");
        let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("Error")).collect();
        assert!(errors.is_empty(), "dciodvfy errors:\n{report}");
    }

    #[test]
    fn explicit_vr_series_passes_dciodvfy_without_errors() {
        assert_valid(
            SeriesTransferSyntax::ExplicitVrLittleEndian,
            PixelEncoding::UnsignedOffset1024,
        );
    }

    #[test]
    fn implicit_vr_signed_series_passes_dciodvfy_without_errors() {
        assert_valid(
            SeriesTransferSyntax::ImplicitVrLittleEndian,
            PixelEncoding::Signed,
        );
    }

    fn ds_values(obj: &dicom_object::DefaultDicomObject, tag: Tag) -> Vec<f64> {
        obj.element(tag).unwrap().to_multi_float64().unwrap()
    }

    fn read_back(pixel_encoding: PixelEncoding) {
        let ct = small_ct();
        let dir = tempfile::tempdir().unwrap();
        let opts = CtSeriesOptions {
            uid_seed: Some(1),
            pixel_encoding,
            ..Default::default()
        };
        let files = write_ct_series(&ct, dir.path(), &opts).unwrap();
        assert_eq!(files.len(), ct.dims().k);
        let mut series = Vec::new();
        for (k, f) in files.iter().enumerate() {
            let obj = open_file(f).unwrap();
            let ipp = ds_values(&obj, tags::IMAGE_POSITION_PATIENT);
            let expected = ct.voxel_to_patient(0.0, 0.0, k as f64).0;
            for a in 0..3 {
                assert!(
                    (ipp[a] - expected[a]).abs() < 1e-4,
                    "slice {k}: {ipp:?} vs {expected:?}"
                );
            }
            assert_eq!(ds_values(&obj, tags::PIXEL_SPACING), vec![9.5, 9.0]);
            assert_eq!(
                ds_values(&obj, tags::IMAGE_ORIENTATION_PATIENT),
                vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            );
            assert_eq!(
                obj.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(),
                32
            );
            assert_eq!(
                obj.element(tags::COLUMNS).unwrap().to_int::<u16>().unwrap(),
                40
            );
            let slope = ds_values(&obj, tags::RESCALE_SLOPE)[0] as f32;
            let intercept = ds_values(&obj, tags::RESCALE_INTERCEPT)[0] as f32;
            let signed = obj
                .element(tags::PIXEL_REPRESENTATION)
                .unwrap()
                .to_int::<u16>()
                .unwrap()
                == 1;
            let raw = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
            let hu: Vec<f32> = raw
                .chunks_exact(2)
                .map(|b| {
                    let v = u16::from_le_bytes([b[0], b[1]]);
                    let v = if signed { v as i16 as f32 } else { v as f32 };
                    v * slope + intercept
                })
                .collect();
            series.push(
                obj.element(tags::SERIES_INSTANCE_UID)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
            let original: Vec<f32> = ct
                .data
                .index_axis(ndarray::Axis(0), k)
                .iter()
                .copied()
                .collect();
            assert_eq!(hu, original, "slice {k} pixels");
        }
        assert!(series.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn unsigned_series_reads_back_with_its_geometry_and_hu() {
        read_back(PixelEncoding::UnsignedOffset1024);
    }

    #[test]
    fn signed_series_reads_back_with_its_geometry_and_hu() {
        read_back(PixelEncoding::Signed);
    }

    #[test]
    fn oblique_geometry_is_written_per_slice() {
        let (s, c) = (0.2f64.sin(), 0.2f64.cos());
        let g = Geometry {
            origin: [10.0, -20.0, 30.0],
            spacing: [1.0, 1.0, 2.0],
            direction: [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
        };
        let ct = CtVolume::zeros(Dims::new(8, 6, 3), g);
        let dir = tempfile::tempdir().unwrap();
        let files = write_ct_series(&ct, dir.path(), &CtSeriesOptions::default()).unwrap();
        let obj = open_file(&files[2]).unwrap();
        let iop = ds_values(&obj, tags::IMAGE_ORIENTATION_PATIENT);
        assert!((iop[0] - c).abs() < 1e-6 && (iop[3] + s).abs() < 1e-6);
        let ipp = ds_values(&obj, tags::IMAGE_POSITION_PATIENT);
        assert!((ipp[2] - 34.0).abs() < 1e-9);
    }

    #[test]
    fn uid_seed_makes_uids_reproducible() {
        let ct = small_ct();
        let uids_of = |seed| {
            let dir = tempfile::tempdir().unwrap();
            let opts = CtSeriesOptions {
                uid_seed: Some(seed),
                ..Default::default()
            };
            let files = write_ct_series(&ct, dir.path(), &opts).unwrap();
            let obj = open_file(&files[0]).unwrap();
            obj.element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(uids_of(4), uids_of(4));
        assert_ne!(uids_of(4), uids_of(5));
    }
}
