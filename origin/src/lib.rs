//! The herdgate origin: the one place stock is sold.
//!
//! It trusts nothing that reaches it: every purchase carries an admission pass that is
//! verified again here (the edge may be bypassed), and then one Lua script decides, atomically
//! in Redis, whether the visitor gets an order. Sold-out sales are answered from memory.
//!
//! # Layout
//!
//! `main.rs` parses the flags ([`config`]), binds and calls [`run`], which connects the
//! [`store`], starts the sold-out listener ([`soldout`]) and the payments reconciler
//! ([`payments`]), builds the shared [`state`] and serves [`app::app`] with [`server`]. Tests
//! call [`run`] on `127.0.0.1:0`. A purchase, file by file, top to bottom:
//!
//! 1. **Admit.** `server.rs` accepts the connection (up to `--max-connections`) and closes it
//!    if it idles or sends its headers too slowly. `app.rs`: the body is read in full first
//!    (`extract.rs`, within its size and time limits), so a slow body never holds an in-flight
//!    slot; then the in-flight limit refuses at once when the origin is full, the tracking
//!    middleware will count and time the answer ([`metrics`]), and the router hands
//!    `POST /v1/sales/{sale}/purchase` to `routes/purchase.rs`.
//! 2. **Check.** `extract.rs`: the sale id in the path, the JSON body (as read), then the pass,
//!    verified again with the keyring in `state.rs` at the instant read from `clock.rs`, once.
//! 3. **Decide.** `routes/purchase.rs`: the pass's card hold is checked; a sale known to be
//!    sold out is answered from memory (`soldout.rs`); otherwise `store/purchase.rs` runs
//!    `lua/purchase.lua` through `store/mod.rs` (`EVALSHA`, reloaded on `NOSCRIPT`).
//! 4. **Charge.** `payments.rs` captures the hold and records the result with
//!    `store/settle_payment.rs` (`lua/settle_payment.lua`); a capture that fails gives the
//!    item back in the same script.
//! 5. **Sold out.** The last item's script publishes `sold_out:<sale>`; `soldout.rs` reads
//!    `store/sold_out_snapshot.rs` and from then on answers the sale without Redis.
//! 6. **Answer.** A refusal anywhere on the way is an [`error::Refusal`] (`error.rs`): a
//!    stable code, its status and its sentence; a store failure becomes one in `store/mod.rs`.
//!
//! Beside the purchase: `routes/sales.rs` (public state, admin state, upsert with
//! `store/upsert_sale.rs`), `routes/audit.rs` with `audit.rs` (scores orders, cancels with
//! `store/cancel_orders.rs`, refunds through `payments.rs`), `routes/console.rs` (the
//! operator's console, its login and the timelines that [`timeline`]'s recorder keeps with
//! `store/timeline.rs`), `routes/seats.rs` (seated sales: the map, holds, confirmations, with
//! `store/seats.rs` and `lua/seats.lua`; [`seats`] sweeps expired holds) and `routes/probes.rs`.
//! A sale with stock shards buys at the visitor's shard (`store/stock_shards.rs` with
//! `lua/stock_shard.lua`), refills a shard that ran dry from the others, and has its
//! cut-off transfers finished by the stock keeper that [`run`] starts beside the sweeper.
//!
//! The modules form layers; a module names (with a `crate::` path) only modules of the layers
//! below its own, so there is no circle. [`run`], in this file, names any of them.
//!
//! | layer | modules | names |
//! |---|---|---|
//! | 1 | [`app`] | routes, extract, state, error |
//! | 2 | [`routes`] | extract, state, audit, payments, store, error, clock |
//! | 3 | [`extract`] | state, error, clock |
//! | 4 | [`state`] | payments, soldout, store, metrics, config |
//! | 5 | [`audit`] | payments, store |
//! | 6 | [`payments`], [`soldout`], [`timeline`], [`seats`], [`regions`] | store, metrics (the recorder's latencies), clock (the reconciler's, the recorder's and the sweeper's loops only) |
//! | 7 | [`store`], [`metrics`] | error (the store only) |
//! | 8 | [`error`], [`config`], [`clock`], [`server`] | nothing of this crate |
//!
//! Only the handlers (with the pass extractor) and the reconciler's loop read the clock;
//! everything below takes `now_ms` as an argument. To check the layers, run from
//! `origin/src`; every line must print nothing (`tests/it/layout.rs` checks the same on every
//! test run):
//!
//! ```sh
//! L8="error.rs config.rs clock.rs server.rs"; L7="store metrics.rs $L8"; L6="payments.rs soldout.rs timeline.rs seats.rs regions.rs $L7"
//! L5="audit.rs $L6"; L4="state.rs $L5"; L3="extract.rs $L4"; L2="routes $L3"
//! grep -rn 'crate::app' $L2
//! grep -rn 'crate::routes' $L3
//! grep -rn 'crate::extract' $L4
//! grep -rn 'crate::state' $L5
//! grep -rn 'crate::audit' $L6
//! grep -rnE 'crate::(payments|soldout|timeline|seats|regions)' $L7
//! for f in payments soldout timeline seats regions; do grep -nE 'crate::(payments|soldout|timeline|seats|regions)' $f.rs | grep -v "crate::$f"; done
//! grep -rn 'crate::metrics' store; grep -n 'crate::store' metrics.rs
//! grep -rn 'crate::' $L8
//! grep -rn 'clock::' store audit.rs state.rs soldout.rs
//! ```
//!
//! And `grep -n 'clock::' payments.rs timeline.rs seats.rs` prints only the loops' lines: the
//! reconciler's, the recorder's (its rounds) and the sweeper's.

