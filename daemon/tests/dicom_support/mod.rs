//! Shared by the DICOM node's integration tests: a private network namespace per test, a
//! runtime inside it, the real CT series, transcoding with dcmtk/GDCM, and peers.
#![allow(dead_code)]

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use screener_daemon::dicom::{
    start_node, AeTitle, GroupingConfig, ListenerConfig, Node, SpoolConfig,
};

pub const CT_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/ct/cptac-pda-abdomen"
);

/// Moves the calling thread (the test's own thread) into a fresh network namespace with only
/// loopback up, so peers that bind every interface stay private to this test. Threads and
/// processes started from here on inherit it.
pub fn enter_private_network() {
    // SAFETY: unshare only changes this thread's namespaces.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "unshare(CLONE_NEWNET) failed (needs root): {}",
        std::io::Error::last_os_error()
    );
    let ok = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip");
    assert!(ok.success(), "ip link set lo up failed");
}

/// Runs `f` on a multi-threaded runtime created inside a private network namespace.
pub fn in_private_network<F: Future>(f: F) -> F::Output {
    enter_private_network();
    runtime().block_on(f)
}

/// A runtime whose threads inherit the namespaces of the calling thread, so build it after
/// every namespace change.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The first `n` files of the real CT series, sorted.
pub fn ct_files(n: usize) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(CT_DIR)
        .unwrap_or_else(|e| panic!("{CT_DIR}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    v.sort();
    v.truncate(n);
    v
}

/// A transfer syntax we test, and how to produce it from the Explicit VR LE source.
pub struct Transcoding {
    pub name: &'static str,
    pub uid: &'static str,
    pub lossless: bool,
    /// Program and arguments before `src dst`; None = plain copy.
    pub command: Option<&'static [&'static str]>,
}

pub const TRANSCODINGS: &[Transcoding] = &[
    Transcoding {
        name: "explicit",
        uid: "1.2.840.10008.1.2.1",
        lossless: true,
        command: None,
    },
    Transcoding {
        name: "implicit",
        uid: "1.2.840.10008.1.2",
        lossless: true,
        command: Some(&["dcmconv", "+ti"]),
    },
    Transcoding {
        name: "deflated",
        uid: "1.2.840.10008.1.2.1.99",
        lossless: true,
        command: Some(&["dcmconv", "+td"]),
    },
    Transcoding {
        name: "jpeg-baseline",
        uid: "1.2.840.10008.1.2.4.50",
        lossless: false,
        command: Some(&["dcmcjpeg", "+eb", "+Wm", "+un"]),
    },
    Transcoding {
        name: "jpeg-lossless",
        uid: "1.2.840.10008.1.2.4.57",
        lossless: true,
        command: Some(&["dcmcjpeg", "+el"]),
    },
    Transcoding {
        name: "jpeg-lossless-sv1",
        uid: "1.2.840.10008.1.2.4.70",
        lossless: true,
        command: Some(&["dcmcjpeg", "+e1"]),
    },
    Transcoding {
        name: "jpeg-ls-lossless",
        uid: "1.2.840.10008.1.2.4.80",
        lossless: true,
        command: Some(&["dcmcjpls", "+el"]),
    },
    Transcoding {
        name: "jpeg-ls-near-lossless",
        uid: "1.2.840.10008.1.2.4.81",
        lossless: false,
        command: Some(&["gdcmconv", "--jpegls", "--lossy", "-e", "2"]),
    },
    Transcoding {
        name: "jpeg2000-lossless",
        uid: "1.2.840.10008.1.2.4.90",
        lossless: true,
        command: Some(&["gdcmconv", "--j2k"]),
    },
    Transcoding {
        name: "jpeg2000",
        uid: "1.2.840.10008.1.2.4.91",
        lossless: false,
        command: Some(&["gdcmconv", "--j2k", "--lossy", "-q", "50"]),
    },
    Transcoding {
        name: "rle",
        uid: "1.2.840.10008.1.2.5",
        lossless: true,
        command: Some(&["dcmcrle"]),
    },
];

/// Writes each of `files` into `dst` in the given transfer syntax.
pub fn transcode(files: &[PathBuf], dst: &Path, t: &Transcoding) -> Vec<PathBuf> {
    std::fs::create_dir_all(dst).unwrap();
    files
        .iter()
        .map(|src| {
            let out = dst.join(src.file_name().unwrap());
            match t.command {
                None => {
                    std::fs::copy(src, &out).unwrap();
                }
                Some(cmd) => {
                    let o = Command::new(cmd[0])
                        .args(&cmd[1..])
                        .arg(src)
                        .arg(&out)
                        .output()
                        .unwrap_or_else(|e| panic!("{}: {e}", cmd[0]));
                    assert!(
                        o.status.success(),
                        "{} failed on {}: {}",
                        cmd[0],
                        src.display(),
                        String::from_utf8_lossy(&o.stderr)
                    );
                }
            }
            let ts = screener_daemon::dicom::part10::read_meta(&out)
                .unwrap()
                .transfer_syntax;
            assert_eq!(ts, t.uid, "{} produced {ts}", t.name);
            out
        })
        .collect()
}

