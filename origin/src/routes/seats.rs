//! Seated sales (`lua/seats.lua`): the operator's seat map, the seats as they stand, and a
//! buyer's holds: hold seats (named, or the best block of adjacent ones), confirm the hold
//! into an order, or release it. A hold lasts the map's `hold_secs`; then its seats go back
//! on sale by themselves (the sweeper, `seats.rs`, and every call of the script release
//! expired holds), and its confirmation is refused.
//!
//! The buyer's routes take the admission pass, as a purchase does, with its proof for a pass
//! bound to a key (made for the route's own address); the visitor is the pass's. The edge
//! forwards them with the pass it re-signed (`edge-worker/src/api/seats.rs`).
//!
//! A sale with a price takes card holds: its price is what a hold authorises per seat (no tier
//! may cost more), and a confirmation captures the pass's hold for the seats' amount, as a
//! purchase does (`routes/purchase.rs`); a capture that fails gives the seats back.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::seats::{
    is_part_id, is_seat_id, HoldRequest, SeatHoldExists, SeatMap, SeatMapChange, SeatsTaken,
};
use herdgate_core::wire::{Choosing, ErrorDetail};
use herdgate_core::ErrorCode;
use serde_json::json;

use axum::extract::State;

use crate::clock;
use crate::error::Refusal;
use crate::extract::{AdminAuth, HoldParam, JsonBody, SaleParam, VerifiedPass};
use crate::routes::purchase::{audit_facts, card_hold, charge};
use crate::routes::with_outcome;
use crate::state::AppState;
use crate::store::seats::{ConfirmSeats, SeatsReply, Want};

/// The most seats one hold or one withdrawal names.
pub const MAX_NAMED: usize = 1_000;

/// The largest seat map body, bytes (16 MiB): the operator's only; every other body keeps
/// `--max-body-bytes`.
pub const MAX_MAP_BYTES: usize = 16 * 1024 * 1024;

/// How long an origin answers a sale's seats from memory.
pub const AVAILABILITY_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// `PUT /admin/v1/sales/{sale}/seats`: loads the sale's seat map (admin token). The sale
/// must exist; the map replaces any before it until a seat is held or sold.
///
/// Refused without the operator first, then for the sale id, the body, a map that does not
/// hold together (`invalid_seat_map`), a sale that does not exist, and seats held or sold
/// (`seat_map_locked`).
pub async fn put_map(
    State(app): State<AppState>,
    _: AdminAuth,
    SaleParam(sale): SaleParam,
    JsonBody(map): JsonBody<SeatMap>,
) -> Result<Response, Refusal> {
    let encoded = map
        .encode()
        .map_err(|_| Refusal(ErrorCode::InvalidSeatMap))?;
    let app = &app.inner;
    let reply = app
        .store
        .load_seat_map(
            &sale,
            &encoded,
            Choosing {
                choosers: map.choosers,
                choose_ms: map.choose_secs * 1000,
                hold_ms: map.hold_secs * 1000,
            },
            &app.events_channel,
            clock::now_ms(),
        )
        .await?;
    match reply {
        SeatsReply::Loaded(seats) => {
            // A sale created with no stock was sold out to this origin; others hear
            // `open:<sale>` from the script.
            app.board.reopen(&sale);
            app.metrics.set_stock(sale.as_str(), seats);
            app.seats_changed.notify_one();
            app.sales_changed.notify_one();
            let body = json!({
                "sale": sale,
                "seats": seats,
                "hold_secs": map.hold_secs,
                "choosers": map.choosers,
                "choose_secs": map.choose_secs,
            });
            Ok(with_outcome(Json(body).into_response(), "ok"))
        }
        other => Err(refusal(other)),
    }
}

