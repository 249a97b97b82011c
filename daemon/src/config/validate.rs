//! Checks a deserialized configuration for values its types cannot rule out: port ranges,
//! AE titles, addresses, URLs, existing paths. Every problem is collected, not just the first.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use super::error::Problem;
use super::sections::{Config, DestinationSection, RetrySection};
use crate::dicom::ae::{AeTitle, AllowedPeer};

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// Every problem of `config`; empty when it is usable.
pub fn problems(config: &Config) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    node(config, &mut p);
    dicom(config, &mut p);
    let mut names = HashSet::new();
    for (i, d) in config.destinations.iter().enumerate() {
        destination(&format!("destinations[{i}]"), d, &mut p);
        if !names.insert(d.name.as_str()) {
            p.add(
                format!("destinations[{i}].name"),
                format!("{:?} is used twice", d.name),
            );
        }
    }
    engine(config, &mut p);
    pipeline(config, &mut p);
    store(config, &mut p);
    web(config, &mut p);
    webhook(config, &mut p);
    if !LOG_LEVELS.contains(&config.logging.level.as_str()) {
        p.add(
            "logging.level",
            format!(
                "{:?} is not one of {}",
                config.logging.level,
                LOG_LEVELS.join(", ")
            ),
        );
    }
    p.0
}

struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, problem: impl Into<String>) {
        self.0.push(Problem {
            key: key.into(),
            problem: problem.into(),
        });
    }

    fn port(&mut self, key: String, port: u32) {
        if !(1..=65535).contains(&port) {
            self.add(key, format!("port must be 1-65535, got {port}"));
        }
    }

    fn positive(&mut self, key: &str, value: u64) {
        if value == 0 {
            self.add(key, "must be at least 1");
        }
    }

    fn ae_title(&mut self, key: String, raw: &str) {
        if let Err(e) = AeTitle::parse(raw) {
            self.add(key, format!("{raw:?} is not a DICOM AE title: {e}"));
        }
    }
}

fn node(config: &Config, p: &mut Problems) {
    let dir = &config.node.data_dir;
    if dir.as_os_str().is_empty() {
        p.add("node.data_dir", "must not be empty");
    } else if dir.exists() && !dir.is_dir() {
        p.add(
            "node.data_dir",
            format!("{} exists and is not a folder", dir.display()),
        );
    }
}

fn dicom(config: &Config, p: &mut Problems) {
    let d = &config.dicom;
    if d.bind.parse::<IpAddr>().is_err() {
        p.add("dicom.bind", format!("{:?} is not an IP address", d.bind));
    }
    p.port("dicom.port".into(), d.port);
    p.ae_title("dicom.ae_title".into(), &d.ae_title);
    for (i, peer) in d.allowed_calling.iter().enumerate() {
        if let Err(e) = peer.parse::<AllowedPeer>() {
            p.add(
                format!("dicom.allowed_calling[{i}]"),
                format!("{peer:?} is not AE or AE@IP: {e}"),
            );
        }
    }
    p.positive("dicom.max_associations", d.max_associations.into());
    if d.max_pdu < 4096 {
        p.add(
            "dicom.max_pdu",
            format!("must be at least 4096 bytes, got {}", d.max_pdu),
        );
    }
    p.positive("dicom.max_instance_mb", d.max_instance_mb);
    p.positive("dicom.artim_timeout_s", d.artim_timeout_s);
    p.positive("dicom.idle_timeout_s", d.idle_timeout_s);
    p.positive("dicom.stable_age_s", d.stable_age_s);
    p.positive("dicom.send_connect_timeout_s", d.send_connect_timeout_s);
    p.positive("dicom.send_io_timeout_s", d.send_io_timeout_s);
}

fn destination(key: &str, d: &DestinationSection, p: &mut Problems) {
    if d.name.trim().is_empty() {
        p.add(format!("{key}.name"), "must not be empty");
    }
    p.ae_title(format!("{key}.ae_title"), &d.ae_title);
    if d.host.trim().is_empty() {
        p.add(format!("{key}.host"), "must not be empty");
    }
    p.port(format!("{key}.port"), d.port);
    retry(&format!("{key}.retry"), &d.retry, p);
}

fn retry(key: &str, r: &RetrySection, p: &mut Problems) {
    p.positive(&format!("{key}.attempts"), r.attempts.into());
    p.positive(&format!("{key}.base_delay_s"), r.base_delay_s);
    if r.max_delay_s < r.base_delay_s {
        p.add(
            format!("{key}.max_delay_s"),
            format!(
                "{} is less than base_delay_s ({})",
                r.max_delay_s, r.base_delay_s
            ),
        );
    }
}

fn engine(config: &Config, p: &mut Problems) {
    let e = &config.engine;
    let dir = &e.model_dir;
    if !dir.is_dir() {
        p.add(
            "engine.model_dir",
            format!("{} is not an existing folder", dir.display()),
        );
    } else if !dir.join("manifest.json").is_file() {
        p.add(
            "engine.model_dir",
            format!("{} has no manifest.json: not a model bundle", dir.display()),
        );
    }
    p.positive("engine.batch", e.batch.into());
}

fn pipeline(config: &Config, p: &mut Problems) {
    let q = &config.pipeline;
    p.positive("pipeline.scoring_workers", q.scoring_workers.into());
    p.positive("pipeline.delivery_workers", q.delivery_workers.into());
    p.positive("pipeline.heartbeat_s", q.heartbeat_s);
    p.positive("pipeline.max_attempts", q.max_attempts.into());
    if q.stale_after_s < 3 * q.heartbeat_s {
        p.add(
            "pipeline.stale_after_s",
            format!(
                "must be at least 3 x pipeline.heartbeat_s ({}), got {}",
                3 * q.heartbeat_s,
                q.stale_after_s
            ),
        );
    }
}

fn store(config: &Config, p: &mut Problems) {
    let s = &config.store;
    match s.url.split_once("://") {
        Some(("sqlite", rest)) if !rest.is_empty() => {}
        Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => {}
        _ => p.add(
            "store.url",
            format!(
                "{:?} is not sqlite://FILE or postgres://USER@HOST/DATABASE",
                super::redact::redact_url(&s.url)
            ),
        ),
    }
    p.positive("store.max_connections", s.max_connections.into());
}

fn web(config: &Config, p: &mut Problems) {
    let w = &config.web;
    if w.bind.parse::<SocketAddr>().is_err() {
        p.add("web.bind", format!("{:?} is not IP:PORT", w.bind));
    }
    match (&w.token, &w.token_file) {
        (Some(_), Some(_)) => p.add(
            "web.token",
            "set either web.token or web.token_file, not both",
        ),
        (Some(t), None) if t.trim().len() < 16 => {
            p.add("web.token", "must be at least 16 characters")
        }
        (None, Some(f)) if !f.is_file() => p.add(
            "web.token_file",
            format!("{} is not an existing file", f.display()),
        ),
        _ => {}
    }
}

fn webhook(config: &Config, p: &mut Problems) {
    let w = &config.webhook;
    match (&w.url, w.enabled) {
        (None, true) => p.add("webhook.url", "is required when webhook.enabled is true"),
        (Some(u), _) if !(u.starts_with("http://") || u.starts_with("https://")) => p.add(
            "webhook.url",
            format!("{u:?} is not an http:// or https:// URL"),
        ),
        _ => {}
    }
    p.positive("webhook.timeout_s", w.timeout_s);
    p.positive("webhook.attempts", w.attempts.into());
}
