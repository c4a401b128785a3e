//! Runs of the `herd` binary (`herd local`: redis-server, the origin and the edge under workerd,
//! and a crowd against them) and the figures read back from each run's `report.json`.
//!
//! The bots and preauth benchmarks run the binary rather than the library so that each run is
//! what a person gets from the same `herd local` command line, recorded in the report as such.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{ensure, Context as _, Result};
use serde_json::{Map, Value};

/// The crowd of the benchmarks that run `herd local`.
#[derive(clap::Args)]
pub struct CrowdArgs {
    /// Honest buyers in the crowd.
    #[arg(long, default_value_t = 2_000)]
    pub buyers: usize,
    /// Items on sale.
    #[arg(long, default_value_t = 200)]
    pub items: u64,
    /// The herd binary (default: next to this one).
    #[arg(long)]
    pub herd_bin: Option<PathBuf>,
}

/// The report of one herd run. herd's own `Report` type only serializes, and these benchmarks
/// read a handful of its figures, so they read the JSON by pointer (`/honest/bought`).
pub struct HerdReport {
    path: PathBuf,
    json: Value,
}

impl HerdReport {
    /// Reads `report.json` in `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("report.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let json = serde_json::from_str(&text).with_context(|| path.display().to_string())?;
        Ok(Self { path, json })
    }

    /// A report made of `json`, for tests.
    #[cfg(test)]
    pub fn from_json(json: Value) -> Self {
        Self {
            path: PathBuf::from("report.json"),
            json,
        }
    }

    fn get(&self, pointer: &str) -> Result<&Value> {
        self.json
            .pointer(pointer)
            .with_context(|| format!("{}: no {pointer}", self.path.display()))
    }

    /// The integer at `pointer`.
    pub fn int(&self, pointer: &str) -> Result<i64> {
        self.get(pointer)?
            .as_i64()
            .with_context(|| format!("{}: {pointer} is not an integer", self.path.display()))
    }

    /// The number at `pointer`.
    pub fn num(&self, pointer: &str) -> Result<f64> {
        self.get(pointer)?
            .as_f64()
            .with_context(|| format!("{}: {pointer} is not a number", self.path.display()))
    }

    /// The number at `pointer`, or `None` where the report has none (absent or null: an
    /// endpoint nobody called, holds that were never all released).
    pub fn opt_num(&self, pointer: &str) -> Result<Option<f64>> {
        match self.json.pointer(pointer) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.num(pointer).map(Some),
        }
    }

    /// The keys of the object at `pointer`, in the report's order.
    pub fn keys(&self, pointer: &str) -> Result<Vec<String>> {
        let object: &Map<String, Value> = self
            .get(pointer)?
            .as_object()
            .with_context(|| format!("{}: {pointer} is not an object", self.path.display()))?;
        Ok(object.keys().cloned().collect())
    }

    /// The sum, over every key of the object at `pointer`, of the integers at
    /// `<pointer>/<key><suffix>` (`suffix` empty: the object's own values).
    pub fn sum(&self, pointer: &str, suffix: &str) -> Result<i64> {
        self.keys(pointer)?
            .iter()
            .map(|key| self.int(&format!("{pointer}/{key}{suffix}")))
            .sum()
    }
}

/// Runs `herd local <flags> --out <out>` to the end and reads the report it wrote. herd's
/// stdout (its summary) is dropped, as the scripts did; its stderr (errors) is the caller's.
pub async fn local(herd: &Path, flags: &[String], out: &Path) -> Result<HerdReport> {
    // A report left by an earlier run must not stand in for this one's.
    if let Err(e) = std::fs::remove_file(out.join("report.json")) {
        ensure!(
            e.kind() == std::io::ErrorKind::NotFound,
            "removing the old {}/report.json: {e}",
            out.display()
        );
    }
    let status = tokio::process::Command::new(relative_to_cwd(herd))
        .arg("local")
        .args(flags)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .await
        .with_context(|| format!("starting {}", herd.display()))?;
    ensure!(
        status.success(),
        "herd local {} --out {}: {status}",
        flags.join(" "),
        out.display()
    );
    HerdReport::read(out)
}

/// `path` relative to the working directory when it lies under it. herd records its own
/// command line in the report; run from the repository, that reads `target/release/herd local
/// …`, as it did when the scripts ran it, rather than a path of the machine it ran on.
fn relative_to_cwd(path: &Path) -> PathBuf {
    match std::env::current_dir().map(|cwd| path.strip_prefix(cwd).map(Path::to_path_buf)) {
        // A bare name would be looked up in PATH instead.
        Ok(Ok(relative)) if relative.parent() == Some(Path::new("")) => {
            Path::new(".").join(relative)
        }
        Ok(Ok(relative)) => relative,
        _ => path.to_path_buf(),
    }
}
