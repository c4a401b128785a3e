//! The worker's Durable Objects, each beside the typed client the handlers call it with.
//!
//! | class (`wrangler.toml`) | binding | one object per | file |
//! |---|---|---|---|
//! | `QueueShard` | `QUEUE_SHARDS` | sale and shard, `{sale}:{k}` | `objects/queue_shard/` |
//! | `JoinLimiter` | `JOIN_LIMITS` | sale and limiter shard, `{sale}:{k}` | `objects/join_limiter.rs` |
//! | `SaleControl` | `SALE_CONTROL` | sale, `{sale}` | `objects/sale_control.rs` |
//!
//! Every call is one small JSON message and its JSON answer ([`call_object`]); the message
//! types live beside the object that answers them. [`janitor`] holds the rounds in which the
//! queue shards and join limiters delete what a sale left behind once it is over.

use herdgate_core::ErrorCode;
use worker::{Env, Method, Request, RequestInit};

use crate::http::Refusal;

pub mod janitor;
pub mod join_limiter;
pub mod queue_shard;
pub mod sale_control;

/// Sends `request` as JSON to the Durable Object `name` of namespace `binding` and reads its
/// JSON answer. Any failure is logged and becomes an `internal` refusal.
pub async fn call_object<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    request: &Q,
) -> Result<A, Refusal> {
    fn internal<E: std::fmt::Display>(e: E) -> Refusal {
        worker::console_error!("durable object call failed: {e}");
        Refusal(ErrorCode::Internal)
    }
    let namespace = env.durable_object(binding).map_err(internal)?;
    let stub = namespace
        .id_from_name(name)
        .and_then(|id| id.get_stub())
        .map_err(internal)?;
    let body = serde_json::to_string(request).map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://object/", &init).map_err(internal)?;
    let mut resp = stub.fetch_with_request(req).await.map_err(internal)?;
    resp.json::<A>().await.map_err(internal)
}

/// The shard (of `shards`) a hex string belongs to: a challenge id, or a network digest.
pub(crate) fn shard_of_hex(id: &str, shards: u32) -> u32 {
    let head = id
        .get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    head % shards.max(1)
}
