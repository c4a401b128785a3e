//! The whole stack for edge tests: the testkit's [`herdgate_testkit::Stack`] (Redis, the
//! origin in-process, the built worker under workerd) with the tests' worker settings, and the
//! few things only these tests ask of it. Buyers and the operator are the testkit's clients:
//! `s.buyer(ua)` and `s.admin()`.

use std::ops::Deref;
use std::time::Duration;

use anyhow::Result;
use herdgate_core::wire::{QueueStatus, SaleConfig};
use herdgate_core::SaleId;
use herdgate_testkit::{EdgeClient, StackBuilder};
use serde_json::{json, Value};

use crate::support::sum_metric;

/// Difficulty used by the tests: cheap to solve, still checked.
pub const TEST_POW_BITS: u8 = 8;
/// Queue shards used by the tests.
pub const TEST_SHARDS: u64 = 4;

/// The testkit's stack, with the tests' helpers.
pub struct Stack(herdgate_testkit::Stack);

impl Deref for Stack {
    type Target = herdgate_testkit::Stack;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A stack with the origin in-process and the tests' worker settings; vars set on the
/// builder afterwards win.
pub fn builder() -> StackBuilder {
    herdgate_testkit::Stack::in_process().vars(json!({
        "POW_BITS": TEST_POW_BITS.to_string(),
        "QUEUE_SHARD_COUNT": TEST_SHARDS.to_string(),
        "STATE_CACHE_MS": "1000",
        "POLL_MIN_MS": "200",
        // The bot defences are off unless a test turns them on: most tests join many
        // times from one client (see tests/it/defences.rs for the defences).
        "POW_ADAPTIVE": "off",
        "JOINS_PER_DEVICE": "0",
        "JOINS_PER_NETWORK": "0",
    }))
}

impl Stack {
    pub async fn start() -> Result<Self> {
        Self::start_with(json!({})).await
    }

    /// Like [`Stack::start`], with extra worker bindings (vars) on top of the defaults.
    pub async fn start_with(extra: Value) -> Result<Self> {
        Self::start_from(builder().vars(extra)).await
    }

    /// Starts what `builder` (from [`builder`]) describes.
    pub async fn start_from(builder: StackBuilder) -> Result<Self> {
        Ok(Stack(builder.start().await?))
    }

    /// Creates a sale at the origin: `stock` items, open since `opened_ms_ago`, `rate`/s.
    pub async fn sale(&self, sale: &str, stock: u64, opened_ms_ago: i64, rate: u32) -> SaleId {
        let starts = herdgate_testkit::now_ms() as i64 - opened_ms_ago;
        let config = SaleConfig {
            stock,
            per_visitor_limit: 1,
            starts_at_ms: u64::try_from(starts).unwrap(),
            admission_rate: rate,
            price: None,
            paused: None,
            prequeue: None,
            stock_shards: None,
            countries: Vec::new(),
        };
        self.admin().put_sale(sale, &config).await.unwrap();
        SaleId::parse(sale).unwrap()
    }

    /// The operator reads (`None`) or changes the sale's admission at the edge.
    pub async fn control(&self, sale: &str, body: Option<Value>) -> (u16, Value) {
        self.buyer("herdgate-tests (operator)")
            .control_reply(sale, &self.keys.admin_token, body.as_ref())
            .await
            .unwrap()
    }

    /// The edge's view of a sale (admission frontier included).
    pub async fn edge_state(&self, sale: &str) -> Value {
        self.buyer("herdgate-tests (operator)")
            .sale_reply(sale)
            .await
            .unwrap()
            .1
    }

    /// Purchase requests the origin has received (its own counter), all outcomes.
    pub async fn origin_purchases(&self) -> f64 {
        let text = self.admin().metrics_text().await.unwrap();
        sum_metric(
            &text,
            "herdgate_http_requests_total",
            &["route=\"/v1/sales/{sale}/purchase\""],
        )
    }

    /// Items sold and items remaining of `sale`, read from Redis.
    pub async fn sold_and_remaining(&self, sale: &str) -> (u64, u64) {
        let c = self.redis.client().await.unwrap();
        let v: Vec<u64> = fred::interfaces::HashesInterface::hmget(
            &c,
            format!("hg:{{{sale}}}:sale"),
            vec!["sold", "remaining"],
        )
        .await
        .unwrap();
        (v[0], v[1])
    }
}

/// Polls the ticket's status until `done` says so (every 100 ms, at most `limit`).
pub async fn poll_until(
    me: &EdgeClient,
    sale: &str,
    ticket: &str,
    limit: Duration,
    done: impl Fn(&QueueStatus) -> bool,
) -> QueueStatus {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let status = me.status(sale, ticket).await.unwrap();
        if done(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "still {status:?} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether `status` admits (carries a pass).
pub fn admitted(status: &QueueStatus) -> bool {
    matches!(status, QueueStatus::Admitted { .. })
}

/// The pass of an admitted status.
pub fn pass_of(status: &QueueStatus) -> String {
    match status {
        QueueStatus::Admitted { pass, .. } => pass.clone(),
        other => panic!("not admitted: {other:?}"),
    }
}
