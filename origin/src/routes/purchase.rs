//! `POST /v1/sales/{sale}/purchase`: an admitted buyer's pass becomes at most one order.
//!
//! Refusals, first wins: the sale id in the path; the body; the pass ([`VerifiedPass`]: missing,
//! not valid for this sale now, claims that may not be stored); its card hold (not a hold id,
//! or too old to capture); then what the sold-out memory or the purchase script says; then the
//! capture of the hold.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::wire::{PurchaseRequest, PurchaseResponse};
use herdgate_core::{ErrorCode, PassClaims, SaleId};

use super::with_outcome;
use crate::error::Refusal;
use crate::extract::{JsonOrEmpty, SaleParam, VerifiedPass};
use crate::payments::Settlement;
use crate::state::{AppState, Inner};
use crate::store::{Payment, PurchaseCall, PurchaseReply, RecordedFacts};

/// The handler.
pub async fn purchase(
    State(app): State<AppState>,
    SaleParam(sale): SaleParam,
    JsonOrEmpty(request): JsonOrEmpty<PurchaseRequest>,
    pass: VerifiedPass,
) -> Result<Response, Refusal> {
    let now_ms = pass.now_ms;
    let pass = pass.claims;
    let app = &app.inner;
    let facts = audit_facts(&pass)?;
    let hold = card_hold(app, &pass, now_ms)?;

    // The sold-out fast path: no Redis round trip (but for a region's unmet demand).
    if let Some(sold_out) = app.board.get(&sale) {
        return match sold_out.order_of(&pass.visitor) {
            Some(order) => Ok(order_response(false, order.clone(), 0, None)),
            None => {
                unmet(app, &sale);
                Err(Refusal(ErrorCode::SoldOut))
            }
        };
    }

    let outcome = app
        .store
        .purchase(&PurchaseCall {
            sale: &sale,
            visitor: &pass.visitor,
            pass_id: &pass.id,
            quantity: request.quantity,
            now_ms,
            channel: &app.events_channel,
            facts: &facts,
            hold,
        })
        .await?;
    match outcome {
        PurchaseReply::Created {
            order,
            remaining,
            payment,
        } => {
            // (A sale with stock shards: the buyer's shard's remaining, not the sale's.)
            if !app.store.has_stock_shards(&sale) {
                app.metrics.set_stock(sale.as_str(), remaining);
            }
            let charged = charge(app, &sale, &pass, payment, now_ms).await?;
            if remaining == 0 {
                app.board.sold_out(&sale, &app.store);
            }
            Ok(order_response(true, order, remaining, charged))
        }
        PurchaseReply::Existing {
            order,
            remaining,
            payment,
        } => {
            let charged = charge(app, &sale, &pass, payment, now_ms).await?;
            Ok(order_response(false, order, remaining, charged))
        }
        PurchaseReply::HoldRequired => Err(Refusal(ErrorCode::HoldRequired)),
        PurchaseReply::HoldDead => Err(Refusal(ErrorCode::PaymentFailed)),
        PurchaseReply::SoldOut => {
            app.board.sold_out(&sale, &app.store);
            unmet(app, &sale);
            Err(Refusal(ErrorCode::SoldOut))
        }
        PurchaseReply::UnknownSale => Err(Refusal(ErrorCode::UnknownSale)),
        PurchaseReply::Seated => Err(Refusal(ErrorCode::SeatsRequired)),
        PurchaseReply::PassSpent => Err(Refusal(ErrorCode::PassSpent)),
        PurchaseReply::Cancelled => Err(Refusal(ErrorCode::OrderCancelled)),
        PurchaseReply::NotOpen => Err(Refusal(ErrorCode::SaleNotOpen)),
        PurchaseReply::OverLimit => Err(Refusal(ErrorCode::OverLimit)),
        // The buyer's stock shard is being refilled from the others: a retry, never sold out.
        PurchaseReply::StockMoving => Err(Refusal(ErrorCode::StoreUnavailable)),
    }
}

/// What the audit needs of an order, from the pass that bought it (JSON, stored beside it).
pub(super) fn audit_facts(pass: &PassClaims) -> Result<String, Refusal> {
    serde_json::to_string(&RecordedFacts {
        client: pass.client.clone(),
        net: pass.net.clone(),
        dev: pass.dev.clone(),
        adm: pass.adm,
        rcv: pass.rcv,
        shr: pass.shr,
    })
    .map_err(|_| Refusal(ErrorCode::Internal))
}

/// The pass's card hold, to be captured by this order, or `""`: a hold is only captured by an
/// origin that holds the payments key; without one the sale's price makes the script refuse
/// with `hold_required`. Refused if it is not a hold id, or too old to capture.
pub(super) fn card_hold<'p>(
    app: &Inner,
    pass: &'p PassClaims,
    now_ms: u64,
) -> Result<&'p str, Refusal> {
    match &app.payments {
        Some(payments) if !pass.hold.is_empty() => {
            if !herdgate_pay::is_intent_id(&pass.hold) {
                return Err(Refusal(ErrorCode::PassInvalidClaims));
            }
            if pass.hat.saturating_add(payments.hold_max_age_secs) <= now_ms / 1000 {
                return Err(Refusal(ErrorCode::HoldExpired));
            }
            Ok(pass.hold.as_str())
        }
        _ => Ok(""),
    }
}

/// Captures the order's payment if it is pending. `Ok(None)`: the order has no payment.
pub(super) async fn charge(
    app: &Inner,
    sale: &SaleId,
    pass: &PassClaims,
    payment: Option<Payment>,
    now_ms: u64,
) -> Result<Option<herdgate_core::wire::Charge>, Refusal> {
    let Some(payment) = payment else {
        return Ok(None);
    };
    let Some(payments) = &app.payments else {
        // Recorded by an origin with payments on; this one cannot capture.
        return Err(Refusal(ErrorCode::PaymentUnavailable));
    };
    match payments
        .settle(
            &app.store,
            sale,
            &pass.visitor,
            &payment,
            &app.events_channel,
            now_ms,
        )
        .await?
    {
        Settlement::Charged(p) => Ok(Some(herdgate_core::wire::Charge {
            amount: p.amount,
            currency: p.currency,
            hold: p.intent,
        })),
        Settlement::Released => Err(Refusal(ErrorCode::PaymentFailed)),
        Settlement::Unanswered => Err(Refusal(ErrorCode::PaymentUnavailable)),
    }
}

fn order_response(
    created: bool,
    order: herdgate_core::wire::Order,
    remaining: u64,
    charged: Option<herdgate_core::wire::Charge>,
) -> Response {
    let (status, outcome) = if created {
        (StatusCode::CREATED, "created")
    } else {
        (StatusCode::OK, "existing")
    };
    let body = PurchaseResponse {
        created,
        order,
        remaining,
        charged,
    };
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_outcome(response, outcome)
}

/// In a region (`--region`), counts a purchase turned away for want of stock, in the
/// background: the rebalancer reads it as demand, so stock moves to where buyers wait even
/// though they buy nothing (README, "Regions"). An origin of one region counts nothing, and
/// its sold-out answers touch no Redis.
fn unmet(app: &crate::state::Inner, sale: &SaleId) {
    if app.region.is_none() {
        return;
    }
    let (store, sale) = (std::sync::Arc::clone(&app.store), sale.clone());
    tokio::spawn(async move {
        if let Err(e) = store.note_unmet(&sale).await {
            tracing::debug!(%sale, error = %e, "could not count an unmet purchase");
        }
    });
}
