//! Length guard: checks, before dicom-parser sees a received data set, that every length the
//! parser would act on fits in the bytes that were actually received.
//!
//! dicom-parser 0.10 allocates a value's declared length up front (zero-filled, or reserved for
//! pixel fragments and the offset table) and only then reads it, so a few bytes declaring a
//! 4 GB element cost 4 GB of memory; a handful of such instances over concurrent associations
//! would get the node killed. A flat walk over element headers is not enough: the parser is a
//! state machine (sequence level vs. element level, items of defined length, encapsulated pixel
//! data, a stream position that runs ahead of the bytes read for misaligned binary values), and
//! wherever the two disagree a crafted input makes the parser read a value that the walk
//! skipped as structure (found by `cargo fuzz`, see `docs/fuzzing.md`). So this walk replays
//! the parser's own framing (`DataSetReader::next` and `StatefulDecoder` in dicom-parser
//! 0.10.1) and replaces every value read by a bounded skip. It reads headers only and discards
//! values, so its memory use is constant.
//!
//! What it refuses, beyond what the parser refuses itself:
//! - a value, pixel fragment or offset table whose bytes are not all present;
//! - more than [`MAX_NESTED_SEQUENCES`] sequences inside one another (the parser and
//!   dicom-object build nested sequences by recursion, so depth costs stack);
//! - a deflated data set that inflates to more than [`MAX_INFLATED_BYTES`];
//! - big-endian transfer syntaxes (the listener accepts none).
//!
//! Bound that follows: the parser allocates at most the bytes present for any one value, four
//! times that for a pixel offset table (a `Vec<u32>` reserved with the byte count).

use std::cmp::Ordering;
use std::io::{self, Read};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use super::syntax::{DEFLATED_EXPLICIT_VR_LE, IMPLICIT_VR_LE};

/// Sequences nested inside one another. CT objects use three or four levels (functional
/// groups -> macro sequence -> code sequence); 32 is far above that and far below what
/// overflows a 2 MiB thread stack in dicom-object's recursive reader.
pub const MAX_NESTED_SEQUENCES: usize = 32;

/// What a deflated data set may inflate to: a deflate stream expands up to about a thousand
/// times, so the received size alone does not bound what the parser then allocates.
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Explicit VR Big Endian (retired): the only big-endian syntax a peer could propose.
const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";

