//! The worker's configuration: `vars` and secrets from `wrangler.toml`, read once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use herdgate_core::Keyring;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use worker::Env;

/// Everything the worker reads from its environment.
pub struct Config {
    /// The origin's base URL, without a trailing slash (var `ORIGIN_URL`).
    pub origin_url: String,
    /// Digest of the admin bearer token (secret `ADMIN_TOKEN`).
    admin_token: [u8; 32],
    /// Signs and verifies challenges and queue tickets; only the edge holds it
    /// (secret `TICKET_KEYS`, `kid:base64url[,kid:…]`).
    pub ticket_keys: Keyring,
    /// Signs admission passes; the origin holds the same keyring (secret `PASS_KEYS`).
    pub pass_keys: Keyring,
    /// Queue-shard Durable Objects per sale (var `QUEUE_SHARD_COUNT`, default 8).
    pub shards: u32,
    /// Proof-of-work difficulty in leading zero bits (var `POW_BITS`, default 18).
    pub pow_bits: u8,
    /// Challenge lifetime, seconds (var `CHALLENGE_TTL_SECS`, default 300).
    pub challenge_ttl_secs: u64,
    /// Ticket lifetime, seconds (var `TICKET_TTL_SECS`, default 21600).
    pub ticket_ttl_secs: u64,
    /// Pass lifetime from the start of its slice, seconds (var `PASS_TTL_SECS`, default 300).
    pub pass_ttl_secs: u64,
    /// Admission time-slice length, seconds (var `SLICE_SECS`, default 10).
    pub slice_secs: u64,
    /// How long an isolate trusts its copy of a sale's state and control, ms
    /// (var `STATE_CACHE_MS`, default 1000).
    pub state_cache_ms: u64,
    /// Shortest and longest poll interval told to waiters, ms (vars `POLL_MIN_MS`,
    /// `POLL_MAX_MS`, defaults 1000 and 30000).
    pub poll_min_ms: u64,
    /// See `poll_min_ms`.
    pub poll_max_ms: u64,
    /// Time allowed for an origin request, ms (var `ORIGIN_TIMEOUT_MS`, default 5000).
    pub origin_timeout_ms: u64,
}

impl Config {
    /// Reads the configuration, or says which setting is wrong (never its value).
    pub fn from_env(env: &Env) -> Result<Config, String> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        let secret = |name: &str| {
            env.secret(name)
                .map(|v| v.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .map_err(|_| format!("secret {name} is not set"))
        };
        fn num<T: std::str::FromStr>(
            v: Option<String>,
            name: &str,
            default: T,
        ) -> Result<T, String> {
            match v {
                None => Ok(default),
                Some(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{name} must be a number")),
            }
        }
        let origin_url = var("ORIGIN_URL")
            .ok_or("var ORIGIN_URL is not set")?
            .trim_end_matches('/')
            .to_owned();
        let admin = secret("ADMIN_TOKEN")?;
        if admin.len() < 16 {
            return Err("ADMIN_TOKEN must be at least 16 characters".into());
        }
        let ticket_keys =
            Keyring::parse(&secret("TICKET_KEYS")?).map_err(|e| format!("TICKET_KEYS: {e}"))?;
        let pass_keys =
            Keyring::parse(&secret("PASS_KEYS")?).map_err(|e| format!("PASS_KEYS: {e}"))?;
        let config = Config {
            origin_url,
            admin_token: Sha256::digest(admin.as_bytes()).into(),
            ticket_keys,
            pass_keys,
            shards: num(var("QUEUE_SHARD_COUNT"), "QUEUE_SHARD_COUNT", 8u32)?.clamp(1, 1024),
            pow_bits: num(var("POW_BITS"), "POW_BITS", 18u8)?.min(herdgate_core::pow::MAX_BITS),
            challenge_ttl_secs: num(var("CHALLENGE_TTL_SECS"), "CHALLENGE_TTL_SECS", 300)?,
            ticket_ttl_secs: num(var("TICKET_TTL_SECS"), "TICKET_TTL_SECS", 21_600)?,
            pass_ttl_secs: num(var("PASS_TTL_SECS"), "PASS_TTL_SECS", 300)?,
            slice_secs: num(var("SLICE_SECS"), "SLICE_SECS", 10u64)?.max(1),
            state_cache_ms: num(var("STATE_CACHE_MS"), "STATE_CACHE_MS", 1_000)?,
            poll_min_ms: num(var("POLL_MIN_MS"), "POLL_MIN_MS", 1_000)?,
            poll_max_ms: num(var("POLL_MAX_MS"), "POLL_MAX_MS", 30_000)?,
            origin_timeout_ms: num(var("ORIGIN_TIMEOUT_MS"), "ORIGIN_TIMEOUT_MS", 5_000)?,
        };
        Ok(config)
    }

    /// Whether `candidate` is the admin token (constant time over digests).
    pub fn is_admin(&self, candidate: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        digest.ct_eq(&self.admin_token).into()
    }
}

thread_local! {
    static CONFIG: RefCell<Option<Rc<Config>>> = const { RefCell::new(None) };
}

/// The isolate's configuration, parsed on first use. An isolate belongs to one deployment,
/// so its environment does not change under it.
pub fn get(env: &Env) -> Result<Rc<Config>, String> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return Ok(c);
    }
    let c = Rc::new(Config::from_env(env)?);
    CONFIG.with(|slot| *slot.borrow_mut() = Some(Rc::clone(&c)));
    Ok(c)
}