pub mod app;
pub mod audit;
pub mod clock;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod payments;
pub mod regions;
pub mod routes;
pub mod seats;
pub mod server;
pub mod soldout;
pub mod state;
pub mod store;
pub mod timeline;

use std::future::Future;
use std::sync::Arc;

pub use config::Config;
use tokio::net::TcpListener;

use crate::soldout::{EventListener, SoldOutBoard};
use crate::state::{AppState, Parts};
use crate::store::{Store, StoreConfig, StoreError};

/// Why the origin could not start. Once it serves, nothing stops it but the shutdown future:
/// Redis going away later makes requests fail with 503, not the process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The Redis connections could not be set up (most likely an unreadable `--redis-url`).
    #[error("redis store: {0}")]
    Store(#[source] StoreError),
    /// `--redis-tls-ca` could not be read.
    #[error("reading --redis-tls-ca {path}: {source}")]
    TlsCa {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The client for the sale events channel could not be set up.
    #[error("sale events subscriber: {0}")]
    Events(#[source] StoreError),
    /// The HTTP client for the payments API could not be built.
    #[error("payments client: {0}")]
    Payments(#[source] reqwest::Error),
}

/// Serves the origin on `listener` until `shutdown` resolves; then it stops accepting, gives
/// the requests under way the shutdown's grace (`--shutdown-grace-ms`) to finish, drops the
/// connections still busy, closes the Redis connections in what is left of the grace, and
/// returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let store = Arc::new(
        Store::connect(StoreConfig {
            url: config.redis_url.clone(),
            pool_size: config.redis_pool_size,
            command_timeout: config.redis_timeout(),
            wait_replicas: match config.redis_wait_replicas {
                config::Replicas::Auto => store::WaitReplicas::Auto,
                config::Replicas::Exactly(n) => store::WaitReplicas::Exactly(n),
            },
            wait_timeout: std::time::Duration::from_millis(config.redis_wait_ms.max(1)),
            tls_ca_pem: match &config.redis_tls_ca {
                Some(path) => Some(std::fs::read(path).map_err(|source| StartError::TlsCa {
                    path: path.display().to_string(),
                    source,
                })?),
                None => None,
            },
        })
        .await
        .map_err(StartError::Store)?,
    );
    let board = Arc::new(SoldOutBoard::default());
    let events = EventListener::start(
        Arc::clone(&store),
        Arc::clone(&board),
        config.events_channel.clone(),
    )
    .map_err(StartError::Events)?;
    let payments = match config.stripe() {
        Some(stripe) => Some(Arc::new(
            payments::Payments::new(
                stripe,
                std::time::Duration::from_millis(config.payment_timeout_ms.max(1)),
                config.hold_max_age_secs,
            )
            .map_err(StartError::Payments)?,
        )),
        None => None,
    };
    let reconciler = payments.as_ref().map(|p| {
        tokio::spawn(payments::reconcile(
            Arc::clone(p),
            Arc::clone(&store),
            config.events_channel.clone(),
        ))
    });
    let seats_changed = Arc::new(tokio::sync::Notify::new());
    let sweeper = tokio::spawn(seats::sweep(Arc::clone(&store), Arc::clone(&seats_changed)));
    let replicas = tokio::spawn(store::replication::watch(Arc::clone(&store)));
    let keeper = tokio::spawn(store::stock_shards::keeper(Arc::clone(&store)));
    let sales_changed = Arc::new(tokio::sync::Notify::new());
    let state = AppState::new(Parts {
        payments,
        store: Arc::clone(&store),
        board,
        keyring: config.pass_keys.0.clone(),
        admin_token: config.admin_token.clone(),
        max_in_flight: config.max_in_flight,
        leeway_secs: config.clock_leeway_secs,
        max_body_bytes: config.max_body_bytes,
        body_timeout: config.body_timeout(),
        events_channel: config.events_channel.clone(),
        subscribed: events.subscribed(),
        // What the recorder does (it takes at least 100 ms between samples).
        timeline_every_ms: match config.timeline_every_ms {
            0 => 0,
            n => n.max(100),
        },
        console_session_secs: config.console_session_secs,
        sales_changed: Arc::clone(&sales_changed),
        seats_changed,
        console_cookie_secure: !listener
            .local_addr()
            .map(|a| a.ip().is_loopback())
            .unwrap_or(false),
        region: config.region.clone(),
    });
    let recorder = (config.timeline_every_ms > 0).then(|| {
        tokio::spawn(timeline::record(timeline::Recorder {
            store: Arc::clone(&store),
            edge: config.edge_url.as_ref().map(|url| timeline::EdgeLink {
                url: url.0.clone(),
                token: config.admin_token.secret().to_owned(),
            }),
            latencies: state.inner.metrics.purchase_latencies(),
            gauges: state.inner.metrics.sale_gauges(),
            every_ms: config.timeline_every_ms,
            sales_changed,
        }))
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "herdgate origin listening");
    }
    let limits = server::ConnectionLimits {
        header_timeout: config.header_timeout(),
        idle_timeout: config.idle_timeout(),
        max_connections: config.max_connections,
        shutdown_grace: config.shutdown_grace(),
    };
    let stopped = server::serve(listener, app::app(state), limits, shutdown).await;
    for task in [
        reconciler,
        recorder,
        Some(sweeper),
        Some(replicas),
        Some(keeper),
    ]
    .into_iter()
    .flatten()
    {
        task.abort();
    }
    // A frozen Redis must not hold the process past the grace: the goodbyes get what is left of
    // it, and connections still open after that close with the process.
    let goodbyes = async {
        events.stop().await;
        store.quit().await;
    };
    if tokio::time::timeout_at(stopped.deadline, goodbyes)
        .await
        .is_err()
    {
        tracing::warn!("Redis did not take its goodbyes within the shutdown's grace");
    }
    tracing::info!(cut = stopped.cut, "herdgate origin stopped");
    Ok(())
}
