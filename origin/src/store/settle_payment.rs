//! `lua/settle_payment.lua`: what capturing an order's card hold came to, recorded atomically;
//! and beside it the plain reads and writes of the payments hash that the reconciler and the
//! audit's refunds need.

use std::collections::HashMap;

use fred::prelude::*;
use herdgate_core::{SaleId, VisitorId};
use serde::{Deserialize, Serialize};

use super::{int, text, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/settle_payment.lua");

/// An order's card payment, as `lua/purchase.lua` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The hold (PaymentIntent id).
    pub intent: String,
    /// The amount to capture, minor units.
    pub amount: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Pending (held, not captured yet) or captured.
    pub state: PaymentState,
    /// When it reached this state, unix ms.
    pub at: u64,
}

/// Where an order's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// The order is taken and its hold not captured yet.
    Pending,
    /// The money is taken.
    Captured,
    /// The audit cancelled the paid order; the refund is being made.
    Refunding,
    /// The audit cancelled the paid order and the money went back.
    Refunded,
}

/// One call of `lua/settle_payment.lua`.
#[derive(Debug, Clone, Copy)]
pub struct SettlePaymentCall<'a> {
    /// The sale (its keys, and `ARGV[5]`).
    pub sale: &'a SaleId,
    /// `ARGV[1]`: the buyer.
    pub visitor: &'a VisitorId,
    /// `ARGV[2]`: the hold the caller tried to capture.
    pub hold: &'a str,
    /// `ARGV[3]`: `captured` if the money is taken, else `released` (the order is undone).
    pub captured: bool,
    /// `ARGV[4]`: now, unix ms.
    pub now_ms: u64,
    /// `ARGV[6]`: the events channel.
    pub channel: &'a str,
}

impl SettlePaymentCall<'_> {
    /// The script's `KEYS` and `ARGV`, in its order.
    pub fn keys_and_args(&self) -> (Vec<String>, Vec<String>) {
        self.keys_and_args_at(SaleKeys::new(self.sale))
    }

    /// The same, with the keys `k` (the visitor's stock shard's, for a sale that has them).
    pub fn keys_and_args_at(&self, k: SaleKeys) -> (Vec<String>, Vec<String>) {
        let outcome = if self.captured {
            "captured"
        } else {
            "released"
        };
        let keys = vec![
            k.sale,
            k.orders,
            k.passes,
            k.log,
            k.payments,
            k.dead_holds,
            k.facts,
            k.seat_rows,
        ];
        let args = vec![
            self.visitor.to_string(),
            self.hold.to_owned(),
            outcome.to_owned(),
            self.now_ms.to_string(),
            self.sale.to_string(),
            self.channel.to_owned(),
        ];
        (keys, args)
    }
}

/// What `lua/settle_payment.lua` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlePaymentReply {
    /// `captured`: the payment is recorded as captured (by this call or an earlier one).
    Captured(Payment),
    /// `released`: the order is undone and its items are back in stock.
    Released {
        /// Items left now.
        remaining: u64,
    },
    /// `none`: nothing is pending with this hold (another request settled it meanwhile).
    Nothing,
}

impl Store {
    /// Records what capturing the visitor's hold came to (see `lua/settle_payment.lua`):
    /// `captured`, or not (the order is undone and its items go back to stock).
    pub async fn settle_payment(
        &self,
        call: &SettlePaymentCall<'_>,
    ) -> Result<SettlePaymentReply, StoreError> {
        let k = self.visitor_keys(call.sale, call.visitor).await?;
        let (keys, args) = call.keys_and_args_at(k);
        let reply = self
            .evalsha(&self.scripts.settle_payment, keys, args)
            .await?;
        Ok(match text(&reply, 0)?.as_str() {
            "captured" => match parse_payment(&text(&reply, 1)?)? {
                Some(p) => SettlePaymentReply::Captured(p),
                None => return Err(StoreError::Protocol("empty captured payment".into())),
            },
            "released" => SettlePaymentReply::Released {
                remaining: int(&reply, 1)?,
            },
            "none" => SettlePaymentReply::Nothing,
            other => return Err(StoreError::Protocol(format!("settle returned {other:?}"))),
        })
    }

    /// Every payment still pending or refunding, of every sale: `(sale, visitor, payment)`.
    /// Read with `SCAN` (every primary's, on a cluster), for the reconciler that settles what a
    /// crashed origin left.
    pub async fn pending_payments(&self) -> Result<Vec<(SaleId, VisitorId, Payment)>, StoreError> {
        let client = self.pool.next();
        let mut keys = self.scan_keys("hg:{*}:payments".to_owned()).await?;
        keys.sort();
        keys.dedup();
        let mut out = Vec::new();
        for key in keys {
            // A sale's own payments, or one of its stock shards'.
            let Some(sale) = SaleKeys::sale_of_key(&key) else {
                continue;
            };
            let all: HashMap<String, String> = client.hgetall(&key).await?;
            for (visitor, json) in all {
                let (Ok(visitor), Some(payment)) =
                    (VisitorId::parse(&visitor), parse_payment(&json)?)
                else {
                    continue;
                };
                if matches!(
                    payment.state,
                    PaymentState::Pending | PaymentState::Refunding
                ) {
                    out.push((sale.clone(), visitor, payment));
                }
            }
        }
        Ok(out)
    }

    /// Records that `visitor`'s refund of `payment` went through.
    pub async fn mark_refunded(
        &self,
        sale: &SaleId,
        visitor: &VisitorId,
        payment: &Payment,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let k = self.visitor_keys(sale, visitor).await?;
        let json = serde_json::to_string(&Payment {
            state: PaymentState::Refunded,
            at: now_ms,
            ..payment.clone()
        })
        .map_err(|e| StoreError::Protocol(e.to_string()))?;
        let _: () = self
            .pool
            .next()
            .hset(k.payments, (visitor.to_string(), json))
            .await?;
        Ok(())
    }
}

/// A payment field of a script's reply or of the payments hash; empty when the sale has no
/// price.
pub(super) fn parse_payment(json: &str) -> Result<Option<Payment>, StoreError> {
    if json.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(json)
        .map(Some)
        .map_err(|e| StoreError::Protocol(format!("unreadable payment: {e}")))
}
