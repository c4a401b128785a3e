//! `lua/cancel_orders.lua`: the audit cancels flagged orders and returns their items to stock,
//! atomically; and beside it the read the audit scores: every order with the facts recorded
//! at purchase.

use std::collections::HashMap;

use fred::prelude::*;
use herdgate_core::defence::OrderFacts;
use herdgate_core::{SaleId, VisitorId};

use super::{int, parse_order, RecordedFacts, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/cancel_orders.lua");

/// One call of `lua/cancel_orders.lua`.
#[derive(Debug, Clone, Copy)]
pub struct CancelOrdersCall<'a> {
    /// The sale (its keys, and `ARGV[1]`).
    pub sale: &'a SaleId,
    /// `ARGV[2]`: the events channel.
    pub channel: &'a str,
    /// `ARGV[3]`: now, unix ms.
    pub now_ms: u64,
    /// `ARGV[4…]`: the visitors whose orders to cancel (valid visitor ids).
    pub visitors: &'a [String],
}

impl CancelOrdersCall<'_> {
    /// The script's `KEYS` and `ARGV`, in its order.
    pub fn keys_and_args(&self) -> (Vec<String>, Vec<String>) {
        self.keys_and_args_at(SaleKeys::new(self.sale))
    }

    /// The same, with the keys `k` (one stock shard's, for a sale that has them: then
    /// `visitors` must be that shard's).
    pub fn keys_and_args_at(&self, k: SaleKeys) -> (Vec<String>, Vec<String>) {
        let keys = vec![
            k.sale,
            k.orders,
            k.cancelled,
            k.log,
            k.payments,
            k.seat_rows,
        ];
        let mut args = vec![
            self.sale.to_string(),
            self.channel.to_owned(),
            self.now_ms.to_string(),
        ];
        args.extend(self.visitors.iter().cloned());
        (keys, args)
    }
}

/// What `lua/cancel_orders.lua` did: `{cancelled, remaining, visitor, hold, amount,
/// currency, ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelOrdersReply {
    /// Orders cancelled by this call (visitors without an order are skipped).
    pub cancelled: u64,
    /// Items left after this call.
    pub remaining: u64,
    /// The cancelled orders whose payment was captured, now `refunding`: the caller refunds
    /// them.
    pub refunds: Vec<ToRefund>,
}

/// A cancelled order whose captured payment is to be refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToRefund {
    /// The buyer.
    pub visitor: VisitorId,
    /// The captured intent.
    pub intent: String,
    /// The amount captured, minor units.
    pub amount: u64,
    /// Its currency.
    pub currency: String,
}

impl Store {
    /// Cancels the orders of the call's visitors and returns their items to stock, atomically
    /// (see `lua/cancel_orders.lua`).
    pub async fn cancel_orders(
        &self,
        call: &CancelOrdersCall<'_>,
    ) -> Result<CancelOrdersReply, StoreError> {
        let Some(layout) = self.layout(call.sale).await? else {
            return self.cancel_orders_at(call, SaleKeys::new(call.sale)).await;
        };
        // Each stock shard cancels its own visitors' orders.
        let mut by_shard: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
        for v in call.visitors {
            let shard = VisitorId::parse(v).map_or(0, |v| layout.shard_of(&v));
            by_shard.entry(shard).or_default().push(v.clone());
        }
        let mut total = CancelOrdersReply {
            cancelled: 0,
            remaining: 0,
            refunds: Vec::new(),
        };
        for (shard, visitors) in by_shard {
            let part = CancelOrdersCall {
                visitors: &visitors,
                ..*call
            };
            let reply = self
                .cancel_orders_at(&part, layout.keys(super::Place::Shard(shard)))
                .await?;
            total.cancelled += reply.cancelled;
            total.refunds.extend(reply.refunds);
        }
        let counts = self.stock_counts(&layout, 1).await?;
        total.remaining = counts.sum(|c| c.remaining);
        Ok(total)
    }

    async fn cancel_orders_at(
        &self,
        call: &CancelOrdersCall<'_>,
        k: SaleKeys,
    ) -> Result<CancelOrdersReply, StoreError> {
        let (keys, args) = call.keys_and_args_at(k);
        let reply = self
            .evalsha(&self.scripts.cancel_orders, keys, args)
            .await?;
        let mut refunds = Vec::new();
        for t in reply.get(2..).unwrap_or_default().chunks(4) {
            let [v, i, a, c] = t else {
                return Err(StoreError::Protocol("cancel_orders refunds".into()));
            };
            let visitor = v.as_str().and_then(|s| VisitorId::parse(&s).ok());
            let amount = a.as_str().and_then(|s| s.parse::<u64>().ok());
            match (visitor, i.as_str(), amount, c.as_str()) {
                (Some(visitor), Some(intent), Some(amount), Some(currency)) => {
                    refunds.push(ToRefund {
                        visitor,
                        intent: intent.into_owned(),
                        amount,
                        currency: currency.into_owned(),
                    })
                }
                _ => return Err(StoreError::Protocol("cancel_orders refund triple".into())),
            }
        }
        Ok(CancelOrdersReply {
            cancelled: int(&reply, 0)?,
            remaining: int(&reply, 1)?,
            refunds,
        })
    }

    /// Every order of `sale` with the facts recorded at purchase, for the audit.
    pub async fn audit_facts(&self, sale: &SaleId) -> Result<Vec<OrderFacts>, StoreError> {
        let client = self.pool.next();
        let (mut orders, mut facts) = (HashMap::new(), HashMap::<String, String>::new());
        // Every place that takes orders: the sale, or each of its stock shards.
        for k in self.order_places(sale).await? {
            let o: HashMap<String, String> = client.hgetall(k.orders).await?;
            let f: HashMap<String, String> = client.hgetall(k.facts).await?;
            orders.extend(o);
            facts.extend(f);
        }
        let mut out = Vec::with_capacity(orders.len());
        for (visitor, json) in orders {
            let order = parse_order(&json)?;
            let f: RecordedFacts = facts
                .get(&visitor)
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default();
            out.push(OrderFacts {
                order_id: order.order_id,
                visitor,
                quantity: u64::from(order.quantity),
                client: f.client,
                net: f.net,
                dev: f.dev,
                admitted_ms: f.adm,
                created_ms: if f.rcv > 0 {
                    f.rcv
                } else {
                    order.created_at_ms
                },
                shared_pass: f.shr,
            });
        }
        out.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        Ok(out)
    }
}
