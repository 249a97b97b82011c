//! Running `screener serve` as a real process in tests: its configuration, start and wait,
//! `kill -9`, its store, and phantom studies to send it. Use inside a private network
//! namespace (see `dicom_support`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use screener_core::phantom::{
    insert_lesion, write_ct_series, CtSeriesOptions, LesionKind, LesionSpec, PhantomSpec,
};
use screener_core::Dims;
use screener_daemon::store::Store;

pub const TOKEN: &str = "test-token-0123456789abcdef";

pub fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A DICOM destination in the node's configuration.
pub struct Dest {
    pub name: &'static str,
    pub ae_title: &'static str,
    pub port: u16,
}

/// What a test node looks like; `toml()` is its configuration file.
pub struct NodeSetup {
    pub data_dir: PathBuf,
    pub dicom_port: u16,
    pub web_port: u16,
    pub store_url: Option<String>,
    pub model_dir: PathBuf,
    pub destinations: Vec<Dest>,
    pub stable_age_s: u64,
    pub webhook_url: Option<String>,
    pub extra: String,
}

impl NodeSetup {
    pub fn new(data_dir: &Path) -> Self {
        NodeSetup {
            data_dir: data_dir.to_owned(),
            dicom_port: 11112,
            web_port: 8080,
            store_url: None,
            model_dir: repo().join("models/default"),
            destinations: Vec::new(),
            stable_age_s: 1,
            webhook_url: None,
            extra: String::new(),
        }
    }

    pub fn toml(&self) -> String {
        let mut t = format!(
            "[node]\ndata_dir = {:?}\n\n\
             [dicom]\nbind = \"127.0.0.1\"\nport = {}\nstable_age_s = {}\nmin_free_mb = 16\n\
             send_connect_timeout_s = 2\nsend_io_timeout_s = 5\n\n\
             [engine]\nmodel_dir = {:?}\nthreads = 2\nbatch = 1\n\n\
             [pipeline]\nheartbeat_s = 1\nstale_after_s = 3\nretry_delay_s = 2\n\n\
             [store]\nurl = {:?}\n\n\
             [web]\nbind = \"127.0.0.1:{}\"\ntoken = {:?}\n\n",
            self.data_dir,
            self.dicom_port,
            self.stable_age_s,
            self.model_dir,
            self.store_url
                .clone()
                .unwrap_or_else(|| "sqlite://screener.sqlite3".into()),
            self.web_port,
            TOKEN,
        );
        if let Some(url) = &self.webhook_url {
            t += &format!("[webhook]\nenabled = true\nurl = {url:?}\nattempts = 5\n\n");
        }
        for d in &self.destinations {
            t += &format!(
                "[[destinations]]\nname = {:?}\nae_title = {:?}\nhost = \"127.0.0.1\"\nport = {}\n\
                 retry = {{ attempts = 20, base_delay_s = 1, max_delay_s = 2 }}\n\n",
                d.name, d.ae_title, d.port
            );
        }
        t + &self.extra
    }

    pub fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}",
            self.data_dir.join("screener.sqlite3").display()
        )
    }
}

/// A running `screener serve`; killed (SIGKILL) when dropped.
pub struct NodeProcess {
    child: Child,
    pub log: PathBuf,
    pub web: String,
}

impl NodeProcess {
    /// Writes the configuration and starts the node; returns once it announced itself.
    pub fn start(setup: &NodeSetup) -> NodeProcess {
        std::fs::create_dir_all(&setup.data_dir).unwrap();
        let config = setup.data_dir.join("node.toml");
        std::fs::write(&config, setup.toml()).unwrap();
        let log = unique(setup.data_dir.join("node"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_screener"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("screener serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let started = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.starts_with("screener: listening") => break,
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "screener serve exited: {}",
                        std::fs::read_to_string(&log).unwrap()
                    )
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "screener serve did not start: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        NodeProcess {
            child,
            log,
            web: format!("http://127.0.0.1:{}", setup.web_port),
        }
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET with the token; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        curl(
            &["-H", &format!("Authorization: Bearer {TOKEN}")],
            &format!("{}{path}", self.web),
        )
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique(p: PathBuf) -> PathBuf {
    let mut n = 0;
    loop {
        let candidate = p.with_extension(format!("{n}.log"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// An HTTP request with curl: (status, body).
pub fn curl(args: &[&str], url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The node's store, opened from the test (SQLite allows this beside the node).
pub async fn open_store(url: &str) -> Store {
    Store::open(url, 2).await.expect("open the node's store")
}

/// Waits until `check` returns Some, polling; panics with `what` after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until job `id` is done; on timeout, panics with the job as stored and the end of
/// the node's log, so a failure says where the job got stuck.
pub async fn wait_job_done(store: &Store, id: i64, limit: Duration, node: &NodeProcess) {
    let done = || async {
        matches!(store.job(id).await, Ok(Some(j)) if j.state == screener_daemon::store::JobState::Done)
    };
    let waited = tokio::time::timeout(limit, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if waited.is_err() {
        let job = store.job(id).await;
        let log = node.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        panic!("job {id} not done after {limit:?}: {job:?}\nnode log (end):\n{tail}");
    }
}

/// A phantom CT series written as DICOM files; with `lesion`, a liver lesion inserted.
pub struct PhantomStudy {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub study_uid: String,
    pub series_uid: String,
}

pub fn phantom_study(dir: &Path, seed: u64, dims: Dims, lesion: bool) -> PhantomStudy {
    phantom_study_at(dir, seed, dims, [2.8, 2.8, 5.0], lesion)
}

/// [`phantom_study`] with its voxel spacing in mm (x, y, z).
pub fn phantom_study_at(
    dir: &Path,
    seed: u64,
    dims: Dims,
    spacing: [f64; 3],
    lesion: bool,
) -> PhantomStudy {
    let phantom = PhantomSpec::new(seed, dims, spacing).generate();
    let mut ct = phantom.ct;
    if lesion {
        let spec = LesionSpec {
            kind: LesionKind::HypodenseLiverTumour,
            diameter_mm: 40.0,
            seed,
        };
        insert_lesion(&mut ct, &phantom.organs, &spec).expect("lesion placed");
    }
    let study_uid = format!("1.2.826.0.1.3680043.10.1234.{seed}.1");
    let series_uid = format!("1.2.826.0.1.3680043.10.1234.{seed}.2");
    let opts = CtSeriesOptions {
        uid_seed: Some(seed),
        study_uid: Some(study_uid.clone()),
        series_uid: Some(series_uid.clone()),
        patient_name: format!("SECRETNAME^PATIENT{seed}"),
        patient_id: format!("SECRETID{seed}"),
        ..CtSeriesOptions::default()
    };
    let files = write_ct_series(&ct, dir, &opts).unwrap();
    PhantomStudy {
        dir: dir.to_owned(),
        files,
        study_uid,
        series_uid,
    }
}

/// dcmtk storescu sends `files` to the node; returns its exit status success.
pub fn storescu(port: u16, files: &[PathBuf]) -> bool {
    Command::new("storescu")
        .args(["-aec", "SCREENER", "-aet", "STORESCU", "127.0.0.1"])
        .arg(port.to_string())
        .args(files)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("storescu")
        .success()
}

/// A copy of the default bundle whose flag threshold every study exceeds, so the flag path
/// runs whatever the bundled model's scores are.
pub fn bundle_flagging_everything(dir: &Path) -> std::path::PathBuf {
    let src = repo().join("models/default");
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["calibration"]["threshold"] = serde_json::json!(-1.0e9);
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    dir.to_owned()
}
