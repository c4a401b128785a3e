//! `herdgate-bench origin`: the origin's purchase and sold-out paths against `redis-benchmark`
//! running `EVALSHA` of the same script.
//!
//! It starts its own redis-server (the shipped configuration) and the release `herdgate-origin`
//! binary as a separate process, then measures, at the same concurrency and request count:
//!
//! 1. the baseline: `redis-benchmark` running `EVALSHA` of `lua/purchase.lua` unpipelined;
//! 2. the origin's purchase path over HTTP (pass verification + the same script), 201s;
//! 3. the origin's sold-out path over HTTP (pass verification, answered from memory), 409s.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use herdgate_core::{SaleId, VisitorId};
use herdgate_origin::store::{PurchaseCall, RecordedFacts};
use herdgate_testkit::{now_ms, OriginProcess, RedisServer, TestKeys};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;

use crate::load::{connect, create_sale, load, send, Run};
use crate::procs::sibling_binary;
use crate::sections;
use herdgate_testkit::cpu::process_seconds as cpu_seconds;

/// Options of `herdgate-bench origin`.
#[derive(clap::Args)]
pub struct OriginArgs {
    /// Requests per measured run.
    #[arg(long, default_value_t = 50_000)]
    pub requests: usize,
    /// Connections open at once (redis-benchmark -c, HTTP keep-alive connections).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// The herdgate-origin binary (default: next to this one).
    #[arg(long)]
    pub origin_bin: Option<PathBuf>,
    /// Redis connections of the origin (`--redis-pool-size`; the origin's default is 2).
    #[arg(long, default_value_t = 2)]
    pub redis_pool_size: usize,
    /// Runtime worker threads of the origin (`--worker-threads`; default: one per core).
    #[arg(long)]
    pub worker_threads: Option<usize>,
    /// Write the results into this markdown file's origin section.
    #[arg(long)]
    pub write: Option<PathBuf>,
}

/// Runs the benchmark, prints its report and writes it if asked.
pub async fn run(args: OriginArgs) -> Result<()> {
    let origin_bin = sibling_binary(args.origin_bin, "herdgate-origin", "herdgate-origin")?;
    let redis = RedisServer::start().await?;
    let keys = TestKeys::generate();
    let max_in_flight = format!("--max-in-flight={}", args.concurrency * 4);
    let pool = format!("--redis-pool-size={}", args.redis_pool_size);
    let mut origin_args = vec![max_in_flight, pool];
    if let Some(n) = args.worker_threads {
        origin_args.push(format!("--worker-threads={n}"));
    }
    let origin_args: Vec<&str> = origin_args.iter().map(String::as_str).collect();
    let origin = OriginProcess::start(&origin_bin, &redis.url(), &keys, &origin_args).await?;
    let n = args.requests;
    let c = args.concurrency;
    eprintln!(
        "redis on {}, origin on {} (pid {})",
        redis.url(),
        origin.url(),
        origin.pid()
    );

    let huge = (n as u64) * 4;
    for (sale, stock) in [("bench", huge), ("rb", huge), ("warm", huge), ("so", 1)] {
        create_sale(&origin.url(), &keys, sale, stock).await?;
    }

    // Warm up connections, the script cache and the allocator.
    let warm = passes(&keys, "warm", "w", n.min(5_000));
    load(origin.addr(), "/v1/sales/warm/purchase", warm, c, 201).await?;

    // 1. Baseline: redis-benchmark, EVALSHA of the same script, unpipelined.
    let client = redis.client().await?;
    let sha: String = fred::interfaces::LuaInterface::script_load(
        &client,
        include_str!("../../../lua/purchase.lua"),
    )
    .await?;
    let redis_cpu_0 = cpu_seconds(redis.pid().context("redis pid")?);
    let baseline = redis_benchmark(redis.port(), &sha, n, c)?;
    let redis_cpu_baseline = cpu_seconds(redis.pid().context("redis pid")?) - redis_cpu_0;

    // 2. The origin's purchase path.
    let bench_passes = passes(&keys, "bench", "b", n);
    let (o0, r0) = (
        cpu_seconds(origin.pid()),
        cpu_seconds(redis.pid().unwrap_or(0)),
    );
    let purchase = load(
        origin.addr(),
        "/v1/sales/bench/purchase",
        bench_passes,
        c,
        201,
    )
    .await?;
    let (origin_cpu, redis_cpu) = (
        cpu_seconds(origin.pid()) - o0,
        cpu_seconds(redis.pid().unwrap_or(0)) - r0,
    );

    // 3. The sold-out path: sell the one item, wait until the origin answers from memory.
    let one = passes(&keys, "so", "winner", 1);
    load(origin.addr(), "/v1/sales/so/purchase", one, 1, 201).await?;
    wait_for_memory(origin.addr(), &keys.admin_token).await?;
    let so_passes = passes(&keys, "so", "loser", n);
    let sold_out = load(origin.addr(), "/v1/sales/so/purchase", so_passes, c, 409).await?;

    let runs = [
        Run {
            name: "redis-benchmark EVALSHA purchase.lua (baseline)",
            ..baseline
        },
        Run {
            name: "origin POST /v1/sales/{sale}/purchase → 201",
            ..purchase
        },
        Run {
            name: "origin sold-out path → 409 from memory",
            ..sold_out
        },
    ];
    let report = markdown(&runs, n, c, origin_cpu, redis_cpu, redis_cpu_baseline);
    sections::publish(args.write.as_deref(), "origin", &report)?;
    drop(origin);
    Ok(())
}

