//! What every test needs: a Redis, an origin, keys, an HTTP client and a few helpers.

use crate::independent::Books;
use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use fred::prelude::*;
use herdgate_core::wire::SaleConfig;
use herdgate_core::{SaleId, VisitorId};
use herdgate_testkit::{
    now_ms, read_reply, AdminClient, OriginOptions, RedisServer, TestKeys, TestOrigin,
};
use serde_json::Value;

/// Runs a test body with a time bound, so a hang fails instead of stalling CI. The body may
/// run beside other tests' bodies, but never beside one that runs [`alone`]; the wait for such
/// a test is bounded apart ([`STAGE_WAIT`]), so `limit` is the body's own.
pub async fn bounded<F: Future<Output = ()>>(limit: Duration, f: F) {
    let _beside_others = tokio::time::timeout(STAGE_WAIT, STAGE.read())
        .await
        .unwrap_or_else(|_| panic!("waited over {STAGE_WAIT:?} for the tests that run alone"));
    within(limit, f).await;
}

/// Like [`bounded`], with nothing else of this test binary running meanwhile: for the tests
/// that run a whole crowd (the burst, the herd, the defended crowd, the browser) and the
/// card-hold tests (workerd, localstripe and the shards' sweeps). What they check (who got the
/// items, how fast the audit saw a program buy) is read from the stack's own records, and on
/// two cores a neighbour's start-up (a workerd, a Chromium) would slow the stack under test
/// while the crowd is at the door.
pub async fn alone<F: Future<Output = ()>>(limit: Duration, f: F) {
    let _alone = tokio::time::timeout(STAGE_WAIT, STAGE.write())
        .await
        .unwrap_or_else(|_| panic!("waited over {STAGE_WAIT:?} for the other tests"));
    within(limit, f).await;
}

async fn within<F: Future<Output = ()>>(limit: Duration, f: F) {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {limit:?}"));
}

/// The longest a test waits for its turn on the stage: longer than every test that runs alone
/// takes together, so only a hang reaches it.
const STAGE_WAIT: Duration = Duration::from_secs(1_800);

/// Readers are tests that may share the machine; a writer is a test that runs alone. Tokio's
/// lock is fair: once a test waits to run alone, no new test starts before it.
static STAGE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// One Redis, one origin (no edge), keys, an HTTP client and the operator's client.
pub struct Env {
    pub redis: RedisServer,
    pub origin: TestOrigin,
    pub keys: TestKeys,
    pub http: reqwest::Client,
    pub admin: AdminClient,
    pub redis_client: Client,
    /// Reads of the books with the `redis` crate, not the origin's client.
    pub books: Books,
}

impl Env {
    pub async fn start() -> Result<Self> {
        Self::start_with(OriginOptions::default()).await
    }

    pub async fn start_with(opts: OriginOptions) -> Result<Self> {
        let redis = RedisServer::start().await?;
        let keys = TestKeys::generate();
        let origin = TestOrigin::start(&redis.url(), &keys, opts).await?;
        let redis_client = redis.client().await?;
        let books = Books::connect(&redis.url()).await;
        let http = http_client();
        Ok(Env {
            admin: AdminClient::new(http.clone(), &origin.url(), &keys.admin_token),
            redis,
            origin,
            keys,
            http,
            redis_client,
            books,
        })
    }

    /// Creates (or updates) a sale through the admin API; open since a minute ago.
    pub async fn create_sale(&self, sale: &str, stock: u64, limit: u32) -> SaleId {
        let config = SaleConfig {
            per_visitor_limit: limit,
            admission_rate: 500,
            ..open_config(stock)
        };
        self.admin.put_sale(sale, &config).await.unwrap();
        SaleId::parse(sale).unwrap()
    }

    pub fn pass(&self, sale: &SaleId, visitor: &str) -> String {
        self.keys.pass(sale, &VisitorId::parse(visitor).unwrap())
    }

    /// POSTs a purchase with `pass` (if any) and a JSON body.
    pub async fn purchase(&self, sale: &str, pass: Option<&str>, body: &str) -> (u16, Value) {
        purchase(&self.http, &self.origin.url(), sale, pass, body).await
    }

    /// `remaining`, `sold` and `stock` of a sale, read in one HMGET straight from Redis.
    pub async fn stock(&self, sale: &SaleId) -> (u64, u64, u64) {
        self.books.stock(sale).await
    }

    /// The number of orders in a sale's orders hash.
    pub async fn orders(&self, sale: &SaleId) -> u64 {
        self.redis_client
            .hlen(format!("hg:{{{sale}}}:orders"))
            .await
            .unwrap()
    }

    /// A counter from the origin's /metrics, summed over the series whose labels contain
    /// every string in `labels`.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        sum_metric(
            &metrics_text(&self.http, &self.origin.url(), &self.keys.admin_token).await,
            name,
            labels,
        )
    }
}

/// The text of `<base>/metrics`, read with the admin token.
pub async fn metrics_text(http: &reqwest::Client, base: &str, admin_token: &str) -> String {
    AdminClient::new(http.clone(), base, admin_token)
        .metrics_text()
        .await
        .unwrap()
}

pub fn sum_metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub use crate::independent::read_stock;

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(512)
        .build()
        .unwrap()
}

/// A sale of `stock` items open since a minute ago: one item a visitor, 100 admitted a
/// second, no price, no pre-queue, no stock shards.
pub fn open_config(stock: u64) -> SaleConfig {
    SaleConfig {
        stock,
        per_visitor_limit: 1,
        starts_at_ms: now_ms() - 60_000,
        admission_rate: 100,
        price: None,
        paused: None,
        prequeue: None,
        stock_shards: None,
        countries: Vec::new(),
    }
}

pub async fn purchase(
    http: &reqwest::Client,
    base: &str,
    sale: &str,
    pass: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut req = http
        .post(format!("{base}/v1/sales/{sale}/purchase"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(p) = pass {
        req = req.bearer_auth(p);
    }
    status_json(req.send().await.unwrap()).await
}

pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    read_reply(r).await.unwrap()
}

/// The refusal code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

/// Calls of one command in Redis's own statistics (INFO commandstats).
pub async fn command_calls(client: &Client, command: &str) -> u64 {
    let info: String = client
        .info(Some(fred::types::InfoKind::CommandStats))
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
