//! A sale's state and settings: the public state everyone polls, the operator's full view,
//! and the operator's create-or-update.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::wire::SaleConfig;
use herdgate_core::ErrorCode;

use super::{json_body, require_admin, sale_id, with_outcome};
use crate::clock;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{UpsertSaleCall, UpsertSaleReply, MAX_STOCK};

/// `GET /v1/sales/{sale}`: the public state, cacheable for a second.
pub async fn public_state(
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

/// `GET /admin/v1/sales/{sale}`: everything about the sale, for operators.
pub async fn admin_state(
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

/// `PUT /admin/v1/sales/{sale}`: creates or updates the sale.
pub async fn upsert_sale(
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
