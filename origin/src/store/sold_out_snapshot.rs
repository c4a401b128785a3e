//! `lua/sold_out_snapshot.lua`: a sold-out sale and every one of its orders, read in one atomic
//! step, so the origin can answer the sale from memory.

use herdgate_core::wire::{DrawState, Order, Price, SaleState, SaleStatus};
use herdgate_core::{SaleId, VisitorId};

use super::{int, parse_order, text, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/sold_out_snapshot.lua");

/// One call of `lua/sold_out_snapshot.lua` (read-only; no `ARGV`).
#[derive(Debug, Clone, Copy)]
pub struct SoldOutSnapshotCall<'a> {
    /// The sale whose keys it reads.
    pub sale: &'a SaleId,
}

impl SoldOutSnapshotCall<'_> {
    /// The script's `KEYS` and `ARGV`, in its order.
    pub fn keys_and_args(&self) -> (Vec<String>, Vec<String>) {
        let k = SaleKeys::new(self.sale);
        (vec![k.sale, k.orders], Vec::new())
    }
}

/// What `lua/sold_out_snapshot.lua` read.
#[derive(Debug, Clone)]
pub enum SoldOutSnapshotReply {
    /// `{}`: no such sale.
    Missing,
    /// `{remaining}`: the sale has stock again.
    NotSoldOut,
    /// `{0, sold, …, visitor, order, …}`: sold out, with the public state and every order.
    SoldOut {
        /// The public state (boxed: it is most of the answer's size).
        state: Box<SaleState>,
        /// Every order, by visitor.
        orders: Vec<(VisitorId, Order)>,
    },
}

impl Store {
    /// Reads a sold-out sale and all its orders in one atomic step
    /// (see `lua/sold_out_snapshot.lua`).
    pub async fn sold_out_snapshot(
        &self,
        call: &SoldOutSnapshotCall<'_>,
    ) -> Result<SoldOutSnapshotReply, StoreError> {
        let Some(layout) = self.layout(call.sale).await? else {
            return self.snapshot_at(call, call.keys_and_args()).await;
        };
        // A sale with stock shards is sold out when no place has stock, no capture is pending
        // and no transfer is on its way, in one moment's view of them all; then no shard's
        // orders can grow until a restock, which every origin hears of ("open:<sale>").
        let counts = self.stock_counts(&layout, 4).await?;
        if !counts.consistent || counts.sum(|c| c.remaining + c.pending + c.xfer_open) > 0 {
            return Ok(SoldOutSnapshotReply::NotSoldOut);
        }
        let SoldOutSnapshotReply::SoldOut {
            mut state,
            mut orders,
        } = self.snapshot_at(call, call.keys_and_args()).await?
        else {
            return Ok(SoldOutSnapshotReply::NotSoldOut);
        };
        for shard in 0..layout.count() {
            let k = layout.keys(super::Place::Shard(shard));
            match self
                .snapshot_at(call, (vec![k.sale, k.orders], Vec::new()))
                .await?
            {
                SoldOutSnapshotReply::SoldOut { orders: more, .. } => orders.extend(more),
                // A shard never made has no orders.
                SoldOutSnapshotReply::Missing => {}
                SoldOutSnapshotReply::NotSoldOut => return Ok(SoldOutSnapshotReply::NotSoldOut),
            }
        }
        state.sold = counts.sum(|c| c.sold);
        state.cancelled = counts.sum(|c| c.cancelled);
        Ok(SoldOutSnapshotReply::SoldOut { state, orders })
    }

    /// The script with these keys: the sale's own, or a stock shard's (whose orders only count).
    async fn snapshot_at(
        &self,
        call: &SoldOutSnapshotCall<'_>,
        (keys, args): (Vec<String>, Vec<String>),
    ) -> Result<SoldOutSnapshotReply, StoreError> {
        let reply = self
            .evalsha(&self.scripts.sold_out_snapshot, keys, args)
            .await?;
        if reply.is_empty() {
            return Ok(SoldOutSnapshotReply::Missing);
        }
        if int(&reply, 0)? > 0 {
            return Ok(SoldOutSnapshotReply::NotSoldOut);
        }
        let sold = int(&reply, 1)?;
        let starts_at_ms = int(&reply, 2)?;
        let rate = int(&reply, 3)?;
        let limit = int(&reply, 4)?;
        let price = match (text(&reply, 5)?.parse::<u64>(), text(&reply, 6)?) {
            (Ok(amount), currency) if !currency.is_empty() => Some(Price { amount, currency }),
            _ => None,
        };
        let paused = int(&reply, 7)? != 0;
        let revision = int(&reply, 8)?;
        let cancelled = int(&reply, 9)?;
        let draw = match (text(&reply, 10)?.parse::<u64>(), text(&reply, 12)?) {
            (Ok(opens_at_ms), commitment) if !commitment.is_empty() => {
                let window = text(&reply, 11)?.parse::<u64>().unwrap_or(0);
                let seed = text(&reply, 13)?;
                Some(DrawState {
                    opens_at_ms,
                    closes_at_ms: starts_at_ms.saturating_add(window),
                    commitment,
                    // Kept here; `routes/sales.rs` shows it only after the close.
                    seed: (!seed.is_empty()).then_some(seed),
                })
            }
            _ => None,
        };
        // The geofence stays as it is: sold out here is not sold out everywhere.
        let countries: Vec<String> = text(&reply, 14)?
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        // What it gave to and received from other regions: a region that sold out can still
        // have given an item that another has not received yet.
        let given = int(&reply, 15)?;
        let received = int(&reply, 16)?;
        let mut orders = Vec::with_capacity(reply.len().saturating_sub(17) / 2);
        for pair in reply.get(17..).unwrap_or_default().chunks(2) {
            let [v, o] = pair else {
                return Err(StoreError::Protocol("odd orders hash".into()));
            };
            let visitor = v
                .as_str()
                .and_then(|s| VisitorId::parse(&s).ok())
                .ok_or_else(|| StoreError::Protocol("bad visitor in orders".into()))?;
            let order = parse_order(&o.as_str().unwrap_or_default())?;
            orders.push((visitor, order));
        }
        Ok(SoldOutSnapshotReply::SoldOut {
            state: Box::new(SaleState {
                sale: call.sale.clone(),
                status: SaleStatus::SoldOut,
                remaining: 0,
                sold,
                starts_at_ms,
                admission_rate: u32::try_from(rate).unwrap_or(u32::MAX),
                per_visitor_limit: u32::try_from(limit).unwrap_or(u32::MAX),
                price,
                paused,
                revision,
                cancelled,
                pending: 0,
                draw,
                // Sold out: nobody more is admitted, so how it admitted no longer matters.
                seated: None,
                countries,
                // (A region with a move under way is not sold out: see the script.)
                moving: 0,
                given,
                received,
            }),
            orders,
        })
    }
}
