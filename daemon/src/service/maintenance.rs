//! Periodic upkeep: hand the jobs and deliveries of dead workers (this node after a crash,
//! or another node) back to the queue, and watch the free space of the data folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use super::SPOOL_ALERT;
use crate::dicom::spool::free_bytes;
use crate::store::Store;
use crate::web::Readiness;

pub struct Upkeep {
    pub store: Store,
    pub stale_after: Duration,
    pub max_attempts: u32,
    pub data_dir: PathBuf,
    pub min_free_bytes: u64,
    pub readiness: Readiness,
    pub jobs_due: Arc<Notify>,
    pub deliveries_due: Arc<Notify>,
}

impl Upkeep {
    pub async fn run(self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            self.once().await;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    pub async fn once(&self) {
        match self
            .store
            .reclaim_stale_jobs(self.stale_after, self.max_attempts)
            .await
        {
            Ok(r) if !r.requeued.is_empty() || !r.failed.is_empty() => {
                info!(requeued = ?r.requeued, failed = ?r.failed, "stale jobs reclaimed");
                self.jobs_due.notify_waiters();
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot reclaim stale jobs"),
        }
        match self.store.reclaim_stale_deliveries(self.stale_after).await {
            Ok(ids) if !ids.is_empty() => {
                info!(deliveries = ?ids, "stale deliveries reclaimed");
                self.deliveries_due.notify_waiters();
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot reclaim stale deliveries"),
        }
        match free_bytes(&self.data_dir) {
            Ok(free) if free < self.min_free_bytes => self.readiness.set_alert(
                SPOOL_ALERT,
                format!(
                    "data folder has {} MiB free, below the {} MiB minimum: new instances are refused",
                    free >> 20,
                    self.min_free_bytes >> 20
                ),
            ),
            _ => self.readiness.clear_alert(SPOOL_ALERT),
        }
    }
}
