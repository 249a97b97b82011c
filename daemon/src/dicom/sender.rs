//! The sender (SCU): C-ECHO a destination, and C-STORE a set of files over one association,
//! with per-instance status and retries with exponential backoff for what failed for
//! reasons that may pass (network, out-of-resources, transient rejection).
//!
//! Each SOP class is proposed with the file's own transfer syntax first, then Explicit and
//! Implicit VR Little Endian. A file goes out byte for byte when its own syntax is accepted;
//! an uncompressed file is re-encoded when only the other little-endian syntax is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::{AsyncClientAssociation, Error as UlError};
use dicom_ul::pdu::{
    AssociationRJResult, PDataValue, PDataValueType, PresentationContextNegotiated,
    PresentationContextResultReason,
};
use dicom_ul::{ClientAssociationOptions, Pdu};
use tokio::net::TcpStream;
use tracing::{info, info_span, warn, Instrument};

use super::config::{Destination, SenderConfig};
use super::dimse::{self, classify, el, Command, StatusClass};
use super::part10::{read_data_set, read_meta, Part10Meta};
use super::syntax::{is_native_le, trim_uid, EXPLICIT_VR_LE, IMPLICIT_VR_LE, VERIFICATION};

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The peer answered with this success or warning status.
    Stored(u16),
    /// The peer answered with a failure status that retrying will not change.
    Refused(u16),
    /// Not delivered; `retryable` says whether another attempt may succeed.
    NotSent { reason: String, retryable: bool },
}

impl Outcome {
    pub fn is_stored(&self) -> bool {
        matches!(self, Outcome::Stored(_))
    }

