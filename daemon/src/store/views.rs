//! What the web page, the API and the health checks read: the worklist, recent studies with
//! their state, counts, and the audit log (plus appending to it from outside the store).

use serde_json::Value;
use sqlx::types::Json;
use sqlx::Row;

use super::{
    audit, with_pool, AuditEntry, Health, JobState, SeriesStatus, Store, StoreError, StudyStatus,
    WorklistEntry, WriteTx,
};

impl Store {
    /// Flagged series, highest score first (ties: scored first, first).
    pub async fn worklist(&self, limit: i64) -> Result<Vec<WorklistEntry>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT r.id, st.study_uid, se.series_uid, st.calling_ae, r.study_score, \
                        r.threshold, r.model_name, r.model_version, r.created_at \
                 FROM results r JOIN series se ON se.id = r.series_id \
                 JOIN studies st ON st.id = r.study_id \
                 WHERE r.flagged ORDER BY r.study_score DESC, r.id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(WorklistEntry {
                        result_id: r.try_get(0)?,
                        study_uid: r.try_get(1)?,
                        series_uid: r.try_get(2)?,
                        calling_ae: r.try_get(3)?,
                        study_score: r.try_get(4)?,
                        threshold: r.try_get(5)?,
                        model_name: r.try_get(6)?,
                        model_version: r.try_get(7)?,
                        scored_at: r.try_get(8)?,
                    })
                })
                .collect()
        })
    }

    /// The `limit` studies that received an instance most recently, newest first, each with
    /// its series' job state, score, flag and delivery counts.
    pub async fn recent_studies(&self, limit: i64) -> Result<Vec<StudyStatus>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT st.study_uid, st.calling_ae, st.last_received_at, \
                        se.series_uid, se.modality, se.instance_count, se.last_received_at, \
                        j.state, j.reason, r.study_score, r.flagged, \
                        (SELECT COUNT(*) FROM deliveries d \
                          WHERE d.result_id = r.id AND d.state = 'delivered'), \
                        (SELECT COUNT(*) FROM deliveries d \
                          WHERE d.result_id = r.id AND d.state IN ('pending', 'sending')), \
                        (SELECT COUNT(*) FROM deliveries d \
                          WHERE d.result_id = r.id AND d.state = 'failed') \
                 FROM (SELECT * FROM studies ORDER BY last_received_at DESC, id DESC LIMIT $1) st \
                 JOIN series se ON se.study_id = st.id \
                 LEFT JOIN jobs j ON j.series_id = se.id \
                 LEFT JOIN results r ON r.job_id = j.id \
                 ORDER BY st.last_received_at DESC, st.id DESC, se.id",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut studies: Vec<StudyStatus> = Vec::new();
            for r in &rows {
                let study_uid: String = r.try_get(0)?;
                if studies.last().is_none_or(|s| s.study_uid != study_uid) {
                    studies.push(StudyStatus {
                        study_uid,
                        calling_ae: r.try_get(1)?,
                        last_received_at: r.try_get(2)?,
                        series: Vec::new(),
                    });
                }
                let state: Option<String> = r.try_get(7)?;
                let series = SeriesStatus {
                    series_uid: r.try_get(3)?,
                    modality: r.try_get(4)?,
                    instance_count: r.try_get(5)?,
                    last_received_at: r.try_get(6)?,
                    job_state: state.map(|s| s.parse::<JobState>()).transpose()?,
                    reason: r.try_get(8)?,
                    study_score: r.try_get(9)?,
                    flagged: r.try_get(10)?,
                    deliveries_delivered: r.try_get(11)?,
                    deliveries_open: r.try_get(12)?,
                    deliveries_failed: r.try_get(13)?,
                };
                studies.last_mut().expect("pushed above").series.push(series);
            }
            Ok(studies)
        })
    }

    /// Row counts by state, for health checks and metrics.
    pub async fn health(&self) -> Result<Health, StoreError> {
        let mut h = Health::default();
        with_pool!(self, pool => {
            let totals = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM studies), (SELECT COUNT(*) FROM instances), \
                        (SELECT MIN(queued_at) FROM jobs WHERE state = 'queued')",
            )
            .fetch_one(pool)
            .await?;
            h.studies = totals.try_get(0)?;
            h.instances = totals.try_get(1)?;
            h.oldest_queued_at = totals.try_get(2)?;
            for r in sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(pool)
                .await?
            {
                let n: i64 = r.try_get(1)?;
                match r.try_get::<String, _>(0)?.as_str() {
                    "queued" => h.jobs_queued = n,
                    "running" => h.jobs_running = n,
                    "done" => h.jobs_done = n,
                    "failed" => h.jobs_failed = n,
                    _ => h.jobs_skipped = n,
                }
            }
            for r in sqlx::query("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
                .fetch_all(pool)
                .await?
            {
                let n: i64 = r.try_get(1)?;
                match r.try_get::<String, _>(0)?.as_str() {
                    "pending" => h.deliveries_pending = n,
                    "sending" => h.deliveries_sending = n,
                    "delivered" => h.deliveries_delivered = n,
                    _ => h.deliveries_failed = n,
                }
            }
        });
        Ok(h)
    }

    /// Appends an audit row for something that happened outside the store's own state
    /// changes (a config reload, an operator action, the node starting).
    pub async fn audit_append(
        &self,
        actor: &str,
        action: &str,
        entity: &str,
        entity_id: Option<i64>,
        detail: Value,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            audit!(tx, now, actor, action, entity, entity_id, detail)?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The audit rows of one entity (`job`, `delivery`, `series`, …), oldest first.
    pub async fn audit_log(
        &self,
        entity: &str,
        entity_id: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, at, actor, action, entity, entity_id, detail FROM audit_log \
                 WHERE entity = $1 AND entity_id = $2 ORDER BY id",
            )
            .bind(entity)
            .bind(entity_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEntry {
                        id: r.try_get(0)?,
                        at: r.try_get(1)?,
                        actor: r.try_get(2)?,
                        action: r.try_get(3)?,
                        entity: r.try_get(4)?,
                        entity_id: r.try_get(5)?,
                        detail: r.try_get::<Json<Value>, _>(6)?.0,
                    })
                })
                .collect()
        })
    }
}
