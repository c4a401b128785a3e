//! `POST /admin/v1/sales/{sale}/audit`: the post-purchase audit.
//!
//! Scores every order of the sale by what was recorded at purchase (the pass's client
//! binding, network and device digests, and when the edge admitted the buyer; see
//! `herdgate_core::defence::audit`), and reports flagged orders, orders to watch and the
//! largest clusters. With `"apply": true` the flagged orders are cancelled and their items
//! returned to stock in one atomic script (`lua/cancel_orders.lua`); a cancelled order that
//! was paid (card holds) is refunded, and one whose payment is still being captured is left
//! for the next run. Run it during the sale (every few seconds) so the returned items reach
//! people still in line, and once after.
//!
//! Body (all optional): `{"apply": false, "fast_ms": 300, "network_cluster": 20,
//! "device_cluster": 3, "flag_score": 3}`. The answer is JSON, or a plain-text report for
//! operators with `?format=text`.

use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::defence::{self, Audit, AuditPolicy};
use herdgate_core::{ErrorCode, SaleId};
use serde::{Deserialize, Serialize};

use crate::app::{json_body, require_admin, sale_id, with_outcome};
use crate::clock;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::CancelOrdersCall;

/// Visitors per call of the cancel script.
const CANCEL_BATCH: usize = 500;

/// The audit request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    /// Cancel the flagged orders.
    #[serde(default)]
    pub apply: bool,
    /// See [`AuditPolicy::fast_ms`].
    pub fast_ms: Option<u64>,
    /// See [`AuditPolicy::network_cluster`].
    pub network_cluster: Option<usize>,
    /// See [`AuditPolicy::device_cluster`].
    pub device_cluster: Option<usize>,
    /// See [`AuditPolicy::flag_score`].
    pub flag_score: Option<u32>,
}

/// The audit's answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct AuditReport {
    /// The sale.
    pub sale: SaleId,
    /// The scores.
    pub audit: Audit,
    /// Whether flagged orders were cancelled.
    pub applied: bool,
    /// Orders cancelled by this call.
    pub cancelled: u64,
    /// Of those, paid orders whose payment was refunded by this call (a refund the processor
    /// did not answer is retried by the origin's reconciler).
    pub refunded: u64,
    /// Items left after this call.
    pub remaining: u64,
}

/// Query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Format {
    /// `text` for the plain-text report.
    pub format: Option<String>,
}

/// The handler.
pub async fn audit(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Format>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let app = &app.inner;
    require_admin(app, &headers)?;
    let sale = sale_id(path)?;
    let request: AuditRequest = json_body(body, true)?;
    let defaults = AuditPolicy::default();
    let policy = AuditPolicy {
        fast_ms: request.fast_ms.unwrap_or(defaults.fast_ms),
        network_cluster: request.network_cluster.unwrap_or(defaults.network_cluster),
        device_cluster: request
            .device_cluster
            .unwrap_or(defaults.device_cluster)
            .max(2),
        flag_score: request.flag_score.unwrap_or(defaults.flag_score).max(1),
    };
    let now = clock::now_ms();
    let Some(state) = app.store.admin_state(&sale, now).await? else {
        return Err(ApiError(ErrorCode::UnknownSale));
    };
    let facts = app.store.audit_facts(&sale).await?;
    let audit = defence::audit(&facts, policy);
    let mut cancelled = 0;
    let mut refunded = 0;
    let mut remaining = state.state.remaining;
    if request.apply && !audit.flagged.is_empty() {
        let visitors: Vec<String> = audit.flagged.iter().map(|s| s.visitor.clone()).collect();
        for batch in visitors.chunks(CANCEL_BATCH) {
            let reply = app
                .store
                .cancel_orders(&CancelOrdersCall {
                    sale: &sale,
                    channel: &app.events_channel,
                    now_ms: now,
                    visitors: batch,
                })
                .await?;
            cancelled += reply.cancelled;
            remaining = reply.remaining;
            if let Some(payments) = &app.payments {
                for refund in &reply.refunds {
                    if payments.refund(&app.store, &sale, refund, now).await? {
                        refunded += 1;
                    }
                }
            }
        }
        app.metrics.set_stock(sale.as_str(), remaining);
        if cancelled > 0 {
            // This origin forgets the sell-out at once; others hear `open:<sale>`.
            app.board.reopen(&sale);
            tracing::info!(sale = %sale, cancelled, remaining, "audit cancelled orders");
        }
    }
    let report = AuditReport {
        sale,
        audit,
        applied: request.apply,
        cancelled,
        refunded,
        remaining,
    };
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

/// The report for people.
pub fn render_text(r: &AuditReport) -> String {
    let a = &r.audit;
    let mut out = String::new();
    let _ = writeln!(out, "Audit of sale {}", r.sale);
    let _ = writeln!(
        out,
        "orders examined: {}   flagged: {}   watched: {}",
        a.orders,
        a.flagged.len(),
        a.watched.len()
    );
    let _ = writeln!(
        out,
        "policy: machine speed < {} ms (+3), shared client (+3), device cluster >= {} on one network (+1), network cluster > {} (+1); flagged at >= {}",
        a.policy.fast_ms, a.policy.device_cluster, a.policy.network_cluster, a.policy.flag_score
    );
    if r.applied {
        let _ = writeln!(
            out,
            "applied: {} orders cancelled, {} items now in stock",
            r.cancelled, r.remaining
        );
    } else {
        let _ = writeln!(out, "not applied (dry run): nothing was changed");
    }
    let mut section = |title: &str, rows: &[defence::Scored]| {
        let _ = writeln!(out, "\n{title}:");
        if rows.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for s in rows.iter().take(50) {
            let reasons: Vec<String> = s
                .reasons
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            let _ = writeln!(
                out,
                "  {:<28} {:<24} score {:>2}  {}",
                s.order_id,
                s.visitor,
                s.score,
                reasons.join(", ")
            );
        }
        if rows.len() > 50 {
            let _ = writeln!(
                out,
                "  … and {} more (see the JSON report)",
                rows.len() - 50
            );
        }
    };
    section("flagged", &a.flagged);
    section("watched", &a.watched);
    let _ = writeln!(out, "\nlargest clusters:");
    for c in &a.clusters {
        let _ = writeln!(out, "  {:<8} {:<34} {} orders", c.kind, c.key, c.orders);
    }
    out
}
