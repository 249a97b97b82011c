//! Handlers of the HTML pages: the dashboard, a study, and the retry form.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::Markup;
use serde::Deserialize;

use super::auth::local_path;
use super::error::PageError;
use super::views::{self, list_limit};
use super::{html, App};

#[derive(Deserialize)]
pub struct DashboardQuery {
    /// How many recent studies to list.
    limit: Option<i64>,
}

pub async fn dashboard(
    State(app): State<Arc<App>>,
    Query(q): Query<DashboardQuery>,
) -> Result<Markup, PageError> {
    let limit = list_limit(q.limit, views::DEFAULT_STUDIES);
    let data = views::dashboard(&app, limit).await?;
    Ok(html::dashboard::render(
        &data,
        &app.web.model,
        &app.web.data_dir,
    ))
}

pub async fn study(
    State(app): State<Arc<App>>,
    Path(uid): Path<String>,
) -> Result<Markup, PageError> {
    let view = views::study(&app, &uid).await?;
    Ok(html::study::render(&view, &app.web.readiness.alerts()))
}

#[derive(Deserialize)]
pub struct RetryForm {
    back: Option<String>,
}

/// The retry button: retries, then shows the page the button was on again.
pub async fn retry(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Form(form): Form<RetryForm>,
) -> Result<Redirect, PageError> {
    super::retry_delivery(&app, id, peer).await?;
    Ok(Redirect::to(&local_path(form.back.as_deref())))
}

pub async fn style() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        html::STYLE,
    )
}
