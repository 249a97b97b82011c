//! Reads a DICOM Part 10 file as the sender needs it: the file meta (SOP class, instance,
//! transfer syntax) and the data-set bytes exactly as stored, so they go on the wire
//! unchanged when the peer accepts the file's own transfer syntax.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use dicom_object::meta::FileMetaTable;

use super::syntax::trim_uid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10Meta {
    pub sop_class: String,
    pub sop_instance: String,
    pub transfer_syntax: String,
    /// Byte offset where the data set starts.
    pub data_set_offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum Part10Error {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a DICOM Part 10 file: {0}")]
    NotPart10(String),
}

/// Reads the preamble and file meta group of `path`.
pub fn read_meta(path: &Path) -> Result<Part10Meta, Part10Error> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut preamble = [0u8; 128];
    reader.read_exact(&mut preamble)?;
    // The meta table parser reads "DICM" and the whole group; we need its length too.
    let mut head = [0u8; 16];
    reader.read_exact(&mut head)?;
    if &head[0..4] != b"DICM" || head[4..8] != [2, 0, 0, 0] || &head[8..10] != b"UL" {
        return Err(Part10Error::NotPart10(
            "no DICM prefix or file meta group length".into(),
        ));
    }
    let group_len = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as u64;
    let meta = FileMetaTable::from_reader(head.as_slice().chain(reader))
        .map_err(|e| Part10Error::NotPart10(e.to_string()))?;
    Ok(Part10Meta {
        sop_class: trim_uid(meta.media_storage_sop_class_uid()).to_owned(),
        sop_instance: trim_uid(meta.media_storage_sop_instance_uid()).to_owned(),
        transfer_syntax: trim_uid(meta.transfer_syntax()).to_owned(),
        data_set_offset: 128 + 4 + 12 + group_len,
    })
}

/// The data-set bytes of a file whose meta was read with [`read_meta`].
pub fn read_data_set(path: &Path, meta: &Part10Meta) -> Result<Vec<u8>, Part10Error> {
    let bytes = std::fs::read(path)?;
    bytes
        .get(meta.data_set_offset as usize..)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Part10Error::NotPart10("file shorter than its meta group".into()))
}
