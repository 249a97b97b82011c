//! The scoring workers: claim a queued job, read the series, score it, write the SEG, the
//! overlay and the previews, and record the result with its deliveries in one transaction.
//!
//! Each stage's start and end go to the store. Results are written into a scratch folder
//! and renamed into place, so a crash never leaves half a result that a delivery could pick
//! up; a job interrupted by a crash is reclaimed and scored again with the same UIDs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use screener_core::bundle::Manifest;
use serde_json::json;
use tokio::sync::{watch, Notify};
use tracing::{error, info, info_span, warn, Instrument};

use super::DISK_ALERT;
use crate::dicom::spool::free_bytes;
use crate::engine::{ScoreResult, Scorer};
use crate::outputs::{
    abnormal_mask, display_scores, read_series_folder, write_dicom_results, InputError, ScoreInput,
};
use crate::store::{JobClaim, NewResult, Store, StoreError};
use crate::web::Readiness;
use crate::writers::preview::PREVIEW_DIR;
use crate::writers::render_previews;

/// What every scoring worker shares.
#[derive(Clone)]
pub struct ScoringContext {
    pub store: Store,
    pub scorer: Arc<Mutex<Scorer>>,
    pub manifest: Arc<Manifest>,
    /// `<data_dir>/results`: one folder per scored series.
    pub results_dir: PathBuf,
    /// Names of the DICOM destinations every result goes to.
    pub destinations: Vec<String>,
    /// Flagged results are also posted to the webhook.
    pub webhook: bool,
    pub heartbeat: Duration,
    pub retry_delay: Duration,
    /// `dicom.stable_age_s`: how long a series must be idle before it is read.
    pub stable_after: Duration,
    pub previews: usize,
    pub readiness: Readiness,
    /// Woken when a result with deliveries was recorded.
    pub deliveries_due: Arc<Notify>,
}

/// How a job ended, when it did not end with a result.
enum JobEnd {
    /// Not for us or not scorable: recorded with the reason, not retried.
    Skip(String),
    /// A fault that may pass (disk full): back in the queue after a while.
    Requeue(String),
    Fail(String),
    /// Another worker holds the job now; record nothing.
    LostClaim,
}

impl From<StoreError> for JobEnd {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LostClaim { .. } => JobEnd::LostClaim,
            other => JobEnd::Fail(format!("store: {other}")),
        }
    }
}

