//! The worker's transport for `herdgate-pay`: the payments API reached with the worker's
//! `fetch`, and what its failures mean to a buyer.
//!
//! It sits below the handlers and the Durable Objects alike: the hold handler places card holds
//! through it and the queue shards release them through it, so neither reaches into the other.

use herdgate_core::ErrorCode;
use herdgate_pay::{ApiCall, ApiReply, PayError, Stripe, Transport, TransportError};
use worker::{Method, Request, RequestInit};

use crate::config::Config;
use crate::http::Refusal;

/// Calls the payments API with the worker's `fetch`, each within a time limit.
pub struct FetchTransport {
    timeout_ms: u64,
}

impl Transport for FetchTransport {
    async fn send(&self, call: ApiCall) -> Result<ApiReply, TransportError> {
        let failed = |e: worker::Error| TransportError::Failed(e.to_string());
        let headers = worker::Headers::new();
        for (name, value) in &call.headers {
            headers.set(name, value).map_err(failed)?;
        }
        let mut init = RequestInit::new();
        init.with_method(match call.method {
            herdgate_pay::Method::Get => Method::Get,
            herdgate_pay::Method::Post => Method::Post,
        })
        .with_headers(headers);
        if let Some(body) = call.body {
            init.with_body(Some(body.into()));
        }
        let req = Request::new_with_init(&call.url, &init).map_err(failed)?;
        let mut resp = crate::http::fetch_within(req, self.timeout_ms)
            .await
            .ok_or(TransportError::Timeout)?
            .map_err(failed)?;
        let status = resp.status_code();
        let body = resp.bytes().await.map_err(failed)?;
        Ok(ApiReply { status, body })
    }
}

/// The payments gateway, if this deployment has one.
pub fn gateway(cfg: &Config) -> Option<Stripe<FetchTransport>> {
    let stripe = cfg.payments.clone()?;
    Some(Stripe::new(
        stripe,
        FetchTransport {
            timeout_ms: cfg.payment_timeout_ms.max(1),
        },
    ))
}

/// The refusal for a failed gateway call. What went wrong is logged without the key or card.
pub fn refusal(e: &PayError) -> Refusal {
    match e {
        PayError::Declined { .. } => Refusal(ErrorCode::CardDeclined),
        PayError::NeedsAuthentication => Refusal(ErrorCode::CardNeedsAuthentication),
        PayError::NotFound("payment method") => Refusal(ErrorCode::InvalidPaymentMethod),
        other => {
            worker::console_error!("payments API: {other}");
            Refusal(ErrorCode::PaymentUnavailable)
        }
    }
}
