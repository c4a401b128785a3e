//! Step 6, buy: `POST /api/v1/sales/{sale}/purchase` reaches the origin only with a valid pass
//! for the sale, offered by the client it was issued to, claimed at its queue shard so it buys
//! at most once, while the sale is open and not sold out. The no-JavaScript lane buys through
//! the same [`settle`].
//!
//! Only a final answer is remembered for the pass ([`is_final`]: an order, or a refusal that
//! can never change); after any other refusal the claim is given up, so a refusal costs
//! nobody their place. A purchase whose answer was lost (no answer in time, a 5xx) is marked
//! unsettled, so that a retry after the sell-out still asks the origin, which may have sold.
//! A remembered order is asked for again once the audit has cancelled orders of the sale
//! since it was stored (the sale's `cancelled` count grew), so a cancelled order reads as
//! `order_cancelled`.

use herdgate_core::gate::purchase::{held_position, is_final, replay, sold_the_last_item};
use herdgate_core::region;
use herdgate_core::wire::{PurchaseRequest, SaleStatus};
use herdgate_core::{ErrorCode, SaleId};
use worker::Env;

use crate::api::{origin_response, Ctx, Outcome};
use crate::cache;
use crate::counters;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};
use crate::origin::{self, known_sale};
use crate::tokens;

/// `POST /api/v1/sales/{sale}/purchase`: forwarded to the origin only with a valid pass.
pub(crate) async fn post(cx: &Ctx, raw: &str) -> Outcome {
    let body = cx.body()?;
    let sale = sale_id(raw)?;
    let (status, text) = settle(cx, body, &sale).await?;
    origin_response(status, text)
}

/// Buys with the request's pass: claims the pass at its shard (a pass that bought before gets
/// its stored answer, `200` with `created: false`), forwards the purchase to the origin and
/// records the answer if it is final. Returns the origin's status and body.
pub(crate) async fn settle(
    cx: &Ctx,
    body: &[u8],
    sale: &SaleId,
) -> std::result::Result<(u16, String), Refusal> {
    let Ctx { req, env, cfg, .. } = cx;
    let request: PurchaseRequest = http::parse_or_default(body)?;
    let sale = sale.clone();
    let now = now_ms();
    // A pass offered from another client is refused and nothing is recorded of it: a phone
    // that changed networks, or someone who copied the pass, must not get the owner's order
    // flagged.
    let held = tokens::verified_pass(req, cfg, &sale, now)?;
    held.proven(req, now).await?;
    let (pass, token) = (held.claims, held.token);
    let shard = queue_shard::shard_of_position(cfg, pass.position)?;
    let state = known_sale(cfg, &sale, now).await?;
    // Refusals the origin would give, given here without a round trip: they change nothing.
    if state.status == SaleStatus::SoldOut {
        // A winner who asks again (their answer was lost) gets their order, not "sold out".
        let answer = ShardRequest::Answer {
            pass: pass.id.clone(),
            cancelled: state.cancelled,
        };
        match queue_shard::call(env, &sale, shard, &answer).await? {
            ShardResponse::Done { status, body } => return Ok(replay(status, &body)),
            // An earlier purchase with this pass reached the origin and its answer was lost
            // (a timeout, a 5xx, a worker that died): the origin may have sold to it, and
            // answers a sold-out sale from memory. Ask it.
            ShardResponse::Unsettled => {}
            _ => return Err(Refusal(ErrorCode::SoldOut)),
        }
    }
    if now < state.starts_at_ms {
        return Err(Refusal(ErrorCode::SaleNotOpen));
    }
    if request.quantity == 0 || request.quantity > state.per_visitor_limit {
        return Err(Refusal(ErrorCode::OverLimit));
    }
    if !pass.hold.is_empty() && pass.hat + cfg.hold_max_age_secs <= now / 1000 {
        // Released (or about to be) by its shard: not worth a round trip to the origin.
        return Err(Refusal(ErrorCode::HoldExpired));
    }

    match queue_shard::call(
        env,
        &sale,
        shard,
        &ShardRequest::Claim {
            pass: pass.id.clone(),
            position: held_position(&pass),
            cancelled: state.cancelled,
        },
    )
    .await?
    {
        ShardResponse::Claimed => {}
        ShardResponse::InFlight => return Err(Refusal(ErrorCode::PurchaseInProgress)),
        ShardResponse::Done { status, body } => return Ok(replay(status, &body)),
        other => return Err(internal(format!("unexpected shard answer {other:?}"))),
    };

    let (forwarded, proof) = tokens::forwarded_pass(req, cfg, &pass, &token, now);
    counters::forwarded(&sale);
    let answer =
        origin::forward_purchase(cfg, &sale, &pass.reg, &forwarded, proof.as_deref(), body).await;
    let (status, text) = match answer {
        Ok(a) => a,
        Err(refusal) => {
            // No answer in time (or none at all): the origin may have taken the purchase.
            give_up_claim(env, &sale, shard, &pass.id, true).await;
            return Err(refusal);
        }
    };
    // With regions, a region that sold what it held is out for now while another region has
    // stock, which the rebalancer moves towards demand: worth trying again, and not an answer
    // to keep for the pass. The isolate's copies are read again before saying sold out: read
    // a moment apart, they may have missed an item on its way.
    if cfg.regions.is_some() && is_sold_out(status, &text) {
        let mut moving = region::restocking(&origin::region_copies(&sale), &pass.reg);
        if !moving {
            origin::reread(cfg, &sale, now).await;
            moving = region::restocking(&origin::region_copies(&sale), &pass.reg);
        }
        if moving {
            give_up_claim(env, &sale, shard, &pass.id, false).await;
            origin::region_sold_out(cfg, &sale, &pass.reg, now).await;
            return Err(Refusal(ErrorCode::StockMoving));
        }
    }
    end_claim(env, &sale, shard, &pass, state.cancelled, status, &text).await;
    // (One region's last item is not the sale's: that region's copy says so.)
    if cfg.regions.is_none() {
        if sold_the_last_item(status, &text) {
            cache::mark_sold_out(&sale, now);
        }
    } else if sold_the_last_item(status, &text) || is_sold_out(status, &text) {
        origin::region_sold_out(cfg, &sale, &pass.reg, now).await;
    }
    Ok((status, text))
}

