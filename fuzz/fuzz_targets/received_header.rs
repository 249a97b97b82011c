//! Received bytes -> InMemDicomObject -> instance header -> series layout must never panic.
//! First input byte picks the transfer syntax; see `received::exercise_received_bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    screener_fuzz::received::exercise_received_bytes(data);
});
