//! The timeline recorder: every `--timeline-every-ms`, a sample of each live sale
//! (`herdgate_core::wire::TimelineSample`) appended to the sale's timeline in Redis, where the
//! console plots it and the report after the sale reads it (`GET
//! /admin/v1/sales/{sale}/timeline`).
//!
//! A sample holds the origin's books (sold, remaining, cancelled, orders, payments), the
//! edge's counts and admission frontier (read from the edge's admin routes, when `--edge-url`
//! is set) and this origin's purchase latencies since its previous sample. A sale is live
//! while it is open, from 10 minutes before it (or its pre-queue) opens, and for 10 minutes
//! after this recorder first sees it sold out (a sale whose last captures are pending is
//! still open).
//!
//! Every origin runs a recorder; a sample's id in the stream is its moment rounded down to the
//! interval, so when several origins sample the same moment, Redis keeps the first and
//! refuses the others (`Store::record_sample`): one sample per moment, whichever origin is up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use herdgate_core::wire::{
    AdminSaleState, ControlState, EdgeCounts, EdgeSample, LatencySample, SaleStatus, TimelineSample,
};
use herdgate_core::SaleId;

use crate::clock;
use crate::metrics::{PurchaseLatencies, SaleGauges};
use crate::store::{Store, StoreError};

/// How long before its opening, and after its sell-out, a sale is sampled.
pub const LIVE_MARGIN_MS: u64 = 10 * 60 * 1000;

/// How often the recorder looks for new sales (besides when this origin changes one).
pub const RESCAN_EVERY_MS: u64 = 10_000;

/// The most sales one recorder samples.
pub const MAX_SALES: usize = 1_000;

/// Where the edge's admin routes are, and the token they take.
#[derive(Clone)]
pub struct EdgeLink {
    /// The edge's base URL, without a trailing slash.
    pub url: String,
    /// The admin token.
    pub token: String,
}

/// What the recorder needs.
pub struct Recorder {
    /// The store it samples and records into.
    pub store: Arc<Store>,
    /// The edge, if known.
    pub edge: Option<EdgeLink>,
    /// This origin's purchase latencies.
    pub latencies: Arc<PurchaseLatencies>,
    /// The per-sale gauges it sets from each sample (Prometheus).
    pub gauges: SaleGauges,
    /// Milliseconds between samples (at least 100).
    pub every_ms: u64,
    /// Told when a sale is created or changed: the recorder lists the sales again.
    pub sales_changed: Arc<tokio::sync::Notify>,
}

/// Samples every live sale every `every_ms`, for ever (the caller aborts the task).
pub async fn record(r: Recorder) {
    let every_ms = r.every_ms.max(100);
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(every_ms.clamp(500, 2_000)))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "timeline recorder: no HTTP client; not recording");
            return;
        }
    };
    // Rounds fall on the wall clock's multiples of the interval, the same moments in every
    // origin; a sample stands for its round's moment.
    let after = |t: u64| (t / every_ms + 1) * every_ms;
    let mut next_at = after(clock::now_ms());
    let mut sales: Vec<SaleId> = Vec::new();
    let mut scanned_at: Option<u64> = None;
    let mut sold_out_seen: HashMap<SaleId, u64> = HashMap::new();
    loop {
        // A change lists the sales again at once; only the tick samples them, so every
        // round's latencies land in a sample of their own moment.
        let wait = Duration::from_millis(next_at.saturating_sub(clock::now_ms()));
        let changed = tokio::select! {
            () = tokio::time::sleep(wait) => false,
            () = r.sales_changed.notified() => true,
        };
        let now = clock::now_ms();
        if changed || scanned_at.is_none_or(|t| now.saturating_sub(t) >= RESCAN_EVERY_MS) {
            match r.store.sale_ids(MAX_SALES).await {
                Ok((ids, _)) => {
                    sales = ids;
                    scanned_at = Some(now);
                }
                Err(e) => tracing::warn!(error = %e, "timeline recorder: cannot list sales"),
            }
        }
        if changed {
            continue;
        }
        let latency = percentiles(r.latencies.take());
        let at_ms = next_at;
        for sale in &sales {
            if let Err(e) =
                sample_one(&r, &client, sale, now, at_ms, latency, &mut sold_out_seen).await
            {
                tracing::warn!(sale = %sale, error = %e, "timeline recorder: no sample");
            }
        }
        // A round that overran the interval skips the moments it missed.
        next_at = after(clock::now_ms().max(at_ms));
    }
}

