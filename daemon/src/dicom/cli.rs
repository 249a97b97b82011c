//! `screener listen`: runs the receiving node alone (listener, spool, grouping) and prints
//! each complete series. For trials and benchmarks; `serve` will run the whole node.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::ae::{AeTitle, AllowedPeer, CallingPolicy};
use super::config::{GroupingConfig, ListenerConfig, SpoolConfig};
use super::node::start_node;

#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs {
    /// Address and port to bind.
    #[arg(long, default_value = "127.0.0.1:11112")]
    pub bind: SocketAddr,
    /// Our AE title.
    #[arg(long, default_value = "SCREENER")]
    pub ae_title: AeTitle,
    /// Spool folder.
    #[arg(long)]
    pub spool: PathBuf,
    /// fsync each instance before answering (on by default).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub fsync: bool,
    /// Allowed calling AE (`AE` or `AE@IP`); repeat for several. Any when absent.
    #[arg(long = "allow")]
    pub allow: Vec<AllowedPeer>,
    /// Associations served at once.
    #[arg(long, default_value_t = 16)]
    pub max_associations: usize,
    /// Seconds without a new instance before a series counts as complete.
    #[arg(long, default_value_t = 30)]
    pub stable_after: u64,
    /// Refuse instances when the spool has less free space than this many MiB.
    #[arg(long, default_value_t = 1024)]
    pub min_free_mib: u64,
}

/// Runs until killed.
pub fn run_listen(args: ListenArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut listener = ListenerConfig::new(args.bind, args.ae_title);
        listener.max_associations = args.max_associations;
        if !args.allow.is_empty() {
            listener.calling = CallingPolicy::Only(args.allow);
        }
        let mut spool = SpoolConfig::new(&args.spool);
        spool.fsync = args.fsync;
        spool.min_free_bytes = args.min_free_mib << 20;
        let grouping = GroupingConfig {
            stable_after: Duration::from_secs(args.stable_after),
            ..GroupingConfig::default()
        };
        let mut node = start_node(listener, spool, grouping)
            .await
            .context("starting the listener")?;
        eprintln!("listening on {}", node.listener.local_addr());
        while let Some(series) = node.ready.recv().await {
            println!(
                "series complete: {} instances from {} in {}",
                series.instance_count,
                series.calling_ae.as_deref().unwrap_or("?"),
                node.spool
                    .series_dir(&series.study, &series.series)
                    .display()
            );
        }
        Ok(())
    })
}
