//! End to end with Orthanc as the PACS: Orthanc pushes a study to `screener serve` through
//! its REST API, the node scores it and sends the SEG and the overlay back to Orthanc
//! (checked through Orthanc's REST API), the store holds the result and the worklist lists
//! the study; then a person signs in to the admin page in headless Chromium and finds it
//! flagged, with its previews. Once with a phantom with a lesion, once with a real CT series.
//!
//! The bundled model's threshold is calibrated on phantoms and its training was short, so
//! whether it flags these scans says little: the node runs a copy of it whose threshold lies
//! below every score, which makes the flag path run deterministically.

#[path = "common/browser.rs"]
mod browser;
mod dicom_support;
mod serve_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use browser::Browser;
use dicom_support::*;
use screener_core::Dims;
use serde_json::{json, Value};
use serve_support::*;

const NODE_PORT: u16 = 11112;

fn node_setup(tmp: &Path) -> NodeSetup {
    let mut setup = NodeSetup::new(&tmp.join("node"));
    setup.model_dir = bundle_flagging_everything(&tmp.join("bundle"));
    setup.dicom_port = NODE_PORT;
    setup.destinations.push(Dest {
        name: "orthanc",
        ae_title: "ORTHANC",
        port: ORTHANC_DICOM_PORT,
    });
    setup
}

/// Uploads `files` to Orthanc, asks it to push the study to the node, waits for the SEG
/// and the overlay to come back; returns the study's UID.
async fn round_trip(tmp: &Path, files: &[PathBuf], browser_shots: &str) {
    let setup = node_setup(tmp);
    let _orthanc = orthanc(tmp, NODE_PORT);
    let node = NodeProcess::start(&setup);
    for f in files {
        orthanc_rest("POST", "/instances", None, Some(f));
    }
    let studies = orthanc_rest("GET", "/studies", None, None);
    let orthanc_study = studies[0].as_str().unwrap().to_owned();
    let body = json!({ "Resources": [orthanc_study], "Synchronous": true }).to_string();
    orthanc_rest("POST", "/modalities/screener/store", Some(&body), None);

    let store = open_store(&setup.sqlite_url()).await;
    wait_for(
        Duration::from_secs(300),
        "the result delivered to Orthanc",
        || async {
            let s = store.recent_studies(5).await.ok()?;
            (s.first()?.series.first()?.deliveries_delivered == 1).then_some(())
        },
    )
    .await;

    // Orthanc now holds the CT, the SEG and the overlay series in the same study.
    let series = orthanc_rest(
        "GET",
        &format!("/studies/{orthanc_study}/series"),
        None,
        None,
    );
    let modalities: Vec<(String, usize)> = series
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["MainDicomTags"]["Modality"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                s["Instances"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert!(modalities.contains(&("SEG".into(), 1)), "{modalities:?}");
    let ct = modalities.iter().find(|(m, _)| m == "CT").unwrap().1;
    assert_eq!(ct, files.len());
    let overlay: usize = modalities
        .iter()
        .filter(|(m, _)| m != "CT" && m != "SEG")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        overlay,
        files.len(),
        "one overlay image per slice: {modalities:?}"
    );

    // The store holds the result, and the worklist (store and API) lists the study.
    let worklist = store.worklist(10).await.unwrap();
    assert_eq!(worklist.len(), 1);
    let study_uid = worklist[0].study_uid.clone();
    let (status, api) = node.get("/api/v1/worklist");
    assert_eq!(status, 200);
    let api: Value = serde_json::from_str(&api).unwrap();
    assert!(api.to_string().contains(&study_uid), "{api}");

    if let Some(browser) = Browser::start().await {
        browser.sign_in(&node.web, TOKEN).await;
        let row = format!("#studies tr[data-study='{study_uid}']");
        assert_eq!(browser.text(&format!("{row} [data-flag]")).await, "FLAGGED");
        browser
            .screenshot(&format!("{browser_shots}-dashboard"))
            .await;
        let c = browser.client();
        c.goto(&format!("{}/studies/{study_uid}", node.web))
            .await
            .unwrap();
        assert_eq!(browser.text("#study [data-flag]").await, "FLAGGED");
        let images = browser.wait_for_images(Duration::from_secs(10)).await;
        assert!(!images.is_empty());
        assert!(images.iter().all(|i| i.natural_width > 0), "{images:?}");
        browser.screenshot(&format!("{browser_shots}-study")).await;
        browser.close().await;
    }
    store.close().await;
}

#[test]
fn orthanc_round_trip_with_a_phantom_lesion() {
    let tmp = tempfile::tempdir().unwrap();
    let study = phantom_study(&tmp.path().join("study"), 51, Dims::new(128, 112, 20), true);
    in_private_network(round_trip(tmp.path(), &study.files, "orthanc-phantom"));
}

#[test]
fn orthanc_round_trip_with_a_real_ct_series() {
    let tmp = tempfile::tempdir().unwrap();
    let files = ct_files(usize::MAX);
    in_private_network(round_trip(tmp.path(), &files, "orthanc-real-ct"));
}
