//! The closed-loop HTTP load generator the origin and edge benchmarks share, and the admin
//! call that sets up their sales.
//!
//! Like `redis-benchmark`, each of `c` connections sends its next request only when the
//! previous one was answered, so every run measures throughput at a fixed concurrency.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, ensure, Context as _, Result};
use hdrhistogram::Histogram;
use herdgate_core::wire::SaleConfig;
use herdgate_testkit::{now_ms, AdminClient, TestKeys};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// One measured run.
pub struct Run {
    /// The run's row name in the table (set by the benchmark after the run).
    pub name: &'static str,
    /// Requests sent.
    pub requests: usize,
    /// Requests per second over the whole run.
    pub rps: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Requests that got no answer (the connection was reset); counted, reconnected, reported.
    pub failed: usize,
}

/// Opens one HTTP/1.1 connection to `addr`, without Nagle's delay.
pub async fn connect(addr: SocketAddr) -> Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// One HTTP/1.1 connection of the load generator.
pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Sends `req` once the connection can take it.
pub async fn send(
    sender: &mut Sender,
    req: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>> {
    sender.ready().await?;
    Ok(sender.send_request(req).await?)
}

/// Creates a sale open since a minute ago, admitting 1000/s.
pub async fn create_sale(origin: &str, keys: &TestKeys, sale: &str, stock: u64) -> Result<()> {
    create_sale_at(origin, keys, sale, stock, now_ms() - 60_000, 1000).await
}

/// Creates (or updates) a sale of `stock` items starting at `starts_at_ms`, admitting `rate`
/// per second, through the testkit's admin client.
pub async fn create_sale_at(
    origin: &str,
    keys: &TestKeys,
    sale: &str,
    stock: u64,
    starts_at_ms: u64,
    rate: u32,
) -> Result<()> {
    let admin = AdminClient::new(reqwest::Client::new(), origin, &keys.admin_token);
    let config = SaleConfig {
        stock,
        per_visitor_limit: 1,
        starts_at_ms,
        admission_rate: rate,
        price: None,
        paused: None,
        prequeue: None,
        stock_shards: None,
        countries: Vec::new(),
    };
    admin
        .put_sale(sale, &config)
        .await
        .with_context(|| format!("creating {sale}"))?;
    Ok(())
}

/// Sends one POST per pass over `c` keep-alive connections (closed loop, like
/// redis-benchmark) and checks every answer has status `want`.
pub async fn load(
    addr: SocketAddr,
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
        proof: None,
        requests: n,
        want,
    };
    load_spec(addr, Arc::new(spec), c).await
}

/// A closed-loop load: `requests` requests, the i-th with credentials `i % len`.
pub struct LoadSpec {
    /// The request's method.
    pub method: hyper::Method,
    /// The request's path.
    pub path: String,
    /// `Authorization: Bearer` token and an optional `User-Agent`.
    pub credentials: Vec<(String, Option<String>)>,
    /// The `DPoP` proof for the request with credentials `i`, if requests carry one.
    pub proof: Option<Arc<dyn Fn(usize) -> String + Send + Sync>>,
    /// Requests to send.
    pub requests: usize,
    /// The status every answer must have.
    pub want: u16,
}

/// Runs `spec` over `c` keep-alive connections and measures it.
pub async fn load_spec(addr: SocketAddr, spec: Arc<LoadSpec>, c: usize) -> Result<Run> {
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
                    .header("host", addr.to_string())
                    .header("authorization", format!("Bearer {token}"));
                if let Some(proof) = &spec.proof {
                    req = req.header("dpop", proof(i % spec.credentials.len()));
                }
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
