//! `Uid`: a DICOM unique identifier that has been checked against the UID grammar, so that it
//! can safely become a file or folder name in the spool.

use std::fmt;

/// Why a string is not a DICOM UID (PS3.5 9.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidError {
    #[error("UID is empty")]
    Empty,
    #[error("UID is {0} characters long (at most 64)")]
    TooLong(usize),
    #[error("UID contains a character other than a digit or a dot")]
    BadCharacter,
    #[error("UID has an empty component")]
    EmptyComponent,
    #[error("UID has a multi-digit component with a leading zero")]
    LeadingZero,
}

/// A valid DICOM UID: at most 64 characters, digits and dots, no empty component, no leading
/// zero in a multi-digit component. Trailing NUL and space padding is removed on parsing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(String);

impl Uid {
    /// Checks `raw` (as it comes from a data set, possibly padded) and keeps the bare UID.
    pub fn parse(raw: &str) -> Result<Self, UidError> {
        let s = raw.trim_end_matches(['\0', ' ']);
        if s.is_empty() {
            return Err(UidError::Empty);
        }
        if s.len() > 64 {
            return Err(UidError::TooLong(s.len()));
        }
        if !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(UidError::BadCharacter);
        }
        for component in s.split('.') {
            if component.is_empty() {
                return Err(UidError::EmptyComponent);
            }
            if component.len() > 1 && component.starts_with('0') {
                return Err(UidError::LeadingZero);
            }
        }
        Ok(Uid(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Uid {
    type Err = UidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uid::parse(s)
    }
}

impl AsRef<str> for Uid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_uids_and_strips_padding() {
        assert_eq!(
            Uid::parse("1.2.840.10008.5.1.4.1.1.2\0").unwrap().as_str(),
            "1.2.840.10008.5.1.4.1.1.2"
        );
        assert_eq!(Uid::parse("0.1 ").unwrap().as_str(), "0.1");
        assert!(Uid::parse(&format!("1.{}", "2".repeat(62))).is_ok());
    }

    #[test]
    fn refuses_everything_that_could_escape_the_spool_or_break_the_grammar() {
        assert_eq!(Uid::parse(""), Err(UidError::Empty));
        assert_eq!(Uid::parse("../etc"), Err(UidError::BadCharacter));
        assert_eq!(Uid::parse("1/2"), Err(UidError::BadCharacter));
        assert_eq!(Uid::parse("1..2"), Err(UidError::EmptyComponent));
        assert_eq!(Uid::parse(".1"), Err(UidError::EmptyComponent));
        assert_eq!(Uid::parse("1."), Err(UidError::EmptyComponent));
        assert_eq!(Uid::parse("1.02"), Err(UidError::LeadingZero));
        assert_eq!(Uid::parse(&"1".repeat(65)), Err(UidError::TooLong(65)));
        assert_eq!(Uid::parse("1.2a"), Err(UidError::BadCharacter));
    }
}
