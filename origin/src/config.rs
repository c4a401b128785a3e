//! The origin's configuration: command-line flags, each with an environment fallback.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use clap::Parser;
use herdgate_core::Keyring;
use herdgate_pay::StripeConfig;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

// Each default is written once, here: the flags' `default_value` attributes and
// [`Config::new`] both read these, so a program that builds its config in code (the testkit's
// in-process origin) runs with exactly the settings of a bare command line.

/// The address to listen on unless configured otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
/// The Redis URL unless configured otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Redis connections unless configured otherwise.
pub const DEFAULT_REDIS_POOL_SIZE: usize = 2;
/// The Redis command timeout (ms) unless configured otherwise.
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 1000;

/// Default `--redis-wait-ms`.
pub const DEFAULT_REDIS_WAIT_MS: u64 = 250;
/// Requests handled at once unless configured otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;
/// The largest request body (bytes) unless configured otherwise.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4096;
/// The pub/sub channel of sale events unless configured otherwise.
pub const DEFAULT_EVENTS_CHANNEL: &str = "herdgate:sale-events";
/// The payments API's base URL unless configured otherwise.
pub const DEFAULT_STRIPE_API_BASE: &str = "https://api.stripe.com";
/// The time limit (ms) of one call to the payments API unless configured otherwise.
pub const DEFAULT_PAYMENT_TIMEOUT_MS: u64 = 10_000;
/// The time (ms) a client has to send a request's headers, from their first byte, unless
/// configured otherwise.
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
/// The time (ms) a client has to send a request's body, from the end of its headers, unless
/// configured otherwise.
pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 10_000;
/// The time (ms) a connection may wait with no request under way unless configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;
/// Connections open at once unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The time (ms) requests under way get to finish once shutdown begins unless configured
/// otherwise.
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 10_000;

/// Default milliseconds between a live sale's timeline samples.
pub const DEFAULT_TIMELINE_EVERY_MS: u64 = 1_000;

/// Default seconds a console login lasts (a working day).
pub const DEFAULT_CONSOLE_SESSION_SECS: u64 = 8 * 3600;

