//! Reads for the admin page and API beyond [`views`](super::views): one study in full, the
//! deliveries that need an operator, score samples for the histogram and the metrics, job
//! times of recent series, and a liveness ping.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::Row;

use super::{with_pool, Delivery, JobState, Store, StoreError};

/// One study with every series, its job and its result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyRecord {
    pub study_uid: String,
    pub calling_ae: Option<String>,
    pub first_received_at: i64,
    pub last_received_at: i64,
    pub series: Vec<SeriesRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesRecord {
    pub series_uid: String,
    pub modality: Option<String>,
    pub instance_count: i64,
    pub first_received_at: i64,
    pub last_received_at: i64,
    pub stable_at: Option<i64>,
    /// None while the series is still receiving.
    pub job: Option<JobRecord>,
    pub result: Option<ResultRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub state: JobState,
    pub reason: Option<String>,
    pub attempts: i64,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultRecord {
    pub id: i64,
    pub study_score: f64,
    pub flagged: bool,
    pub threshold: f64,
    pub model_name: String,
    pub model_version: String,
    pub timings: Value,
    pub seg_sop_uid: Option<String>,
    pub overlay_series_uid: Option<String>,
    #[serde(skip)]
    pub output_dir: Option<PathBuf>,
    pub scored_at: i64,
}

/// A delivery that failed for good or is waiting to retry after an error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TroubledDelivery {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub study_uid: String,
    pub series_uid: String,
}

/// One result's score and scoring time, for histograms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreSample {
    pub study_score: f64,
    pub flagged: bool,
    pub model_name: String,
    pub model_version: String,
    /// `timings.total_s`, when the pipeline recorded it.
    pub total_s: Option<f64>,
}

/// When a recent series' job was queued, started and ended, and how long scoring took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesTimes {
    pub series_uid: String,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub total_s: Option<f64>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.result_id, d.destination, d.state, d.attempts, \
                                d.next_attempt_at, d.last_error, d.delivered_at";

/// A [`Delivery`] from a row that starts with [`DELIVERY_COLUMNS`] (a macro: the row type
/// differs per database).
macro_rules! delivery_from {
    ($r:expr) => {
        Delivery {
            id: $r.try_get(0)?,
            result_id: $r.try_get(1)?,
            destination: $r.try_get(2)?,
            state: $r.try_get::<String, _>(3)?.parse()?,
            attempts: $r.try_get(4)?,
            next_attempt_at: $r.try_get(5)?,
            last_error: $r.try_get(6)?,
            delivered_at: $r.try_get(7)?,
        }
    };
}

fn total_seconds(timings: &Value) -> Option<f64> {
    timings.get("total_s").and_then(Value::as_f64)
}

