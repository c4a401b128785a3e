//! The operator's routes at the edge, behind the admin token.
//!
//! `GET /admin/v1/sales/{sale}/storage` says what the sale's objects store (keys and bytes),
//! so an operator sees a sale's storage end (see `objects/janitor.rs`).
//!
//! `GET /admin/v1/sales/{sale}/counters` says what the edge counted for the sale
//! (`herdgate_core::wire::EdgeCounts`): every isolate's counts as it last handed them on with
//! its control call, and this isolate's until now.
//!
//! `GET`, `POST /admin/v1/sales/{sale}/control`: the operator reads the sale's admission
//! control, pauses, resumes or sets the rate, with the admin token. A change is made at the
//! origin, which holds the sale's settings (the operator's token is passed on, and the origin
//! checks it too); this isolate then reads the new state and its `SaleControl` object follows
//! it at once. Other isolates follow within `STATE_CACHE_MS` and one object round trip.

use herdgate_core::wire::ControlRequest;
use herdgate_core::ErrorCode;
use worker::{Method, Request};

use crate::api::{origin_response, Ctx, Outcome};
use crate::cache;
use crate::config::Config;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::janitor::Census;
use crate::objects::join_limiter::{self, LimitRequest, LimitResponse};
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};
use crate::objects::sale_control::{self, ControlOp};
use crate::origin::{self, known_sale};

/// The admin token the request carries, if it is the operator's.
fn operator(req: &Request, cfg: &Config) -> Result<String, Refusal> {
    match http::bearer(req) {
        Some(token) if cfg.is_admin(&token) => Ok(token),
        _ => Err(Refusal(ErrorCode::Unauthorized)),
    }
}

/// `GET`, `POST /admin/v1/sales/{sale}/control`: read, pause, resume or set the admission
/// rate (admin token).
pub(crate) async fn control(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let body = cx.body()?;
    let token = operator(req, cfg)?;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let state = if req.method() == Method::Post {
        // Checked here so a bad body is refused without a round trip.
        let _: ControlRequest = http::parse(body)?;
        match origin::control_sale(cfg, &sale, &token, body).await? {
            Ok(state) => {
                cache::put_sale(&sale, state.clone(), now);
                state
            }
            Err((status, text)) => return origin_response(status, text),
        }
    } else {
        known_sale(cfg, &sale, now).await?
    };
    let op = ControlOp::Get {
        settings: state.admission(),
        sale: sale.to_string(),
        bought: state.sold + state.cancelled,
        remaining: Some(state.unsold()),
        counts: None,
    };
    let control = sale_control::call(env, &sale, &op).await?;
    cache::put_control(&sale, control.clone(), now);
    http::json(&control, 200).map_err(internal)
}

/// `GET /admin/v1/sales/{sale}/counters`: what the edge counted for the sale (admin token).
pub(crate) async fn counters(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    operator(req, cfg)?;
    let sale = sale_id(raw)?;
    // Only a sale that exists has a control object to ask.
    known_sale(cfg, &sale, now_ms()).await?;
    let totals = sale_control::counts(env, &sale).await?;
    http::json(&totals, 200).map_err(internal)
}

/// `GET /admin/v1/sales/{sale}/storage`: keys and bytes stored by the sale's queue shards and
/// join limiters, each kind summed (the sale's control object adds two keys: the schedule and
/// the edge's counts). It lists every key of every object: an operator's occasional question,
/// not a dashboard's poll.
pub(crate) async fn storage(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    operator(req, cfg)?;
    let sale = sale_id(raw)?;
    let mut shards = Census::default();
    for shard in 0..cfg.shards.max(1) {
        match queue_shard::call(env, &sale, shard, &ShardRequest::Census).await? {
            ShardResponse::Census(c) => add(&mut shards, c),
            other => return Err(internal(format!("unexpected shard answer {other:?}"))),
        }
    }
    let mut limiters = Census::default();
    for shard in 0..cfg.limit_shards.max(1) {
        match join_limiter::call_shard(env, &sale, shard, &LimitRequest::Census).await? {
            LimitResponse::Census(c) => add(&mut limiters, c),
            other => return Err(internal(format!("unexpected limiter answer {other:?}"))),
        }
    }
    let body = serde_json::json!({
        "sale": sale,
        "queue_shards": shards,
        "join_limiters": limiters,
        "keys": shards.keys + limiters.keys,
        "bytes": shards.bytes + limiters.bytes,
    });
    http::json(&body, 200).map_err(internal)
}

fn add(total: &mut Census, one: Census) {
    total.keys += one.keys;
    total.bytes += one.bytes;
}