const UNDEFINED: u32 = u32::MAX;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const PIXEL_REPRESENTATION: Tag = Tag(0x0028, 0x0103);

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("element {0} declares {1} bytes beyond the end of the data set")]
    Overrun(Tag, u32),
    #[error("sequences are nested more than {MAX_NESTED_SEQUENCES} deep")]
    TooDeep,
    #[error("the deflated data set inflates to more than {MAX_INFLATED_BYTES} bytes")]
    InflatesTooFar,
    #[error("transfer syntax {0} is big endian; only little-endian data sets are accepted")]
    BigEndian(String),
    #[error("malformed data set at byte {at}: {what}")]
    Malformed { at: u64, what: &'static str },
    #[error("data set ends inside an element header")]
    TruncatedHeader,
    #[error("reading the data set: {0}")]
    Io(#[from] io::Error),
}

/// Walks the whole data set read from `reader`, in transfer syntax `ts`. Pixel data is walked
/// too: reading it from the page cache is cheap, and the fuzz target parses all of it.
pub fn check_declared_lengths(reader: impl Read, ts: &str) -> Result<(), GuardError> {
    if ts == EXPLICIT_VR_BE {
        return Err(GuardError::BigEndian(ts.to_owned()));
    }
    if ts == DEFLATED_EXPLICIT_VR_LE {
        return check_inflated(reader, MAX_INFLATED_BYTES);
    }
    Walk::new(io::BufReader::new(reader), ts != IMPLICIT_VR_LE).run()
}

/// The deflated case, with the inflation limit as a parameter so tests can use a small one.
fn check_inflated(deflated: impl Read, limit: u64) -> Result<(), GuardError> {
    let inflated = flate2::read::DeflateDecoder::new(deflated).take(limit + 1);
    let mut walk = Walk::new(io::BufReader::new(inflated), true);
    let result = walk.run();
    if walk.input.count > limit {
        return Err(GuardError::InflatesTooFar);
    }
    result
}

/// An open sequence or item, as dicom-parser's `SeqToken`.
struct Open {
    item: bool,
    pixel_data: bool,
    len: u32,
    /// The parser's position just after the header, where a defined length starts counting.
    base: u64,
}

#[derive(Clone, Copy)]
struct Header {
    tag: Tag,
    vr: VR,
    len: u32,
}

enum Flow {
    Continue,
    End,
}

/// The parser's reading state; field names follow `DataSetReader` so the two can be compared
/// line by line when dicom-parser is upgraded.
struct Walk<R> {
    input: Counted<R>,
    explicit: bool,
    /// The parser's position. It advances by declared lengths, so for a binary value whose
    /// length is not a multiple of its item size it runs ahead of the bytes actually read.
    position: u64,
    seq_delimiters: Vec<Open>,
    in_sequence: bool,
    delimiter_check_pending: bool,
    offset_table_next: bool,
    last_header: Option<Header>,
    /// Set by Pixel Representation; turns US/SS-ambiguous elements (Xs) into SS.
    signed_pixeldata: Option<bool>,
}

impl<R: Read> Walk<R> {
    fn new(input: R, explicit: bool) -> Self {
        Walk {
            input: Counted {
                inner: input,
                count: 0,
            },
            explicit,
            position: 0,
            seq_delimiters: Vec::new(),
            in_sequence: false,
            delimiter_check_pending: false,
            offset_table_next: false,
            last_header: None,
            signed_pixeldata: None,
        }
    }

    /// One parser token per iteration, in the order `DataSetReader::next` decides them.
    fn run(&mut self) -> Result<(), GuardError> {
        loop {
            if self.delimiter_check_pending {
                if self.close_at_declared_end()? {
                    continue;
                }
                self.delimiter_check_pending = false;
            }
            let flow = if self.in_sequence {
                self.sequence_level_header()?
            } else if matches!(self.seq_delimiters.last(), Some(o) if o.item && o.pixel_data) {
                self.pixel_item_value()?
            } else if let Some(header) = self.last_header.take() {
                if header.tag == PIXEL_DATA && header.len == UNDEFINED {
                    self.pixel_sequence_start()?
                } else {
                    self.value(header)?
                }
            } else {
                self.element_header()?
            };
            if let Flow::End = flow {
                return Ok(());
            }
        }
    }

    /// Closes the innermost sequence or item if its defined length ends here.
    fn close_at_declared_end(&mut self) -> Result<bool, GuardError> {
        let Some(open) = self.seq_delimiters.last() else {
            return Ok(false);
        };
        if open.len == UNDEFINED {
            return Ok(false);
        }
        match (open.base + open.len as u64).cmp(&self.position) {
            Ordering::Equal => {
                self.in_sequence = open.item;
                self.seq_delimiters.pop();
                Ok(true)
            }
            Ordering::Less => Err(self.malformed("content runs past a sequence's declared end")),
            Ordering::Greater => Ok(false),
        }
    }

    /// Inside a sequence: an item or a delimiter.
    fn sequence_level_header(&mut self) -> Result<Flow, GuardError> {
        let Some((tag, len)) = self.item_header()? else {
            // The parser ends quietly only when the input stops inside pixel data.
            return match self.seq_delimiters.pop() {
                Some(open) if open.pixel_data => Ok(Flow::End),
                _ => Err(GuardError::TruncatedHeader),
            };
        };
        match tag {
            ITEM => {
                self.in_sequence = false;
                let pixel_data = match self.seq_delimiters.last() {
                    Some(open) => open.pixel_data,
                    None => return Err(self.malformed("item outside a sequence")),
                };
                self.open(true, len, pixel_data)?;
                if len == 0 {
                    self.delimiter_check_pending = true;
                }
            }
            ITEM_DELIMITER if len == 0 => {
                self.seq_delimiters.pop();
                self.in_sequence = true;
                self.delimiter_check_pending = true;
            }
            SEQUENCE_DELIMITER => {
                self.seq_delimiters.pop();
                self.in_sequence = false;
                self.delimiter_check_pending = true;
            }
            _ => return Err(self.malformed("expected an item or a delimiter")),
        }
        Ok(Flow::Continue)
    }

    /// The content of a pixel data item: the offset table first, then fragments.
    fn pixel_item_value(&mut self) -> Result<Flow, GuardError> {
        let len = self.seq_delimiters.last().map_or(0, |o| o.len);
        if len == UNDEFINED {
            return Err(self.malformed("pixel data item of undefined length"));
        }
        self.delimiter_check_pending = true;
        if self.offset_table_next {
            // Read as whole u32s; the position advances by what was read.
            self.offset_table_next = false;
            let read = len / 4 * 4;
            self.skip(ITEM, len, read)?;
            self.position += read as u64;
        } else {
            self.skip(ITEM, len, len)?;
            self.position += len as u64;
        }
        Ok(Flow::Continue)
    }

    /// Encapsulated pixel data: a pixel sequence whose first item is the offset table.
    fn pixel_sequence_start(&mut self) -> Result<Flow, GuardError> {
        self.open(false, UNDEFINED, true)?;
        let Some((tag, len)) = self.item_header()? else {
            return Err(GuardError::TruncatedHeader);
        };
        match tag {
            ITEM => {
                self.in_sequence = false;
                self.open(true, len, true)?;
                if len == 0 {
                    self.delimiter_check_pending = true;
                } else {
                    self.offset_table_next = true;
                }
            }
            SEQUENCE_DELIMITER => {
                self.seq_delimiters.pop();
                self.in_sequence = false;
            }
            _ => return Err(self.malformed("pixel data does not start with an item")),
        }
        Ok(Flow::Continue)
    }

    /// A primitive value: read by the parser in whole items of its VR's size.
    fn value(&mut self, header: Header) -> Result<Flow, GuardError> {
        self.delimiter_check_pending = true;
        if header.len == 0 {
            return Ok(Flow::Continue);
        }
        let unit = match header.vr {
            VR::SQ => return Err(self.malformed("sequence read as a value")),
            VR::US | VR::SS | VR::OW => 2,
            VR::AT | VR::FL | VR::OF | VR::SL | VR::OL | VR::UL => 4,
            VR::FD | VR::OD | VR::SV | VR::OV | VR::UV => 8,
            _ => 1,
        };
        let read = header.len / unit * unit;
        if header.tag == PIXEL_REPRESENTATION && matches!(header.vr, VR::US | VR::OW) {
            self.signed_pixeldata = if read >= 2 {
                let mut first = [0u8; 2];
                self.exact(&mut first)?;
                self.skip(header.tag, header.len, read - 2)?;
                Some(u16::from_le_bytes(first) != 0)
            } else {
                None
            };
        } else {
            self.skip(header.tag, header.len, read)?;
        }
        self.position += header.len as u64;
        Ok(Flow::Continue)
    }

    /// An element header at data-set level, and what the parser makes of it.
    fn element_header(&mut self) -> Result<Flow, GuardError> {
        let mut raw = [0u8; 4];
        if read_full(&mut self.input, &mut raw)? < 4 {
            // The parser takes the end of input at a tag as the end of the data set.
            return Ok(Flow::End);
        }
        let tag = Tag(
            u16::from_le_bytes([raw[0], raw[1]]),
            u16::from_le_bytes([raw[2], raw[3]]),
        );
        let (vr, len) = if !self.explicit {
            let len = self.u32_le()?;
            self.position += 8;
            (implicit_vr(tag), len)
        } else if tag.0 == 0xFFFE {
            // Items and delimiters carry no VR in any encoding.
            let len = self.u32_le()?;
            self.position += 8;
            (VR::UN, len)
        } else {
            let mut code = [0u8; 2];
            self.exact(&mut code)?;
            let vr = VR::from_binary(code).unwrap_or(VR::UN);
            if short_length(vr) {
                self.exact(&mut code)?;
                self.position += 8;
                (vr, u16::from_le_bytes(code) as u32)
            } else {
                self.exact(&mut code)?;
                let len = self.u32_le()?;
                self.position += 12;
                (vr, len)
            }
        };
        let vr = if self.signed_pixeldata == Some(true) && is_xs(tag) {
            VR::SS
        } else {
            vr
        };
        if vr == VR::SQ {
            self.in_sequence = true;
            self.open(false, len, false)?;
            if len == 0 {
                self.delimiter_check_pending = true;
            }
        } else if tag == ITEM_DELIMITER {
            // Outside any sequence the parser ignores it, length and all.
            if !self.seq_delimiters.is_empty() {
                self.in_sequence = true;
                self.seq_delimiters.pop();
                self.delimiter_check_pending = true;
            }
        } else if len == UNDEFINED && tag != PIXEL_DATA {
            // Any other element of undefined length is read as a sequence.
            self.in_sequence = true;
            self.open(false, UNDEFINED, false)?;
        } else {
            self.last_header = Some(Header { tag, vr, len });
        }
        Ok(Flow::Continue)
    }

    fn open(&mut self, item: bool, len: u32, pixel_data: bool) -> Result<(), GuardError> {
        // A sequence and one of its items per level (a pixel data sequence counts as one).
        if self.seq_delimiters.len() >= 2 * MAX_NESTED_SEQUENCES {
            return Err(GuardError::TooDeep);
        }
        self.seq_delimiters.push(Open {
            item,
            pixel_data,
            len,
            base: self.position,
        });
        Ok(())
    }

    /// An item or delimiter header (tag and 4-byte length); `None` at the end of input.
    fn item_header(&mut self) -> Result<Option<(Tag, u32)>, GuardError> {
        let mut raw = [0u8; 8];
        if read_full(&mut self.input, &mut raw)? < 8 {
            return Ok(None);
        }
        self.position += 8;
        let tag = Tag(
            u16::from_le_bytes([raw[0], raw[1]]),
            u16::from_le_bytes([raw[2], raw[3]]),
        );
        Ok(Some((
            tag,
            u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]),
        )))
    }

    /// Reads and discards the `read` bytes the parser would read of a value declared as `len`,
    /// failing if the input ends first.
    fn skip(&mut self, tag: Tag, len: u32, read: u32) -> Result<(), GuardError> {
        let skipped = io::copy(&mut (&mut self.input).take(read as u64), &mut io::sink())?;
        if skipped < read as u64 {
            return Err(GuardError::Overrun(tag, len));
        }
        Ok(())
    }

    fn u32_le(&mut self) -> Result<u32, GuardError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), GuardError> {
        if read_full(&mut self.input, buf)? < buf.len() {
            return Err(GuardError::TruncatedHeader);
        }
        Ok(())
    }

    fn malformed(&self, what: &'static str) -> GuardError {
        GuardError::Malformed {
            at: self.input.count,
            what,
        }
    }
}

