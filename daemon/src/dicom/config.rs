//! Settings of the DICOM node: listener, spool, grouping, destinations and retries.
//! Plain data with defaults; reading them from the configuration file is the caller's job.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::ae::{AeTitle, CallingPolicy};
use super::syntax::DEFAULT_STORAGE_CLASSES;

/// How the listener (SCP) behaves.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Address to bind, e.g. `0.0.0.0:11112`. Port 0 picks a free port.
    pub bind: SocketAddr,
    /// Our AE title; associations calling another title are rejected.
    pub ae_title: AeTitle,
    pub calling: CallingPolicy,
    /// Storage SOP classes accepted (CT, Enhanced CT, Legacy Converted Enhanced CT by default).
    pub storage_classes: Vec<String>,
    /// Associations served at once; one more is rejected (transient, congestion).
    pub max_associations: usize,
    /// Largest PDU we announce and accept.
    pub max_pdu: u32,
    /// ARTIM: how long a new connection may take to send its A-ASSOCIATE-RQ (and a rejected
    /// one to go away).
    pub artim_timeout: Duration,
    /// How long an established association may stay silent before it is aborted.
    pub idle_timeout: Duration,
    /// Largest data set accepted for one instance; larger ones get 0xA700.
    pub max_instance_bytes: u64,
}

impl ListenerConfig {
    pub fn new(bind: SocketAddr, ae_title: AeTitle) -> Self {
        ListenerConfig {
            bind,
            ae_title,
            calling: CallingPolicy::Any,
            storage_classes: DEFAULT_STORAGE_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_associations: 16,
            max_pdu: 65_536,
            artim_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_instance_bytes: 4 << 30,
        }
    }
}

/// Where and how instances are written.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub root: PathBuf,
    /// fsync each file and its folder before answering success (default on).
    pub fsync: bool,
    /// Refuse instances (0xA700) when the spool file system has less free space than this.
    pub min_free_bytes: u64,
}

impl SpoolConfig {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            root: root.into(),
            fsync: true,
            min_free_bytes: 1 << 30,
        }
    }
}

/// When a series counts as complete.
#[derive(Debug, Clone)]
pub struct GroupingConfig {
    /// A series is complete once no instance arrived for this long.
    pub stable_after: Duration,
    /// How often pending series are checked.
    pub check_every: Duration,
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            stable_after: Duration::from_secs(30),
            check_every: Duration::from_secs(1),
        }
    }
}

/// A remote AE to send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub ae_title: AeTitle,
    pub host: String,
    pub port: u16,
}

impl Destination {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Exponential backoff: attempt n (from 1) waits `base * 2^(n-1)`, at most `cap`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, the first included (at least 1).
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub fn once() -> Self {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Delay before attempt `attempt` (2 = the first retry).
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(31);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }
}

/// How the sender (SCU) behaves.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub calling_ae_title: AeTitle,
    pub max_pdu: u32,
    pub connect_timeout: Duration,
    /// Limit for each network read or write.
    pub io_timeout: Duration,
    pub retry: RetryPolicy,
}

impl SenderConfig {
    pub fn new(calling_ae_title: AeTitle) -> Self {
        SenderConfig {
            calling_ae_title,
            max_pdu: 65_536,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_stops_at_the_cap() {
        let r = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let d: Vec<_> = (2..=6).map(|a| r.delay_before(a).as_millis()).collect();
        assert_eq!(d, [100, 200, 400, 500, 500]);
        assert_eq!(r.delay_before(200).as_millis(), 500);
    }
}
