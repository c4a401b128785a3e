//! `herdgate-bench`: benchmarks that measure herdgate against a baseline in the same run.
//!
//! `herdgate-bench origin` starts its own redis-server (the shipped configuration) and the
//! release `herdgate-origin` binary as a separate process, then measures, at the same
//! concurrency and request count:
//!
//! 1. the baseline: `redis-benchmark` running `EVALSHA` of `lua/purchase.lua` unpipelined;
//! 2. the origin's purchase path over HTTP (pass verification + the same script), 201s;
//! 3. the origin's sold-out path over HTTP (pass verification, answered from memory), 409s.
//!
//! It prints the figures and, with `--write BENCHMARKS.md`, replaces the origin section of
//! that file with them and the command that produced them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use herdgate_core::{SaleId, VisitorId};
use herdgate_testkit::{now_ms, OriginProcess, RedisServer, TestKeys};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

#[derive(Parser)]
#[command(
    name = "herdgate-bench",
    about = "herdgate benchmarks against same-run baselines"
)]
enum Cli {
    /// Origin purchase and sold-out paths against redis-benchmark EVALSHA of the same script.
    Origin(OriginArgs),
    /// A local flash sale: N buyers with admission passes for M items, all at once, against
    /// its own redis-server and origin; prints what sold and checks the books.
    FlashSale(FlashSaleArgs),
}

#[derive(clap::Args)]
struct FlashSaleArgs {
    /// Buyers, each with their own admission pass.
    #[arg(long, default_value_t = 20_000)]
    buyers: usize,
    /// Items on sale.
    #[arg(long, default_value_t = 1_000)]
    items: u64,
    /// HTTP connections open at once.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// The herdgate-origin binary (default: next to this one).
    #[arg(long)]
    origin_bin: Option<PathBuf>,
}

#[derive(clap::Args)]
struct OriginArgs {
    /// Requests per measured run.
    #[arg(long, default_value_t = 50_000)]
    requests: usize,
    /// Connections open at once (redis-benchmark -c, HTTP keep-alive connections).
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// The herdgate-origin binary (default: next to this one).
    #[arg(long)]
    origin_bin: Option<PathBuf>,
    /// Redis connections of the origin (`--redis-pool-size`; the origin's default is 2).
    #[arg(long, default_value_t = 2)]
    redis_pool_size: usize,
    /// Runtime worker threads of the origin (`--worker-threads`; default: one per core).
    #[arg(long)]
    worker_threads: Option<usize>,
    /// Write the results into this markdown file's origin section.
    #[arg(long)]
    write: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse() {
        Cli::Origin(args) => origin(args).await,
        Cli::FlashSale(args) => flash_sale(args).await,
    }
}

fn origin_binary(given: Option<PathBuf>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("no parent directory")?
            .join("herdgate-origin"),
    };
    ensure!(
        path.exists(),
        "{} not found: build it with cargo build --release -p herdgate-origin",
        path.display()
    );
    Ok(path)
}

async fn flash_sale(args: FlashSaleArgs) -> Result<()> {
    let origin_bin = origin_binary(args.origin_bin)?;
    let redis = RedisServer::start().await?;
    let keys = TestKeys::generate();
    let origin = OriginProcess::start(&origin_bin, &redis.url(), &keys, &[]).await?;
    println!(
        "redis-server  {} (pid {}, AOF in {})",
        redis.url(),
        redis.pid().unwrap_or(0),
        redis.dir().display()
    );
    println!("origin        {} (pid {})", origin.url(), origin.pid());
    create_sale(origin.addr(), &keys, "flash", args.items).await?;
    let buyers = passes(&keys, "flash", "buyer", args.buyers);
    println!(
        "sale `flash`: {} items, {} buyers with passes, {} connections",
        args.items, args.buyers, args.connections
    );

    let passes = Arc::new(buyers);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (passes, next, addr) = (Arc::clone(&passes), Arc::clone(&next), origin.addr());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await?;
            let mut statuses: Vec<(u16, usize, f64)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pass) = passes.get(i) else { break };
                let req = hyper::Request::post("/v1/sales/flash/purchase")
                    .header("host", "127.0.0.1")
                    .header("authorization", format!("Bearer {pass}"))
                    .body(Full::new(Bytes::new()))?;
                let res = sender.send_request(req).await?;
                let status = res.status().as_u16();
                res.into_body().collect().await?;
                statuses.push((status, i, started.elapsed().as_secs_f64()));
            }
            anyhow::Ok(statuses)
        }));
    }
    let mut all = Vec::with_capacity(passes.len());
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let created: Vec<_> = all.iter().filter(|(s, _, _)| *s == 201).collect();
    let sold_out = all.iter().filter(|(s, _, _)| *s == 409).count();
    let other = all.len() - created.len() - sold_out;
    let sold_out_at = created.iter().map(|(_, _, t)| *t).fold(0.0, f64::max);

    let client = redis.client().await?;
    let v: Vec<u64> = fred::interfaces::HashesInterface::hmget(
        &client,
        "hg:{flash}:sale",
        vec!["remaining", "sold", "stock"],
    )
    .await?;
    let orders: u64 = fred::interfaces::HashesInterface::hlen(&client, "hg:{flash}:orders").await?;
    let (remaining, sold, stock) = (v[0], v[1], v[2]);
    println!();
    println!(
        "answered            {} purchases in {elapsed:.2} s ({:.0}/s)",
        all.len(),
        all.len() as f64 / elapsed
    );
    println!("orders (201)        {}", created.len());
    println!("sold out (409)      {sold_out}");
    println!("other answers       {other}");
    println!("last item sold at   {sold_out_at:.2} s");
    println!("redis: stock {stock}, sold {sold}, remaining {remaining}, orders {orders}");
    let oversold = sold.saturating_sub(stock);
    println!("oversold            {oversold}");
    ensure!(
        oversold == 0 && sold + remaining == stock,
        "the books do not balance"
    );
    ensure!(
        orders == sold && created.len() as u64 == sold,
        "orders and sales disagree"
    );
    ensure!(other == 0, "{other} purchases got an unexpected answer");
    println!("\nOK: every item sold exactly once; everyone else was told it sold out.");
    Ok(())
}

