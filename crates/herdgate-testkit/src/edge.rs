//! [`EdgeWorker`]: the built edge worker under workerd.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::{free_port, repo_root};

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
