//! The worker's configuration: `vars` and secrets from `wrangler.toml`, read once per isolate.

use std::cell::RefCell;
use std::rc::Rc;

use herdgate_core::defence::{JoinLimits, PowPolicy};
use herdgate_core::region::RegionMap;
use herdgate_core::Keyring;
use herdgate_pay::StripeConfig;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use worker::Env;

/// Everything the worker reads from its environment.
pub struct Config {
    /// The origin's base URL, without a trailing slash (var `ORIGIN_URL`); with regions, the
    /// first region's.
    pub origin_url: String,
    /// The regions, where a sale is sold in several (var `REGIONS`, README "Regions"); `None`
    /// with one origin (`ORIGIN_URL`).
    pub regions: Option<Regions>,
    /// Digest of the admin bearer token (secret `ADMIN_TOKEN`).
    admin_token: [u8; 32],
    /// Signs and verifies challenges and queue tickets; only the edge holds it
    /// (secret `TICKET_KEYS`, `kid:base64url[,kid:…]`).
    pub ticket_keys: Keyring,
    /// Signs admission passes; the origin holds the same keyring (secret `PASS_KEYS`).
    pub pass_keys: Keyring,
    /// Queue-shard Durable Objects per sale (var `QUEUE_SHARD_COUNT`, default 8).
    pub shards: u32,
    /// Proof-of-work difficulty policy: `POW_BITS` (base, default 16), `POW_MAX_BITS` (26),
    /// `POW_RATE_KNEE` (joins/s per isolate where difficulty starts rising, 200), and
    /// `POW_ADAPTIVE` (`on`; `off` asks every client for `POW_BITS`).
    pub pow: PowPolicy,
    /// Joins per device and per network per sale (`JOINS_PER_DEVICE`, default 2;
    /// `JOINS_PER_NETWORK`, default 100; 0 turns a limit off).
    pub limits: JoinLimits,
    /// Limiter Durable Objects per sale (var `LIMIT_SHARD_COUNT`, default 16).
    pub limit_shards: u32,
    /// Whether tokens are bound to the key of the device that joined (the lane's to its network
    /// and browser), with proofs required (var `BIND_CLIENT`, default `on`).
    pub bind_client: bool,
    /// Whether the edge counts what it answers, per sale (var `EDGE_COUNTERS`, default `on`;
    /// see `counters.rs`).
    pub edge_counters: bool,
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
    /// How much later than the page the no-JavaScript lane joins the line: seconds after the
    /// sale opens or the visitor arrives, whichever is later (var `NOJS_DELAY_SECS`, default 30).
    pub nojs_delay_secs: u64,
    /// Shortest refresh interval of the no-JavaScript pages, seconds (var `NOJS_REFRESH_SECS`,
    /// default 5).
    pub nojs_refresh_secs: u64,
    /// The waiting room's branding.
    pub brand: Brand,
    /// Card holds: the payments API (secret `STRIPE_SECRET_KEY`, var `STRIPE_API_BASE`,
    /// default `https://api.stripe.com`); `None` without the secret.
    pub payments: Option<StripeConfig>,
    /// A hold authorised longer ago than this is released and not captured, seconds (var
    /// `HOLD_MAX_AGE_SECS`, default 518400 = 6 days, under the 7-day authorisation window of
    /// most online card payments).
    pub hold_max_age_secs: u64,
    /// Holds released per second per sale, over all its queue shards (var
    /// `HOLD_RELEASE_RATE`, default 50): keep it inside the processor's API rate limit.
    pub hold_release_rate: u32,
    /// How often a queue shard holding card holds asks the origin whether the sale sold out,
    /// seconds (var `HOLD_SWEEP_SECS`, default 5).
    pub hold_sweep_secs: u64,
    /// Time allowed for a payments API call, ms (var `PAYMENT_TIMEOUT_MS`, default 10000).
    pub payment_timeout_ms: u64,
    /// Card attempts (holds sent to the processor) per sale: per place in line (var
    /// `HOLD_ATTEMPTS_PER_TICKET`, default 5), and per device and network (vars
    /// `HOLD_ATTEMPTS_PER_DEVICE`, `HOLD_ATTEMPTS_PER_NETWORK`, defaults 10 and 200); 0 = no
    /// limit.
    pub hold_attempts: HoldLimits,
    /// New card holds per second per sale, over all its queue shards (var `HOLD_CREATE_RATE`,
    /// default 40): what is left of the processor's rate limit after this and
    /// `HOLD_RELEASE_RATE` is the captures'.
    pub hold_create_rate: u32,
    /// How long a sale must have been over (sold out, or gone) before its objects delete what
    /// it left behind, seconds (var `CLEANUP_AFTER_SECS`, default 3600).
    pub cleanup_after_secs: u64,
    /// How often a sale's objects ask the origin whether it is over, seconds (var
    /// `CLEANUP_CHECK_SECS`, default 600).
    pub cleanup_check_secs: u64,
    /// Whether the admission frontier waits while the passes already out are expected to buy
    /// every remaining item (var `FRONTIER_WAITS_FOR_STOCK`, default `on`; see
    /// `herdgate_core::gate::odds`).
    pub frontier_waits_for_stock: bool,
    /// How long a place must have been admitted before it counts toward the measured
    /// conversion, seconds (var `CONVERSION_WINDOW_SECS`, default 300: a pass's lifetime, so
    /// a place counts once its first pass has run out).
    pub conversion_window_secs: u64,
}

