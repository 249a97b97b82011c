//! Received instances into the store, and complete series into the job queue.
//!
//! Each instance is recorded as it arrives (so the admin page shows a study while it is
//! received). When grouping reports a series complete, every file of it is recorded again
//! (a no-op for those already there; this catches instances acknowledged just before a
//! crash, which grouping finds in the spool at the next start) and the series gets its job.
//! A series whose job was skipped or failed and which grew since is queued again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::dicom::{SeriesReady, StoredInstance};
use crate::store::{JobState, NewInstance, Store};

/// Records each stored instance; ends when the listener side closes.
pub async fn record_arrivals(store: Store, mut stored: mpsc::Receiver<StoredInstance>) {
    while let Some(i) = stored.recv().await {
        let new = NewInstance {
            study_uid: i.study.to_string(),
            series_uid: i.series.to_string(),
            sop_instance_uid: i.sop_instance.to_string(),
            sop_class_uid: Some(i.sop_class.clone()),
            modality: None,
            calling_ae: Some(i.calling_ae.clone()),
            size_bytes: std::fs::metadata(&i.path).ok().map(|m| m.len()),
            file_path: i.path,
        };
        if let Err(e) = store.record_instance(&new).await {
            // Not lost: the file is in the spool and is recorded when its series completes.
            warn!(error = %e, "instance not recorded yet");
        }
    }
}

/// Turns complete series into jobs; wakes the scoring workers. Ends when grouping ends.
pub async fn queue_series(store: Store, mut ready: mpsc::Receiver<SeriesReady>, wake: Arc<Notify>) {
    while let Some(series) = ready.recv().await {
        let span = info_span!("series", series = %series.series);
        async {
            match queue_one(&store, &series).await {
                Ok(Queued::New(job)) => {
                    info!(
                        job,
                        instances = series.instance_count,
                        "series queued for scoring"
                    );
                    wake.notify_waiters();
                }
                Ok(Queued::Again(job)) => {
                    info!(
                        job,
                        "instances arrived after the series' job ended; queued again"
                    );
                    wake.notify_waiters();
                }
                Ok(Queued::AlreadyHasJob) => debug!("series already has its job"),
                Err(e) => warn!(error = %e, "series not queued; it is retried at the next start"),
            }
        }
        .instrument(span)
        .await;
    }
}

/// What became of a complete series.
enum Queued {
    New(i64),
    /// Its skipped or failed job, queued again because the series grew since.
    Again(i64),
    AlreadyHasJob,
}

async fn queue_one(
    store: &Store,
    series: &SeriesReady,
) -> Result<Queued, crate::store::StoreError> {
    let series_uid = series.series.to_string();
    match store.series_job_state(&series_uid).await? {
        None => {}
        Some(JobState::Skipped | JobState::Failed) => {
            let again = store.requeue_if_grown(&series_uid, Duration::ZERO).await?;
            return Ok(again.map_or(Queued::AlreadyHasJob, Queued::Again));
        }
        Some(_) => return Ok(Queued::AlreadyHasJob),
    }
    for file in &series.files {
        let Some(sop) = file.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let new = NewInstance {
            study_uid: series.study.to_string(),
            series_uid: series_uid.clone(),
            sop_instance_uid: sop.to_owned(),
            sop_class_uid: None,
            modality: None,
            calling_ae: series.calling_ae.clone(),
            size_bytes: file_size(file),
            file_path: file.clone(),
        };
        store.record_instance(&new).await?;
    }
    let job = store.mark_series_stable(&series_uid).await?;
    Ok(job.map_or(Queued::AlreadyHasJob, Queued::New))
}

fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}
