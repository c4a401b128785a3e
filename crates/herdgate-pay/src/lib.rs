//! Card holds for herdgate: authorise while the buyer waits, capture when they win, release
//! when they do not.
//!
//! [`PaymentGateway`] is what the edge and the origin need of a card processor:
//!
//! - [`hold`](PaymentGateway::hold): authorise an amount on a payment method without taking it
//!   (a PaymentIntent with `capture_method=manual`, confirmed at once, so it ends in
//!   `requires_capture`);
//! - [`capture`](PaymentGateway::capture): take the money of a hold, at most once;
//! - [`release`](PaymentGateway::release): cancel a hold, so the card's available balance
//!   comes back;
//! - [`retrieve`](PaymentGateway::retrieve): read where a hold stands;
//! - [`refund`](PaymentGateway::refund): give back a captured payment (an order the shop
//!   cancelled after it was paid).
//!
//! [`Stripe`] implements it by speaking Stripe's wire API (form-encoded requests, JSON answers,
//! `Authorization: Bearer <secret key>`, an `Idempotency-Key` on every POST). Any service with
//! that API works: Stripe itself, or `localstripe` in tests. This crate performs no I/O: the
//! caller supplies a [`Transport`] (the worker's `fetch` at the edge, an HTTP client at the
//! origin), so the same request building and answer parsing run on both sides and build for
//! `wasm32-unknown-unknown`.
//!
//! Capture and release are written to be safe to repeat. Stripe honours idempotency keys, but
//! a repeat can also come after the key has expired (24 hours) or from a service that ignores
//! keys, so on any refusal they read the intent and report what it is: a hold that was
//! captured before counts as captured, never as a reason to capture again.

pub mod card;

use std::fmt;
use std::future::Future;

use serde::Deserialize;

pub use card::{Card, CardError};

/// The Stripe API version requests are pinned to, so an account's default version changing
/// cannot change the answers' shape.
pub const STRIPE_VERSION: &str = "2024-06-20";

/// The oldest hold captured or kept by default, in seconds (6 days): under the 7-day
/// authorisation window of most online card payments. The edge (`HOLD_MAX_AGE_SECS`) and the
/// origin (`--hold-max-age-secs`) must agree, so both default to this.
pub const HOLD_MAX_AGE_SECS: u64 = 518_400;

/// An HTTP method the gateway API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request to the gateway, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Headers to send (including `Authorization`: never log them).
    pub headers: Vec<(&'static str, String)>,
    /// A form-encoded body (POST), if any.
    pub body: Option<String>,
}

impl fmt::Debug for ApiCall {
    /// Method and URL only: the headers hold the secret key and the body may hold card data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method.as_str(), self.url)
    }
}

/// The gateway's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiReply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No answer within the caller's time limit.
    #[error("the payment gateway did not answer in time")]
    Timeout,
    /// The connection failed.
    #[error("the payment gateway could not be reached: {0}")]
    Failed(String),
}

/// Sends [`ApiCall`]s. The edge implements it with the worker's `fetch`, the origin with its
/// HTTP client; each bounds the time a call may take.
pub trait Transport {
    /// Sends `call` and returns the answer, whatever its status.
    fn send(&self, call: ApiCall) -> impl Future<Output = Result<ApiReply, TransportError>>;
}

/// Where a PaymentIntent stands (Stripe's names).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// No usable payment method (e.g. after a decline).
    RequiresPaymentMethod,
    /// Not confirmed yet.
    RequiresConfirmation,
    /// The card asks for the buyer (3-D Secure).
    RequiresAction,
    /// The processor is working on it.
    Processing,
    /// Authorised and held: can be captured or cancelled.
    RequiresCapture,
    /// Cancelled: the hold is released.
    Canceled,
    /// Captured: the money is taken.
    Succeeded,
    /// A status this crate does not know.
    #[serde(other)]
    Unknown,
}

/// A PaymentIntent, as far as holds need it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Intent {
    /// Its id (`pi_…`).
    pub id: String,
    /// Where it stands.
    pub status: IntentStatus,
    /// The amount authorised, in the currency's minor unit.
    pub amount: u64,
    /// The amount captured so far.
    #[serde(default)]
    pub amount_received: u64,
    /// The currency (ISO 4217, lower case).
    pub currency: String,
    /// When it was created, unix seconds.
    #[serde(default)]
    pub created: u64,
}

