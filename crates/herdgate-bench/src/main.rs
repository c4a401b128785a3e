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
//! `herdgate-bench edge` serves the built edge worker and a trivial JavaScript worker under
//! workerd and compares their status-poll throughput over interleaved rounds; it also times
//! one pass verification natively.
//!
//! `herdgate-bench capture` measures what capturing a card hold adds to a winner's purchase
//! at the origin, against the same purchase without a hold (see [`capture`]).
//!
//! Each prints its figures and, with `--write BENCHMARKS.md`, replaces its section of that file
//! (see [`sections`]) with them and the command that produced them.

mod capture;
mod sections;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use herdgate_core::{SaleId, VisitorId};
use herdgate_origin::store::{PurchaseCall, RecordedFacts};
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
    /// The Rust worker's status poll against a trivial JavaScript worker under the same
    /// workerd, and the CPU cost of one pass verification.
    Edge(EdgeArgs),
    /// A winner's purchase that captures a card hold (localstripe) against the same purchase
    /// without one.
    Capture(capture::CaptureArgs),
}

#[derive(clap::Args)]
struct EdgeArgs {
    /// Status polls per measured run.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Connections open at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Queue tickets the polls cycle through.
    #[arg(long, default_value_t = 200)]
    tickets: usize,
    /// Rounds of the three interleaved runs.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Write the results into this markdown file's edge section.
    #[arg(long)]
    write: Option<PathBuf>,
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
    let cli = Cli::parse();
    // Checked before anything is measured: a missing marker must not cost a run's figures.
    let (write, section) = match &cli {
        Cli::Origin(a) => (a.write.as_deref(), "origin"),
        Cli::Edge(a) => (a.write.as_deref(), "edge"),
        Cli::Capture(a) => (a.write.as_deref(), "capture"),
    };
    if let Some(path) = write {
        sections::check(path, &[section])?;
    }
    match cli {
        Cli::Origin(args) => origin(args).await,
        Cli::Edge(args) => edge(args).await,
        Cli::Capture(args) => capture::run(args).await,
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

/// One measured run.
struct Run {
    name: &'static str,
    requests: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Requests that got no answer (the connection was reset); counted, reconnected, reported.
    failed: usize,
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

async fn connect(
    addr: std::net::SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Creates a sale open since a minute ago, admitting 1000/s.
/// One HTTP/1.1 connection of the load generator.
type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Sends `req` once the connection can take it.
async fn send(
    sender: &mut Sender,
    req: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    sender.ready().await?;
    Ok(sender.send_request(req).await?)
}

/// Creates a sale open since a minute ago, admitting 1000/s.
async fn create_sale(
    addr: std::net::SocketAddr,
    keys: &TestKeys,
    sale: &str,
    stock: u64,
) -> Result<()> {
    create_sale_at(addr, keys, sale, stock, now_ms() - 60_000, 1000).await
}

async fn create_sale_at(
    addr: std::net::SocketAddr,
    keys: &TestKeys,
    sale: &str,
    stock: u64,
    starts_at_ms: u64,
    rate: u32,
) -> Result<()> {
    let mut sender = connect(addr).await?;
    let body = serde_json::json!({
        "stock": stock, "per_visitor_limit": 1,
        "starts_at_ms": starts_at_ms, "admission_rate": rate,
    });
    let req = hyper::Request::put(format!("/admin/v1/sales/{sale}"))
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {}", keys.admin_token))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let res = send(&mut sender, req).await?;
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
    let n = passes.len();
    let spec = LoadSpec {
        method: hyper::Method::POST,
        path: path.to_owned(),
        credentials: passes.into_iter().map(|p| (p, None)).collect(),
        requests: n,
        want,
    };
    load_spec(addr, Arc::new(spec), c).await
}

/// A closed-loop load: `requests` requests, the i-th with credentials `i % len`.
struct LoadSpec {
    method: hyper::Method,
    path: String,
    /// `Authorization: Bearer` token and an optional `User-Agent`.
    credentials: Vec<(String, Option<String>)>,
    requests: usize,
    want: u16,
}

async fn load_spec(addr: std::net::SocketAddr, spec: Arc<LoadSpec>, c: usize) -> Result<Run> {
    ensure!(!spec.credentials.is_empty(), "no credentials to send");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(c);
    for _ in 0..c {
        let (spec, next) = (Arc::clone(&spec), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut sender = connect(addr).await?;
            let mut failed = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= spec.requests {
                    break;
                }
                let (token, ua) = &spec.credentials[i % spec.credentials.len()];
                let mut req = hyper::Request::builder()
                    .method(spec.method.clone())
                    .uri(spec.path.as_str())
                    .header("host", "127.0.0.1")
                    .header("authorization", format!("Bearer {token}"));
                if let Some(ua) = ua {
                    req = req.header("user-agent", ua.as_str());
                }
                let req = req.body(Full::new(Bytes::new()))?;
                let t = Instant::now();
                let answer = match send(&mut sender, req).await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        res.into_body()
                            .collect()
                            .await
                            .map(|_| status)
                            .map_err(anyhow::Error::from)
                    }
                    Err(e) => Err(e),
                };
                let status = match answer {
                    Ok(status) => status,
                    Err(e) => {
                        failed += 1;
                        if failed == 1 {
                            eprintln!(
                                "{}: a request got no answer ({e:#}); reconnecting",
                                spec.path
                            );
                        }
                        sender = connect(addr).await?;
                        continue;
                    }
                };
                hist.record(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX))?;
                if status != spec.want {
                    bail!("{}: expected {}, got {status}", spec.path, spec.want);
                }
            }
            anyhow::Ok((hist, failed))
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut failed = 0;
    for t in tasks {
        let (hist, f) = t.await??;
        all.add(hist)?;
        failed += f;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(Run {
        name: "",
        failed,
        requests: spec.requests,
        rps: spec.requests as f64 / secs,
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

const UA: &str = "herdgate-bench/1";

/// Joins `n` visitors to `sale` through the edge (challenge, native proof-of-work, join) and
/// returns their tickets.
async fn join_tickets(edge: std::net::SocketAddr, sale: &str, n: usize) -> Result<Vec<String>> {
    let mut sender = connect(edge).await?;
    let mut tickets = Vec::with_capacity(n);
    for i in 0..n {
        if i % 50 == 49 {
            eprintln!("joined {i}");
        }
        let req = hyper::Request::post(format!("/api/v1/sales/{sale}/challenge"))
            .header("host", "127.0.0.1")
            .header("user-agent", UA)
            .body(Full::new(Bytes::new()))?;
        let body = send(&mut sender, req)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        let ch: herdgate_core::wire::ChallengeResponse = serde_json::from_slice(&body)
            .with_context(|| format!("challenge: {}", String::from_utf8_lossy(&body)))?;
        let nonce = herdgate_core::pow::solve(&ch.challenge, ch.bits, 0..u64::MAX)
            .context("no nonce solves the challenge")?;
        let join = serde_json::json!({"challenge": ch.challenge, "nonce": nonce});
        let req = hyper::Request::post(format!("/api/v1/sales/{sale}/join"))
            .header("host", "127.0.0.1")
            .header("user-agent", UA)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(join.to_string())))?;
        let body = send(&mut sender, req)
            .await?
            .into_body()
            .collect()
            .await?
            .to_bytes();
        let joined: herdgate_core::wire::JoinResponse = serde_json::from_slice(&body)
            .with_context(|| format!("join: {}", String::from_utf8_lossy(&body)))?;
        tickets.push(joined.ticket);
    }
    Ok(tickets)
}

fn url_addr(url: &str) -> Result<std::net::SocketAddr> {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    hostport
        .parse()
        .with_context(|| format!("not host:port: {url}"))
}

async fn edge(args: EdgeArgs) -> Result<()> {
    let origin_bin = origin_binary(None)?;
    let redis = RedisServer::start().await?;
    let keys = TestKeys::generate();
    let origin = OriginProcess::start(&origin_bin, &redis.url(), &keys, &[]).await?;
    let fresh = TestKeys::generate().spec;
    let ticket_keys = format!(
        "e1:{}",
        fresh.split_once(':').map(|(_, s)| s).unwrap_or_default()
    );
    let edge = herdgate_testkit::EdgeWorker::start(&serde_json::json!({
        "ORIGIN_URL": origin.url(),
        "TICKET_KEYS": ticket_keys,
        "PASS_KEYS": keys.spec,
        "ADMIN_TOKEN": keys.admin_token,
        "POW_BITS": "8",
        // The benchmark joins all its tickets from one client to set up; the status poll it
        // measures touches neither the join limits nor the adaptive difficulty.
        "JOINS_PER_DEVICE": "0",
        "JOINS_PER_NETWORK": "0",
        "POW_ADAPTIVE": "off",
    }))
    .await?;
    let trivial = herdgate_testkit::EdgeWorker::start_script(
        &herdgate_testkit::repo_root().join("crates/herdgate-bench/trivial-worker.mjs"),
    )
    .await?;
    let (edge_addr, trivial_addr) = (url_addr(edge.url())?, url_addr(trivial.url())?);
    eprintln!(
        "rust worker {}, trivial worker {}, origin {}",
        edge.url(),
        trivial.url(),
        origin.url()
    );

    // "queued": the sale opens in an hour, so every poll answers "queued" (the hot path:
    // verify the ticket, read the isolate's cached state and control). "admitted": open
    // since a minute at 1000/s, so every poll also signs a pass.
    create_sale_at(
        origin.addr(),
        &keys,
        "queued",
        1_000,
        now_ms() + 3_600_000,
        100,
    )
    .await?;
    create_sale_at(
        origin.addr(),
        &keys,
        "admitted",
        1_000_000,
        now_ms() - 60_000,
        1_000,
    )
    .await?;
    let queued = join_tickets(edge_addr, "queued", args.tickets)
        .await
        .context("joining the queued sale")?;
    let admitted = join_tickets(edge_addr, "admitted", args.tickets)
        .await
        .context("joining the admitted sale")?;

    let spec = |path: &str, tickets: &[String], requests: usize| {
        Arc::new(LoadSpec {
            method: hyper::Method::GET,
            path: path.to_owned(),
            credentials: tickets
                .iter()
                .map(|t| (t.clone(), Some(UA.to_owned())))
                .collect(),
            requests,
            want: 200,
        })
    };
    let (n, c) = (args.requests, args.concurrency);
    let warm = n.min(3_000);
    let queued_path = "/api/v1/sales/queued/status";
    let admitted_path = "/api/v1/sales/admitted/status";
    let phases = [
        (
            "warming the trivial worker",
            trivial_addr,
            queued_path,
            &queued,
            warm,
        ),
        (
            "warming: queued polls",
            edge_addr,
            queued_path,
            &queued,
            warm,
        ),
        (
            "warming: admitted polls",
            edge_addr,
            admitted_path,
            &admitted,
            warm,
        ),
        ("trivial worker", trivial_addr, queued_path, &queued, n),
        ("queued polls", edge_addr, queued_path, &queued, n),
        ("admitted polls", edge_addr, admitted_path, &admitted, n),
    ];
    // Warm up, then interleave the three runs over `rounds` rounds, so that drift on the
    // machine hits all three alike; the report gives each run's median round.
    for (name, addr, path, tickets, requests) in &phases[..3] {
        load_spec(*addr, spec(path, tickets, *requests), c)
            .await
            .context(*name)?;
    }
    let mut rounds: Vec<[Run; 3]> = Vec::new();
    for _ in 0..args.rounds.max(1) {
        let mut round = Vec::new();
        for (name, addr, path, tickets, requests) in &phases[3..] {
            round.push(
                load_spec(*addr, spec(path, tickets, *requests), c)
                    .await
                    .context(*name)?,
            );
        }
        let [base, poll, adm]: [Run; 3] =
            round.try_into().map_err(|_| anyhow::anyhow!("3 runs"))?;
        rounds.push([base, poll, adm]);
    }
    let ratios = |i: usize| -> Vec<f64> {
        let mut v: Vec<f64> = rounds.iter().map(|r| r[i].rps / r[0].rps).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (queued_ratios, admitted_ratios) = (ratios(1), ratios(2));
    let median = |v: &[f64]| v[v.len() / 2];
    // The round whose queued ratio is the median stands for all in the table.
    let mid = rounds
        .iter()
        .position(|r| r[1].rps / r[0].rps == median(&queued_ratios))
        .unwrap_or(0);
    let no_answer: usize = rounds.iter().flatten().map(|r| r.failed).sum();
    let all_requests: usize = rounds.iter().flatten().map(|r| r.requests).sum();
    let [base, poll, adm] = rounds.swap_remove(mid);

    // One pass verification, natively (the same code the worker and the origin run).
    let sale = SaleId::parse("admitted").context("sale id")?;
    let pass = keys.pass(&sale, &VisitorId::parse("bench").context("visitor id")?);
    let check = herdgate_core::Check {
        sale: &sale,
        now: now_ms() / 1000,
        leeway: 5,
    };
    let rounds = 200_000u32;
    let t = Instant::now();
    for _ in 0..rounds {
        let v = keys
            .keyring
            .verify::<herdgate_core::PassClaims>(std::hint::black_box(&pass), &check);
        ensure!(v.is_ok(), "the pass does not verify");
    }
    let verify_ns = t.elapsed().as_nanos() as f64 / f64::from(rounds);

    let runs = [
        Run {
            name: "trivial JavaScript worker (baseline)",
            ..base
        },
        Run {
            name: "Rust worker: status poll, queued",
            ..poll
        },
        Run {
            name: "Rust worker: status poll, admitted (signs a pass)",
            ..adm
        },
    ];
    let mut r = String::new();
    r.push_str(&format!(
        "Command: `scripts/bench-edge.sh` (builds the worker and release binaries, then \
         `target/release/herdgate-bench edge --requests {n} --concurrency {c} --tickets {} --rounds {} --write BENCHMARKS.md`).\n\
         Each worker runs in its own workerd process of the same build (Miniflare 4, \
         `edge-worker/serve-local.mjs`); runs take turns, on this machine's {} cores, with the load \
         generator on the same cores.\n\n",
        args.tickets,
        args.rounds,
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0)
    ));
    r.push_str("| run | requests | concurrency | req/s | p50 ms | p99 ms | no answer | ratio |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (i, run) in runs.iter().enumerate() {
        let ratio = if i == 0 {
            "baseline".to_owned()
        } else {
            format!("{:.2}× baseline", run.rps / runs[0].rps)
        };
        r.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {} |\n",
            run.name, run.requests, c, run.rps, run.p50_ms, run.p99_ms, run.failed, ratio
        ));
    }
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    r.push_str(&format!(
        "\nThe table shows the median of {} interleaved rounds (by the queued ratio). Ratios of every \
         round, sorted: queued {} (median {:.2}×); admitted {} (median {:.2}×).\n",
        queued_ratios.len(),
        show(&queued_ratios),
        median(&queued_ratios),
        show(&admitted_ratios),
        median(&admitted_ratios),
    ));
    r.push_str(&format!(
        "\nOver all rounds, {no_answer} of {all_requests} requests got no answer (workerd reset \
         the connection; the load generator counts them, reconnects and goes on).\n"
    ));
    r.push_str(&format!(
        "\nPass verification (parse, HMAC-SHA256 in constant time, claims, window), native x86-64 \
         release build: {verify_ns:.0} ns per pass ({rounds} rounds).\n"
    ));
    sections::publish(args.write.as_deref(), "edge", &r)
}

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
