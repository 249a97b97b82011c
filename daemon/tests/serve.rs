//! `screener serve` as a real process: dcmtk storescu sends a phantom study, the node scores
//! it once, and dcmtk storescp receives the SEG and the overlay; non-scorable series are
//! skipped with a reason (and scored once the sender completes them); patient identity never
//! reaches the log. Each test runs in its own private network namespace.

mod dicom_support;
mod serve_support;

use std::time::Duration;

use dicom_support::*;
use screener_core::Dims;
use screener_daemon::store::JobState;
use serve_support::*;

const STORESCP_PORT: u16 = 11200;

fn small() -> Dims {
    Dims::new(112, 96, 16)
}

#[test]
fn a_sent_study_is_scored_once_and_its_seg_and_overlay_reach_the_pacs() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 11, small(), true);
    let received = tmp.path().join("pacs");
    in_private_network(async {
        let _pacs = storescp(STORESCP_PORT, &received);
        let mut setup = NodeSetup::new(&tmp.path().join("node"));
        setup.destinations.push(Dest {
            name: "pacs",
            ae_title: "STORESCP",
            port: STORESCP_PORT,
        });
        let node = NodeProcess::start(&setup);
        assert!(storescu(setup.dicom_port, &study.files));
        // A re-send of the same instances must not make a second job.
        assert!(storescu(setup.dicom_port, &study.files[..3]));

        let store = open_store(&setup.sqlite_url()).await;
        let result = wait_for(Duration::from_secs(180), "the delivery", || async {
            let studies = store.recent_studies(10).await.ok()?;
            let s = studies.iter().find(|s| s.study_uid == study.study_uid)?;
            let series = &s.series[0];
            (series.deliveries_delivered == 1).then(|| series.clone())
        })
        .await;
        assert_eq!(result.job_state, Some(JobState::Done));
        assert_eq!(result.instance_count, study.files.len() as i64);

        let health = store.health().await.unwrap();
        assert_eq!(health.jobs_done, 1, "{health:?}");
        assert_eq!(health.instances, study.files.len() as i64);

        // The PACS holds one SEG and one overlay image per slice, with the recorded UIDs.
        let files = walk(&received);
        let metas: Vec<_> = files
            .iter()
            .map(|f| screener_daemon::dicom::part10::read_meta(f).unwrap())
            .collect();
        let segs: Vec<_> = metas
            .iter()
            .filter(|m| m.sop_class == "1.2.840.10008.5.1.4.1.1.66.4")
            .collect();
        assert_eq!(segs.len(), 1, "{files:?}");
        assert_eq!(metas.len(), 1 + study.files.len());
        let job = store.job(1).await.unwrap().unwrap();
        let stages: Vec<String> = store
            .job_stages(job.id)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, stage, _, end)| {
                assert!(end.is_some(), "stage {stage} has no end");
                stage
            })
            .collect();
        assert_eq!(stages, ["load", "score", "write"]);

        // The result folder has the previews the admin page shows.
        let out = tmp.path().join("node/results").join(&study.series_uid);
        assert!(out.join("summary.json").is_file());
        assert!(std::fs::read_dir(out.join("preview")).unwrap().count() > 0);

        let log = node.log_text();
        assert!(log.contains("series scored"), "{log}");
        for secret in ["SECRETNAME", "SECRETID"] {
            assert!(!log.contains(secret), "patient identity in the log:\n{log}");
        }
        let status = node.terminate();
        assert!(status.success(), "clean exit on SIGTERM: {status:?}");
        store.close().await;
    });
}

#[test]
fn a_series_with_a_missing_slice_is_skipped_with_the_reason_then_scored_once_completed() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 12, small(), false);
    let mut files = study.files.clone();
    let missing = files.remove(files.len() / 2);
    in_private_network(async {
        let mut setup = NodeSetup::new(&tmp.path().join("node"));
        setup.extra = "[logging]\nformat = \"json\"\n".into();
        let node = NodeProcess::start(&setup);
        assert!(storescu(setup.dicom_port, &files));
        let store = open_store(&setup.sqlite_url()).await;
        let series = wait_for(Duration::from_secs(60), "the skip", || async {
            let studies = store.recent_studies(10).await.ok()?;
            let s = studies.into_iter().next()?.series.into_iter().next()?;
            (s.job_state == Some(JobState::Skipped)).then_some(s)
        })
        .await;
        let reason = series.reason.unwrap_or_default();
        assert!(reason.contains("missing"), "reason: {reason}");
        assert_eq!(store.health().await.unwrap().deliveries_pending, 0);
        // JSON logs: every line is one JSON object; the skip is among them with its job span.
        let log = node.log_text();
        let events: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let skip = events
            .iter()
            .find(|e| e["message"] == "series skipped")
            .unwrap_or_else(|| panic!("no skip event in {log}"));
        assert_eq!(skip["level"], "INFO");
        assert!(skip["span"]["job"].is_number(), "{skip}");

        // The sender sends the missing slice later: the same job is queued again and scored.
        assert!(storescu(setup.dicom_port, &[missing]));
        wait_job_done(&store, 1, Duration::from_secs(120), &node).await;
        let h = store.health().await.unwrap();
        assert_eq!((h.instances, h.jobs_done), (study.files.len() as i64, 1));
        store.close().await;
    });
}