/// Why a gateway call failed. None of them carries the secret key or card data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// The card was declined (HTTP 402); `code` is the processor's (e.g. `card_declined`).
    #[error("the card was declined ({code})")]
    Declined {
        /// The processor's code.
        code: String,
    },
    /// The card asks for the buyer's authentication (3-D Secure), which a hold taken while
    /// queued cannot do; the intent was cancelled.
    #[error("the card requires authentication")]
    NeedsAuthentication,
    /// No such object (HTTP 404), e.g. an unknown payment method.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The gateway refused the request (another 4xx): a configuration or programming error
    /// such as a wrong key, or an intent in a state that does not allow the call.
    #[error("the payment gateway refused the request (HTTP {status}, {code})")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The processor's code, or `unknown`.
        code: String,
    },
    /// Too many requests (HTTP 429): try again later.
    #[error("the payment gateway is rate limiting")]
    RateLimited,
    /// No usable answer: a 5xx, a transport failure or an unreadable body. Try again.
    #[error("the payment gateway is unavailable: {0}")]
    Unavailable(String),
}

impl PayError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PayError::RateLimited | PayError::Unavailable(_))
    }
}

impl From<TransportError> for PayError {
    fn from(e: TransportError) -> Self {
        PayError::Unavailable(e.to_string())
    }
}

/// What a hold is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest<'a> {
    /// The amount to authorise, in the currency's minor unit (at least 1).
    pub amount: u64,
    /// ISO 4217 currency, lower case.
    pub currency: &'a str,
    /// The payment method (`pm_…`, see [`is_payment_method_id`]).
    pub payment_method: &'a str,
    /// The idempotency key: the same key gets the same intent back from Stripe.
    pub idempotency_key: &'a str,
    /// Metadata stored on the intent (at most 50 pairs; keys ≤ 40, values ≤ 500 characters).
    pub metadata: &'a [(&'a str, &'a str)],
}

/// What capturing came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    /// The hold is captured: by this call, or by an earlier one (never twice).
    Captured(Intent),
    /// The hold cannot be captured any more (cancelled, expired or declined at capture); no
    /// money was taken.
    Gone(Intent),
}

/// What releasing came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The hold is cancelled (by this call or before).
    Released,
    /// The hold had been captured: it is an order's payment, not a hold to release.
    Captured,
}

/// A card processor that can hold, capture and release. See the crate documentation.
pub trait PaymentGateway {
    /// Tokenises a card into a payment method (`pm_…`).
    fn payment_method(
        &self,
        card: &Card,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<String, PayError>>;
    /// Authorises `req.amount` on `req.payment_method` and holds it; the intent is in
    /// `requires_capture` when this returns `Ok`.
    fn hold(&self, req: &HoldRequest<'_>) -> impl Future<Output = Result<Intent, PayError>>;
    /// Reads the intent `id`.
    fn retrieve(&self, id: &str) -> impl Future<Output = Result<Intent, PayError>>;
    /// Captures `amount` (at most the held amount; the rest is released) of hold `id`.
    fn capture(
        &self,
        id: &str,
        amount: u64,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Capture, PayError>>;
    /// Cancels hold `id`.
    fn release(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<Release, PayError>>;
    /// Refunds `amount` of the captured intent `id`; returns the refund's id.
    fn refund(
        &self,
        id: &str,
        amount: u64,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<String, PayError>>;
}

/// Whether `id` looks like an intent id: `pi_` and 1–200 ASCII letters, digits or `_`. Checked
/// before an id goes into a URL.
pub fn is_intent_id(id: &str) -> bool {
    prefixed_id(id, "pi_")
}

/// Whether `id` looks like a payment method id: `pm_` and 1–200 ASCII letters, digits or `_`.
pub fn is_payment_method_id(id: &str) -> bool {
    prefixed_id(id, "pm_")
}

fn prefixed_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        (1..=200).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Whether `currency` is three lower-case ASCII letters.
pub fn is_currency(currency: &str) -> bool {
    currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_lowercase())
}

/// The API's base URL and secret key.
#[derive(Clone)]
pub struct StripeConfig {
    api_base: String,
    secret_key: String,
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_base", &self.api_base)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Why a [`StripeConfig`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The base URL is not `http(s)://host[:port][/path]`.
    #[error(
        "the payment API base URL must start with https:// (or http:// for a local test service)"
    )]
    BaseUrl,
    /// The key is not a secret (`sk_…`) or restricted (`rk_…`) key.
    #[error("the payment secret key must be a secret (sk_...) or restricted (rk_...) key")]
    SecretKey,
}

impl StripeConfig {
    /// A configuration for the API at `api_base` (e.g. `https://api.stripe.com`) with
    /// `secret_key`.
    pub fn new(api_base: &str, secret_key: &str) -> Result<Self, ConfigError> {
        let api_base = api_base.trim().trim_end_matches('/');
        let rest = api_base
            .strip_prefix("https://")
            .or_else(|| api_base.strip_prefix("http://"))
            .ok_or(ConfigError::BaseUrl)?;
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(ConfigError::BaseUrl);
        }
        let key = secret_key.trim();
        let well_formed = (key.starts_with("sk_") || key.starts_with("rk_"))
            && key.len() >= 8
            && key.bytes().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(ConfigError::SecretKey);
        }
        Ok(StripeConfig {
            api_base: api_base.to_owned(),
            secret_key: key.to_owned(),
        })
    }