    fn retryable(&self) -> bool {
        match self {
            Outcome::Stored(_) => false,
            Outcome::Refused(s) => classify(*s) == StatusClass::OutOfResources,
            Outcome::NotSent { retryable, .. } => *retryable,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceResult {
    pub path: PathBuf,
    pub outcome: Outcome,
}

/// The result of sending a set of files, with retries.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// One entry per file, in the order given.
    pub results: Vec<InstanceResult>,
    /// Associations attempted.
    pub attempts: u32,
}

impl SendReport {
    pub fn all_stored(&self) -> bool {
        self.results.iter().all(|r| r.outcome.is_stored())
    }

    pub fn stored_count(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome.is_stored())
            .count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("association with {destination} not established: {reason}")]
    Association {
        destination: String,
        reason: String,
        /// False for a permanent rejection (wrong AE titles, not allowed).
        retryable: bool,
    },
    #[error("C-ECHO to {destination} failed: {reason}")]
    Echo { destination: String, reason: String },
}

/// Checks that `dest` answers a C-ECHO with success.
pub async fn echo(config: &SenderConfig, dest: &Destination) -> Result<(), SendError> {
    let span = info_span!("echo", destination = %dest.ae_title);
    async {
        let options = client_options(config, dest)
            .with_presentation_context(VERIFICATION, vec![EXPLICIT_VR_LE, IMPLICIT_VR_LE]);
        let mut scu = establish(options, dest).await?;
        let fail = |reason: String| SendError::Echo {
            destination: dest.address(),
            reason,
        };
        let pc = accepted(scu.presentation_contexts())
            .next()
            .map(|pc| pc.id)
            .ok_or_else(|| fail("verification not accepted".into()))?;
        send_command(&mut scu, pc, &dimse::c_echo_rq(1, VERIFICATION))
            .await
            .map_err(fail)?;
        let rsp = receive_command(&mut scu).await.map_err(fail)?;
        let _ = scu.release().await;
        match rsp.u16(el::STATUS, "Status") {
            Ok(0) => Ok(()),
            Ok(s) => Err(fail(format!("status 0x{s:04X}"))),
            Err(e) => Err(fail(e.to_string())),
        }
    }
    .instrument(span)
    .await
}

/// Sends `files` to `dest`, retrying what may succeed later, per `config.retry`.
pub async fn send_with_retry(
    config: &SenderConfig,
    dest: &Destination,
    files: &[PathBuf],
) -> SendReport {
    let mut results: Vec<InstanceResult> = files
        .iter()
        .map(|p| InstanceResult {
            path: p.clone(),
            outcome: Outcome::NotSent {
                reason: "not attempted".into(),
                retryable: true,
            },
        })
        .collect();
    let attempts = config.retry.attempts.max(1);
    let mut made = 0;
    for attempt in 1..=attempts {
        let todo: Vec<usize> = (0..results.len())
            .filter(|&i| results[i].outcome.retryable())
            .collect();
        if todo.is_empty() {
            break;
        }
        if attempt > 1 {
            let delay = config.retry.delay_before(attempt);
            info!(
                attempt,
                delay_ms = delay.as_millis() as u64,
                remaining = todo.len(),
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
        made = attempt;
        let paths: Vec<PathBuf> = todo.iter().map(|&i| results[i].path.clone()).collect();
        match send_once(config, dest, &paths).await {
            Ok(outcomes) => {
                for (i, o) in todo.into_iter().zip(outcomes) {
                    results[i].outcome = o;
                }
            }
            Err(e) => {
                warn!(attempt, error = %e, "send attempt failed");
                let retryable = matches!(
                    e,
                    SendError::Association {
                        retryable: true,
                        ..
                    }
                );
                for i in todo {
                    results[i].outcome = Outcome::NotSent {
                        reason: e.to_string(),
                        retryable,
                    };
                }
                if !retryable {
                    break;
                }
            }
        }
    }
    SendReport {
        results,
        attempts: made,
    }
}

/// One association: sends every file once. Errors only when no association was made; a
/// failure after that shows in the per-file outcomes.
pub async fn send_once(
    config: &SenderConfig,
    dest: &Destination,
    files: &[PathBuf],
) -> Result<Vec<Outcome>, SendError> {
    let span = info_span!("send", destination = %dest.ae_title, files = files.len());
    async {
        let metas: Vec<Result<Part10Meta, String>> = {
            let files = files.to_vec();
            let n = files.len();
            tokio::task::spawn_blocking(move || {
                files
                    .iter()
                    .map(|p| read_meta(p).map_err(|e| e.to_string()))
                    .collect()
            })
            .await
            .unwrap_or_else(|e| vec![Err(e.to_string()); n])
        };
        let mut outcomes: Vec<Outcome> = metas
            .iter()
            .map(|m| match m {
                Ok(_) => Outcome::NotSent {
                    reason: "association ended before this file".into(),
                    retryable: true,
                },
                Err(e) => Outcome::NotSent {
                    reason: e.clone(),
                    retryable: false,
                },
            })
            .collect();
        // (SOP class, transfer syntax) pairs to propose, in first-seen order.
        let mut proposals: BTreeMap<(String, String), usize> = BTreeMap::new();
        for m in metas.iter().flatten() {
            let n = proposals.len();
            proposals
                .entry((m.sop_class.clone(), m.transfer_syntax.clone()))
                .or_insert(n);
        }
        if proposals.is_empty() {
            return Ok(outcomes);
        }
        if proposals.len() > 128 {
            return Err(SendError::Association {
                destination: dest.address(),
                reason: format!(
                    "{} presentation contexts needed (128 at most)",
                    proposals.len()
                ),
                retryable: false,
            });
        }
        let mut ordered: Vec<_> = proposals.into_iter().collect();
        ordered.sort_by_key(|(_, n)| *n);
        let mut options = client_options(config, dest);
        for ((class, ts), _) in &ordered {
            let mut list = vec![ts.clone()];
            for native in [EXPLICIT_VR_LE, IMPLICIT_VR_LE] {
                if ts != native {
                    list.push(native.to_owned());
                }
            }
            options = options.with_presentation_context(class.clone(), list);
        }
        let mut scu = establish(options, dest).await?;
        let contexts: Vec<PresentationContextNegotiated> =
            accepted(scu.presentation_contexts()).cloned().collect();
        let chunk = (scu.acceptor_max_pdu_length().saturating_sub(6)).clamp(1024, 1 << 20) as usize;
        let mut message_id: u16 = 0;
        for (i, (path, meta)) in files.iter().zip(&metas).enumerate() {
            let Ok(meta) = meta else { continue };
            let Some((pc, ts)) = choose_context(&contexts, meta) else {
                outcomes[i] = Outcome::NotSent {
                    reason: format!(
                        "peer accepted no usable transfer syntax for SOP class {} in {}",
                        meta.sop_class, meta.transfer_syntax
                    ),
                    retryable: false,
                };
                continue;
            };
            let data = match load(path, meta, &ts).await {
                Ok(d) => d,
                Err(reason) => {
                    outcomes[i] = Outcome::NotSent {
                        reason,
                        retryable: false,
                    };
                    continue;
                }
            };
            message_id = message_id.wrapping_add(1).max(1);
            match store(&mut scu, pc, message_id, meta, &data, chunk).await {
                Ok(status) => {
                    outcomes[i] = match classify(status) {
                        StatusClass::Success | StatusClass::Warning => Outcome::Stored(status),
                        _ => {
                            warn!(
                                status = format!("0x{status:04X}"),
                                "instance refused by peer"
                            );
                            Outcome::Refused(status)
                        }
                    }
                }
                Err(reason) => {
                    warn!(%reason, "association broke while sending");
                    outcomes[i] = Outcome::NotSent {
                        reason,
                        retryable: true,
                    };
                    let _ = scu.abort().await;
                    return Ok(outcomes);
                }
            }
        }
        let _ = scu.release().await;
        let stored = outcomes.iter().filter(|o| o.is_stored()).count();
        info!(stored, "send finished");
        Ok(outcomes)
    }
    .instrument(span)
    .await
}

type Scu = AsyncClientAssociation<TcpStream>;

fn client_options<'a>(config: &SenderConfig, dest: &Destination) -> ClientAssociationOptions<'a> {
    ClientAssociationOptions::new()
        .calling_ae_title(config.calling_ae_title.as_str().to_owned())
        .called_ae_title(dest.ae_title.as_str().to_owned())
        .max_pdu_length(config.max_pdu)
        .connection_timeout(config.connect_timeout)
        .read_timeout(config.io_timeout)
        .write_timeout(config.io_timeout)
}

async fn establish(
    options: ClientAssociationOptions<'_>,
    dest: &Destination,
) -> Result<Scu, SendError> {
    let mut scu =
        options
            .establish_async(dest.address())
            .await
            .map_err(|e| SendError::Association {
                destination: dest.address(),
                retryable: !matches!(
                    &e,
                    UlError::Rejected { association_rj, .. }
                        if association_rj.result == AssociationRJResult::Permanent
                ),
                reason: e.to_string(),
            })?;
    // Without it, each P-DATA PDU after the first of a C-STORE waits out the peer's delayed
    // ACK (Nagle): about 40-90 ms per instance.
    let _ = scu.inner_stream().set_nodelay(true);
    Ok(scu)
}

fn accepted(
    contexts: &[PresentationContextNegotiated],
) -> impl Iterator<Item = &PresentationContextNegotiated> {
    contexts
        .iter()
        .filter(|pc| pc.reason == PresentationContextResultReason::Acceptance)
}

/// The context to send `meta` on, and the transfer syntax to encode it in: the file's own
/// syntax if accepted, else (uncompressed files only) the other little-endian one.
fn choose_context(
    contexts: &[PresentationContextNegotiated],
    meta: &Part10Meta,
) -> Option<(u8, String)> {
    let for_class = || {
        contexts
            .iter()
            .filter(|pc| trim_uid(&pc.abstract_syntax) == meta.sop_class)
    };
    if let Some(pc) = for_class().find(|pc| trim_uid(&pc.transfer_syntax) == meta.transfer_syntax) {
        return Some((pc.id, meta.transfer_syntax.clone()));
    }
    if is_native_le(&meta.transfer_syntax) {
        return for_class()
            .find(|pc| is_native_le(trim_uid(&pc.transfer_syntax)))
            .map(|pc| (pc.id, trim_uid(&pc.transfer_syntax).to_owned()));
    }
    None
}

/// The data-set bytes of `path` in transfer syntax `ts`.
async fn load(path: &Path, meta: &Part10Meta, ts: &str) -> Result<Vec<u8>, String> {
    let path = path.to_owned();
    let meta = meta.clone();
    let ts = ts.to_owned();
    tokio::task::spawn_blocking(move || {
        let raw = read_data_set(&path, &meta).map_err(|e| e.to_string())?;
        if ts == meta.transfer_syntax {
            return Ok(raw);
        }
        let registry = TransferSyntaxRegistry;
        let (from, to) = match (registry.get(&meta.transfer_syntax), registry.get(&ts)) {
            (Some(f), Some(t)) => (f, t),
            _ => return Err(format!("cannot re-encode {} as {ts}", meta.transfer_syntax)),
        };
        let obj = InMemDicomObject::read_dataset_with_ts(raw.as_slice(), from)
            .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(raw.len());
        obj.write_dataset_with_ts(&mut out, to)
            .map_err(|e| e.to_string())?;
        Ok(out)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// One C-STORE on an open association: the response status.
async fn store(
    scu: &mut Scu,
    pc: u8,
    message_id: u16,
    meta: &Part10Meta,
    data: &[u8],
    chunk: usize,
) -> Result<u16, String> {
    let rq = dimse::c_store_rq(message_id, &meta.sop_class, &meta.sop_instance);
    send_command(scu, pc, &rq).await?;
    let mut parts = data.chunks(chunk).peekable();
    if parts.peek().is_none() {
        return Err("empty data set".into());
    }
    while let Some(part) = parts.next() {
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Data,
                is_last: parts.peek().is_none(),
                data: part.to_vec(),
            }],
        };
        scu.send(&pdu).await.map_err(|e| e.to_string())?;
    }
    let rsp = receive_command(scu).await?;
    let answered = rsp
        .u16(
            el::MESSAGE_ID_BEING_RESPONDED_TO,
            "MessageIDBeingRespondedTo",
        )
        .map_err(|e| e.to_string())?;
    if answered != message_id {
        return Err(format!(
            "response to message {answered}, expected {message_id}"
        ));
    }
    rsp.u16(el::STATUS, "Status").map_err(|e| e.to_string())
}

async fn send_command(scu: &mut Scu, pc: u8, cmd: &Command) -> Result<(), String> {
    let pdu = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type: PDataValueType::Command,
            is_last: true,
            data: cmd.encode(),
        }],
    };
    scu.send(&pdu).await.map_err(|e| e.to_string())
}

async fn receive_command(scu: &mut Scu) -> Result<Command, String> {
    let mut bytes = Vec::new();
    loop {
        match scu.receive().await.map_err(|e| e.to_string())? {
            Pdu::PData { data } => {
                for pdv in data {
                    if pdv.value_type != PDataValueType::Command {
                        return Err("unexpected data set in a response".into());
                    }
                    bytes.extend_from_slice(&pdv.data);
                    if pdv.is_last {
                        return Command::parse(&bytes).map_err(|e| e.to_string());
                    }
                }
            }
            Pdu::AbortRQ { source } => return Err(format!("peer aborted: {source:?}")),
            Pdu::ReleaseRQ => return Err("peer asked to release mid-operation".into()),
            _ => return Err("unexpected PDU while waiting for a response".into()),
        }
    }
}