/// `POST /admin/v1/sales/{sale}/seats/changes`: new prices of existing tiers, and seats taken
/// off sale, before the sale starts (admin token).
///
/// Refused without the operator first, then for the sale id, the body, names that are no
/// seat or tier (`unknown_seat`), a price over the largest (`invalid_seat_map`), a sale that
/// does not exist or has no map, a sale that has started (`sale_started`), and a held or sold
/// seat (`seat_map_locked`). A refused change changes nothing.
pub async fn change_map(
    State(app): State<AppState>,
    _: AdminAuth,
    SaleParam(sale): SaleParam,
    JsonBody(change): JsonBody<SeatMapChange>,
) -> Result<Response, Refusal> {
    if change.withdraw.len() > MAX_NAMED || change.prices.len() > herdgate_core::seats::MAX_TIERS {
        return Err(Refusal(ErrorCode::InvalidBody));
    }
    let mut named = std::collections::HashSet::new();
    if !change
        .withdraw
        .iter()
        .all(|s| is_seat_id(s) && named.insert(s.as_str()))
        || !change.prices.keys().all(|t| is_part_id(t))
    {
        return Err(Refusal(ErrorCode::UnknownSeat));
    }
    if change
        .prices
        .values()
        .any(|p| *p > herdgate_core::seats::MAX_SEAT_PRICE)
    {
        return Err(Refusal(ErrorCode::InvalidSeatMap));
    }
    let prices: Vec<(String, u64)> = change.prices.into_iter().collect();
    let reply = app
        .inner
        .store
        .change_seats(&sale, &prices, &change.withdraw, clock::now_ms())
        .await?;
    match reply {
        SeatsReply::Changed(stock) => {
            let body = json!({ "sale": sale, "stock": stock });
            Ok(with_outcome(Json(body).into_response(), "ok"))
        }
        other => Err(refusal(other)),
    }
}

/// `GET /v1/sales/{sale}/seats`: every section's seats as they stand, row by row, with the
/// tiers' prices; `Cache-Control: public, max-age=1`. Each origin reads Redis for a sale at
/// most once per [`AVAILABILITY_TTL`] and answers everyone else in that time from memory: a
/// crowd looking at the map costs Redis one read a second, not one per look. Expired holds
/// are the sweeper's to release; a hold that lapsed in the last second may still show as held.
///
/// Refused for the sale id, then for a sale that has no map (`not_seated`).
pub async fn availability(
    State(app): State<AppState>,
    SaleParam(sale): SaleParam,
) -> Result<Response, Refusal> {
    let app = &app.inner;
    let cell = app.seat_views.cell(&sale);
    // One reader per sale at a time: the others wait for its answer and share it.
    let mut cached = cell.lock().await;
    let now = clock::now_ms();
    let body = match &*cached {
        Some((at, body)) if now.saturating_sub(*at) < AVAILABILITY_TTL.as_millis() as u64 => {
            body.clone()
        }
        _ => {
            let seats = app
                .store
                .seat_availability(&sale, now)
                .await?
                .ok_or(Refusal(ErrorCode::NotSeated))?;
            let body = axum::body::Bytes::from(
                serde_json::to_vec(&seats).map_err(|_| Refusal(ErrorCode::Internal))?,
            );
            *cached = Some((now, body.clone()));
            body
        }
    };
    drop(cached);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=1"),
    );
    Ok(with_outcome(response, "ok"))
}

