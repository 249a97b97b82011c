//! What the pages and the API show, gathered from the store, the readiness handle and the
//! model in one place so the HTML and the JSON always agree.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::readiness::{Alert, Conditions};
use super::{App, WebError};
use crate::store::web_views::{
    ScoreSample, SeriesRecord, SeriesTimes, StudyRecord, TroubledDelivery,
};
use crate::store::{Delivery, Health, JobState, StudyStatus, WorklistEntry};
use crate::writers::preview::PREVIEW_DIR;

/// Studies on the dashboard and in `/api/v1/studies` unless asked otherwise.
pub const DEFAULT_STUDIES: i64 = 50;
/// The most any list request returns.
pub const MAX_LIST: i64 = 1000;
/// Results in the dashboard's score histogram.
pub const HISTOGRAM_RESULTS: i64 = 500;

/// A recent study with its state, score, flag and how long scoring took.
#[derive(Debug, Clone, Serialize)]
pub struct StudySummary {
    #[serde(flatten)]
    pub status: StudyStatus,
    pub state: &'static str,
    pub score: Option<f64>,
    pub flagged: bool,
    /// Seconds the pipeline spent scoring, summed over the study's series.
    pub scoring_s: Option<f64>,
    /// From the first series queued to the last one finished.
    pub turnaround_s: Option<f64>,
}

/// Node health as the dashboard and `/api/v1/health` show it.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    pub ready: bool,
    pub not_ready_because: Vec<&'static str>,
    pub conditions: Conditions,
    pub alerts: Vec<Alert>,
    pub uptime_s: f64,
    pub counts: Health,
    pub oldest_queued_age_s: Option<f64>,
    pub destinations: Vec<String>,
    /// Deliveries failed for good (retry them) or waiting to retry after an error.
    pub troubled_deliveries: Vec<TroubledDelivery>,
}

pub struct Dashboard {
    pub health: HealthView,
    pub worklist: Vec<WorklistEntry>,
    pub studies: Vec<StudySummary>,
    pub recent_scores: Vec<ScoreSample>,
}

/// One study in full, for its page and `/api/v1/studies/{uid}`.
#[derive(Debug, Clone, Serialize)]
pub struct StudyView {
    pub study_uid: String,
    pub calling_ae: Option<String>,
    pub first_received_at: i64,
    pub last_received_at: i64,
    pub state: &'static str,
    pub score: Option<f64>,
    pub flagged: bool,
    pub series: Vec<SeriesView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeriesView {
    #[serde(flatten)]
    pub record: SeriesRecord,
    /// Stages of every attempt of the series' job, in order.
    pub stages: Vec<StageView>,
    pub deliveries: Vec<Delivery>,
    /// The preview images, most abnormal first.
    pub previews: Vec<PreviewImage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviewImage {
    pub url: String,
    /// 0-based index of the slice along the volume's slice axis, from the file name.
    pub slice: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub attempt: i64,
    pub stage: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub seconds: Option<f64>,
}

/// `limit` from a query, defaulted and capped.
pub fn list_limit(asked: Option<i64>, default: i64) -> i64 {
    asked.unwrap_or(default).clamp(1, MAX_LIST)
}

pub async fn health(app: &App) -> Result<HealthView, WebError> {
    let store = &app.web.store;
    let (counts, troubled) = tokio::try_join!(store.health(), store.troubled_deliveries(MAX_LIST))?;
    let conditions = app.web.readiness.conditions();
    let oldest_queued_age_s = counts
        .oldest_queued_at
        .map(|t| (store.now_ms() - t).max(0) as f64 / 1000.0);
    Ok(HealthView {
        ready: conditions.reasons().is_empty(),
        not_ready_because: conditions.reasons(),
        conditions,
        alerts: app.web.readiness.alerts(),
        uptime_s: app.web.started.elapsed().as_secs_f64(),
        counts,
        oldest_queued_age_s,
        destinations: app.web.destinations.clone(),
        troubled_deliveries: troubled,
    })
}

pub async fn studies(app: &App, limit: i64) -> Result<Vec<StudySummary>, WebError> {
    let store = &app.web.store;
    let (statuses, times) = tokio::try_join!(
        store.recent_studies(limit),
        store.recent_series_times(limit)
    )?;
    let times: HashMap<String, SeriesTimes> = times
        .into_iter()
        .map(|t| (t.series_uid.clone(), t))
        .collect();
    Ok(statuses
        .into_iter()
        .map(|status| summarise(status, &times))
        .collect())
}

fn summarise(status: StudyStatus, times: &HashMap<String, SeriesTimes>) -> StudySummary {
    let mine: Vec<&SeriesTimes> = status
        .series
        .iter()
        .filter_map(|s| times.get(&s.series_uid))
        .collect();
    let scored: Vec<f64> = mine.iter().filter_map(|t| t.total_s).collect();
    let scoring_s = (!scored.is_empty()).then(|| scored.iter().sum());
    let all_finished =
        mine.len() == status.series.len() && mine.iter().all(|t| t.finished_at.is_some());
    let turnaround_s = if all_finished && !mine.is_empty() {
        let first = mine.iter().map(|t| t.queued_at).min();
        let last = mine.iter().filter_map(|t| t.finished_at).max();
        first.zip(last).map(|(a, b)| (b - a).max(0) as f64 / 1000.0)
    } else {
        None
    };
    StudySummary {
        state: status.state(),
        score: status.score(),
        flagged: status.flagged(),
        scoring_s,
        turnaround_s,
        status,
    }
}

pub async fn dashboard(app: &App, limit: i64) -> Result<Dashboard, WebError> {
    let store = &app.web.store;
    let (health, worklist, studies, recent_scores) = tokio::try_join!(
        health(app),
        async { Ok(store.worklist(MAX_LIST).await?) },
        studies(app, limit),
        async { Ok(store.score_samples(HISTOGRAM_RESULTS).await?) },
    )?;
    Ok(Dashboard {
        health,
        worklist,
        studies,
        recent_scores,
    })
}

pub async fn study(app: &App, study_uid: &str) -> Result<StudyView, WebError> {
    let store = &app.web.store;
    let record: StudyRecord = store
        .study_record(study_uid)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("study {study_uid}")))?;
    let mut series = Vec::with_capacity(record.series.len());
    for s in record.series {
        let stages = match &s.job {
            Some(job) => store
                .job_stages(job.id)
                .await?
                .into_iter()
                .map(|(attempt, stage, started_at, finished_at)| StageView {
                    attempt,
                    stage,
                    started_at,
                    finished_at,
                    seconds: finished_at.map(|f| (f - started_at).max(0) as f64 / 1000.0),
                })
                .collect(),
            None => Vec::new(),
        };
        let (deliveries, previews) = match &s.result {
            Some(r) => (
                store.deliveries(r.id).await?,
                preview_urls(r.id, r.output_dir.as_deref()).await,
            ),
            None => (Vec::new(), Vec::new()),
        };
        series.push(SeriesView {
            record: s,
            stages,
            deliveries,
            previews,
        });
    }
    let scores = series.iter().filter_map(|s| s.record.result.as_ref());
    let score = scores.clone().map(|r| r.study_score).reduce(f64::max);
    let flagged = scores.clone().any(|r| r.flagged);
    Ok(StudyView {
        state: study_state(&series),
        score,
        flagged,
        study_uid: record.study_uid,
        calling_ae: record.calling_ae,
        first_received_at: record.first_received_at,
        last_received_at: record.last_received_at,
        series,
    })
}

