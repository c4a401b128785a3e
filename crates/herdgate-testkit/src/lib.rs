//! Real processes for herdgate's tests and benchmarks.
//!
//! - [`RedisServer`]: a `redis-server` started with the shipped `redis/redis.conf` on a free
//!   loopback port in a temporary directory, stopped by PID when dropped. It can be killed
//!   with SIGKILL and restarted from its files, for durability tests.
//! - [`TestOrigin`]: the origin served in-process on `127.0.0.1:0`, stopped when dropped.
//! - [`OriginProcess`]: the `herdgate-origin` binary as a child process on a free port, for
//!   benchmarks and demos where the origin must not share a runtime with the load.
//! - [`EdgeWorker`]: the built edge worker under workerd (via Miniflare and
//!   `edge-worker/serve-local.mjs`) on a free loopback port, stopped with its process group.
//! - [`TestKeys`]: a fresh pass keyring and admin token per test, and a minting helper.
//!
//! Nothing here binds a fixed port or talks to anything but 127.0.0.1, and every wait is
//! bounded.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fred::prelude::*;
use herdgate_core::{Keyring, PassClaims, SaleId, VisitorId};
use rand::RngCore as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The repository's root (where `redis/redis.conf` and `lua/` live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = StdListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// A `redis-server` process of the test's own.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts redis-server with the shipped configuration on a free port.
    pub async fn start() -> Result<Self> {
        Self::start_with(&[]).await
    }

    /// Starts redis-server with the shipped configuration plus `extra` directives
    /// (e.g. `["--appendfsync", "everysec"]`).
    pub async fn start_with(extra: &[&str]) -> Result<Self> {
        let mut last_err = None;
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port()?,
                dir: tempfile::Builder::new()
                    .prefix("herdgate-redis-")
                    .tempdir()
                    .context("creating a directory for redis")?,
                extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            };
            // Most likely failure: the port was taken between probing and binding. The failed
            // server is stopped when dropped; try another port.
            match server.spawn().await {
                Ok(()) => return Ok(server),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    async fn spawn(&mut self) -> Result<()> {
        let conf = repo_root().join("redis/redis.conf");
        let log = self.dir.path().join("redis.log");
        let mut cmd = Command::new("redis-server");
        cmd.arg(&conf)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(["--daemonize", "no"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .context("starting redis-server (is it installed? scripts/setup.sh installs it)")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    bail!("redis-server exited with {status}: {log}");
                }
            }
            if ping(self.port).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("redis-server on port {} not ready within 15 s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The directory holding the append-only file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL (by PID) and reaps it: no shutdown, no final fsync.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port from the same files.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.spawn().await
    }

    /// A connected client for inspecting the server.
    pub async fn client(&self) -> Result<Client> {
        let client = Builder::from_config(Config::from_url(&self.url())?).build()?;
        client.init().await?;
        Ok(client)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(Ok(mut s)) = tokio::time::timeout(
        Duration::from_millis(500),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].starts_with(b"+PONG"),
        _ => false,
    }
}

/// A fresh pass keyring and admin token.
#[derive(Clone)]
pub struct TestKeys {
    /// The keyring spec, as `--pass-keys` takes it.
    pub spec: String,
    /// The keyring.
    pub keyring: Keyring,
    /// The admin bearer token.
    pub admin_token: String,
}

impl TestKeys {
    /// Random keys (kid `t1`).
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        let spec = format!("t1:{}", URL_SAFE_NO_PAD.encode(secret));
        let mut admin = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut admin);
        TestKeys {
            keyring: Keyring::parse(&spec).expect("a random 32-byte secret makes a valid keyring"),
            spec,
            admin_token: hex::encode(admin),
        }
    }

    /// The claims of a pass for `visitor` in `sale`, valid from a minute ago for five minutes.
    pub fn pass_claims(&self, sale: &SaleId, visitor: &VisitorId) -> PassClaims {
        let now = now_ms() / 1000;
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        PassClaims {
            sale: sale.clone(),
            visitor: visitor.clone(),
            id: hex::encode(id),
            position: 0,
            client: String::new(),
            slice: now / 10,
            nbf: now.saturating_sub(60),
            exp: now + 300,
            net: String::new(),
            dev: String::new(),
            adm: 0,
            rcv: 0,
            shr: false,
            hold: String::new(),
            hat: 0,
        }
    }

    /// A signed pass for `visitor` in `sale`.
    pub fn pass(&self, sale: &SaleId, visitor: &VisitorId) -> String {
        self.keyring.sign(&self.pass_claims(sale, visitor))
    }
}

