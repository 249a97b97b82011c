//! `/metrics` in the Prometheus text exposition format (version 0.0.4): queue and delivery
//! counts from the store, readiness and alerts, process uptime and memory, and histograms of
//! study scores and scoring times over every stored result.
//!
//! The text is written here rather than with a metrics crate: every value is read fresh from
//! the store at scrape time (nothing is counted in-process), and the crates that encode
//! such snapshots write OpenMetrics rather than this format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::health::store_answers;
use super::App;
use crate::store::web_views::ScoreSample;
use crate::store::Health;

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the scoring-time histogram, seconds.
const DURATION_BUCKETS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// Score bucket bounds in units of the normal scores' spread around the threshold; the
/// bucket at 0 is the threshold, so it counts the studies that were not flagged.
const SCORE_STEPS: [f64; 11] = [-4.0, -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0];

pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let store = &app.web.store;
    let (health, samples) = tokio::join!(store.health(), store.score_samples(i64::MAX));
    let store_up = health.is_ok() && samples.is_ok() && store_answers(&app).await;
    let mut m = Exposition::default();
    node_metrics(&mut m, &app, store_up);
    if let Ok(h) = &health {
        store_metrics(&mut m, h, store.now_ms());
    }
    if let Ok(samples) = &samples {
        result_metrics(&mut m, &app, samples);
    }
    process_metrics(&mut m, &app);
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], m.out)
}

fn node_metrics(m: &mut Exposition, app: &App, store_up: bool) {
    let c = app.web.readiness.conditions();
    let ready = c.reasons().is_empty() && store_up;
    m.family(
        "screener_ready",
        "gauge",
        "1 when /readyz would answer 200.",
    );
    m.sample("screener_ready", &[], bool_value(ready));
    m.family(
        "screener_readiness_condition",
        "gauge",
        "Each readiness condition as last reported by the pipeline (1 = met).",
    );
    for (name, met) in [
        ("model_loaded", c.model_loaded),
        ("listener_bound", c.listener_bound),
        ("store_reachable", c.store_reachable),
    ] {
        m.sample(
            "screener_readiness_condition",
            &[("condition", name)],
            bool_value(met),
        );
    }
    m.family(
        "screener_store_up",
        "gauge",
        "1 when the store answered this scrape.",
    );
    m.sample("screener_store_up", &[], bool_value(store_up));
    let alerts = app.web.readiness.alerts();
    m.family("screener_alerts", "gauge", "Alerts currently raised.");
    m.sample("screener_alerts", &[], alerts.len() as f64);
    m.family(
        "screener_alert",
        "gauge",
        "1 for each raised alert, by key; the message is on the status page.",
    );
    for a in &alerts {
        m.sample("screener_alert", &[("key", &a.key)], 1.0);
    }
    m.family(
        "screener_build_info",
        "gauge",
        "Node version and the model it runs (always 1).",
    );
    m.sample(
        "screener_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("model", &app.web.model.name),
            ("model_version", &app.web.model.version),
        ],
        1.0,
    );
}

fn store_metrics(m: &mut Exposition, h: &Health, now_ms: i64) {
    m.family("screener_jobs", "gauge", "Scoring jobs by state.");
    for (state, n) in [
        ("queued", h.jobs_queued),
        ("running", h.jobs_running),
        ("done", h.jobs_done),
        ("failed", h.jobs_failed),
        ("skipped", h.jobs_skipped),
    ] {
        m.sample("screener_jobs", &[("state", state)], n as f64);
    }
    m.family(
        "screener_deliveries",
        "gauge",
        "Result deliveries by state.",
    );
    for (state, n) in [
        ("pending", h.deliveries_pending),
        ("sending", h.deliveries_sending),
        ("delivered", h.deliveries_delivered),
        ("failed", h.deliveries_failed),
    ] {
        m.sample("screener_deliveries", &[("state", state)], n as f64);
    }
    m.family("screener_studies", "gauge", "Studies in the store.");
    m.sample("screener_studies", &[], h.studies as f64);
    m.family(
        "screener_instances",
        "gauge",
        "Instances received and recorded.",
    );
    m.sample("screener_instances", &[], h.instances as f64);
    m.family(
        "screener_oldest_queued_job_age_seconds",
        "gauge",
        "Age of the oldest job still waiting for a worker (0 when none waits).",
    );
    let age = h
        .oldest_queued_at
        .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0);
    m.sample("screener_oldest_queued_job_age_seconds", &[], age);
}