/// Configuration of one origin process. Every flag can also be set by the environment
/// variable named in its help; secrets are best set that way.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "herdgate-origin",
    version,
    about = "herdgate origin: sells admitted buyers exactly the stock there is"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HERDGATE_LISTEN", default_value_t = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Redis URL: redis://[user:password@]host:port[/db], or
    /// redis-cluster://host:port?node=host2:port2&… for a Redis Cluster.
    #[arg(long, env = "HERDGATE_REDIS_URL", default_value = DEFAULT_REDIS_URL)]
    pub redis_url: String,

    /// Redis connections; each multiplexes and pipelines many requests.
    #[arg(long, env = "HERDGATE_REDIS_POOL_SIZE", default_value_t = DEFAULT_REDIS_POOL_SIZE)]
    pub redis_pool_size: usize,

    /// Redis command timeout in milliseconds; slower answers become 503 store_unavailable.
    #[arg(long, env = "HERDGATE_REDIS_TIMEOUT_MS", default_value_t = DEFAULT_REDIS_TIMEOUT_MS)]
    pub redis_timeout_ms: u64,

    /// Replicas that must acknowledge a purchase's (every script's) writes before it is
    /// answered, so that a failover does not lose it: `auto` (one on a primary that has a
    /// replica connected, none on one that has none) or a number (0: never wait). Not acknowledged in
    /// `--redis-wait-ms`: 503 store_unavailable, and the retry answers the same order.
    #[arg(long, env = "HERDGATE_REDIS_WAIT_REPLICAS", default_value_t = Replicas::Auto)]
    pub redis_wait_replicas: Replicas,

    /// How long a write waits for its replicas, milliseconds.
    #[arg(long, env = "HERDGATE_REDIS_WAIT_MS", default_value_t = DEFAULT_REDIS_WAIT_MS)]
    pub redis_wait_ms: u64,

    /// With a `rediss://` (or `rediss-cluster://`) URL: a PEM file of the certificate
    /// authorities that Redis's certificate must chain to, instead of the system's.
    #[arg(long, env = "HERDGATE_REDIS_TLS_CA")]
    pub redis_tls_ca: Option<std::path::PathBuf>,

    /// Keys that verify admission passes: `kid:base64url-secret[,kid:secret...]`, the same
    /// keyring as the edge's `PASS_KEYS` secret (the first key is the current one).
    #[arg(long, env = "HERDGATE_PASS_KEYS", hide_env_values = true)]
    pub pass_keys: PassKeys,

    /// Bearer token for the admin API (at least 16 characters).
    #[arg(long, env = "HERDGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: AdminToken,

    /// Requests handled at once; more get 503 overloaded with Retry-After at once.
    #[arg(long, env = "HERDGATE_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "HERDGATE_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Milliseconds a client has to send a request's headers in full, counted from their first
    /// byte; a slower connection is closed.
    #[arg(long, env = "HERDGATE_HEADER_TIMEOUT_MS", default_value_t = DEFAULT_HEADER_TIMEOUT_MS)]
    pub header_timeout_ms: u64,

    /// Milliseconds a client has to send a request's body in full, counted from the end of its
    /// headers; a slower request gets 408 request_timeout and its connection is closed. Bodies
    /// are read before a request takes an in-flight slot.
    #[arg(long, env = "HERDGATE_BODY_TIMEOUT_MS", default_value_t = DEFAULT_BODY_TIMEOUT_MS)]
    pub body_timeout_ms: u64,

    /// Milliseconds a connection may stay open with no request under way and no byte of the
    /// next one; then it is closed.
    #[arg(long, env = "HERDGATE_IDLE_TIMEOUT_MS", default_value_t = DEFAULT_IDLE_TIMEOUT_MS)]
    pub idle_timeout_ms: u64,

    /// Connections open at once; more wait in the listen backlog until one closes.
    #[arg(long, env = "HERDGATE_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Milliseconds the requests under way get to finish once shutdown begins; then their
    /// connections are dropped and the process exits.
    #[arg(long, env = "HERDGATE_SHUTDOWN_GRACE_MS", default_value_t = DEFAULT_SHUTDOWN_GRACE_MS)]
    pub shutdown_grace_ms: u64,

    /// Seconds of clock skew tolerated between the edge that signed a pass and this origin.
    #[arg(long, env = "HERDGATE_CLOCK_LEEWAY_SECS", default_value_t = herdgate_core::CLOCK_LEEWAY_SECS)]
    pub clock_leeway_secs: u64,

    /// Runtime worker threads (default: one per CPU core).
    #[arg(long, env = "HERDGATE_WORKER_THREADS")]
    pub worker_threads: Option<usize>,

    /// Redis pub/sub channel on which sales announce "sold_out:<sale>" and "open:<sale>".
    #[arg(long, env = "HERDGATE_EVENTS_CHANNEL", default_value = DEFAULT_EVENTS_CHANNEL)]
    pub events_channel: String,

    /// Secret key (`sk_...` or a restricted `rk_...`) of the Stripe-compatible payments API.
    /// Setting it turns card holds on: purchases in a sale with a price capture the hold the
    /// edge took while the buyer queued. Use the same account as the edge's `STRIPE_SECRET_KEY`.
    #[arg(long, env = "HERDGATE_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<StripeKey>,

    /// Base URL of the payments API.
    #[arg(long, env = "HERDGATE_STRIPE_API_BASE", default_value = DEFAULT_STRIPE_API_BASE)]
    pub stripe_api_base: StripeBase,

    /// A hold authorised longer ago than this is not captured (the buyer is asked for a new
    /// one); keep it below the card networks' authorisation window (7 days for most online
    /// card payments) and equal to the edge's `HOLD_MAX_AGE_SECS`.
    #[arg(long, env = "HERDGATE_HOLD_MAX_AGE_SECS", default_value_t = herdgate_pay::HOLD_MAX_AGE_SECS)]
    pub hold_max_age_secs: u64,

    /// Time limit of one call to the payments API, in milliseconds.
    #[arg(long, env = "HERDGATE_PAYMENT_TIMEOUT_MS", default_value_t = DEFAULT_PAYMENT_TIMEOUT_MS)]
    pub payment_timeout_ms: u64,

    /// The edge's base URL (the worker's, or the shop's route to it). The timeline recorder
    /// reads the edge's counts and admission frontier there (`/admin/v1/sales/{sale}/counters`
    /// and `/control`, with the admin token), so the console and the report show the line, not
    /// only the books. Without it they show the origin's numbers only.
    #[arg(long, env = "HERDGATE_EDGE_URL")]
    pub edge_url: Option<EdgeUrl>,

    /// Milliseconds between the samples the timeline recorder takes of each live sale (open,
    /// opening within 10 minutes, or sold out less than 10 minutes ago); 0 turns it off.
    #[arg(long, env = "HERDGATE_TIMELINE_EVERY_MS", default_value_t = DEFAULT_TIMELINE_EVERY_MS)]
    pub timeline_every_ms: u64,

    /// Seconds a console login lasts.
    #[arg(long, env = "HERDGATE_CONSOLE_SESSION_SECS", default_value_t = DEFAULT_CONSOLE_SESSION_SECS)]
    pub console_session_secs: u64,

    /// The region this origin sells in, where a sale is sold in several (README, "Regions"):
    /// 1 to 32 of `a-z`, `0-9` and `-`, as the edge's `REGIONS` names it. A pass the edge
    /// issued for another region is refused (`pass_wrong_region`); a pass without a region
    /// (from an edge with one region) is taken. Unset: every pass is taken.
    #[arg(long, env = "HERDGATE_REGION", value_parser = parse_region)]
    pub region: Option<String>,
}

