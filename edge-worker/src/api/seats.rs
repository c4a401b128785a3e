//! Seated sales at the edge: the seats as they stand, and a buyer's seat holds, forwarded to
//! the origin (`lua/seats.lua` holds the seats) with the admission pass.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/sales/{sale}/seats` | free, held and sold seats by section, free by tier ([`herdgate_core::seats::SeatSummary`]) |
//! | `GET /api/v1/sales/{sale}/seats?section=S` | one section's rows, seat by seat ([`herdgate_core::seats::Availability`]) |
//! | `POST /api/v1/sales/{sale}/seat-holds` | hold named seats, or the best block of N together |
//! | `POST /api/v1/sales/{sale}/seat-holds/{hold}/confirm` | buy the held seats |
//! | `DELETE /api/v1/sales/{sale}/seat-holds/{hold}` | give them back |
//!
//! The seats are read with a pass (only admitted buyers look) and answered from the isolate's
//! copy, at most `STATE_CACHE_MS` old: a crowd choosing seats costs the origin about one read
//! per isolate per second, not one per look. A hold, a confirmation and a release need the
//! pass and, for a pass bound to a key, a proof for the request's own address; the origin
//! checks both again. Each tells the sale's control object who is choosing (admission by
//! concurrency, [`crate::objects::sale_control::Sessions`]): a hold counts its place until it
//! lapses, a confirmation or a release ends it.
//!
//! A confirmation buys, so it goes through the pass's queue shard as a purchase does
//! (`api/purchase.rs`): the pass is claimed while the origin answers, so the shard does not
//! release the card hold being captured and a second tab gets `purchase_in_progress`; an
//! order is stored for the pass (a retry is answered by the shard, and the card hold it
//! captured is never released); any other answer gives the claim up.

use std::collections::HashMap;
use std::rc::Rc;

use herdgate_core::gate::purchase::{held_position, replay, sold_the_last_item};
use herdgate_core::seats::SeatHold;
use herdgate_core::wire::SaleStatus;
use herdgate_core::{ErrorCode, SaleId};
use worker::{Method, Response};

use crate::api::{origin_response, purchase, Ctx, Outcome};
use crate::cache::{self, SeatView};
use crate::http::{internal, now_ms, sale_id, Refusal};
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};
use crate::objects::sale_control::{self, ControlOp};
use crate::origin::{self, known_sale};
use crate::tokens;

/// `GET /api/v1/sales/{sale}/seats[?section=S]`: the seats as this isolate last read them.
pub(crate) async fn get(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let url = req.url().map_err(internal)?;
    let mut section = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "section" if section.is_none() && herdgate_core::seats::is_part_id(&value) => {
                section = Some(value.into_owned());
            }
            _ => return Err(Refusal(ErrorCode::InvalidQuery)),
        }
    }
    // Only admitted buyers look: the pass's signature, sale, time and client are checked; a
    // look changes nothing, so no proof is asked for.
    tokens::verified_pass(req, cfg, &sale, now)?;
    let view = cache::seats(&sale, now, cfg.state_cache_ms, read(cfg, &sale)).await?;
    let body = match section {
        None => view.summary.clone(),
        Some(id) => view
            .sections
            .get(&id)
            .cloned()
            .ok_or(Refusal(ErrorCode::UnknownSeat))?,
    };
    let mut resp = Response::ok(body).map_err(internal)?;
    let h = resp.headers_mut();
    h.set("content-type", "application/json")
        .map_err(internal)?;
    h.set("cache-control", "private, max-age=1")
        .map_err(internal)?;
    Ok(resp)
}