/// The same rule as [`StudyStatus::state`]: the least advanced series decides.
fn study_state(series: &[SeriesView]) -> &'static str {
    let states: Vec<Option<JobState>> = series
        .iter()
        .map(|s| s.record.job.as_ref().map(|j| j.state))
        .collect();
    let order = [
        (None, "receiving"),
        (Some(JobState::Queued), "queued"),
        (Some(JobState::Running), "running"),
        (Some(JobState::Failed), "failed"),
    ];
    order
        .iter()
        .find(|(state, _)| states.contains(state))
        .map_or("done", |(_, name)| name)
}

/// Whether `name` is a file name the preview writer could have made (no paths, PNG only).
pub fn is_preview_name(name: &str) -> bool {
    name.ends_with(".png")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

async fn preview_urls(result_id: i64, output_dir: Option<&Path>) -> Vec<PreviewImage> {
    let Some(dir) = output_dir else {
        return Vec::new();
    };
    let Ok(mut entries) = tokio::fs::read_dir(dir.join(PREVIEW_DIR)).await else {
        return Vec::new();
    };
    let mut names = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        if let Some(name) = entry.file_name().to_str().filter(|n| is_preview_name(n)) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|n| PreviewImage {
            url: format!("/previews/{result_id}/{n}"),
            slice: slice_index(&n),
        })
        .collect()
}

/// `preview-RR-slice-KKKK.png` -> KKKK.
fn slice_index(name: &str) -> Option<usize> {
    name.strip_suffix(".png")?
        .rsplit_once("-slice-")?
        .1
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_names_cannot_leave_the_preview_folder() {
        assert!(is_preview_name("preview-01-slice-0013.png"));
        assert!(!is_preview_name("../seg.png"));
        assert!(!is_preview_name("a/b.png"));
        assert!(!is_preview_name(".hidden.png"));
        assert!(!is_preview_name("seg.dcm"));
        assert!(!is_preview_name("x%2F.png"));
    }

    #[test]
    fn the_slice_index_is_read_from_the_preview_name() {
        assert_eq!(slice_index("preview-01-slice-0013.png"), Some(13));
        assert_eq!(slice_index("other.png"), None);
    }

    #[test]
    fn list_limits_are_defaulted_and_capped() {
        assert_eq!(list_limit(None, 50), 50);
        assert_eq!(list_limit(Some(0), 50), 1);
        assert_eq!(list_limit(Some(1_000_000), 50), MAX_LIST);
    }
}
