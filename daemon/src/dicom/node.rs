//! Wires the receiving side together: spool, grouping and listener, so a caller gets one
//! stream of complete series.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::{GroupingConfig, ListenerConfig, SpoolConfig};
use super::grouping::{self, SeriesReady};
use super::listener::{Listener, ListenerError};
use super::spool::{Spool, SpoolError};

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
    let spool = Arc::new(Spool::open(&spool)?);
    let (stored_tx, stored_rx) = mpsc::channel(STORED_QUEUE);
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