    fn call(&self, method: Method, path: &str, form: Option<String>, key: Option<&str>) -> ApiCall {
        let mut headers = vec![
            ("authorization", format!("Bearer {}", self.secret_key)),
            ("stripe-version", STRIPE_VERSION.to_owned()),
        ];
        if form.is_some() {
            headers.push((
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ));
        }
        if let Some(k) = key {
            headers.push(("idempotency-key", k.to_owned()));
        }
        ApiCall {
            method,
            url: format!("{}{path}", self.api_base),
            headers,
            body: form,
        }
    }

    /// `POST /v1/payment_methods` for `card`.
    pub fn payment_method_call(&self, card: &Card, key: &str) -> ApiCall {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("type", "card")
            .append_pair("card[number]", card.number())
            .append_pair("card[exp_month]", &card.exp_month().to_string())
            .append_pair("card[exp_year]", &card.exp_year().to_string())
            .append_pair("card[cvc]", card.cvc());
        self.call(
            Method::Post,
            "/v1/payment_methods",
            Some(form.finish()),
            Some(key),
        )
    }

    /// `POST /v1/payment_intents`: create and confirm a manual-capture intent.
    pub fn hold_call(&self, req: &HoldRequest<'_>) -> ApiCall {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("amount", &req.amount.to_string())
            .append_pair("currency", req.currency)
            .append_pair("payment_method", req.payment_method)
            .append_pair("payment_method_types[]", "card")
            .append_pair("capture_method", "manual")
            .append_pair("confirm", "true");
        for (k, v) in req.metadata {
            form.append_pair(&format!("metadata[{k}]"), v);
        }
        self.call(
            Method::Post,
            "/v1/payment_intents",
            Some(form.finish()),
            Some(req.idempotency_key),
        )
    }

    /// `GET /v1/payment_intents/{id}`.
    pub fn retrieve_call(&self, id: &str) -> ApiCall {
        self.call(
            Method::Get,
            &format!("/v1/payment_intents/{id}"),
            None,
            None,
        )
    }

    /// `POST /v1/payment_intents/{id}/capture`.
    pub fn capture_call(&self, id: &str, amount: u64, key: &str) -> ApiCall {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("amount_to_capture", &amount.to_string());
        self.call(
            Method::Post,
            &format!("/v1/payment_intents/{id}/capture"),
            Some(form.finish()),
            Some(key),
        )
    }

    /// `POST /v1/refunds` for `amount` of intent `id`.
    pub fn refund_call(&self, id: &str, amount: u64, key: &str) -> ApiCall {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("payment_intent", id)
            .append_pair("amount", &amount.to_string());
        self.call(Method::Post, "/v1/refunds", Some(form.finish()), Some(key))
    }

    /// `POST /v1/payment_intents/{id}/cancel`.
    pub fn cancel_call(&self, id: &str, key: &str) -> ApiCall {
        self.call(
            Method::Post,
            &format!("/v1/payment_intents/{id}/cancel"),
            Some(String::new()),
            Some(key),
        )
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
}

/// Reads a gateway answer: the object of a 2xx, or the typed error.
pub fn parse_reply<T: serde::de::DeserializeOwned>(
    reply: &ApiReply,
    object: &'static str,
) -> Result<T, PayError> {
    if (200..300).contains(&reply.status) {
        return serde_json::from_slice(&reply.body)
            .map_err(|_| PayError::Unavailable(format!("unreadable {object} in the answer")));
    }
    let detail = serde_json::from_slice::<ErrorBody>(&reply.body)
        .ok()
        .map(|b| b.error);
    let code = detail
        .as_ref()
        .and_then(|d| d.decline_code.clone().or_else(|| d.code.clone()))
        .unwrap_or_else(|| "unknown".to_owned());
    Err(match reply.status {
        402 => PayError::Declined { code },
        404 => PayError::NotFound(object),
        429 => PayError::RateLimited,
        s if s >= 500 => PayError::Unavailable(format!("HTTP {s}")),
        status => PayError::Rejected { status, code },
    })
}

#[derive(Deserialize)]
struct PaymentMethodObject {
    id: String,
}

#[derive(Deserialize)]
struct RefundObject {
    id: String,
}

/// The Stripe implementation of [`PaymentGateway`] over a [`Transport`].
#[derive(Debug, Clone)]
pub struct Stripe<T> {
    config: StripeConfig,
    transport: T,
}

impl<T: Transport> Stripe<T> {
    /// A gateway at `config` sending through `transport`.
    pub fn new(config: StripeConfig, transport: T) -> Self {
        Stripe { config, transport }
    }