/// Passes for `n` distinct visitors `<prefix><i>`.
fn passes(keys: &TestKeys, sale: &str, prefix: &str, n: usize) -> Vec<String> {
    let sale = SaleId::parse(sale).expect("benchmark sale ids are valid");
    (0..n)
        .map(|i| {
            let visitor =
                VisitorId::parse(&format!("{prefix}{i}")).expect("benchmark visitor ids are valid");
            keys.pass(&sale, &visitor)
        })
        .collect()
}

/// Waits until the origin's metrics (read with the admin token) say it answers the sold-out
/// sale from memory.
async fn wait_for_memory(addr: std::net::SocketAddr, admin_token: &str) -> Result<()> {
    for _ in 0..400 {
        let mut sender = connect(addr).await?;
        let req = hyper::Request::get("/metrics")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {admin_token}"))
            .body(Full::new(Bytes::new()))?;
        let body = send(&mut sender, req)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        if text
            .lines()
            .any(|l| l == "herdgate_sold_out_sales_in_memory 1")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("the origin never answered the sold-out sale from memory")
}

/// The baseline: `redis-benchmark` calling `EVALSHA` of the purchase script with the keys and
/// arguments the origin's store builds (visitor and pass id drawn per call by redis-benchmark),
/// so both sides run the same script on the same work. Fails if any call got an error.
fn redis_benchmark(port: u16, sha: &str, n: usize, c: usize) -> Result<Run> {
    let sale = SaleId::parse("rb")?;
    let visitor = VisitorId::parse("v__rand_int__")?;
    let facts = serde_json::to_string(&RecordedFacts::default())?;
    let call = PurchaseCall {
        sale: &sale,
        visitor: &visitor,
        // redis-benchmark puts 12 digits here: a valid hex pass id.
        pass_id: "__rand_int__",
        quantity: 1,
        now_ms: now_ms(),
        channel: herdgate_origin::config::DEFAULT_EVENTS_CHANNEL,
        facts: &facts,
        hold: "",
    };
    let (keys, args) = call.keys_and_args();
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args([
            "-c",
            &c.to_string(),
            "-n",
            &n.to_string(),
            "-r",
            "1000000000",
            "--csv",
            // Print the server's errors: a script error must fail the baseline, not speed it up.
            "-e",
        ])
        .args(["EVALSHA", sha, &keys.len().to_string()])
        .args(&keys)
        .args(&args)
        .output()
        .context("running redis-benchmark (apt-get install redis-tools)")?;
    ensure!(out.status.success(), "redis-benchmark failed");
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(error) = text.lines().find(|l| l.contains("rror")) {
        bail!("redis-benchmark's calls failed: {error}");
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("\"EVALSHA"))
        .context("no EVALSHA line in redis-benchmark's output")?;
    let f: Vec<f64> = line
        .split("\",\"")
        .skip(1)
        .filter_map(|v| v.trim_matches('"').parse().ok())
        .collect();
    ensure!(f.len() >= 6, "unexpected redis-benchmark line: {line}");
    Ok(Run {
        name: "",
        failed: 0,
        requests: n,
        rps: f[0],
        p50_ms: f[3],
        p99_ms: f[5],
    })
}

/// The origin section: the command, the table of the three runs and the CPU time per purchase.
fn markdown(
    runs: &[Run],
    n: usize,
    c: usize,
    origin_cpu: f64,
    redis_cpu: f64,
    redis_cpu_baseline: f64,
) -> String {
    let base = runs[0].rps;
    let purchase = runs[1].rps;
    let mut s = String::new();
    s.push_str(&format!(
        "Command: `scripts/bench-origin.sh` (builds release binaries, then \
         `target/release/herdgate-bench origin --requests {n} --concurrency {c} --write BENCHMARKS.md`).\n\
         All three runs share one redis-server (shipped `redis/redis.conf`: AOF, `appendfsync always`) \
         and one machine ({} cores); the load generators run on the same cores.\n\n",
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0)
    ));
    s.push_str("| run | requests | concurrency | req/s | p50 ms | p99 ms | ratio |\n|---|---:|---:|---:|---:|---:|---|\n");
    for (i, r) in runs.iter().enumerate() {
        let ratio = match i {
            0 => "baseline".to_owned(),
            1 => format!("{:.2}× baseline", r.rps / base),
            _ => format!(
                "{:.2}× origin purchase ({:.2}× baseline)",
                r.rps / purchase,
                r.rps / base
            ),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.3} | {:.3} | {} |\n",
            r.name, r.requests, c, r.rps, r.p50_ms, r.p99_ms, ratio
        ));
    }
    let failed: usize = runs.iter().map(|r| r.failed).sum();
    if failed > 0 {
        s.push_str(&format!(
            "\n{failed} requests got no answer (connection reset) and were not counted.\n"
        ));
    }
    s.push_str(&format!(
        "\nCPU time during the origin purchase run: origin {:.2} s, redis-server {:.2} s \
         ({:.1} µs and {:.1} µs per purchase); redis-server during the baseline: {:.2} s ({:.1} µs per EVALSHA).\n",
        origin_cpu,
        redis_cpu,
        origin_cpu * 1e6 / runs[1].requests as f64,
        redis_cpu * 1e6 / runs[1].requests as f64,
        redis_cpu_baseline,
        redis_cpu_baseline * 1e6 / runs[0].requests as f64,
    ));
    s
}
