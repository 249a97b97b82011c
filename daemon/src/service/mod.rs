//! `screener serve`: the whole node. Data flows listener -> spool -> store (instances) ->
//! grouping (complete series) -> job queue -> scoring workers (SEG, overlay, previews,
//! result, deliveries) -> delivery workers (DICOM destinations, webhook); the admin page
//! and API read the store. Every step is recorded in the store, so a restart after a crash
//! resumes where the last process stopped. See docs/service.md.
//!
//! - [`ingest`]: instances and complete series into the store and the queue.
//! - [`scoring`]: the job workers.
//! - [`delivery`] and [`webhook`]: the outbox workers.
//! - [`maintenance`]: reclaiming dead workers' claims, free-space alerts.
//! - [`logging`]: plain or JSON logs.

pub mod delivery;
pub mod ingest;
pub mod logging;
pub mod maintenance;
pub mod scoring;
pub mod webhook;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::config::Config;
use crate::dicom::start_node_observed;
use crate::engine::Scorer;
use crate::store::Store;
use crate::web::{self, ModelInfo, Readiness, WebState};

/// Alert keys shown on the status page.
pub const DISK_ALERT: &str = "disk";
pub const SPOOL_ALERT: &str = "spool";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML file laid over the embedded default configuration (see
    /// config/production.example.toml); SCREENER__SECTION__KEY variables override both.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Loads the configuration, starts logging and runs the node until SIGINT or SIGTERM.
pub fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    logging::init(&config.logging)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let node = start(config).await?;
        announce(&node);
        shutdown_signal().await;
        info!("shutting down");
        node.stop().await;
        Ok(())
    })
}

/// A running node.
pub struct RunningNode {
    pub dicom_addr: SocketAddr,
    pub web_addr: SocketAddr,
    pub store: Store,
    pub readiness: Readiness,
    /// Where the admin token comes from, in words (never the token itself).
    pub token_source: String,
    stop: watch::Sender<bool>,
    listener: crate::dicom::Listener,
    tasks: JoinSet<()>,
}

impl RunningNode {
    /// Stops accepting associations and lets the workers finish their current step. A
    /// scoring still running is left to the job queue: another start reclaims it.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        self.listener.shutdown();
        let drain = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            warn!("workers still busy after 10 s; leaving their jobs to the queue");
            self.tasks.abort_all();
        }
        self.store.close().await;
    }
}

