//! The handlers, one file per part of the API:
//!
//! | method | path | handler |
//! |---|---|---|
//! | `GET` | `/v1/sales/{sale}` | [`sales::public_state`]: public sale state, cacheable for 1 s |
//! | `POST` | `/v1/sales/{sale}/purchase` | [`purchase::purchase`]: buy with an admission pass (`Authorization: Bearer <pass>`) |
//! | `PUT` | `/admin/v1/sales/{sale}` | [`sales::upsert_sale`]: create or update a sale (admin bearer token) |
//! | `GET` | `/admin/v1/sales/{sale}` | [`sales::admin_state`]: full state of a sale (admin bearer token) |
//! | `POST` | `/admin/v1/sales/{sale}/audit` | [`audit::audit`]: score the sale's orders; with `apply`, cancel the flagged ones (admin bearer token) |
//! | `GET` | `/healthz` | [`probes::healthz`]: the process is up |
//! | `GET` | `/readyz` | [`probes::readyz`]: Redis answers, holds the scripts, and sale events are subscribed |
//! | `GET` | `/metrics` | [`probes::metrics`]: Prometheus metrics |

pub mod audit;
pub mod probes;
pub mod purchase;
pub mod sales;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use herdgate_core::{ErrorCode, SaleId};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Outcome};
use crate::state::Inner;

pub(crate) fn sale_id(path: Result<Path<String>, PathRejection>) -> Result<SaleId, ApiError> {
    let Path(raw) = path.map_err(|_| ApiError(ErrorCode::InvalidSaleId))?;
    SaleId::parse(&raw).map_err(|_| ApiError(ErrorCode::InvalidSaleId))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Parses a JSON body; an empty body is `T::default()` when `empty_ok`.
pub(crate) fn json_body<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError(ErrorCode::BodyTooLarge)
        } else {
            ApiError(ErrorCode::InvalidBody)
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return if empty_ok {
            Ok(T::default())
        } else {
            Err(ApiError(ErrorCode::InvalidBody))
        };
    }
    serde_json::from_slice(&bytes).map_err(|_| ApiError(ErrorCode::InvalidBody))
}

pub(crate) fn with_outcome(mut response: Response, outcome: &'static str) -> Response {
    response.extensions_mut().insert(Outcome(outcome));
    response
}

pub(crate) fn require_admin(app: &Inner, headers: &HeaderMap) -> Result<(), ApiError> {
    match bearer(headers) {
        Some(token) if app.admin_token.matches(token) => Ok(()),
        _ => Err(ApiError(ErrorCode::Unauthorized)),
    }
}

/// No route matches.
pub async fn not_found() -> ApiError {
    ApiError(ErrorCode::NotFound)
}

/// The route exists, not with this method.
pub async fn method_not_allowed() -> ApiError {
    ApiError(ErrorCode::MethodNotAllowed)
}
