//! The listener (SCP): binds a TCP port, admits associations (called AE, calling-AE
//! allow-list, concurrency limit, ARTIM) and hands each one to `scp::serve` in its own task,
//! inside a tracing span. Nothing a peer sends can end the accept loop.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dicom_ul::association::server::{AccessControl, DefaultNegotiation};
use dicom_ul::association::{read_pdu_from_wire_async, ServerAssociationOptions};
use dicom_ul::pdu::{
    AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
    AssociationRJServiceUserReason, AssociationRJSource, UserIdentity,
};
use dicom_ul::{write_pdu, Pdu};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tracing::{info, info_span, warn, Instrument};

use super::ae::{AeTitle, CallingPolicy};
use super::config::ListenerConfig;
use super::scp::{self, ScpContext};
use super::spool::{Spool, StoredInstance};
use super::syntax::{ACCEPTED_TRANSFER_SYNTAXES, VERIFICATION};

#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running listener. Dropping it does not stop it; call [`Listener::shutdown`].
pub struct Listener {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Listener {
    /// Binds `config.bind` and starts accepting. Each stored instance is reported on `events`.
    pub async fn start(
        config: ListenerConfig,
        spool: Arc<Spool>,
        events: mpsc::Sender<StoredInstance>,
    ) -> Result<Listener, ListenerError> {
        let socket =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| ListenerError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let local_addr = socket.local_addr().map_err(|source| ListenerError::Bind {
            addr: config.bind,
            source,
        })?;
        info!(%local_addr, ae_title = %config.ae_title, "DICOM listener started");
        let ctx = ScpContext {
            spool,
            events,
            storage_classes: Arc::new(
                config
                    .storage_classes
                    .iter()
                    .cloned()
                    .collect::<HashSet<_>>(),
            ),
            max_instance_bytes: config.max_instance_bytes,
        };
        let task = tokio::spawn(accept_loop(socket, Arc::new(config), ctx));
        Ok(Listener { local_addr, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting new associations; established ones run to their end.
    pub fn shutdown(self) {
        self.task.abort();
    }

    /// Waits until the accept loop ends (it only ends by `shutdown` or a panic).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn accept_loop(socket: TcpListener, config: Arc<ListenerConfig>, ctx: ScpContext) {
    let slots = Arc::new(Semaphore::new(config.max_associations));
    let ids = AtomicU64::new(1);
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and similar: wait and keep serving.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let span =
            info_span!("association", id, peer = %peer.ip(), calling_ae = tracing::field::Empty);
        let permit = slots.clone().try_acquire_owned();
        let config = config.clone();
        let ctx = ctx.clone();
        tokio::spawn(
            async move {
                match permit {
                    Ok(permit) => {
                        admit(stream, peer.ip(), &config, ctx).await;
                        drop(permit);
                    }
                    Err(_) => reject_busy(stream, &config).await,
                }
            }
            .instrument(span),
        );
    }
}

/// Negotiates the association and serves it.
async fn admit(stream: TcpStream, peer: IpAddr, config: &ListenerConfig, ctx: ScpContext) {
    let options = association_options(config, peer);
    let establish = tokio::time::timeout(config.artim_timeout, options.establish_async(stream));
    let scp = match establish.await {
        Err(_) => {
            warn!("no association request within the ARTIM timeout; connection closed");
            return;
        }
        Ok(Err(e)) => {
            info!(error = %e, "association not established");
            return;
        }
        Ok(Ok(scp)) => scp,
    };
    let calling = dicom_ul::association::Association::peer_ae_title(&scp)
        .trim()
        .to_owned();
    tracing::Span::current().record("calling_ae", calling.as_str());
    let accepted = scp
        .presentation_contexts()
        .iter()
        .filter(|pc| pc.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance)
        .count();
    info!(presentation_contexts = accepted, "association accepted");
    scp::serve(scp, ctx, calling).await;
}

fn association_options(
    config: &ListenerConfig,
    peer: IpAddr,
) -> ServerAssociationOptions<'static, Admission, DefaultNegotiation> {
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(Admission {
            ae_title: config.ae_title.clone(),
            calling: config.calling.clone(),
            peer,
        })
        .ae_title(config.ae_title.as_str().to_owned())
        .max_pdu_length(config.max_pdu)
        .read_timeout(config.idle_timeout)
        .write_timeout(config.idle_timeout)
        .with_abstract_syntax(VERIFICATION);
    for class in &config.storage_classes {
        options = options.with_abstract_syntax(class.clone());
    }
    for ts in ACCEPTED_TRANSFER_SYNTAXES {
        options = options.with_transfer_syntax(ts);
    }
    options
}

/// Called-AE check and calling-AE allow-list for one connection.
struct Admission {
    ae_title: AeTitle,
    calling: CallingPolicy,
    peer: IpAddr,
}

impl AccessControl for Admission {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        if !self.ae_title.matches(called_ae_title) {
            info!("rejected: called AE title not recognised");
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        if !self.calling.allows(calling_ae_title, self.peer) {
            info!(
                calling_ae = calling_ae_title.trim(),
                "rejected: calling AE title not allowed"
            );
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        Ok(())
    }
}

/// Too many associations: read the request (within ARTIM) and reject it as transient
/// congestion, so the peer retries later.
async fn reject_busy(mut stream: TcpStream, config: &ListenerConfig) {
    let mut buffer = bytes_buffer();
    let read = read_pdu_from_wire_async(&mut stream, &mut buffer, config.max_pdu, false);
    match tokio::time::timeout(config.artim_timeout, read).await {
        Ok(Ok(Pdu::AssociationRQ(_))) => {
            let rj = Pdu::AssociationRJ(AssociationRJ {
                result: AssociationRJResult::Transient,
                source: AssociationRJSource::ServiceProviderPresentation(
                    AssociationRJServiceProviderPresentationReason::TemporaryCongestion,
                ),
            });
            let mut out = Vec::new();
            if write_pdu(&mut out, &rj).is_ok() {
                let _ = stream.write_all(&out).await;
            }
            warn!(
                limit = config.max_associations,
                "rejected: too many associations"
            );
        }
        _ => info!("connection over the association limit closed"),
    }
    let _ = stream.shutdown().await;
}

fn bytes_buffer() -> bytes::BytesMut {
    bytes::BytesMut::with_capacity(4096)
}
