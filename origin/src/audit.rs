//! The post-purchase audit, behind `POST /admin/v1/sales/{sale}/audit` (its handler is in
//! `routes/audit.rs`).
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
//! operators with `?format=text` ([`render_text`]).

use std::fmt::Write as _;

use herdgate_core::defence::{self, Audit, AuditPolicy};
use herdgate_core::SaleId;
use serde::{Deserialize, Serialize};

use crate::payments::Payments;
use crate::store::{CancelOrdersCall, Store, StoreError};

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

impl AuditRequest {
    /// The policy asked for: the defaults where the request says nothing, and never a device
    /// cluster below 2 or a flag score below 1 (either would flag every order).
    pub fn policy(&self) -> AuditPolicy {
        let defaults = AuditPolicy::default();
        AuditPolicy {
            fast_ms: self.fast_ms.unwrap_or(defaults.fast_ms),
            network_cluster: self.network_cluster.unwrap_or(defaults.network_cluster),
            device_cluster: self
                .device_cluster
                .unwrap_or(defaults.device_cluster)
                .max(2),
            flag_score: self.flag_score.unwrap_or(defaults.flag_score).max(1),
        }
    }
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

/// Audits `sale` at `now_ms` as `request` asks: scores its orders and, with `apply`, cancels
/// the flagged ones in batches and refunds those that were paid (when `payments` is on).
/// `Ok(None)`: there is no such sale.
///
/// The caller updates this origin's stock gauge and sold-out memory from the report; after an
/// error it leaves them as they were (each batch's script announces a restock on `channel`
/// anyway).
pub async fn audit_sale(
    store: &Store,
    payments: Option<&Payments>,
    sale: &SaleId,
    request: &AuditRequest,
    channel: &str,
    now_ms: u64,
) -> Result<Option<AuditReport>, StoreError> {
    let policy = request.policy();
    let Some(state) = store.admin_state(sale, now_ms).await? else {
        return Ok(None);
    };
    let facts = store.audit_facts(sale).await?;
    let audit = defence::audit(&facts, policy);
    let mut cancelled = 0;
    let mut refunded = 0;
    let mut remaining = state.state.remaining;
    if request.apply && !audit.flagged.is_empty() {
        let visitors: Vec<String> = audit.flagged.iter().map(|s| s.visitor.clone()).collect();
        for batch in visitors.chunks(CANCEL_BATCH) {
            let reply = store
                .cancel_orders(&CancelOrdersCall {
                    sale,
                    channel,
                    now_ms,
                    visitors: batch,
                })
                .await?;
            cancelled += reply.cancelled;
            remaining = reply.remaining;
            if let Some(payments) = payments {
                for refund in &reply.refunds {
                    if payments.refund(store, sale, refund, now_ms).await? {
                        refunded += 1;
                    }
                }
            }
        }
    }
    Ok(Some(AuditReport {
        sale: sale.clone(),
        audit,
        applied: request.apply,
        cancelled,
        refunded,
        remaining,
    }))
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