/// `POST /v1/sales/{sale}/seat-holds`: holds seats for the pass's visitor, `{"seats": [...]}` (all
/// or none) or `{"best": {"count": n, "section"?, "tier"?, "wheelchair"?}}`: 201 with the hold.
///
/// Refused for the sale id, then the pass, then the body (`invalid_body`; `unknown_seat` for
/// a name that is no seat), then the pass's card hold (`hold_expired`), then by the script:
/// `sale_not_open`, `already_bought`, `hold_required` (a sale with card holds, and a pass
/// without one), `payment_failed` (a card hold whose capture failed before),
/// `seat_hold_exists` (with the live hold: `SeatHoldExists`), `sold_out`, `over_limit`,
/// `unknown_seat`, `seats_taken` (with the
/// taken seats and the best block of as many free seats in the same section),
/// `no_adjacent_seats`.
pub async fn hold(
    State(app): State<AppState>,
    SaleParam(sale): SaleParam,
    pass: VerifiedPass,
    JsonBody(request): JsonBody<HoldRequest>,
) -> Result<Response, Refusal> {
    let want = match &request {
        HoldRequest::Seats(seats) => {
            if seats.is_empty() || seats.len() > MAX_NAMED {
                return Err(Refusal(ErrorCode::InvalidBody));
            }
            if !seats.iter().all(|s| is_seat_id(s)) {
                return Err(Refusal(ErrorCode::UnknownSeat));
            }
            Want::Seats(seats)
        }
        HoldRequest::Best(best) => {
            if best.count == 0 || best.count > herdgate_core::seats::MAX_ROW as u32 {
                return Err(Refusal(ErrorCode::OverLimit));
            }
            let named = [&best.section, &best.tier];
            if named
                .iter()
                .any(|n| n.as_deref().is_some_and(|n| !is_part_id(n)))
            {
                return Err(Refusal(ErrorCode::UnknownSeat));
            }
            Want::Best {
                count: best.count,
                section: best.section.as_deref(),
                tier: best.tier.as_deref(),
                wheelchair: best.wheelchair,
            }
        }
    };
    // In a sale with card holds, seats are held only with the card that will pay for them.
    let card = card_hold(&app.inner, &pass.claims, pass.now_ms)?;
    let id = hold_id()?;
    let visitor = pass.claims.visitor.as_str();
    let reply = app
        .inner
        .store
        .hold_seats(&sale, visitor, &id, card, &want, pass.now_ms)
        .await?;
    match reply {
        SeatsReply::Held(hold) => Ok(with_outcome(
            (StatusCode::CREATED, Json(hold)).into_response(),
            "created",
        )),
        SeatsReply::HoldExists(hold) => {
            let code = ErrorCode::SeatHoldExists;
            let body = SeatHoldExists {
                error: ErrorDetail {
                    code,
                    message: code.message().to_owned(),
                },
                hold,
            };
            Ok(with_outcome(
                (StatusCode::CONFLICT, Json(body)).into_response(),
                code.as_str(),
            ))
        }
        SeatsReply::SeatsTaken {
            taken,
            alternatives,
        } => {
            let code = ErrorCode::SeatsTaken;
            let body = SeatsTaken {
                error: ErrorDetail {
                    code,
                    message: code.message().to_owned(),
                },
                taken,
                alternatives,
            };
            Ok(with_outcome(
                (StatusCode::CONFLICT, Json(body)).into_response(),
                code.as_str(),
            ))
        }
        other => Err(refusal(other)),
    }
}

/// `POST /v1/sales/{sale}/seat-holds/{hold}/confirm`: the pass's visitor buys the seats of their
/// hold: 201 `{created: true, order, remaining, charged?}`; a retry answers the same order
/// with 200. For a sale with card holds, the pass's hold is captured for the seats' amount
/// (`charged`: amount, currency, hold).
///
/// Refused for the sale id, then the pass, then its card hold (`hold_expired`), then the hold
/// id (`no_seat_hold`), then by the script: `order_cancelled`, `pass_spent`, `no_seat_hold`,
/// `seat_hold_expired` (its seats went back), `hold_required` and `payment_failed` (a card
/// hold that failed before); then by the capture: `payment_failed` or `payment_unavailable`
/// (the order stays pending: ask again). Every 402 leaves nothing held: the seats go back on
/// sale.
pub async fn confirm(
    State(app): State<AppState>,
    SaleParam(sale): SaleParam,
    pass: VerifiedPass,
    HoldParam(hold): HoldParam,
) -> Result<Response, Refusal> {
    let app = &app.inner;
    let (c, now_ms) = (&pass.claims, pass.now_ms);
    let card = match card_hold(app, c, now_ms) {
        Ok(card) => card,
        Err(refusal) => {
            // A card that cannot pay leaves nothing held, as the script does for one it
            // refuses: the seats go back.
            app.store
                .release_seats(&sale, c.visitor.as_str(), &hold, now_ms)
                .await?;
            return Err(refusal);
        }
    };
    let facts = audit_facts(c)?;
    let reply = app
        .store
        .confirm_seats(&ConfirmSeats {
            sale: &sale,
            visitor: c.visitor.as_str(),
            hold: &hold,
            pass_id: &c.id,
            card,
            facts: &facts,
            channel: &app.events_channel,
            now_ms,
        })
        .await?;
    let (created, order, remaining, payment) = match reply {
        SeatsReply::Created(order, remaining, payment) => (true, order, remaining, payment),
        SeatsReply::Existing(order, remaining, payment) => (false, order, remaining, payment),
        other => return Err(refusal(other)),
    };
    let charged = charge(app, &sale, c, payment, now_ms).await?;
    if created && remaining == 0 {
        app.metrics.set_stock(sale.as_str(), 0);
    }
    let mut body = json!({ "created": created, "order": order, "remaining": remaining });
    if let Some(charged) = charged {
        body["charged"] = json!(charged);
    }
    let (status, outcome) = if created {
        (StatusCode::CREATED, "created")
    } else {
        (StatusCode::OK, "existing")
    };
    Ok(with_outcome((status, Json(body)).into_response(), outcome))
}

