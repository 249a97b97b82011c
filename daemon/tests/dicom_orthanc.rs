//! The node against Orthanc (Debian package `orthanc`): our sender stores into Orthanc, and
//! Orthanc pushes a study to our listener through its REST API. Each test runs Orthanc with a
//! generated configuration on loopback ports inside its own network namespace.

mod dicom_support;

use std::time::Duration;

use dicom_support::*;
use screener_daemon::dicom::{send_with_retry, Destination, SenderConfig};

#[test]
fn sender_delivers_to_orthanc() {
    let tmp = tempfile::tempdir().unwrap();
    let files = ct_files(5);
    in_private_network(async {
        let _orthanc = orthanc(tmp.path(), 1);
        let dest = Destination {
            ae_title: ae("ORTHANC"),
            host: "127.0.0.1".into(),
            port: ORTHANC_DICOM_PORT,
        };
        let config = SenderConfig::new(ae("SCREENER"));
        screener_daemon::dicom::echo(&config, &dest).await.unwrap();
        let report = send_with_retry(&config, &dest, &files).await;
        assert!(report.all_stored(), "{:?}", report.results);
        let instances = orthanc_rest("GET", "/instances", None, None);
        assert_eq!(instances.as_array().unwrap().len(), files.len());
    });
}

#[test]
fn orthanc_pushes_a_study_to_the_listener_through_its_rest_api() {
    let tmp = tempfile::tempdir().unwrap();
    let files = ct_files(6);
    let spool = tmp.path().join("spool");
    let source = tmp.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    for f in &files {
        std::fs::copy(f, source.join(f.file_name().unwrap())).unwrap();
    }
    in_private_network(async {
        let mut node = node(listener_config(), &spool).await;
        let _orthanc = orthanc(tmp.path(), node.listener.local_addr().port());
        for f in &files {
            orthanc_rest("POST", "/instances", None, Some(f));
        }
        let studies = orthanc_rest("GET", "/studies", None, None);
        let study = studies[0].as_str().unwrap().to_owned();
        let body = serde_json::json!({ "Resources": [study], "Synchronous": true }).to_string();
        orthanc_rest("POST", "/modalities/screener/store", Some(&body), None);
        let series = tokio::time::timeout(Duration::from_secs(30), node.ready.recv())
            .await
            .expect("no series from Orthanc")
            .unwrap();
        assert_eq!(series.instance_count, files.len());
        assert_eq!(series.calling_ae.as_deref(), Some("ORTHANC"));
    });
    assert!(
        hu(&only_series_dir(&spool)) == hu(&source),
        "HU differ after Orthanc's push"
    );
}
