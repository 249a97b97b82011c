//! Headless Chromium for tests, driven over WebDriver (chromedriver + fantoccini): sign in
//! to the admin page, read what a person would see, check that images loaded, and keep
//! screenshots under `target/test-output/web/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/install-system-deps.sh). When
//! they are missing, [`Browser::start`] returns `None` after printing why, except with
//! `CI` set, where it panics: a browser test is never skipped silently in CI.
//! chromedriver listens on a free loopback port it picks itself; Chromium opens no port.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A Chromium session; closes the browser and stops chromedriver when dropped.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// One `<img>` as the browser loaded it.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    pub src: String,
    pub natural_width: u64,
    pub natural_height: u64,
    pub complete: bool,
}

/// Where screenshots go: `<target>/test-output/web/`, created on first use.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-output/web");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn missing(what: &str) -> Option<Browser> {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    if ci {
        panic!("CI is set and {what}; install it with scripts/install-system-deps.sh");
    }
    eprintln!("SKIPPED browser test: {what} (scripts/install-system-deps.sh installs it)");
    None
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, or `None` when they are not installed
    /// (outside CI).
    pub async fn start() -> Option<Browser> {
        for path in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(path).exists() {
                return missing(&format!("{path} is not installed"));
            }
        }
        let mut driver = Command::new(CHROMEDRIVER)
            .args(["--port=0", "--log-level=WARNING"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let stdout = driver.stdout.take().expect("piped stdout");
        let port = tokio::task::spawn_blocking(move || driver_port(stdout))
            .await
            .expect("reading chromedriver's port");
        let Some(port) = port else {
            let _ = driver.kill();
            panic!("chromedriver did not report its port");
        };
        let profile = tempfile::tempdir().expect("a Chromium profile folder");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // Tests run as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                let _ = driver.kill();
                panic!("starting headless Chromium through chromedriver: {e}");
            }
        };
        Some(Browser {
            client: Some(client),
            driver,
            _profile: profile,
        })
    }

    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("open until close")
    }

    /// Opens `base` (the admin page's root), which sends a signed-out browser to the sign-in
    /// form, and signs in with `token` through it. Returns the URL it lands on.
    pub async fn sign_in(&self, base: &str, token: &str) -> String {
        let c = self.client();
        c.goto(base).await.expect("opening the admin page");
        let field = c
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("input[name=token]"))
            .await
            .expect("the sign-in form");
        field.send_keys(token).await.expect("typing the token");
        c.find(Locator::Css("form[action='/login'] button[type=submit]"))
            .await
            .expect("the sign-in button")
            .click()
            .await
            .expect("submitting the form");
        c.wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("header form[action='/logout']"))
            .await
            .expect("a signed-in page after the form");
        c.current_url().await.expect("current URL").to_string()
    }

    /// Every `<img>` on the page once the page finished loading.
    pub async fn images(&self) -> Vec<LoadedImage> {
        let script = "return Array.from(document.images).map(i => \
                      [i.currentSrc || i.src, i.naturalWidth, i.naturalHeight, i.complete]);";
        let value = self
            .client()
            .execute(script, vec![])
            .await
            .expect("listing images");
        value
            .as_array()
            .expect("an array")
            .iter()
            .map(|v| LoadedImage {
                src: v[0].as_str().unwrap_or_default().to_owned(),
                natural_width: v[1].as_u64().unwrap_or(0),
                natural_height: v[2].as_u64().unwrap_or(0),
                complete: v[3].as_bool().unwrap_or(false),
            })
            .collect()
    }

    /// Waits until every image finished loading (or failed), at most `limit`.
    pub async fn wait_for_images(&self, limit: Duration) -> Vec<LoadedImage> {
        let until = std::time::Instant::now() + limit;
        loop {
            let images = self.images().await;
            if images.iter().all(|i| i.complete) || std::time::Instant::now() > until {
                return images;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("element text")
    }

    /// Waits until the first element matching `css` reads `expected` (the page may be
    /// navigating meanwhile); returns what it read last.
    pub async fn wait_for_text(&self, css: &str, expected: &str, limit: Duration) -> String {
        let until = std::time::Instant::now() + limit;
        loop {
            let read = match self.client().find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if read == expected || std::time::Instant::now() > until {
                return read;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG of the whole page as `<screenshot_dir>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let c = self.client();
        // Grow the window to the page's height so the screenshot holds all of it.
        let height: Value = c
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .expect("page height");
        let height = height.as_u64().unwrap_or(1400).clamp(600, 8000) as u32;
        let _ = c.set_window_size(1280, height + 120).await;
        let png = c.screenshot().await.expect("a screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// Ends the browser session and chromedriver.
    pub async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = c.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Reads chromedriver's stdout until "… started successfully on port N." and returns N.
fn driver_port(stdout: std::process::ChildStdout) -> Option<u16> {
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.ok()?;
        if let Some(rest) = line.split("on port ").nth(1) {
            if line.contains("started successfully") {
                let port = rest.trim_end_matches('.').trim().parse().ok();
                // Keep draining in the background so chromedriver never blocks on a full pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return port;
            }
        }
    }
    None
}
