-- Screener store, PostgreSQL dialect. Times are Unix epoch milliseconds (BIGINT); JSON is JSONB.
-- Kept column-for-column identical to migrations/sqlite/0001_initial.sql.

CREATE TABLE studies (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_uid         TEXT    NOT NULL UNIQUE,
    calling_ae        TEXT,
    first_received_at BIGINT  NOT NULL,
    last_received_at  BIGINT  NOT NULL
);

CREATE TABLE series (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    study_id          BIGINT  NOT NULL REFERENCES studies (id),
    series_uid        TEXT    NOT NULL UNIQUE,
    modality          TEXT,
    calling_ae        TEXT,
    instance_count    BIGINT  NOT NULL DEFAULT 0,
    first_received_at BIGINT  NOT NULL,
    last_received_at  BIGINT  NOT NULL,
    stable_at         BIGINT
);
CREATE INDEX series_study ON series (study_id);

CREATE TABLE instances (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    series_id        BIGINT  NOT NULL REFERENCES series (id),
    sop_instance_uid TEXT    NOT NULL UNIQUE,
    sop_class_uid    TEXT,
    calling_ae       TEXT,
    received_at      BIGINT  NOT NULL,
    file_path        TEXT    NOT NULL,
    size_bytes       BIGINT
);
CREATE INDEX instances_series ON instances (series_id);

CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    series_id    BIGINT  NOT NULL UNIQUE REFERENCES series (id),
    state        TEXT    NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'done', 'failed', 'skipped')),
    reason       TEXT,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    claimed_by   TEXT,
    claimed_at   BIGINT,
    heartbeat_at BIGINT,
    queued_at    BIGINT  NOT NULL,
    not_before   BIGINT  NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT
);
CREATE INDEX jobs_queue ON jobs (state, not_before, id);
CREATE INDEX jobs_running ON jobs (state, heartbeat_at);

CREATE TABLE job_stages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      BIGINT  NOT NULL REFERENCES jobs (id),
    attempt     BIGINT  NOT NULL,
    stage       TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    UNIQUE (job_id, attempt, stage)
);

CREATE TABLE results (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id              BIGINT  NOT NULL UNIQUE REFERENCES jobs (id),
    series_id           BIGINT  NOT NULL REFERENCES series (id),
    study_id            BIGINT  NOT NULL REFERENCES studies (id),
    study_score         DOUBLE PRECISION NOT NULL,
    flagged             BOOLEAN NOT NULL,
    threshold           DOUBLE PRECISION NOT NULL,
    model_name          TEXT    NOT NULL,
    model_version       TEXT    NOT NULL,
    timings             JSONB   NOT NULL,
    seg_sop_uid         TEXT,
    overlay_series_uid  TEXT,
    overlay_sop_uids    JSONB   NOT NULL,
    output_dir          TEXT,
    created_at          BIGINT  NOT NULL
);
CREATE INDEX results_worklist ON results (flagged, study_score);
CREATE INDEX results_study ON results (study_id);

CREATE TABLE deliveries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    result_id       BIGINT  NOT NULL REFERENCES results (id),
    destination     TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claimed_by      TEXT,
    claimed_at      BIGINT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (result_id, destination)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at, id);

CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    entity    TEXT    NOT NULL,
    entity_id BIGINT,
    detail    JSONB   NOT NULL
);
CREATE INDEX audit_entity ON audit_log (entity, entity_id);
