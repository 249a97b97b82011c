//! Probes for orchestrators, open without a token: `/healthz` (the process answers) and
//! `/readyz` (model loaded, DICOM listener bound, store reachable and answering now).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::App;

/// How long `/readyz` waits for the store before calling it unreachable.
const STORE_PING_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 `ready`, or 503 with the reasons, one per line.
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    let reasons = not_ready_because(&app).await;
    if reasons.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let body = format!("not ready\n{}\n", reasons.join("\n"));
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

/// The reported conditions plus a live ping of the store.
pub async fn not_ready_because(app: &App) -> Vec<&'static str> {
    let mut reasons = app.web.readiness.conditions().reasons();
    if !reasons.contains(&"store unreachable") && !store_answers(app).await {
        reasons.push("store unreachable");
    }
    reasons
}

pub async fn store_answers(app: &App) -> bool {
    matches!(
        tokio::time::timeout(STORE_PING_TIMEOUT, app.web.store.ping()).await,
        Ok(Ok(()))
    )
}
