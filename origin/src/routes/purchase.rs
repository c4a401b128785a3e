//! `POST /v1/sales/{sale}/purchase`: an admitted buyer's pass becomes at most one order.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::wire::{PurchaseRequest, PurchaseResponse};
use herdgate_core::{Check, ErrorCode, PassClaims, SaleId};

use super::{bearer, json_body, sale_id, with_outcome};
use crate::clock;
use crate::error::ApiError;
use crate::payments::Settlement;
use crate::state::{AppState, Inner};
use crate::store::{Payment, PurchaseCall, PurchaseReply};

/// The handler.
pub async fn purchase(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let app = &app.inner;
    let sale = sale_id(path)?;
    let request: PurchaseRequest = json_body(body, true)?;
    let token = bearer(&headers).ok_or(ApiError(ErrorCode::MissingPass))?;
    let now_ms = clock::now_ms();
    let check = Check {
        sale: &sale,
        now: now_ms / 1000,
        leeway: app.leeway_secs,
    };
    let pass: PassClaims = app
        .keyring
        .verify(token, &check)
        .map_err(|e| ApiError(ErrorCode::for_pass(&e)))?;
    if !herdgate_core::ids::is_hex_id(&pass.id) {
        return Err(ApiError(ErrorCode::PassInvalidClaims));
    }
    let facts = recorded_facts(&pass)?;
    // A hold is only captured by an origin that holds the payments key; without one the sale's
    // price makes the purchase script refuse with `hold_required`.
    let hold = match &app.payments {
        Some(payments) if !pass.hold.is_empty() => {
            if !herdgate_pay::is_intent_id(&pass.hold) {
                return Err(ApiError(ErrorCode::PassInvalidClaims));
            }
            if pass.hat.saturating_add(payments.hold_max_age_secs) <= now_ms / 1000 {
                return Err(ApiError(ErrorCode::HoldExpired));
            }
            pass.hold.as_str()
        }
        _ => "",
    };

    // The sold-out fast path: no Redis round trip.
    if let Some(sold_out) = app.board.get(&sale) {
        return match sold_out.order_of(&pass.visitor) {
            Some(order) => Ok(order_response(false, order.clone(), 0, None)),
            None => Err(ApiError(ErrorCode::SoldOut)),
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
            app.metrics.set_stock(sale.as_str(), remaining);
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
        PurchaseReply::HoldRequired => Err(ApiError(ErrorCode::HoldRequired)),
        PurchaseReply::HoldDead => Err(ApiError(ErrorCode::PaymentFailed)),
        PurchaseReply::SoldOut => {
            app.board.sold_out(&sale, &app.store);
            Err(ApiError(ErrorCode::SoldOut))
        }
        PurchaseReply::UnknownSale => Err(ApiError(ErrorCode::UnknownSale)),
        PurchaseReply::PassSpent => Err(ApiError(ErrorCode::PassSpent)),
        PurchaseReply::Cancelled => Err(ApiError(ErrorCode::OrderCancelled)),
        PurchaseReply::NotOpen => Err(ApiError(ErrorCode::SaleNotOpen)),
        PurchaseReply::OverLimit => Err(ApiError(ErrorCode::OverLimit)),
    }
}

/// Captures the order's payment if it is pending. `Ok(None)`: the order has no payment.
async fn charge(
    app: &Inner,
    sale: &SaleId,
    pass: &PassClaims,
    payment: Option<Payment>,
    now_ms: u64,
) -> Result<Option<herdgate_core::wire::Charge>, ApiError> {
    let Some(payment) = payment else {
        return Ok(None);
    };
    let Some(payments) = &app.payments else {
        // Recorded by an origin with payments on; this one cannot capture.
        return Err(ApiError(ErrorCode::PaymentUnavailable));
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
        Settlement::Released => Err(ApiError(ErrorCode::PaymentFailed)),
        Settlement::Unanswered => Err(ApiError(ErrorCode::PaymentUnavailable)),
    }
}

/// The audit facts of a pass, as JSON for the order record. The digests are hex, checked here,
/// so nothing a client chose reaches Redis unchecked.
fn recorded_facts(pass: &PassClaims) -> Result<String, ApiError> {
    let hex_or_empty = |s: &str| s.is_empty() || herdgate_core::ids::is_hex_id(s);
    if !(hex_or_empty(&pass.client) && hex_or_empty(&pass.net) && hex_or_empty(&pass.dev)) {
        return Err(ApiError(ErrorCode::PassInvalidClaims));
    }
    serde_json::to_string(&crate::store::RecordedFacts {
        client: pass.client.clone(),
        net: pass.net.clone(),
        dev: pass.dev.clone(),
        adm: pass.adm,
        rcv: pass.rcv,
        shr: pass.shr,
    })
    .map_err(|_| ApiError(ErrorCode::Internal))
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
