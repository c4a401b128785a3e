//! Capturing the card hold of an order, and giving the item back when that fails.
//!
//! The edge authorised each buyer's card while they queued and put the hold's id in their
//! pass. Here, after `lua/purchase.lua` has taken the order (its payment `pending`), the hold is
//! captured for the order's amount and `lua/settle_payment.lua` records the result:
//!
//! - captured (now, or by an earlier attempt whose answer was lost): the payment is `captured`;
//! - the hold cannot be captured (cancelled, expired, declined): the order is undone and its
//!   items go back to stock, atomically, and the buyer is told `payment_failed`;
//! - no answer from the processor: the order stays `pending` and the buyer gets
//!   `payment_unavailable`; their retry, or the [`reconcile`] loop, tries again.
//!
//! Capture uses one idempotency key per order and hold, and reads the intent after any
//! refusal (see `herdgate-pay`), so no retry, concurrent request or reconciler pass can
//! capture twice.

use std::sync::Arc;
use std::time::Duration;

use herdgate_core::{SaleId, VisitorId};
use herdgate_pay::{
    ApiCall, ApiReply, Capture, Method, PayError, PaymentGateway, Stripe, StripeConfig, Transport,
    TransportError,
};

use crate::store::{
    Payment, PaymentState, SettlePaymentCall, SettlePaymentReply, Store, StoreError, ToRefund,
};

/// How often the reconciler looks for payments a crashed or cut-off request left pending.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// A pending payment younger than this is left to the request that created it.
pub const RECONCILE_AFTER_MS: u64 = 60_000;

/// Sends gateway calls with reqwest, each within a time limit.
#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// A transport whose calls give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(HttpTransport {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .build()?,
        })
    }
}

impl Transport for HttpTransport {
    async fn send(&self, call: ApiCall) -> Result<ApiReply, TransportError> {
        let mut req = match call.method {
            Method::Get => self.client.get(&call.url),
            Method::Post => self.client.post(&call.url),
        };
        for (name, value) in &call.headers {
            req = req.header(*name, value);
        }
        if let Some(body) = call.body {
            req = req.body(body);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                TransportError::Timeout
            } else {
                // Without the URL: it is the configured base, not worth a log line each time.
                TransportError::Failed(e.without_url().to_string())
            }
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| TransportError::Failed(e.without_url().to_string()))?;
        Ok(ApiReply {
            status,
            body: body.to_vec(),
        })
    }
}

/// The origin's side of card holds.
pub struct Payments {
    gateway: Stripe<HttpTransport>,
    /// A hold authorised longer ago than this is not captured (see the config flag).
    pub hold_max_age_secs: u64,
}

/// What settling an order's payment came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Charged.
    Charged(Payment),
    /// Not charged; the order is undone and its items are back on sale.
    Released,
    /// The processor did not answer: the order stays pending.
    Unanswered,
}

impl Payments {
    /// Payments through the Stripe-compatible API of `config`.
    pub fn new(
        config: StripeConfig,
        timeout: Duration,
        hold_max_age_secs: u64,
    ) -> Result<Self, reqwest::Error> {
        Ok(Payments {
            gateway: Stripe::new(config, HttpTransport::new(timeout)?),
            hold_max_age_secs,
        })
    }

    /// Captures `payment` (pending, of `visitor`'s order in `sale`) and records the result as
    /// of `now_ms`.
    pub async fn settle(
        &self,
        store: &Store,
        sale: &SaleId,
        visitor: &VisitorId,
        payment: &Payment,
        channel: &str,
        now_ms: u64,
    ) -> Result<Settlement, StoreError> {
        if payment.state == PaymentState::Captured {
            return Ok(Settlement::Charged(payment.clone()));
        }
        let key = format!("hg-capture-{sale}-{visitor}-{}", payment.intent);
        let captured = match self
            .gateway
            .capture(&payment.intent, payment.amount, &key)
            .await
        {
            Ok(Capture::Captured(_)) => true,
            Ok(Capture::Gone(intent)) => {
                tracing::info!(
                    %sale, intent = %intent.id, status = ?intent.status,
                    "a hold could not be captured; its order is undone"
                );
                false
            }
            Err(PayError::NotFound(_)) => false,
            Err(e) => {
                tracing::warn!(%sale, error = %e, "capturing a hold failed; the order stays pending");
                return Ok(Settlement::Unanswered);
            }
        };
        match store
            .settle_payment(&SettlePaymentCall {
                sale,
                visitor,
                hold: &payment.intent,
                captured,
                now_ms,
                channel,
            })
            .await?
        {
            SettlePaymentReply::Captured(p) => Ok(Settlement::Charged(p)),
            SettlePaymentReply::Released { .. } => Ok(Settlement::Released),
            // Settled by another request meanwhile: the capture outcome is the intent's.
            SettlePaymentReply::Nothing if captured => Ok(Settlement::Charged(Payment {
                state: PaymentState::Captured,
                ..payment.clone()
            })),
            SettlePaymentReply::Nothing => Ok(Settlement::Released),
        }
    }

    /// Refunds a cancelled order's captured payment and records it as of `now_ms`; `false` if
    /// the processor did not answer (the payment stays `refunding` and the reconciler tries
    /// again).
    pub async fn refund(
        &self,
        store: &Store,
        sale: &SaleId,
        refund: &ToRefund,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let key = format!("hg-refund-{sale}-{}-{}", refund.visitor, refund.intent);
        match self
            .gateway
            .refund(&refund.intent, refund.amount, &key)
            .await
        {
            Ok(_) => {
                let payment = Payment {
                    intent: refund.intent.clone(),
                    amount: refund.amount,
                    currency: refund.currency.clone(),
                    state: PaymentState::Refunded,
                    at: 0,
                };
                store
                    .mark_refunded(sale, &refund.visitor, &payment, now_ms)
                    .await?;
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(%sale, error = %e, "refunding a cancelled order failed; will retry");
                Ok(false)
            }
        }
    }
}

/// Every [`RECONCILE_EVERY`], settles the payments left pending for longer than
/// [`RECONCILE_AFTER_MS`] (an origin that died between the order and the capture, or a
/// processor that did not answer). Runs until the task is dropped.
pub async fn reconcile(payments: Arc<Payments>, store: Arc<Store>, channel: String) {
    let mut tick = tokio::time::interval(RECONCILE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // The background task's top level: the one place below the handlers that reads the
        // clock, once per pass.
        match reconcile_once(&payments, &store, &channel, crate::clock::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(settled = n, "reconciled pending payments"),
            Err(e) => tracing::warn!(error = %e, "reconciling payments failed; will retry"),
        }
    }
}

/// One pass of [`reconcile`] at `now_ms`; returns how many payments it settled.
pub async fn reconcile_once(
    payments: &Payments,
    store: &Store,
    channel: &str,
    now_ms: u64,
) -> Result<usize, StoreError> {
    let mut settled = 0;
    for (sale, visitor, payment) in store.pending_payments().await? {
        if payment.at + RECONCILE_AFTER_MS > now_ms {
            continue;
        }
        let done = match payment.state {
            PaymentState::Refunding => {
                let refund = ToRefund {
                    visitor,
                    intent: payment.intent.clone(),
                    amount: payment.amount,
                    currency: payment.currency.clone(),
                };
                payments.refund(store, &sale, &refund, now_ms).await?
            }
            _ => {
                payments
                    .settle(store, &sale, &visitor, &payment, channel, now_ms)
                    .await?
                    != Settlement::Unanswered
            }
        };
        if done {
            settled += 1;
        }
    }
    Ok(settled)
}
