//! The whole stack for edge tests: Redis, the origin, and the built worker under workerd.

use anyhow::Result;
use herdgate_core::wire::{ChallengeResponse, QueueStatus};
use herdgate_core::{pow, Keyring, SaleId};
use herdgate_testkit::{EdgeWorker, OriginOptions, RedisServer, TestKeys, TestOrigin};
use serde_json::{json, Value};

use crate::support::{http_client, metrics_text, status_json, sum_metric};

/// Difficulty used by the tests: cheap to solve, still checked.
pub const TEST_POW_BITS: u8 = 8;
/// Queue shards used by the tests.
pub const TEST_SHARDS: u64 = 4;

pub struct Stack {
    pub redis: RedisServer,
    pub origin: TestOrigin,
    pub edge: EdgeWorker,
    pub keys: TestKeys,
    pub ticket_keys: Keyring,
    pub http: reqwest::Client,
}

impl Stack {
    pub async fn start() -> Result<Self> {
        Self::start_with(json!({})).await
    }

    /// Like [`Stack::start`], with extra worker bindings (vars) on top of the defaults.
    pub async fn start_with(extra: Value) -> Result<Self> {
        Self::start_full(extra, OriginOptions::default()).await
    }

    /// Like [`Stack::start_with`], with origin options too.
    pub async fn start_full(extra: Value, origin_opts: OriginOptions) -> Result<Self> {
        let redis = RedisServer::start().await?;
        let keys = TestKeys::generate();
        let origin = TestOrigin::start(&redis.url(), &keys, origin_opts).await?;
        // A keyring of its own for challenges and tickets, which only the edge holds.
        let fresh = TestKeys::generate().spec;
        let ticket_spec = format!("e1:{}", fresh.split_once(':').unwrap().1);
        let mut bindings = json!({
            "ORIGIN_URL": origin.url(),
            "TICKET_KEYS": ticket_spec,
            "PASS_KEYS": keys.spec,
            "ADMIN_TOKEN": keys.admin_token,
            "POW_BITS": TEST_POW_BITS.to_string(),
            "QUEUE_SHARD_COUNT": TEST_SHARDS.to_string(),
            "STATE_CACHE_MS": "1000",
            "POLL_MIN_MS": "200",
            // The bot defences are off unless a test turns them on: most tests join many
            // times from one client (see tests/it/defences.rs for the defences).
            "POW_ADAPTIVE": "off",
            "JOINS_PER_DEVICE": "0",
            "JOINS_PER_NETWORK": "0",
        });
        if let (Some(b), Some(e)) = (bindings.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let edge = EdgeWorker::start(&bindings).await?;
        Ok(Stack {
            redis,
            origin,
            edge,
            keys,
            ticket_keys: Keyring::parse(&ticket_spec)?,
            http: http_client(),
        })
    }

    /// Creates a sale at the origin: `stock` items, open since `opened_ms_ago`, `rate`/s.
    pub async fn sale(&self, sale: &str, stock: u64, opened_ms_ago: i64, rate: u32) -> SaleId {
        let starts = herdgate_testkit::now_ms() as i64 - opened_ms_ago;
        let r = self
            .http
            .put(format!("{}/admin/v1/sales/{sale}", self.origin.url()))
            .bearer_auth(&self.keys.admin_token)
            .json(&json!({"stock": stock, "per_visitor_limit": 1,
                          "starts_at_ms": starts, "admission_rate": rate}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        SaleId::parse(sale).unwrap()
    }

    fn api(&self, sale: &str, what: &str) -> String {
        format!("{}/api/v1/sales/{sale}/{what}", self.edge.url())
    }

    pub async fn challenge(&self, sale: &str, ua: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.api(sale, "challenge"))
            .header("user-agent", ua)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    pub async fn join_with(
        &self,
        sale: &str,
        ua: &str,
        challenge: &str,
        nonce: u64,
    ) -> (u16, Value) {
        let r = self
            .http
            .post(self.api(sale, "join"))
            .header("user-agent", ua)
            .json(&json!({"challenge": challenge, "nonce": nonce}))
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    /// Challenge, solve, join: the ticket and the join answer.
    pub async fn join(&self, sale: &str, ua: &str) -> (String, Value) {
        let (status, ch) = self.challenge(sale, ua).await;
        assert_eq!(status, 200, "{ch}");
        let ch: ChallengeResponse = serde_json::from_value(ch).unwrap();
        let nonce = pow::solve(&ch.challenge, ch.bits, 0..u64::MAX).unwrap();
        let (status, body) = self.join_with(sale, ua, &ch.challenge, nonce).await;
        assert_eq!(status, 201, "{body}");
        (body["ticket"].as_str().unwrap().to_owned(), body)
    }

    pub async fn status(&self, sale: &str, ua: &str, ticket: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.api(sale, "status"))
            .header("user-agent", ua)
            .bearer_auth(ticket)
            .send()
            .await
            .unwrap();
        status_json(r).await
    }

    pub async fn queue_status(&self, sale: &str, ua: &str, ticket: &str) -> QueueStatus {
        let (status, body) = self.status(sale, ua, ticket).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }

    pub async fn purchase(&self, sale: &str, ua: &str, pass: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.api(sale, "purchase"))
            .header("user-agent", ua)
            .header("content-type", "application/json")
            .body("{}");
        if let Some(p) = pass {
            req = req.bearer_auth(p);
        }
        status_json(req.send().await.unwrap()).await
    }

    pub async fn control(&self, sale: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/admin/v1/sales/{sale}/control", self.edge.url());
        let req = match body {
            Some(b) => self.http.post(url).json(&b),
            None => self.http.get(url),
        };
        status_json(
            req.bearer_auth(&self.keys.admin_token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The edge's view of a sale (admission frontier included).
    pub async fn edge_state(&self, sale: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/sales/{sale}", self.edge.url()))
            .send()
            .await
            .unwrap();
        status_json(r).await.1
    }

    /// Purchase requests the origin has received (its own counter), all outcomes.
    pub async fn origin_purchases(&self) -> f64 {
        let text = metrics_text(&self.http, &self.origin.url()).await;
        sum_metric(
            &text,
            "herdgate_http_requests_total",
            &["route=\"/v1/sales/{sale}/purchase\""],
        )
    }
}

/// The pass of an admitted status.
pub fn pass_of(status: &QueueStatus) -> String {
    match status {
        QueueStatus::Admitted { pass, .. } => pass.clone(),
        other => panic!("not admitted: {other:?}"),
    }
}
