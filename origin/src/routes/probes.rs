//! The probes: liveness, readiness and metrics. They bypass the in-flight limit, so an
//! overloaded origin still answers them. Liveness and readiness are public (a load balancer
//! asks them); metrics need the admin token, since they tell stock levels, sell-outs and the
//! origin's load to whoever asks.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::ErrorCode;

use super::with_outcome;
use crate::error::Refusal;
use crate::extract::AdminAuth;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Response {
    with_outcome(
        Json(serde_json::json!({"status": "ok"})).into_response(),
        "ok",
    )
}

/// `GET /readyz`: Redis answers, holds the scripts, and sale events are subscribed.
pub async fn readyz(State(app): State<AppState>) -> Result<Response, Refusal> {
    if !app.inner.subscribed.load(Ordering::Acquire) {
        return Err(Refusal(ErrorCode::StoreUnavailable));
    }
    match app.inner.store.ready().await {
        Ok(true) => Ok(with_outcome(
            Json(serde_json::json!({"status": "ready"})).into_response(),
            "ok",
        )),
        Ok(false) => {
            // Redis answers but lost its scripts (restarted): load them for next time.
            if let Err(e) = app.inner.store.load_scripts().await {
                tracing::warn!(error = %e, "could not load scripts");
            }
            Err(Refusal(ErrorCode::StoreUnavailable))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /metrics`: Prometheus metrics, for the admin bearer token only (`unauthorized`
/// otherwise).
pub async fn metrics(_admin: AdminAuth, State(app): State<AppState>) -> Response {
    let m = &app.inner.metrics;
    m.set_sold_out_in_memory(app.inner.board.ready_count());
    m.set_in_flight(
        app.inner
            .max_in_flight
            .saturating_sub(app.inner.in_flight.available_permits()),
    );
    let mut response = m.encode().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    with_outcome(response, "ok")
}
