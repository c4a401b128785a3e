//! What every request handler shares: the store, the sold-out memory, the metrics, the keys
//! and the limits, built once at start-up (`run`, in `lib.rs`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use herdgate_core::Keyring;
use tokio::sync::Semaphore;

use crate::config::AdminToken;
use crate::metrics::Metrics;
use crate::payments::Payments;
use crate::soldout::SoldOutBoard;
use crate::store::Store;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<Store>,
    pub(crate) board: Arc<SoldOutBoard>,
    pub(crate) metrics: Metrics,
    pub(crate) keyring: Keyring,
    pub(crate) admin_token: AdminToken,
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) max_in_flight: usize,
    pub(crate) subscribed: Arc<AtomicBool>,
    pub(crate) leeway_secs: u64,
    pub(crate) max_body_bytes: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) events_channel: String,
    pub(crate) payments: Option<Arc<Payments>>,
    pub(crate) timeline_every_ms: u64,
    pub(crate) console_session_secs: u64,
    pub(crate) sales_changed: Arc<tokio::sync::Notify>,
    pub(crate) seats_changed: Arc<tokio::sync::Notify>,
    pub(crate) seat_views: SeatViews,
    pub(crate) console_cookie_secure: bool,
    pub(crate) region: Option<String>,
}

/// The parts an [`AppState`] is built from.
pub struct Parts {
    /// The inventory store.
    pub store: Arc<Store>,
    /// The sold-out memory.
    pub board: Arc<SoldOutBoard>,
    /// Verifies passes.
    pub keyring: Keyring,
    /// Guards the admin API.
    pub admin_token: AdminToken,
    /// Requests handled at once before 503.
    pub max_in_flight: usize,
    /// Clock skew tolerated on passes, seconds.
    pub leeway_secs: u64,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// The time a request's body has to arrive in full.
    pub body_timeout: Duration,
    /// The sale events channel.
    pub events_channel: String,
    /// Whether this origin is subscribed to the events channel.
    pub subscribed: Arc<AtomicBool>,
    /// Card holds, if configured.
    pub payments: Option<Arc<Payments>>,
    /// Milliseconds between a sale's timeline samples (0: none are taken).
    pub timeline_every_ms: u64,
    /// Seconds a console login lasts.
    pub console_session_secs: u64,
    /// Told when a sale is created or changed (the timeline recorder looks again).
    pub sales_changed: Arc<tokio::sync::Notify>,
    /// Told when a seat map is loaded (the seat sweeper looks again).
    pub seats_changed: Arc<tokio::sync::Notify>,
    /// Whether the console's cookie is `Secure` (an origin listening on a loopback address
    /// serves the console over plain HTTP on this machine; any other is behind TLS).
    pub console_cookie_secure: bool,
    /// The region this origin sells in: passes of another region are refused.
    pub region: Option<String>,
}

impl AppState {
    /// Builds the state.
    pub fn new(p: Parts) -> Self {
        AppState {
            inner: Arc::new(Inner {
                store: p.store,
                board: p.board,
                metrics: Metrics::default(),
                keyring: p.keyring,
                admin_token: p.admin_token,
                in_flight: Arc::new(Semaphore::new(p.max_in_flight.max(1))),
                max_in_flight: p.max_in_flight.max(1),
                subscribed: p.subscribed,
                leeway_secs: p.leeway_secs,
                max_body_bytes: p.max_body_bytes,
                body_timeout: p.body_timeout,
                events_channel: p.events_channel,
                payments: p.payments,
                timeline_every_ms: p.timeline_every_ms,
                console_session_secs: p.console_session_secs,
                sales_changed: p.sales_changed,
                seats_changed: p.seats_changed,
                seat_views: SeatViews::default(),
                console_cookie_secure: p.console_cookie_secure,
                region: p.region,
            }),
        }
    }
}

/// The seats each sale showed last, per origin (see `routes/seats.rs`, `availability`).
#[derive(Default)]
pub struct SeatViews(
    std::sync::Mutex<std::collections::HashMap<herdgate_core::SaleId, Arc<SeatView>>>,
);

/// One sale's last answer: when it was read, unix ms, and its JSON.
pub type SeatView = tokio::sync::Mutex<Option<(u64, axum::body::Bytes)>>;

impl SeatViews {
    /// The cell of `sale` (made on first use; at most [`SeatViews::MAX`] sales are kept).
    pub fn cell(&self, sale: &herdgate_core::SaleId) -> Arc<SeatView> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= Self::MAX && !map.contains_key(sale) {
            map.clear();
        }
        Arc::clone(map.entry(sale.clone()).or_default())
    }

    /// The most sales kept.
    pub const MAX: usize = 1_000;
}
