//! `screener serve` under faults that pass: a PACS that is down, a results disk that is
//! full, a webhook receiver that fails first; and two nodes sharing one PostgreSQL queue.
//! The node keeps serving, shows an alert, and catches up when the fault goes away.

mod dicom_support;
mod serve_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dicom_support::*;
use screener_core::Dims;
use screener_daemon::store::JobState;
use serve_support::*;

const PACS_PORT: u16 = 11400;

fn small() -> Dims {
    Dims::new(112, 96, 16)
}

fn alerts(node: &NodeProcess) -> Vec<String> {
    let (status, body) = node.get("/api/v1/health");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    health["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}: {}", a["key"], a["message"]))
        .collect()
}

#[test]
fn a_pacs_that_is_down_raises_an_alert_and_gets_the_result_once_it_is_up() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 31, small(), false);
    let pacs = tmp.path().join("pacs");
    in_private_network(async {
        let mut setup = NodeSetup::new(&tmp.path().join("node"));
        setup.destinations.push(Dest {
            name: "pacs",
            ae_title: "STORESCP",
            port: PACS_PORT,
        });
        let node = NodeProcess::start(&setup);
        assert!(storescu(setup.dicom_port, &study.files));
        let store = open_store(&setup.sqlite_url()).await;
        wait_for(Duration::from_secs(120), "a failed attempt", || async {
            let d = store.deliveries(1).await.ok()?;
            d.first()?.last_error.clone()
        })
        .await;
        let raised = alerts(&node);
        assert!(
            raised.iter().any(|a| a.contains("delivery:pacs")),
            "{raised:?}"
        );
        // The node keeps serving: an echo still answers while the PACS is down.
        assert!(Command::new("echoscu")
            .args(["-aec", "SCREENER", "127.0.0.1"])
            .arg(setup.dicom_port.to_string())
            .status()
            .unwrap()
            .success());

        let _pacs = storescp(PACS_PORT, &pacs);
        wait_for(Duration::from_secs(30), "the catch-up delivery", || async {
            let d = store.deliveries(1).await.ok()?;
            (d.first()?.state.as_str() == "delivered").then_some(())
        })
        .await;
        assert!(alerts(&node).is_empty(), "alert cleared");
        assert_eq!(walk(&pacs).len(), 1 + study.files.len());
        store.close().await;
    });
}

#[test]
fn a_full_results_disk_requeues_the_job_and_it_completes_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 32, small(), false);
    let results = tmp.path().join("node/results");
    std::fs::create_dir_all(&results).unwrap();
    mount_small_tmpfs(&results, "64k");
    in_private_network(async {
        let setup = NodeSetup::new(&tmp.path().join("node"));
        let node = NodeProcess::start(&setup);
        assert!(storescu(setup.dicom_port, &study.files));
        let store = open_store(&setup.sqlite_url()).await;
        let job = wait_for(Duration::from_secs(120), "the requeue", || async {
            let j = store.job(1).await.ok()??;
            (j.state == JobState::Queued && j.reason.is_some()).then_some(j)
        })
        .await;
        assert!(job.reason.unwrap().contains("disk full"));
        let raised = alerts(&node);
        assert!(raised.iter().any(|a| a.contains("disk")), "{raised:?}");

        let ok = Command::new("mount")
            .args(["-o", "remount,size=64m"])
            .arg(&results)
            .status()
            .unwrap();
        assert!(ok.success());
        let job = wait_for(Duration::from_secs(120), "the job done", || async {
            let j = store.job(1).await.ok()??;
            (j.state == JobState::Done).then_some(j)
        })
        .await;
        assert!(job.attempts >= 2);
        assert!(!alerts(&node).iter().any(|a| a.contains("disk")));
        // No scratch folder is left behind.
        let left: Vec<_> = std::fs::read_dir(&results)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [std::ffi::OsString::from(&study.series_uid)]);
        store.close().await;
    });
}

/// A webhook receiver: answers 500 to the first request and 200 after; keeps the bodies.
fn webhook_receiver(port: u16) -> Arc<Mutex<Vec<String>>> {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            let mut auth = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if lower.starts_with("authorization:") {
                    auth = line.trim().to_owned();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock()
                .unwrap()
                .push(format!("{auth}\n{}", String::from_utf8_lossy(&body)));
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
        }
    });
    bodies
}

