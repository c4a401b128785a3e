//! `herdgate report`: what happened in a sale, from the origin's records (its books, the
//! timeline its recorder kept, the audit run as a dry run), written as JSON and as one
//! self-contained HTML page with the timeline's plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use herdgate_client::svg::{line_chart, Series};
use herdgate_core::wire::{AdminSaleState, SaleStatus, Timeline, TimelineSample};
use serde::Serialize;
use serde_json::Value;

/// The report.
#[derive(Debug, Serialize)]
pub struct SaleReport {
    /// When it was made, unix ms.
    pub generated_at_ms: u64,
    /// What it sums up.
    pub summary: Summary,
    /// The sale's settings and state when the report was made.
    pub sale: AdminSaleState,
    /// The audit of the sale's orders, as a dry run (the origin's JSON).
    pub audit: Value,
    /// Every sample the origin recorded.
    pub timeline: Timeline,
}

/// The figures of a sale.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Samples recorded.
    pub samples: usize,
    /// The first and last sample's moments, unix ms.
    pub recorded_from_ms: Option<u64>,
    /// See `recorded_from_ms`.
    pub recorded_to_ms: Option<u64>,
    /// Items sold (orders the audit cancelled are not counted).
    pub sold: u64,
    /// Items left.
    pub remaining: u64,
    /// Orders recorded.
    pub orders: u64,
    /// Items whose orders the audit cancelled.
    pub cancelled: u64,
    /// Seconds from the opening to the first sample that found the sale sold out (to within
    /// one sample interval), if it sold out.
    pub sold_out_after_s: Option<f64>,
    /// Places taken in line (the edge's joins).
    pub joined: Option<u64>,
    /// Passes the edge issued.
    pub admitted: Option<u64>,
    /// The longest line sampled.
    pub peak_in_line: Option<u64>,
    /// Visitors who gave up, at least (`herdgate_core::wire::Timeline::gave_up`).
    pub gave_up: Option<u64>,
    /// Admissions per second configured (at the end).
    pub rate_configured: u32,
    /// Passes per second, from the first sample with a pass to the last sample whose count
    /// of passes grew.
    pub rate_observed: Option<f64>,
    /// The most items sold in one sample interval, per second.
    pub peak_sales_per_s: f64,
    /// The edge's refusals by code.
    pub refusals: BTreeMap<String, u64>,
    /// Card holds: placed at the edge, captured, capture under way, capture failed, and the
    /// holds never captured (released or lapsed).
    pub card_holds: Option<CardHolds>,
    /// The highest p99 checkout latency of any sample (at the origin that took it), ms.
    pub worst_p99_ms: Option<f64>,
}

/// Card holds, summed up.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct CardHolds {
    /// Placed at the edge.
    pub placed: u64,
    /// Captured.
    pub captured: u64,
    /// Capture under way.
    pub pending: u64,
    /// Capture failed (the order was undone).
    pub failed: u64,
    /// Never captured: released or lapsed (or still waiting).
    pub not_captured: u64,
}

