//! The origin: [`TestOrigin`] in this process (with the `in-process-origin` feature),
//! [`OriginProcess`] as a child process, both set up by one [`OriginOptions`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::{free_port, http_status, Localstripe, TestKeys};

/// Settings of an origin beyond the defaults, for either kind: [`OriginProcess`] gets them as
/// flags, [`TestOrigin`] as fields of its `Config`.
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
    /// `--payment-timeout-ms`.
    pub payment_timeout_ms: Option<u64>,
    /// `--header-timeout-ms`.
    pub header_timeout_ms: Option<u64>,
    /// `--body-timeout-ms`.
    pub body_timeout_ms: Option<u64>,
    /// `--idle-timeout-ms`.
    pub idle_timeout_ms: Option<u64>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// `--shutdown-grace-ms`.
    pub shutdown_grace_ms: Option<u64>,
    /// `--edge-url`: the timeline recorder reads the edge's numbers there.
    pub edge_url: Option<String>,
    /// `--timeline-every-ms`.
    pub timeline_every_ms: Option<u64>,
    /// `--redis-wait-replicas` (`auto` or a number).
    pub redis_wait_replicas: Option<String>,
    /// `--redis-wait-ms`.
    pub redis_wait_ms: Option<u64>,
    /// `--redis-tls-ca`.
    pub redis_tls_ca: Option<std::path::PathBuf>,
    /// `--region`: the region this origin sells in.
    pub region: Option<String>,
}

impl OriginOptions {
    /// The options as `herdgate-origin` flags, secrets excepted: the payments key, when
    /// [`Self::stripe_api_base`] is set, goes through the environment ([`OriginProcess`]).
    pub fn flags(&self) -> Vec<String> {
        // `--flag=value`, so a value that starts with '-' is never read as a flag.
        let mut flags = Vec::new();
        if let Some(n) = self.max_in_flight {
            flags.push(format!("--max-in-flight={n}"));
        }
        if let Some(n) = self.redis_timeout_ms {
            flags.push(format!("--redis-timeout-ms={n}"));
        }
        if let Some(n) = &self.redis_wait_replicas {
            flags.push(format!("--redis-wait-replicas={n}"));
        }
        if let Some(n) = self.redis_wait_ms {
            flags.push(format!("--redis-wait-ms={n}"));
        }
        if let Some(path) = &self.redis_tls_ca {
            flags.push(format!("--redis-tls-ca={}", path.display()));
        }
        if let Some(n) = self.max_body_bytes {
            flags.push(format!("--max-body-bytes={n}"));
        }
        if let Some(n) = self.redis_pool_size {
            flags.push(format!("--redis-pool-size={n}"));
        }
        if let Some(base) = &self.stripe_api_base {
            flags.push(format!("--stripe-api-base={base}"));
        }
        if let Some(n) = self.hold_max_age_secs {
            flags.push(format!("--hold-max-age-secs={n}"));
        }
        if let Some(n) = self.payment_timeout_ms {
            flags.push(format!("--payment-timeout-ms={n}"));
        }
        if let Some(n) = self.header_timeout_ms {
            flags.push(format!("--header-timeout-ms={n}"));
        }
        if let Some(n) = self.body_timeout_ms {
            flags.push(format!("--body-timeout-ms={n}"));
        }
        if let Some(n) = self.idle_timeout_ms {
            flags.push(format!("--idle-timeout-ms={n}"));
        }
        if let Some(n) = self.max_connections {
            flags.push(format!("--max-connections={n}"));
        }
        if let Some(n) = self.shutdown_grace_ms {
            flags.push(format!("--shutdown-grace-ms={n}"));
        }
        if let Some(url) = &self.edge_url {
            flags.push(format!("--edge-url={url}"));
        }
        if let Some(n) = self.timeline_every_ms {
            flags.push(format!("--timeline-every-ms={n}"));
        }
        if let Some(region) = &self.region {
            flags.push(format!("--region={region}"));
        }
        flags
    }

    /// The in-process origin's configuration: [`herdgate_origin::Config::new`] (so no
    /// `HERDGATE_*` variable of whoever runs the tests changes it) with these options on top.
    #[cfg(feature = "in-process-origin")]
    pub fn config(&self, redis_url: &str, keys: &TestKeys) -> Result<herdgate_origin::Config> {
        let admin_token = keys
            .admin_token
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        let mut config = herdgate_origin::Config::new(redis_url, keys.keyring.clone(), admin_token);
        if let Some(n) = self.max_in_flight {
            config.max_in_flight = n;
        }
        if let Some(n) = self.redis_timeout_ms {
            config.redis_timeout_ms = n;
        }
        if let Some(n) = self.max_body_bytes {
            config.max_body_bytes = n;
        }
        if let Some(n) = self.redis_pool_size {
            config.redis_pool_size = n;
        }
        if let Some(base) = &self.stripe_api_base {
            config.stripe_api_base = base.parse()?;
            config.stripe_secret_key = Some(Localstripe::SECRET_KEY.parse()?);
        }
        if let Some(n) = self.payment_timeout_ms {
            config.payment_timeout_ms = n;
        }
        if let Some(n) = self.hold_max_age_secs {
            config.hold_max_age_secs = n;
        }
        if let Some(n) = self.header_timeout_ms {
            config.header_timeout_ms = n;
        }
        if let Some(n) = self.body_timeout_ms {
            config.body_timeout_ms = n;
        }
        if let Some(n) = self.idle_timeout_ms {
            config.idle_timeout_ms = n;
        }
        if let Some(n) = self.max_connections {
            config.max_connections = n;
        }
        if let Some(n) = self.shutdown_grace_ms {
            config.shutdown_grace_ms = n;
        }
        if let Some(url) = &self.edge_url {
            config.edge_url = Some(url.parse().map_err(|e: String| anyhow::anyhow!(e))?);
        }
        if let Some(n) = self.timeline_every_ms {
            config.timeline_every_ms = n;
        }
        if let Some(n) = &self.redis_wait_replicas {
            config.redis_wait_replicas = n.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        }
        if let Some(n) = self.redis_wait_ms {
            config.redis_wait_ms = n;
        }
        if let Some(path) = &self.redis_tls_ca {
            config.redis_tls_ca = Some(path.clone());
        }
        config.region.clone_from(&self.region);
        Ok(config)
    }
}

