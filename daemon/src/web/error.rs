//! Errors of the web handlers, turned into responses in one place: JSON for the API, a small
//! HTML page for the pages. Store failures are logged here and shown without their detail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::warn;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0} not found")]
    NotFound(String),
    /// The request is valid but the thing is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    #[error("the store could not be read or written; the node's log has the cause")]
    Store(#[from] StoreError),
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn log(&self) {
        if let WebError::Store(e) = self {
            warn!(error = %e, "admin web: store error");
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        self.log();
        (self.status(), Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// A [`WebError`] shown as an HTML page.
#[derive(Debug)]
pub struct PageError(pub WebError);

impl<E: Into<WebError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0.log();
        let status = self.0.status();
        let body = super::html::error_page(status, &self.0.to_string());
        (status, body).into_response()
    }
}
