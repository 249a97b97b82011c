//! The node's durable state in SQLite (embedded default) or PostgreSQL (several nodes sharing
//! one queue): studies, series, instances, jobs and their stages, results, deliveries and an
//! audit log. Every state change is written with its audit row in one transaction, so a crash
//! resumes from the last recorded state. See docs/store.md.
//!
//! - [`open`]: connecting and migrating; [`Store`] is the one handle the node passes around.
//! - [`ingest`]: instances in, series stable, one job per series.
//! - [`jobs`]: claim, heartbeat, stages, finish, fail, skip, reclaim.
//! - [`deliveries`]: the outbox: claim due, delivered, failed with backoff, retry.
//! - [`views`]: worklist, recent studies, health counts, audit log.
//! - [`results`]: a result as a notice (the webhook's payload).

mod deliveries;
pub mod error;
mod ingest;
mod jobs;
pub mod open;
mod results;
pub mod types;
mod views;
pub mod web_views;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub use error::StoreError;
pub use results::ResultNotice;
pub use types::*;

/// A connection pool to either database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// Added to the wall clock; only tests move it, to age claims without sleeping.
    clock_offset_ms: Arc<AtomicI64>,
    actor: Arc<str>,
}

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Store {
    pub fn engine(&self) -> Engine {
        match self.db {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Who this process is in the audit log: `host:pid`.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// A worker name unique to this process: `host:pid:label`.
    pub fn worker_id(&self, label: &str) -> String {
        format!("{}:{label}", self.actor)
    }

    /// Now, in Unix epoch milliseconds, as the store records it.
    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        wall + self.clock_offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this handle's clock forward (tests: stale claims, backoff).
    #[doc(hidden)]
    pub fn advance_clock(&self, by: Duration) {
        self.clock_offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds. The body is compiled
/// once per database, so one SQL text (with `$N` placeholders, which both accept) serves both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Appends an audit row inside a transaction.
macro_rules! audit {
    ($tx:expr, $at:expr, $actor:expr, $action:expr, $entity:expr, $id:expr, $detail:expr) => {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($at)
        .bind($actor)
        .bind($action)
        .bind($entity)
        .bind::<Option<i64>>($id)
        .bind(sqlx::types::Json($detail))
        .execute(&mut *$tx)
        .await
    };
}
pub(crate) use audit;

/// Starts a write transaction. SQLite's is `BEGIN IMMEDIATE`: it takes the write lock up
/// front (waiting out the busy timeout) instead of failing with SQLITE_BUSY when a read
/// inside the transaction later wants to write.
pub(crate) trait WriteTx {
    type Db: sqlx::Database;
    async fn write_tx(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl WriteTx for SqlitePool {
    type Db = Sqlite;
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl WriteTx for PgPool {
    type Db = Postgres;
    async fn write_tx(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

fn host_and_pid() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}
