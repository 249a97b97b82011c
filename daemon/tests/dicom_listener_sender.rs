//! Our sender against our listener: refusals (disk full, unparsable data set, JPEG
//! Extended), duplicates, and restart recovery. Each test in its own network namespace.

mod dicom_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_support::*;
use screener_daemon::dicom::{
    send_once, send_with_retry, Destination, GroupingConfig, Node, Outcome, RetryPolicy,
    SenderConfig, SeriesReady,
};

fn destination(node: &Node) -> Destination {
    Destination {
        ae_title: ae("SCREENER"),
        host: "127.0.0.1".into(),
        port: node.listener.local_addr().port(),
    }
}

fn sender(attempts: u32) -> SenderConfig {
    let mut c = SenderConfig::new(ae("CT1"));
    c.retry = RetryPolicy {
        attempts,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    };
    c.io_timeout = Duration::from_secs(20);
    c
}

async fn next_series(node: &mut Node, within: Duration) -> Option<SeriesReady> {
    tokio::time::timeout(within, node.ready.recv())
        .await
        .ok()
        .flatten()
}

fn leftover_parts(spool: &Path) -> Vec<PathBuf> {
    walk(&spool.join(".incoming"))
}

#[test]
fn spool_below_its_free_space_floor_answers_out_of_resources_and_keeps_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    in_private_network(async {
        let mut spool = spool_config(tmp.path());
        spool.min_free_bytes = u64::MAX;
        let node = screener_daemon::dicom::start_node(listener_config(), spool, quick_grouping())
            .await
            .unwrap();
        let report = send_with_retry(&sender(2), &destination(&node), &ct_files(3)).await;
        assert_eq!(report.attempts, 2, "out of resources is retried");
        for r in &report.results {
            assert_eq!(r.outcome, Outcome::Refused(0xA700));
        }
        assert_eq!(dcm_count(tmp.path()), 0);
        assert!(leftover_parts(tmp.path()).is_empty());
    });
}

#[test]
fn full_disk_answers_out_of_resources_and_the_listener_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let spool_root = tmp.path().join("small");
    std::fs::create_dir_all(&spool_root).unwrap();
    enter_private_network();
    mount_small_tmpfs(&spool_root, "1200k");
    runtime().block_on(async {
        let node = node(listener_config(), &spool_root).await;
        let files = ct_files(5);
        let outcomes = send_once(&sender(1), &destination(&node), &files)
            .await
            .unwrap();
        let stored = outcomes.iter().filter(|o| o.is_stored()).count();
        let full = outcomes
            .iter()
            .filter(|o| **o == Outcome::Refused(0xA700))
            .count();
        assert!(stored >= 1 && full >= 1, "{outcomes:?}");
        assert_eq!(stored + full, files.len(), "{outcomes:?}");
        assert_eq!(dcm_count(&spool_root), stored);
        let left = leftover_parts(&spool_root);
        assert!(
            left.is_empty(),
            "partial files left behind: {left:?} {outcomes:?}"
        );
        screener_daemon::dicom::echo(&sender(1), &destination(&node))
            .await
            .unwrap();
    });
}

#[test]
fn unparsable_data_set_is_answered_with_cannot_understand_and_not_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.dcm");
    write_broken_file(&broken);
    in_private_network(async {
        let node = node(listener_config(), &tmp.path().join("spool")).await;
        let report = send_with_retry(
            &sender(3),
            &destination(&node),
            std::slice::from_ref(&broken),
        )
        .await;
        assert_eq!(report.attempts, 1);
        match report.results[0].outcome {
            Outcome::Refused(s) => assert!((0xC000..=0xCFFF).contains(&s), "status {s:04X}"),
            ref o => panic!("{o:?}"),
        }
        assert_eq!(dcm_count(&tmp.path().join("spool")), 0);
        screener_daemon::dicom::echo(&sender(1), &destination(&node))
            .await
            .unwrap();
    });
}

/// A Part 10 file with a valid meta group and a data set that ends inside an element.
fn write_broken_file(path: &Path) {
    use dicom_object::meta::FileMetaTableBuilder;
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax("1.2.840.10008.1.2.1")
        .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
        .media_storage_sop_instance_uid("1.2.3.4")
        .implementation_class_uid("1.2.3.5")
        .build()
        .unwrap();
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM");
    meta.write(&mut bytes).unwrap();
    // (0008,0016) UI, 26 bytes announced, 4 present.
    bytes.extend_from_slice(&[
        0x08, 0x00, 0x16, 0x00, b'U', b'I', 26, 0, b'1', b'.', b'2', b'.',
    ]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn jpeg_extended_is_not_negotiated() {
    let tmp = tempfile::tempdir().unwrap();
    in_private_network(async {
        let node = node(listener_config(), tmp.path()).await;
        let result = dicom_ul::ClientAssociationOptions::new()
            .with_presentation_context("1.2.840.10008.5.1.4.1.1.2", vec!["1.2.840.10008.1.2.4.51"])
            .called_ae_title("SCREENER")
            .establish_async(node.listener.local_addr())
            .await;
        assert!(result.is_err(), "JPEG Extended was accepted");
    });
}

#[test]
fn repeated_instances_are_stored_once_and_counted_once() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    in_private_network(async {
        let grouping = GroupingConfig {
            stable_after: Duration::from_secs(2),
            check_every: Duration::from_millis(100),
        };
        let mut node =
            screener_daemon::dicom::start_node(listener_config(), spool_config(&spool), grouping)
                .await
                .unwrap();
        let files = ct_files(4);
        for _ in 0..2 {
            let out = send_once(&sender(1), &destination(&node), &files)
                .await
                .unwrap();
            assert!(out.iter().all(Outcome::is_stored), "{out:?}");
        }
        let series = next_series(&mut node, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(series.instance_count, files.len());
        assert_eq!(series.files.len(), files.len());
        assert_eq!(dcm_count(&spool), files.len());
        assert!(
            next_series(&mut node, Duration::from_secs(3))
                .await
                .is_none(),
            "series reported twice"
        );
    });
}

#[test]
fn grouping_takes_up_series_left_in_the_spool_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    in_private_network(async {
        let never = GroupingConfig {
            stable_after: Duration::from_secs(3600),
            check_every: Duration::from_millis(100),
        };
        let mut first =
            screener_daemon::dicom::start_node(listener_config(), spool_config(&spool), never)
                .await
                .unwrap();
        let files = ct_files(3);
        let out = send_once(&sender(1), &destination(&first), &files)
            .await
            .unwrap();
        assert!(out.iter().all(Outcome::is_stored));
        assert!(next_series(&mut first, Duration::from_millis(500))
            .await
            .is_none());
        first.listener.shutdown();
        first.grouping.abort();

        let mut second = node(listener_config(), &spool).await;
        let series = next_series(&mut second, Duration::from_secs(10))
            .await
            .expect("not recovered");
        assert!(series.recovered);
        assert_eq!(series.instance_count, files.len());
        assert_eq!(series.calling_ae.as_deref(), Some("CT1"));
    });
}
