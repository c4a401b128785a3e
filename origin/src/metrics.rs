//! Prometheus metrics, served at `/metrics` (to the admin token's holder) in the text
//! exposition format.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `herdgate_http_requests_total` | counter | `route`, `outcome` (`created`, `existing`, `ok` or a refusal code) |
//! | `herdgate_http_request_duration_seconds` | histogram | `route` |
//! | `herdgate_stock_remaining` | gauge | `sale` (as last seen by this origin) |
//! | `herdgate_sold_out_sales_in_memory` | gauge | — |
//! | `herdgate_http_requests_in_flight` | gauge | — (requests holding an in-flight slot) |
//!
//! Each origin has its own registry (no globals), so several can run in one test process.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SaleLabels {
    sale: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs .. ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The origin's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    stock: Family<SaleLabels, Gauge<i64, AtomicI64>>,
    sold_out_in_memory: Gauge<i64, AtomicI64>,
    in_flight: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "herdgate_http_requests",
            "HTTP requests by route and outcome",
            requests.clone(),
        );
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        registry.register(
            "herdgate_http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let stock = Family::<SaleLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "herdgate_stock_remaining",
            "Items left per sale, as last seen by this origin",
            stock.clone(),
        );
        let sold_out_in_memory = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "herdgate_sold_out_sales_in_memory",
            "Sold-out sales this origin answers from memory",
            sold_out_in_memory.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "herdgate_http_requests_in_flight",
            "Requests holding one of the max-in-flight slots",
            in_flight.clone(),
        );
        Metrics {
            registry,
            in_flight,
            requests,
            latency,
            stock,
            sold_out_in_memory,
        }
    }
}

impl Metrics {
    /// Counts one request and its latency.
    pub fn observe(&self, route: &str, outcome: &'static str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// Records the stock of a sale.
    pub fn set_stock(&self, sale: &str, remaining: u64) {
        self.stock
            .get_or_create(&SaleLabels {
                sale: sale.to_owned(),
            })
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
    }

    /// Records how many sold-out sales are answered from memory.
    pub fn set_sold_out_in_memory(&self, n: usize) {
        self.sold_out_in_memory
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Records how many requests hold an in-flight slot.
    pub fn set_in_flight(&self, n: usize) {
        self.in_flight.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
