//! The values the store takes and returns. Times are Unix epoch milliseconds.

use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

use super::error::StoreError;

/// One received instance, as the listener reports it after the spool made it durable.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub study_uid: String,
    pub series_uid: String,
    pub sop_instance_uid: String,
    pub sop_class_uid: Option<String>,
    pub modality: Option<String>,
    pub calling_ae: Option<String>,
    pub file_path: PathBuf,
    pub size_bytes: Option<u64>,
}

/// Whether [`Store::record_instance`](super::Store::record_instance) added a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New {
        instance_id: i64,
        series_id: i64,
    },
    /// The SOP Instance UID was already recorded (a re-send); nothing changed.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Skipped,
}

impl JobState {
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Failed,
        JobState::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Skipped => "skipped",
        }
    }
}

impl FromStr for JobState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        JobState::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| StoreError::BadValue {
                column: "jobs.state",
                value: s.to_owned(),
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Sending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Pending,
        DeliveryState::Sending,
        DeliveryState::Delivered,
        DeliveryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

impl FromStr for DeliveryState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        DeliveryState::ALL
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| StoreError::BadValue {
                column: "deliveries.state",
                value: s.to_owned(),
            })
    }
}

/// A job handed to one worker. Every later call about the job passes it back, and fails
/// with [`StoreError::LostClaim`] once the claim is no longer this worker's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobClaim {
    pub job_id: i64,
    pub series_id: i64,
    pub study_uid: String,
    pub series_uid: String,
    pub worker: String,
    /// 1 for the first claim; reclaimed jobs come back with the next number.
    pub attempt: i64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: i64,
    pub series_id: i64,
    pub state: JobState,
    pub reason: Option<String>,
    pub attempts: i64,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<i64>,
    pub heartbeat_at: Option<i64>,
    pub queued_at: i64,
    pub not_before: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// What [`Store::reclaim_stale_jobs`](super::Store::reclaim_stale_jobs) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Back in the queue for another worker.
    pub requeued: Vec<i64>,
    /// Out of attempts: marked failed.
    pub failed: Vec<i64>,
}

/// The outcome of scoring one series.
#[derive(Debug, Clone, PartialEq)]
pub struct NewResult {
    pub study_score: f64,
    pub flagged: bool,
    pub threshold: f64,
    pub model_name: String,
    pub model_version: String,
    /// Seconds per stage, e.g. the engine's `StageTimings` serialized.
    pub timings: serde_json::Value,
    pub seg_sop_uid: Option<String>,
    pub overlay_series_uid: Option<String>,
    pub overlay_sop_uids: Vec<String>,
    /// Folder holding the SEG and overlay files to deliver.
    pub output_dir: Option<PathBuf>,
}

/// A delivery handed to one sender.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryClaim {
    pub delivery_id: i64,
    pub result_id: i64,
    pub destination: String,
    pub worker: String,
    /// 1 for the first try.
    pub attempt: i64,
    pub study_uid: String,
    pub series_uid: String,
    pub seg_sop_uid: Option<String>,
    pub overlay_series_uid: Option<String>,
    pub overlay_sop_uids: Vec<String>,
    pub output_dir: Option<PathBuf>,
}

/// What happens after a failed delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Tried again at this time.
    At(i64),
    /// Out of attempts: failed until someone retries it.
    GaveUp,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub result_id: i64,
    pub destination: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// One flagged series on the worklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklistEntry {
    pub result_id: i64,
    pub study_uid: String,
    pub series_uid: String,
    pub calling_ae: Option<String>,
    pub study_score: f64,
    pub threshold: f64,
    pub model_name: String,
    pub model_version: String,
    pub scored_at: i64,
}

/// One series of a recent study with where it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesStatus {
    pub series_uid: String,
    pub modality: Option<String>,
    pub instance_count: i64,
    pub last_received_at: i64,
    /// None while the series is still receiving (no job yet).
    pub job_state: Option<JobState>,
    pub reason: Option<String>,
    pub study_score: Option<f64>,
    pub flagged: Option<bool>,
    pub deliveries_delivered: i64,
    pub deliveries_open: i64,
    pub deliveries_failed: i64,
}

/// A recent study and its series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyStatus {
    pub study_uid: String,
    pub calling_ae: Option<String>,
    pub last_received_at: i64,
    pub series: Vec<SeriesStatus>,
}

impl StudyStatus {
    /// The study's highest series score, if any series was scored.
    pub fn score(&self) -> Option<f64> {
        self.series
            .iter()
            .filter_map(|s| s.study_score)
            .reduce(f64::max)
    }

    pub fn flagged(&self) -> bool {
        self.series.iter().any(|s| s.flagged == Some(true))
    }

    /// The least advanced series' state: `receiving`, then queued, running, failed,
    /// and `done` only when every series is done or skipped.
    pub fn state(&self) -> &'static str {
        let states: Vec<Option<JobState>> = self.series.iter().map(|s| s.job_state).collect();
        let order = [
            None,
            Some(JobState::Queued),
            Some(JobState::Running),
            Some(JobState::Failed),
        ];
        for (state, name) in order
            .iter()
            .zip(["receiving", "queued", "running", "failed"])
        {
            if states.contains(state) {
                return name;
            }
        }
        "done"
    }
}

/// Counts for `/healthz`, `/metrics` and the status page.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Health {
    pub studies: i64,
    pub instances: i64,
    pub jobs_queued: i64,
    pub jobs_running: i64,
    pub jobs_done: i64,
    pub jobs_failed: i64,
    pub jobs_skipped: i64,
    pub deliveries_pending: i64,
    pub deliveries_sending: i64,
    pub deliveries_delivered: i64,
    pub deliveries_failed: i64,
    /// When the oldest still-queued job was queued.
    pub oldest_queued_at: Option<i64>,
}

/// One audit log row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<i64>,
    pub detail: serde_json::Value,
}
