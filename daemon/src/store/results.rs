//! One result as a notice for the outside world (the webhook): identifiers, score, flag
//! and model; never patient data, which the store does not hold.

use serde::Serialize;
use sqlx::Row;

use super::{with_pool, Store, StoreError};

/// What a flagged-study notification carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResultNotice {
    pub result_id: i64,
    pub study_uid: String,
    pub series_uid: String,
    pub study_score: f64,
    pub threshold: f64,
    pub flagged: bool,
    pub model_name: String,
    pub model_version: String,
    /// Unix epoch milliseconds.
    pub scored_at: i64,
}

impl Store {
    pub async fn result_notice(&self, result_id: i64) -> Result<Option<ResultNotice>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT r.id, st.study_uid, se.series_uid, r.study_score, r.threshold, r.flagged, \
                        r.model_name, r.model_version, r.created_at \
                 FROM results r JOIN series se ON se.id = r.series_id \
                 JOIN studies st ON st.id = r.study_id WHERE r.id = $1",
            )
            .bind(result_id)
            .fetch_optional(pool)
            .await?;
            row.map(|r| -> Result<ResultNotice, StoreError> {
                Ok(ResultNotice {
                    result_id: r.try_get(0)?,
                    study_uid: r.try_get(1)?,
                    series_uid: r.try_get(2)?,
                    study_score: r.try_get(3)?,
                    threshold: r.try_get(4)?,
                    flagged: r.try_get(5)?,
                    model_name: r.try_get(6)?,
                    model_version: r.try_get(7)?,
                    scored_at: r.try_get(8)?,
                })
            })
            .transpose()
        })
    }
}
