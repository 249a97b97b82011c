//! The daemon's received-data-set path, compiled here from the daemon's own source files so
//! the fuzz build does not drag in tokio, ort and the rest of the daemon.

#[path = "../../daemon/src/dicom/uid.rs"]
pub mod uid;

#[path = "../../daemon/src/dicom/syntax.rs"]
pub mod syntax;

#[path = "../../daemon/src/dicom/guard.rs"]
pub mod guard;

#[path = "../../daemon/src/dicom/received.rs"]
pub mod received;
