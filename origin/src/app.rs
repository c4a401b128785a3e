//! The HTTP surface: routes, handlers and middleware.
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/v1/sales/{sale}` | public sale state, cacheable for 1 s |
//! | `POST` | `/v1/sales/{sale}/purchase` | buy with an admission pass (`Authorization: Bearer <pass>`) |
//! | `PUT` | `/admin/v1/sales/{sale}` | create or update a sale (admin bearer token) |
//! | `GET` | `/admin/v1/sales/{sale}` | full state of a sale (admin bearer token) |
//! | `POST` | `/admin/v1/sales/{sale}/audit` | score the sale's orders; with `apply`, cancel the flagged ones (admin bearer token) |
//! | `GET` | `/healthz` | the process is up |
//! | `GET` | `/readyz` | Redis answers, holds the scripts, and sale events are subscribed |
//! | `GET` | `/metrics` | Prometheus metrics |

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use herdgate_core::wire::{PurchaseRequest, PurchaseResponse, SaleConfig};
use herdgate_core::{Check, ErrorCode, PassClaims, SaleId};
use serde::de::DeserializeOwned;

use crate::clock;
use crate::error::{ApiError, Outcome};
use crate::payments::Settlement;
use crate::state::{AppState, Inner};
use crate::store::{
    Payment, PurchaseCall, PurchaseReply, UpsertSaleCall, UpsertSaleReply, MAX_STOCK,
};

/// The router, with every route and middleware.
pub fn app(state: AppState) -> Router {
    let gated = Router::new()
        .route("/v1/sales/{sale}", get(public_state))
        .route("/v1/sales/{sale}/purchase", axum::routing::post(purchase))
        .route("/admin/v1/sales/{sale}", get(admin_state).put(upsert_sale))
        .route(
            "/admin/v1/sales/{sale}/audit",
            axum::routing::post(crate::audit::audit),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limit_in_flight,
        ));
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    let max_body = state.inner.max_body_bytes;
    gated
        .merge(probes)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

pub(crate) fn sale_id(path: Result<Path<String>, PathRejection>) -> Result<SaleId, ApiError> {
    let Path(raw) = path.map_err(|_| ApiError(ErrorCode::InvalidSaleId))?;
    SaleId::parse(&raw).map_err(|_| ApiError(ErrorCode::InvalidSaleId))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Parses a JSON body; an empty body is `T::default()` when `empty_ok`.
pub(crate) fn json_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(ErrorCode::BodyTooLarge)
        } else {
            ApiError(ErrorCode::InvalidBody)
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if empty_ok {
            Ok(T::default())
        } else {
            Err(ApiError(ErrorCode::InvalidBody))
        };
    }
    serde_json::from_slice(&bytes).map_err(|_| ApiError(ErrorCode::InvalidBody))
}

pub(crate) fn with_outcome(mut response: Response, outcome: &'static str) -> Response {
    response.extensions_mut().insert(Outcome(outcome));
    response
}

async fn purchase(
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

async fn public_state(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let app = &app.inner;
    let sale = sale_id(path)?;
    let state = match app.board.get(&sale) {
        Some(sold_out) => sold_out.state.clone(),
        None => {
            let (state, _) = app
                .store
                .sale_state(&sale, clock::now_ms())
                .await?
                .ok_or(ApiError(ErrorCode::UnknownSale))?;
            app.metrics.set_stock(sale.as_str(), state.remaining);
            state
        }
    };
    let mut response = Json(state).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=1"),
    );
    Ok(with_outcome(response, "ok"))
}

pub(crate) fn require_admin(app: &Inner, headers: &HeaderMap) -> Result<(), ApiError> {
    match bearer(headers) {
        Some(token) if app.admin_token.matches(token) => Ok(()),
        _ => Err(ApiError(ErrorCode::Unauthorized)),
    }
}

async fn admin_state(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let app = &app.inner;
    require_admin(app, &headers)?;
    let sale = sale_id(path)?;
    let state = app
        .store
        .admin_state(&sale, clock::now_ms())
        .await?
        .ok_or(ApiError(ErrorCode::UnknownSale))?;
    app.metrics.set_stock(sale.as_str(), state.state.remaining);
    Ok(with_outcome(Json(state).into_response(), "ok"))
}

/// `SaleConfig` has no sensible default; an empty body is refused before this is used.
#[derive(serde::Deserialize)]
#[serde(transparent)]
struct SaleConfigBody(SaleConfig);

impl Default for SaleConfigBody {
    fn default() -> Self {
        SaleConfigBody(SaleConfig {
            stock: 0,
            per_visitor_limit: 0,
            starts_at_ms: 0,
            admission_rate: 0,
            price: None,
        })
    }
}

async fn upsert_sale(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let app = &app.inner;
    require_admin(app, &headers)?;
    let sale = sale_id(path)?;
    let SaleConfigBody(config) = json_body(body, false)?;
    let price_ok = config.price.as_ref().is_none_or(|p| {
        p.is_valid() && p.times(config.per_visitor_limit) <= herdgate_core::wire::Price::MAX_AMOUNT
    });
    if config.stock > MAX_STOCK
        || config.per_visitor_limit == 0
        || config.admission_rate == 0
        || !price_ok
    {
        return Err(ApiError(ErrorCode::InvalidSaleConfig));
    }
    let created = match app
        .store
        .upsert_sale(&UpsertSaleCall {
            sale: &sale,
            config: &config,
            channel: &app.events_channel,
        })
        .await?
    {
        UpsertSaleReply::Created => true,
        UpsertSaleReply::Updated => false,
        UpsertSaleReply::StockBelowSold => return Err(ApiError(ErrorCode::StockBelowSold)),
    };
    let state = app
        .store
        .admin_state(&sale, clock::now_ms())
        .await?
        .ok_or(ApiError(ErrorCode::Internal))?;
    app.metrics.set_stock(sale.as_str(), state.state.remaining);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_outcome(
        (status, Json(state)).into_response(),
        if created { "created" } else { "ok" },
    ))
}

async fn healthz() -> Response {
    with_outcome(
        Json(serde_json::json!({"status": "ok"})).into_response(),
        "ok",
    )
}

async fn readyz(State(app): State<AppState>) -> Result<Response, ApiError> {
    if !app.inner.subscribed.load(Ordering::Acquire) {
        return Err(ApiError(ErrorCode::StoreUnavailable));
    }
    match app.inner.store.ready().await {
        Ok(true) => Ok(with_outcome(
            Json(serde_json::json!({"status": "ready"})).into_response(),
            "ok",
        )),
        Ok(false) => {
            // Redis answers but lost its scripts (restarted): load them for next time.
            if let Err(e) = app.inner.store.load_scripts().await {
                tracing::warn!(error = %e, "could not load scripts");
            }
            Err(ApiError(ErrorCode::StoreUnavailable))
        }
        Err(e) => Err(e.into()),
    }
}

async fn metrics(State(app): State<AppState>) -> Response {
    let m = &app.inner.metrics;
    m.set_sold_out_in_memory(app.inner.board.ready_count());
    m.set_in_flight(
        app.inner
            .max_in_flight
            .saturating_sub(app.inner.in_flight.available_permits()),
    );
    let mut response = m.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    with_outcome(response, "ok")
}

async fn not_found() -> ApiError {
    ApiError(ErrorCode::NotFound)
}

async fn method_not_allowed() -> ApiError {
    ApiError(ErrorCode::MethodNotAllowed)
}

/// Refuses at once, with 503 and Retry-After, when `max_in_flight` requests are under way,
/// instead of queueing without bound.
async fn limit_in_flight(State(app): State<AppState>, request: Request, next: Next) -> Response {
    match Arc::clone(&app.inner.in_flight).try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError(ErrorCode::Overloaded).into_response(),
    }
}

/// Counts every request by route and outcome, and times it.
async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .map(|o| o.0)
        .unwrap_or_else(|| status_outcome(response.status()));
    app.inner
        .metrics
        .observe(&route, outcome, started.elapsed().as_secs_f64());
    response
}

fn status_outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        400..=499 => "client_error",
        _ => "server_error",
    }
}
