//! The processes a benchmark starts or watches: the workspace's release binaries found next to
//! this one, and the CPU time a process has used, from /proc.

use std::path::PathBuf;

use anyhow::{ensure, Context as _, Result};

/// The release binary `name` of the workspace's package `package`: `given`, or by default the
/// one next to this binary (cargo puts every binary of a workspace in one directory, so a
/// release build of this one sits beside the release build it measures).
pub fn sibling_binary(given: Option<PathBuf>, name: &str, package: &str) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("no parent directory")?
            .join(name),
    };
    ensure!(
        path.exists(),
        "{} not found: build it with cargo build --release -p {package}",
        path.display()
    );
    Ok(path)
}

/// CPU seconds (user + system) a process has used so far, from /proc.
pub fn cpu_seconds(pid: u32) -> f64 {
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
