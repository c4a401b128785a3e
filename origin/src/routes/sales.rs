//! A sale's state and settings: the public state everyone polls, the operator's full view,
//! and the operator's create-or-update.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::wire::{ControlRequest, SaleConfig, SaleList};
use herdgate_core::ErrorCode;

use super::with_outcome;
use crate::clock;
use crate::error::Refusal;
use crate::extract::{AdminAuth, JsonBody, SaleParam};
use crate::state::AppState;
use crate::store::{ControlSaleCall, ControlSaleReply, UpsertSaleCall, UpsertSaleReply, MAX_STOCK};

/// `GET /v1/sales/{sale}`: the public state, cacheable for a second.
pub async fn public_state(
    State(app): State<AppState>,
    SaleParam(sale): SaleParam,
) -> Result<Response, Refusal> {
    let app = &app.inner;
    let state = match app.board.get(&sale) {
        Some(sold_out) => {
            let mut state = sold_out.state.clone();
            // The snapshot keeps the draw's seed; it is public only after the close.
            if let Some(d) = state.draw.as_mut() {
                if clock::now_ms() < d.closes_at_ms + herdgate_core::draw::REVEAL_AFTER_MS {
                    d.seed = None;
                }
            }
            state
        }
        None => {
            let (state, _) = app
                .store
                .sale_state(&sale, clock::now_ms())
                .await?
                .ok_or(Refusal(ErrorCode::UnknownSale))?;
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
///
/// Refused without the admin token first, then for the sale id.
pub async fn admin_state(
    State(app): State<AppState>,
    _: AdminAuth,
    SaleParam(sale): SaleParam,
) -> Result<Response, Refusal> {
    let app = &app.inner;
    let state = app
        .store
        .admin_state(&sale, clock::now_ms())
        .await?
        .ok_or(Refusal(ErrorCode::UnknownSale))?;
    app.metrics.set_stock(sale.as_str(), state.state.remaining);
    Ok(with_outcome(Json(state).into_response(), "ok"))
}

/// The most sales one `GET /admin/v1/sales` lists.
pub const MAX_LISTED_SALES: usize = 1_000;

/// `GET /admin/v1/sales`: every sale, by id, for operators (at most [`MAX_LISTED_SALES`];
/// `truncated` says there were more).
///
/// Refused without the admin token.
pub async fn list_sales(State(app): State<AppState>, _: AdminAuth) -> Result<Response, Refusal> {
    let app = &app.inner;
    let now = clock::now_ms();
    let (ids, truncated) = app.store.sale_ids(MAX_LISTED_SALES).await?;
    let mut sales = Vec::with_capacity(ids.len());
    for sale in ids {
        // A sale deleted between the scan and this read is left out.
        if let Some(state) = app.store.admin_state(&sale, now).await? {
            sales.push(state);
        }
    }
    let list = SaleList { sales, truncated };
    Ok(with_outcome(Json(list).into_response(), "ok"))
}

/// `PUT /admin/v1/sales/{sale}`: creates or updates the sale.
///
/// Refused without the admin token first, then for the sale id, then for the body, then for
/// settings out of bounds.
pub async fn upsert_sale(
    State(app): State<AppState>,
    _: AdminAuth,
    SaleParam(sale): SaleParam,
    JsonBody(mut config): JsonBody<SaleConfig>,
) -> Result<Response, Refusal> {
    let app = &app.inner;
    // The geofence is kept sorted, each country once.
    config.countries.sort_unstable();
    config.countries.dedup();
    let price_ok = config.price.as_ref().is_none_or(|p| {
        p.is_valid() && p.times(config.per_visitor_limit) <= herdgate_core::wire::Price::MAX_AMOUNT
    });
    if config.stock > MAX_STOCK
        || config.per_visitor_limit == 0
        || config.admission_rate == 0
        || !price_ok
        || config
            .prequeue
            .is_some_and(|p| !p.is_valid(config.starts_at_ms))
        || config
            .stock_shards
            .is_some_and(|n| n == 0 || n > herdgate_core::wire::MAX_STOCK_SHARDS)
        || config.countries.len() > herdgate_core::wire::MAX_COUNTRIES
        || !config
            .countries
            .iter()
            .all(|c| herdgate_core::region::valid_country(c))
    {
        return Err(Refusal(ErrorCode::InvalidSaleConfig));
    }
    let mut seed = [0u8; herdgate_core::draw::SEED_BYTES];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
        .map_err(|_| Refusal(ErrorCode::Internal))?;
    let created = match app
        .store
        .upsert_sale(&UpsertSaleCall {
            sale: &sale,
            config: &config,
            channel: &app.events_channel,
            now_ms: clock::now_ms(),
            seed: &seed,
        })
        .await?
    {
        UpsertSaleReply::Created => true,
        UpsertSaleReply::Updated => false,
        UpsertSaleReply::StockBelowSold => return Err(Refusal(ErrorCode::StockBelowSold)),
        UpsertSaleReply::DrawFixed => return Err(Refusal(ErrorCode::DrawFixed)),
        UpsertSaleReply::SeatedStock => return Err(Refusal(ErrorCode::SeatedStock)),
        UpsertSaleReply::SeatedPrice => return Err(Refusal(ErrorCode::SeatedPrice)),
        UpsertSaleReply::ShardsFixed => return Err(Refusal(ErrorCode::StockShardsFixed)),
    };
    // A sale with stock shards: its shards take the new settings (a price, a limit) before
    // this answer, and a new one spreads its stock over them. (Cut off here, the keeper and
    // the shards' own refills finish the work.)
    if let Some(layout) = app.store.layout(&sale).await? {
        if created {
            app.store.spread_stock(&layout).await?;
        } else {
            app.store.sync_shards(&layout).await?;
        }
    }
    let state = app
        .store
        .admin_state(&sale, clock::now_ms())
        .await?
        .ok_or(Refusal(ErrorCode::Internal))?;
    app.metrics.set_stock(sale.as_str(), state.state.remaining);
    // The timeline recorder starts sampling a new sale, or one moved nearer, at once.
    app.sales_changed.notify_one();
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

/// `POST /admin/v1/sales/{sale}/control`: pauses, resumes or re-rates admission
/// (`{"action": "pause"}`, `{"action": "resume"}`, `{"action": "set_rate", "rate": 800}`),
/// and answers the sale's public state. Every edge follows the change within its
/// `STATE_CACHE_MS`.
///
/// Refused without the admin token first, then for the sale id, then for the body, then for
/// a sale that does not exist.
pub async fn control(
    State(app): State<AppState>,
    admin: Result<AdminAuth, Refusal>,
    sale: Result<SaleParam, Refusal>,
    body: Result<JsonBody<ControlRequest>, Refusal>,
) -> Result<Response, Refusal> {
    let (AdminAuth, SaleParam(sale), JsonBody(request)) = (admin?, sale?, body?);
    let app = &app.inner;
    match app
        .store
        .control_sale(&ControlSaleCall {
            sale: &sale,
            request: &request,
            channel: &app.events_channel,
            now_ms: clock::now_ms(),
        })
        .await?
    {
        ControlSaleReply::Done => {}
        ControlSaleReply::UnknownSale => return Err(Refusal(ErrorCode::UnknownSale)),
    }
    let (state, _) = app
        .store
        .sale_state(&sale, clock::now_ms())
        .await?
        .ok_or(Refusal(ErrorCode::UnknownSale))?;
    Ok(with_outcome(Json(state).into_response(), "ok"))
}
