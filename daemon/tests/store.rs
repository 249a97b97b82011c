//! The store against both engines for real: SQLite in a temp folder and PostgreSQL at
//! `SCREENER_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`), one fresh
//! database per test, dropped at the end. With `CI=true` a missing PostgreSQL fails the
//! test; elsewhere the PostgreSQL half is skipped with a printed reason.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

mod pg_support;

use pg_support::PgDatabase;
use screener_daemon::dicom::RetryPolicy;
use screener_daemon::store::{
    Engine, JobState, NewInstance, NewResult, Recorded, Retry, Store, StoreError,
};

/// A store on a throwaway database; the database goes when this does.
struct TestDb {
    store: Store,
    url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("data/screener.sqlite3").display()
    );
    let store = Store::open(&url, 8).await.unwrap();
    assert_eq!(store.engine(), Engine::Sqlite);
    TestDb {
        store,
        url,
        _dir: Some(dir),
        _pg: None,
    }
}

/// A fresh PostgreSQL database, or None (skipped, reason printed) when the server is not
/// reachable outside CI.
async fn postgres() -> Option<TestDb> {
    let pg = PgDatabase::create().await?;
    let db = TestDb {
        store: Store::open(&pg.url, 10).await.unwrap(),
        url: pg.url.clone(),
        _dir: None,
        _pg: Some(pg),
    };
    assert_eq!(db.store.engine(), Engine::Postgres);
    Some(db)
}

/// Runs one specification on SQLite and on PostgreSQL, as `NAME::sqlite` and `NAME::postgres`.
macro_rules! on_both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = super::sqlite().await;
                super::specs::$name(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = super::postgres().await {
                    super::specs::$name(&db).await;
                }
            }
        }
    };
}

on_both_engines!(migrations_apply_twice_idempotently);
on_both_engines!(instance_recording_is_idempotent_on_sop_instance_uid);
on_both_engines!(a_series_gets_exactly_one_job);
on_both_engines!(a_skipped_series_that_grew_is_queued_again);
on_both_engines!(concurrent_claims_never_hand_one_job_to_two_workers);
on_both_engines!(stale_claims_are_reclaimed_and_the_old_worker_is_fenced_off);
on_both_engines!(deliveries_back_off_then_give_up_until_retried);
on_both_engines!(worklist_lists_flagged_series_by_score);
on_both_engines!(every_state_change_of_a_job_is_audited);

fn instance(study: &str, series: &str, sop: &str) -> NewInstance {
    NewInstance {
        study_uid: study.into(),
        series_uid: series.into(),
        sop_instance_uid: sop.into(),
        sop_class_uid: Some("1.2.840.10008.5.1.4.1.1.2".into()),
        modality: Some("CT".into()),
        calling_ae: Some("PACS".into()),
        file_path: PathBuf::from(format!("/spool/{study}/{series}/{sop}.dcm")),
        size_bytes: Some(1024),
    }
}

fn result(score: f64, flagged: bool) -> NewResult {
    NewResult {
        study_score: score,
        flagged,
        threshold: 2.5,
        model_name: "default".into(),
        model_version: "1.0.0".into(),
        timings: serde_json::json!({"preprocess_s": 1.5, "inference_s": 10.0}),
        seg_sop_uid: Some("2.25.1".into()),
        overlay_series_uid: Some("2.25.2".into()),
        overlay_sop_uids: vec!["2.25.3".into(), "2.25.4".into()],
        output_dir: Some(PathBuf::from("/data/out/1")),
    }
}

/// Records one instance of series `n` and marks it stable; returns the job id.
async fn queued_job(store: &Store, n: usize) -> i64 {
    let series = format!("1.2.3.{n}");
    store
        .record_instance(&instance("1.2.3", &series, &format!("{series}.1")))
        .await
        .unwrap();
    store.mark_series_stable(&series).await.unwrap().unwrap()
}

mod specs {
    use super::*;