/// Where a sale is sold in several regions: each region's origin, and which region serves a
/// visitor (`herdgate_core::region`).
pub struct Regions {
    /// Each region's name and origin URL (without a trailing slash), in the order of
    /// `REGIONS`: `eu=https://eu-origin.example.com,us=https://us-origin.example.com`.
    pub origins: Vec<(String, String)>,
    /// Which region serves a visitor: by country (var `REGION_BY_COUNTRY`, `GB=eu,US=us`),
    /// then by continent (var `REGION_BY_CONTINENT`, `EU=eu,NA=us`), else the first region.
    pub map: RegionMap,
}

impl Regions {
    /// Reads `REGIONS` and the two maps; says what is wrong.
    pub fn parse(regions: &str, by_country: &str, by_continent: &str) -> Result<Regions, String> {
        let mut origins = Vec::new();
        for part in regions.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, url) = part
                .split_once('=')
                .ok_or("REGIONS must be name=https://origin,… (one entry per region)")?;
            let url = url.trim().trim_end_matches('/');
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
                return Err(format!(
                    "REGIONS: the origin of {:?} must be an http(s) URL",
                    name.trim()
                ));
            }
            origins.push((name.trim().to_owned(), url.to_owned()));
        }
        let names = origins.iter().map(|(n, _)| n.clone()).collect();
        let map =
            RegionMap::new(names, by_country, by_continent).map_err(|e| format!("REGIONS: {e}"))?;
        Ok(Regions { origins, map })
    }
}

/// Limits on card attempts: each is a hold request that would reach the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldLimits {
    /// Per place in line (queue ticket); 0 = no limit.
    pub per_ticket: u32,
    /// Per device and per network, counted like joins; 0 = no limit.
    pub place: JoinLimits,
}

/// The waiting room's branding, from `vars`: a deployer changes it without rebuilding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// Shown in the header and the title (var `BRAND_NAME`, default `herdgate`).
    pub name: String,
    /// Accent colour of the buy button and progress bar, `#rgb` or `#rrggbb`, with at least
    /// 4.5:1 contrast against white text (var `BRAND_COLOR`, default `#0b57d0`).
    pub color: String,
    /// Logo image, an `https://` URL or a path on this host (var `BRAND_LOGO_URL`, optional).
    pub logo_url: Option<String>,
    /// Extra CSS appended to the page's own (var `BRAND_CSS`, optional, at most 8 KiB).
    pub css: String,
}