async fn sample_one(
    r: &Recorder,
    client: &reqwest::Client,
    sale: &SaleId,
    now: u64,
    at_ms: u64,
    latency: Option<LatencySample>,
    sold_out_seen: &mut HashMap<SaleId, u64>,
) -> Result<(), StoreError> {
    let Some(admin) = r.store.admin_state(sale, now).await? else {
        return Ok(());
    };
    if admin.state.status == SaleStatus::SoldOut {
        sold_out_seen.entry(sale.clone()).or_insert(now);
    } else {
        sold_out_seen.remove(sale);
    }
    if !live(&admin, now, sold_out_seen.get(sale).copied()) {
        r.gauges.clear(sale.as_str());
        return Ok(());
    }
    let payments = r.store.payment_counts(sale, admin.state.pending).await?;
    let edge = match &r.edge {
        Some(link) => read_edge(client, link, sale, now).await,
        None => None,
    };
    let s = &admin.state;
    let sample = TimelineSample {
        at_ms,
        status: s.status,
        sold: s.sold,
        remaining: s.remaining,
        cancelled: s.cancelled,
        orders: admin.orders,
        paused: s.paused,
        rate: s.admission_rate,
        payments,
        edge,
        latency,
    };
    r.gauges.set(sale.as_str(), &sample);
    r.store.record_sample(sale, &sample).await?;
    Ok(())
}

/// Whether a sale is sampled now: open; opening (or opening its pre-queue) within
/// [`LIVE_MARGIN_MS`]; sold out less than that ago (by `sold_out_since`: the moment this
/// recorder first saw it sold out; a restarted origin samples a sold-out sale for another
/// [`LIVE_MARGIN_MS`]). A sale with payments pending is open, not sold out.
pub fn live(admin: &AdminSaleState, now: u64, sold_out_since: Option<u64>) -> bool {
    let s = &admin.state;
    match s.status {
        SaleStatus::Open => true,
        SaleStatus::Scheduled => {
            let opens = admin
                .config
                .prequeue
                .map_or(s.starts_at_ms, |p| p.opens_at_ms.min(s.starts_at_ms));
            opens <= now.saturating_add(LIVE_MARGIN_MS)
        }
        SaleStatus::SoldOut => {
            sold_out_since.is_none_or(|t| now.saturating_sub(t) < LIVE_MARGIN_MS)
        }
        // A status this build does not know: sampled rather than missed.
        _ => true,
    }
}

/// The edge's counts and frontier for `sale`, or `None` if the edge does not answer both in
/// time (the sample is then the origin's alone).
async fn read_edge(
    client: &reqwest::Client,
    link: &EdgeLink,
    sale: &SaleId,
    now: u64,
) -> Option<EdgeSample> {
    let base = format!("{}/admin/v1/sales/{sale}", link.url);
    let get = |path: String| client.get(path).bearer_auth(&link.token).send();
    let (counts, control) = tokio::join!(
        get(format!("{base}/counters")),
        get(format!("{base}/control"))
    );
    let counts: EdgeCounts = json_of(counts).await?;
    let control: ControlState = json_of(control).await?;
    Some(EdgeSample {
        counts,
        frontier: control.schedule.frontier(now),
    })
}

async fn json_of<T: serde::de::DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Option<T> {
    match response {
        Ok(r) if r.status().is_success() => r.json().await.ok(),
        Ok(r) => {
            tracing::debug!(status = %r.status(), "timeline recorder: the edge refused");
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "timeline recorder: the edge did not answer");
            None
        }
    }
}

/// The median and 99th percentile of `micros`, in milliseconds.
pub fn percentiles(mut micros: Vec<u32>) -> Option<LatencySample> {
    if micros.is_empty() {
        return None;
    }
    micros.sort_unstable();
    let at = |q: f64| {
        let i = ((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1;
        f64::from(micros[i]) / 1000.0
    };
    Some(LatencySample {
        purchases: micros.len() as u64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        assert_eq!(percentiles(Vec::new()), None);
        let p = percentiles((1..=100).map(|ms| ms * 1000).collect()).unwrap();
        assert_eq!((p.purchases, p.p50_ms, p.p99_ms), (100, 50.0, 99.0));
        let one = percentiles(vec![2500]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (2.5, 2.5));
    }
}
