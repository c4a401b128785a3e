//! The handlers, one file per part of the API. What several of them check (the sale id, the
//! operator (admin token or console session), the pass, the JSON body) is in [`crate::extract`]; each handler's doc says
//! which refusal wins when several apply.
//!
//! | method | path | handler |
//! |---|---|---|
//! | `GET` | `/v1/sales/{sale}` | [`sales::public_state`]: public sale state, cacheable for 1 s |
//! | `POST` | `/v1/sales/{sale}/purchase` | [`purchase::purchase`]: buy with an admission pass (`Authorization: Bearer <pass>`) |
//! | `PUT` | `/admin/v1/sales/{sale}` | [`sales::upsert_sale`]: create or update a sale (admin bearer token) |
//! | `GET` | `/admin/v1/sales/{sale}` | [`sales::admin_state`]: full state of a sale (admin bearer token) |
//! | `POST` | `/admin/v1/sales/{sale}/control` | [`sales::control`]: pause, resume or re-rate admission (admin bearer token) |
//! | `POST` | `/admin/v1/sales/{sale}/audit` | [`audit::audit`]: score the sale's orders; with `apply`, cancel the flagged ones (admin bearer token) |
//! | `GET` | `/admin/v1/sales/{sale}/timeline` | [`console::timeline`]: the samples the timeline recorder took of the sale (admin token or console session) |
//! | `PUT` | `/admin/v1/sales/{sale}/seats` | [`seats::put_map`]: load a seated sale's map (admin token) |
//! | `POST` | `/admin/v1/sales/{sale}/seats/changes` | [`seats::change_map`]: prices and withdrawals before the sale (admin token) |
//! | `GET` | `/v1/sales/{sale}/seats` | [`seats::availability`]: the seats as they stand, cacheable for 1 s |
//! | `POST` | `/v1/sales/{sale}/seat-holds` | [`seats::hold`]: hold seats (admission pass) |
//! | `POST` | `/v1/sales/{sale}/seat-holds/{hold}/confirm` | [`seats::confirm`]: buy the held seats (admission pass) |
//! | `DELETE` | `/v1/sales/{sale}/seat-holds/{hold}` | [`seats::release`]: give them back (admission pass) |
//! | `GET` | `/admin/` | [`console::page`]: the operator's console, or its login form |
//! | `POST` | `/admin/login`, `/admin/logout` | [`console::login`], [`console::logout`]: a console session from the admin token, and its end |
//! | `GET` | `/healthz` | [`probes::healthz`]: the process is up |
//! | `GET` | `/readyz` | [`probes::readyz`]: Redis answers, holds the scripts, and sale events are subscribed |
//! | `GET` | `/metrics` | [`probes::metrics`]: Prometheus metrics (admin bearer token) |

pub mod audit;
pub mod console;
pub mod probes;
pub mod purchase;
pub mod sales;
pub mod seats;

use axum::response::Response;
use herdgate_core::ErrorCode;

use crate::error::{Outcome, Refusal};

/// Labels `response` for the request metrics (a refusal labels itself with its code).
pub(crate) fn with_outcome(mut response: Response, outcome: &'static str) -> Response {
    response.extensions_mut().insert(Outcome(outcome));
    response
}

/// No route matches.
pub async fn not_found() -> Refusal {
    Refusal(ErrorCode::NotFound)
}

/// The route exists, not with this method.
pub async fn method_not_allowed() -> Refusal {
    Refusal(ErrorCode::MethodNotAllowed)
}
