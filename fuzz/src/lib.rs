//! The daemon's received-data-set path, compiled here from the daemon's own source files (the
//! fuzzed code is the shipped code) without tokio, ort, sqlx and the rest of the daemon; plus
//! the allocation oracle the fuzz target checks.

#[path = "../../daemon/src/dicom/uid.rs"]
pub mod uid;

#[path = "../../daemon/src/dicom/syntax.rs"]
pub mod syntax;

#[path = "../../daemon/src/dicom/guard.rs"]
pub mod guard;

#[path = "../../daemon/src/dicom/received.rs"]
pub mod received;

pub mod budget;
pub mod largest_allocation;
