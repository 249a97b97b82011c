//! What a received data set must carry before it can be filed: its study, series and
//! instance UIDs, all valid. Also the path from raw received bytes to the header that series
//! assembly reads, shared by the fuzz target and its stable test.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use screener_core::dicom_series::{instance_header_from, InstanceHeader, SeriesError};

use super::guard::check_declared_lengths;
use super::uid::{Uid, UidError};

/// The identity of a received instance: where it goes in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub study: Uid,
    pub series: Uid,
    pub sop_instance: Uid,
    pub sop_class: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{0} is absent")]
    Missing(&'static str),
    #[error("{0} is not a valid UID: {1}")]
    Invalid(&'static str, UidError),
}

/// Reads and checks the UIDs that place an instance in the spool.
pub fn identify(obj: &InMemDicomObject) -> Result<Identity, IdentityError> {
    let uid = |tag, name| -> Result<Uid, IdentityError> {
        let s = obj
            .get(tag)
            .and_then(|e| e.to_str().ok())
            .ok_or(IdentityError::Missing(name))?;
        Uid::parse(s.trim()).map_err(|e| IdentityError::Invalid(name, e))
    };
    Ok(Identity {
        study: uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        series: uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        sop_instance: uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        sop_class: uid(tags::SOP_CLASS_UID, "SOPClassUID")?.to_string(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ReceivedError {
    #[error("transfer syntax {0} is not known")]
    UnknownTransferSyntax(String),
    #[error("data set does not parse: {0}")]
    Parse(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Header(#[from] SeriesError),
}

/// Received data-set bytes (as they follow a C-STORE command) in transfer syntax `ts_uid` ->
/// the instance header series assembly uses. Never panics on any input.
pub fn header_from_received_bytes(
    bytes: &[u8],
    ts_uid: &str,
) -> Result<(Identity, InstanceHeader), ReceivedError> {
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| ReceivedError::UnknownTransferSyntax(ts_uid.to_owned()))?;
    check_declared_lengths(bytes, ts_uid).map_err(|e| ReceivedError::Parse(e.to_string()))?;
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, ts)
        .map_err(|e| ReceivedError::Parse(e.to_string()))?;
    let identity = identify(&obj)?;
    let header = instance_header_from(Path::new("received"), &obj, ts_uid.to_owned())?;
    Ok((identity, header))
}

/// Transfer syntaxes the fuzz input's first byte chooses from: the three data-set encodings
/// the listener accepts, and one encapsulated syntax (explicit LE with pixel fragments).
pub const FUZZ_TRANSFER_SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.80",
];

/// The fuzzing entry point, shared by `fuzz/` and the stable mutation test: the first byte
/// picks the transfer syntax, the rest is a received data set. It goes through
/// [`header_from_received_bytes`] and, when that succeeds, through series assembly with the
/// instance alone and next to a copy one slice further along. Must never panic.
pub fn exercise_received_bytes(input: &[u8]) {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let ts = FUZZ_TRANSFER_SYNTAXES[selector as usize % FUZZ_TRANSFER_SYNTAXES.len()];
    let Ok((_, header)) = header_from_received_bytes(data, ts) else {
        return;
    };
    let _ = screener_core::dicom_series::layout_series(std::slice::from_ref(&header));
    let mut next = header.clone();
    next.sop_instance_uid.push_str(".1");
    for f in &mut next.frames {
        let o = f.orientation;
        let normal = [
            o[1] * o[5] - o[2] * o[4],
            o[2] * o[3] - o[0] * o[5],
            o[0] * o[4] - o[1] * o[3],
        ];
        for (p, n) in f.position.iter_mut().zip(normal) {
            *p += n * f.pixel_spacing[0];
        }
    }
    let _ = screener_core::dicom_series::layout_series(&[header, next]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz findings, minimised: selector byte + data set, as `exercise_received_bytes` takes
    /// them. Each made dicom-parser allocate far more than the bytes present. The path goes
    /// through `daemon/` so it also resolves when the fuzz crate compiles this file.
    const REGRESSIONS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../daemon/tests/data/fuzz-regressions"
    );

    #[test]
    fn inputs_the_fuzzer_found_are_refused_by_the_guard_before_parsing() {
        let mut checked = 0;
        for entry in std::fs::read_dir(REGRESSIONS).unwrap() {
            let path = entry.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let ts = FUZZ_TRANSFER_SYNTAXES[input[0] as usize % FUZZ_TRANSFER_SYNTAXES.len()];
            assert!(
                check_declared_lengths(&input[1..], ts).is_err(),
                "{} passes the guard",
                path.display()
            );
            assert!(matches!(
                header_from_received_bytes(&input[1..], ts),
                Err(ReceivedError::Parse(_))
            ));
            exercise_received_bytes(&input);
            checked += 1;
        }
        assert!(checked >= 2, "regression inputs missing from {REGRESSIONS}");
    }
}