/// VRs whose explicit length field is 16 bits (PS3.5 7.1.2), as dicom-encoding reads them.
fn short_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::AT
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::FL
            | VR::FD
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::SL
            | VR::SS
            | VR::ST
            | VR::TM
            | VR::UI
            | VR::UL
            | VR::US
    )
}

/// The VR dicom-encoding's implicit VR decoder assigns: OW for pixel and overlay data, the
/// dictionary's otherwise, UN for unknown tags.
fn implicit_vr(tag: Tag) -> VR {
    if tag == PIXEL_DATA || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        return VR::OW;
    }
    StandardDataDictionary
        .by_tag(tag)
        .map_or(VR::UN, |e| e.vr().relaxed())
}

fn is_xs(tag: Tag) -> bool {
    StandardDataDictionary
        .by_tag(tag)
        .is_some_and(|e| e.vr() == VirtualVr::Xs)
}

/// Counts the bytes read, for error positions and the inflation limit.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
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
    use std::io::Write;

    use dicom_encoding::TransferSyntaxIndex;
    use dicom_object::InMemDicomObject;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

    use super::*;

    const EXPLICIT: &str = "1.2.840.10008.1.2.1";

    /// Explicit VR element with a 16-bit length.
    fn short(group: u16, element: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = tag_bytes(group, element);
        v.extend(vr);
        v.extend((value.len() as u16).to_le_bytes());
        v.extend(value);
        v
    }

    /// Explicit VR element with a reserved field and a 32-bit length, declared separately.
    fn long(group: u16, element: u16, vr: &[u8; 2], len: u32, value: &[u8]) -> Vec<u8> {
        let mut v = tag_bytes(group, element);
        v.extend(vr);
        v.extend([0, 0]);
        v.extend(len.to_le_bytes());
        v.extend(value);
        v
    }

    /// Item, item delimiter or sequence delimiter header: (FFFE,element) and a 32-bit length.
    fn fffe(element: u16, len: u32) -> Vec<u8> {
        let mut v = tag_bytes(0xFFFE, element);
        v.extend(len.to_le_bytes());
        v
    }

    fn tag_bytes(group: u16, element: u16) -> Vec<u8> {
        let mut v = group.to_le_bytes().to_vec();
        v.extend(element.to_le_bytes());
        v
    }

    fn parses(bytes: &[u8], ts: &str) -> bool {
        let ts = TransferSyntaxRegistry.get(ts).unwrap();
        InMemDicomObject::read_dataset_with_ts(bytes, ts).is_ok()
    }

    /// `depth` sequences of undefined length, each in an item of the one outside it.
    fn nested(depth: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..depth {
            v.extend(long(0x0008, 0x1115, b"SQ", UNDEFINED, &[]));
            v.extend(fffe(0xE000, UNDEFINED));
        }
        v.extend(short(0x0010, 0x0010, b"PN", b"AB"));
        for _ in 0..depth {
            v.extend(fffe(0xE00D, 0));
            v.extend(fffe(0xE0DD, 0));
        }
        v
    }

    #[test]
    fn a_length_beyond_the_received_bytes_is_refused_without_allocating_it() {
        let short_value = [0x10, 0, 0x10, 0, b'P', b'N', 0xF0, 0xFF, b'A', b'B'];
        assert!(matches!(
            check_declared_lengths(&short_value[..], EXPLICIT),
            Err(GuardError::Overrun(Tag(0x10, 0x10), 0xFFF0))
        ));
        let pixel_data = long(0x7FE0, 0x0010, b"OW", 0xC000_0000, &[]);
        assert!(check_declared_lengths(&pixel_data[..], EXPLICIT).is_err());
        // Unknown VR bytes are read as UN: reserved field and 4-byte length.
        let unknown = long(0x0010, 0x0010, b"xy", 0x4000_0000, &[]);
        assert!(check_declared_lengths(&unknown[..], EXPLICIT).is_err());
        // Implicit VR: 4-byte length after the tag.
        let implicit = [0x10, 0, 0x10, 0, 0, 0, 0, 0x40, 1, 2];
        assert!(check_declared_lengths(&implicit[..], IMPLICIT_VR_LE).is_err());
    }

    #[test]
    fn well_formed_sequences_and_encapsulated_pixel_data_pass() {
        let mut ds = short(0x0010, 0x0010, b"PN", b"AB");
        ds.extend(long(0x0008, 0x1115, b"SQ", UNDEFINED, &[]));
        ds.extend(fffe(0xE000, 10));
        ds.extend(short(0x0008, 0x1150, b"UI", b"1\0"));
        ds.extend(fffe(0xE0DD, 0));
        // Encapsulated pixel data: empty offset table, one 6-byte fragment.
        ds.extend(long(0x7FE0, 0x0010, b"OB", UNDEFINED, &[]));
        ds.extend(fffe(0xE000, 0));
        ds.extend(fffe(0xE000, 6));
        ds.extend([0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xFF]);
        ds.extend(fffe(0xE0DD, 0));
        check_declared_lengths(&ds[..], EXPLICIT).unwrap();
        assert!(parses(&ds, EXPLICIT));
        assert!(check_declared_lengths(&ds[..ds.len() - 11], EXPLICIT).is_err());
    }

    /// The first fuzz finding: outside a sequence the parser reads (FFFE,E000) as an element
    /// and allocates its length; the flat walk had taken it for an item and stepped inside.
    #[test]
    fn an_item_header_outside_a_sequence_is_a_value_whose_length_is_checked() {
        let mut ds = short(0x0010, 0x0010, b"PN", b"AB");
        ds.extend(fffe(0xE000, 0xFFFF_FF1C));
        ds.extend(short(0x0010, 0x0020, b"LO", b"ID"));
        assert!(matches!(
            check_declared_lengths(&ds[..], EXPLICIT),
            Err(GuardError::Overrun(ITEM, 0xFFFF_FF1C))
        ));
        // The same with a length that is there passes, and the parser agrees.
        let mut ds = short(0x0010, 0x0010, b"PN", b"AB");
        ds.extend(fffe(0xE000, 2));
        ds.extend([1, 2]);
        check_declared_lengths(&ds[..], EXPLICIT).unwrap();
        assert!(parses(&ds, EXPLICIT));
    }

    #[test]
    fn a_sequence_delimiter_outside_a_sequence_is_a_value_too() {
        let mut ds = short(0x0010, 0x0010, b"PN", b"AB");
        ds.extend(fffe(0xE0DD, 0x7FFF_0000));
        assert!(matches!(
            check_declared_lengths(&ds[..], EXPLICIT),
            Err(GuardError::Overrun(SEQUENCE_DELIMITER, 0x7FFF_0000))
        ));
    }

    #[test]
    fn an_item_delimiter_outside_a_sequence_is_skipped_with_its_length_unread() {
        // The parser ignores the delimiter's length field; the next 4 bytes are a tag.
        let mut ds = fffe(0xE00D, 0xFFFF_0000);
        ds.extend(short(0x0010, 0x0010, b"PN", b"AB"));
        check_declared_lengths(&ds[..], EXPLICIT).unwrap();
        assert!(parses(&ds, EXPLICIT));
        let mut ds = fffe(0xE00D, 0);
        ds.extend(long(0x0010, 0x0010, b"OB", 0x7FFF_0000, &[]));
        assert!(check_declared_lengths(&ds[..], EXPLICIT).is_err());
    }

    /// US with an odd length: the parser reads one u16 and advances its position by 3, so the
    /// next header starts one byte earlier than the declared length says.
    #[test]
    fn a_misaligned_binary_value_is_followed_as_the_parser_reads_it() {
        let mut ds = tag_bytes(0x0028, 0x0010);
        ds.extend(b"US");
        ds.extend(3u16.to_le_bytes());
        ds.extend([1, 0]);
        ds.extend(long(0x0010, 0x0010, b"OB", 0x7FFF_0000, &[0; 4]));
        assert!(matches!(
            check_declared_lengths(&ds[..], EXPLICIT),
            Err(GuardError::Overrun(Tag(0x0010, 0x0010), 0x7FFF_0000))
        ));
    }

    /// With signed pixels the parser reads US/SS-ambiguous elements as SS whatever VR they
    /// declare, so "SQ" on (0028,0106) is a value, not a sequence.
    #[test]
    fn pixel_representation_makes_ambiguous_elements_values_as_in_the_parser() {
        let mut ds = short(0x0028, 0x0103, b"US", &[1, 0]);
        ds.extend(long(0x0028, 0x0106, b"SQ", 0x7FFF_0000, &[]));
        ds.extend(fffe(0xE0DD, 0));
        assert!(matches!(
            check_declared_lengths(&ds[..], EXPLICIT),
            Err(GuardError::Overrun(Tag(0x0028, 0x0106), 0x7FFF_0000))
        ));
    }

    #[test]
    fn pixel_fragments_and_offset_tables_must_be_present() {
        let mut fragment = long(0x7FE0, 0x0010, b"OB", UNDEFINED, &[]);
        fragment.extend(fffe(0xE000, 0));
        fragment.extend(fffe(0xE000, 0xFFFF_FFF0));
        fragment.extend([0; 16]);
        assert!(matches!(
            check_declared_lengths(&fragment[..], EXPLICIT),
            Err(GuardError::Overrun(ITEM, 0xFFFF_FFF0))
        ));
        let mut table = long(0x7FE0, 0x0010, b"OB", UNDEFINED, &[]);
        table.extend(fffe(0xE000, 0x4000_0000));
        table.extend([0; 16]);
        assert!(matches!(
            check_declared_lengths(&table[..], EXPLICIT),
            Err(GuardError::Overrun(ITEM, 0x4000_0000))
        ));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_and_the_limit_parses_on_a_small_stack() {
        let at_limit = nested(MAX_NESTED_SEQUENCES);
        check_declared_lengths(&at_limit[..], EXPLICIT).unwrap();
        // dicom-object reads nested sequences recursively; 2 MiB is a spawned thread's stack.
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || parses(&at_limit, EXPLICIT))
            .unwrap()
            .join()
            .unwrap();
        assert!(parsed);
        let deeper = nested(MAX_NESTED_SEQUENCES + 1);
        assert!(matches!(
            check_declared_lengths(&deeper[..], EXPLICIT),
            Err(GuardError::TooDeep)
        ));
    }

    #[test]
    fn a_deflated_data_set_is_walked_inflated_and_refused_past_the_inflation_limit() {
        let value = vec![0u8; 4000];
        let ds = long(0x0009, 0x1010, b"OB", value.len() as u32, &value);
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        deflate.write_all(&ds).unwrap();
        let deflated = deflate.finish().unwrap();
        assert!(deflated.len() < 100);
        check_declared_lengths(&deflated[..], DEFLATED_EXPLICIT_VR_LE).unwrap();
        check_inflated(&deflated[..], ds.len() as u64).unwrap();
        assert!(matches!(
            check_inflated(&deflated[..], ds.len() as u64 - 1),
            Err(GuardError::InflatesTooFar)
        ));
        // The inflated stream is checked like any other: a value cut short is refused.
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        deflate.write_all(&ds[..2000]).unwrap();
        let cut = deflate.finish().unwrap();
        assert!(check_declared_lengths(&cut[..], DEFLATED_EXPLICIT_VR_LE).is_err());
    }

    /// The walk copies dicom-parser 0.10.1's framing; another version must be re-read (its
    /// `dataset/read.rs` and `stateful/decode.rs`) and fuzzed before this test is updated.
    #[test]
    fn the_parser_this_walk_replays_is_the_one_locked() {
        let lock = include_str!("../../../Cargo.lock");
        assert!(lock.contains("name = \"dicom-parser\"\nversion = \"0.10.1\"\n"));
    }

    #[test]
    fn big_endian_data_sets_are_refused() {
        let ds = short(0x0010, 0x0010, b"PN", b"AB");
        assert!(matches!(
            check_declared_lengths(&ds[..], EXPLICIT_VR_BE),
            Err(GuardError::BigEndian(_))
        ));
    }
}
