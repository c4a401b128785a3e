//! Step 6, buy: `POST /api/v1/sales/{sale}/purchase` reaches the origin only with a valid pass
//! for the sale, offered by the client it was issued to, claimed at its queue shard so it buys
//! at most once, while the sale is not sold out. The no-JavaScript lane buys through the same
//! [`settle`].

use herdgate_core::gate::purchase::{held_position, replay, sold_the_last_item};
use herdgate_core::wire::{PurchaseRequest, SaleStatus};
use herdgate_core::{ErrorCode, PassClaims, SaleId};
use worker::{Env, Response};

use crate::api::{Ctx, Outcome};
use crate::cache;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};
use crate::origin::{self, known_sale};
use crate::tokens;

/// `POST /api/v1/sales/{sale}/purchase`: forwarded to the origin only with a valid pass.
pub(crate) async fn post(cx: &Ctx, raw: &str) -> Outcome {
    let body = cx.body()?;
    let sale = sale_id(raw)?;
    let _: PurchaseRequest = http::parse_or_default(body)?;
    let (status, text) = settle(cx, body, &sale).await?;
    origin_response(status, text)
}

/// Buys with the request's pass: claims the pass at its shard (a pass that bought before gets
/// its stored answer, `200` with `created: false`), forwards the purchase to the origin and
/// records the answer. Returns the origin's status and body.
pub(crate) async fn settle(
    cx: &Ctx,
    body: &[u8],
    sale: &SaleId,
) -> std::result::Result<(u16, String), Refusal> {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale.clone();
    let now = now_ms();
    // Verified without the client check first, so a pass offered from another client can be
    // remembered as shared (the audit scores it) before it is refused.
    let (pass, _) = tokens::verified_pass_any_client(req, cfg, &sale, now)?;
    let shard = queue_shard::shard_of_position(cfg, pass.position)?;
    if let Err(refusal) = tokens::same_client(req, cfg, &pass.client) {
        let taint = ShardRequest::Taint {
            pass: pass.id.clone(),
        };
        queue_shard::call(env, &sale, shard, &taint).await?;
        return Err(refusal);
    }
    let state = known_sale(cfg, &sale, now).await?;
    if state.status == SaleStatus::SoldOut {
        return Err(Refusal(ErrorCode::SoldOut));
    }
    if !pass.hold.is_empty() && pass.hat + cfg.hold_max_age_secs <= now / 1000 {
        // Released (or about to be) by its shard: not worth a round trip to the origin.
        return Err(Refusal(ErrorCode::HoldExpired));
    }

    let shared = match queue_shard::call(
        env,
        &sale,
        shard,
        &ShardRequest::Claim {
            pass: pass.id.clone(),
            position: held_position(&pass),
        },
    )
    .await?
    {
        ShardResponse::Claimed { shared } => shared,
        ShardResponse::InFlight => return Err(Refusal(ErrorCode::PurchaseInProgress)),
        ShardResponse::Done { status, body } => return Ok(replay(status, &body)),
        other => return Err(internal(format!("unexpected shard answer {other:?}"))),
    };

    // The pass goes on re-signed with the time the edge received the purchase (`rcv`) and
    // whether it was offered from another client (`shr`).
    let forwarded = cfg.pass_keys.sign(&PassClaims {
        rcv: now,
        shr: shared,
        ..pass.clone()
    });
    let answer = origin::forward_purchase(cfg, &sale, &forwarded, body).await;
    let (status, text) = match answer {
        Ok(a) => a,
        Err(refusal) => {
            release(env, &sale, shard, &pass.id).await;
            return Err(refusal);
        }
    };
    if status >= 500 || status == 402 {
        // Not a decision (5xx), or a payment to put right with a new card hold (402): let the
        // buyer retry with the same pass.
        release(env, &sale, shard, &pass.id).await;
    } else {
        let done = ShardRequest::Complete {
            pass: pass.id.clone(),
            status,
            body: text.clone(),
            position: held_position(&pass),
        };
        queue_shard::call(env, &sale, shard, &done).await?;
    }
    if sold_the_last_item(status, &text) {
        cache::mark_sold_out(&sale, now);
    }
    Ok((status, text))
}

async fn release(env: &Env, sale: &SaleId, shard: u32, pass: &str) {
    let release = ShardRequest::Release {
        pass: pass.to_owned(),
    };
    if let Err(Refusal(code)) = queue_shard::call(env, sale, shard, &release).await {
        worker::console_error!("could not release a purchase claim: {code}");
    }
}

fn origin_response(status: u16, body: String) -> Outcome {
    let mut resp = Response::ok(body).map_err(internal)?.with_status(status);
    let h = resp.headers_mut();
    h.set("content-type", "application/json")
        .map_err(internal)?;
    h.set("cache-control", "no-store").map_err(internal)?;
    if status == 503 {
        h.set("retry-after", "1").map_err(internal)?;
    }
    Ok(resp)
}