/// Sums up `timeline` and `sale`.
pub fn summarise(sale: &AdminSaleState, timeline: &Timeline) -> Summary {
    let s = &timeline.samples;
    let last_edge = s.iter().rev().find_map(|x| x.edge.as_ref());
    let first_pass = s
        .iter()
        .find(|x| x.edge.as_ref().is_some_and(|e| e.counts.passes > 0));
    let last_growth = s.windows(2).rev().find_map(|w| {
        let (a, b) = (w[0].edge.as_ref()?, w[1].edge.as_ref()?);
        (b.counts.passes > a.counts.passes).then_some(&w[1])
    });
    let rate_observed = match (first_pass, last_growth) {
        (Some(a), Some(b)) if b.at_ms > a.at_ms => {
            let passes = |x: &TimelineSample| x.edge.as_ref().map_or(0, |e| e.counts.passes);
            Some(passes(b).saturating_sub(passes(a)) as f64 * 1000.0 / (b.at_ms - a.at_ms) as f64)
        }
        _ => None,
    };
    let peak_sales_per_s = s
        .windows(2)
        .filter(|w| w[1].at_ms > w[0].at_ms)
        .map(|w| {
            let sold = |x: &TimelineSample| x.sold + x.cancelled;
            sold(&w[1]).saturating_sub(sold(&w[0])) as f64 * 1000.0
                / (w[1].at_ms - w[0].at_ms) as f64
        })
        .fold(0.0, f64::max);
    let starts = sale.state.starts_at_ms;
    let card_holds = s.last().and_then(|last| {
        let placed = last_edge.map_or(0, |e| e.counts.holds);
        let p = last.payments;
        (placed > 0 || p.captured + p.pending + p.failed > 0).then(|| CardHolds {
            placed,
            captured: p.captured,
            pending: p.pending,
            failed: p.failed,
            not_captured: placed.saturating_sub(p.captured + p.pending + p.failed),
        })
    });
    Summary {
        samples: s.len(),
        recorded_from_ms: s.first().map(|x| x.at_ms),
        recorded_to_ms: s.last().map(|x| x.at_ms),
        sold: sale.state.sold,
        remaining: sale.state.remaining,
        orders: sale.orders,
        cancelled: sale.state.cancelled,
        sold_out_after_s: s
            .iter()
            .find(|x| x.status == SaleStatus::SoldOut && x.at_ms >= starts)
            .map(|x| (x.at_ms - starts) as f64 / 1000.0),
        joined: last_edge.map(|e| e.counts.joins),
        admitted: last_edge.map(|e| e.counts.passes),
        peak_in_line: s.iter().filter_map(TimelineSample::in_line).max(),
        gave_up: timeline.gave_up(),
        rate_configured: sale.state.admission_rate,
        rate_observed,
        peak_sales_per_s,
        refusals: last_edge
            .map(|e| e.counts.refusals.clone())
            .unwrap_or_default(),
        card_holds,
        worst_p99_ms: s
            .iter()
            .filter_map(|x| x.latency.map(|l| l.p99_ms))
            .reduce(f64::max),
    }
}

/// Per-interval rates of `pick` over the samples: (seconds since the first, per second).
fn rates(s: &[TimelineSample], pick: impl Fn(&TimelineSample) -> Option<u64>) -> Vec<(f64, f64)> {
    let t0 = s.first().map_or(0, |x| x.at_ms);
    s.windows(2)
        .filter_map(|w| {
            let (a, b) = (pick(&w[0])?, pick(&w[1])?);
            let dt = w[1].at_ms.checked_sub(w[0].at_ms).filter(|d| *d > 0)?;
            Some((
                (w[1].at_ms - t0) as f64 / 1000.0,
                b.saturating_sub(a) as f64 * 1000.0 / dt as f64,
            ))
        })
        .collect()
}

/// The report's plots: (title, SVG).
pub fn plots(r: &SaleReport) -> Vec<(&'static str, String)> {
    let s = &r.timeline.samples;
    let t0 = s.first().map_or(0, |x| x.at_ms);
    let x_label = "seconds since the first sample";
    let line: Vec<(f64, f64)> = s
        .iter()
        .filter_map(|x| Some(((x.at_ms - t0) as f64 / 1000.0, x.in_line()? as f64)))
        .collect();
    let passes = |x: &TimelineSample| x.edge.as_ref().map(|e| e.counts.passes);
    let refusals = |x: &TimelineSample| {
        x.edge
            .as_ref()
            .map(|e| e.counts.refusals.values().sum::<u64>())
    };
    let one = |title: &'static str, y: &str, points: Vec<(f64, f64)>, reference| {
        let series = [Series {
            name: title,
            color: "#0b57d0",
            points,
            steps: false,
        }];
        (title, line_chart(title, x_label, y, &series, reference))
    };
    vec![
        one("People in line", "places not yet reached", line, None),
        one(
            "Admissions per second",
            "passes issued per second",
            rates(s, passes),
            Some(("rate set", f64::from(r.summary.rate_configured))),
        ),
        one(
            "Items sold per second",
            "items per second",
            rates(s, |x| Some(x.sold + x.cancelled)),
            None,
        ),
        one(
            "Refusals per second",
            "refusals at the edge per second",
            rates(s, refusals),
            None,
        ),
    ]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// The report as one HTML page that loads nothing from elsewhere.
