//! Real processes for herdgate's tests and tools, and clients to drive them.
//!
//! Nothing here binds a fixed port or talks to anything but 127.0.0.1 (unless a client is
//! given another URL), and every wait is bounded.
//!
//! # Layout
//!
//! - `redis.rs`: [`RedisServer`], a `redis-server` started with the shipped
//!   `redis/redis.conf` on a free loopback port in a temporary directory, stopped by PID when
//!   dropped. It can be killed with SIGKILL and restarted from its files, for durability tests.
//! - `origin.rs`: the origin, set up by [`OriginOptions`], of either kind: `TestOrigin`
//!   (feature `in-process-origin`), served in-process on `127.0.0.1:0` from
//!   `herdgate_origin::Config::new`; [`OriginProcess`], the `herdgate-origin` binary as a child
//!   process on a free port, for benchmarks and demos where the origin must not share a
//!   runtime with the load, and for fault tests: it can be killed with SIGKILL and restarted
//!   on the same port, or frozen with SIGSTOP and thawed.
//! - `edge.rs`: [`EdgeWorker`], the built edge worker under workerd (via Miniflare and
//!   `edge-worker/serve-local.mjs`) on a free loopback port, stopped with its process group.
//!   With its Durable Objects persisted to a directory of its own, it can be killed and
//!   restarted on the same port with the same state.
//! - `stack.rs`: [`Stack`], the three wired together (Redis, an origin of either kind, the
//!   edge with its bindings, its Durable Objects in memory or on disk), built by a
//!   [`StackBuilder`].
//! - [`client`] (the `herdgate-client` crate, re-exported): [`EdgeClient`], a buyer at the
//!   edge with its [`Identity`] and the device key it proves with (challenge, solve and join,
//!   status, hold, purchase), and [`AdminClient`], an operator at the origin (sales, audit);
//!   typed answers from `herdgate_core::wire`, or the raw [`Reply`].
//! - `keys.rs`: [`TestKeys`], a fresh pass keyring and admin token, and a minting helper.
//! - `localstripe.rs`: [`Localstripe`], PyPI's independent implementation of Stripe's API.
//! - [`cpu`]: CPU seconds used by a process or a process group, from /proc.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};

pub mod cpu;
mod edge;
mod keys;
mod localstripe;
mod origin;
mod redis;
mod stack;

pub use edge::EdgeWorker;
/// The typed clients, from their own crate (an app or a harness can use them without the
/// testkit's processes).
pub use herdgate_client as client;
pub use herdgate_client::{read_reply, solve, AdminClient, EdgeClient, Identity, Reply};
pub use keys::{keyring_spec, TestKeys};
pub use localstripe::Localstripe;
#[cfg(feature = "in-process-origin")]
pub use origin::TestOrigin;
pub use origin::{OriginOptions, OriginProcess};
pub use redis::{RedisCluster, RedisServer};
pub use stack::{Stack, StackBuilder, StackOrigin};

/// The repository's root (where `redis/redis.conf` and `lua/` live).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = StdListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The status of a bare `GET path` on `addr`, or `None` if nothing answered within a second.
async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let head = std::str::from_utf8(buf.get(..12)?).ok()?;
    head.get(9..12)?.parse().ok()
}