fn parse_region(s: &str) -> Result<String, String> {
    if herdgate_core::region::valid_region_name(s) {
        Ok(s.to_owned())
    } else {
        Err("a region name is 1 to 32 of a-z, 0-9 and '-'".to_owned())
    }
}

/// The edge's base URL: `http` or `https`, with a host; kept without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeUrl(pub String);

impl std::str::FromStr for EdgeUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = reqwest::Url::parse(s.trim()).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err("the edge URL must be http:// or https:// with a host".to_owned());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("the edge URL takes no query or fragment".to_owned());
        }
        // The admin token travels with every call: in clear text only on this machine.
        let host = url.host_str().unwrap_or("");
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let local = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if url.scheme() == "http" && !local {
            return Err(
                "the edge URL must be https:// (http:// only on a loopback address)".to_owned(),
            );
        }
        Ok(EdgeUrl(url.as_str().trim_end_matches('/').to_owned()))
    }
}

/// A payments API secret key, checked at start-up. `Debug` is redacted.
#[derive(Clone)]
pub struct StripeKey(String);

impl std::str::FromStr for StripeKey {
    type Err = herdgate_pay::ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StripeConfig::new(DEFAULT_STRIPE_API_BASE, s)?;
        Ok(StripeKey(s.trim().to_owned()))
    }
}

impl fmt::Debug for StripeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StripeKey(<redacted>)")
    }
}

/// A payments API base URL, checked at start-up.
#[derive(Clone, Debug)]
pub struct StripeBase(String);

impl std::str::FromStr for StripeBase {
    type Err = herdgate_pay::ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StripeConfig::new(s, "sk_placeholder")?;
        Ok(StripeBase(s.to_owned()))
    }
}

/// `--redis-wait-replicas`: `auto` or a number of replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// One on a primary that has a replica connected, none on one that has none.
    Auto,
    /// Exactly this many (0: never wait).
    Exactly(u32),
}

impl std::str::FromStr for Replicas {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Replicas::Auto),
            n => n
                .parse()
                .map(Replicas::Exactly)
                .map_err(|_| format!("expected auto or a number of replicas, not {n:?}")),
        }
    }
}

impl fmt::Display for Replicas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Replicas::Auto => f.write_str("auto"),
            Replicas::Exactly(n) => write!(f, "{n}"),
        }
    }
}

