//! The admin web side of `screener serve` (axum): a dashboard and study pages in plain
//! server-rendered HTML, a JSON API under `/api/v1/`, `/healthz`, `/readyz` and
//! Prometheus `/metrics`. Everything but the probes, the sign-in form and the style sheet
//! needs the web token (see [`auth`]). It reads the store; its only write is an operator's
//! delivery retry. See docs/web.md.
//!
//! - [`readiness`]: the handle the pipeline reports readiness and alerts through.
//! - [`views`]: the data every page and API answer is made of.
//! - [`html`] and [`pages`]: the pages; [`api`]: the JSON; [`metrics`], [`health`]: probes.

pub mod api;
pub mod auth;
pub mod error;
pub mod health;
pub mod html;
pub mod metrics;
pub mod model_info;
pub mod pages;
pub mod previews;
pub mod readiness;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tracing::{error, info};

pub use error::WebError;
pub use model_info::ModelInfo;
pub use readiness::{Alert, Readiness};

use crate::store::{Delivery, DeliveryState, Store};

/// What the web side is given by the node.
#[derive(Clone)]
pub struct WebState {
    pub store: Store,
    pub model: ModelInfo,
    /// The web token (never logged).
    pub token: String,
    pub data_dir: PathBuf,
    /// Names of the configured DICOM destinations.
    pub destinations: Vec<String>,
    pub readiness: Readiness,
    pub started: Instant,
}

/// The handlers' shared state: what the node gave plus the token's digests.
pub struct App {
    pub web: WebState,
    pub auth: auth::Auth,
}

/// Every route, with authentication and the security headers.
pub fn router(state: WebState) -> Router {
    let app = Arc::new(App {
        auth: auth::Auth::new(&state.token),
        web: state,
    });
    let protected = Router::new()
        .route("/", get(pages::dashboard))
        .route("/studies/{uid}", get(pages::study))
        .route("/deliveries/{id}/retry", post(pages::retry))
        .route("/previews/{result_id}/{name}", get(previews::preview))
        .route("/metrics", get(metrics::metrics))
        .route("/logout", post(auth::logout))
        .merge(api::routes())
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/style.css", get(pages::style))
        // Browsers ask for it on every page; there is none.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .merge(protected)
        .fallback(not_found)
        .layer(middleware::map_response(security_headers))
        .with_state(app)
}

/// Serves the admin page on `listener` until `shutdown` completes, then lets requests in
/// flight finish. Errors are logged: the node keeps running without its web page.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if state.token.is_empty() {
        error!("admin web: no token configured; every protected page will refuse access");
    }
    if let Ok(addr) = listener.local_addr() {
        info!(address = %addr, "admin web listening");
    }
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
    {
        error!(error = %e, "admin web stopped");
    }
}

/// An operator's retry of a failed delivery, recorded in the audit log as `web:<ip>`.
async fn retry_delivery(app: &App, id: i64, peer: SocketAddr) -> Result<Delivery, WebError> {
    let store = &app.web.store;
    let before = store
        .delivery(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("delivery {id}")))?;
    if before.state != DeliveryState::Failed {
        return Err(WebError::Conflict(format!(
            "delivery {id} is {}, only failed deliveries can be retried",
            before.state.as_str()
        )));
    }
    let actor = format!("web:{}", peer.ip());
    if !store.retry_delivery(id, &actor).await? {
        return Err(WebError::Conflict(format!(
            "delivery {id} changed state meanwhile"
        )));
    }
    info!(delivery = id, destination = %before.destination, actor = %actor, "delivery retry requested");
    store
        .delivery(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("delivery {id}")))
}

async fn not_found() -> error::PageError {
    error::PageError(WebError::NotFound("page".into()))
}

/// No framing, no sniffing, no referrers, nothing from elsewhere, and no caching of pages
/// (they hold study data) unless a handler chose otherwise.
async fn security_headers(mut response: Response) -> impl IntoResponse {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}
