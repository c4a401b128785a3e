//! The processes a benchmark starts or watches: the workspace's release binaries found next to
//! this one (CPU time comes from `herdgate_testkit::cpu`).

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