pub fn ae(s: &str) -> AeTitle {
    s.parse().unwrap()
}

/// Listener settings for tests: loopback, port picked by the system, quick timeouts.
pub fn listener_config() -> ListenerConfig {
    let mut c = ListenerConfig::new("127.0.0.1:0".parse().unwrap(), ae("SCREENER"));
    c.artim_timeout = Duration::from_secs(5);
    c.idle_timeout = Duration::from_secs(20);
    c
}

pub fn spool_config(root: &Path) -> SpoolConfig {
    let mut s = SpoolConfig::new(root);
    s.min_free_bytes = 0;
    s
}

pub fn quick_grouping() -> GroupingConfig {
    GroupingConfig {
        stable_after: Duration::from_millis(500),
        check_every: Duration::from_millis(100),
    }
}

pub async fn node(listener: ListenerConfig, spool: &Path) -> Node {
    start_node(listener, spool_config(spool), quick_grouping())
        .await
        .unwrap()
}

/// Runs a dcmtk tool to completion and returns (success, stdout+stderr).
pub async fn run_tool(program: &str, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(start.elapsed() < limit, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts dcmtk storescp on `port`, writing into `dir`.
pub fn storescp(port: u16, dir: &Path) -> Peer {
    std::fs::create_dir_all(dir).unwrap();
    let child = Command::new("storescp")
        .args(["-aet", "STORESCP", "-od"])
        .arg(dir)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("storescp");
    Peer(child)
}

/// HU values of the series in `dir` (one series), as screener_core reads them.
pub fn hu(dir: &Path) -> (Vec<usize>, Vec<f32>) {
    let s = screener_core::dicom_series::read_series_folder(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let v = s.volume;
    (v.data.shape().to_vec(), v.data.iter().copied().collect())
}

/// The only series folder under a spool root.
pub fn only_series_dir(spool: &Path) -> PathBuf {
    let study: Vec<_> = std::fs::read_dir(spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .collect();
    assert_eq!(study.len(), 1, "studies in {}: {study:?}", spool.display());
    let series: Vec<_> = std::fs::read_dir(&study[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(series.len(), 1);
    series[0].clone()
}

pub fn dcm_count(dir: &Path) -> usize {
    walk(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .count()
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A tmpfs of `size` over `dir`, in a mount namespace private to this thread (and to the
/// threads it starts afterwards).
pub fn mount_small_tmpfs(dir: &Path, size: &str) {
    // SAFETY: unshare only changes this thread's namespaces.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNS) }, 0);
    let run = |args: &[&str]| {
        let ok = std::process::Command::new("mount")
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "mount {args:?}");
    };
    // Keep the new mount from propagating to the host's namespace.
    run(&["--make-rprivate", "/"]);
    run(&[
        "-t",
        "tmpfs",
        "-o",
        &format!("size={size}"),
        "tmpfs",
        dir.to_str().unwrap(),
    ]);
}

pub const ORTHANC_HTTP_PORT: u16 = 8042;
pub const ORTHANC_DICOM_PORT: u16 = 4242;

/// Starts Orthanc with its storage in `dir`; `peer_port` is our listener, known to Orthanc as
/// modality `screener`.
pub fn orthanc(dir: &Path, peer_port: u16) -> Peer {
    let config = serde_json::json!({
        "Name": "screener-test",
        "StorageDirectory": dir.join("storage"),
        "IndexDirectory": dir.join("index"),
        "HttpPort": ORTHANC_HTTP_PORT,
        "DicomPort": ORTHANC_DICOM_PORT,
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
        format!("127.0.0.1:{ORTHANC_HTTP_PORT}").parse().unwrap(),
        Duration::from_secs(30),
    );
    wait_for_port(
        format!("127.0.0.1:{ORTHANC_DICOM_PORT}").parse().unwrap(),
        Duration::from_secs(30),
    );
    Peer(child)
}

/// Calls Orthanc's REST API with curl; returns the parsed JSON answer.
pub fn orthanc_rest(
    method: &str,
    path: &str,
    body: Option<&str>,
    file: Option<&Path>,
) -> serde_json::Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "-X", method])
        .arg(format!("http://127.0.0.1:{ORTHANC_HTTP_PORT}{path}"));
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
