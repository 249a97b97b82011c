//! Deterministic DICOM UIDs: the same seed always gives the same UID, so a re-sent result
//! replaces the earlier copy in the PACS instead of duplicating it.

use sha2::{Digest, Sha256};

/// A UID under the UUID root `2.25` whose number is the first 128 bits of SHA-256(`seed`).
/// It has at most 44 characters and no leading zero, as PS3.5 §9.1 requires.
pub fn uid_from_seed(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_valid_uid() {
        let a = uid_from_seed("job 7 / seg");
        assert_eq!(a, uid_from_seed("job 7 / seg"));
        assert_ne!(a, uid_from_seed("job 7 / overlay"));
        assert!(a.len() <= 64 && a.starts_with("2.25."));
        let digits = &a[5..];
        assert!(digits.chars().all(|c| c.is_ascii_digit()));
        assert!(!digits.starts_with('0') || digits == "0");
    }
}