/// One measured run.
struct Run {
    name: &'static str,
    requests: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn origin(args: OriginArgs) -> Result<()> {
    let origin_bin = origin_binary(args.origin_bin)?;
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
        create_sale(origin.addr(), &keys, sale, stock).await?;
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
    wait_for_memory(origin.addr()).await?;
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
    println!("{report}");
    if let Some(path) = args.write {
        write_section(&path, &report)?;
        eprintln!("wrote {}", path.display());
    }
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

async fn connect(
    addr: std::net::SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn create_sale(
    addr: std::net::SocketAddr,
    keys: &TestKeys,
    sale: &str,
    stock: u64,
) -> Result<()> {
    let mut sender = connect(addr).await?;
    let body = serde_json::json!({
        "stock": stock, "per_visitor_limit": 1,
        "starts_at_ms": now_ms() - 60_000, "admission_rate": 1000,
    });
    let req = hyper::Request::put(format!("/admin/v1/sales/{sale}"))
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {}", keys.admin_token))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let res = sender.send_request(req).await?;
    ensure!(
        res.status().is_success(),
        "creating {sale}: {}",
        res.status()
    );
    Ok(())
}

/// Sends one POST per pass over `c` keep-alive connections (closed loop, like
/// redis-benchmark) and checks every answer has status `want`.
async fn load(
    addr: std::net::SocketAddr,
    path: &'static str,
    passes: Vec<String>,
    c: usize,
    want: u16,
) -> Result<Run> {
    let passes = Arc::new(passes);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(c);
    for _ in 0..c {
        let (passes, next) = (Arc::clone(&passes), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut sender = connect(addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(pass) = passes.get(i) else { break };
                let req = hyper::Request::post(path)
                    .header("host", "127.0.0.1")
                    .header("authorization", format!("Bearer {pass}"))
                    .body(Full::new(Bytes::new()))?;
                let t = Instant::now();
                let res = sender.send_request(req).await?;
                let status = res.status().as_u16();
                res.into_body().collect().await?;
                hist.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX))?;
                if status != want {
                    bail!("{path}: expected {want}, got {status}");
                }
            }
            anyhow::Ok(hist)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        all.add(t.await??)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let requests = passes.len();
    Ok(Run {
        name: "",
        requests,
        rps: requests as f64 / secs,
        p50_ms: all.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

async fn wait_for_memory(addr: std::net::SocketAddr) -> Result<()> {
    for _ in 0..400 {
        let mut sender = connect(addr).await?;
        let req = hyper::Request::get("/metrics")
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::new()))?;
        let body = sender
            .send_request(req)
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

fn redis_benchmark(port: u16, sha: &str, n: usize, c: usize) -> Result<Run> {
    let now = now_ms().to_string();
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
        ])
        .args(["EVALSHA", sha, "4"])
        .args([
            "hg:{rb}:sale",
            "hg:{rb}:orders",
            "hg:{rb}:passes",
            "hg:{rb}:log",
        ])
        .args([
            "v__rand_int__",
            "__rand_int__",
            "1",
            &now,
            "rb",
            "herdgate:sale-events",
        ])
        .output()
        .context("running redis-benchmark (apt-get install redis-tools)")?;
    ensure!(out.status.success(), "redis-benchmark failed");
    let text = String::from_utf8_lossy(&out.stdout);
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
        requests: n,
        rps: f[0],
        p50_ms: f[3],
        p99_ms: f[5],
    })
}

/// CPU seconds (user + system) a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

const START: &str = "<!-- bench:origin:start -->";
const END: &str = "<!-- bench:origin:end -->";

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

fn write_section(path: &Path, report: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{START}\n{report}{END}");
    let new = match (old.find(START), old.find(END)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &old[..a], &old[b + END.len()..]),
        _ => format!("{old}\n{section}\n"),
    };
    std::fs::write(path, new)?;
    Ok(())
}
