//! One established association, from the listener's side: reassembles DIMSE messages from
//! P-DATA, answers C-ECHO, streams each C-STORE data set into the spool and answers with
//! the status the outcome deserves. Protocol violations abort this association only.

use std::collections::HashSet;
use std::sync::Arc;

use dicom_ul::association::AsyncServerAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType, PresentationContextResultReason};
use dicom_ul::Pdu;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::dimse::{self, el, status, Command};
use super::spool::{IncomingFile, IncomingMeta, Spool, SpoolError, StoredInstance};
use super::syntax::trim_uid;
use super::uid::Uid;

/// Data-set bytes are handed to the disk in chunks of this size.
const FLUSH_BYTES: usize = 1 << 20;
/// A command set is a few hundred bytes; anything this large is not one.
const MAX_COMMAND_BYTES: usize = 64 << 10;

/// What an association needs from the node.
#[derive(Clone)]
pub(crate) struct ScpContext {
    pub spool: Arc<Spool>,
    pub events: mpsc::Sender<StoredInstance>,
    pub storage_classes: Arc<HashSet<String>>,
    pub max_instance_bytes: u64,
}

/// Why an association ended other than by release.
#[derive(Debug, thiserror::Error)]
enum Violation {
    #[error("{0}")]
    Protocol(String),
    #[error("network: {0}")]
    Network(String),
}

type Association = AsyncServerAssociation<TcpStream>;

/// Serves an association until the peer releases or aborts it, or it breaks.
pub(crate) async fn serve(mut scp: Association, ctx: ScpContext, calling_ae: String) {
    let mut state = State {
        ctx,
        calling_ae,
        command: Vec::new(),
        receiving: None,
        stored: 0,
    };
    loop {
        let pdu = match scp.receive().await {
            Ok(pdu) => pdu,
            Err(e) => {
                warn!(error = %e, "association ended: receive failed");
                let _ = scp.abort().await;
                return;
            }
        };
        match pdu {
            Pdu::PData { data } => {
                for pdv in data {
                    if let Err(v) = state.on_pdv(&mut scp, pdv).await {
                        warn!(error = %v, "aborting association");
                        let _ = scp.abort().await;
                        return;
                    }
                }
            }
            Pdu::ReleaseRQ => {
                if state.receiving.is_some() {
                    warn!("released in the middle of a data set; it is discarded");
                }
                let _ = scp.send(&Pdu::ReleaseRP).await;
                info!(instances = state.stored, "association released");
                return;
            }
            Pdu::AbortRQ { source } => {
                info!(
                    ?source,
                    instances = state.stored,
                    "association aborted by peer"
                );
                return;
            }
            other => {
                warn!(
                    pdu = pdu_name(&other),
                    "unexpected PDU; aborting association"
                );
                let _ = scp.abort().await;
                return;
            }
        }
    }
}

struct State {
    ctx: ScpContext,
    calling_ae: String,
    command: Vec<u8>,
    receiving: Option<Receiving>,
    stored: u64,
}

/// A C-STORE whose data set is arriving.
struct Receiving {
    pc: u8,
    request: Command,
    message_id: u16,
    file: Option<IncomingFile>,
    buffer: Vec<u8>,
    /// Set once the instance is known to fail; the rest of its data set is read and dropped.
    failure: Option<(u16, String)>,
}

