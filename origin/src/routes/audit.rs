//! `POST /admin/v1/sales/{sale}/audit`: the post-purchase audit (see [`crate::audit`]).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::ErrorCode;
use serde::Deserialize;

use super::with_outcome;
use crate::audit::{audit_sale, render_text, AuditRequest};
use crate::clock;
use crate::error::Refusal;
use crate::extract::{AdminAuth, JsonOrEmpty, SaleParam};
use crate::state::AppState;

/// Query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Format {
    /// `text` for the plain-text report.
    pub format: Option<String>,
}

/// The handler.
///
/// Refused without the admin token first, then for the sale id, then for the body; an
/// unreadable query gets the JSON report.
pub async fn audit(
    State(app): State<AppState>,
    _: AdminAuth,
    SaleParam(sale): SaleParam,
    query: Result<Query<Format>, QueryRejection>,
    JsonOrEmpty(request): JsonOrEmpty<AuditRequest>,
) -> Result<Response, Refusal> {
    let app = &app.inner;
    let now_ms = clock::now_ms();
    let report = audit_sale(
        &app.store,
        app.payments.as_deref(),
        &sale,
        &request,
        &app.events_channel,
        now_ms,
    )
    .await?
    .ok_or(Refusal(ErrorCode::UnknownSale))?;
    if report.applied && !report.audit.flagged.is_empty() {
        app.metrics.set_stock(sale.as_str(), report.remaining);
        if report.cancelled > 0 {
            // This origin forgets the sell-out at once; others hear `open:<sale>`.
            app.board.reopen(&sale);
            tracing::info!(
                sale = %sale,
                cancelled = report.cancelled,
                remaining = report.remaining,
                "audit cancelled orders"
            );
        }
    }
    let text = query.ok().and_then(|Query(f)| f.format).as_deref() == Some("text");
    let mut response = if text {
        let mut r = render_text(&report).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    } else {
        Json(&report).into_response()
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(with_outcome(response, "ok"))
}
