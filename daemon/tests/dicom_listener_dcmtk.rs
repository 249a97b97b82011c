//! The listener against real dcmtk peers (storescu, echoscu) and hostile input, each test in
//! its own network namespace.

mod dicom_support;

use std::time::Duration;

use dicom_support::*;
use screener_daemon::dicom::{AllowedPeer, CallingPolicy};
use tokio::io::AsyncWriteExt;

async fn next_series(
    node: &mut screener_daemon::dicom::Node,
) -> screener_daemon::dicom::SeriesReady {
    tokio::time::timeout(Duration::from_secs(30), node.ready.recv())
        .await
        .expect("no series event within 30 s")
        .expect("grouping stopped")
}

#[test]
fn storescu_delivers_every_transfer_syntax_with_identical_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let source = ct_files(8);
    let (_, source_hu) = hu_of_files(&source, &tmp.path().join("source"));
    in_private_network(async {
        for t in TRANSCODINGS {
            let sent_dir = tmp.path().join("sent").join(t.name);
            let sent = transcode(&source, &sent_dir, t);
            let spool = tmp.path().join("spool").join(t.name);
            let mut node = node(listener_config(), &spool).await;
            let port = node.listener.local_addr().port().to_string();
            let mut args = vec![
                "-aet",
                "CT1",
                "-aec",
                "SCREENER",
                "127.0.0.1",
                port.as_str(),
            ];
            // storescu converts to uncompressed unless told to propose the file's syntax; it
            // has no option for JPEG Lossless process 14 (4.57), which dcmsend proposes as is.
            let tool = match storescu_proposal(t.uid) {
                Some(flag) => {
                    args.push(flag);
                    "storescu"
                }
                None if t.uid == "1.2.840.10008.1.2.4.57" => {
                    args.push("-dn");
                    "dcmsend"
                }
                None => "storescu",
            };
            let names: Vec<String> = sent.iter().map(|p| p.display().to_string()).collect();
            args.extend(names.iter().map(String::as_str));
            let (ok, log) = run_tool(tool, &args).await;
            assert!(ok, "{}: {tool} failed:\n{log}", t.name);
            let series = next_series(&mut node).await;
            assert_eq!(series.instance_count, source.len(), "{}", t.name);
            assert_eq!(series.calling_ae.as_deref(), Some("CT1"));
            let spooled = only_series_dir(&spool);
            for f in &series.files {
                let meta = screener_daemon::dicom::part10::read_meta(f).unwrap();
                assert_eq!(
                    meta.transfer_syntax, t.uid,
                    "{} spooled as {}",
                    t.name, meta.transfer_syntax
                );
            }
            let (shape, spooled_hu) = hu(&spooled);
            let (sent_shape, sent_hu) = hu(&sent_dir);
            assert_eq!(shape, sent_shape, "{}", t.name);
            assert!(
                spooled_hu == sent_hu,
                "{}: pixels differ from what was sent",
                t.name
            );
            if t.lossless {
                assert!(
                    spooled_hu == source_hu,
                    "{}: HU differ from the source",
                    t.name
                );
            }
            node.listener.shutdown();
        }
    });
}

fn storescu_proposal(ts: &str) -> Option<&'static str> {
    Some(match ts {
        "1.2.840.10008.1.2.1.99" => "-xd",
        "1.2.840.10008.1.2.4.50" => "-xy",
        "1.2.840.10008.1.2.4.70" => "-xs",
        "1.2.840.10008.1.2.4.80" => "-xt",
        "1.2.840.10008.1.2.4.81" => "-xu",
        "1.2.840.10008.1.2.4.90" => "-xv",
        "1.2.840.10008.1.2.4.91" => "-xw",
        "1.2.840.10008.1.2.5" => "-xr",
        _ => return None,
    })
}

fn hu_of_files(files: &[std::path::PathBuf], dir: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    std::fs::create_dir_all(dir).unwrap();
    for f in files {
        std::fs::copy(f, dir.join(f.file_name().unwrap())).unwrap();
    }
    hu(dir)
}

#[test]
fn echoscu_gets_success() {
    let tmp = tempfile::tempdir().unwrap();
    in_private_network(async {
        let node = node(listener_config(), tmp.path()).await;
        let port = node.listener.local_addr().port().to_string();
        let (ok, log) = run_tool("echoscu", &["-v", "-aec", "SCREENER", "127.0.0.1", &port]).await;
        assert!(ok && log.contains("Success"), "{log}");
    });
}

