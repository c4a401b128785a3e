//! Where the admin API is and the token it takes: from the command line, else the environment
//! (`HERDGATE_ADMIN_URL`, `HERDGATE_ADMIN_TOKEN`), else a config file (`--config`,
//! `HERDGATE_CONFIG`, or `$XDG_CONFIG_HOME/herdgate/config.toml`, by default
//! `~/.config/herdgate/config.toml`):
//!
//! ```toml
//! admin_url = "https://origin.example.com"
//! admin_token = "…"
//! edge_url = "https://shop.example.com"   # for `herdgate counters`
//! ```
//!
//! The token is a secret: it is never printed, and a file that holds it should be readable by
//! its owner only (`chmod 600`); the CLI refuses a token file others may read.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;

/// The connection settings, resolved.
#[derive(Debug)]
pub struct Settings {
    /// The origin's URL (the admin API is under `/admin/v1/`).
    pub admin_url: String,
    /// The admin bearer token.
    pub admin_token: String,
    /// The edge's URL (the worker's), if given: where the edge's own counts are read.
    pub edge_url: Option<String>,
}

/// The config file's keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    admin_url: Option<String>,
    admin_token: Option<String>,
    edge_url: Option<String>,
}

/// Resolves the settings from what the command line and the environment gave (clap reads
/// `HERDGATE_ADMIN_URL`, `HERDGATE_ADMIN_TOKEN` and `HERDGATE_EDGE_URL` into `url`, `token`
/// and `edge`), falling back to the config file at `config` or the default place.
pub fn resolve(
    url: Option<String>,
    token: Option<String>,
    edge: Option<String>,
    config: Option<PathBuf>,
) -> Result<Settings> {
    let explicit = config.is_some();
    let file = match config.or_else(default_path) {
        Some(path) if explicit || path.exists() => read(&path)?,
        _ => File::default(),
    };
    let Some(admin_url) = url.or(file.admin_url) else {
        bail!(
            "no admin URL: pass --admin-url, set HERDGATE_ADMIN_URL, or put admin_url in the config file"
        );
    };
    let Some(admin_token) = token.or(file.admin_token) else {
        bail!("no admin token: set HERDGATE_ADMIN_TOKEN, or put admin_token in the config file");
    };
    let edge_url = edge.or(file.edge_url);
    for url in std::iter::once(&admin_url).chain(&edge_url) {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("a URL must start with http:// or https://: {url}");
        }
    }
    Ok(Settings {
        admin_url,
        admin_token,
        edge_url,
    })
}

/// `$XDG_CONFIG_HOME/herdgate/config.toml`, else `~/.config/herdgate/config.toml`.
fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("herdgate").join("config.toml"))
}

fn read(path: &Path) -> Result<File> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    // toml's own message quotes the offending line, which may be the token's: only where and
    // what is said.
    let file: File = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        let what = e.message().lines().next().unwrap_or("").to_owned();
        let what = if what.contains('"') || what.contains('=') {
            "not a valid setting".to_owned()
        } else {
            what
        };
        anyhow::anyhow!(
            "the config file {} is not valid TOML{}: {what}",
            path.display(),
            line.map_or(String::new(), |l| format!(" (line {l})"))
        )
    })?;
    if file.admin_token.is_some() {
        private(path)?;
    }
    Ok(file)
}

/// Refuses a file that holds the token and that others than its owner may read.
#[cfg(unix)]
fn private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "the config file {} holds the admin token and others may read it (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn private(_: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` as the file `name` in `dir`, with permissions `mode` where files have them.
    fn config_file(dir: &tempfile::TempDir, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        path
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let text = "admin_url = \"http://file:1\"\nadmin_token = \"from-file\"\n";
        let path = config_file(&dir, "config.toml", text, 0o600);
        let s = resolve(Some("http://flag:2".into()), None, None, Some(path.clone())).unwrap();
        assert_eq!(s.admin_url, "http://flag:2");
        assert_eq!(s.admin_token, "from-file");
        let s = resolve(None, Some("flag".into()), None, Some(path)).unwrap();
        assert_eq!(s.admin_url, "http://file:1");
        assert_eq!(s.admin_token, "flag");
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = config_file(
            &dir,
            "config.toml",
            "admin_token = \"secret-token\"\n",
            0o644,
        );
        let e = resolve(Some("http://x:1".into()), None, None, Some(path)).unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("chmod 600"), "{text}");
        assert!(!text.contains("secret-token"), "the token leaked: {text}");
    }

    #[test]
    fn a_broken_config_file_does_not_print_the_token() {
        let dir = tempfile::tempdir().unwrap();
        for (n, text) in [
            "admin_token = secret-token-1\n",
            "admin-token = \"secret-token-1\"\n",
            "admin_url = \"http://x\"\nadmin_token = [\"secret-token-1\"]\n",
        ]
        .iter()
        .enumerate()
        {
            let path = config_file(&dir, &format!("c{n}.toml"), text, 0o600);
            let e = resolve(None, None, None, Some(path)).unwrap_err();
            let text = format!("{e:#}");
            assert!(text.contains("not valid TOML"), "{text}");
            assert!(!text.contains("secret-token-1"), "the token leaked: {text}");
        }
    }

    #[test]
    fn missing_settings_and_bad_urls_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("absent.toml");
        let e = resolve(None, Some("t".into()), None, Some(none));
        assert!(
            e.is_err(),
            "an explicit config file that does not exist is an error"
        );
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let e = resolve(None, Some("t".into()), None, Some(empty.clone())).unwrap_err();
        assert!(format!("{e}").contains("HERDGATE_ADMIN_URL"), "{e}");
        let e = resolve(
            Some("ftp://x".into()),
            Some("t".into()),
            None,
            Some(empty.clone()),
        )
        .unwrap_err();
        assert!(format!("{e}").contains("http://"), "{e}");
        let e = resolve(
            Some("http://x".into()),
            Some("t".into()),
            Some("edge".into()),
            Some(empty),
        )
        .unwrap_err();
        assert!(format!("{e}").contains("edge"), "{e}");
    }
}
