//! Received bytes -> guard -> InMemDicomObject -> instance header -> series layout must never
//! panic, and no single allocation on the way may exceed what the bytes present justify.
//! First input byte picks the transfer syntax; see `received::exercise_received_bytes`.
#![no_main]

use dicom_core::dictionary::DataDictionary;
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use libfuzzer_sys::fuzz_target;
use screener_fuzz::budget::single_allocation_budget;
use screener_fuzz::largest_allocation::{largest_allocation_during, LargestAllocation};
use screener_fuzz::received::{exercise_received_bytes, FUZZ_TRANSFER_SYNTAXES};

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

fuzz_target!(
    init: {
        // Lazily built tables allocate once, on first use; build them before measuring.
        let _ = StandardDataDictionary.by_tag(Tag(0x0010, 0x0010));
        for ts in FUZZ_TRANSFER_SYNTAXES {
            let _ = TransferSyntaxRegistry.get(ts);
        }
    },
    |data: &[u8]| {
        let budget = single_allocation_budget(data);
        let largest = largest_allocation_during(|| exercise_received_bytes(data));
        assert!(
            largest <= budget,
            "one allocation of {largest} bytes for a {}-byte input (budget {budget})",
            data.len()
        );
    }
);
