//! `herdgate-rebalancer`: moves unsold stock of sales between regions, from those with little
//! demand to those with much (see `herdgate_origin::regions`). Run one, wherever it can reach
//! every region's Redis; two at once are safe (every step is idempotent) but may move stock
//! back and forth.
//!
//! ```sh
//! herdgate-rebalancer --region eu=rediss://eu-redis:6380 --region us=rediss://us-redis:6380 \
//!   --sale drop-1 --every-ms 1000 --horizon-secs 10
//! ```

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use herdgate_core::SaleId;
use herdgate_origin::regions::{valid_region_name, Rebalancer, Region};
use herdgate_origin::store::{Store, StoreConfig, WaitReplicas};
use tracing_subscriber::EnvFilter;

/// Moves unsold stock between regions, towards demand.
#[derive(Parser)]
#[command(name = "herdgate-rebalancer", version)]
struct Args {
    /// A region and its Redis: `NAME=URL` (`redis://`, `rediss://`, `redis-cluster://`…);
    /// at least two. NAME is 1 to 32 of `a-z 0-9 -`.
    #[arg(long = "region", required = true)]
    regions: Vec<String>,
    /// A sale to keep balanced (created in every region, each with its allocation).
    #[arg(long = "sale", required = true)]
    sales: Vec<String>,
    /// Milliseconds between rounds.
    #[arg(long, default_value_t = 1_000)]
    every_ms: u64,
    /// A region needs the stock it would sell in this many seconds at its current pace.
    #[arg(long, default_value_t = 10)]
    horizon_secs: u64,
    /// The origins' sale events channel (their `--events-channel`).
    #[arg(long, default_value = herdgate_origin::config::DEFAULT_EVENTS_CHANNEL)]
    events_channel: String,
    /// A Redis command that takes longer is given up (the region counts as unreachable).
    #[arg(long, default_value_t = 1_000)]
    redis_timeout_ms: u64,
    /// For `rediss://` URLs: the certificate authorities (PEM) to trust instead of the
    /// system's.
    #[arg(long)]
    redis_tls_ca: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let tls_ca_pem = match &args.redis_tls_ca {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
        }
        None => None,
    };
    let mut regions = Vec::new();
    for spec in &args.regions {
        let Some((name, url)) = spec.split_once('=') else {
            bail!("--region {spec:?}: expected NAME=URL");
        };
        if !valid_region_name(name) || regions.iter().any(|r: &Region| r.name == name) {
            bail!("--region {name:?}: a name of 1 to 32 of a-z 0-9 -, once each");
        }
        let store = Store::connect(StoreConfig {
            url: url.to_owned(),
            pool_size: 2,
            command_timeout: Duration::from_millis(args.redis_timeout_ms.max(1)),
            wait_replicas: WaitReplicas::Auto,
            wait_timeout: Duration::from_millis(250),
            tls_ca_pem: tls_ca_pem.clone(),
        })
        .await
        .with_context(|| format!("region {name}"))?;
        regions.push(Region {
            name: name.to_owned(),
            store: Arc::new(store),
        });
    }
    if regions.len() < 2 {
        bail!("give at least two regions");
    }
    let sales = args
        .sales
        .iter()
        .map(|s| SaleId::parse(s).with_context(|| format!("--sale {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut rebalancer = Rebalancer::new(
        regions,
        sales,
        Duration::from_secs(args.horizon_secs.max(1)),
        args.events_channel,
    );
    let mut tick = tokio::time::interval(Duration::from_millis(args.every_ms.max(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let report = rebalancer.round(herdgate_origin::clock::now_ms()).await;
        for (sale, from, to, n) in &report.moved {
            tracing::info!(%sale, %from, %to, items = n, "moved stock");
        }
        if report.finished > 0 {
            tracing::info!(transfers = report.finished, "finished transfers left open");
        }
    }
}
