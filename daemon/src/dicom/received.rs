//! What a received data set must carry before it can be filed: its study, series and
//! instance UIDs, all valid. Also the path from raw received bytes to the header that series
//! assembly reads, shared by the fuzz target and its stable test.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use screener_core::dicom_series::{instance_header_from, InstanceHeader, SeriesError};

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
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, ts)
        .map_err(|e| ReceivedError::Parse(e.to_string()))?;
    let identity = identify(&obj)?;
    let header = instance_header_from(Path::new("received"), &obj, ts_uid.to_owned())?;
    Ok((identity, header))
}