    pub async fn migrations_apply_twice_idempotently(db: &TestDb) {
        db.store.migrate().await.unwrap();
        let again = Store::open(&db.url, 2).await.unwrap();
        again.migrate().await.unwrap();
        assert_eq!(again.health().await.unwrap().jobs_queued, 0);
        again.close().await;
        if db.store.engine() == Engine::Sqlite {
            queued_job(&db.store, 1).await;
            let wal = PathBuf::from(format!("{}-wal", db.url.trim_start_matches("sqlite://")));
            assert!(
                wal.exists(),
                "SQLite runs in WAL mode: {} exists",
                wal.display()
            );
        }
    }

    pub async fn instance_recording_is_idempotent_on_sop_instance_uid(db: &TestDb) {
        let s = &db.store;
        let i = instance("1.2.3", "1.2.3.4", "1.2.3.4.5");
        let first = s.record_instance(&i).await.unwrap();
        assert!(matches!(first, Recorded::New { .. }));
        assert_eq!(s.record_instance(&i).await.unwrap(), Recorded::Duplicate);
        // Concurrent re-sends of one new instance: one row.
        let other = instance("1.2.3", "1.2.3.4", "1.2.3.4.6");
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (s, i) = (s.clone(), other.clone());
                tokio::spawn(async move { s.record_instance(&i).await.unwrap() })
            })
            .collect();
        let mut new = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Recorded::New { .. }) {
                new += 1;
            }
        }
        assert_eq!(new, 1);
        let h = s.health().await.unwrap();
        assert_eq!((h.studies, h.instances), (1, 2));
        let studies = s.recent_studies(10).await.unwrap();
        assert_eq!(studies[0].series[0].instance_count, 2);
        assert_eq!(studies[0].state(), "receiving");
    }

    pub async fn a_series_gets_exactly_one_job(db: &TestDb) {
        let s = &db.store;
        for k in 0..3 {
            s.record_instance(&instance("1.2.3", "1.2.3.4", &format!("1.2.3.4.{k}")))
                .await
                .unwrap();
        }
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.mark_series_stable("1.2.3.4").await.unwrap() })
            })
            .collect();
        let mut jobs = Vec::new();
        for t in tasks {
            jobs.extend(t.await.unwrap());
        }
        assert_eq!(jobs.len(), 1, "one job id handed out: {jobs:?}");
        assert_eq!(s.mark_series_stable("1.2.3.4").await.unwrap(), None);
        assert_eq!(s.health().await.unwrap().jobs_queued, 1);
        assert!(matches!(
            s.mark_series_stable("9.9.9").await,
            Err(StoreError::UnknownSeries(_))
        ));
        assert!(s.series_without_job().await.unwrap().is_empty());
        assert_eq!(s.series_files(1).await.unwrap().len(), 3);
    }

    pub async fn a_skipped_series_that_grew_is_queued_again(db: &TestDb) {
        let s = &db.store;
        let now = Duration::ZERO;
        let job = queued_job(s, 1).await;
        // Queued or running: the job reads every instance when it runs, or is left to end.
        assert_eq!(s.requeue_if_grown("1.2.3.1", now).await.unwrap(), None);
        let claim = s.claim_job("w").await.unwrap().unwrap();
        s.advance_clock(Duration::from_secs(1));
        s.record_instance(&instance("1.2.3", "1.2.3.1", "1.2.3.1.2"))
            .await
            .unwrap();
        assert_eq!(s.requeue_if_grown("1.2.3.1", now).await.unwrap(), None);
        assert_eq!(s.job(job).await.unwrap().unwrap().state, JobState::Running);
        s.skip_job(&claim, "missing slice(s)").await.unwrap();

        // Arrived while it ran: queued again, due once the series has been idle for `settle`.
        let settle = Duration::from_secs(30);
        assert_eq!(
            s.requeue_if_grown("1.2.3.1", settle).await.unwrap(),
            Some(job)
        );
        let j = s.job(job).await.unwrap().unwrap();
        assert_eq!((j.state, j.finished_at), (JobState::Queued, None));
        assert!(j.reason.unwrap().contains("skipped: missing slice(s)"));
        let last = s.recent_studies(1).await.unwrap()[0].series[0].last_received_at;
        assert_eq!(j.not_before, last + 30_000);
        assert!(s.claim_job("w").await.unwrap().is_none(), "not due yet");
        s.advance_clock(settle);
        let again = s.claim_job("w").await.unwrap().unwrap();
        assert_eq!((again.job_id, again.attempt), (job, 2));
        assert_eq!(s.series_files(again.series_id).await.unwrap().len(), 2);

        // Failed, then nothing new (a re-sent duplicate is not new): it stays failed.
        s.fail_job(&again, "test").await.unwrap();
        s.advance_clock(Duration::from_secs(1));
        let dup = instance("1.2.3", "1.2.3.1", "1.2.3.1.1");
        assert_eq!(s.record_instance(&dup).await.unwrap(), Recorded::Duplicate);
        assert_eq!(s.requeue_if_grown("1.2.3.1", now).await.unwrap(), None);
        assert_eq!(s.job(job).await.unwrap().unwrap().state, JobState::Failed);
        // A new instance after the failure: queued again, due at once.
        s.record_instance(&instance("1.2.3", "1.2.3.1", "1.2.3.1.3"))
            .await
            .unwrap();
        assert_eq!(s.requeue_if_grown("1.2.3.1", now).await.unwrap(), Some(job));
        assert_eq!(s.requeue_if_grown("1.2.3.1", now).await.unwrap(), None);
        let third = s.claim_job("w").await.unwrap().unwrap();
        assert_eq!(third.attempt, 3);

        // A done job stands: its result went out already.
        s.finish_job(&third, &result(1.0, false), &[])
            .await
            .unwrap();
        s.advance_clock(Duration::from_secs(1));
        s.record_instance(&instance("1.2.3", "1.2.3.1", "1.2.3.1.4"))
            .await
            .unwrap();
        assert_eq!(s.requeue_if_grown("1.2.3.1", now).await.unwrap(), None);
        assert_eq!(s.job(job).await.unwrap().unwrap().state, JobState::Done);
    }

    pub async fn concurrent_claims_never_hand_one_job_to_two_workers(db: &TestDb) {
        let s = &db.store;
        const JOBS: usize = 60;
        for n in 0..JOBS {
            queued_job(s, n).await;
        }
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let s = s.clone();
                tokio::spawn(async move {
                    let worker = s.worker_id(&format!("w{w}"));
                    let mut mine = Vec::new();
                    while let Some(claim) = s.claim_job(&worker).await.unwrap() {
                        assert_eq!(claim.attempt, 1);
                        mine.push(claim.job_id);
                        s.skip_job(&claim, "test").await.unwrap();
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(all.len(), JOBS, "every job claimed exactly once");
        assert_eq!(unique.len(), JOBS);
        let h = s.health().await.unwrap();
        assert_eq!(
            (h.jobs_queued, h.jobs_running, h.jobs_skipped),
            (0, 0, JOBS as i64)
        );
    }

    pub async fn stale_claims_are_reclaimed_and_the_old_worker_is_fenced_off(db: &TestDb) {
        let s = &db.store;
        let job = queued_job(s, 1).await;
        let dead = s.claim_job("dead-worker").await.unwrap().unwrap();
        s.heartbeat(&dead).await.unwrap();
        let stale = Duration::from_secs(60);
        assert_eq!(
            s.reclaim_stale_jobs(stale, 2).await.unwrap().requeued,
            Vec::<i64>::new()
        );

        s.advance_clock(Duration::from_secs(61));
        assert_eq!(
            s.reclaim_stale_jobs(stale, 2).await.unwrap().requeued,
            vec![job]
        );
        assert!(matches!(
            s.heartbeat(&dead).await,
            Err(StoreError::LostClaim { .. })
        ));

        let second = s.claim_job("live-worker").await.unwrap().unwrap();
        assert_eq!((second.job_id, second.attempt), (job, 2));
        // The first worker wakes up and tries to record its result: refused, nothing written.
        assert!(matches!(
            s.finish_job(&dead, &result(1.0, false), &["pacs"]).await,
            Err(StoreError::LostClaim { .. })
        ));
        assert_eq!(s.health().await.unwrap().jobs_done, 0);

        // Out of attempts: the job fails instead of crashing workers forever.
        s.advance_clock(Duration::from_secs(61));
        let r = s.reclaim_stale_jobs(stale, 2).await.unwrap();
        assert_eq!((r.requeued.len(), r.failed.clone()), (0, vec![job]));
        let j = s.job(job).await.unwrap().unwrap();
        assert_eq!(j.state, JobState::Failed);
        assert!(j.reason.unwrap().contains("live-worker"));
        assert!(s.claim_job("w").await.unwrap().is_none());
    }

    pub async fn deliveries_back_off_then_give_up_until_retried(db: &TestDb) {
        let s = &db.store;
        queued_job(s, 1).await;
        let claim = s.claim_job("w").await.unwrap().unwrap();
        let result_id = s
            .finish_job(&claim, &result(3.0, true), &["pacs", "archive"])
            .await
            .unwrap();
        assert_eq!(
            s.enqueue_deliveries(result_id, &["pacs", "viewer"])
                .await
                .unwrap(),
            1
        );
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(3),
        };
        let mut pacs = None;
        while let Some(d) = s.claim_due_delivery("sender").await.unwrap() {
            assert_eq!(d.overlay_sop_uids, ["2.25.3", "2.25.4"]);
            if d.destination == "pacs" {
                pacs = Some(d);
            } else {
                s.mark_delivered(&d).await.unwrap();
            }
        }
        let mut d = pacs.unwrap();
        let mut waits = Vec::new();
        loop {
            let now = s.now_ms();
            match s
                .mark_delivery_failed(&d, "connection refused", &policy)
                .await
                .unwrap()
            {
                Retry::At(t) => {
                    waits.push((t - now + 500) / 1000);
                    assert!(s.claim_due_delivery("sender").await.unwrap().is_none());
                    s.advance_clock(Duration::from_millis((t - now) as u64 + 10));
                    d = s.claim_due_delivery("sender").await.unwrap().unwrap();
                }
                Retry::GaveUp => {
                    assert_eq!(d.attempt, 3);
                    break;
                }
            }
        }
        assert_eq!(waits, [2, 3], "base delay, doubled, capped");
        let h = s.health().await.unwrap();
        assert_eq!((h.deliveries_failed, h.deliveries_delivered), (1, 2));
        let failed = s.deliveries(result_id).await.unwrap();
        let pacs = failed.iter().find(|d| d.destination == "pacs").unwrap();
        assert_eq!(pacs.last_error.as_deref(), Some("connection refused"));

        assert!(s.retry_delivery(pacs.id, "operator").await.unwrap());
        assert!(!s.retry_delivery(pacs.id, "operator").await.unwrap());
        let d = s.claim_due_delivery("sender").await.unwrap().unwrap();
        assert_eq!((d.delivery_id, d.attempt), (pacs.id, 1));
        // The sender dies mid-send: the delivery becomes due again.
        s.advance_clock(Duration::from_secs(600));
        assert_eq!(
            s.reclaim_stale_deliveries(Duration::from_secs(300))
                .await
                .unwrap(),
            vec![pacs.id]
        );
        assert!(matches!(
            s.mark_delivered(&d).await,
            Err(StoreError::LostClaim { .. })
        ));
        let d = s.claim_due_delivery("sender").await.unwrap().unwrap();
        s.mark_delivered(&d).await.unwrap();
        assert_eq!(s.health().await.unwrap().deliveries_delivered, 3);
    }

    pub async fn worklist_lists_flagged_series_by_score(db: &TestDb) {
        let s = &db.store;
        for (n, score) in [0.5, 3.0, 7.0, 5.0].into_iter().enumerate() {
            queued_job(s, n).await;
            let c = s.claim_job("w").await.unwrap().unwrap();
            s.finish_job(&c, &result(score, score > 2.5), &[])
                .await
                .unwrap();
        }
        let list = s.worklist(10).await.unwrap();
        let scores: Vec<f64> = list.iter().map(|e| e.study_score).collect();
        assert_eq!(scores, [7.0, 5.0, 3.0]);
        assert_eq!(list[0].series_uid, "1.2.3.2");
        assert_eq!(s.worklist(1).await.unwrap().len(), 1);
        let studies = s.recent_studies(5).await.unwrap();
        assert_eq!(studies.len(), 1);
        assert_eq!(studies[0].series.len(), 4);
        assert_eq!(studies[0].state(), "done");
        assert_eq!(studies[0].score(), Some(7.0));
        assert!(studies[0].flagged());
    }

    pub async fn every_state_change_of_a_job_is_audited(db: &TestDb) {
        let s = &db.store;
        let job = queued_job(s, 1).await;
        let c = s.claim_job("w").await.unwrap().unwrap();
        s.stage_started(&c, "score").await.unwrap();
        s.stage_finished(&c, "score").await.unwrap();
        s.finish_job(&c, &result(1.0, false), &["pacs"])
            .await
            .unwrap();
        let log = s.audit_log("job", job).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "job.queued",
                "job.running",
                "stage.started",
                "stage.finished",
                "job.done"
            ]
        );
        assert_eq!(log[1].actor, "w");
        assert_eq!(log[2].detail["stage"], "score");
        assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
        let stages = s.job_stages(job).await.unwrap();
        assert_eq!(stages.len(), 1);
        assert!(stages[0].3.is_some());
        s.audit_append(
            "operator",
            "node.started",
            "node",
            None,
            serde_json::json!({}),
        )
        .await
        .unwrap();
    }
}