/// Opens the store and the model, then starts the web page, the listener and the workers.
/// Nothing listens before the store and the model are known to work.
pub async fn start(config: Config) -> anyhow::Result<RunningNode> {
    let started = Instant::now();
    let data_dir = config.node.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data folder {}", data_dir.display()))?;
    let store = Store::open(&config.store_url(), config.store.max_connections)
        .await
        .context("opening the store")?;
    let readiness = Readiness::default();

    let (model_dir, options) = (config.engine.model_dir.clone(), config.engine_options());
    let scorer = tokio::task::spawn_blocking(move || Scorer::load(&model_dir, options))
        .await?
        .with_context(|| {
            format!(
                "loading the model bundle {}",
                config.engine.model_dir.display()
            )
        })?;
    let manifest = Arc::new(scorer.bundle().manifest.clone());
    readiness.set_model_loaded(true);
    info!(model = %manifest.model.name, version = %manifest.model.version, "model loaded");

    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();

    let web_listener = tokio::net::TcpListener::bind(&config.web.bind)
        .await
        .with_context(|| format!("binding the admin page to {}", config.web.bind))?;
    let web_addr = web_listener.local_addr()?;
    let web_state = WebState {
        store: store.clone(),
        model: ModelInfo::from_manifest(&manifest),
        token: config.web_token().context("reading the web token")?,
        data_dir: data_dir.clone(),
        destinations: config.destinations.iter().map(|d| d.name.clone()).collect(),
        readiness: readiness.clone(),
        started,
    };
    let mut web_stop = stopped.clone();
    tasks.spawn(web::serve(web_listener, web_state, async move {
        let _ = web_stop.wait_for(|s| *s).await;
    }));

    let jobs_due = Arc::new(Notify::new());
    let deliveries_due = Arc::new(Notify::new());
    let (arrivals_tx, arrivals) = mpsc::channel(1024);
    let node = start_node_observed(
        config.listener(),
        config.spool(),
        config.grouping(),
        Some(arrivals_tx),
    )
    .await
    .context("starting the DICOM listener")?;
    readiness.set_listener_bound(true);
    let dicom_addr = node.listener.local_addr();
    tasks.spawn(ingest::record_arrivals(store.clone(), arrivals));
    tasks.spawn(ingest::queue_series(
        store.clone(),
        node.ready,
        jobs_due.clone(),
    ));

    let p = &config.pipeline;
    let scoring = scoring::ScoringContext {
        store: store.clone(),
        scorer: Arc::new(Mutex::new(scorer)),
        manifest: manifest.clone(),
        results_dir: data_dir.join("results"),
        destinations: config.destinations.iter().map(|d| d.name.clone()).collect(),
        webhook: config.webhook.enabled,
        heartbeat: Duration::from_secs(p.heartbeat_s),
        retry_delay: Duration::from_secs(p.retry_delay_s),
        stable_after: Duration::from_secs(config.dicom.stable_age_s),
        previews: p.previews as usize,
        readiness: readiness.clone(),
        deliveries_due: deliveries_due.clone(),
    };
    for i in 0..p.scoring_workers {
        tasks.spawn(scoring::run_worker(
            scoring.clone(),
            format!("score{i}"),
            jobs_due.clone(),
            stopped.clone(),
        ));
    }

    let destinations: HashMap<_, _> = config
        .destinations
        .iter()
        .map(|d| (d.name.clone(), (d.destination(), d.retry.policy())))
        .collect();
    let delivery = delivery::DeliveryContext {
        store: store.clone(),
        sender: config.sender(),
        destinations: Arc::new(destinations),
        webhook: webhook::WebhookTarget::from_config(&config.webhook, format!("http://{web_addr}"))
            .map(Arc::new),
        readiness: readiness.clone(),
    };
    for i in 0..p.delivery_workers {
        tasks.spawn(delivery::run_worker(
            delivery.clone(),
            format!("send{i}"),
            deliveries_due.clone(),
            stopped.clone(),
        ));
    }

    let upkeep = maintenance::Upkeep {
        store: store.clone(),
        stale_after: Duration::from_secs(p.stale_after_s),
        max_attempts: p.max_attempts,
        data_dir: data_dir.clone(),
        min_free_bytes: config.dicom.min_free_mb << 20,
        readiness: readiness.clone(),
        jobs_due,
        deliveries_due,
    };
    let every = Duration::from_secs(p.heartbeat_s.max(1));
    tasks.spawn(upkeep.run(every, stopped));

    info!(
        dicom = %dicom_addr,
        ae_title = %config.dicom.ae_title,
        web = %web_addr,
        store = ?store.engine(),
        seconds = started.elapsed().as_secs_f64(),
        "screener node ready"
    );
    Ok(RunningNode {
        dicom_addr,
        web_addr,
        store,
        readiness,
        token_source: match (&config.web.token, &config.web.token_file) {
            (Some(_), _) => "web.token in the configuration".into(),
            (None, Some(file)) => file.display().to_string(),
            (None, None) => config.generated_token_path().display().to_string(),
        },
        stop,
        listener: node.listener,
        tasks,
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Prints where the node can be reached (stdout, one line, for operators and scripts).
pub fn announce(node: &RunningNode) {
    println!(
        "screener: listening for DICOM on {}, admin page on http://{} (token: {})",
        node.dicom_addr, node.web_addr, node.token_source
    );
}