impl Brand {
    /// Reads and checks the branding vars; says which one is wrong.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Brand, String> {
        let name = var("BRAND_NAME").unwrap_or_else(|| "herdgate".to_owned());
        if name.trim().is_empty() || name.len() > 80 {
            return Err("BRAND_NAME must be 1 to 80 characters".into());
        }
        let color = var("BRAND_COLOR").unwrap_or_else(|| "#0b57d0".to_owned());
        let rgb =
            parse_hex_color(&color).ok_or("BRAND_COLOR must be a hex colour such as #0b57d0")?;
        let contrast = contrast_with_white(rgb);
        if contrast < 4.5 {
            return Err(format!(
                "BRAND_COLOR has contrast {contrast:.2}:1 with the button's white text; it needs at least 4.5:1"
            ));
        }
        let logo_url = var("BRAND_LOGO_URL").filter(|u| !u.is_empty());
        if let Some(url) = &logo_url {
            let ok = (url.starts_with("https://") || url.starts_with('/')) && url.len() <= 2048;
            if !ok {
                return Err("BRAND_LOGO_URL must be an https:// URL or a path".into());
            }
        }
        let css = var("BRAND_CSS").unwrap_or_default();
        if css.len() > 8192 || css.to_ascii_lowercase().contains("</") {
            return Err("BRAND_CSS must be at most 8 KiB of CSS, without '</'".into());
        }
        Ok(Brand {
            name,
            color,
            logo_url,
            css,
        })
    }
}

/// `#rgb` or `#rrggbb` as three bytes.
fn parse_hex_color(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize, len: usize| {
        let part = hex.get(i * len..(i + 1) * len)?;
        let v = u8::from_str_radix(part, 16).ok()?;
        Some(if len == 1 { v * 17 } else { v })
    };
    match hex.len() {
        3 => Some([byte(0, 1)?, byte(1, 1)?, byte(2, 1)?]),
        6 => Some([byte(0, 2)?, byte(1, 2)?, byte(2, 2)?]),
        _ => None,
    }
}

