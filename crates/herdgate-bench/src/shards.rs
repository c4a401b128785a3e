//! `herdgate-bench shards`: one hot sale on one primary against the same sale split over three
//! stock shards, on one Redis Cluster (three primaries, a replica each), in one run.
//!
//! One origin (in this process) and the cluster. Two sales with the same stock: `one` without
//! stock shards (all its purchases on the primary of its slot) and `three` with
//! `stock_shards: 3` (one shard on each primary). Each round sends `buyers` purchases (one per
//! visitor, closed loop over `connections` keep-alive connections) to one sale, then the same
//! to the other, alternating for `rounds` rounds so both see the same machine. Measured per
//! series: purchases per second, and the Redis CPU time (user + system, from /proc, of every
//! node: primaries and replicas) per purchase, in all and on the busiest primary. On a machine
//! with fewer cores than Redis processes the rate is bounded by the cores, not by one primary,
//! so the CPU per purchase is the honest figure: the busiest primary's share is what caps one
//! sale's rate when each primary has a core of its own.

use std::collections::HashMap;

use anyhow::{ensure, Result};
use herdgate_core::{SaleId, VisitorId};
use herdgate_testkit::cpu::process_seconds;
use herdgate_testkit::{now_ms, AdminClient, OriginOptions, RedisCluster, TestKeys, TestOrigin};

/// Options of `herdgate-bench shards`.
#[derive(clap::Args)]
pub struct ShardsArgs {
    /// Purchases per sale per round (each by its own visitor, each one sold).
    #[arg(long, default_value_t = 3_000)]
    pub buyers: usize,
    /// Rounds, alternating the two sales.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Keep-alive connections the purchases are sent over.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Write the results into this markdown file's shards section.
    #[arg(long)]
    pub write: Option<std::path::PathBuf>,
}

/// Runs the benchmark, prints its report and writes it if asked.
pub async fn run(args: ShardsArgs) -> Result<()> {
    let report = measure(&args).await?;
    crate::sections::publish(args.write.as_deref(), "shards", &report)
}

#[derive(Default)]
struct Series {
    purchases: usize,
    secs: f64,
    redis_cpu: f64,
    busiest_primary_cpu: f64,
    p99_ms: Vec<f64>,
}

/// CPU seconds of each node so far, by port.
fn cpu_by_node(cluster: &RedisCluster) -> HashMap<u16, f64> {
    cluster
        .nodes
        .iter()
        .map(|n| (n.port(), n.pid().map_or(0.0, process_seconds)))
        .collect()
}

async fn measure(args: &ShardsArgs) -> Result<String> {
    let cluster = RedisCluster::start(3).await?;
    let keys = TestKeys::generate();
    let origin = TestOrigin::start(&cluster.url(), &keys, OriginOptions::default()).await?;
    let primaries: Vec<u16> = cluster
        .primaries()
        .await?
        .iter()
        .map(|(n, _)| n.port())
        .collect();
    ensure!(primaries.len() == 3, "expected 3 primaries: {primaries:?}");
    let admin = AdminClient::new(reqwest::Client::new(), &origin.url(), &keys.admin_token);
    let n = args.buyers.max(1);
    let rounds = args.rounds.max(1);
    let stock = (n * rounds) as u64;
    for (sale, shards) in [("one", None), ("three", Some(3))] {
        let config = serde_json::json!({"stock": stock, "per_visitor_limit": 1,
            "starts_at_ms": now_ms() - 60_000, "admission_rate": 1000, "stock_shards": shards});
        let (status, body) = admin.put_sale_reply(sale, &config).await?;
        ensure!(status == 201, "creating {sale}: {status} {body}");
    }
    let mut series: [Series; 2] = Default::default();
    for round in 0..rounds {
        for (i, sale) in ["one", "three"].into_iter().enumerate() {
            let id = SaleId::parse(sale)?;
            let passes: Vec<String> = (0..n)
                .map(|b| {
                    let visitor = VisitorId::parse(&format!("r{round}b{b}")).expect("a visitor id");
                    keys.pass(&id, &visitor)
                })
                .collect();
            let path: &'static str = if sale == "one" {
                "/v1/sales/one/purchase"
            } else {
                "/v1/sales/three/purchase"
            };
            let before = cpu_by_node(&cluster);
            let t = std::time::Instant::now();
            let run = crate::load::load(origin.addr(), path, passes, args.connections, 201).await?;
            let secs = t.elapsed().as_secs_f64();
            let after = cpu_by_node(&cluster);
            let used =
                |port: &u16| after.get(port).unwrap_or(&0.0) - before.get(port).unwrap_or(&0.0);
            let s = &mut series[i];
            s.purchases += n;
            s.secs += secs;
            s.redis_cpu += cluster
                .nodes
                .iter()
                .map(|node| used(&node.port()))
                .sum::<f64>();
            s.busiest_primary_cpu += primaries.iter().map(used).fold(0.0, f64::max);
            s.p99_ms.push(run.p99_ms);
        }
    }
    // Every purchase sold one item, none twice: each sale's books say so.
    for sale in ["one", "three"] {
        let state = admin.sale(sale).await?;
        ensure!(
            state.state.sold == stock && state.orders == stock,
            "{sale}: sold {} with {} orders of {stock}",
            state.state.sold,
            state.orders
        );
    }
    let [one, three] = &series;
    let rate = |s: &Series| s.purchases as f64 / s.secs;
    let us = |cpu: f64, s: &Series| cpu * 1e6 / s.purchases as f64;
    let row = |name: &str, s: &Series| {
        format!(
            "| {name} | {:.0}/s | {:.0} µs | {:.0} µs | {:.2} ms |\n",
            rate(s),
            us(s.redis_cpu, s),
            us(s.busiest_primary_cpu, s),
            s.p99_ms.iter().copied().fold(0.0, f64::max),
        )
    };
    let mut out = format!(
        "Command: `scripts/bench-shards.sh` (`herdgate-bench shards --buyers {n} --rounds {rounds} \
         --connections {}`): a Redis Cluster of 3 primaries and 3 replicas on this machine \
         ({} cores), one origin; {} purchases per sale, the two sales alternating round by \
         round. Redis CPU is user + system time of every node (replicas included) over the \
         series, per purchase.\n\n\
         | sale | purchases | Redis CPU per purchase | on the busiest primary | p99 (worst round) |\n\
         |---|---|---|---|---|\n",
        args.connections,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        n * rounds,
    );
    out.push_str(&row("`one`: one primary (baseline)", one));
    out.push_str(&row("`three`: 3 stock shards", three));
    let cap = |s: &Series| s.purchases as f64 / s.busiest_primary_cpu;
    out.push_str(&format!(
        "\nRate, sharded / baseline: {:.2}×. Redis CPU per purchase, sharded / baseline: \
         {:.2}×. The busiest primary's CPU per purchase, sharded / baseline: {:.2}×, so with a \
         core for each primary one sale's rate is capped near {:.0}/s on one primary and \
         {:.0}/s over three (each primary's purchases per CPU second).\n",
        rate(three) / rate(one),
        three.redis_cpu / one.redis_cpu,
        three.busiest_primary_cpu / one.busiest_primary_cpu,
        cap(one),
        cap(three),
    ));
    Ok(out)
}
