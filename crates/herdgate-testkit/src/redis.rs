//! [`RedisServer`]: a `redis-server` of the test's own.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use fred::prelude::*;

use crate::{free_port, repo_root};

/// A `redis-server` process of the test's own.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    /// With [`RedisServer::start_tls`]: the TLS port, and the directory of its certificates
    /// (a cluster's nodes share one).
    tls: Option<(u16, std::sync::Arc<tempfile::TempDir>)>,
}

/// A directory with a certificate authority and a certificate for 127.0.0.1 ([`make_certs`]).
fn certificates() -> Result<tempfile::TempDir> {
    let certs = tempfile::Builder::new()
        .prefix("herdgate-redis-tls-")
        .tempdir()
        .context("creating a directory for certificates")?;
    make_certs(certs.path())?;
    Ok(certs)
}

/// Makes a certificate authority (`ca.pem`) and a certificate for 127.0.0.1 signed by it
/// (`server.pem`, `server.key`) in `dir`, with the `openssl` command (P-256, a day long).
fn make_certs(dir: &Path) -> Result<()> {
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n")?;
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=herdgate test CA",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .context("running openssl (scripts/setup.sh installs it)")?;
        if !out.status.success() {
            bail!(
                "openssl {}: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
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
                tls: None,
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

    /// Starts redis-server as [`RedisServer::start`] does, and also on a TLS port with a
    /// certificate for 127.0.0.1 from a certificate authority of its own ([`Self::tls_url`],
    /// [`Self::tls_ca`]). Clients are not asked for certificates. The plain port stays, for the
    /// test's own checks.
    pub async fn start_tls() -> Result<Self> {
        Self::start_tls_with(std::sync::Arc::new(certificates()?), &[]).await
    }

    /// [`Self::start_tls`] with the certificates in `certs` (made by [`certificates`]) and
    /// `extra` directives.
    async fn start_tls_with(
        certs: std::sync::Arc<tempfile::TempDir>,
        extra: &[&str],
    ) -> Result<Self> {
        let file = |name: &str| certs.path().join(name).to_string_lossy().into_owned();
        let tls_port = free_port()?.to_string();
        let (cert, key, ca) = (file("server.pem"), file("server.key"), file("ca.pem"));
        let mut args = vec![
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ];
        args.extend_from_slice(extra);
        let mut server = Self::start_with(&args).await?;
        server.tls = Some((tls_port.parse()?, certs));
        Ok(server)
    }

    /// `rediss://127.0.0.1:<tls port>`, for a server started with [`Self::start_tls`].
    pub fn tls_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|(port, _)| format!("rediss://127.0.0.1:{port}"))
    }

    /// The certificate authority (PEM file) the TLS port's certificate chains to.
    pub fn tls_ca(&self) -> Option<std::path::PathBuf> {
        self.tls.as_ref().map(|(_, dir)| dir.path().join("ca.pem"))
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

/// A Redis Cluster of the test's own: `primaries` primaries and one replica each, every node a
/// [`RedisServer`] with the shipped `redis/redis.conf` and `redis/redis-cluster.conf` (failing
/// over after 2 s rather than 5) on a free loopback port, the slots spread by
/// `redis-cli --cluster create`. Stopped, node by node, when dropped.
pub struct RedisCluster {
    /// The nodes, primaries first as `redis-cli` assigned them at creation.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the nodes, makes them a cluster and waits until every node says it is whole (at
    /// most 60 s).
    pub async fn start(primaries: usize) -> Result<Self> {
        Self::start_nodes(primaries, None).await
    }

    /// As [`Self::start`], every node also on a TLS port ([`RedisServer::start_tls`], one
    /// certificate authority for them all), and the nodes speaking TLS to each other (the
    /// cluster bus and replication). A client on a TLS port is told the nodes' TLS ports
    /// ([`Self::tls_url`]); the plain ports stay, for the test's own checks.
    pub async fn start_tls(primaries: usize) -> Result<Self> {
        Self::start_nodes(primaries, Some(std::sync::Arc::new(certificates()?))).await
    }

    async fn start_nodes(
        primaries: usize,
        certs: Option<std::sync::Arc<tempfile::TempDir>>,
    ) -> Result<Self> {
        let mut nodes = Vec::new();
        let conf = repo_root().join("redis/redis-cluster.conf");
        let conf = conf
            .to_str()
            .context("the repository's path is not UTF-8")?;
        for _ in 0..primaries * 2 {
            // The shipped cluster settings, with quicker failovers for a test.
            let settings = ["--include", conf, "--cluster-node-timeout", "2000"];
            nodes.push(match &certs {
                None => RedisServer::start_with(&settings).await?,
                Some(certs) => {
                    let mut args = settings.to_vec();
                    args.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
                    RedisServer::start_tls_with(std::sync::Arc::clone(certs), &args).await?
                }
            });
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let created = tokio::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .await
            .context(
                "running redis-cli --cluster create (scripts/setup.sh installs redis-tools)",
            )?;
        if !created.status.success() {
            bail!(
                "redis-cli --cluster create: {}",
                String::from_utf8_lossy(&created.stdout)
            );
        }
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(60);
        for node in &cluster.nodes {
            let client = node.client().await?;
            loop {
                let info: String = client.cluster_info().await?;
                if info.contains("cluster_state:ok") {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the cluster was not whole within 60 s: {info}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(cluster)
    }

    /// `redis-cluster://127.0.0.1:<port>?node=…`: every node, for the origin's `--redis-url`.
    pub fn url(&self) -> String {
        let mut nodes = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port()));
        let first = nodes.next().unwrap_or_default();
        let rest: Vec<String> = nodes.map(|n| format!("node={n}")).collect();
        format!("redis-cluster://{first}?{}", rest.join("&"))
    }

    /// `rediss-cluster://127.0.0.1:<tls port>?node=…`: every node's TLS port, for a cluster
    /// started with [`Self::start_tls`].
    pub fn tls_url(&self) -> Option<String> {
        let ports: Vec<u16> = self
            .nodes
            .iter()
            .map(|n| n.tls.as_ref().map(|(port, _)| *port))
            .collect::<Option<_>>()?;
        let (first, rest) = ports.split_first()?;
        let rest: Vec<String> = rest.iter().map(|p| format!("node=127.0.0.1:{p}")).collect();
        Some(format!(
            "rediss-cluster://127.0.0.1:{first}?{}",
            rest.join("&")
        ))
    }

    /// The certificate authority (PEM file) of a cluster started with [`Self::start_tls`].
    pub fn tls_ca(&self) -> Option<std::path::PathBuf> {
        self.nodes.first().and_then(RedisServer::tls_ca)
    }

    /// The nodes that are primaries now (of those still running), each with its own client.
    pub async fn primaries(&self) -> Result<Vec<(&RedisServer, Client)>> {
        let mut out = Vec::new();
        for node in self.nodes.iter().filter(|n| n.pid().is_some()) {
            let client = node.client().await?;
            let info: String = client
                .info(Some(fred::types::InfoKind::Replication))
                .await?;
            if info.lines().any(|l| l.trim() == "role:master") {
                out.push((node, client));
            }
        }
        Ok(out)
    }
}