/// `DELETE /v1/sales/{sale}/seat-holds/{hold}`: the pass's visitor gives their held seats back:
/// 200 `{released: n}`.
///
/// Refused for the sale id, then the pass, then the hold id, then `no_seat_hold`.
pub async fn release(
    State(app): State<AppState>,
    SaleParam(sale): SaleParam,
    pass: VerifiedPass,
    HoldParam(hold): HoldParam,
) -> Result<Response, Refusal> {
    let reply = app
        .inner
        .store
        .release_seats(&sale, pass.claims.visitor.as_str(), &hold, pass.now_ms)
        .await?;
    match reply {
        SeatsReply::Released(n) => Ok(with_outcome(
            Json(json!({ "released": n })).into_response(),
            "ok",
        )),
        other => Err(refusal(other)),
    }
}

/// The refusal a script's answer stands for.
fn refusal(reply: SeatsReply) -> Refusal {
    Refusal(match reply {
        SeatsReply::NoAdjacent => ErrorCode::NoAdjacentSeats,
        SeatsReply::OverLimit => ErrorCode::OverLimit,
        SeatsReply::HoldExists(_) => ErrorCode::SeatHoldExists,
        SeatsReply::AlreadyBought(_) => ErrorCode::AlreadyBought,
        SeatsReply::HoldExpired => ErrorCode::SeatHoldExpired,
        SeatsReply::NoHold => ErrorCode::NoSeatHold,
        SeatsReply::PassSpent => ErrorCode::PassSpent,
        SeatsReply::Locked => ErrorCode::SeatMapLocked,
        SeatsReply::Sharded => ErrorCode::StockShardsFixed,
        SeatsReply::Priced(_) => ErrorCode::SeatedPrice,
        SeatsReply::HoldRequired => ErrorCode::HoldRequired,
        SeatsReply::HoldDead => ErrorCode::PaymentFailed,
        SeatsReply::Cancelled => ErrorCode::OrderCancelled,
        SeatsReply::HoldLimit => ErrorCode::SeatHoldLimit,
        SeatsReply::Started => ErrorCode::SaleStarted,
        SeatsReply::UnknownSeat(_) => ErrorCode::UnknownSeat,
        SeatsReply::NotOpen => ErrorCode::SaleNotOpen,
        SeatsReply::SoldOut => ErrorCode::SoldOut,
        SeatsReply::NotSeated => ErrorCode::NotSeated,
        SeatsReply::UnknownSale => ErrorCode::UnknownSale,
        SeatsReply::SeatsTaken { .. } => ErrorCode::SeatsTaken,
        // An answer the route does not expect is the script's bug, not the client's.
        SeatsReply::Loaded(_)
        | SeatsReply::Changed(_)
        | SeatsReply::Held(_)
        | SeatsReply::Created(..)
        | SeatsReply::Existing(..)
        | SeatsReply::Released(_)
        | SeatsReply::Swept(_) => {
            tracing::error!(?reply, "seats.lua answered what the route does not expect");
            ErrorCode::Internal
        }
    })
}

/// A new hold's id: 16 random bytes, hex.
fn hold_id() -> Result<String, Refusal> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Refusal(ErrorCode::Internal))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
