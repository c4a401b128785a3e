//! [`EdgeWorker`]: the built edge worker under workerd.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::{free_port, repo_root};

/// The edge worker served by workerd on 127.0.0.1, stopped (SIGTERM, then SIGKILL, to its
/// own process group: node and the workerd it started) when dropped.
///
/// Started with [`Self::start_persisted`], its Durable Objects keep their state in a directory
/// of its own, so it can be killed ([`Self::kill9`]) and started again on the same port with
/// the same state ([`Self::restart`]), as a restarted edge location would.
pub struct EdgeWorker {
    child: Option<Child>,
    url: String,
    port: u16,
    bindings: serde_json::Value,
    args: Vec<String>,
    /// Where the Durable Objects' storage lives, removed when the worker is dropped.
    persist: Option<tempfile::TempDir>,
}

impl EdgeWorker {
    /// Serves the built worker (`scripts/build-worker.sh` builds it) with `bindings` (vars and
    /// secrets, as JSON) and waits until it answers (at most 60 s). Its Durable Objects keep
    /// their state in memory: it ends with the process.
    pub async fn start(bindings: &serde_json::Value) -> Result<Self> {
        built()?;
        Self::spawn(bindings, Vec::new(), None, None).await
    }

    /// Like [`Self::start`] (or [`Self::start_persisted`], with `persist`), on `port` (one
    /// [`free_port`] chose, for a peer that must know the edge's address before it starts).
    pub async fn start_on(bindings: &serde_json::Value, port: u16, persist: bool) -> Result<Self> {
        built()?;
        if !persist {
            return Self::spawn(bindings, Vec::new(), None, Some(port)).await;
        }
        let dir = tempfile::Builder::new()
            .prefix("herdgate-edge-")
            .tempdir()
            .context("creating a directory for the Durable Objects")?;
        let args = vec!["--persist".to_owned(), dir.path().display().to_string()];
        Self::spawn(bindings, args, Some(dir), Some(port)).await
    }

    /// Like [`Self::start`], with the Durable Objects' state on disk (`serve-local.mjs
    /// --persist`) in a temporary directory that outlives the process: [`Self::restart`]
    /// finds it again. The directory is removed when the worker is dropped.
    pub async fn start_persisted(bindings: &serde_json::Value) -> Result<Self> {
        built()?;
        let dir = tempfile::Builder::new()
            .prefix("herdgate-edge-")
            .tempdir()
            .context("creating a directory for the Durable Objects")?;
        let args = vec!["--persist".to_owned(), dir.path().display().to_string()];
        Self::spawn(bindings, args, Some(dir), None).await
    }

    /// Serves a plain JavaScript worker module (a baseline for benchmarks).
    pub async fn start_script(script: &Path) -> Result<Self> {
        let script = script.to_string_lossy().into_owned();
        Self::spawn(
            &serde_json::json!({}),
            vec!["--script".to_owned(), script],
            None,
            None,
        )
        .await
    }

    async fn spawn(
        bindings: &serde_json::Value,
        args: Vec<String>,
        persist: Option<tempfile::TempDir>,
        port: Option<u16>,
    ) -> Result<Self> {
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        let mut edge = EdgeWorker {
            child: None,
            url: String::new(),
            port,
            bindings: bindings.clone(),
            args,
            persist,
        };
        edge.launch().await?;
        Ok(edge)
    }

    /// Starts node and workerd on this worker's port and waits for the line that says they
    /// serve (at most 60 s).
    async fn launch(&mut self) -> Result<()> {
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
            .args(&self.args)
            .env("HERDGATE_EDGE_BINDINGS", self.bindings.to_string())
            .env("HERDGATE_EDGE_PORT", self.port.to_string())
            .current_dir(&root)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting node edge-worker/serve-local.mjs")?;
        let stdout = child.stdout.take().context("no stdout")?;
        // Owned from here on, so a start that fails is stopped with its group.
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the worker never blocks on a full pipe.
            for _ in lines {}
        });
        let line = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await?
            .context("the edge worker did not start within 60 s")?
            .context("the edge worker printed nothing")??;
        let v: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("unexpected output: {line}"))?;
        self.url = v["url"]
            .as_str()
            .context("no url in serve-local output")?
            .trim_end_matches('/')
            .to_owned();
        Ok(())
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process group id (node's pid); 0 while stopped.
    pub fn pgid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Where the Durable Objects keep their state, if on disk ([`Self::start_persisted`]).
    pub fn persist_dir(&self) -> Option<&Path> {
        self.persist.as_ref().map(tempfile::TempDir::path)
    }

    /// Kills node and workerd with SIGKILL (the whole process group) and reaps them: no
    /// shutdown, requests under way are cut off; what the Durable Objects had written stays
    /// on disk when persisted.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(child.id(), "-KILL");
            let _ = child.wait();
        }
    }

    /// Stops the worker (SIGTERM to its group, SIGKILL after 5 s) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal_group(child.id(), "-TERM");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            signal_group(child.id(), "-KILL");
            let _ = child.wait();
        }
    }

    /// Starts the worker again (stopping it first if it runs) on the same port, with the same
    /// bindings and, if persisted, the same Durable Object state; waits until it serves.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        self.launch().await
    }
}

/// Fails unless the worker has been built.
fn built() -> Result<()> {
    let root = repo_root();
    for built in [
        "edge-worker/build/index.js",
        "edge-worker/build/index_bg.wasm",
    ] {
        if !root.join(built).exists() {
            bail!("{built} is missing: run scripts/build-worker.sh");
        }
    }
    Ok(())
}

/// Sends `sig` to the process group `group`.
fn signal_group(group: u32, sig: &str) {
    let group = format!("-{group}");
    let _ = Command::new("kill").args([sig, "--", &group]).status();
}

impl Drop for EdgeWorker {
    fn drop(&mut self) {
        self.stop();
    }
}