#[test]
fn a_flagged_study_is_posted_to_the_webhook_with_retries() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 33, small(), true);
    in_private_network(async {
        let bodies = webhook_receiver(11450);
        let mut setup = NodeSetup::new(&tmp.path().join("node"));
        setup.model_dir = bundle_flagging_everything(&tmp.path().join("bundle"));
        setup.webhook_url = Some("http://127.0.0.1:11450/hook".into());
        setup.extra = String::new();
        let node = NodeProcess::start(&setup);
        assert!(storescu(setup.dicom_port, &study.files));
        let store = open_store(&setup.sqlite_url()).await;
        wait_for(
            Duration::from_secs(120),
            "the webhook delivered",
            || async {
                let d = store.deliveries(1).await.ok()?;
                let hook = d.iter().find(|d| d.destination == "webhook")?;
                (hook.state.as_str() == "delivered").then_some(())
            },
        )
        .await;
        let bodies = bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 2, "one failure, one success: {bodies:?}");
        let (_, json) = bodies[1].split_once('\n').unwrap();
        let notice: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(notice["event"], "study.flagged");
        assert_eq!(notice["result"]["study_uid"], study.study_uid);
        assert_eq!(notice["result"]["flagged"], true);
        assert!(!json.contains("SECRET"), "no patient data in the notice");
        let (status, worklist) = node.get("/api/v1/worklist");
        assert_eq!(status, 200);
        assert!(worklist.contains(&study.study_uid), "{worklist}");
        store.close().await;
    });
}

/// A fresh PostgreSQL database reached over the Unix socket (the test's network namespace
/// has no route to the host's 127.0.0.1); dropped at the end.
struct PgDatabase(String);

impl PgDatabase {
    fn create() -> Option<PgDatabase> {
        let name = format!("screener_serve_{}", std::process::id());
        let ok = psql(&format!("CREATE DATABASE {name}"));
        if !ok {
            assert!(
                std::env::var("CI").is_err(),
                "PostgreSQL is required in CI (socket /var/run/postgresql)"
            );
            eprintln!("skipped: no PostgreSQL on /var/run/postgresql");
            return None;
        }
        Some(PgDatabase(name))
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@localhost/{}?host=/var/run/postgresql",
            self.0
        )
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
    }
}

fn psql(sql: &str) -> bool {
    Command::new("psql")
        .args([
            "-h",
            "/var/run/postgresql",
            "-U",
            "postgres",
            "-d",
            "test",
            "-qc",
            sql,
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn two_nodes_on_one_postgresql_share_the_queue_without_scoring_twice() {
    let Some(db) = PgDatabase::create() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let studies: Vec<_> = (0..4)
        .map(|i| {
            phantom_study(
                &tmp.path().join(format!("study{i}")),
                40 + i,
                small(),
                false,
            )
        })
        .collect();
    in_private_network(async {
        let mut a = NodeSetup::new(&tmp.path().join("a"));
        a.store_url = Some(db.url());
        let mut b = NodeSetup::new(&tmp.path().join("b"));
        b.store_url = Some(db.url());
        (b.dicom_port, b.web_port) = (11113, 8081);
        let _node_a = NodeProcess::start(&a);
        let _node_b = NodeProcess::start(&b);
        // Everything arrives at node A; node B, idle, takes jobs from the shared queue.
        for s in &studies {
            assert!(storescu(a.dicom_port, &s.files));
        }
        let store = open_store(&db.url()).await;
        wait_for(Duration::from_secs(300), "all series scored", || async {
            let h = store.health().await.ok()?;
            (h.jobs_done == studies.len() as i64).then_some(())
        })
        .await;
        let mut workers = BTreeSet::new();
        for job in 1..=studies.len() as i64 {
            let j = store.job(job).await.unwrap().unwrap();
            assert_eq!(j.state, JobState::Done);
            assert_eq!(j.attempts, 1, "job {job} claimed once");
            let pid = j.claimed_by.unwrap().split(':').nth(1).unwrap().to_owned();
            workers.insert(pid);
        }
        assert_eq!(workers.len(), 2, "both nodes scored: {workers:?}");
        let h = store.health().await.unwrap();
        assert_eq!(h.jobs_done, studies.len() as i64);
        store.close().await;
    });
    drop(db);
}
