//! The herdgate origin: the one place stock is sold.
//!
//! It trusts nothing that reaches it: every purchase carries an admission pass that is
//! verified again here (the edge may be bypassed), and then one Lua script decides, atomically
//! in Redis, whether the visitor gets an order. Sold-out sales are answered from memory.
//!
//! # Layout
//!
//! - [`config`]: flags and environment variables ([`Config`]).
//! - [`app`]: routes, handlers and middleware ([`app::app`] builds the router).
//! - [`state`]: what the handlers share ([`state::AppState`]).
//! - [`store`]: Redis, driven only through the scripts in `lua/`.
//! - [`soldout`]: the sold-out memory and the pub/sub listener that keeps it current.
//! - [`metrics`]: Prometheus metrics.
//! - [`payments`]: capturing the card hold of an order, and giving the item back when that fails.
//! - [`error`]: refusals as HTTP responses.
//! - [`clock`]: the wall clock, read by the handlers and passed down.
//!
//! [`run`] serves on a listener until a shutdown future resolves; `main.rs` only parses
//! flags, binds and waits for a signal. Tests call [`run`] on `127.0.0.1:0`.

pub mod app;
pub mod audit;
pub mod clock;
pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod payments;
pub mod routes;
pub mod soldout;
pub mod state;
pub mod store;

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
    /// The client for the sale events channel could not be set up.
    #[error("sale events subscriber: {0}")]
    Events(#[source] StoreError),
    /// The HTTP client for the payments API could not be built.
    #[error("payments client: {0}")]
    Payments(#[source] reqwest::Error),
}

/// Serves the origin on `listener` until `shutdown` resolves, then finishes the requests under
/// way and closes the Redis connections.
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
    let state = AppState::new(Parts {
        payments,
        store: Arc::clone(&store),
        board,
        keyring: config.pass_keys.0.clone(),
        admin_token: config.admin_token.clone(),
        max_in_flight: config.max_in_flight,
        leeway_secs: config.clock_leeway_secs,
        max_body_bytes: config.max_body_bytes,
        events_channel: config.events_channel.clone(),
        subscribed: events.subscribed(),
    });
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "herdgate origin listening");
    }
    let served = axum::serve(listener, app::app(state))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = reconciler {
        task.abort();
    }
    events.stop().await;
    store.quit().await;
    if let Err(e) = served {
        tracing::error!(error = %e, "server stopped with an error");
    }
    tracing::info!("herdgate origin stopped");
    Ok(())
}
