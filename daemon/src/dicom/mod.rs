//! The DICOM node's network side, in data-flow order:
//!
//! - [`listener`] (SCP) accepts associations and, per association ([`scp`]), C-ECHO and
//!   C-STORE; [`ae`] and [`syntax`] say who and what is accepted.
//! - [`spool`] writes each instance durably to `<root>/<Study>/<Series>/<SOP>.dcm`, with
//!   folder names checked as DICOM UIDs ([`uid`]).
//! - [`grouping`] emits a [`grouping::SeriesReady`] once a series has been idle long enough,
//!   and takes pending series up again from the spool after a restart.
//! - [`sender`] (SCU) C-ECHOes destinations and C-STOREs files to them with retries.
//!
//! [`node`] wires listener, spool and grouping together. See docs/dicom-conformance.md.

pub mod ae;
pub mod cli;
pub mod config;
pub mod dimse;
pub mod grouping;
pub mod guard;
pub mod listener;
pub mod node;
pub mod part10;
pub mod received;
mod scp;
pub mod sender;
pub mod spool;
pub mod syntax;
pub mod uid;

pub use ae::{AeTitle, AllowedPeer, CallingPolicy};
pub use config::{
    Destination, GroupingConfig, ListenerConfig, RetryPolicy, SenderConfig, SpoolConfig,
};
pub use grouping::SeriesReady;
pub use listener::{Listener, ListenerError};
pub use node::{start_node, start_node_observed, Node, NodeError};
pub use sender::{
    echo, send_once, send_with_retry, InstanceResult, Outcome, SendError, SendReport,
};
pub use spool::{Spool, SpoolError, StoredInstance};
pub use uid::{Uid, UidError};