/// WCAG 2 contrast ratio of `rgb` against white.
fn contrast_with_white(rgb: [u8; 3]) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2]);
    1.05 / (l + 0.05)
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
        fn on_off(v: Option<String>, name: &str) -> Result<bool, String> {
            match v.as_deref().map(str::trim) {
                None | Some("on") => Ok(true),
                Some("off") => Ok(false),
                Some(_) => Err(format!("{name} must be \"on\" or \"off\"")),
            }
        }
        let pow_policy = |var: &dyn Fn(&str) -> Option<String>| -> Result<PowPolicy, String> {
            let max = herdgate_core::pow::MAX_BITS;
            let base = num(var("POW_BITS"), "POW_BITS", 16u8)?.min(max);
            let mut p = PowPolicy {
                base_bits: base,
                max_bits: num(var("POW_MAX_BITS"), "POW_MAX_BITS", 26u8)?.clamp(base, max),
                rate_knee: num(var("POW_RATE_KNEE"), "POW_RATE_KNEE", 200u32)?.max(1),
                ..PowPolicy::default()
            };
            if !on_off(var("POW_ADAPTIVE"), "POW_ADAPTIVE")? {
                p.max_bits = base;
            }
            Ok(p)
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
        let regions = match var("REGIONS").filter(|r| !r.trim().is_empty()) {
            None => None,
            Some(_) if var("ORIGIN_URL").is_some() => {
                return Err(
                    "set ORIGIN_URL (one origin) or REGIONS (one per region), not both".into(),
                )
            }
            Some(spec) => Some(Regions::parse(
                &spec,
                &var("REGION_BY_COUNTRY").unwrap_or_default(),
                &var("REGION_BY_CONTINENT").unwrap_or_default(),
            )?),
        };
        let origin_url = match &regions {
            Some(r) => r.origins[0].1.clone(),
            None => var("ORIGIN_URL")
                .ok_or("var ORIGIN_URL is not set")?
                .trim_end_matches('/')
                .to_owned(),
        };
        let admin = secret("ADMIN_TOKEN")?;
        if admin.len() < 16 {
            return Err("ADMIN_TOKEN must be at least 16 characters".into());
        }
        let ticket_keys =
            Keyring::parse(&secret("TICKET_KEYS")?).map_err(|e| format!("TICKET_KEYS: {e}"))?;
        let pass_keys =
            Keyring::parse(&secret("PASS_KEYS")?).map_err(|e| format!("PASS_KEYS: {e}"))?;
        let payments = match secret("STRIPE_SECRET_KEY") {
            Ok(key) if !key.is_empty() => Some(
                StripeConfig::new(
                    &var("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".into()),
                    &key,
                )
                .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        let config = Config {
            origin_url,
            regions,
            admin_token: Sha256::digest(admin.as_bytes()).into(),
            ticket_keys,
            pass_keys,
            shards: num(var("QUEUE_SHARD_COUNT"), "QUEUE_SHARD_COUNT", 8u32)?.clamp(1, 1024),
            pow: pow_policy(&var)?,
            limits: JoinLimits {
                per_device: num(var("JOINS_PER_DEVICE"), "JOINS_PER_DEVICE", 2)?,
                per_network: num(var("JOINS_PER_NETWORK"), "JOINS_PER_NETWORK", 100)?,
            },
            limit_shards: num(var("LIMIT_SHARD_COUNT"), "LIMIT_SHARD_COUNT", 16u32)?.clamp(1, 1024),
            bind_client: on_off(var("BIND_CLIENT"), "BIND_CLIENT")?,
            edge_counters: on_off(var("EDGE_COUNTERS"), "EDGE_COUNTERS")?,
            challenge_ttl_secs: num(var("CHALLENGE_TTL_SECS"), "CHALLENGE_TTL_SECS", 300)?,
            ticket_ttl_secs: num(var("TICKET_TTL_SECS"), "TICKET_TTL_SECS", 21_600)?,
            pass_ttl_secs: num(var("PASS_TTL_SECS"), "PASS_TTL_SECS", 300)?,
            slice_secs: num(var("SLICE_SECS"), "SLICE_SECS", 10u64)?.max(1),
            state_cache_ms: num(var("STATE_CACHE_MS"), "STATE_CACHE_MS", 1_000)?,
            poll_min_ms: num(var("POLL_MIN_MS"), "POLL_MIN_MS", 1_000)?,
            poll_max_ms: num(var("POLL_MAX_MS"), "POLL_MAX_MS", 30_000)?,
            origin_timeout_ms: num(var("ORIGIN_TIMEOUT_MS"), "ORIGIN_TIMEOUT_MS", 5_000)?,
            nojs_delay_secs: num(var("NOJS_DELAY_SECS"), "NOJS_DELAY_SECS", 30)?,
            nojs_refresh_secs: num(var("NOJS_REFRESH_SECS"), "NOJS_REFRESH_SECS", 5u64)?.max(1),
            brand: Brand::from_vars(var)?,
            payments,
            hold_max_age_secs: num(
                var("HOLD_MAX_AGE_SECS"),
                "HOLD_MAX_AGE_SECS",
                herdgate_pay::HOLD_MAX_AGE_SECS,
            )?
            .max(1),
            hold_release_rate: num(var("HOLD_RELEASE_RATE"), "HOLD_RELEASE_RATE", 50u32)?.max(1),
            hold_sweep_secs: num(var("HOLD_SWEEP_SECS"), "HOLD_SWEEP_SECS", 5u64)?.max(1),
            payment_timeout_ms: num(var("PAYMENT_TIMEOUT_MS"), "PAYMENT_TIMEOUT_MS", 10_000)?,
            hold_attempts: HoldLimits {
                per_ticket: num(
                    var("HOLD_ATTEMPTS_PER_TICKET"),
                    "HOLD_ATTEMPTS_PER_TICKET",
                    5u32,
                )?,
                place: JoinLimits {
                    per_device: num(
                        var("HOLD_ATTEMPTS_PER_DEVICE"),
                        "HOLD_ATTEMPTS_PER_DEVICE",
                        10u32,
                    )?,
                    per_network: num(
                        var("HOLD_ATTEMPTS_PER_NETWORK"),
                        "HOLD_ATTEMPTS_PER_NETWORK",
                        200u32,
                    )?,
                },
            },
            hold_create_rate: num(var("HOLD_CREATE_RATE"), "HOLD_CREATE_RATE", 40u32)?.max(1),
            cleanup_after_secs: num(var("CLEANUP_AFTER_SECS"), "CLEANUP_AFTER_SECS", 3_600u64)?,
            cleanup_check_secs: num(var("CLEANUP_CHECK_SECS"), "CLEANUP_CHECK_SECS", 600u64)?
                .max(1),
            frontier_waits_for_stock: on_off(
                var("FRONTIER_WAITS_FOR_STOCK"),
                "FRONTIER_WAITS_FOR_STOCK",
            )?,
            conversion_window_secs: num(
                var("CONVERSION_WINDOW_SECS"),
                "CONVERSION_WINDOW_SECS",
                300u64,
            )?
            .max(1),
        };
        Ok(config)
    }

    /// The origin of region `region` (a `reg` claim); the first region's for an empty or
    /// unknown one, and the one origin without regions.
    pub fn origin_of(&self, region: &str) -> &str {
        self.regions
            .as_ref()
            .and_then(|r| r.origins.iter().find(|(name, _)| name == region))
            .map_or(self.origin_url.as_str(), |(_, url)| url.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn brand(pairs: &[(&str, &str)]) -> Result<Brand, String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Brand::from_vars(|name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn branding_defaults_and_checks() {
        let b = brand(&[]).unwrap();
        assert_eq!((b.name.as_str(), b.color.as_str()), ("herdgate", "#0b57d0"));
        assert!(brand(&[("BRAND_COLOR", "#036")]).is_ok());
        assert!(brand(&[("BRAND_COLOR", "red")]).is_err());
        assert!(brand(&[("BRAND_COLOR", "#0b57d0;}")]).is_err());
        let pale = brand(&[("BRAND_COLOR", "#ffcc00")]).unwrap_err();
        assert!(pale.contains("contrast"), "{pale}");
        assert!(brand(&[("BRAND_LOGO_URL", "javascript:alert(1)")]).is_err());
        assert!(brand(&[("BRAND_LOGO_URL", "/logo.svg")]).is_ok());
        assert!(brand(&[("BRAND_CSS", "main{}</style><script>")]).is_err());
        assert!(brand(&[("BRAND_NAME", " ")]).is_err());
    }

    #[test]
    fn regions_name_their_origins() {
        let r = Regions::parse(
            "eu=https://eu.example/, us=http://127.0.0.1:8080",
            "GB=eu",
            "NA=us",
        )
        .unwrap();
        assert_eq!(r.origins[0], ("eu".into(), "https://eu.example".into()));
        assert_eq!(r.map.home(Some("GB"), Some("EU")), "eu");
        assert_eq!(r.map.home(Some("CA"), Some("NA")), "us");
        assert!(Regions::parse("eu", "", "").is_err());
        assert!(Regions::parse("eu=ftp://x", "", "").is_err());
        assert!(Regions::parse("eu=https://a,eu=https://b", "", "").is_err());
        assert!(Regions::parse("eu=https://a", "FR=us", "").is_err());
    }

    #[test]
    fn contrast_matches_known_values() {
        assert!((contrast_with_white([0, 0, 0]) - 21.0).abs() < 0.01);
        assert!((contrast_with_white([255, 255, 255]) - 1.0).abs() < 0.01);
        assert_eq!(parse_hex_color("#fff"), Some([255, 255, 255]));
        assert_eq!(parse_hex_color("#0B57D0"), Some([11, 87, 208]));
        assert_eq!(parse_hex_color("#12345"), None);
    }
}
