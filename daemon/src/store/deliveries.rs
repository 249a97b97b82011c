//! The outbox: one row per (result, destination). A sender claims a due delivery, sends,
//! and marks it delivered, or failed with the destination's backoff until its attempts run
//! out. Claims follow the job queue's rules (SKIP LOCKED on PostgreSQL, one writer on SQLite).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use sqlx::types::Json;
use sqlx::Row;

use super::{audit, with_pool, Delivery, DeliveryClaim, Retry, Store, StoreError, WriteTx};
use crate::dicom::config::RetryPolicy;

const HELD: &str = "id = $1 AND state = 'sending' AND claimed_by = $2 AND attempts = $3";

impl Store {
    /// Queues a delivery of `result_id` to each destination not queued yet; returns how many
    /// were added. (`finish_job` already queues the configured destinations.)
    pub async fn enqueue_deliveries(
        &self,
        result_id: i64,
        destinations: &[&str],
    ) -> Result<usize, StoreError> {
        let now = self.now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let mut added = 0;
            for d in destinations {
                let row = sqlx::query(
                    "INSERT INTO deliveries (result_id, destination, state, next_attempt_at, created_at) \
                     VALUES ($1, $2, 'pending', $3, $3) \
                     ON CONFLICT (result_id, destination) DO NOTHING RETURNING id",
                )
                .bind(result_id)
                .bind(*d)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(r) = row {
                    let id: i64 = r.try_get(0)?;
                    audit!(tx, now, self.actor(), "delivery.pending", "delivery", Some(id),
                        json!({"result_id": result_id, "destination": d}))?;
                    added += 1;
                }
            }
            tx.commit().await?;
            Ok(added)
        })
    }

    /// Hands the delivery that has been due longest to `worker`, or `None`.
    pub async fn claim_due_delivery(
        &self,
        worker: &str,
    ) -> Result<Option<DeliveryClaim>, StoreError> {
        let now = self.now_ms();
        let set = "state = 'sending', attempts = attempts + 1, claimed_by = $1, claimed_at = $2";
        let due = "SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= $2 \
                   ORDER BY next_attempt_at, id LIMIT 1";
        let returning = "RETURNING id, result_id, destination, attempts";
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let sql = match self.engine() {
                super::Engine::Postgres => format!(
                    "UPDATE deliveries SET {set} WHERE id = ({due} FOR UPDATE SKIP LOCKED) {returning}"),
                super::Engine::Sqlite => format!(
                    "UPDATE deliveries SET {set} WHERE id = ({due}) {returning}"),
            };
            let Some(row) = sqlx::query(&sql).bind(worker).bind(now).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let delivery_id: i64 = row.try_get(0)?;
            let result_id: i64 = row.try_get(1)?;
            let destination: String = row.try_get(2)?;
            let attempt: i64 = row.try_get(3)?;
            let r = sqlx::query(
                "SELECT st.study_uid, se.series_uid, r.seg_sop_uid, r.overlay_series_uid, \
                        r.overlay_sop_uids, r.output_dir \
                 FROM results r JOIN series se ON se.id = r.series_id \
                 JOIN studies st ON st.id = r.study_id WHERE r.id = $1",
            )
            .bind(result_id)
            .fetch_one(&mut *tx)
            .await?;
            let claim = DeliveryClaim {
                delivery_id,
                result_id,
                destination,
                worker: worker.to_owned(),
                attempt,
                study_uid: r.try_get(0)?,
                series_uid: r.try_get(1)?,
                seg_sop_uid: r.try_get(2)?,
                overlay_series_uid: r.try_get(3)?,
                overlay_sop_uids: r.try_get::<Json<Vec<String>>, _>(4)?.0,
                output_dir: r.try_get::<Option<String>, _>(5)?.map(PathBuf::from),
            };
            audit!(tx, now, worker, "delivery.sending", "delivery", Some(delivery_id),
                json!({"destination": claim.destination, "attempt": attempt}))?;
            tx.commit().await?;
            Ok(Some(claim))
        })
    }

    /// The destination acknowledged everything.
    pub async fn mark_delivered(&self, claim: &DeliveryClaim) -> Result<(), StoreError> {
        let now = self.now_ms();
        let sql = format!(
            "UPDATE deliveries SET state = 'delivered', delivered_at = $4, last_error = NULL WHERE {HELD}");
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let n = sqlx::query(&sql)
                .bind(claim.delivery_id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            held(n, claim)?;
            audit!(tx, now, &claim.worker, "delivery.delivered", "delivery", Some(claim.delivery_id),
                json!({"destination": claim.destination, "attempt": claim.attempt}))?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The attempt failed with `error`: retried after the policy's delay, or failed for good
    /// once `policy.attempts` tries were made.
    pub async fn mark_delivery_failed(
        &self,
        claim: &DeliveryClaim,
        error: &str,
        policy: &RetryPolicy,
    ) -> Result<Retry, StoreError> {
        let now = self.now_ms();
        let outcome = if claim.attempt >= i64::from(policy.attempts) {
            Retry::GaveUp
        } else {
            let next = u32::try_from(claim.attempt + 1).unwrap_or(u32::MAX);
            Retry::At(now + policy.delay_before(next).as_millis() as i64)
        };
        let (state, next_at) = match outcome {
            Retry::At(t) => ("pending", t),
            Retry::GaveUp => ("failed", now),
        };
        let sql = format!(
            "UPDATE deliveries SET state = $4, next_attempt_at = $5, last_error = $6 WHERE {HELD}"
        );
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let n = sqlx::query(&sql)
                .bind(claim.delivery_id)
                .bind(&claim.worker)
                .bind(claim.attempt)
                .bind(state)
                .bind(next_at)
                .bind(error)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            held(n, claim)?;
            audit!(tx, now, &claim.worker, format!("delivery.{state}"), "delivery",
                Some(claim.delivery_id),
                json!({"destination": claim.destination, "attempt": claim.attempt,
                       "error": error, "next_attempt_at": next_at}))?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// Deliveries stuck in `sending` for longer than `stale_after` (their sender died) become
    /// due again; returns their ids.
    pub async fn reclaim_stale_deliveries(
        &self,
        stale_after: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let now = self.now_ms();
        let cutoff = now - stale_after.as_millis() as i64;
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let rows = sqlx::query(
                "UPDATE deliveries SET state = 'pending', next_attempt_at = $2, \
                     last_error = 'sender ' || claimed_by || ' stopped' \
                 WHERE state = 'sending' AND claimed_at < $1 RETURNING id, claimed_by",
            )
            .bind(cutoff)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let mut ids = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: i64 = r.try_get(0)?;
                let by: Option<String> = r.try_get(1)?;
                audit!(tx, now, self.actor(), "delivery.pending", "delivery", Some(id),
                    json!({"reason": "stale claim", "claimed_by": by}))?;
                ids.push(id);
            }
            tx.commit().await?;
            ids.sort_unstable();
            Ok(ids)
        })
    }

    /// An operator's retry: a failed delivery becomes due now with its attempts reset.
    /// Returns false when the delivery is not in the failed state.
    pub async fn retry_delivery(&self, delivery_id: i64, actor: &str) -> Result<bool, StoreError> {
        let now = self.now_ms();
        with_pool!(self, pool => {
            let mut tx = pool.write_tx().await?;
            let n = sqlx::query(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = $2 \
                 WHERE id = $1 AND state = 'failed'",
            )
            .bind(delivery_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                audit!(tx, now, actor, "delivery.pending", "delivery", Some(delivery_id),
                    json!({"reason": "retry requested"}))?;
            }
            tx.commit().await?;
            Ok(n == 1)
        })
    }

    /// The deliveries of one result.
    pub async fn deliveries(&self, result_id: i64) -> Result<Vec<Delivery>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, result_id, destination, state, attempts, next_attempt_at, last_error, \
                        delivered_at FROM deliveries WHERE result_id = $1 ORDER BY id",
            )
            .bind(result_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(Delivery {
                        id: r.try_get(0)?,
                        result_id: r.try_get(1)?,
                        destination: r.try_get(2)?,
                        state: r.try_get::<String, _>(3)?.parse()?,
                        attempts: r.try_get(4)?,
                        next_attempt_at: r.try_get(5)?,
                        last_error: r.try_get(6)?,
                        delivered_at: r.try_get(7)?,
                    })
                })
                .collect()
        })
    }
}

fn held(rows: u64, claim: &DeliveryClaim) -> Result<(), StoreError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::LostClaim {
            entity: "delivery",
            id: claim.delivery_id,
            worker: claim.worker.clone(),
            attempt: claim.attempt,
        })
    }
}