    async fn intent(&self, call: ApiCall) -> Result<Intent, PayError> {
        let reply = self.transport.send(call).await?;
        parse_reply(&reply, "payment intent")
    }
}

impl<T: Transport> PaymentGateway for Stripe<T> {
    async fn payment_method(&self, card: &Card, idempotency_key: &str) -> Result<String, PayError> {
        let reply = self
            .transport
            .send(self.config.payment_method_call(card, idempotency_key))
            .await?;
        let pm: PaymentMethodObject = parse_reply(&reply, "payment method")?;
        if !is_payment_method_id(&pm.id) {
            return Err(PayError::Unavailable(
                "the gateway answered with an unexpected payment method id".to_owned(),
            ));
        }
        Ok(pm.id)
    }

    async fn hold(&self, req: &HoldRequest<'_>) -> Result<Intent, PayError> {
        let intent = self.intent(self.config.hold_call(req)).await?;
        match intent.status {
            IntentStatus::RequiresCapture => Ok(intent),
            IntentStatus::RequiresAction => {
                // Nobody is there to authenticate: drop the intent rather than leave it.
                let key = format!("{}-cancel", req.idempotency_key);
                self.release(&intent.id, &key).await?;
                Err(PayError::NeedsAuthentication)
            }
            IntentStatus::RequiresPaymentMethod => Err(PayError::Declined {
                code: "card_declined".to_owned(),
            }),
            _ => Err(PayError::Unavailable(format!(
                "a new hold is {:?}, not requires_capture",
                intent.status
            ))),
        }
    }

    async fn retrieve(&self, id: &str) -> Result<Intent, PayError> {
        if !is_intent_id(id) {
            return Err(PayError::NotFound("payment intent"));
        }
        self.intent(self.config.retrieve_call(id)).await
    }

    async fn capture(&self, id: &str, amount: u64, key: &str) -> Result<Capture, PayError> {
        if !is_intent_id(id) {
            return Err(PayError::NotFound("payment intent"));
        }
        let refused = match self.intent(self.config.capture_call(id, amount, key)).await {
            Ok(intent) if intent.status == IntentStatus::Succeeded => {
                return Ok(Capture::Captured(intent))
            }
            Ok(intent) => return Ok(Capture::Gone(intent)),
            Err(e) => e,
        };
        // Refused or unanswered: what happened is in the intent. A capture that went through
        // before (an earlier attempt, or this one whose answer was lost) reads as succeeded.
        let intent = match self.retrieve(id).await {
            Ok(intent) => intent,
            Err(_) => return Err(refused),
        };
        match intent.status {
            IntentStatus::Succeeded => Ok(Capture::Captured(intent)),
            IntentStatus::RequiresCapture | IntentStatus::Processing => Err(refused),
            _ => Ok(Capture::Gone(intent)),
        }
    }

    async fn release(&self, id: &str, key: &str) -> Result<Release, PayError> {
        if !is_intent_id(id) {
            return Err(PayError::NotFound("payment intent"));
        }
        let refused = match self.intent(self.config.cancel_call(id, key)).await {
            Ok(_) => return Ok(Release::Released),
            Err(e) => e,
        };
        let intent = match self.retrieve(id).await {
            Ok(intent) => intent,
            Err(_) => return Err(refused),
        };
        match intent.status {
            IntentStatus::Canceled => Ok(Release::Released),
            IntentStatus::Succeeded => Ok(Release::Captured),
            _ => Err(refused),
        }
    }

    async fn refund(&self, id: &str, amount: u64, key: &str) -> Result<String, PayError> {
        if !is_intent_id(id) {
            return Err(PayError::NotFound("payment intent"));
        }
        let reply = self
            .transport
            .send(self.config.refund_call(id, amount, key))
            .await?;
        let refund: RefundObject = parse_reply(&reply, "refund")?;
        Ok(refund.id)
    }
}

#[cfg(test)]
mod tests;
