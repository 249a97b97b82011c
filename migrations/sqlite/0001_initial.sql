-- Screener store, SQLite dialect. Times are Unix epoch milliseconds (INTEGER); JSON is TEXT.
-- Kept column-for-column identical to migrations/postgres/0001_initial.sql.

CREATE TABLE studies (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    study_uid         TEXT    NOT NULL UNIQUE,
    calling_ae        TEXT,
    first_received_at INTEGER NOT NULL,
    last_received_at  INTEGER NOT NULL
);

CREATE TABLE series (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id          INTEGER NOT NULL REFERENCES studies (id),
    series_uid        TEXT    NOT NULL UNIQUE,
    modality          TEXT,
    calling_ae        TEXT,
    instance_count    INTEGER NOT NULL DEFAULT 0,
    first_received_at INTEGER NOT NULL,
    last_received_at  INTEGER NOT NULL,
    stable_at         INTEGER
);
CREATE INDEX series_study ON series (study_id);

CREATE TABLE instances (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id        INTEGER NOT NULL REFERENCES series (id),
    sop_instance_uid TEXT    NOT NULL UNIQUE,
    sop_class_uid    TEXT,
    calling_ae       TEXT,
    received_at      INTEGER NOT NULL,
    file_path        TEXT    NOT NULL,
    size_bytes       INTEGER
);
CREATE INDEX instances_series ON instances (series_id);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id    INTEGER NOT NULL UNIQUE REFERENCES series (id),
    state        TEXT    NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'failed', 'skipped')),
    reason       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    claimed_by   TEXT,
    claimed_at   INTEGER,
    heartbeat_at INTEGER,
    queued_at    INTEGER NOT NULL,
    not_before   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
CREATE INDEX jobs_queue ON jobs (state, not_before, id);
CREATE INDEX jobs_running ON jobs (state, heartbeat_at);

CREATE TABLE job_stages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs (id),
    attempt     INTEGER NOT NULL,
    stage       TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (job_id, attempt, stage)
);

CREATE TABLE results (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id              INTEGER NOT NULL UNIQUE REFERENCES jobs (id),
    series_id           INTEGER NOT NULL REFERENCES series (id),
    study_id            INTEGER NOT NULL REFERENCES studies (id),
    study_score         REAL    NOT NULL,
    flagged             BOOLEAN NOT NULL,
    threshold           REAL    NOT NULL,
    model_name          TEXT    NOT NULL,
    model_version       TEXT    NOT NULL,
    timings             TEXT    NOT NULL,
    seg_sop_uid         TEXT,
    overlay_series_uid  TEXT,
    overlay_sop_uids    TEXT    NOT NULL,
    output_dir          TEXT,
    created_at          INTEGER NOT NULL
);
CREATE INDEX results_worklist ON results (flagged, study_score);
CREATE INDEX results_study ON results (study_id);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    result_id       INTEGER NOT NULL REFERENCES results (id),
    destination     TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_at      INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    UNIQUE (result_id, destination)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at, id);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    entity    TEXT    NOT NULL,
    entity_id INTEGER,
    detail    TEXT    NOT NULL
);
CREATE INDEX audit_entity ON audit_log (entity, entity_id);
