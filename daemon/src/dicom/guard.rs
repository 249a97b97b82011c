//! Length guard: checks that every length a data set declares fits in the bytes that were
//! actually received, before dicom-parser sees it.
//!
//! dicom-parser 0.10 allocates a value's declared length up front (zero-filled) and only then
//! reads it, so a few bytes declaring a 4 GB element cost 4 GB of memory; a handful of such
//! instances over concurrent associations would get the node killed. Found by the fuzz test.
//! This walk reads element headers only and skips values by reading and discarding them,
//! so its memory use is constant.

use std::io::{self, Read};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::syntax::{DEFLATED_EXPLICIT_VR_LE, IMPLICIT_VR_LE};

const UNDEFINED: u32 = 0xFFFF_FFFF;

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("element ({0:04X},{1:04X}) declares {2} bytes beyond the end of the data set")]
    Overrun(u16, u16, u32),
    #[error("element ({0:04X},{1:04X}) has an undefined length but is not a sequence")]
    UndefinedLength(u16, u16),
    #[error("data set ends inside an element header")]
    TruncatedHeader,
    #[error("reading the data set: {0}")]
    Io(#[from] io::Error),
}

/// Walks the whole data set read from `reader`, in transfer syntax `ts` (little endian only;
/// the listener accepts nothing else). Pixel data is walked too: a flat walk cannot tell
/// top-level Pixel Data from an icon's, and reading it from the page cache is cheap.
pub fn check_declared_lengths(reader: impl Read, ts: &str) -> Result<(), GuardError> {
    if ts == DEFLATED_EXPLICIT_VR_LE {
        let inflated = flate2::read::DeflateDecoder::new(reader);
        return walk(io::BufReader::new(inflated), true);
    }
    walk(io::BufReader::new(reader), ts != IMPLICIT_VR_LE)
}

fn walk(mut r: impl Read, explicit: bool) -> Result<(), GuardError> {
    // Inside encapsulated pixel data, items are fragments of raw bytes, not data sets.
    let mut in_fragments = false;
    loop {
        let mut tag = [0u8; 4];
        match read_full(&mut r, &mut tag)? {
            0 => return Ok(()),
            4 => {}
            _ => return Err(GuardError::TruncatedHeader),
        }
        let group = u16::from_le_bytes([tag[0], tag[1]]);
        let element = u16::from_le_bytes([tag[2], tag[3]]);
        if group == 0xFFFE {
            // Items and delimiters carry a 4-byte length and no VR.
            let len = u32_le(&mut r)?;
            match element {
                0xE000 if in_fragments => skip(&mut r, group, element, len)?,
                // A sequence item's content is walked in place.
                0xE000 | 0xE00D => {}
                0xE0DD => in_fragments = false,
                // Any other (FFFE,xxxx) is read by dicom-parser as a value of that length.
                _ if len == UNDEFINED => return Err(GuardError::UndefinedLength(group, element)),
                _ => skip(&mut r, group, element, len)?,
            }
            continue;
        }
        if in_fragments {
            return Err(GuardError::Overrun(group, element, 0));
        }
        let (len, vr) = if explicit {
            let mut vr = [0u8; 2];
            exact(&mut r, &mut vr)?;
            if long_form(&vr) {
                exact(&mut r, &mut [0u8; 2])?;
                (u32_le(&mut r)?, vr)
            } else {
                let mut l = [0u8; 2];
                exact(&mut r, &mut l)?;
                (u16::from_le_bytes(l) as u32, vr)
            }
        } else {
            let len = u32_le(&mut r)?;
            let vr = if is_sequence_tag(Tag(group, element)) {
                *b"SQ"
            } else {
                *b"UN"
            };
            (len, vr)
        };
        let pixel_data = (group, element) == (0x7FE0, 0x0010);
        match (len, &vr) {
            // Sequences, of defined or undefined length: their items follow and are walked.
            (_, b"SQ") => {}
            (UNDEFINED, b"OB" | b"OW") if pixel_data => in_fragments = true,
            // Implicit VR: an element of undefined length is read as a sequence.
            (UNDEFINED, _) if !explicit && !pixel_data => {}
            // Explicit UN of undefined length holds implicit-VR content this walk does not
            // follow; legal, but not seen from CT modalities, so it is refused.
            (UNDEFINED, _) => return Err(GuardError::UndefinedLength(group, element)),
            _ => skip(&mut r, group, element, len)?,
        }
    }
}