/// Whether the origin's answer is the refusal `sold_out`.
fn is_sold_out(status: u16, text: &str) -> bool {
    status == ErrorCode::SoldOut.status()
        && serde_json::from_str::<herdgate_core::wire::ErrorBody>(text)
            .is_ok_and(|b| b.error.code == ErrorCode::SoldOut)
}

/// Ends the claim of `pass` at its shard with the origin's answer (`status`, `text`), given
/// when the sale's cancelled count was `cancelled`. A final answer ([`is_final`]) is stored for
/// the pass, and the shard marks the card hold it captured charged. Any other answer gives the
/// claim up: a refusal that may not hold a moment later, a payment to put right with a new
/// card hold, or a 5xx, after which the origin may have sold all the same (Redis wrote the
/// order and the reply was lost). A seat hold's confirmation ends its claim here too.
pub(crate) async fn end_claim(
    env: &Env,
    sale: &SaleId,
    shard: u32,
    pass: &herdgate_core::PassClaims,
    cancelled: u64,
    status: u16,
    text: &str,
) {
    if !is_final(status, text) {
        give_up_claim(env, sale, shard, &pass.id, status >= 500).await;
        return;
    }
    let done = ShardRequest::Complete {
        pass: pass.id.clone(),
        status,
        body: text.to_owned(),
        position: held_position(pass),
        cancelled,
    };
    // The buyer gets the origin's answer even if it could not be stored: the claim lapses and
    // a retry gets the same order from the origin.
    if let Err(Refusal(code)) = queue_shard::call(env, sale, shard, &done).await {
        worker::console_error!("could not store a purchase's answer: {code}");
    }
}

/// Gives up the claim of `pass` at its shard: `unsettled` when the origin may have sold to it
/// all the same (no answer, or a 5xx), so that a retry after the sell-out still asks it. A
/// seat hold's confirmation gives its claim up here too.
pub(crate) async fn give_up_claim(
    env: &Env,
    sale: &SaleId,
    shard: u32,
    pass: &str,
    unsettled: bool,
) {
    let release = ShardRequest::Release {
        pass: pass.to_owned(),
        unsettled,
    };
    if let Err(Refusal(code)) = queue_shard::call(env, sale, shard, &release).await {
        worker::console_error!("could not release a purchase claim: {code}");
    }
}
