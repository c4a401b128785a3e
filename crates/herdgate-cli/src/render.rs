//! Tables for people.

use herdgate_core::wire::{AdminSaleState, EdgeCounts, SaleList, SaleStatus};

use crate::when;

/// A sale's status as the API spells it, for people (`sold_out` → "sold out").
fn status(status: SaleStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

/// Every sale, one line each.
pub fn sales(list: &SaleList, now_ms: u64) -> String {
    if list.sales.is_empty() {
        return "no sales".to_owned();
    }
    let mut rows = vec![[
        "SALE".to_owned(),
        "STATUS".to_owned(),
        "SOLD".to_owned(),
        "LEFT".to_owned(),
        "RATE".to_owned(),
        "STARTS".to_owned(),
    ]];
    for s in &list.sales {
        let st = &s.state;
        rows.push([
            st.sale.to_string(),
            status(st.status),
            format!("{}/{}", st.sold, s.config.stock),
            st.remaining.to_string(),
            format!(
                "{}/s{}",
                st.admission_rate,
                if st.paused { " paused" } else { "" }
            ),
            when::show(st.starts_at_ms, now_ms),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out: Vec<String> = rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect();
    if list.truncated {
        out.push(format!("(the first {} sales only)", list.sales.len()));
    }
    out.join("\n")
}

/// A sale's settings and state as a two-column table.
pub fn sale(s: &AdminSaleState, now_ms: u64) -> String {
    let st = &s.state;
    let mut rows: Vec<(&str, String)> = vec![
        ("sale", st.sale.to_string()),
        ("status", status(st.status)),
        (
            "stock",
            format!(
                "{} (sold {}, remaining {})",
                s.config.stock, st.sold, st.remaining
            ),
        ),
        ("orders", s.orders.to_string()),
        ("per visitor", st.per_visitor_limit.to_string()),
        ("starts", when::show(st.starts_at_ms, now_ms)),
        (
            "admission",
            format!(
                "{}/s{}",
                st.admission_rate,
                if st.paused { ", paused" } else { "" }
            ),
        ),
    ];
    if let Some(d) = &st.draw {
        rows.push(("pre-queue opens", when::show(d.opens_at_ms, now_ms)));
        rows.push(("draw closes", when::show(d.closes_at_ms, now_ms)));
        rows.push(("draw commitment", d.commitment.clone()));
    }
    if let Some(p) = &st.price {
        rows.push((
            "price",
            format!("{} {} (minor units)", p.amount, p.currency.to_uppercase()),
        ));
    }
    if st.cancelled > 0 {
        rows.push(("cancelled by audit", st.cancelled.to_string()));
    }
    if st.pending > 0 {
        rows.push(("payments capturing", st.pending.to_string()));
    }
    rows.push(("revision", st.revision.to_string()));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the edge counted, one line per count.
pub fn counts(c: &EdgeCounts) -> String {
    let mut rows: Vec<(String, u64)> = vec![
        ("joins".into(), c.joins),
        ("passes issued".into(), c.passes),
        ("purchases forwarded".into(), c.purchases_forwarded),
        ("card holds".into(), c.holds),
    ];
    rows.extend(
        c.requests
            .iter()
            .map(|(k, v)| (format!("requests: {k}"), *v)),
    );
    rows.extend(
        c.refusals
            .iter()
            .map(|(k, v)| (format!("refused: {k}"), *v)),
    );
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}