fn result_metrics(m: &mut Exposition, app: &App, samples: &[ScoreSample]) {
    let mut by_model: BTreeMap<(&str, &str), Vec<&ScoreSample>> = BTreeMap::new();
    for s in samples {
        by_model
            .entry((&s.model_name, &s.model_version))
            .or_default()
            .push(s);
    }
    m.family("screener_results", "gauge", "Scored series by flag.");
    for flagged in [false, true] {
        let n = samples.iter().filter(|s| s.flagged == flagged).count();
        let label = if flagged { "true" } else { "false" };
        m.sample("screener_results", &[("flagged", label)], n as f64);
    }
    let score_buckets = score_buckets(app);
    m.family(
        "screener_study_score",
        "histogram",
        "Study scores of every stored result, by model; buckets sit around the running \
         model's threshold (the bucket at the threshold counts unflagged studies).",
    );
    for ((model, version), group) in &by_model {
        let labels = [("model", *model), ("version", *version)];
        let scores = group.iter().map(|s| s.study_score);
        m.histogram("screener_study_score", &labels, &score_buckets, scores);
    }
    m.family(
        "screener_scoring_duration_seconds",
        "histogram",
        "Wall time of scoring one series (load, score, write), by model.",
    );
    for ((model, version), group) in &by_model {
        let labels = [("model", *model), ("version", *version)];
        let seconds = group.iter().filter_map(|s| s.total_s);
        m.histogram(
            "screener_scoring_duration_seconds",
            &labels,
            &DURATION_BUCKETS,
            seconds,
        );
    }
}

/// The threshold plus multiples of the normal scores' spread (the interquartile range scaled
/// to a normal's standard deviation), or of a tenth of the threshold's size without them.
fn score_buckets(app: &App) -> Vec<f64> {
    let c = &app.web.model.calibration;
    let normal = &c.normal_scores.scores;
    let quartile = |q: f64| normal[((normal.len() - 1) as f64 * q).round() as usize];
    let iqr_spread = if normal.len() >= 4 {
        (quartile(0.75) - quartile(0.25)) / 1.349
    } else {
        0.0
    };
    let spread = if iqr_spread > 0.0 {
        iqr_spread
    } else {
        (c.threshold.abs() * 0.1).max(1e-3)
    };
    let mut buckets: Vec<f64> = SCORE_STEPS
        .iter()
        .map(|k| round_sig(c.threshold + k * spread))
        .collect();
    // The threshold itself exactly, so its bucket counts exactly the unflagged studies.
    buckets[5] = c.threshold;
    buckets.sort_by(f64::total_cmp);
    buckets.dedup();
    buckets
}

/// Four significant digits, so bucket labels stay readable.
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(3 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

fn process_metrics(m: &mut Exposition, app: &App) {
    m.family(
        "screener_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
    );
    m.sample(
        "screener_uptime_seconds",
        &[],
        app.web.started.elapsed().as_secs_f64(),
    );
    if let Some(bytes) = resident_bytes() {
        m.family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        m.sample("process_resident_memory_bytes", &[], bytes as f64);
    }
}

/// Resident set size from `/proc/self/statm` (its second field, in pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// A text exposition being written.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (n, (key, v)) in labels.iter().enumerate() {
                if n > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }

    /// Cumulative `_bucket` lines for `bounds` and `+Inf`, then `_sum` and `_count`.
    fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        values: impl Iterator<Item = f64>,
    ) {
        let mut counts = vec![0u64; bounds.len()];
        let (mut sum, mut count) = (0.0, 0u64);
        for v in values.filter(|v| !v.is_nan()) {
            for (c, b) in counts.iter_mut().zip(bounds) {
                if v <= *b {
                    *c += 1;
                }
            }
            sum += v;
            count += 1;
        }
        let bucket = format!("{name}_bucket");
        for (b, c) in bounds.iter().zip(&counts) {
            let le = number(*b);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, *c as f64);
        }
        let mut with_inf = labels.to_vec();
        with_inf.push(("le", "+Inf"));
        self.sample(&bucket, &with_inf, count as f64);
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as Prometheus reads it (`+Inf`, `-Inf`, `NaN`, or a decimal).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_with_inf_sum_and_count() {
        let mut m = Exposition::default();
        m.histogram(
            "x",
            &[("model", "m")],
            &[1.0, 2.0],
            [0.5, 1.5, 1.0, 9.0].into_iter(),
        );
        assert_eq!(
            m.out,
            "x_bucket{model=\"m\",le=\"1\"} 2\n\
             x_bucket{model=\"m\",le=\"2\"} 3\n\
             x_bucket{model=\"m\",le=\"+Inf\"} 4\n\
             x_sum{model=\"m\"} 12\n\
             x_count{model=\"m\"} 4\n"
        );
    }

    #[test]
    fn label_values_and_special_numbers_are_escaped() {
        let mut m = Exposition::default();
        m.sample("a", &[("key", "say \"hi\"\\\nbye")], f64::INFINITY);
        m.sample("b", &[], f64::NAN);
        m.sample("c", &[], 0.25);
        assert_eq!(
            m.out,
            "a{key=\"say \\\"hi\\\"\\\\\\nbye\"} +Inf\nb NaN\nc 0.25\n"
        );
    }

    #[test]
    fn resident_memory_is_read_from_proc() {
        let bytes = resident_bytes().expect("Linux has /proc/self/statm");
        assert!(bytes > 1 << 20, "{bytes}");
    }

    #[test]
    fn significant_digits_are_kept_to_four() {
        assert_eq!(round_sig(12.345678), 12.35);
        assert_eq!(round_sig(-0.00123456), -0.001235);
        assert_eq!(round_sig(0.0), 0.0);
    }
}
