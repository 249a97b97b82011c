//! The configuration file's shape: one struct per TOML section, every key required in the
//! merged result (the embedded default supplies them) except the few that are truly optional.
//! Unknown keys are rejected so that a typo never silently falls back to a default.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The whole configuration, as read from `config/default.toml`, a file and the environment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: NodeSection,
    pub dicom: DicomSection,
    #[serde(default)]
    pub destinations: Vec<DestinationSection>,
    pub engine: EngineSection,
    pub pipeline: PipelineSection,
    pub store: StoreSection,
    pub web: WebSection,
    pub webhook: WebhookSection,
    pub logging: LoggingSection,
}

/// `[node]`: where the node keeps its state.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// Spool, SQLite file, outputs and the generated web token live here.
    pub data_dir: PathBuf,
}

/// `[dicom]`: the listener (SCP) and the sender's (SCU) connection limits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DicomSection {
    /// IP address to bind (`0.0.0.0` for all IPv4 interfaces).
    pub bind: String,
    pub port: u32,
    pub ae_title: String,
    /// `AE` or `AE@IP`; empty means any calling AE may associate.
    pub allowed_calling: Vec<String>,
    pub max_associations: u32,
    pub max_pdu: u32,
    pub max_instance_mb: u64,
    pub artim_timeout_s: u64,
    pub idle_timeout_s: u64,
    /// A series is complete once no instance arrived for this many seconds.
    pub stable_age_s: u64,
    /// fsync each instance and its folder before acknowledging it.
    pub fsync: bool,
    /// Refuse instances when the spool file system has less free space than this.
    pub min_free_mb: u64,
    pub send_connect_timeout_s: u64,
    pub send_io_timeout_s: u64,
}

/// `[[destinations]]`: a remote AE that receives the SEG and the overlay.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSection {
    /// Unique name, recorded with each delivery.
    pub name: String,
    pub ae_title: String,
    pub host: String,
    pub port: u32,
    #[serde(default)]
    pub retry: RetrySection,
}

/// Retry policy of one destination: attempt n waits `base_delay_s * 2^(n-2)`, at most
/// `max_delay_s`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySection {
    pub attempts: u32,
    pub base_delay_s: u64,
    pub max_delay_s: u64,
}

impl Default for RetrySection {
    fn default() -> Self {
        RetrySection {
            attempts: 10,
            base_delay_s: 10,
            max_delay_s: 1800,
        }
    }
}

/// `[engine]`: the model bundle and how it runs.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub model_dir: PathBuf,
    /// ONNX Runtime intra-op threads; 0 means one per core.
    pub threads: u32,
    pub batch: u32,
    pub use_gpu: bool,
}

/// `[pipeline]`: the job queue's workers and how a dead worker is noticed.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// Series scored at once by this process (each uses `engine.threads` threads).
    pub scoring_workers: u32,
    /// Deliveries (DICOM sends, webhook posts) in flight at once.
    pub delivery_workers: u32,
    /// A running job records a heartbeat this often.
    pub heartbeat_s: u64,
    /// A job or delivery whose worker was silent this long is handed to another worker.
    pub stale_after_s: u64,
    /// A series whose scoring was interrupted this many times is marked failed.
    pub max_attempts: u32,
    /// A job that hit a transient fault (disk full) is retried after this many seconds.
    pub retry_delay_s: u64,
    /// PNG previews per study for the admin page (0 = none).
    pub previews: u32,
}

/// `[store]`: the database.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `sqlite://FILE` (relative to `node.data_dir` unless absolute) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    pub url: String,
    pub max_connections: u32,
}

/// `[web]`: the admin page and JSON API.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// `IP:PORT`.
    pub bind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

/// `[webhook]`: a JSON POST when a study is flagged.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Sent as `Authorization: Bearer SECRET` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub timeout_s: u64,
    pub attempts: u32,
}

/// `[logging]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSection {
    /// error, warn, info, debug or trace.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}