impl Store {
    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").fetch_one(pool).await?;
        });
        Ok(())
    }

    /// A study with its series, jobs and results, or `None` if the UID is unknown.
    pub async fn study_record(&self, study_uid: &str) -> Result<Option<StudyRecord>, StoreError> {
        with_pool!(self, pool => {
            let Some(st) = sqlx::query(
                "SELECT id, study_uid, calling_ae, first_received_at, last_received_at \
                 FROM studies WHERE study_uid = $1",
            )
            .bind(study_uid)
            .fetch_optional(pool)
            .await? else {
                return Ok(None);
            };
            let study_id: i64 = st.try_get(0)?;
            let rows = sqlx::query(
                "SELECT se.series_uid, se.modality, se.instance_count, se.first_received_at, \
                        se.last_received_at, se.stable_at, \
                        j.id, j.state, j.reason, j.attempts, j.queued_at, j.started_at, \
                        j.finished_at, \
                        r.id, r.study_score, r.flagged, r.threshold, r.model_name, \
                        r.model_version, r.timings, r.seg_sop_uid, r.overlay_series_uid, \
                        r.output_dir, r.created_at \
                 FROM series se LEFT JOIN jobs j ON j.series_id = se.id \
                 LEFT JOIN results r ON r.job_id = j.id \
                 WHERE se.study_id = $1 ORDER BY se.id",
            )
            .bind(study_id)
            .fetch_all(pool)
            .await?;
            let mut series = Vec::with_capacity(rows.len());
            for r in &rows {
                let job = match r.try_get::<Option<i64>, _>(6)? {
                    Some(id) => Some(JobRecord {
                        id,
                        state: r.try_get::<String, _>(7)?.parse()?,
                        reason: r.try_get(8)?,
                        attempts: r.try_get(9)?,
                        queued_at: r.try_get(10)?,
                        started_at: r.try_get(11)?,
                        finished_at: r.try_get(12)?,
                    }),
                    None => None,
                };
                let result = match r.try_get::<Option<i64>, _>(13)? {
                    Some(id) => Some(ResultRecord {
                        id,
                        study_score: r.try_get(14)?,
                        flagged: r.try_get(15)?,
                        threshold: r.try_get(16)?,
                        model_name: r.try_get(17)?,
                        model_version: r.try_get(18)?,
                        timings: r.try_get::<Json<Value>, _>(19)?.0,
                        seg_sop_uid: r.try_get(20)?,
                        overlay_series_uid: r.try_get(21)?,
                        output_dir: r.try_get::<Option<String>, _>(22)?.map(PathBuf::from),
                        scored_at: r.try_get(23)?,
                    }),
                    None => None,
                };
                series.push(SeriesRecord {
                    series_uid: r.try_get(0)?,
                    modality: r.try_get(1)?,
                    instance_count: r.try_get(2)?,
                    first_received_at: r.try_get(3)?,
                    last_received_at: r.try_get(4)?,
                    stable_at: r.try_get(5)?,
                    job,
                    result,
                });
            }
            Ok(Some(StudyRecord {
                study_uid: st.try_get(1)?,
                calling_ae: st.try_get(2)?,
                first_received_at: st.try_get(3)?,
                last_received_at: st.try_get(4)?,
                series,
            }))
        })
    }

    /// The folder holding a result's output files (`None` for an unknown result or one
    /// recorded without a folder).
    pub async fn result_output_dir(&self, result_id: i64) -> Result<Option<PathBuf>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT output_dir FROM results WHERE id = $1")
                .bind(result_id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(r.try_get::<Option<String>, _>(0)?.map(PathBuf::from)),
                None => Ok(None),
            }
        })
    }

    /// One delivery as stored.
    pub async fn delivery(&self, delivery_id: i64) -> Result<Option<Delivery>, StoreError> {
        with_pool!(self, pool => {
            let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries d WHERE d.id = $1");
            let row = sqlx::query(&sql).bind(delivery_id).fetch_optional(pool).await?;
            match row {
                Some(r) => Ok(Some(delivery_from!(r))),
                None => Ok(None),
            }
        })
    }

    /// Deliveries that failed for good, or that wait for a retry after an error; failed
    /// first, then the most recently due.
    pub async fn troubled_deliveries(
        &self,
        limit: i64,
    ) -> Result<Vec<TroubledDelivery>, StoreError> {
        with_pool!(self, pool => {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS}, st.study_uid, se.series_uid \
                 FROM deliveries d JOIN results r ON r.id = d.result_id \
                 JOIN series se ON se.id = r.series_id JOIN studies st ON st.id = r.study_id \
                 WHERE d.state = 'failed' \
                    OR (d.state IN ('pending', 'sending') AND d.last_error IS NOT NULL) \
                 ORDER BY CASE WHEN d.state = 'failed' THEN 0 ELSE 1 END, \
                          d.next_attempt_at DESC, d.id DESC LIMIT $1");
            let rows = sqlx::query(&sql).bind(limit).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(TroubledDelivery {
                        delivery: delivery_from!(r),
                        study_uid: r.try_get(8)?,
                        series_uid: r.try_get(9)?,
                    })
                })
                .collect()
        })
    }

    /// Score and scoring time of the `limit` most recent results, newest first.
    pub async fn score_samples(&self, limit: i64) -> Result<Vec<ScoreSample>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT study_score, flagged, model_name, model_version, timings \
                 FROM results ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(ScoreSample {
                        study_score: r.try_get(0)?,
                        flagged: r.try_get(1)?,
                        model_name: r.try_get(2)?,
                        model_version: r.try_get(3)?,
                        total_s: total_seconds(&r.try_get::<Json<Value>, _>(4)?.0),
                    })
                })
                .collect()
        })
    }

    /// Job times of every series of the `limit` most recent studies (the same studies as
    /// [`Store::recent_studies`]) that has a job.
    pub async fn recent_series_times(&self, limit: i64) -> Result<Vec<SeriesTimes>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT se.series_uid, j.queued_at, j.started_at, j.finished_at, r.timings \
                 FROM (SELECT * FROM studies ORDER BY last_received_at DESC, id DESC LIMIT $1) st \
                 JOIN series se ON se.study_id = st.id \
                 JOIN jobs j ON j.series_id = se.id \
                 LEFT JOIN results r ON r.job_id = j.id",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let timings: Option<Json<Value>> = r.try_get(4)?;
                    Ok(SeriesTimes {
                        series_uid: r.try_get(0)?,
                        queued_at: r.try_get(1)?,
                        started_at: r.try_get(2)?,
                        finished_at: r.try_get(3)?,
                        total_s: timings.and_then(|t| total_seconds(&t.0)),
                    })
                })
                .collect()
        })
    }
}
