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
//! | `herdgate_sale_sold` | gauge | `sale`: items sold, as the timeline recorder last sampled |
//! | `herdgate_sale_paused` | gauge | `sale`: 1 while admission is paused |
//! | `herdgate_sale_open` | gauge | `sale`: 1 while the sale is open (started, stock left) |
//! | `herdgate_sale_payments` | gauge | `sale`, `state` (`captured`, `pending`, `failed`): card payments of the sale's orders |
//! | `herdgate_sale_joined` | gauge | `sale`: places taken in line, as the edge counted (with `--edge-url`) |
//! | `herdgate_sale_admitted` | gauge | `sale`: passes the edge issued (with `--edge-url`) |
//! | `herdgate_sale_in_line` | gauge | `sale`: places the admission frontier has not reached (with `--edge-url`) |
//!
//! The `herdgate_sale_*` gauges are set from each sample the timeline recorder
//! (`timeline.rs`) takes of a live sale, so every origin exports the same values, and dropped
//! when the sale stops being live.
//!
//! Each origin has its own registry (no globals), so several can run in one test process.
//!
//! Beside the registry, [`PurchaseLatencies`] keeps the latencies of the purchases answered
//! since the timeline recorder (`timeline.rs`) last took them, for the console's
//! percentiles.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PaymentLabels {
    sale: String,
    state: &'static str,
}

type SaleGauge = Family<SaleLabels, Gauge<i64, AtomicI64>>;

/// The per-sale gauges the timeline recorder sets from its samples. Cheap to clone.
#[derive(Clone, Default)]
pub struct SaleGauges {
    sold: SaleGauge,
    paused: SaleGauge,
    payments: Family<PaymentLabels, Gauge<i64, AtomicI64>>,
    joined: SaleGauge,
    admitted: SaleGauge,
    in_line: SaleGauge,
    open: SaleGauge,
}

fn gauge_value(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SaleGauges {
    fn register(&self, registry: &mut Registry) {
        let sale_gauges = [
            ("herdgate_sale_sold", "Items sold per sale", &self.sold),
            (
                "herdgate_sale_paused",
                "1 while a sale's admission is paused",
                &self.paused,
            ),
            (
                "herdgate_sale_open",
                "1 while a sale is open: started, stock left",
                &self.open,
            ),
            (
                "herdgate_sale_joined",
                "Places taken in a sale's line, as the edge counted",
                &self.joined,
            ),
            (
                "herdgate_sale_admitted",
                "Admission passes the edge issued per sale",
                &self.admitted,
            ),
            (
                "herdgate_sale_in_line",
                "Places in a sale's line the admission frontier has not reached",
                &self.in_line,
            ),
        ];
        for (name, help, gauge) in sale_gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "herdgate_sale_payments",
            "Card payments of a sale's orders by state",
            self.payments.clone(),
        );
    }

    /// Drops `sale`'s gauges: it is no longer sampled, so they would only go stale.
    pub fn clear(&self, sale: &str) {
        let labels = SaleLabels {
            sale: sale.to_owned(),
        };
        for g in [
            &self.sold,
            &self.paused,
            &self.open,
            &self.joined,
            &self.admitted,
            &self.in_line,
        ] {
            g.remove(&labels);
        }
        for state in ["captured", "pending", "failed"] {
            self.payments.remove(&PaymentLabels {
                sale: sale.to_owned(),
                state,
            });
        }
    }

    /// Sets the gauges of `sale` from `sample`.
    pub fn set(&self, sale: &str, sample: &herdgate_core::wire::TimelineSample) {
        let labels = SaleLabels {
            sale: sale.to_owned(),
        };
        self.sold
            .get_or_create(&labels)
            .set(gauge_value(sample.sold));
        self.paused
            .get_or_create(&labels)
            .set(i64::from(sample.paused));
        self.open.get_or_create(&labels).set(i64::from(
            sample.status == herdgate_core::wire::SaleStatus::Open,
        ));
        let p = sample.payments;
        for (state, n) in [
            ("captured", p.captured),
            ("pending", p.pending),
            ("failed", p.failed),
        ] {
            self.payments
                .get_or_create(&PaymentLabels {
                    sale: sale.to_owned(),
                    state,
                })
                .set(gauge_value(n));
        }
        if let (Some(edge), Some(in_line)) = (&sample.edge, sample.in_line()) {
            self.joined
                .get_or_create(&labels)
                .set(gauge_value(edge.counts.joins));
            self.admitted
                .get_or_create(&labels)
                .set(gauge_value(edge.counts.passes));
            self.in_line
                .get_or_create(&labels)
                .set(gauge_value(in_line));
        }
    }
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs .. ~3.3 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The route template of purchases, as the router names it.
pub const PURCHASE_ROUTE: &str = "/v1/sales/{sale}/purchase";

/// Purchase latencies, in microseconds, since they were last taken: at most
/// [`PurchaseLatencies::MAX`], the later ones dropped until the next take.
#[derive(Debug, Default)]
pub struct PurchaseLatencies(Mutex<Vec<u32>>);

impl PurchaseLatencies {
    /// The most latencies kept between two takes.
    pub const MAX: usize = 100_000;

    /// Keeps one purchase's latency.
    pub fn push(&self, seconds: f64) {
        let micros = (seconds * 1e6).clamp(0.0, f64::from(u32::MAX)) as u32;
        if let Ok(mut v) = self.0.lock() {
            if v.len() < Self::MAX {
                v.push(micros);
            }
        }
    }

    /// The latencies kept since the last take, emptied.
    pub fn take(&self) -> Vec<u32> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// The origin's metrics.
pub struct Metrics {
    purchases: Arc<PurchaseLatencies>,
    sales: SaleGauges,
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
        let sales = SaleGauges::default();
        sales.register(&mut registry);
        Metrics {
            purchases: Arc::default(),
            sales,
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
    /// The per-sale gauges the timeline recorder sets.
    pub fn sale_gauges(&self) -> SaleGauges {
        self.sales.clone()
    }

    /// The purchase latencies the timeline recorder takes.
    pub fn purchase_latencies(&self) -> Arc<PurchaseLatencies> {
        Arc::clone(&self.purchases)
    }

    /// Counts one request and its latency.
    pub fn observe(&self, route: &str, outcome: &'static str, seconds: f64) {
        // The checkouts' latency: purchases that bought (or answered the order bought before),
        // not the refusals answered from memory in microseconds.
        if route == PURCHASE_ROUTE && matches!(outcome, "created" | "existing") {
            self.purchases.push(seconds);
        }
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
