//! [`Localstripe`]: an independent implementation of Stripe's API on a loopback port.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use crate::repo_root;

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

    /// The process id, for a test that freezes the processor (`kill -STOP`).
    pub fn pid(&self) -> u32 {
        self.child.id()
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
