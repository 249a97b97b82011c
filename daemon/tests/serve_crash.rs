//! `kill -9` of `screener serve` mid-association, mid-scoring and mid-delivery, then a
//! restart: nothing acknowledged is lost, each series is scored once, each result is
//! delivered with the UIDs written the first time. Also an unreachable PACS and a full disk,
//! survived and caught up. Each test runs in its own private network namespace.

mod dicom_support;
mod serve_support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use dicom_support::*;
use screener_core::Dims;
use screener_daemon::dicom::part10::read_meta;
use screener_daemon::store::{JobState, Store};
use serve_support::*;

const PACS_PORT: u16 = 11300;
const SEG_CLASS: &str = "1.2.840.10008.5.1.4.1.1.66.4";

fn small() -> Dims {
    Dims::new(112, 96, 16)
}

fn pacs_setup(dir: &std::path::Path) -> NodeSetup {
    let mut setup = NodeSetup::new(dir);
    setup.destinations.push(Dest {
        name: "pacs",
        ae_title: "STORESCP",
        port: PACS_PORT,
    });
    setup
}

/// Waits until the only series' job is done and its delivery delivered.
async fn wait_delivered(store: &Store, limit: Duration) {
    wait_for(limit, "the result delivered", || async {
        let studies = store.recent_studies(10).await.ok()?;
        let s = studies.first()?.series.first()?.clone();
        (s.deliveries_delivered == 1).then_some(())
    })
    .await
}

/// SOP Instance UIDs of the SEG files a PACS folder holds.
fn seg_uids(dir: &std::path::Path) -> Vec<String> {
    walk(dir)
        .iter()
        .filter_map(|f| read_meta(f).ok())
        .filter(|m| m.sop_class == SEG_CLASS)
        .map(|m| m.sop_instance)
        .collect()
}

#[test]
fn kill_mid_scoring_then_restart_scores_the_series_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 21, small(), true);
    let pacs = tmp.path().join("pacs");
    in_private_network(async {
        let _pacs = storescp(PACS_PORT, &pacs);
        let setup = pacs_setup(&tmp.path().join("node"));
        let node = NodeProcess::start(&setup);
        assert!(storescu(setup.dicom_port, &study.files));
        let store = open_store(&setup.sqlite_url()).await;
        wait_for(Duration::from_secs(60), "scoring to start", || async {
            let stages = store.job_stages(1).await.ok()?;
            stages
                .iter()
                .any(|(_, s, _, end)| s == "score" && end.is_none())
                .then_some(())
        })
        .await;
        node.kill9();
        assert_eq!(
            store.job(1).await.unwrap().unwrap().state,
            JobState::Running
        );

        let node = NodeProcess::start(&setup);
        wait_delivered(&store, Duration::from_secs(180)).await;
        let job = store.job(1).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Done);
        assert_eq!(job.attempts, 2, "reclaimed once after the crash");
        let health = store.health().await.unwrap();
        assert_eq!(health.jobs_done, 1);
        assert_eq!(seg_uids(&pacs).len(), 1, "one SEG delivered");
        drop(node);
        store.close().await;
    });
}

#[test]
fn kill_mid_delivery_then_restart_resends_with_the_same_uids() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 22, small(), false);
    let pacs = tmp.path().join("pacs");
    in_private_network(async {
        // A PACS that accepts the connection and never answers: the send hangs.
        let black_hole = TcpListener::bind(("127.0.0.1", PACS_PORT)).unwrap();
        let setup = pacs_setup(&tmp.path().join("node"));
        let node = NodeProcess::start(&setup);
        assert!(storescu(setup.dicom_port, &study.files));
        let store = open_store(&setup.sqlite_url()).await;
        wait_for(
            Duration::from_secs(120),
            "the delivery to start",
            || async {
                let d = store.deliveries(1).await.ok()?;
                (d.first()?.state.as_str() == "sending").then_some(())
            },
        )
        .await;
        node.kill9();
        drop(black_hole);

        let _pacs = storescp(PACS_PORT, &pacs);
        let node = NodeProcess::start(&setup);
        wait_delivered(&store, Duration::from_secs(60)).await;
        let delivery = &store.deliveries(1).await.unwrap()[0];
        assert!(delivery.attempts >= 2, "{delivery:?}");
        // The SEG that arrived is the one recorded (and written) before the crash.
        let written = read_meta(
            &tmp.path()
                .join("node/results")
                .join(&study.series_uid)
                .join("seg.dcm"),
        )
        .unwrap();
        assert_eq!(seg_uids(&pacs), vec![written.sop_instance]);
        assert_eq!(store.health().await.unwrap().jobs_done, 1);
        drop(node);
        store.close().await;
    });
}

#[test]
fn kill_mid_association_loses_no_acknowledged_instance() {
    let tmp = tempfile::tempdir().unwrap();
    // Slices of 192 x 160 pixels keep the sender busy long enough to be cut off mid-way;
    // at 1 mm they make a small volume, so that scoring it stays quick under load.
    let study = phantom_study_at(
        &tmp.path().join("study"),
        23,
        Dims::new(192, 160, 48),
        [1.0, 1.0, 1.5],
        false,
    );
    in_private_network(async {
        let mut setup = NodeSetup::new(&tmp.path().join("node"));
        // Long enough that the recovered half-series is not taken as complete before the
        // sender resends the rest after the restart.
        setup.stable_age_s = 5;
        let node = NodeProcess::start(&setup);
        let spool = setup.data_dir.join("spool");
        let sender = Command::new("storescu")
            .args(["-v", "-aec", "SCREENER", "-aet", "STORESCU", "127.0.0.1"])
            .arg(setup.dicom_port.to_string())
            .args(&study.files)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while dcm_count(&spool) < 5 {
            assert!(start.elapsed() < Duration::from_secs(30), "nothing arrived");
            std::thread::sleep(Duration::from_millis(2));
        }
        node.kill9();
        let out = sender.wait_with_output().unwrap();
        let acked = acknowledged(
            &String::from_utf8_lossy(&out.stdout),
            &String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            !acked.is_empty() && acked.len() < study.files.len(),
            "acked {}",
            acked.len()
        );

        let store = open_store(&setup.sqlite_url()).await;
        let node = NodeProcess::start(&setup);
        // Every acknowledged instance is in the spool and, once its series settles, the store.
        let stored: BTreeSet<String> = walk(&spool)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        for sop in &acked {
            assert!(stored.contains(sop), "acknowledged {sop} lost");
        }
        wait_for(
            Duration::from_secs(30),
            "the recovered series in the store",
            || async {
                let h = store.health().await.ok()?;
                (h.instances >= acked.len() as i64).then_some(())
            },
        )
        .await;
        // The sender sends the rest; that instance set gets the (single) job.
        assert!(storescu(setup.dicom_port, &study.files));
        wait_job_done(&store, 1, Duration::from_secs(240), &node).await;
        assert_eq!(
            store.health().await.unwrap().instances,
            study.files.len() as i64
        );
        store.close().await;
    });
}

/// SOP Instance UIDs storescu reports as stored with success (`-v` output).
fn acknowledged(stdout: &str, stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in stdout.lines().chain(stderr.lines()) {
        if let Some(file) = line.split("Sending file: ").nth(1) {
            current = read_meta(std::path::Path::new(file.trim()))
                .ok()
                .map(|m| m.sop_instance);
        }
        if line.contains("Received Store Response (Success)") {
            if let Some(sop) = current.take() {
                out.push(sop);
            }
        }
    }
    out
}
