//! Stable stand-in for the `fuzz/` target (cargo-fuzz needs nightly): a few thousand
//! deterministic mutations of small synthetic seeds go through the same function the fuzz
//! target calls, `exercise_received_bytes` (received bytes -> header -> series layout).
//! Also writes the seeds to fuzz/corpus/ when asked (`--ignored`).

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use screener_daemon::dicom::received::{
    exercise_received_bytes, header_from_received_bytes, FUZZ_TRANSFER_SYNTAXES,
};

fn put_str(o: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, v: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
}

fn put_strs(o: &mut InMemDicomObject, tag: dicom_core::Tag, vr: VR, v: &[&str]) {
    let s: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    o.put(DataElement::new(tag, vr, PrimitiveValue::Strs(s.into())));
}

fn item(f: impl FnOnce(&mut InMemDicomObject)) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    f(&mut o);
    o
}

fn put_seq(o: &mut InMemDicomObject, tag: dicom_core::Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

/// A 4x4 single-frame CT image with everything series assembly reads.
fn classic_ct() -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    put_str(
        &mut o,
        tags::SOP_CLASS_UID,
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.2",
    );
    put_str(&mut o, tags::SOP_INSTANCE_UID, VR::UI, "2.25.1.3");
    put_str(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, "2.25.1.1");
    put_str(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, "2.25.1.2");
    put_str(&mut o, tags::MODALITY, VR::CS, "CT");
    put_strs(
        &mut o,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        &["-10", "-10", "5"],
    );
    put_strs(
        &mut o,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        &["1", "0", "0", "0", "1", "0"],
    );
    put_strs(&mut o, tags::PIXEL_SPACING, VR::DS, &["0.7", "0.7"]);
    put_str(&mut o, tags::RESCALE_SLOPE, VR::DS, "1");
    put_str(&mut o, tags::RESCALE_INTERCEPT, VR::DS, "-1024");
    put_str(
        &mut o,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    for (tag, v) in [
        (tags::SAMPLES_PER_PIXEL, 1u16),
        (tags::ROWS, 4),
        (tags::COLUMNS, 4),
        (tags::BITS_ALLOCATED, 16),
        (tags::BITS_STORED, 16),
        (tags::HIGH_BIT, 15),
        (tags::PIXEL_REPRESENTATION, 1),
    ] {
        o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    }
    let pixels: Vec<u16> = (0..16).map(|i| 1000 + i * 7).collect();
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    o
}

/// A 2-frame Enhanced CT image whose geometry lives in functional groups.
fn enhanced_ct() -> InMemDicomObject {
    let mut o = classic_ct();
    put_str(
        &mut o,
        tags::SOP_CLASS_UID,
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.2.1",
    );
    for tag in [
        tags::IMAGE_POSITION_PATIENT,
        tags::IMAGE_ORIENTATION_PATIENT,
        tags::PIXEL_SPACING,
        tags::RESCALE_SLOPE,
        tags::RESCALE_INTERCEPT,
    ] {
        o.remove_element(tag);
    }
    put_str(&mut o, tags::NUMBER_OF_FRAMES, VR::IS, "2");
    let shared = item(|g| {
        put_seq(
            g,
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(|i| {
                put_strs(
                    i,
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    &["1", "0", "0", "0", "1", "0"],
                )
            })],
        );
        put_seq(
            g,
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(|i| {
                put_strs(i, tags::PIXEL_SPACING, VR::DS, &["0.7", "0.7"])
            })],
        );
        put_seq(
            g,
            tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
            vec![item(|i| {
                put_str(i, tags::RESCALE_SLOPE, VR::DS, "1");
                put_str(i, tags::RESCALE_INTERCEPT, VR::DS, "-1024");
            })],
        );
    });
    put_seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    );
    let frames = ["5", "6"]
        .iter()
        .map(|z| {
            item(|g| {
                put_seq(
                    g,
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item(|i| {
                        put_strs(i, tags::IMAGE_POSITION_PATIENT, VR::DS, &["-10", "-10", z])
                    })],
                )
            })
        })
        .collect();
    put_seq(&mut o, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, frames);
    let pixels: Vec<u16> = (0..32).map(|i| 1000 + i * 3).collect();
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    o
}

/// Fuzz inputs: selector byte + data set, for each seed object and data-set encoding.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, obj) in [("classic", classic_ct()), ("enhanced", enhanced_ct())] {
        for (selector, ts_uid) in FUZZ_TRANSFER_SYNTAXES.iter().enumerate().take(3) {
            let ts = TransferSyntaxRegistry.get(ts_uid).unwrap();
            let mut bytes = vec![selector as u8];
            obj.write_dataset_with_ts(&mut bytes, ts).unwrap();
            out.push((format!("{name}-{selector}"), bytes));
        }
    }
    out
}

#[test]
fn seeds_parse_into_headers() {
    for (name, bytes) in seeds() {
        let ts = FUZZ_TRANSFER_SYNTAXES[bytes[0] as usize];
        let (id, header) =
            header_from_received_bytes(&bytes[1..], ts).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(id.series.as_str(), "2.25.1.2");
        assert!(!header.frames.is_empty());
        exercise_received_bytes(&bytes);
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits: flip, overwrite with an interesting value, insert, delete,
/// truncate.
fn mutate(seed: &[u8], rng: &mut XorShift) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = 1 + rng.below(v.len().saturating_sub(1));
        match rng.below(6) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 if at < v.len() => v[at] = rng.next() as u8,
            2 => {
                let interesting: [u32; 6] = [0, 1, 0xFFFF, 0xFFFF_FFFF, 0x7FFF_FFFF, 0xFFFF_FFFE];
                let x = interesting[rng.below(6)].to_le_bytes();
                for (i, b) in x.iter().enumerate().take(1 + rng.below(4)) {
                    if at + i < v.len() {
                        v[at + i] = *b;
                    }
                }
            }
            3 => v.insert(at.min(v.len()), rng.next() as u8),
            4 if at < v.len() => {
                v.remove(at);
            }
            _ => v.truncate(at),
        }
    }
    v
}

#[test]
fn thousands_of_mutated_received_data_sets_never_panic() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut runs = 0;
    for (_, seed) in seeds() {
        for _ in 0..600 {
            let input = mutate(&seed, &mut rng);
            exercise_received_bytes(&input);
            runs += 1;
        }
    }
    assert!(runs >= 3000);
}

/// Writes the seeds into fuzz/corpus/received/ (run with `--ignored` after changing them).
#[test]
#[ignore]
fn write_fuzz_corpus() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/received");
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
    }
}