/// Reads and discards a value, failing if the input ends first.
fn skip(r: &mut impl Read, group: u16, element: u16, len: u32) -> Result<(), GuardError> {
    let skipped = io::copy(&mut r.take(len as u64), &mut io::sink())?;
    if skipped < len as u64 {
        return Err(GuardError::Overrun(group, element, len));
    }
    Ok(())
}

/// Explicit VR encodings with a 2-byte reserved field and a 4-byte length: all but the
/// short-form VRs of PS3.5 7.1.2. Unknown VR bytes count as UN, as dicom-parser reads them.
fn long_form(vr: &[u8; 2]) -> bool {
    !matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

fn is_sequence_tag(tag: Tag) -> bool {
    StandardDataDictionary
        .by_tag(tag)
        .is_some_and(|e| e.vr() == VirtualVr::Exact(VR::SQ))
}

fn u32_le(r: &mut impl Read) -> Result<u32, GuardError> {
    let mut b = [0u8; 4];
    exact(r, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), GuardError> {
    if read_full(r, buf)? < buf.len() {
        return Err(GuardError::TruncatedHeader);
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; the count read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPLICIT: &str = "1.2.840.10008.1.2.1";

    #[test]
    fn a_length_beyond_the_received_bytes_is_refused_without_allocating_it() {
        // (0010,0010) PN declaring 0xFFF0 bytes, 2 present.
        let short = [0x10, 0, 0x10, 0, b'P', b'N', 0xF0, 0xFF, b'A', b'B'];
        assert!(matches!(
            check_declared_lengths(&short[..], EXPLICIT),
            Err(GuardError::Overrun(0x10, 0x10, 0xFFF0))
        ));
        // (7FE0,0010) OW declaring 3 GB.
        let huge = [0xE0, 0x7F, 0x10, 0, b'O', b'W', 0, 0, 0, 0, 0, 0xC0];
        assert!(check_declared_lengths(&huge[..], EXPLICIT).is_err());
        // Unknown VR bytes are read as UN: reserved field and 4-byte length.
        let unknown = [0x10, 0, 0x10, 0, b'x', b'y', 0, 0, 0, 0, 0, 0x40];
        assert!(check_declared_lengths(&unknown[..], EXPLICIT).is_err());
        // (FFFE,xxxx) other than items and delimiters carries a value.
        let odd = [0xFE, 0xFF, 0x0D, 0xDF, 0xFF, 0xFF, 0xFF, 0xFC];
        assert!(check_declared_lengths(&odd[..], EXPLICIT).is_err());
        // Implicit VR: 4-byte length.
        let implicit = [0x10, 0, 0x10, 0, 0, 0, 0, 0x40, 1, 2];
        assert!(check_declared_lengths(&implicit[..], IMPLICIT_VR_LE).is_err());
    }

    #[test]
    fn well_formed_sequences_and_encapsulated_pixel_data_pass() {
        let mut ds = vec![0x10, 0, 0x10, 0, b'P', b'N', 2, 0, b'A', b'B'];
        // (0008,1115) SQ undefined length, one item of defined length 10, delimiter.
        ds.extend([
            0x08, 0, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        ds.extend([0xFE, 0xFF, 0x00, 0xE0, 10, 0, 0, 0]);
        ds.extend([0x08, 0, 0x50, 0x11, b'U', b'I', 2, 0, b'1', 0]);
        ds.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        // Encapsulated pixel data: empty offset table, one 6-byte fragment of raw bytes.
        ds.extend([
            0xE0, 0x7F, 0x10, 0, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        ds.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        ds.extend([
            0xFE, 0xFF, 0x00, 0xE0, 6, 0, 0, 0, 0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        ds.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        check_declared_lengths(&ds[..], EXPLICIT).unwrap();
        assert!(check_declared_lengths(&ds[..ds.len() - 11], EXPLICIT).is_err());
    }
}
