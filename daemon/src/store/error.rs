//! Why a store operation failed.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {0:?} is neither sqlite://… nor postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot create the folder of the SQLite file {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The claim was reclaimed (its heartbeat went stale) or the job finished meanwhile:
    /// the caller must stop working on it and record nothing.
    #[error("{entity} {id} is no longer claimed by {worker} (attempt {attempt})")]
    LostClaim {
        entity: &'static str,
        id: i64,
        worker: String,
        attempt: i64,
    },
    #[error("series {0} is not in the store")]
    UnknownSeries(String),
    #[error("unexpected value {value:?} in column {column}")]
    BadValue { column: &'static str, value: String },
}