/// The origin, served in-process on 127.0.0.1:0.
#[cfg(feature = "in-process-origin")]
pub struct TestOrigin {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[cfg(feature = "in-process-origin")]
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
        let config = opts.config(redis_url, keys)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
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

    /// Stops the origin and waits for it to finish its requests. Whether it finished by itself
    /// within [`Self::STOP_LIMIT`]: an origin that did not is aborted, not left serving.
    pub async fn stop(mut self) -> bool {
        self.stop_inner().await
    }

    /// How long [`Self::stop`] waits for `run` to return before it aborts it.
    pub const STOP_LIMIT: Duration = Duration::from_secs(10);

    async fn stop_inner(&mut self) -> bool {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let Some(mut task) = self.task.take() else {
            return true;
        };
        match tokio::time::timeout(Self::STOP_LIMIT, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                false
            }
        }
    }
}

#[cfg(feature = "in-process-origin")]
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
///
/// For fault tests it can be killed with SIGKILL ([`Self::kill9`]) and started again on the same
/// address with the same flags and secrets ([`Self::restart`]), or frozen with SIGSTOP
/// ([`Self::pause`]) and thawed with SIGCONT ([`Self::resume`]).
pub struct OriginProcess {
    child: Child,
    addr: SocketAddr,
    binary: PathBuf,
    /// Every flag after `--listen`, as given to the first start.
    args: Vec<String>,
    /// Environment of the process: the keys and any secret, never on the command line.
    envs: Vec<(String, String)>,
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
        Self::spawn(binary, redis_url, keys, args, &[]).await
    }

    /// Like [`Self::start`], set up by `options`.
    pub async fn start_with(
        binary: &Path,
        redis_url: &str,
        keys: &TestKeys,
        options: &OriginOptions,
    ) -> Result<Self> {
        let flags = options.flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let secrets: &[(&str, &str)] = match options.stripe_api_base {
            Some(_) => &[("HERDGATE_STRIPE_SECRET_KEY", Localstripe::SECRET_KEY)],
            None => &[],
        };
        Self::spawn(binary, redis_url, keys, &flags, secrets).await
    }

    async fn spawn(
        binary: &Path,
        redis_url: &str,
        keys: &TestKeys,
        args: &[&str],
        secrets: &[(&str, &str)],
    ) -> Result<Self> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut all_args = vec![format!("--redis-url={redis_url}")];
        all_args.extend(args.iter().map(|a| (*a).to_owned()));
        let mut envs = vec![
            ("HERDGATE_PASS_KEYS".to_owned(), keys.spec.clone()),
            ("HERDGATE_ADMIN_TOKEN".to_owned(), keys.admin_token.clone()),
        ];
        envs.extend(
            secrets
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let child = launch(binary, addr, &all_args, &envs)?;
        let mut origin = OriginProcess {
            child,
            addr,
            binary: binary.to_owned(),
            args: all_args,
            envs,
        };
        origin.wait_started(Duration::from_secs(30)).await?;
        Ok(origin)
    }

    /// Waits for `/readyz` to answer 200, failing early if the process exits.
    async fn wait_started(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if http_status(self.addr, "/readyz").await == Some(200) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited with {status}", self.binary.display());
            }
            if Instant::now() > deadline {
                bail!("origin at {} not ready within {limit:?}", self.addr);
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

    /// The process id (of the latest start).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL and reaps it: no graceful shutdown, requests under way
    /// are cut off. The address stays this origin's, for [`Self::restart`].
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the origin again (killing it first if it still runs) on the same address with
    /// the same flags and environment, and waits for `/readyz` (at most 30 s). The listener
    /// binds with `SO_REUSEADDR`, so connections of the old process left in `TIME_WAIT` do not
    /// keep the port.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill9();
        self.child = launch(&self.binary, self.addr, &self.args, &self.envs)?;
        self.wait_started(Duration::from_secs(30)).await
    }

    /// Freezes the process with SIGSTOP: it keeps its port, the kernel keeps accepting
    /// connections into its backlog, and nothing is answered until [`Self::resume`].
    pub fn pause(&self) -> Result<()> {
        signal(self.pid(), "-STOP")
    }

    /// Thaws a process frozen by [`Self::pause`] (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        signal(self.pid(), "-CONT")
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
}

/// Starts `binary` listening on `addr`.
fn launch(
    binary: &Path,
    addr: SocketAddr,
    args: &[String],
    envs: &[(String, String)],
) -> Result<Child> {
    Command::new(binary)
        .arg(format!("--listen={addr}"))
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// Sends `sig` (`-STOP`, `-CONT`, …) to `pid` with kill(1): the workspace forbids the unsafe
/// code a direct `kill(2)` would take.
pub(crate) fn signal(pid: u32, sig: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill {sig} {pid}: {status}");
    }
    Ok(())
}

impl Drop for OriginProcess {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