/// Reads the seats from the origin and renders what this isolate answers.
async fn read(cfg: &crate::config::Config, sale: &SaleId) -> Result<Rc<SeatView>, Refusal> {
    let seats = origin::fetch_seats(cfg, sale).await?;
    let summary = serde_json::to_string(&seats.summary()).map_err(internal)?;
    let mut sections = HashMap::with_capacity(seats.sections.len());
    for s in &seats.sections {
        if let Some(one) = seats.section(&s.id) {
            sections.insert(s.id.clone(), serde_json::to_string(&one).map_err(internal)?);
        }
    }
    Ok(Rc::new(SeatView { summary, sections }))
}

/// What a seat route does at the origin.
pub(crate) enum Act<'a> {
    /// Hold seats.
    Hold,
    /// Buy the seats of this hold.
    Confirm(&'a str),
    /// Give the seats of this hold back.
    Release(&'a str),
}

/// `POST /api/v1/sales/{sale}/seat-holds`: hold seats (`{"seats": [...]}` or
/// `{"best": {"count", "section"?, "tier"?, "wheelchair"?}}`).
pub(crate) async fn hold(cx: &Ctx, raw: &str) -> Outcome {
    forward(cx, raw, Act::Hold).await
}

/// `POST /api/v1/sales/{sale}/seat-holds/{hold}/confirm`: buy the held seats.
pub(crate) async fn confirm(cx: &Ctx, raw: &str, hold: &str) -> Outcome {
    forward(cx, raw, Act::Confirm(hold)).await
}

/// `DELETE /api/v1/sales/{sale}/seat-holds/{hold}`: give the held seats back.
pub(crate) async fn release(cx: &Ctx, raw: &str, hold: &str) -> Outcome {
    forward(cx, raw, Act::Release(hold)).await
}

/// Whether `hold` reads as a hold id (32 lowercase hex digits, as the origin makes them).
pub(crate) fn is_hold_id(hold: &str) -> bool {
    hold.len() == 32 && hold.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

async fn forward(cx: &Ctx, raw: &str, act: Act<'_>) -> Outcome {
    // Only a hold has a body: the others' are not read, nor passed on.
    let body = match act {
        Act::Hold => cx.body()?,
        Act::Confirm(_) | Act::Release(_) => &[],
    };
    let sale = sale_id(raw)?;
    let (status, text) = settle(cx, &sale, act, body).await?;
    origin_response(status, text)
}

/// Does `act` with the request's pass (and its proof, for a pass bound to a key) and the JSON
/// `body` (a hold's): checks what the edge can, forwards it to the origin, tells the sale's
/// control who is choosing. Returns the origin's status and body. The no-JavaScript lane's
/// seat forms go through here too.
pub(crate) async fn settle(
    cx: &Ctx,
    sale: &SaleId,
    act: Act<'_>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale.clone();
    let now = now_ms();
    let held = tokens::verified_pass(req, cfg, &sale, now)?;
    held.proven(req, now).await?;
    let (pass, token) = (held.claims, held.token);
    if let Act::Confirm(id) | Act::Release(id) = act {
        if !is_hold_id(id) {
            return Err(Refusal(ErrorCode::NoSeatHold));
        }
    }
    let state = known_sale(cfg, &sale, now).await?;
    let sold_out = state.status == SaleStatus::SoldOut;
    if let Act::Hold = act {
        // Refusals the origin would give, given here without a round trip.
        if sold_out {
            return Err(Refusal(ErrorCode::SoldOut));
        }
        if now < state.starts_at_ms {
            return Err(Refusal(ErrorCode::SaleNotOpen));
        }
        // A sale with card holds holds seats only for a pass whose card can pay for them.
        if state.price.is_some() && pass.hold.is_empty() {
            return Err(Refusal(ErrorCode::HoldRequired));
        }
    }
    if matches!(act, Act::Hold)
        && !pass.hold.is_empty()
        && pass.hat + cfg.hold_max_age_secs <= now / 1000
    {
        // Released (or about to be) by its shard: not worth a round trip. (A confirmation
        // goes on: the origin refuses it too, and gives its seats back.)
        return Err(Refusal(ErrorCode::HoldExpired));
    }
    // A sold-out sale's state comes from the origin's snapshot, which does not say how it
    // admits: a confirmation asked again after the last seat sold goes on to the origin.
    if state.seated.is_none() && !sold_out {
        return Err(Refusal(ErrorCode::NotSeated));
    }
    // A confirmation claims the pass at its shard first (see the module documentation).
    let shard = match act {
        Act::Confirm(_) => {
            let shard = queue_shard::shard_of_position(cfg, pass.position)?;
            let claim = ShardRequest::Claim {
                pass: pass.id.clone(),
                position: held_position(&pass),
                cancelled: state.cancelled,
            };
            match queue_shard::call(env, &sale, shard, &claim).await? {
                ShardResponse::Claimed => Some(shard),
                ShardResponse::InFlight => return Err(Refusal(ErrorCode::PurchaseInProgress)),
                ShardResponse::Done { status, body } => return Ok(replay(status, &body)),
                other => return Err(internal(format!("unexpected shard answer {other:?}"))),
            }
        }
        Act::Hold | Act::Release(_) => None,
    };
    let (forwarded, proof) = tokens::forwarded_pass(req, cfg, &pass, &token, now);
    let (method, route) = match act {
        Act::Hold => (Method::Post, "seat-holds".to_owned()),
        Act::Confirm(id) => (Method::Post, format!("seat-holds/{id}/confirm")),
        Act::Release(id) => (Method::Delete, format!("seat-holds/{id}")),
    };
    let answer = origin::forward_seats(
        cfg,
        method,
        &sale,
        &pass.reg,
        &route,
        &forwarded,
        proof.as_deref(),
        body,
    )
    .await;
    let (status, text) = match answer {
        Ok(a) => a,
        Err(refusal) => {
            if let Some(shard) = shard {
                // No answer in time: the origin may have sold the seats.
                purchase::give_up_claim(env, &sale, shard, &pass.id, true).await;
            }
            return Err(refusal);
        }
    };
    if let Some(shard) = shard {
        purchase::end_claim(env, &sale, shard, &pass, state.cancelled, status, &text).await;
    }
    // Who is choosing: a hold counts the place until it lapses; a confirmation or a release
    // ends it, and so does a confirmation the card could not pay for (the origin gave its
    // seats back: the buyer holds again, and counts again, once a new card is on hold). A
    // failed call is logged: the place then counts until its time runs out.
    let told = match (&act, status) {
        (Act::Hold, 201) => {
            serde_json::from_str::<SeatHold>(&text)
                .ok()
                .map(|h| ControlOp::Holding {
                    position: pass.position,
                    until_ms: h.expires_at_ms,
                })
        }
        (Act::Confirm(_), 200 | 201 | 402) | (Act::Release(_), 200) => Some(ControlOp::Done {
            position: pass.position,
        }),
        _ => None,
    };
    if let Some(op) = told {
        if let Err(Refusal(code)) = sale_control::tell(env, &sale, &op).await {
            worker::console_error!("could not tell the sale's control who is choosing: {code}");
        }
    }
    // The last seats sold, with no capture that could still give seats back.
    if matches!(act, Act::Confirm(_)) && status == 201 && sold_the_last_item(status, &text) {
        cache::mark_sold_out(&sale, now);
    }
    Ok((status, text))
}

/// The sale's seats by section, as this isolate last read them (for the lane's form).
pub(crate) async fn summary(
    cfg: &crate::config::Config,
    sale: &SaleId,
    now: u64,
) -> Result<herdgate_core::seats::SeatSummary, Refusal> {
    let view = cache::seats(sale, now, cfg.state_cache_ms, read(cfg, sale)).await?;
    serde_json::from_str(&view.summary).map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_ids_are_what_the_origin_makes() {
        assert!(is_hold_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_hold_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!is_hold_id("0123456789abcdef"));
        assert!(!is_hold_id("../../admin/v1/sales/x/seats/aaaa"));
    }
}
