//! The delivery workers: claim a due delivery, send the result's SEG and overlay to its
//! destination over one association (or post the webhook), and record the outcome. A failed
//! attempt is retried with the destination's backoff; the store keeps the schedule, so
//! retries survive restarts. Re-sends use the files written once, so their UIDs repeat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::{info, info_span, warn, Instrument};

use super::webhook::{post_notice, WebhookTarget};
use crate::dicom::{send_once, Destination, Outcome, RetryPolicy, SenderConfig};
use crate::outputs::delivery_files;
use crate::store::{DeliveryClaim, Retry, Store, StoreError};
use crate::web::Readiness;

/// The destination name under which webhook posts are queued.
pub const WEBHOOK: &str = "webhook";

/// What every delivery worker shares.
#[derive(Clone)]
pub struct DeliveryContext {
    pub store: Store,
    pub sender: SenderConfig,
    pub destinations: Arc<HashMap<String, (Destination, RetryPolicy)>>,
    pub webhook: Option<Arc<WebhookTarget>>,
    pub readiness: Readiness,
}

pub async fn run_worker(
    ctx: DeliveryContext,
    label: String,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = ctx.store.worker_id(&label);
    while !*shutdown.borrow() {
        match ctx.store.claim_due_delivery(&worker).await {
            Ok(Some(claim)) => {
                let span = info_span!("delivery", delivery = claim.delivery_id,
                    destination = %claim.destination, attempt = claim.attempt,
                    series = %claim.series_uid);
                deliver(&ctx, claim).instrument(span).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot claim a delivery"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn deliver(ctx: &DeliveryContext, claim: DeliveryClaim) {
    let (outcome, policy) = if claim.destination == WEBHOOK {
        match &ctx.webhook {
            Some(hook) => (
                post_notice(&ctx.store, hook, claim.result_id).await,
                hook.policy,
            ),
            None => (
                Err("the webhook is no longer configured".into()),
                RetryPolicy::once(),
            ),
        }
    } else {
        match ctx.destinations.get(&claim.destination) {
            Some((dest, policy)) => (send_result(ctx, dest, &claim).await, *policy),
            None => (
                Err(format!(
                    "destination {:?} is no longer configured",
                    claim.destination
                )),
                RetryPolicy::once(),
            ),
        }
    };
    let alert = format!("delivery:{}", claim.destination);
    let recorded = match outcome {
        Ok(()) => {
            info!("delivered");
            ctx.readiness.clear_alert(&alert);
            ctx.store.mark_delivered(&claim).await
        }
        Err(error) => {
            ctx.readiness
                .set_alert(&alert, format!("{}: {error}", claim.destination));
            match ctx
                .store
                .mark_delivery_failed(&claim, &error, &policy)
                .await
            {
                Ok(Retry::At(at)) => {
                    let wait_s = (at - ctx.store.now_ms()).max(0) / 1000;
                    warn!(%error, retry_in_s = wait_s, "delivery failed; will retry");
                    Ok(())
                }
                Ok(Retry::GaveUp) => {
                    warn!(%error, "delivery failed for good; an operator can retry it");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    match recorded {
        Ok(()) => {}
        Err(StoreError::LostClaim { .. }) => warn!("delivery was reclaimed meanwhile"),
        Err(e) => warn!(error = %e, "delivery outcome not recorded; it will be reclaimed"),
    }
}

/// One association carrying every file of the result; Ok only if all were stored.
async fn send_result(
    ctx: &DeliveryContext,
    dest: &Destination,
    claim: &DeliveryClaim,
) -> Result<(), String> {
    let dir = claim
        .output_dir
        .clone()
        .ok_or("the result has no output folder")?;
    let files = tokio::task::spawn_blocking(move || delivery_files(&dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("result files: {e}"))?;
    let outcomes = send_once(&ctx.sender, dest, &files)
        .await
        .map_err(|e| e.to_string())?;
    let failed: Vec<String> = files
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| !o.is_stored())
        .map(|(f, o)| {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            match o {
                Outcome::Refused(status) => format!("{name}: refused with 0x{status:04X}"),
                Outcome::NotSent { reason, .. } => format!("{name}: {reason}"),
                Outcome::Stored(_) => unreachable!("filtered out"),
            }
        })
        .collect();
    match failed.as_slice() {
        [] => Ok(()),
        [first, ..] => Err(format!(
            "{} of {} files not stored (first: {first})",
            failed.len(),
            files.len()
        )),
    }
}
