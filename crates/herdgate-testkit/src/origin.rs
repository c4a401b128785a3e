//! The origin: [`TestOrigin`] in this process, [`OriginProcess`] as a child process.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{free_port, http_status, Localstripe, TestKeys};

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
