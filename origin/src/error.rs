//! Refusals as HTTP responses.
//!
//! The bottom of the crate: it names no other module. Each error of a layer above says itself
//! what refusal it becomes (`From<StoreError> for Refusal` is beside `StoreError`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use herdgate_core::wire::ErrorBody;
use herdgate_core::ErrorCode;

/// The outcome of a request as the metrics label it: `created`, `existing`, `ok`, or the
/// refusal code. Handlers put it in the response's extensions.
#[derive(Debug, Clone, Copy)]
pub struct Outcome(pub &'static str);

/// A typed refusal. The response carries the code, its status and its sentence, never the
/// cause behind it (that goes to the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub ErrorCode);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let code = self.0;
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(ErrorBody::from(code))).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED && code == ErrorCode::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(Outcome(code.as_str()));
        response
    }
}

impl From<ErrorCode> for Refusal {
    fn from(code: ErrorCode) -> Self {
        Refusal(code)
    }
}
