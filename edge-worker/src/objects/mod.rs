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
use worker::js_sys::Promise;
use worker::wasm_bindgen::{prelude::wasm_bindgen, JsCast as _, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env};

use crate::http::Refusal;

pub mod janitor;
pub mod join_limiter;
pub mod queue_shard;
pub mod sale_control;

/// Sends `request` as JSON to the Durable Object `name` of namespace `binding` and reads its
/// JSON answer. Any failure is logged and becomes an `internal` refusal.
///
/// The call goes through the stub's own `fetch` and reads the answer with one `text()`: the
/// `worker` crate's `Stub::fetch_with_request` and `Response::json` wrap the answer's body in
/// a stream read chunk by chunk, which cost more of the edge's CPU than the object's work
/// (`herdgate-bench edge-cost`, BENCHMARKS.md).
pub async fn call_object<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    request: &Q,
) -> Result<A, Refusal> {
    fn internal<E: std::fmt::Debug>(e: E) -> Refusal {
        worker::console_error!("durable object call failed: {e:?}");
        Refusal(ErrorCode::Internal)
    }
    let namespace = env.durable_object(binding).map_err(internal)?;
    let stub = namespace
        .id_from_name(name)
        .and_then(|id| id.get_stub())
        .map_err(internal)?
        .into_rpc::<RawStub>();
    let body = serde_json::to_string(request).map_err(internal)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&body));
    let resp: web_sys::Response = JsFuture::from(stub.fetch(OBJECT_URL, &init).map_err(internal)?)
        .await
        .map_err(internal)?
        .dyn_into()
        .map_err(internal)?;
    let text = JsFuture::from(resp.text().map_err(internal)?)
        .await
        .map_err(internal)?
        .as_string()
        .ok_or_else(|| internal("an object's answer is not text"))?;
    if !resp.ok() {
        return Err(internal(format!("{} {text}", resp.status())));
    }
    serde_json::from_str(&text).map_err(internal)
}

/// The URL every object call is sent to (objects look only at the body).
const OBJECT_URL: &str = "https://object/";

#[wasm_bindgen]
extern "C" {
    /// A Durable Object stub as the runtime hands it out.
    type RawStub;

    /// `stub.fetch(url, init)`.
    #[wasm_bindgen(method, catch)]
    fn fetch(this: &RawStub, url: &str, init: &web_sys::RequestInit) -> Result<Promise, JsValue>;
}

/// An object's request, read as JSON in wasm (one `text()`; the `worker` crate's
/// `Request::json` converts the parsed JavaScript value field by field).
pub(crate) async fn read_request<T: serde::de::DeserializeOwned>(
    req: &mut worker::Request,
) -> worker::Result<T> {
    let text = req.text().await?;
    serde_json::from_str(&text)
        .map_err(|e| worker::Error::RustError(format!("bad object request: {e}")))
}

/// The shard (of `shards`) a hex string belongs to: a challenge id, or a network digest.
pub(crate) fn shard_of_hex(id: &str, shards: u32) -> u32 {
    let head = id
        .get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    head % shards.max(1)
}
