//! The node against Orthanc (Debian package `orthanc`): our sender stores into Orthanc, and
//! Orthanc pushes a study to our listener through its REST API. Each test runs Orthanc with a
//! generated configuration on loopback ports inside its own network namespace.

mod dicom_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use dicom_support::*;
use screener_daemon::dicom::{send_with_retry, Destination, SenderConfig};

const HTTP_PORT: u16 = 8042;
const DICOM_PORT: u16 = 4242;

/// Starts Orthanc with its storage in `dir`; `peer_port` is our listener, known to Orthanc as
/// modality `screener`.
fn orthanc(dir: &Path, peer_port: u16) -> Peer {
    let config = serde_json::json!({
        "Name": "screener-test",
        "StorageDirectory": dir.join("storage"),
        "IndexDirectory": dir.join("index"),
        "HttpPort": HTTP_PORT,
        "DicomPort": DICOM_PORT,
        "DicomAet": "ORTHANC",
        "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false,
        "DicomCheckCalledAet": true,
        "DicomModalities": { "screener": ["SCREENER", "127.0.0.1", peer_port] },
        "Plugins": [],
    });
    let path = dir.join("orthanc.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let child = Command::new("Orthanc")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Orthanc (Debian package orthanc)");
    wait_for_port(
        format!("127.0.0.1:{HTTP_PORT}").parse().unwrap(),
        Duration::from_secs(30),
    );
    wait_for_port(
        format!("127.0.0.1:{DICOM_PORT}").parse().unwrap(),
        Duration::from_secs(30),
    );
    Peer(child)
}

/// Calls Orthanc's REST API with curl; returns the parsed JSON answer.
fn rest(method: &str, path: &str, body: Option<&str>, file: Option<&Path>) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "-X", method])
        .arg(format!("http://127.0.0.1:{HTTP_PORT}{path}"));
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data", b]);
    }
    if let Some(f) = file {
        cmd.arg("--data-binary").arg(format!("@{}", f.display()));
    }
    let out = cmd.output().expect("curl");
    assert!(
        out.status.success(),
        "{method} {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn sender_delivers_to_orthanc() {
    let tmp = tempfile::tempdir().unwrap();
    let files = ct_files(5);
    in_private_network(async {
        let _orthanc = orthanc(tmp.path(), 1);
        let dest = Destination {
            ae_title: ae("ORTHANC"),
            host: "127.0.0.1".into(),
            port: DICOM_PORT,
        };
        let config = SenderConfig::new(ae("SCREENER"));
        screener_daemon::dicom::echo(&config, &dest).await.unwrap();
        let report = send_with_retry(&config, &dest, &files).await;
        assert!(report.all_stored(), "{:?}", report.results);
        let instances = rest("GET", "/instances", None, None);
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
            rest("POST", "/instances", None, Some(f));
        }
        let studies = rest("GET", "/studies", None, None);
        let study = studies[0].as_str().unwrap().to_owned();
        let body = serde_json::json!({ "Resources": [study], "Synchronous": true }).to_string();
        rest("POST", "/modalities/screener/store", Some(&body), None);
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
