//! The SOP classes and transfer syntaxes the node negotiates, in one place, so the listener,
//! the sender and the conformance statement agree.

/// Verification SOP Class (C-ECHO).
pub const VERIFICATION: &str = "1.2.840.10008.1.1";

pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
pub const ENHANCED_CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2.1";
pub const LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2.2";

/// Storage SOP classes accepted without configuration.
pub const DEFAULT_STORAGE_CLASSES: [&str; 3] = [
    CT_IMAGE_STORAGE,
    ENHANCED_CT_IMAGE_STORAGE,
    LEGACY_CONVERTED_ENHANCED_CT_IMAGE_STORAGE,
];

pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
pub const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";
pub const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
pub const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
pub const JPEG_LOSSLESS: &str = "1.2.840.10008.1.2.4.57";
pub const JPEG_LOSSLESS_SV1: &str = "1.2.840.10008.1.2.4.70";
pub const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
pub const JPEG_LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";
pub const JPEG_2000_LOSSLESS: &str = "1.2.840.10008.1.2.4.90";
pub const JPEG_2000: &str = "1.2.840.10008.1.2.4.91";
pub const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Transfer syntaxes the listener accepts: exactly those `screener_core::dicom_series` can
/// decode, so a sender holding something else must transcode. JPEG Extended (12-bit) is left
/// out on purpose: its decoder fails on CT here. Order is our preference; the listener picks
/// the first syntax the requestor proposed that appears in this list.
pub const ACCEPTED_TRANSFER_SYNTAXES: [&str; 11] = [
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    DEFLATED_EXPLICIT_VR_LE,
    JPEG_BASELINE,
    JPEG_LOSSLESS,
    JPEG_LOSSLESS_SV1,
    JPEG_LS_LOSSLESS,
    JPEG_LS_NEAR_LOSSLESS,
    JPEG_2000_LOSSLESS,
    JPEG_2000,
    RLE_LOSSLESS,
];

/// True for the two uncompressed little-endian syntaxes, between which a data set can be
/// re-encoded without touching pixel data.
pub fn is_native_le(ts: &str) -> bool {
    ts == IMPLICIT_VR_LE || ts == EXPLICIT_VR_LE
}

/// Trims the NUL/space padding UIDs carry on the wire.
pub fn trim_uid(s: &str) -> &str {
    s.trim_end_matches(['\0', ' '])
}
