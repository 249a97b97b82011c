//! Application Entity titles and the policy that decides which calling AEs may associate.

use std::fmt;
use std::net::IpAddr;

/// Why a string is not an AE title (PS3.5 6.2, VR AE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AeError {
    #[error("AE title is empty")]
    Empty,
    #[error("AE title is {0} characters long (at most 16)")]
    TooLong(usize),
    #[error("AE title contains a backslash or a control character")]
    BadCharacter,
    #[error("allowed peer {0:?} is not AE or AE@IP-address")]
    BadPeer(String),
}

/// A valid AE title, without leading or trailing spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AeTitle(String);

impl AeTitle {
    pub fn parse(raw: &str) -> Result<Self, AeError> {
        let s = raw.trim_matches([' ', '\0']);
        if s.is_empty() {
            return Err(AeError::Empty);
        }
        if s.len() > 16 {
            return Err(AeError::TooLong(s.len()));
        }
        if s.chars()
            .any(|c| c == '\\' || c.is_control() || !c.is_ascii())
        {
            return Err(AeError::BadCharacter);
        }
        Ok(AeTitle(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares with a title as it arrived on the wire (space padded).
    pub fn matches(&self, wire: &str) -> bool {
        self.0 == wire.trim_matches([' ', '\0'])
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AeTitle {
    type Err = AeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AeTitle::parse(s)
    }
}

/// One entry of the calling-AE allow-list: an AE title, optionally bound to the IP address
/// the association must come from. Written `AE` or `AE@192.0.2.7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedPeer {
    pub ae_title: AeTitle,
    pub address: Option<IpAddr>,
}

impl std::str::FromStr for AllowedPeer {
    type Err = AeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.rsplit_once('@') {
            Some((ae, host)) => Ok(AllowedPeer {
                ae_title: AeTitle::parse(ae)?,
                address: Some(
                    host.trim_matches(['[', ']'])
                        .parse()
                        .map_err(|_| AeError::BadPeer(s.to_owned()))?,
                ),
            }),
            None => Ok(AllowedPeer {
                ae_title: AeTitle::parse(s)?,
                address: None,
            }),
        }
    }
}

/// Which calling AEs may open an association.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CallingPolicy {
    /// Any calling AE title from any address (only sensible on a closed network).
    #[default]
    Any,
    /// Only the listed peers.
    Only(Vec<AllowedPeer>),
}

impl CallingPolicy {
    pub fn allows(&self, calling: &str, from: IpAddr) -> bool {
        match self {
            CallingPolicy::Any => true,
            CallingPolicy::Only(peers) => peers.iter().any(|p| {
                p.ae_title.matches(calling)
                    && p.address.is_none_or(|a| a == from || mapped_equal(a, from))
            }),
        }
    }
}

/// An IPv4 peer seen on a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn mapped_equal(a: IpAddr, b: IpAddr) -> bool {
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V4(v) => Some(v),
        IpAddr::V6(v) => v.to_ipv4_mapped(),
    };
    v4(a).is_some() && v4(a) == v4(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ae_titles_are_trimmed_and_bounded() {
        assert_eq!(AeTitle::parse(" SCREENER ").unwrap().as_str(), "SCREENER");
        assert_eq!(AeTitle::parse("   "), Err(AeError::Empty));
        assert_eq!(AeTitle::parse(&"A".repeat(17)), Err(AeError::TooLong(17)));
        assert_eq!(AeTitle::parse("A\\B"), Err(AeError::BadCharacter));
        assert!(AeTitle::parse("PACS").unwrap().matches("PACS            "));
    }

    #[test]
    fn allow_list_checks_title_and_optional_address() {
        let policy = CallingPolicy::Only(vec![
            "PACS@127.0.0.1".parse().unwrap(),
            "CT1".parse().unwrap(),
        ]);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.1.2.3".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(policy.allows("PACS", lo));
        assert!(policy.allows("PACS", mapped));
        assert!(!policy.allows("PACS", other));
        assert!(policy.allows("CT1 ", other));
        assert!(!policy.allows("EVIL", lo));
        assert!(CallingPolicy::Any.allows("EVIL", other));
        assert!("X@not-an-ip".parse::<AllowedPeer>().is_err());
    }
}