/// Set in the two child processes of `two_processes_never_claim_the_same_job`.
const CHILD_URL: &str = "SCREENER_STORE_TEST_CHILD_URL";
const CHILD_GO: &str = "SCREENER_STORE_TEST_CHILD_GO";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_claim_the_same_job() {
    let Some(db) = postgres().await else { return };
    const JOBS: usize = 300;
    for n in 0..JOBS {
        queued_job(&db.store, n).await;
    }
    let go = tempfile::tempdir().unwrap();
    let go_file = go.path().join("go");
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "claim_worker_process",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_URL, &db.url)
                .env(CHILD_GO, &go_file)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Both children connected before either claims, so they really compete.
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()).lines())
        .collect();
    for r in &mut readers {
        loop {
            let line = r.next().expect("child exited before READY").unwrap();
            // libtest may have printed "test NAME ... " on the same line.
            if line.ends_with("READY") {
                break;
            }
        }
    }
    std::fs::write(&go_file, "").unwrap();
    let mut per_process = Vec::new();
    for r in readers {
        let ids: Vec<i64> = r
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("CLAIMED ").map(|n| n.parse().unwrap()))
            .collect();
        per_process.push(ids);
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    eprintln!(
        "claims per process: {} and {}",
        per_process[0].len(),
        per_process[1].len()
    );
    let all: Vec<i64> = per_process.iter().flatten().copied().collect();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        JOBS,
        "claims: {} and {}",
        per_process[0].len(),
        per_process[1].len()
    );
    assert_eq!(unique.len(), JOBS, "no job claimed twice");
    assert!(
        per_process.iter().all(|p| !p.is_empty()),
        "both processes claimed jobs: {} and {}",
        per_process[0].len(),
        per_process[1].len()
    );
    assert_eq!(db.store.health().await.unwrap().jobs_done, JOBS as i64);
}

/// The child side of `two_processes_never_claim_the_same_job`; does nothing when run alone.
#[tokio::test]
async fn claim_worker_process() {
    let (Ok(url), Ok(go)) = (std::env::var(CHILD_URL), std::env::var(CHILD_GO)) else {
        return;
    };
    let store = Store::open(&url, 2).await.unwrap();
    let worker = store.worker_id("child");
    println!("READY");
    while !std::path::Path::new(&go).exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while let Some(claim) = store.claim_job(&worker).await.unwrap() {
        println!("CLAIMED {}", claim.job_id);
        store
            .finish_job(&claim, &result(1.0, false), &[])
            .await
            .unwrap();
    }
}