impl State {
    async fn on_pdv(&mut self, scp: &mut Association, pdv: PDataValue) -> Result<(), Violation> {
        match pdv.value_type {
            PDataValueType::Command => {
                if self.receiving.is_some() {
                    return Err(Violation::Protocol(
                        "command fragment inside a data set".into(),
                    ));
                }
                if self.command.len() + pdv.data.len() > MAX_COMMAND_BYTES {
                    return Err(Violation::Protocol("command set too large".into()));
                }
                self.command.extend_from_slice(&pdv.data);
                if pdv.is_last {
                    let bytes = std::mem::take(&mut self.command);
                    let cmd = Command::parse(&bytes)
                        .map_err(|e| Violation::Protocol(format!("bad command set: {e}")))?;
                    self.on_command(scp, pdv.presentation_context_id, cmd)
                        .await?;
                }
                Ok(())
            }
            PDataValueType::Data => {
                let Some(mut rx) = self.receiving.take() else {
                    return Err(Violation::Protocol("data set without a command".into()));
                };
                if rx.pc != pdv.presentation_context_id {
                    return Err(Violation::Protocol(
                        "data set on another presentation context".into(),
                    ));
                }
                if rx.failure.is_none() {
                    rx.buffer.extend_from_slice(&pdv.data);
                    if rx.buffer.len() >= FLUSH_BYTES || pdv.is_last {
                        flush(&mut rx).await;
                    }
                }
                if pdv.is_last {
                    self.finish(scp, rx).await
                } else {
                    self.receiving = Some(rx);
                    Ok(())
                }
            }
        }
    }

    async fn on_command(
        &mut self,
        scp: &mut Association,
        pc_id: u8,
        cmd: Command,
    ) -> Result<(), Violation> {
        let bad = |e: dimse::CommandError| Violation::Protocol(e.to_string());
        let field = cmd.command_field().map_err(bad)?;
        let message_id = cmd.message_id().map_err(bad)?;
        let pc = scp
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == pc_id && pc.reason == PresentationContextResultReason::Acceptance)
            .cloned()
            .ok_or_else(|| {
                Violation::Protocol(format!("presentation context {pc_id} was not accepted"))
            })?;
        match field {
            dimse::C_ECHO_RQ => {
                debug!("C-ECHO");
                let rsp =
                    dimse::response(&cmd, dimse::C_ECHO_RSP, message_id, status::SUCCESS, None);
                send_command(scp, pc_id, &rsp).await
            }
            dimse::C_STORE_RQ if cmd.has_data_set().map_err(bad)? => {
                let sop_class = cmd
                    .text(el::AFFECTED_SOP_CLASS_UID, "AffectedSOPClassUID")
                    .map_err(bad)?;
                let sop_instance = cmd
                    .text(el::AFFECTED_SOP_INSTANCE_UID, "AffectedSOPInstanceUID")
                    .map_err(bad)?;
                let mut rx = Receiving {
                    pc: pc_id,
                    request: cmd,
                    message_id,
                    file: None,
                    buffer: Vec::new(),
                    failure: None,
                };
                let abstract_syntax = trim_uid(&pc.abstract_syntax);
                if abstract_syntax != sop_class
                    || !self.ctx.storage_classes.contains(sop_class.as_str())
                {
                    rx.failure = Some((
                        status::REFUSED_SOP_CLASS_NOT_SUPPORTED,
                        "SOP class not accepted on this presentation context".into(),
                    ));
                } else {
                    match Uid::parse(&sop_instance) {
                        Err(e) => {
                            rx.failure =
                                Some((status::INVALID_UID, format!("AffectedSOPInstanceUID: {e}")))
                        }
                        Ok(uid) => {
                            let meta = IncomingMeta {
                                transfer_syntax: trim_uid(&pc.transfer_syntax).to_owned(),
                                sop_class,
                                sop_instance: uid,
                                calling_ae: self.calling_ae.clone(),
                            };
                            let spool = self.ctx.spool.clone();
                            let max = self.ctx.max_instance_bytes;
                            let begun = blocking(move || {
                                spool.check_free_space()?;
                                spool.begin(&meta, max)
                            })
                            .await;
                            match begun {
                                Ok(f) => rx.file = Some(f),
                                Err(e) => rx.failure = Some(failure_of(&e)),
                            }
                        }
                    }
                }
                self.receiving = Some(rx);
                Ok(())
            }
            dimse::C_STORE_RQ => {
                let rsp = dimse::response(
                    &cmd,
                    dimse::C_STORE_RSP,
                    message_id,
                    status::CANNOT_UNDERSTAND,
                    Some("C-STORE without a data set"),
                );
                send_command(scp, pc_id, &rsp).await
            }
            other => {
                if cmd.has_data_set().unwrap_or(false) {
                    return Err(Violation::Protocol(format!(
                        "unsupported command 0x{other:04X} with a data set"
                    )));
                }
                let rsp = dimse::response(
                    &cmd,
                    other | 0x8000,
                    message_id,
                    status::UNRECOGNIZED_OPERATION,
                    None,
                );
                send_command(scp, pc_id, &rsp).await
            }
        }
    }

    async fn finish(&mut self, scp: &mut Association, mut rx: Receiving) -> Result<(), Violation> {
        let (code, comment) = match (rx.failure.take(), rx.file.take()) {
            (Some(f), _) => (f.0, Some(f.1)),
            (None, None) => (status::OUT_OF_RESOURCES, Some("no spool file".into())),
            (None, Some(file)) => match blocking(move || file.commit()).await {
                Ok(stored) => {
                    self.stored += 1;
                    debug!(replaced = stored.replaced, "instance stored");
                    if self.ctx.events.send(stored).await.is_err() {
                        warn!("grouping has stopped; instance kept in the spool only");
                    }
                    (status::SUCCESS, None)
                }
                Err(e) => {
                    let (code, text) = failure_of(&e);
                    (code, Some(text))
                }
            },
        };
        if code != status::SUCCESS {
            warn!(
                status = format!("0x{code:04X}"),
                reason = comment.as_deref().unwrap_or(""),
                "C-STORE refused"
            );
        }
        let rsp = dimse::response(
            &rx.request,
            dimse::C_STORE_RSP,
            rx.message_id,
            code,
            comment.as_deref(),
        );
        send_command(scp, rx.pc, &rsp).await
    }
}

