//! The router and its middleware: every gated route shares an in-flight limit, and every
//! request is counted and timed. The handlers are in [`crate::routes`].

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use herdgate_core::ErrorCode;

use crate::error::{ApiError, Outcome};
use crate::routes::{self, audit, probes, purchase, sales};
use crate::state::AppState;

/// The router, with every route and middleware.
pub fn app(state: AppState) -> Router {
    let gated = Router::new()
        .route("/v1/sales/{sale}", get(sales::public_state))
        .route("/v1/sales/{sale}/purchase", post(purchase::purchase))
        .route(
            "/admin/v1/sales/{sale}",
            get(sales::admin_state).put(sales::upsert_sale),
        )
        .route("/admin/v1/sales/{sale}/audit", post(audit::audit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limit_in_flight,
        ));
    let probe_routes = Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics));
    let max_body = state.inner.max_body_bytes;
    gated
        .merge(probe_routes)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Refuses at once, with 503 and Retry-After, when `max_in_flight` requests are under way,
/// instead of queueing without bound.
async fn limit_in_flight(State(app): State<AppState>, request: Request, next: Next) -> Response {
    match Arc::clone(&app.inner.in_flight).try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError(ErrorCode::Overloaded).into_response(),
    }
}

/// Counts every request by route and outcome, and times it.
async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .map(|o| o.0)
        .unwrap_or_else(|| status_outcome(response.status()));
    app.inner
        .metrics
        .observe(&route, outcome, started.elapsed().as_secs_f64());
    response
}

fn status_outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        400..=499 => "client_error",
        _ => "server_error",
    }
}
