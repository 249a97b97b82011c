//! How much memory one allocation may take for a given fuzz input, if every allocation is
//! bounded by the bytes present as `daemon/src/dicom/guard.rs` promises.

use std::io::Read;

use crate::guard::MAX_INFLATED_BYTES;
use crate::received::FUZZ_TRANSFER_SYNTAXES;
use crate::syntax::DEFLATED_EXPLICIT_VR_LE;

/// Per byte present: a pixel offset table reserves 4 bytes per byte, and a multi-valued text
/// element of backslashes becomes one 24-byte `String` per 1-byte value, in a vector that may
/// have doubled its capacity.
const PER_BYTE: usize = 64;

/// Fixed buffers: readers, the inflater's window, dictionary and registry look-ups.
const FIXED: usize = 256 << 10;

/// The largest single allocation the received-bytes path may make for `input` (selector byte
/// plus data set, as `received::exercise_received_bytes` takes it).
pub fn single_allocation_budget(input: &[u8]) -> usize {
    let Some((&selector, data)) = input.split_first() else {
        return FIXED;
    };
    let ts = FUZZ_TRANSFER_SYNTAXES[selector as usize % FUZZ_TRANSFER_SYNTAXES.len()];
    let present = if ts == DEFLATED_EXPLICIT_VR_LE {
        inflated_len(data).max(data.len())
    } else {
        data.len()
    };
    present * PER_BYTE + FIXED
}

/// Bytes a deflate stream yields before it ends or turns invalid, up to the guard's limit.
fn inflated_len(data: &[u8]) -> usize {
    let mut inflater = flate2::read::DeflateDecoder::new(data).take(MAX_INFLATED_BYTES + 1);
    let mut buf = [0u8; 8192];
    let mut total = 0;
    while let Ok(n @ 1..) = inflater.read(&mut buf) {
        total += n;
    }
    total
}
