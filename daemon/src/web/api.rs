//! The JSON API under `/api/v1/`: the same data as the pages, for scripts and other systems.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::model_info::ModelInfo;
use super::views::{self, HealthView, StudySummary, StudyView};
use super::{App, WebError};
use crate::store::{Delivery, WorklistEntry};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/worklist", get(worklist))
        .route("/api/v1/studies", get(studies))
        .route("/api/v1/studies/{uid}", get(study))
        .route("/api/v1/health", get(health))
        .route("/api/v1/model", get(model))
        .route("/api/v1/deliveries/{id}/retry", post(retry))
}

#[derive(Deserialize)]
pub struct Limit {
    limit: Option<i64>,
}

/// Flagged series, highest score first.
async fn worklist(
    State(app): State<Arc<App>>,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<WorklistEntry>>, WebError> {
    let limit = views::list_limit(q.limit, views::MAX_LIST);
    Ok(Json(app.web.store.worklist(limit).await?))
}

/// The most recently received studies, newest first.
async fn studies(
    State(app): State<Arc<App>>,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<StudySummary>>, WebError> {
    let limit = views::list_limit(q.limit, views::DEFAULT_STUDIES);
    Ok(Json(views::studies(&app, limit).await?))
}

async fn study(
    State(app): State<Arc<App>>,
    Path(uid): Path<String>,
) -> Result<Json<StudyView>, WebError> {
    Ok(Json(views::study(&app, &uid).await?))
}

async fn health(State(app): State<Arc<App>>) -> Result<Json<HealthView>, WebError> {
    Ok(Json(views::health(&app).await?))
}

async fn model(State(app): State<Arc<App>>) -> Json<ModelInfo> {
    Json(app.web.model.clone())
}

/// A failed delivery becomes due again with its attempts reset; answers the delivery as it
/// is now. 404 for an unknown delivery, 409 for one that has not failed.
async fn retry(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
) -> Result<Json<Delivery>, WebError> {
    Ok(Json(super::retry_delivery(&app, id, peer).await?))
}
