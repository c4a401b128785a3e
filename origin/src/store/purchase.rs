//! `lua/purchase.lua`: one admission pass becomes at most one order, atomically.

use herdgate_core::wire::Order;
use herdgate_core::{SaleId, VisitorId};
use serde::{Deserialize, Serialize};

use super::settle_payment::{parse_payment, Payment};
use super::{int, parse_order, text, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/purchase.lua");

/// What the origin records with each order for the audit, from the verified pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFacts {
    /// Client binding.
    #[serde(default)]
    pub client: String,
    /// Network digest.
    #[serde(default)]
    pub net: String,
    /// Device digest.
    #[serde(default)]
    pub dev: String,
    /// When the edge admitted the visitor, unix ms.
    #[serde(default)]
    pub adm: u64,
    /// When the edge received the purchase, unix ms (0: it came straight to the origin).
    #[serde(default)]
    pub rcv: u64,
    /// The pass had been offered from another client before it bought.
    #[serde(default)]
    pub shr: bool,
}

/// One call of `lua/purchase.lua`: its `ARGV`, one for one, and the sale whose keys it takes.
/// The benchmark's baseline builds its `EVALSHA` from this too, so both run the same call.
#[derive(Debug, Clone, Copy)]
pub struct PurchaseCall<'a> {
    /// The sale (its keys, and `ARGV[5]`).
    pub sale: &'a SaleId,
    /// `ARGV[1]`: the buyer.
    pub visitor: &'a VisitorId,
    /// `ARGV[2]`: the pass id (hex, checked by the caller).
    pub pass_id: &'a str,
    /// `ARGV[3]`: items wanted.
    pub quantity: u32,
    /// `ARGV[4]`: now, unix ms.
    pub now_ms: u64,
    /// `ARGV[6]`: the events channel.
    pub channel: &'a str,
    /// `ARGV[7]`: the audit facts, JSON ([`RecordedFacts`]).
    pub facts: &'a str,
    /// `ARGV[8]`: the pass's card hold, or empty.
    pub hold: &'a str,
}

impl PurchaseCall<'_> {
    /// The script's `KEYS` and `ARGV`, in its order.
    pub fn keys_and_args(&self) -> (Vec<String>, Vec<String>) {
        self.keys_and_args_at(SaleKeys::new(self.sale))
    }

    /// The same, with the keys `k` (a stock shard's, for a sale that has them).
    pub fn keys_and_args_at(&self, k: SaleKeys) -> (Vec<String>, Vec<String>) {
        let keys = vec![
            k.sale,
            k.orders,
            k.passes,
            k.log,
            k.facts,
            k.cancelled,
            k.payments,
            k.dead_holds,
        ];
        let args = vec![
            self.visitor.to_string(),
            self.pass_id.to_owned(),
            self.quantity.to_string(),
            self.now_ms.to_string(),
            self.sale.to_string(),
            self.channel.to_owned(),
            self.facts.to_owned(),
            self.hold.to_owned(),
        ];
        (keys, args)
    }
}

/// What the purchase script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseReply {
    /// `created`: a new order, taken by this call.
    Created {
        /// The order.
        order: Order,
        /// Items left.
        remaining: u64,
        /// Its card payment (pending), if the sale has a price.
        payment: Option<Payment>,
    },
    /// `existing`: the visitor already had this order; nothing changed.
    Existing {
        /// The order.
        order: Order,
        /// Items left.
        remaining: u64,
        /// Its card payment, if the sale has a price.
        payment: Option<Payment>,
    },
    /// `hold_required`: the sale has a price and the pass carries no card hold.
    HoldRequired,
    /// `hold_dead`: the pass's hold failed to capture before.
    HoldDead,
    /// `unknown_sale`: no such sale.
    UnknownSale,
    /// `seated`: the sale sells seats (`lua/seats.lua`), not items.
    Seated,
    /// `pass_spent`: the pass bought before and that order no longer exists.
    PassSpent,
    /// `cancelled`: the audit cancelled this visitor's order; the visitor may not buy again.
    Cancelled,
    /// `not_open`: the sale has not started yet.
    NotOpen,
    /// `over_limit`: the quantity is outside 1..=limit.
    OverLimit,
    /// `sold_out`: not enough stock; nothing changed.
    SoldOut,
    /// The visitor's stock shard has too little and stock is moving to it from the others:
    /// nothing changed, retry in a moment (never "sold out" while any shard has stock).
    StockMoving,
}

impl Store {
    /// Runs the purchase script (see `lua/purchase.lua`) for `call`.
    /// A sale with stock shards buys at the visitor's shard (see [`super::stock_shards`]).
    pub async fn purchase(&self, call: &PurchaseCall<'_>) -> Result<PurchaseReply, StoreError> {
        match self.layout(call.sale).await? {
            Some(layout) => self.purchase_sharded(&layout, call).await,
            None => self.purchase_at(call, &SaleKeys::new(call.sale)).await,
        }
    }

    /// Runs the purchase script with the keys `k`.
    pub(super) async fn purchase_at(
        &self,
        call: &PurchaseCall<'_>,
        k: &SaleKeys,
    ) -> Result<PurchaseReply, StoreError> {
        let (keys, args) = call.keys_and_args_at(k.clone());
        let reply = self.evalsha(&self.scripts.purchase, keys, args).await?;
        let tag = text(&reply, 0)?;
        Ok(match tag.as_str() {
            "created" => PurchaseReply::Created {
                order: parse_order(&text(&reply, 1)?)?,
                remaining: int(&reply, 2)?,
                payment: parse_payment(&text(&reply, 3)?)?,
            },
            "existing" => PurchaseReply::Existing {
                order: parse_order(&text(&reply, 1)?)?,
                remaining: int(&reply, 2)?,
                payment: parse_payment(&text(&reply, 3)?)?,
            },
            "hold_required" => PurchaseReply::HoldRequired,
            "hold_dead" => PurchaseReply::HoldDead,
            "unknown_sale" => PurchaseReply::UnknownSale,
            "seated" => PurchaseReply::Seated,
            // The sale's own hash of a sharded sale: the layout read above says where to buy,
            // so this is a sale whose shards were set after this origin read it (never).
            "sharded" => PurchaseReply::StockMoving,
            "pass_spent" => PurchaseReply::PassSpent,
            "cancelled" => PurchaseReply::Cancelled,
            "not_open" => PurchaseReply::NotOpen,
            "over_limit" => PurchaseReply::OverLimit,
            "sold_out" => PurchaseReply::SoldOut,
            other => return Err(StoreError::Protocol(format!("purchase returned {other:?}"))),
        })
    }
}