/// Writes the buffered bytes to the spool file; on failure, marks the instance failed.
async fn flush(rx: &mut Receiving) {
    let Some(mut file) = rx.file.take() else {
        return;
    };
    let buffer = std::mem::take(&mut rx.buffer);
    let (file, buffer, result) = match tokio::task::spawn_blocking(move || {
        let r = file.write(&buffer);
        (file, buffer, r)
    })
    .await
    {
        Ok(done) => done,
        Err(e) => {
            rx.failure = Some((status::OUT_OF_RESOURCES, format!("spool task failed: {e}")));
            return;
        }
    };
    match result {
        Ok(()) => {
            rx.file = Some(file);
            rx.buffer = buffer;
            rx.buffer.clear();
        }
        Err(e) => rx.failure = Some(failure_of(&e)),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(SpoolError::Io(std::io::Error::other(e.to_string()))))
}

/// The C-STORE status and comment for a spool failure.
fn failure_of(e: &SpoolError) -> (u16, String) {
    let code = match e {
        SpoolError::Full(_) | SpoolError::TooLarge { .. } | SpoolError::Io(_) => {
            status::OUT_OF_RESOURCES
        }
        SpoolError::Unparsable(_) => status::CANNOT_UNDERSTAND,
        SpoolError::Identity(_) => status::INVALID_UID,
        SpoolError::InstanceMismatch { .. } => status::INSTANCE_MISMATCH,
    };
    (code, e.to_string())
}

async fn send_command(scp: &mut Association, pc: u8, cmd: &Command) -> Result<(), Violation> {
    let pdu = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type: PDataValueType::Command,
            is_last: true,
            data: cmd.encode(),
        }],
    };
    scp.send(&pdu)
        .await
        .map_err(|e| Violation::Network(e.to_string()))
}

fn pdu_name(pdu: &Pdu) -> &'static str {
    match pdu {
        Pdu::AssociationRQ(_) => "A-ASSOCIATE-RQ",
        Pdu::AssociationAC(_) => "A-ASSOCIATE-AC",
        Pdu::AssociationRJ(_) => "A-ASSOCIATE-RJ",
        Pdu::ReleaseRP => "A-RELEASE-RP",
        _ => "unknown",
    }
}
