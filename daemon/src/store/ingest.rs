//! Instances in, and a series' single job once the series is complete.

use std::path::PathBuf;

use serde_json::json;
use sqlx::Row;

use super::{audit, with_pool, JobState, NewInstance, Recorded, Store, StoreError, WriteTx};

impl Store {
    /// Records a received instance with its study and series. Idempotent on the SOP
    /// Instance UID: a re-sent instance returns [`Recorded::Duplicate`] and changes nothing.
    pub async fn record_instance(&self, i: &NewInstance) -> Result<Recorded, StoreError> {
        let now = self.now_ms();
        let path = i.file_path.to_string_lossy().into_owned();
        let size = i.size_bytes.map(|s| s as i64);
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let seen = sqlx::query("SELECT id FROM instances WHERE sop_instance_uid = $1")
                .bind(&i.sop_instance_uid)
                .fetch_optional(&mut *tx)
                .await?;
            if seen.is_some() {
                return Ok(Recorded::Duplicate);
            }
            let study_id: i64 = sqlx::query(
                "INSERT INTO studies (study_uid, calling_ae, first_received_at, last_received_at) \
                 VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (study_uid) DO UPDATE SET last_received_at = excluded.last_received_at \
                 RETURNING id",
            )
            .bind(&i.study_uid)
            .bind(&i.calling_ae)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            let series = sqlx::query(
                "INSERT INTO series (study_id, series_uid, modality, calling_ae, instance_count, \
                                     first_received_at, last_received_at) \
                 VALUES ($1, $2, $3, $4, 1, $5, $5) \
                 ON CONFLICT (series_uid) DO UPDATE SET \
                     last_received_at = excluded.last_received_at, \
                     instance_count = series.instance_count + 1 \
                 RETURNING id, instance_count",
            )
            .bind(study_id)
            .bind(&i.series_uid)
            .bind(&i.modality)
            .bind(&i.calling_ae)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let series_id: i64 = series.try_get(0)?;
            let count: i64 = series.try_get(1)?;
            // A concurrent insert of the same instance (PostgreSQL) ends here with no row.
            let inserted = sqlx::query(
                "INSERT INTO instances (series_id, sop_instance_uid, sop_class_uid, calling_ae, \
                                        received_at, file_path, size_bytes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (sop_instance_uid) DO NOTHING RETURNING id",
            )
            .bind(series_id)
            .bind(&i.sop_instance_uid)
            .bind(&i.sop_class_uid)
            .bind(&i.calling_ae)
            .bind(now)
            .bind(&path)
            .bind(size)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = inserted else {
                tx.rollback().await?;
                return Ok(Recorded::Duplicate);
            };
            let instance_id: i64 = row.try_get(0)?;
            if count == 1 {
                audit!(tx, now, self.actor(), "series.receiving", "series", Some(series_id),
                    json!({"series_uid": i.series_uid, "study_uid": i.study_uid,
                           "calling_ae": i.calling_ae, "modality": i.modality}))?;
            }
            tx.commit().await?;
            Ok(Recorded::New { instance_id, series_id })
        })
    }

    /// Marks a series complete and queues its job. A series gets one job ever (which
    /// [`Store::requeue_if_grown`] may run again): the first call returns `Some(job id)`,
    /// later ones `None`.
    pub async fn mark_series_stable(&self, series_uid: &str) -> Result<Option<i64>, StoreError> {
        let now = self.now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let series = sqlx::query(
                "UPDATE series SET stable_at = COALESCE(stable_at, $2) \
                 WHERE series_uid = $1 RETURNING id, instance_count",
            )
            .bind(series_uid)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::UnknownSeries(series_uid.to_owned()))?;
            let series_id: i64 = series.try_get(0)?;
            let count: i64 = series.try_get(1)?;
            let job = sqlx::query(
                "INSERT INTO jobs (series_id, state, queued_at, not_before) \
                 VALUES ($1, 'queued', $2, $2) \
                 ON CONFLICT (series_id) DO NOTHING RETURNING id",
            )
            .bind(series_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let job_id = match job {
                Some(row) => {
                    let id: i64 = row.try_get(0)?;
                    audit!(tx, now, self.actor(), "job.queued", "job", Some(id),
                        json!({"series_uid": series_uid, "series_id": series_id,
                               "instances": count}))?;
                    Some(id)
                }
                None => None,
            };
            tx.commit().await?;
            Ok(job_id)
        })
    }

    /// Puts a series' skipped or failed job back in the queue when instances arrived after
    /// its last claim: the job never saw them, and they may be what it lacked (a series
    /// skipped for missing slices that the sender completes later). It is due `settle` after
    /// the series' last instance, so that a sender still sending can finish first. Returns
    /// the job id when it was requeued. A queued job reads every instance when it runs; a
    /// running or done job is left as it is.
    pub async fn requeue_if_grown(
        &self,
        series_uid: &str,
        settle: std::time::Duration,
    ) -> Result<Option<i64>, StoreError> {
        let now = self.now_ms();
        let settle_ms = settle.as_millis() as i64;
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let row = sqlx::query(
                "UPDATE jobs SET state = 'queued', finished_at = NULL, \
                     not_before = (SELECT CASE WHEN s.last_received_at + $3 > $2 \
                                          THEN s.last_received_at + $3 ELSE $2 END \
                                   FROM series s WHERE s.id = jobs.series_id), \
                     reason = 'instances arrived after the job ended (' || state || ': ' \
                              || COALESCE(reason, '') || ')' \
                 WHERE series_id = (SELECT id FROM series WHERE series_uid = $1) \
                   AND state IN ('skipped', 'failed') \
                   AND EXISTS (SELECT 1 FROM instances i \
                               WHERE i.series_id = jobs.series_id AND i.received_at > jobs.claimed_at) \
                 RETURNING id, reason, not_before",
            )
            .bind(series_uid)
            .bind(now)
            .bind(settle_ms)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let id: i64 = row.try_get(0)?;
            let reason: String = row.try_get(1)?;
            let due: i64 = row.try_get(2)?;
            audit!(tx, now, self.actor(), "job.queued", "job", Some(id),
                json!({"series_uid": series_uid, "reason": reason, "not_before": due}))?;
            tx.commit().await?;
            Ok(Some(id))
        })
    }

    /// The files of a series' instances, in the order they arrived.
    pub async fn series_files(&self, series_id: i64) -> Result<Vec<PathBuf>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT file_path FROM instances WHERE series_id = $1 ORDER BY id")
                .bind(series_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok(PathBuf::from(r.try_get::<String, _>(0)?)))
                .collect()
        })
    }

    /// Series that have instances but no job, with the time of their last instance: after a
    /// restart, the pipeline marks those idle long enough as stable.
    pub async fn series_without_job(&self) -> Result<Vec<(String, i64)>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT s.series_uid, s.last_received_at FROM series s \
                 WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.series_id = s.id) \
                 ORDER BY s.last_received_at",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }
}

impl Store {
    /// The state of the series' job, or `None` when it has none yet: a series found again in
    /// the spool after a restart that has a job is then not recorded a second time.
    pub async fn series_job_state(&self, series_uid: &str) -> Result<Option<JobState>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT j.state FROM jobs j JOIN series s ON s.id = j.series_id \
                 WHERE s.series_uid = $1",
            )
            .bind(series_uid)
            .fetch_optional(pool)
            .await?;
            row.map(|r| r.try_get::<String, _>(0)?.parse()).transpose()
        })
    }
}
