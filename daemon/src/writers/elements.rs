//! Small builders for the data elements both writers put: strings, numbers, sequences,
//! coded concepts, decimal strings, the content date and time, and the equipment identity.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{FileDicomObject, InMemDicomObject};

use super::WriterError;

pub(crate) type Obj = InMemDicomObject;

/// Shorthands for putting elements into a data set.
pub(crate) trait Put {
    fn text(&mut self, tag: Tag, vr: VR, value: &str);
    fn texts(&mut self, tag: Tag, vr: VR, values: Vec<String>);
    fn u16(&mut self, tag: Tag, value: u16);
    fn u32s(&mut self, tag: Tag, values: Vec<u32>);
    fn attribute_tags(&mut self, tag: Tag, values: Vec<Tag>);
    fn seq(&mut self, tag: Tag, items: Vec<Obj>);
    fn bytes(&mut self, tag: Tag, vr: VR, bytes: Vec<u8>);
}

impl Put for Obj {
    fn text(&mut self, tag: Tag, vr: VR, value: &str) {
        self.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    fn texts(&mut self, tag: Tag, vr: VR, values: Vec<String>) {
        self.put(DataElement::new(
            tag,
            vr,
            PrimitiveValue::Strs(values.into()),
        ));
    }
    fn u16(&mut self, tag: Tag, value: u16) {
        self.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }
    fn u32s(&mut self, tag: Tag, values: Vec<u32>) {
        self.put(DataElement::new(
            tag,
            VR::UL,
            PrimitiveValue::U32(values.into()),
        ));
    }
    fn attribute_tags(&mut self, tag: Tag, values: Vec<Tag>) {
        self.put(DataElement::new(
            tag,
            VR::AT,
            PrimitiveValue::Tags(values.into()),
        ));
    }
    fn seq(&mut self, tag: Tag, items: Vec<Obj>) {
        self.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
    }
    fn bytes(&mut self, tag: Tag, vr: VR, bytes: Vec<u8>) {
        self.put(DataElement::new(tag, vr, PrimitiveValue::U8(bytes.into())));
    }
}

/// An item of a code sequence (Code Sequence Macro, basic form).
pub(crate) fn code(value: &str, scheme: &str, meaning: &str) -> Obj {
    let mut item = Obj::new_empty();
    item.text(tags::CODE_VALUE, VR::SH, value);
    item.text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
    item.text(tags::CODE_MEANING, VR::LO, meaning);
    item
}

/// A data set with one element built by `f`, for one-item sequences.
pub(crate) fn item(f: impl FnOnce(&mut Obj)) -> Obj {
    let mut obj = Obj::new_empty();
    f(&mut obj);
    obj
}

pub(crate) use screener_core::dicom_text::decimal_string as ds;

pub(crate) fn ds_all(values: &[f64]) -> Vec<String> {
    values.iter().map(|&v| ds(v)).collect()
}

/// Content and instance creation date (`YYYYMMDD`) and time (`HHMMSS`), in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDateTime {
    pub date: String,
    pub time: String,
}

impl ContentDateTime {
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::from_unix_seconds(secs)
    }

    pub fn from_unix_seconds(secs: u64) -> Self {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        Self {
            date: format!("{y:04}{m:02}{d:02}"),
            time: format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
        }
    }
}

/// Gregorian calendar date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The device that made a derived object (Enhanced General Equipment module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equipment {
    pub manufacturer: String,
    pub model_name: String,
    pub device_serial_number: String,
    pub software_version: String,
}

impl Default for Equipment {
    fn default() -> Self {
        Self {
            manufacturer: "Screener".into(),
            model_name: "Screener DICOM node".into(),
            device_serial_number: "0".into(),
            software_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

impl Equipment {
    pub(crate) fn put_into(&self, obj: &mut Obj) {
        obj.text(tags::MANUFACTURER, VR::LO, &self.manufacturer);
        obj.text(tags::MANUFACTURER_MODEL_NAME, VR::LO, &self.model_name);
        obj.text(
            tags::DEVICE_SERIAL_NUMBER,
            VR::LO,
            &self.device_serial_number,
        );
        obj.text(tags::SOFTWARE_VERSIONS, VR::LO, &self.software_version);
    }
}

/// Puts the SOP common attributes and wraps `obj` with its file meta group.
pub(crate) fn finish(
    mut obj: Obj,
    sop_class: &str,
    sop_instance: &str,
    created: &ContentDateTime,
) -> Result<FileDicomObject<Obj>, WriterError> {
    obj.text(tags::SOP_CLASS_UID, VR::UI, sop_class);
    obj.text(tags::SOP_INSTANCE_UID, VR::UI, sop_instance);
    obj.text(tags::INSTANCE_CREATION_DATE, VR::DA, &created.date);
    obj.text(tags::INSTANCE_CREATION_TIME, VR::TM, &created.time);
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN)
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(sop_instance),
    )
    .map_err(|e| WriterError::Write {
        path: Default::default(),
        reason: format!("file meta group of {sop_instance}: {e}"),
    })
}

pub(crate) fn save(file: &FileDicomObject<Obj>, path: &Path) -> Result<(), WriterError> {
    file.write_to_file(path).map_err(|e| WriterError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_in_sixteen_characters() {
        assert_eq!(ds(0.859375), "0.859375");
        assert_eq!(ds(-178.329), "-178.329");
        assert_eq!(ds(-0.0000001), "0");
        assert!(ds(-123456789.123456).len() <= 16);
    }

    #[test]
    fn unix_seconds_become_a_utc_date_and_time() {
        let t = ContentDateTime::from_unix_seconds(1_709_210_096);
        assert_eq!(t.date, "20240229");
        assert_eq!(t.time, "123456");
        assert_eq!(ContentDateTime::from_unix_seconds(0).date, "19700101");
    }
}