/// One worker: claims and runs jobs until `shutdown` turns true.
pub async fn run_worker(
    ctx: ScoringContext,
    label: String,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = ctx.store.worker_id(&label);
    while !*shutdown.borrow() {
        match ctx.store.claim_job(&worker).await {
            Ok(Some(claim)) => {
                let span = info_span!("job", job = claim.job_id, attempt = claim.attempt,
                    series = %claim.series_uid);
                run_job(&ctx, claim).instrument(span).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot claim a job"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn run_job(ctx: &ScoringContext, claim: JobClaim) {
    let started = Instant::now();
    let heartbeat = tokio::spawn(beat(ctx.store.clone(), claim.clone(), ctx.heartbeat));
    let outcome = score_job(ctx, &claim, started).await;
    heartbeat.abort();
    let store = &ctx.store;
    let ended_without_result = matches!(outcome, Err(JobEnd::Skip(_) | JobEnd::Fail(_)));
    let recorded = match outcome {
        Ok(result_id) => {
            info!(
                result_id,
                seconds = started.elapsed().as_secs_f64(),
                "job done"
            );
            Ok(())
        }
        Err(JobEnd::Skip(reason)) => {
            info!(%reason, "series skipped");
            store.skip_job(&claim, &reason).await
        }
        Err(JobEnd::Requeue(reason)) => {
            warn!(%reason, "job put back in the queue");
            store.requeue_job(&claim, &reason, ctx.retry_delay).await
        }
        Err(JobEnd::Fail(reason)) => {
            error!(%reason, "job failed");
            store.fail_job(&claim, &reason).await
        }
        Err(JobEnd::LostClaim) => {
            warn!("job was reclaimed by another worker; its outcome here is dropped");
            Ok(())
        }
    };
    match recorded {
        Err(e) => warn!(error = %e, "job outcome not recorded; the job will be reclaimed"),
        Ok(()) if ended_without_result => requeue_if_grown(ctx, &claim).await,
        Ok(()) => {}
    }
}

/// After a job ended without a result: instances that arrived while it ran (the rest of a
/// series it found incomplete) put it back in the queue, due once the series has been idle
/// for `dicom.stable_age_s`. Those arriving later do so when their series completes again
/// (see `ingest`).
async fn requeue_if_grown(ctx: &ScoringContext, claim: &JobClaim) {
    match ctx
        .store
        .requeue_if_grown(&claim.series_uid, ctx.stable_after)
        .await
    {
        Ok(Some(job)) => info!(job, "instances arrived while the job ran; queued again"),
        Ok(None) => {}
        Err(e) => warn!(error = %e, "not checked for instances that arrived meanwhile"),
    }
}

/// Heartbeats until aborted; stops early once the claim is lost.
async fn beat(store: Store, claim: JobClaim, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = store.heartbeat(&claim).await {
            warn!(error = %e, "heartbeat not recorded");
            if matches!(e, StoreError::LostClaim { .. }) {
                return;
            }
        }
    }
}

async fn score_job(
    ctx: &ScoringContext,
    claim: &JobClaim,
    started: Instant,
) -> Result<i64, JobEnd> {
    let store = &ctx.store;

    store.stage_started(claim, "load").await?;
    let t = Instant::now();
    let files = store.series_files(claim.series_id).await?;
    let Some(folder) = files.first().and_then(|f| f.parent()).map(Path::to_owned) else {
        return Err(JobEnd::Skip("the series has no instances".into()));
    };
    let input = blocking(move || read_series_folder(&folder))
        .await?
        .map_err(unscorable)?;
    let load_s = t.elapsed().as_secs_f64();
    store.stage_finished(claim, "load").await?;

    store.stage_started(claim, "score").await?;
    let scorer = ctx.scorer.clone();
    let (input, scored) = blocking(move || {
        let mut scorer = scorer.lock().unwrap_or_else(|p| p.into_inner());
        let scored = scorer.score(&input.ct, &mut |_, _| {});
        (input, scored)
    })
    .await?;
    let scored = scored.map_err(|e| JobEnd::Fail(format!("scoring: {e}")))?;
    store.stage_finished(claim, "score").await?;

    store.stage_started(claim, "write").await?;
    let t = Instant::now();
    let out = ctx.results_dir.join(&claim.series_uid);
    let written = {
        let (manifest, out, previews) = (ctx.manifest.clone(), out.clone(), ctx.previews);
        blocking(move || {
            write_results(&input, &scored, &manifest, &out, previews).map(|w| (w, scored))
        })
        .await?
    };
    let (written, scored) = match written {
        Ok(w) => {
            ctx.readiness.clear_alert(DISK_ALERT);
            w
        }
        Err(e) if is_disk_full(&e, &ctx.results_dir) => {
            ctx.readiness
                .set_alert(DISK_ALERT, format!("results not written: {e:#}"));
            return Err(JobEnd::Requeue(format!("disk full: {e:#}")));
        }
        Err(e) => return Err(JobEnd::Fail(format!("writing results: {e:#}"))),
    };
    let write_s = t.elapsed().as_secs_f64();
    store.stage_finished(claim, "write").await?;

    let mut timings = serde_json::to_value(&scored.timings).unwrap_or_else(|_| json!({}));
    if let Some(t) = timings.as_object_mut() {
        t.insert("load_s".into(), json!(load_s));
        t.insert("write_s".into(), json!(write_s));
        t.insert("total_s".into(), json!(started.elapsed().as_secs_f64()));
    }
    let m = &ctx.manifest.model;
    let result = NewResult {
        study_score: scored.study_score,
        flagged: scored.flagged,
        threshold: scored.threshold,
        model_name: m.name.clone(),
        model_version: m.version.clone(),
        timings,
        seg_sop_uid: written.seg_sop_uid,
        overlay_series_uid: written.overlay_series_uid,
        overlay_sop_uids: written.overlay_sop_uids,
        output_dir: Some(out),
    };
    let mut destinations: Vec<&str> = if result.seg_sop_uid.is_some() {
        ctx.destinations.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    if ctx.webhook && result.flagged {
        destinations.push(super::delivery::WEBHOOK);
    }
    let result_id = store.finish_job(claim, &result, &destinations).await?;
    if !destinations.is_empty() {
        ctx.deliveries_due.notify_waiters();
    }
    info!(
        score = result.study_score,
        threshold = result.threshold,
        flagged = result.flagged,
        "series scored"
    );
    Ok(result_id)
}

/// What the write stage produced.
struct Written {
    seg_sop_uid: Option<String>,
    overlay_series_uid: Option<String>,
    overlay_sop_uids: Vec<String>,
}

/// Writes SEG, overlay, previews and `summary.json` into a scratch folder next to `out`,
/// then renames it to `out` (replacing what an interrupted earlier attempt left).
fn write_results(
    input: &ScoreInput,
    scored: &ScoreResult,
    manifest: &Manifest,
    out: &Path,
    previews: usize,
) -> anyhow::Result<Written> {
    let scratch = scratch_dir(out)?;
    let written = write_into(input, scored, manifest, &scratch, previews);
    match written {
        Ok(w) => {
            if out.exists() {
                std::fs::remove_dir_all(out)?;
            }
            std::fs::rename(&scratch, out)?;
            Ok(w)
        }
        Err(e) => {
            // Free what the failed attempt took (a full disk must not stay full because of us).
            let _ = std::fs::remove_dir_all(&scratch);
            Err(e)
        }
    }
}

/// `.<name>.partial` beside `out`, emptied.
fn scratch_dir(out: &Path) -> anyhow::Result<PathBuf> {
    let name = out.file_name().context("result folder has no name")?;
    let parent = out.parent().context("result folder has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let scratch = parent.join(format!(".{}.partial", name.to_string_lossy()));
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    Ok(scratch)
}

fn write_into(
    input: &ScoreInput,
    scored: &ScoreResult,
    manifest: &Manifest,
    scratch: &Path,
    previews: usize,
) -> anyhow::Result<Written> {
    let display = display_scores(&scored.map, manifest);
    let mut written = Written {
        seg_sop_uid: None,
        overlay_series_uid: None,
        overlay_sop_uids: Vec::new(),
    };
    let mut notes: Vec<String> = input.note.iter().cloned().collect();
    match &input.source {
        Ok(source) => {
            let mask = abnormal_mask(&scored.map, manifest);
            let dicom = write_dicom_results(source, &input.ct, &mask, &display, manifest, scratch)?;
            written.seg_sop_uid = Some(dicom.seg_sop_uid);
            written.overlay_series_uid = Some(dicom.overlay_series_uid);
            written.overlay_sop_uids = dicom.overlay_sop_uids;
        }
        Err(why) => notes.push(format!("no DICOM SEG or overlay: {why}")),
    }
    if previews > 0 {
        render_previews(&input.ct, &display, &scratch.join(PREVIEW_DIR), previews)
            .context("rendering previews")?;
    }
    let summary = json!({
        "study_score": scored.study_score,
        "threshold": scored.threshold,
        "flagged": scored.flagged,
        "patches": scored.patches,
        "timings": scored.timings,
        "model": {"name": manifest.model.name, "version": manifest.model.version},
        "notes": notes,
    });
    std::fs::write(
        scratch.join("summary.json"),
        serde_json::to_string_pretty(&summary)? + "\n",
    )?;
    Ok(written)
}

fn unscorable(e: InputError) -> JobEnd {
    JobEnd::Skip(match e {
        InputError::Series(e) => e.to_string(),
        InputError::Other(e) => e,
    })
}

/// Below this much free space, a failed write counts as "disk full" (some writers report
/// ENOSPC only as a message without the OS error).
const MIN_RESULTS_FREE_BYTES: u64 = 64 << 20;

fn is_disk_full(e: &anyhow::Error, results_dir: &Path) -> bool {
    let low_space = free_bytes(results_dir).is_ok_and(|free| free < MIN_RESULTS_FREE_BYTES);
    low_space
        || e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .and_then(std::io::Error::raw_os_error)
                .is_some_and(|code| code == libc::ENOSPC || code == libc::EDQUOT)
                || c.to_string().contains("No space left on device")
        })
}

/// Runs CPU-heavy or blocking work off the async threads; a panic there fails the job.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, JobEnd> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JobEnd::Fail(format!("worker thread: {e}")))
}
