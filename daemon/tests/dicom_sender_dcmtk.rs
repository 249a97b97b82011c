//! Our sender against dcmtk storescp, each test in its own network namespace.

mod dicom_support;

use std::path::Path;
use std::time::Duration;

use dicom_dictionary_std::tags;
use dicom_support::*;
use screener_daemon::dicom::{echo, send_with_retry, Destination, RetryPolicy, SenderConfig};

fn storescp_destination(port: u16) -> Destination {
    Destination {
        ae_title: ae("STORESCP"),
        host: "127.0.0.1".into(),
        port,
    }
}

fn sender() -> SenderConfig {
    let mut c = SenderConfig::new(ae("SCREENER"));
    c.retry = RetryPolicy {
        attempts: 8,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(800),
    };
    c
}

/// storescp that accepts every transfer syntax it knows.
fn storescp_all(port: u16, dir: &Path) -> Peer {
    std::fs::create_dir_all(dir).unwrap();
    Peer(
        std::process::Command::new("storescp")
            .args(["-aet", "STORESCP", "+xa", "-od"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("storescp"),
    )
}

fn pixel_data(
    path: &Path,
) -> dicom_core::value::Value<dicom_object::InMemDicomObject, dicom_object::mem::InMemFragment> {
    let obj = dicom_object::open_file(path).unwrap();
    obj.element(tags::PIXEL_DATA).unwrap().value().clone()
}

fn sop_instance(path: &Path) -> String {
    screener_daemon::dicom::part10::read_meta(path)
        .unwrap()
        .sop_instance
}

#[test]
fn sender_delivers_to_storescp_with_identical_pixel_data() {
    let tmp = tempfile::tempdir().unwrap();
    let source = ct_files(4);
    // Two SOP class/transfer syntax combinations in one association.
    let jls = transcode(&source[2..], &tmp.path().join("jls"), &TRANSCODINGS[6]);
    let files = [source[..2].to_vec(), jls].concat();
    let received = tmp.path().join("received");
    in_private_network(async {
        let _scp = storescp_all(11113, &received);
        wait_for_port("127.0.0.1:11113".parse().unwrap(), Duration::from_secs(10));
        echo(&sender(), &storescp_destination(11113)).await.unwrap();
        let report = send_with_retry(&sender(), &storescp_destination(11113), &files).await;
        assert!(report.all_stored(), "{:?}", report.results);
        assert_eq!(report.attempts, 1);
    });
    let got = walk(&received);
    assert_eq!(got.len(), files.len());
    for f in &files {
        let uid = sop_instance(f);
        let twin = got
            .iter()
            .find(|g| sop_instance(g) == uid)
            .expect("instance missing");
        let ts = screener_daemon::dicom::part10::read_meta(twin)
            .unwrap()
            .transfer_syntax;
        assert_eq!(
            ts,
            screener_daemon::dicom::part10::read_meta(f)
                .unwrap()
                .transfer_syntax
        );
        assert!(
            pixel_data(f) == pixel_data(twin),
            "pixel data differ for {}",
            f.display()
        );
    }
}

#[test]
fn echo_tells_a_live_destination_from_a_dead_one() {
    in_private_network(async {
        let tmp = tempfile::tempdir().unwrap();
        let _scp = storescp(11114, tmp.path());
        wait_for_port("127.0.0.1:11114".parse().unwrap(), Duration::from_secs(10));
        echo(&sender(), &storescp_destination(11114)).await.unwrap();
        let mut quick = sender();
        quick.connect_timeout = Duration::from_secs(2);
        assert!(echo(&quick, &storescp_destination(11115)).await.is_err());
    });
}

#[test]
fn sender_retries_with_backoff_until_the_destination_comes_up() {
    let tmp = tempfile::tempdir().unwrap();
    let received = tmp.path().join("received");
    let files = ct_files(3);
    in_private_network(async {
        let dir = received.clone();
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            storescp(11116, &dir)
        });
        let report = send_with_retry(&sender(), &storescp_destination(11116), &files).await;
        let _scp = late.await.unwrap();
        assert!(report.all_stored(), "{:?}", report.results);
        assert!(
            report.attempts > 1,
            "the first attempt cannot have succeeded"
        );
    });
    assert_eq!(walk(&received).len(), files.len());
}
