//! The job queue: claim, heartbeat, stage times, and the ends of a job (done with its result
//! and deliveries, failed, skipped, requeued), plus reclaiming jobs whose worker died.
//!
//! A claim is `(job id, worker, attempt)`; every later write checks all three against the
//! row, so a worker whose claim was reclaimed can never record over its successor.

use std::time::Duration;

use serde_json::json;
use sqlx::Row;

use super::{
    audit, with_pool, Job, JobClaim, JobState, NewResult, Reclaimed, Store, StoreError, WriteTx,
};

/// Columns of a claimed job, as both claim statements return them.
const CLAIMED: &str = "id, series_id, attempts";

/// Same predicate in every write that requires the caller to still hold the claim.
const HELD: &str = "id = $1 AND state = 'running' AND claimed_by = $2 AND attempts = $3";

impl Store {
    /// Hands the oldest due queued job to `worker`, or `None` when the queue is empty. Two
    /// workers (threads or processes) never receive the same job: PostgreSQL skips rows
    /// another transaction has locked; SQLite serializes writers.
    pub async fn claim_job(&self, worker: &str) -> Result<Option<JobClaim>, StoreError> {
        let now = self.now_ms();
        let set = "state = 'running', attempts = attempts + 1, claimed_by = $1, \
                   claimed_at = $2, heartbeat_at = $2, started_at = COALESCE(started_at, $2)";
        let due = "SELECT id FROM jobs WHERE state = 'queued' AND not_before <= $2 \
                   ORDER BY not_before, id LIMIT 1";
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let claimed = match self.engine() {
                super::Engine::Postgres => {
                    let sql = format!("UPDATE jobs SET {set} WHERE id = \
                                       ({due} FOR UPDATE SKIP LOCKED) RETURNING {CLAIMED}");
                    sqlx::query(&sql).bind(worker).bind(now).fetch_optional(&mut *tx).await?
                }
                super::Engine::Sqlite => {
                    let sql = format!("UPDATE jobs SET {set} WHERE id = ({due}) RETURNING {CLAIMED}");
                    sqlx::query(&sql).bind(worker).bind(now).fetch_optional(&mut *tx).await?
                }
            };
            let Some(row) = claimed else {
                return Ok(None);
            };
            let job_id: i64 = row.try_get(0)?;
            let series_id: i64 = row.try_get(1)?;
            let attempt: i64 = row.try_get(2)?;
            let uids = sqlx::query(
                "SELECT st.study_uid, se.series_uid FROM series se \
                 JOIN studies st ON st.id = se.study_id WHERE se.id = $1",
            )
            .bind(series_id)
            .fetch_one(&mut *tx)
            .await?;
            let claim = JobClaim {
                job_id,
                series_id,
                study_uid: uids.try_get(0)?,
                series_uid: uids.try_get(1)?,
                worker: worker.to_owned(),
                attempt,
            };
            audit!(tx, now, worker, "job.running", "job", Some(job_id),
                json!({"attempt": attempt, "series_uid": claim.series_uid}))?;
            tx.commit().await?;
            Ok(Some(claim))
        })
    }

    /// Tells the store the worker is alive; fails with [`StoreError::LostClaim`] if the job
    /// was reclaimed meanwhile.
    pub async fn heartbeat(&self, claim: &JobClaim) -> Result<(), StoreError> {
        let now = self.now_ms();
        let sql = format!("UPDATE jobs SET heartbeat_at = $4 WHERE {HELD}");
        let done = with_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(claim.job_id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        held(done, claim)
    }

    /// Records that `stage` (e.g. `load`, `score`, `write`) started; also a heartbeat.
    pub async fn stage_started(&self, claim: &JobClaim, stage: &str) -> Result<(), StoreError> {
        self.stage_event(claim, stage, true).await
    }

    /// Records that `stage` ended; also a heartbeat.
    pub async fn stage_finished(&self, claim: &JobClaim, stage: &str) -> Result<(), StoreError> {
        self.stage_event(claim, stage, false).await
    }

    async fn stage_event(
        &self,
        claim: &JobClaim,
        stage: &str,
        start: bool,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let beat = format!("UPDATE jobs SET heartbeat_at = $4 WHERE {HELD}");
        let stage_sql = if start {
            "INSERT INTO job_stages (job_id, attempt, stage, started_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job_id, attempt, stage) \
             DO UPDATE SET started_at = excluded.started_at, finished_at = NULL"
        } else {
            "UPDATE job_stages SET finished_at = $4 \
             WHERE job_id = $1 AND attempt = $2 AND stage = $3"
        };
        let action = if start {
            "stage.started"
        } else {
            "stage.finished"
        };
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let n = sqlx::query(&beat)
                .bind(claim.job_id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            held(n, claim)?;
            sqlx::query(stage_sql)
                .bind(claim.job_id)
                .bind(claim.attempt)
                .bind(stage)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            audit!(tx, now, &claim.worker, action, "job", Some(claim.job_id),
                json!({"stage": stage, "attempt": claim.attempt}))?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Ends a job with its result and queues one delivery per destination, atomically:
    /// either all of it is recorded or none. Returns the result's id.
    pub async fn finish_job(
        &self,
        claim: &JobClaim,
        result: &NewResult,
        destinations: &[&str],
    ) -> Result<i64, StoreError> {
        let now = self.now_ms();
        let end =
            format!("UPDATE jobs SET state = 'done', reason = NULL, finished_at = $4 WHERE {HELD}");
        let output_dir = result
            .output_dir
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let n = sqlx::query(&end)
                .bind(claim.job_id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            held(n, claim)?;
            let result_id: i64 = sqlx::query(
                "INSERT INTO results (job_id, series_id, study_id, study_score, flagged, threshold, \
                     model_name, model_version, timings, seg_sop_uid, overlay_series_uid, \
                     overlay_sop_uids, output_dir, created_at) \
                 SELECT $1, se.id, se.study_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
                 FROM series se WHERE se.id = $13 RETURNING id",
            )
            .bind(claim.job_id)
            .bind(result.study_score)
            .bind(result.flagged)
            .bind(result.threshold)
            .bind(&result.model_name)
            .bind(&result.model_version)
            .bind(sqlx::types::Json(&result.timings))
            .bind(&result.seg_sop_uid)
            .bind(&result.overlay_series_uid)
            .bind(sqlx::types::Json(&result.overlay_sop_uids))
            .bind(&output_dir)
            .bind(now)
            .bind(claim.series_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            audit!(tx, now, &claim.worker, "job.done", "job", Some(claim.job_id),
                json!({"result_id": result_id, "study_score": result.study_score,
                       "flagged": result.flagged, "threshold": result.threshold,
                       "model": format!("{} {}", result.model_name, result.model_version)}))?;
            for d in destinations {
                let id: i64 = sqlx::query(
                    "INSERT INTO deliveries (result_id, destination, state, next_attempt_at, created_at) \
                     VALUES ($1, $2, 'pending', $3, $3) RETURNING id",
                )
                .bind(result_id)
                .bind(*d)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
                audit!(tx, now, &claim.worker, "delivery.pending", "delivery", Some(id),
                    json!({"result_id": result_id, "destination": d}))?;
            }
            tx.commit().await?;
            Ok(result_id)
        })
    }

    /// Ends a job as failed: not retried, unless its series grows
    /// ([`Store::requeue_if_grown`]).
    pub async fn fail_job(&self, claim: &JobClaim, reason: &str) -> Result<(), StoreError> {
        self.end_job(claim, JobState::Failed, reason).await
    }

    /// Ends a job as skipped: the series is not for us (not CT, unscorable), with the reason.
    pub async fn skip_job(&self, claim: &JobClaim, reason: &str) -> Result<(), StoreError> {
        self.end_job(claim, JobState::Skipped, reason).await
    }

    async fn end_job(
        &self,
        claim: &JobClaim,
        state: JobState,
        reason: &str,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let sql = format!("UPDATE jobs SET state = $5, reason = $6, finished_at = $4 WHERE {HELD}");
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let n = sqlx::query(&sql)
                .bind(claim.job_id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .bind(now)
                .bind(state.as_str())
                .bind(reason)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            held(n, claim)?;
            audit!(tx, now, &claim.worker, format!("job.{}", state.as_str()), "job",
                Some(claim.job_id), json!({"reason": reason, "attempt": claim.attempt}))?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Puts a claimed job back in the queue, due after `delay` (a transient fault such as a
    /// full disk). Its attempt count is kept.
    pub async fn requeue_job(
        &self,
        claim: &JobClaim,
        reason: &str,
        delay: Duration,
    ) -> Result<(), StoreError> {
        let now = self.now_ms();
        let due = now + delay.as_millis() as i64;
        let sql =
            format!("UPDATE jobs SET state = 'queued', reason = $5, not_before = $6 WHERE {HELD}");
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let n = sqlx::query(&sql)
                .bind(claim.job_id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .bind(now)
                .bind(reason)
                .bind(due)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            held(n, claim)?;
            audit!(tx, now, &claim.worker, "job.queued", "job", Some(claim.job_id),
                json!({"reason": reason, "not_before": due}))?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Running jobs whose heartbeat is older than `stale_after` lost their worker: they go
    /// back to the queue, or fail once they have been claimed `max_attempts` times (a series
    /// that kills its worker every time must not crash the node forever).
    pub async fn reclaim_stale_jobs(
        &self,
        stale_after: Duration,
        max_attempts: u32,
    ) -> Result<Reclaimed, StoreError> {
        let now = self.now_ms();
        let cutoff = now - stale_after.as_millis() as i64;
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let rows = sqlx::query(
                "UPDATE jobs SET \
                     state = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END, \
                     reason = 'claim by ' || claimed_by || ' went stale', \
                     not_before = $3, \
                     finished_at = CASE WHEN attempts >= $2 THEN $3 ELSE NULL END \
                 WHERE state = 'running' AND heartbeat_at < $1 \
                 RETURNING id, state, claimed_by, attempts",
            )
            .bind(cutoff)
            .bind(i64::from(max_attempts))
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let mut out = Reclaimed::default();
            for r in &rows {
                let id: i64 = r.try_get(0)?;
                let state: String = r.try_get(1)?;
                let by: Option<String> = r.try_get(2)?;
                let attempts: i64 = r.try_get(3)?;
                audit!(tx, now, self.actor(), format!("job.{state}"), "job", Some(id),
                    json!({"reason": "stale claim", "claimed_by": by, "attempts": attempts}))?;
                if state == "failed" { out.failed.push(id) } else { out.requeued.push(id) }
            }
            tx.commit().await?;
            out.requeued.sort_unstable();
            out.failed.sort_unstable();
            Ok(out)
        })
    }

    /// One job as stored.
    pub async fn job(&self, job_id: i64) -> Result<Option<Job>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT id, series_id, state, reason, attempts, claimed_by, claimed_at, \
                        heartbeat_at, queued_at, not_before, started_at, finished_at \
                 FROM jobs WHERE id = $1",
            )
            .bind(job_id)
            .fetch_optional(pool)
            .await?;
            row.map(|r| -> Result<Job, StoreError> {
                Ok(Job {
                    id: r.try_get(0)?,
                    series_id: r.try_get(1)?,
                    state: r.try_get::<String, _>(2)?.parse()?,
                    reason: r.try_get(3)?,
                    attempts: r.try_get(4)?,
                    claimed_by: r.try_get(5)?,
                    claimed_at: r.try_get(6)?,
                    heartbeat_at: r.try_get(7)?,
                    queued_at: r.try_get(8)?,
                    not_before: r.try_get(9)?,
                    started_at: r.try_get(10)?,
                    finished_at: r.try_get(11)?,
                })
            })
            .transpose()
        })
    }

    /// Stage start and end times of a job, `(attempt, stage, started_at, finished_at)`.
    pub async fn job_stages(
        &self,
        job_id: i64,
    ) -> Result<Vec<(i64, String, i64, Option<i64>)>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT attempt, stage, started_at, finished_at FROM job_stages \
                 WHERE job_id = $1 ORDER BY id",
            )
            .bind(job_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
                .collect()
        })
    }
}

fn held(rows: u64, claim: &JobClaim) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::LostClaim {
            entity: "job",
            id: claim.job_id,
            worker: claim.worker.clone(),
            attempt: claim.attempt,
        })
    }
}