/// Options for a [`TestOrigin`] beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct OriginOptions {
    /// `--max-in-flight`.
    pub max_in_flight: Option<usize>,
    /// `--redis-timeout-ms`.
    pub redis_timeout_ms: Option<u64>,
    /// `--max-body-bytes`.
    pub max_body_bytes: Option<usize>,
    /// `--redis-pool-size`.
    pub redis_pool_size: Option<usize>,
    /// `--stripe-api-base` (with [`Localstripe::SECRET_KEY`]): card holds on.
    pub stripe_api_base: Option<String>,
    /// `--hold-max-age-secs`.
    pub hold_max_age_secs: Option<u64>,
}

/// The origin, served in-process on 127.0.0.1:0.
pub struct TestOrigin {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestOrigin {
    /// Starts an origin against `redis_url` and waits until `/readyz` says ready (at most 15 s).
    pub async fn start(redis_url: &str, keys: &TestKeys, opts: OriginOptions) -> Result<Self> {
        let origin = Self::start_unready(redis_url, keys, opts).await?;
        origin.wait_ready(Duration::from_secs(15)).await?;
        Ok(origin)
    }

    /// Starts an origin without waiting for Redis.
    pub async fn start_unready(
        redis_url: &str,
        keys: &TestKeys,
        opts: OriginOptions,
    ) -> Result<Self> {
        // `--flag=value`, so a value that starts with '-' is never read as a flag.
        let mut args = vec![
            "herdgate-origin".to_owned(),
            format!("--redis-url={redis_url}"),
            format!("--pass-keys={}", keys.spec),
            format!("--admin-token={}", keys.admin_token),
        ];
        if let Some(n) = opts.max_in_flight {
            args.push(format!("--max-in-flight={n}"));
        }
        if let Some(n) = opts.redis_timeout_ms {
            args.push(format!("--redis-timeout-ms={n}"));
        }
        if let Some(n) = opts.max_body_bytes {
            args.push(format!("--max-body-bytes={n}"));
        }
        if let Some(n) = opts.redis_pool_size {
            args.push(format!("--redis-pool-size={n}"));
        }
        if let Some(base) = &opts.stripe_api_base {
            args.push(format!("--stripe-api-base={base}"));
            args.push(format!("--stripe-secret-key={}", Localstripe::SECRET_KEY));
        }
        if let Some(n) = opts.hold_max_age_secs {
            args.push(format!("--hold-max-age-secs={n}"));
        }
        let config = <herdgate_origin::Config as clap::Parser>::try_parse_from(args)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = herdgate_origin::run(listener, config, shutdown).await {
                eprintln!("origin stopped with an error: {e}");
            }
        });
        Ok(TestOrigin {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The origin's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Polls `/readyz` until it answers 200, for at most `limit`.
    pub async fn wait_ready(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if http_status(self.addr, "/readyz").await == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("origin at {} not ready within {limit:?}", self.addr);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the origin and waits for it to finish its requests.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The `herdgate-origin` binary as a child process, stopped (by PID) when dropped.
pub struct OriginProcess {
    child: Child,
    addr: SocketAddr,
}

impl OriginProcess {
    /// Starts `binary` with `--listen 127.0.0.1:<free port>` plus `args`, and waits for
    /// `/readyz` (at most 30 s). Secrets go through the environment, not the command line.
    pub async fn start(
        binary: &Path,
        redis_url: &str,
        keys: &TestKeys,
        args: &[&str],
    ) -> Result<Self> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let child = Command::new(binary)
            .arg(format!("--listen={addr}"))
            .arg(format!("--redis-url={redis_url}"))
            .args(args)
            .env("HERDGATE_PASS_KEYS", &keys.spec)
            .env("HERDGATE_ADMIN_TOKEN", &keys.admin_token)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut origin = OriginProcess { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http_status(addr, "/readyz").await == Some(200) {
                return Ok(origin);
            }
            if let Some(status) = origin.child.try_wait()? {
                bail!("{} exited with {status}", binary.display());
            }
            if Instant::now() > deadline {
                bail!("origin at {addr} not ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The origin's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for OriginProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The edge worker served by workerd on 127.0.0.1, stopped (SIGTERM, then SIGKILL, to its
/// own process group: node and the workerd it started) when dropped.
pub struct EdgeWorker {
    child: Child,
    url: String,
}

impl EdgeWorker {
    /// Serves the built worker (`scripts/build-worker.sh` builds it) with `bindings` (vars and
    /// secrets, as JSON) and waits until it answers (at most 60 s).
    pub async fn start(bindings: &serde_json::Value) -> Result<Self> {
        let root = repo_root();
        for built in [
            "edge-worker/build/index.js",
            "edge-worker/build/index_bg.wasm",
        ] {
            if !root.join(built).exists() {
                bail!("{built} is missing: run scripts/build-worker.sh");
            }
        }
        Self::spawn(bindings, &[]).await
    }

    /// Serves a plain JavaScript worker module (a baseline for benchmarks).
    pub async fn start_script(script: &Path) -> Result<Self> {
        let script = script.to_string_lossy().into_owned();
        Self::spawn(&serde_json::json!({}), &["--script", &script]).await
    }

    async fn spawn(bindings: &serde_json::Value, args: &[&str]) -> Result<Self> {
        use std::io::{BufRead as _, BufReader};
        use std::os::unix::process::CommandExt as _;
        let root = repo_root();
        let node = root.join("node_modules/.bin/node");
        if !node.exists() {
            bail!(
                "{} is missing: run `npm install` (scripts/build-worker.sh does)",
                node.display()
            );
        }
        let mut child = Command::new(&node)
            .arg(root.join("edge-worker/serve-local.mjs"))
            .args(args)
            .env("HERDGATE_EDGE_BINDINGS", bindings.to_string())
            .env("HERDGATE_EDGE_PORT", free_port()?.to_string())
            .current_dir(&root)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting node edge-worker/serve-local.mjs")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the worker never blocks on a full pipe.
            for _ in lines {}
        });
        let mut edge = EdgeWorker {
            child,
            url: String::new(),
        };
        let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await?
            .context("the edge worker did not start within 60 s")?
            .context("the edge worker printed nothing")??;
        let v: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("unexpected output: {line}"))?;
        edge.url = v["url"]
            .as_str()
            .context("no url in serve-local output")?
            .trim_end_matches('/')
            .to_owned();
        Ok(edge)
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process group id (node's pid).
    pub fn pgid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EdgeWorker {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// localstripe (an independent implementation of Stripe's API, from PyPI) served on a free
/// loopback port by `scripts/serve-localstripe.py`, stopped (by PID) when dropped.
pub struct Localstripe {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Localstripe {
    /// The secret key tests use (localstripe accepts any `sk_` key).
    pub const SECRET_KEY: &'static str = "sk_test_herdgate_local";

    /// Starts it with `target/localstripe`'s Python (`scripts/setup.sh` installs it; the
    /// `HERDGATE_LOCALSTRIPE_PYTHON` environment variable overrides) and waits until it
    /// listens (at most 30 s).
    pub async fn start() -> Result<Self> {
        use std::io::{BufRead as _, BufReader};
        let root = repo_root();
        let python = std::env::var_os("HERDGATE_LOCALSTRIPE_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/localstripe/bin/python"));
        if !python.exists() {
            bail!(
                "{} is missing: run scripts/setup.sh (it installs localstripe)",
                python.display()
            );
        }
        let mut child = Command::new(&python)
            .arg(root.join("scripts/serve-localstripe.py"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting scripts/serve-localstripe.py")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let mut ls = Localstripe {
            child,
            url: String::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        };
        let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await?
            .context("localstripe did not start within 30 s")?
            .context("localstripe printed nothing")??;
        let v: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("unexpected output: {line}"))?;
        ls.url = v["url"].as_str().context("no url")?.to_owned();
        Ok(ls)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every PaymentIntent, read page by page as Stripe's list API gives them.
    pub async fn intents(&self) -> Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{}/v1/payment_intents?limit=100", self.url);
            if let Some(a) = &after {
                url.push_str(&format!("&starting_after={a}"));
            }
            let page: serde_json::Value = self
                .http
                .get(&url)
                .bearer_auth(Self::SECRET_KEY)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data
                .last()
                .and_then(|i| i["id"].as_str())
                .map(str::to_owned);
            out.extend(data);
            if page["has_more"] != serde_json::Value::Bool(true) || after.is_none() {
                return Ok(out);
            }
        }
    }

    /// One PaymentIntent.
    pub async fn intent(&self, id: &str) -> Result<serde_json::Value> {
        Ok(self
            .http
            .get(format!("{}/v1/payment_intents/{id}", self.url))
            .bearer_auth(Self::SECRET_KEY)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// Cancels a PaymentIntent behind herdgate's back, as a card issuer voiding an
    /// authorisation would.
    pub async fn void(&self, id: &str) -> Result<()> {
        self.http
            .post(format!("{}/v1/payment_intents/{id}/cancel", self.url))
            .bearer_auth(Self::SECRET_KEY)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The intents counted by status, e.g. `{"succeeded": 3, "canceled": 40}`.
    pub async fn census(&self) -> Result<std::collections::BTreeMap<String, usize>> {
        let mut out = std::collections::BTreeMap::new();
        for i in self.intents().await? {
            *out.entry(i["status"].as_str().unwrap_or("?").to_owned())
                .or_insert(0) += 1;
        }
        Ok(out)
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of a bare `GET path` on `addr`, or `None` if nothing answered within a second.
async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let head = std::str::from_utf8(buf.get(..12)?).ok()?;
    head.get(9..12)?.parse().ok()
}