impl Config {
    /// The configuration of a bare command line (`--redis-url`, `--pass-keys`,
    /// `--admin-token`): every other setting at its default, and no environment variable read.
    /// For programs that run an origin in-process, where the `HERDGATE_*` variables of whoever
    /// runs them must not change what runs.
    pub fn new(redis_url: impl Into<String>, pass_keys: Keyring, admin_token: AdminToken) -> Self {
        Config {
            listen: DEFAULT_LISTEN,
            redis_url: redis_url.into(),
            redis_pool_size: DEFAULT_REDIS_POOL_SIZE,
            redis_timeout_ms: DEFAULT_REDIS_TIMEOUT_MS,
            redis_wait_replicas: Replicas::Auto,
            redis_wait_ms: DEFAULT_REDIS_WAIT_MS,
            redis_tls_ca: None,
            pass_keys: PassKeys(pass_keys),
            admin_token,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            header_timeout_ms: DEFAULT_HEADER_TIMEOUT_MS,
            body_timeout_ms: DEFAULT_BODY_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            clock_leeway_secs: herdgate_core::CLOCK_LEEWAY_SECS,
            worker_threads: None,
            events_channel: DEFAULT_EVENTS_CHANNEL.to_owned(),
            stripe_secret_key: None,
            stripe_api_base: StripeBase(DEFAULT_STRIPE_API_BASE.to_owned()),
            hold_max_age_secs: herdgate_pay::HOLD_MAX_AGE_SECS,
            payment_timeout_ms: DEFAULT_PAYMENT_TIMEOUT_MS,
            edge_url: None,
            timeline_every_ms: DEFAULT_TIMELINE_EVERY_MS,
            console_session_secs: DEFAULT_CONSOLE_SESSION_SECS,
            region: None,
        }
    }

    /// The Redis command timeout.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms.max(1))
    }

    /// The time a client has to send a request's headers.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    /// The time a client has to send a request's body.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms.max(1))
    }

    /// The time a connection may wait with no request under way.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(1))
    }

    /// The time requests under way get to finish once shutdown begins. Zero is allowed: the
    /// connections are then dropped at once.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The payments API, if a secret key is configured.
    pub fn stripe(&self) -> Option<StripeConfig> {
        let key = self.stripe_secret_key.as_ref()?;
        StripeConfig::new(&self.stripe_api_base.0, &key.0).ok()
    }
}

/// The pass keyring, parsed from its flag.
#[derive(Clone, Debug)]
pub struct PassKeys(pub Keyring);

impl std::str::FromStr for PassKeys {
    type Err = herdgate_core::KeyringError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Keyring::parse(s).map(PassKeys)
    }
}