pub fn html(r: &SaleReport) -> String {
    let m = &r.summary;
    let sale = esc(r.sale.state.sale.as_str());
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sale report: {sale}</title>
<style>body{{font:16px/1.45 system-ui,sans-serif;color:#1b1f24;max-width:60rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}th,td{{border:1px solid #c9ced6;padding:.3rem .6rem;text-align:left;font-variant-numeric:tabular-nums}}
figure{{margin:1rem 0}}svg{{max-width:100%;height:auto}}</style></head>
<body><main><h1>Sale report: {sale}</h1>
<p>From the origin's records: {samples} samples of its timeline, the books and a dry run of the audit.</p>
<h2>Summary</h2><table><tbody>
"#,
        samples = m.samples
    );
    let rows: Vec<(&str, String)> = vec![
        ("Items sold", m.sold.to_string()),
        ("Items left", m.remaining.to_string()),
        ("Orders", m.orders.to_string()),
        ("Items cancelled by the audit", m.cancelled.to_string()),
        (
            "Sold out after",
            m.sold_out_after_s
                .map_or("did not sell out".to_owned(), |s| format!("{s:.1} s")),
        ),
        ("Joined the line", opt(m.joined)),
        ("Admitted (passes issued)", opt(m.admitted)),
        ("Longest line", opt(m.peak_in_line)),
        ("Gave up (at least)", opt(m.gave_up)),
        (
            "Admission rate set / observed",
            format!(
                "{} / {} per s",
                m.rate_configured,
                m.rate_observed
                    .map_or("–".to_owned(), |r| format!("{r:.1}"))
            ),
        ),
        (
            "Most items sold per second",
            format!("{:.1}", m.peak_sales_per_s),
        ),
        (
            "Worst p99 purchase latency",
            m.worst_p99_ms
                .map_or("–".to_owned(), |v| format!("{v:.1} ms")),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            esc(k),
            esc(&v)
        );
    }
    out.push_str("</tbody></table>\n<h2>Over time</h2>\n");
    for (title, svg) in plots(r) {
        let _ = writeln!(out, "<figure aria-label=\"{}\">{svg}</figure>", esc(title));
    }
    out.push_str("<h2>Refusals at the edge</h2>\n");
    if m.refusals.is_empty() {
        out.push_str("<p>None recorded.</p>\n");
    } else {
        out.push_str("<table><thead><tr><th scope=\"col\">Code</th><th scope=\"col\">Total</th></tr></thead><tbody>\n");
        for (code, n) in &m.refusals {
            let _ = writeln!(out, "<tr><td>{}</td><td>{n}</td></tr>", esc(code));
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("<h2>Audit (dry run)</h2>\n");
    let count = |k: &str| r.audit["audit"][k].as_array().map_or(0, Vec::len);
    let _ = writeln!(
        out,
        "<p>{} orders examined; {} flagged, {} watched. The flagged orders are not cancelled unless the audit is applied (<code>herdgate audit {sale} --apply</code>).</p>",
        r.audit["audit"]["orders"].as_u64().unwrap_or(0),
        count("flagged"),
        count("watched"),
    );
    out.push_str("<h2>Card holds</h2>\n");
    match &m.card_holds {
        None => out.push_str("<p>This sale took no card holds.</p>\n"),
        Some(c) => {
            let _ = writeln!(
                out,
                "<table><tbody><tr><th scope=\"row\">Placed at the edge</th><td>{}</td></tr><tr><th scope=\"row\">Captured</th><td>{}</td></tr><tr><th scope=\"row\">Capture under way</th><td>{}</td></tr><tr><th scope=\"row\">Capture failed (item returned)</th><td>{}</td></tr><tr><th scope=\"row\">Never captured (released or lapsed)</th><td>{}</td></tr></tbody></table>",
                c.placed, c.captured, c.pending, c.failed, c.not_captured
            );
        }
    }
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use herdgate_core::wire::{EdgeCounts, EdgeSample, PaymentCounts, SaleConfig, SaleState};
    use herdgate_core::SaleId;

    fn sample(at_ms: u64, sold: u64, joins: u64, frontier: u64, passes: u64) -> TimelineSample {
        TimelineSample {
            at_ms,
            status: if sold == 10 {
                SaleStatus::SoldOut
            } else {
                SaleStatus::Open
            },
            sold,
            remaining: 10 - sold,
            cancelled: 0,
            orders: sold,
            paused: false,
            rate: 5,
            payments: PaymentCounts::default(),
            edge: Some(EdgeSample {
                counts: EdgeCounts {
                    joins,
                    passes,
                    refusals: [("sold_out".to_owned(), sold)].into(),
                    ..EdgeCounts::default()
                },
                frontier,
            }),
            latency: None,
        }
    }

    #[test]
    fn a_summary_reads_the_line_rates_and_sell_out_from_the_samples() {
        let sale = SaleId::parse("s").unwrap();
        let timeline = Timeline {
            sale: sale.clone(),
            every_ms: 1000,
            samples: vec![
                sample(1_000, 0, 0, 0, 0),
                sample(2_000, 0, 30, 5, 4),
                sample(3_000, 4, 40, 10, 9),
                sample(4_000, 10, 40, 15, 14),
                sample(40_000, 10, 40, 40, 14),
            ],
            truncated: false,
        };
        let state: SaleState = serde_json::from_value(serde_json::json!({
            "sale": "s", "status": "sold_out", "remaining": 0, "sold": 10,
            "starts_at_ms": 1_000, "admission_rate": 5, "per_visitor_limit": 1, "paused": false
        }))
        .unwrap();
        let config: SaleConfig = serde_json::from_value(serde_json::json!({
            "stock": 10, "per_visitor_limit": 1, "starts_at_ms": 1_000, "admission_rate": 5
        }))
        .unwrap();
        let admin = AdminSaleState {
            config,
            state,
            orders: 10,
            stream_length: 10,
            stock_places: Vec::new(),
        };
        let m = summarise(&admin, &timeline);
        assert_eq!((m.samples, m.joined, m.admitted), (5, Some(40), Some(14)));
        assert_eq!(m.peak_in_line, Some(30));
        assert_eq!(m.sold_out_after_s, Some(3.0));
        // From 4 passes at 2 s to 14 at 4 s.
        assert_eq!(m.rate_observed, Some(5.0));
        assert_eq!(m.peak_sales_per_s, 6.0);
        // Reached 15 at 4 s (≥ 35 s before the last sample), 14 passes by the last.
        assert_eq!(m.gave_up, Some(1));
        assert_eq!(m.refusals.get("sold_out"), Some(&10));
        assert_eq!(m.card_holds, None);
        let report = SaleReport {
            generated_at_ms: 50_000,
            summary: m,
            sale: admin,
            audit: serde_json::json!({"audit": {"orders": 10, "flagged": [], "watched": []}}),
            timeline,
        };
        let page = html(&report);
        assert_eq!(page.matches("<svg").count(), 4);
        assert!(page.contains("Sold out after</th><td>3.0 s"));
        assert!(page.contains("<td>sold_out</td><td>10</td>"));
    }
}