#[test]
fn unknown_called_or_calling_ae_is_rejected_permanently_with_the_matching_reason() {
    let tmp = tempfile::tempdir().unwrap();
    in_private_network(async {
        let mut cfg = listener_config();
        cfg.calling = CallingPolicy::Only(vec![
            "CT1@127.0.0.1".parse::<AllowedPeer>().unwrap(),
            "PACS@10.9.9.9".parse().unwrap(),
        ]);
        let node = node(cfg, tmp.path()).await;
        let port = node.listener.local_addr().port().to_string();
        let echo = |calling: &'static str, called: &'static str| {
            let port = port.clone();
            async move {
                run_tool(
                    "echoscu",
                    &["-aet", calling, "-aec", called, "127.0.0.1", &port],
                )
                .await
            }
        };
        let (ok, log) = echo("CT1", "SCREENER").await;
        assert!(ok, "allowed peer refused: {log}");
        let (ok, log) = echo("EVIL", "SCREENER").await;
        assert!(
            !ok && log.contains("Rejected Permanent")
                && log.contains("Calling AE Title Not Recognized"),
            "{log}"
        );
        // Right title, wrong address.
        let (ok, log) = echo("PACS", "SCREENER").await;
        assert!(
            !ok && log.contains("Calling AE Title Not Recognized"),
            "{log}"
        );
        let (ok, log) = echo("CT1", "SOMEONE").await;
        assert!(
            !ok && log.contains("Rejected Permanent")
                && log.contains("Called AE Title Not Recognized"),
            "{log}"
        );
    });
}

#[test]
fn association_over_the_limit_is_rejected_as_transient_congestion() {
    let tmp = tempfile::tempdir().unwrap();
    in_private_network(async {
        let mut cfg = listener_config();
        cfg.max_associations = 1;
        let node = node(cfg, tmp.path()).await;
        let addr = node.listener.local_addr();
        // Hold the only slot with an established association.
        let held = dicom_ul::ClientAssociationOptions::new()
            .with_abstract_syntax("1.2.840.10008.1.1")
            .called_ae_title("SCREENER")
            .establish_async(addr)
            .await
            .unwrap();
        let port = addr.port().to_string();
        let (ok, log) = run_tool("echoscu", &["-aec", "SCREENER", "127.0.0.1", &port]).await;
        assert!(
            !ok && log.contains("Rejected Transient") && log.contains("Temporary Congestion"),
            "{log}"
        );
        held.release().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (ok, log) = run_tool("echoscu", &["-aec", "SCREENER", "127.0.0.1", &port]).await;
        assert!(ok, "slot not freed after release: {log}");
    });
}

#[test]
fn garbage_and_broken_associations_do_not_stop_the_listener() {
    let tmp = tempfile::tempdir().unwrap();
    in_private_network(async {
        let node = node(listener_config(), tmp.path()).await;
        let addr = node.listener.local_addr();
        // Random bytes instead of an A-ASSOCIATE-RQ, a PDU claiming 4 GB, then a hang-up.
        let mut state = 0x9E3779B97F4A7C15u64;
        let garbage: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for payload in [
            garbage.clone(),
            vec![1, 0, 0xff, 0xff, 0xff, 0xff, 0, 1],
            vec![],
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let _ = s.write_all(&payload).await;
            drop(s);
        }
        // An established association that then sends garbage P-DATA.
        let mut a = dicom_ul::ClientAssociationOptions::new()
            .with_abstract_syntax("1.2.840.10008.5.1.4.1.1.2")
            .called_ae_title("SCREENER")
            .establish_async(addr)
            .await
            .unwrap();
        let pdv = dicom_ul::pdu::PDataValue {
            presentation_context_id: 1,
            value_type: dicom_ul::pdu::PDataValueType::Command,
            is_last: true,
            data: garbage[..300].to_vec(),
        };
        a.send(&dicom_ul::Pdu::PData { data: vec![pdv] })
            .await
            .unwrap();
        let answer = a.receive().await;
        assert!(
            matches!(answer, Ok(dicom_ul::Pdu::AbortRQ { .. }) | Err(_)),
            "expected an abort, got {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let port = addr.port().to_string();
        let (ok, log) = run_tool("echoscu", &["-aec", "SCREENER", "127.0.0.1", &port]).await;
        assert!(ok, "listener gone after garbage: {log}");
    });
}
