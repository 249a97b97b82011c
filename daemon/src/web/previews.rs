//! Serves a result's preview PNGs from `<output_dir>/preview/` (behind the token: they show
//! patient images).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

use super::error::PageError;
use super::views::is_preview_name;
use super::{App, WebError};
use crate::writers::preview::PREVIEW_DIR;

pub async fn preview(
    State(app): State<Arc<App>>,
    Path((result_id, name)): Path<(i64, String)>,
) -> Result<impl IntoResponse, PageError> {
    let missing = || WebError::NotFound(format!("preview {name} of result {result_id}"));
    if !is_preview_name(&name) {
        return Err(missing().into());
    }
    let dir = app
        .web
        .store
        .result_output_dir(result_id)
        .await?
        .ok_or_else(missing)?;
    let png = tokio::fs::read(dir.join(PREVIEW_DIR).join(&name))
        .await
        .map_err(|_| missing())?;
    Ok((
        [
            (CONTENT_TYPE, "image/png"),
            (CACHE_CONTROL, "private, max-age=3600"),
        ],
        png,
    ))
}
