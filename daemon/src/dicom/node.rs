//! Wires the receiving side together: spool, grouping and listener, so a caller gets one
//! stream of complete series.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::{GroupingConfig, ListenerConfig, SpoolConfig};
use super::grouping::{self, SeriesReady};
use super::listener::{Listener, ListenerError};
use super::spool::{Spool, SpoolError, StoredInstance};

/// Instances stored but not yet taken by grouping; beyond this the listener waits.
const STORED_QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Listener(#[from] ListenerError),
}

/// A running receiving node.
pub struct Node {
    pub listener: Listener,
    pub spool: Arc<Spool>,
    /// Complete series, in the order they became complete.
    pub ready: mpsc::Receiver<SeriesReady>,
    pub grouping: JoinHandle<()>,
}

/// Opens the spool, takes up pending series, and starts listening.
pub async fn start_node(
    listener: ListenerConfig,
    spool: SpoolConfig,
    grouping: GroupingConfig,
) -> Result<Node, NodeError> {
    start_node_observed(listener, spool, grouping, None).await
}

/// As [`start_node`], and every stored instance is also sent to `observer` (the service
/// records each one in its store as it arrives) before grouping sees it.
pub async fn start_node_observed(
    listener: ListenerConfig,
    spool: SpoolConfig,
    grouping: GroupingConfig,
    observer: Option<mpsc::Sender<StoredInstance>>,
) -> Result<Node, NodeError> {
    let spool = Arc::new(Spool::open(&spool)?);
    let (stored_tx, stored_rx) = match observer {
        None => mpsc::channel(STORED_QUEUE),
        Some(observer) => {
            let (to_grouping, from_tap) = mpsc::channel(STORED_QUEUE);
            (tap(observer, to_grouping), from_tap)
        }
    };
    let (ready_tx, ready) = mpsc::channel(64);
    let grouping = grouping::start(grouping, spool.clone(), stored_rx, ready_tx)?;
    let listener = Listener::start(listener, spool.clone(), stored_tx).await?;
    Ok(Node {
        listener,
        spool,
        ready,
        grouping,
    })
}

/// A channel whose messages go to `observer`, then on to `next`. Ends when the sending side
/// closes; a closed observer is dropped and the flow to `next` goes on.
fn tap(
    observer: mpsc::Sender<StoredInstance>,
    next: mpsc::Sender<StoredInstance>,
) -> mpsc::Sender<StoredInstance> {
    let (tx, mut rx) = mpsc::channel::<StoredInstance>(STORED_QUEUE);
    tokio::spawn(async move {
        let mut observer = Some(observer);
        while let Some(instance) = rx.recv().await {
            if let Some(o) = &observer {
                if o.send(instance.clone()).await.is_err() {
                    observer = None;
                }
            }
            if next.send(instance).await.is_err() {
                return;
            }
        }
    });
    tx
}
