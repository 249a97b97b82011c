//! Grouping: turns the stream of stored instances into "series complete" events. A series is
//! complete once no instance has arrived for it for `stable_after`. On start, series already
//! in the spool are taken up again, aged by their newest file, so a restart loses nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::config::GroupingConfig;
use super::spool::{list_instances, Spool, SpoolError, StoredInstance};
use super::uid::Uid;

/// A complete series: everything the scoring step needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesReady {
    pub study: Uid,
    pub series: Uid,
    /// The series' files in the spool, sorted by SOP Instance UID, each listed once.
    pub files: Vec<PathBuf>,
    pub instance_count: usize,
    /// The AE that sent the (last) instance; from the file meta after a restart.
    pub calling_ae: Option<String>,
    /// True when the series was found in the spool at start rather than received now.
    pub recovered: bool,
}

struct Pending {
    calling_ae: Option<String>,
    last_arrival: Instant,
    recovered: bool,
}

/// Starts grouping: reads `stored`, emits on `ready`. Ends when `stored` is closed and every
/// pending series has been emitted, or when `ready` is closed.
pub fn start(
    config: GroupingConfig,
    spool: Arc<Spool>,
    mut stored: mpsc::Receiver<StoredInstance>,
    ready: mpsc::Sender<SeriesReady>,
) -> Result<JoinHandle<()>, SpoolError> {
    let mut pending: BTreeMap<(Uid, Uid), Pending> = BTreeMap::new();
    let now = Instant::now();
    for s in spool.scan()? {
        let age = s
            .newest
            .elapsed()
            .unwrap_or_default()
            .min(config.stable_after);
        pending.insert(
            (s.study, s.series),
            Pending {
                calling_ae: s.calling_ae,
                last_arrival: now.checked_sub(age).unwrap_or(now),
                recovered: true,
            },
        );
    }
    if !pending.is_empty() {
        info!(
            series = pending.len(),
            "pending series recovered from the spool"
        );
    }
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        loop {
            tokio::select! {
                msg = stored.recv(), if open => match msg {
                    Some(i) => {
                        let p = pending.entry((i.study, i.series)).or_insert(Pending {
                            calling_ae: None,
                            last_arrival: Instant::now(),
                            recovered: false,
                        });
                        p.calling_ae = Some(i.calling_ae);
                        p.last_arrival = Instant::now();
                    }
                    None => open = false,
                },
                _ = tick.tick() => {
                    if !emit_stable(&spool, &mut pending, config.stable_after, &ready).await {
                        return;
                    }
                    if !open && pending.is_empty() {
                        return;
                    }
                }
            }
        }
    }))
}

/// Emits every series idle for `stable_after`. False when nobody listens any more.
async fn emit_stable(
    spool: &Arc<Spool>,
    pending: &mut BTreeMap<(Uid, Uid), Pending>,
    stable_after: Duration,
    ready: &mpsc::Sender<SeriesReady>,
) -> bool {
    let due: Vec<_> = pending
        .iter()
        .filter(|(_, p)| p.last_arrival.elapsed() >= stable_after)
        .map(|(k, _)| k.clone())
        .collect();
    for key in due {
        let Some(p) = pending.remove(&key) else {
            continue;
        };
        let dir = spool.series_dir(&key.0, &key.1);
        let listed = tokio::task::spawn_blocking(move || list_instances(&dir)).await;
        let files: Vec<PathBuf> = match listed {
            Ok(Ok((files, _))) => files.into_iter().map(|(_, p)| p).collect(),
            Ok(Err(e)) => {
                warn!(error = %e, "series folder unreadable; series skipped");
                continue;
            }
            Err(e) => {
                warn!(error = %e, "listing task failed; series skipped");
                continue;
            }
        };
        if files.is_empty() {
            continue;
        }
        info!(
            instances = files.len(),
            recovered = p.recovered,
            "series complete"
        );
        let event = SeriesReady {
            study: key.0,
            series: key.1,
            instance_count: files.len(),
            files,
            calling_ae: p.calling_ae,
            recovered: p.recovered,
        };
        if ready.send(event).await.is_err() {
            return false;
        }
    }
    true
}