/// The admin bearer token. `Debug` is redacted; comparison is constant time over digests, so
/// neither the content nor the length leaks through timing.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
    // Kept for the calls this origin makes to the edge's admin routes with it.
    secret: std::sync::Arc<str>,
}

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl AdminToken {
    /// Whether `candidate` is the token.
    pub fn matches(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }

    /// A fingerprint of the token (16 hex digits of a keyed digest), kept with each console
    /// session: a session made with another token (before a rotation) is no session.
    pub fn fingerprint(&self) -> String {
        let d = Sha256::digest([b"herdgate console session\0".as_slice(), &self.digest].concat());
        d.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The token itself, to send to the edge's admin routes. Never log it.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl std::str::FromStr for AdminToken {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() < MIN_ADMIN_TOKEN_LEN {
            return Err(format!(
                "the admin token must be at least {MIN_ADMIN_TOKEN_LEN} characters"
            ));
        }
        Ok(AdminToken {
            digest: Sha256::digest(s.as_bytes()).into(),
            secret: s.into(),
        })
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    #[test]
    fn replicas_to_wait_for_read_auto_or_a_count() {
        assert_eq!("auto".parse(), Ok(Replicas::Auto));
        assert_eq!("2".parse(), Ok(Replicas::Exactly(2)));
        assert!("some".parse::<Replicas>().is_err());
        assert!("-1".parse::<Replicas>().is_err());
        assert_eq!(Replicas::Exactly(0).to_string(), "0");
        assert_eq!(Replicas::Auto.to_string(), "auto");
    }

    #[test]
    fn parses_with_defaults_and_redacts_secrets() {
        let c = Config::try_parse_from([
            "herdgate-origin",
            "--pass-keys",
            KEYS,
            "--admin-token",
            "correct horse battery staple",
        ])
        .unwrap();
        assert_eq!(c.max_in_flight, 512);
        assert!(c.admin_token.matches("correct horse battery staple"));
        assert!(!c.admin_token.matches("correct horse battery stapl"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("horse"), "{shown}");
        assert!(c.stripe().is_none());
        let with_key = Config::try_parse_from([
            "herdgate-origin",
            "--pass-keys",
            KEYS,
            "--admin-token",
            "correct horse battery staple",
            "--stripe-secret-key",
            "sk_test_hunter2hunter2",
        ])
        .unwrap();
        assert!(with_key.stripe().is_some());
        assert!(!format!("{with_key:?}").contains("hunter2"));
        assert!(!shown.contains("AAECAwQF"), "{shown}");
    }

    #[test]
    fn new_is_the_bare_command_line_without_the_environment() {
        const TOKEN: &str = "correct horse battery staple";
        // Every flag's environment fallback is dropped before parsing, so HERDGATE_* variables
        // of whoever runs the tests cannot make the two sides differ (or agree by accident).
        let command = <Config as clap::CommandFactory>::command().mut_args(|a| a.env(None::<&str>));
        let matches = command
            .try_get_matches_from([
                "herdgate-origin",
                "--pass-keys",
                KEYS,
                "--admin-token",
                TOKEN,
            ])
            .unwrap();
        let parsed = <Config as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        let built = Config::new(
            DEFAULT_REDIS_URL,
            Keyring::parse(KEYS).unwrap(),
            TOKEN.parse().unwrap(),
        );
        // Debug shows every field (the secrets redacted, the keyring by its kids); the secrets
        // are compared by what they accept.
        assert_eq!(format!("{built:?}"), format!("{parsed:?}"));
        assert!(built.admin_token.matches(TOKEN) && parsed.admin_token.matches(TOKEN));
        assert!(built.stripe_secret_key.is_none() && parsed.stripe_secret_key.is_none());
        assert_eq!(built.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        assert_eq!(
            (built.header_timeout(), built.body_timeout()),
            (
                Duration::from_millis(DEFAULT_HEADER_TIMEOUT_MS),
                Duration::from_millis(DEFAULT_BODY_TIMEOUT_MS)
            )
        );
        assert_eq!(
            (built.idle_timeout(), built.shutdown_grace()),
            (
                Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS),
                Duration::from_millis(DEFAULT_SHUTDOWN_GRACE_MS)
            )
        );
        assert_eq!(built.max_connections, DEFAULT_MAX_CONNECTIONS);
    }

    #[test]
    fn refuses_weak_secrets() {
        assert!(Config::try_parse_from([
            "herdgate-origin",
            "--pass-keys",
            KEYS,
            "--admin-token",
            "short"
        ])
        .is_err());
        assert!(Config::try_parse_from([
            "herdgate-origin",
            "--pass-keys",
            "k1:AAAA",
            "--admin-token",
            "correct horse battery staple"
        ])
        .is_err());
    }
}

#[cfg(test)]
mod edge_url_tests {
    use super::EdgeUrl;

    #[test]
    fn the_edge_url_is_https_or_loopback_http() {
        let ok = |s: &str| s.parse::<EdgeUrl>().map(|u| u.0);
        assert_eq!(
            ok("https://shop.example/"),
            Ok("https://shop.example".to_owned())
        );
        assert_eq!(
            ok("http://127.0.0.1:8787"),
            Ok("http://127.0.0.1:8787".to_owned())
        );
        assert!(ok("http://[::1]:8787").is_ok() && ok("http://localhost:1").is_ok());
        for bad in [
            "http://shop.example",
            "ftp://x",
            "https://x/?a=1",
            "not a url",
            "http://10.0.0.1",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
    }
}
