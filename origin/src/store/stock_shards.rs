//! `lua/stock_shard.lua`: one hot sale's stock split over several hash tags (stock shards),
//! each on its own Redis Cluster primary, so that one sale's purchases use every primary's CPU.
//!
//! A sale created with `stock_shards: N` (N > 1) has N + 1 places:
//!
//! - the **reserve**, the sale's own tag `{<sale>}`: its settings, and the stock not given to a
//!   shard yet (all of it at first; a restock adds to it);
//! - **shard k** (0 ≤ k < N), the tag `{<sale>.<k>.<j>}` ([`shard_tag`]): a copy of the
//!   settings a purchase reads, its stock, and the orders, passes and payments of the
//!   visitors routed to it. `j` is the first number that puts the tag's slot in the k-th N-th
//!   of the 16,384 slots, so with the slots spread evenly over the primaries (as
//!   `redis-cli --cluster create` spreads them) and N a multiple of their number, the shards
//!   land on different primaries.
//!
//! A visitor always buys at the same shard ([`visitor_shard`], a hash of the visitor id, never
//! the place in line): the shard's orders hash keeps "one order per visitor" and "a pass buys
//! once" as the purchase script always has, with no look at the other shards.
//!
//! **Stock moves by transfers** (`lua/stock_shard.lua`): a debit at the source, a credit at
//! the destination, a settle at the source, each atomic and idempotent, keyed by the
//! transfer's random id. The source's open record says what is left to do, so a transfer cut
//! off at any step (an origin killed, Redis unreachable) is finished by whoever finds it: the
//! next refill at that place, or the keeper ([`Store::keep_stock_shards`]) within a second.
//! Doing a step again changes nothing, so a transfer is applied exactly once.
//!
//! **A shard that runs dry** asks for stock at once ([`Store::purchase`] calls the refill):
//! from the reserve while it has any, else half of the fullest shard's. Only when no place
//! has stock left to move, and no transfer is open, is the buyer told "sold out"; while
//! stock is moving the buyer gets a retry (503 `store_unavailable`, `Retry-After`).
//!
//! **Whole-sale reads** (sold out, the public state's `sold`) look at every place with two
//! rounds of `HMGET` that must agree ([`Store::stock_counts`]): every step above changes a
//! counter that only grows (`seq`, `xfer_in`, `xfer_out`, `cancelled`), so two equal rounds are
//! a consistent view even though the places live on different primaries.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use fred::prelude::*;
use herdgate_core::wire::StockPlace;
use herdgate_core::{SaleId, VisitorId};

use super::{text, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/stock_shard.lua");

/// The set of sales with stock shards (their ids), which the keeper goes through. A key of
/// its own, outside every sale's hash tag: read and written by plain commands, never a script.
pub const SHARDED_SALES_KEY: &str = "hg:sharded_sales";

/// Where a sharded sale's stock lives: the reserve and its shards' hash tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLayout {
    sale: SaleId,
    tags: Vec<String>,
}

/// One place of a sharded sale's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The sale's own tag: settings, and stock not given to a shard yet.
    Reserve,
    /// Stock shard `k`.
    Shard(u32),
}

impl Place {
    /// How transfer records name it: `r`, or the shard's number.
    pub fn name(self) -> String {
        match self {
            Place::Reserve => "r".to_owned(),
            Place::Shard(k) => k.to_string(),
        }
    }

    /// The place a transfer record names.
    pub fn parse(s: &str) -> Option<Place> {
        match s {
            "r" => Some(Place::Reserve),
            _ => s.parse().ok().map(Place::Shard),
        }
    }
}

/// The hash tag of shard `k` of `n` of `sale`: `<sale>.<k>.<j>`, with the first `j` whose slot
/// falls in the k-th n-th of the slot space. (`.` is not in a sale id, so no sale's own tag is
/// ever a shard's.)
pub fn shard_tag(sale: &SaleId, k: u32, n: u32) -> String {
    for j in 0..65_536u32 {
        let tag = format!("{sale}.{k}.{j}");
        let slot = u32::from(fred::util::redis_keyslot(tag.as_bytes()));
        if slot * n / 16_384 == k {
            return tag;
        }
    }
    format!("{sale}.{k}.0")
}

/// The shard of `n` where `visitor` buys: FNV-1a (64 bits) of the id, modulo `n`. Every origin
/// and every version routes a visitor to the same shard.
pub fn visitor_shard(visitor: &VisitorId, n: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in visitor.as_str().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    u32::try_from(h % u64::from(n.max(1))).unwrap_or(0)
}

impl ShardLayout {
    /// The layout of `sale` with `n` shards.
    pub fn new(sale: &SaleId, n: u32) -> Self {
        ShardLayout {
            sale: sale.clone(),
            tags: (0..n).map(|k| shard_tag(sale, k, n)).collect(),
        }
    }

    /// The sale.
    pub fn sale(&self) -> &SaleId {
        &self.sale
    }

    /// How many shards.
    pub fn count(&self) -> u32 {
        u32::try_from(self.tags.len()).unwrap_or(u32::MAX)
    }

    /// The shard where `visitor` buys.
    pub fn shard_of(&self, visitor: &VisitorId) -> u32 {
        visitor_shard(visitor, self.count())
    }

    /// The reserve, then every shard.
    pub fn places(&self) -> impl Iterator<Item = Place> {
        std::iter::once(Place::Reserve).chain((0..self.count()).map(Place::Shard))
    }

    /// The keys of `place`.
    pub fn keys(&self, place: Place) -> SaleKeys {
        match place {
            Place::Reserve => SaleKeys::new(&self.sale),
            Place::Shard(k) => SaleKeys::at(&self.tags[k as usize]),
        }
    }
}

/// One place's counts, read with one `HMGET`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaceCounts {
    /// Items it may still sell (or give).
    pub remaining: u64,
    /// Items sold here.
    pub sold: u64,
    /// Captures under way here.
    pub pending: u64,
    /// Items received by transfers.
    pub xfer_in: u64,
    /// Items given by transfers.
    pub xfer_out: u64,
    /// Transfers debited here and not settled.
    pub xfer_open: u64,
    /// Orders numbered here (only grows).
    pub seq: u64,
    /// Orders the audit cancelled here (only grows).
    pub cancelled: u64,
    /// Items received from other regions (`regions.rs`; only the reserve's).
    pub xreg_in: u64,
    /// Items given to other regions.
    pub xreg_out: u64,
    /// Whether the place exists (a shard not made yet has nothing).
    pub exists: bool,
}

/// Every place's counts, and whether two rounds of reads agreed.
#[derive(Debug, Clone, Default)]
pub struct StockCounts {
    /// The reserve, then the shards, in order.
    pub places: Vec<(Place, PlaceCounts)>,
    /// Two rounds agreed: the counts are one moment's.
    pub consistent: bool,
}

impl StockCounts {
    /// Sum of `f` over every place.
    pub fn sum(&self, f: impl Fn(&PlaceCounts) -> u64) -> u64 {
        self.places.iter().map(|(_, c)| f(c)).sum()
    }

    /// The shards' view for operators.
    pub fn view(&self) -> Vec<StockPlace> {
        self.places
            .iter()
            .map(|(p, c)| StockPlace {
                place: p.name(),
                remaining: c.remaining,
                sold: c.sold,
                pending: c.pending,
                received: c.xfer_in,
                given: c.xfer_out,
                transfers_open: c.xfer_open,
            })
            .collect()
    }
}

/// What a shard that ran dry got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refill {
    /// It has enough now (moved by this call, or by another meanwhile).
    Done,
    /// No place has stock to move to it.
    Nothing,
}

impl Store {
    /// The stock shards of `sale`: `None` for a sale without them, or no such sale. The count
    /// never changes once the sale exists, so each origin reads it once per sale.
    pub async fn layout(&self, sale: &SaleId) -> Result<Option<Arc<ShardLayout>>, StoreError> {
        if let Some(known) = self
            .layouts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(sale)
        {
            return Ok(known.clone());
        }
        let k = SaleKeys::new(sale);
        let f: Vec<Option<String>> = self
            .hmget_routed(&k.sale, vec!["stock", "stock_shards"])
            .await?;
        if f.first().cloned().flatten().is_none() {
            // No such sale (yet): not remembered.
            return Ok(None);
        }
        let n = f
            .get(1)
            .cloned()
            .flatten()
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1);
        let layout = (n > 1).then(|| Arc::new(ShardLayout::new(sale, n)));
        self.layouts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sale.clone(), layout.clone());
        Ok(layout)
    }

    /// Publishes `message` on the sale events `channel` (see `soldout.rs`).
    pub async fn announce(&self, channel: &str, message: String) -> Result<(), StoreError> {
        let _: u64 = self.pool.next().publish(channel, message).await?;
        Ok(())
    }

    /// Counts a purchase of `sale` this region turned away for want of stock (its `unmet`,
    /// in the sale's hash): over several regions, demand the rebalancer must see, since a
    /// region whose buyers wait sells nothing (README, "Regions").
    pub async fn note_unmet(&self, sale: &SaleId) -> Result<(), StoreError> {
        let k = SaleKeys::new(sale);
        let _: u64 = self.pool.next().hincrby(k.sale, "unmet", 1).await?;
        Ok(())
    }

    /// The purchases of `sale` this region turned away for want of stock so far.
    pub async fn unmet(&self, sale: &SaleId) -> Result<u64, StoreError> {
        let k = SaleKeys::new(sale);
        let n: Option<u64> = self.pool.next().hget(k.sale, "unmet").await?;
        Ok(n.unwrap_or(0))
    }

    /// Whether this origin knows `sale` to have stock shards (without asking Redis).
    pub fn has_stock_shards(&self, sale: &SaleId) -> bool {
        matches!(
            self.layouts
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(sale),
            Some(Some(_))
        )
    }

    /// The keys where `visitor`'s order of `sale` is (or would be): its shard's, or the sale's.
    pub async fn visitor_keys(
        &self,
        sale: &SaleId,
        visitor: &VisitorId,
    ) -> Result<SaleKeys, StoreError> {
        Ok(match self.layout(sale).await? {
            Some(l) => l.keys(Place::Shard(l.shard_of(visitor))),
            None => SaleKeys::new(sale),
        })
    }

    /// The keys of every place that takes orders: the shards of a sharded sale, else the sale's.
    pub async fn order_places(&self, sale: &SaleId) -> Result<Vec<SaleKeys>, StoreError> {
        Ok(match self.layout(sale).await? {
            Some(l) => (0..l.count()).map(|k| l.keys(Place::Shard(k))).collect(),
            None => vec![SaleKeys::new(sale)],
        })
    }

    /// Puts the sale on the keeper's list, makes every shard that does not exist yet, and
    /// gives every shard the reserve's settings if its own are older.
    pub async fn sync_shards(&self, layout: &ShardLayout) -> Result<(), StoreError> {
        let _: u64 = self
            .pool
            .next()
            .sadd(SHARDED_SALES_KEY, layout.sale.to_string())
            .await?;
        let k = SaleKeys::new(&layout.sale);
        let f: Vec<Option<String>> = self
            .pool
            .next()
            .hmget(
                k.sale,
                vec![
                    "revision",
                    "limit",
                    "starts_at_ms",
                    "rate",
                    "price_amount",
                    "price_currency",
                ],
            )
            .await?;
        let field = |i: usize| f.get(i).cloned().flatten().unwrap_or_default();
        if field(1).is_empty() {
            return Err(StoreError::Protocol(format!(
                "sale {} has stock shards but no settings",
                layout.sale
            )));
        }
        for shard in 0..layout.count() {
            let keys = layout.keys(Place::Shard(shard));
            let args = vec![
                "sync".to_owned(),
                layout.sale.to_string(),
                shard.to_string(),
                layout.count().to_string(),
                if field(0).is_empty() {
                    "0".to_owned()
                } else {
                    field(0)
                },
                field(1),
                field(2),
                field(3),
                field(4),
                field(5),
            ];
            self.evalsha(&self.scripts.stock_shard, transfer_keys(&keys), args)
                .await?;
        }
        Ok(())
    }

    /// Makes a new sharded sale's shards and gives each an even part of the reserve (what does
    /// not divide evenly stays there).
    pub async fn spread_stock(&self, layout: &ShardLayout) -> Result<(), StoreError> {
        self.sync_shards(layout).await?;
        let counts = self.stock_counts(layout, 1).await?;
        let reserve = counts.places.first().map_or(0, |(_, c)| c.remaining);
        let part = reserve / u64::from(layout.count());
        if part == 0 {
            return Ok(());
        }
        for shard in 0..layout.count() {
            self.transfer(layout, Place::Reserve, Place::Shard(shard), part)
                .await?;
        }
        Ok(())
    }

    /// Moves up to `wanted` items from `from` to `to`: the three steps, under a fresh id.
    /// Returns how many moved (0: `from` had none).
    pub async fn transfer(
        &self,
        layout: &ShardLayout,
        from: Place,
        to: Place,
        wanted: u64,
    ) -> Result<u64, StoreError> {
        let id = transfer_id()?;
        let moved = self.transfer_debit(layout, &id, from, to, wanted).await?;
        if moved > 0 {
            self.transfer_credit(layout, &id, from, to, moved).await?;
            self.transfer_settle(layout, &id, from).await?;
        }
        Ok(moved)
    }

    /// Step 1 of transfer `id`: takes up to `wanted` items from `from`'s remaining, recorded as
    /// open. Returns how many (the same again for the same id).
    pub async fn transfer_debit(
        &self,
        layout: &ShardLayout,
        id: &str,
        from: Place,
        to: Place,
        wanted: u64,
    ) -> Result<u64, StoreError> {
        self.debit_at(&layout.keys(from), id, &to.name(), wanted, 0)
            .await
    }

    /// Step 1 of transfer `id` at the place with the keys `k`, to the place named `to` (in
    /// this Redis, or `@<region>`: see `regions.rs`): takes up to `wanted` of its remaining,
    /// leaving it at least `keep`. Returns how many (the same again for the same id; 0: it had
    /// no more than `keep`).
    pub async fn debit_at(
        &self,
        k: &SaleKeys,
        id: &str,
        to: &str,
        wanted: u64,
        keep: u64,
    ) -> Result<u64, StoreError> {
        let args = vec![
            "debit".to_owned(),
            id.to_owned(),
            to.to_owned(),
            wanted.to_string(),
            keep.to_string(),
        ];
        let reply = self
            .evalsha(&self.scripts.stock_shard, transfer_keys(k), args)
            .await?;
        match text(&reply, 0)?.as_str() {
            "debited" | "open" | "done" => super::int(&reply, 1),
            "nothing" => Ok(0),
            other => Err(StoreError::Protocol(format!("debit returned {other:?}"))),
        }
    }

    /// Step 2 of transfer `id` at the place with the keys `k`, from the place named `from`:
    /// adds its `n` items, once. `Ok(false)`: the place does not exist (nothing changed).
    pub async fn credit_at(
        &self,
        k: &SaleKeys,
        id: &str,
        from: &str,
        n: u64,
    ) -> Result<bool, StoreError> {
        let args = vec![
            "credit".to_owned(),
            id.to_owned(),
            from.to_owned(),
            n.to_string(),
        ];
        let reply = self
            .evalsha(&self.scripts.stock_shard, transfer_keys(k), args)
            .await?;
        match text(&reply, 0)?.as_str() {
            "credited" | "already" => Ok(true),
            "missing" => Ok(false),
            other => Err(StoreError::Protocol(format!("credit returned {other:?}"))),
        }
    }

    /// Step 3 of transfer `id` at the place with the keys `k` (its source): closes its record.
    pub async fn settle_at(&self, k: &SaleKeys, id: &str) -> Result<(), StoreError> {
        let args = vec!["settle".to_owned(), id.to_owned()];
        self.evalsha(&self.scripts.stock_shard, transfer_keys(k), args)
            .await?;
        Ok(())
    }

    /// The transfers the place with the keys `k` started and has not settled:
    /// `(id, to, n)`, `to` as the record names it.
    pub async fn open_transfers_at(
        &self,
        k: &SaleKeys,
    ) -> Result<Vec<(String, String, u64)>, StoreError> {
        let open: HashMap<String, String> = self.pool.next().hgetall(&k.xfer_open).await?;
        open.into_iter()
            .map(|(id, record)| {
                record
                    .rsplit_once('|')
                    .and_then(|(to, n)| Some((id.clone(), to.to_owned(), n.parse::<u64>().ok()?)))
                    .ok_or_else(|| StoreError::Protocol(format!("transfer record {record:?}")))
            })
            .collect()
    }

    /// Step 2 of transfer `id`: adds its `n` items to `to`'s remaining, once.
    pub async fn transfer_credit(
        &self,
        layout: &ShardLayout,
        id: &str,
        from: Place,
        to: Place,
        n: u64,
    ) -> Result<(), StoreError> {
        let k = layout.keys(to);
        if self.credit_at(&k, id, &from.name(), n).await? {
            return Ok(());
        }
        // A shard not made yet (its sale's creation was cut off): make it, then credit.
        self.sync_shards(layout).await?;
        if self.credit_at(&k, id, &from.name(), n).await? {
            Ok(())
        } else {
            Err(StoreError::Protocol(format!(
                "no place {} to credit",
                to.name()
            )))
        }
    }

    /// Step 3 of transfer `id`: its record at `from` is closed.
    pub async fn transfer_settle(
        &self,
        layout: &ShardLayout,
        id: &str,
        from: Place,
    ) -> Result<(), StoreError> {
        self.settle_at(&layout.keys(from), id).await
    }

    /// Finishes every transfer left open at any place of the sale (credits it, once, then
    /// settles it). Returns how many it finished; one that fails is left for the next round
    /// (and the first failure is returned if none could be finished).
    pub async fn finish_transfers(&self, layout: &ShardLayout) -> Result<u64, StoreError> {
        let mut finished = 0;
        let mut failed = None;
        for from in layout.places() {
            let open = match self.open_transfers_at(&layout.keys(from)).await {
                Ok(open) => open,
                Err(e) => {
                    failed.get_or_insert(e);
                    continue;
                }
            };
            for (id, to, n) in open {
                // To another region: the rebalancer's to finish (`regions.rs`).
                if to.starts_with('@') {
                    continue;
                }
                let Some(to) = Place::parse(&to) else {
                    failed.get_or_insert(StoreError::Protocol(format!("transfer to {to:?}")));
                    continue;
                };
                let done = async {
                    self.transfer_credit(layout, &id, from, to, n).await?;
                    self.transfer_settle(layout, &id, from).await
                };
                match done.await {
                    Ok(()) => finished += 1,
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
        }
        match failed {
            Some(e) if finished == 0 => Err(e),
            Some(e) => {
                tracing::warn!(error = %e, sale = %layout.sale, "a transfer is left for the next round");
                Ok(finished)
            }
            None => Ok(finished),
        }
    }

    /// Every place's counts: up to `rounds` pairs of reads, until two in a row agree
    /// (`consistent`); with `rounds` 1, one read (for display).
    pub async fn stock_counts(
        &self,
        layout: &ShardLayout,
        rounds: u32,
    ) -> Result<StockCounts, StoreError> {
        let mut last = self.read_places(layout).await?;
        if rounds <= 1 {
            return Ok(StockCounts {
                places: last,
                consistent: false,
            });
        }
        for _ in 0..rounds {
            let next = self.read_places(layout).await?;
            if next == last {
                return Ok(StockCounts {
                    places: next,
                    consistent: true,
                });
            }
            last = next;
        }
        Ok(StockCounts {
            places: last,
            consistent: false,
        })
    }

    async fn read_places(
        &self,
        layout: &ShardLayout,
    ) -> Result<Vec<(Place, PlaceCounts)>, StoreError> {
        let reads = layout.places().map(|place| {
            let key = layout.keys(place).sale;
            async move {
                let f: Vec<Option<u64>> = self
                    .hmget_routed(
                        &key,
                        vec![
                            "remaining",
                            "sold",
                            "pending",
                            "xfer_in",
                            "xfer_out",
                            "xfer_open",
                            "seq",
                            "cancelled",
                            "xreg_in",
                            "xreg_out",
                        ],
                    )
                    .await?;
                let n = |i: usize| f.get(i).copied().flatten().unwrap_or(0);
                Ok::<_, StoreError>((
                    place,
                    PlaceCounts {
                        remaining: n(0),
                        sold: n(1),
                        pending: n(2),
                        xfer_in: n(3),
                        xfer_out: n(4),
                        xfer_open: n(5),
                        seq: n(6),
                        cancelled: n(7),
                        xreg_in: n(8),
                        xreg_out: n(9),
                        exists: f.first().copied().flatten().is_some(),
                    },
                ))
            }
        });
        futures_util::future::try_join_all(reads).await
    }

    /// Shard `shard` has fewer than `qty` items: moves stock there, from the reserve while it
    /// has any (a share of it), else half of the fullest other shard's. One refill per shard
    /// at a time in this origin; the others wait for it and find the stock there.
    async fn refill(
        &self,
        layout: &ShardLayout,
        shard: u32,
        qty: u64,
    ) -> Result<Refill, StoreError> {
        let lock = {
            let mut locks = self.refills.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(locks.entry((layout.sale.clone(), shard)).or_default())
        };
        let _turn = lock.lock().await;
        let counts = self.stock_counts(layout, 1).await?;
        let here = Place::Shard(shard);
        let have = counts
            .places
            .iter()
            .find(|(p, _)| *p == here)
            .map_or(0, |(_, c)| c.remaining);
        if have >= qty {
            return Ok(Refill::Done);
        }
        let need = qty - have;
        let reserve = counts.places.first().map_or(0, |(_, c)| c.remaining);
        let (from, wanted) = if reserve > 0 {
            let share = reserve.div_ceil(u64::from(layout.count()));
            (Place::Reserve, share.max(need))
        } else {
            let Some((from, fullest)) = counts
                .places
                .iter()
                .filter(|(p, _)| *p != here && *p != Place::Reserve)
                .max_by_key(|(_, c)| c.remaining)
                .map(|(p, c)| (*p, c.remaining))
            else {
                return Ok(Refill::Nothing);
            };
            if fullest == 0 {
                if counts.sum(|c| c.xfer_open) == 0 {
                    return Ok(Refill::Nothing);
                }
                // Stock on its way (or left on its way by a crash): see it arrive, then look again.
                self.finish_transfers(layout).await?;
                return Ok(Refill::Done);
            }
            (from, fullest.div_ceil(2).max(need))
        };
        // Whatever moved (none, if that place's buyers took it meanwhile), the next try looks
        // again.
        self.transfer(layout, from, here, wanted).await?;
        Ok(Refill::Done)
    }

    /// Whether a sharded sale has fewer than `qty` items anywhere, with no transfer open: then
    /// a buyer wanting `qty` is told sold out. When nothing at all is left and no capture is
    /// pending, every origin is told too (`sold_out:<sale>` on `channel`).
    async fn sharded_sold_out(
        &self,
        layout: &ShardLayout,
        qty: u64,
        channel: &str,
    ) -> Result<bool, StoreError> {
        let counts = self.stock_counts(layout, 4).await?;
        if !counts.consistent || counts.sum(|c| c.xfer_open) > 0 {
            return Ok(false);
        }
        let remaining = counts.sum(|c| c.remaining);
        if remaining >= qty {
            return Ok(false);
        }
        if remaining == 0 && counts.sum(|c| c.pending) == 0 {
            let _: u64 = self
                .pool
                .next()
                .publish(channel, format!("sold_out:{}", layout.sale))
                .await?;
        }
        Ok(true)
    }

    /// Runs the purchase at the visitor's shard: refills it when it ran dry, and says
    /// [`PurchaseReply::SoldOut`](super::PurchaseReply::SoldOut) only when the whole sale is,
    /// [`PurchaseReply::StockMoving`](super::PurchaseReply::StockMoving) while stock is on its
    /// way.
    pub(super) async fn purchase_sharded(
        &self,
        layout: &ShardLayout,
        call: &super::PurchaseCall<'_>,
    ) -> Result<super::PurchaseReply, StoreError> {
        use super::PurchaseReply;
        let shard = layout.shard_of(call.visitor);
        let keys = layout.keys(Place::Shard(shard));
        for _ in 0..4 {
            match self.purchase_at(call, &keys).await? {
                // The shard was never made (its sale's creation was cut off): make it.
                PurchaseReply::UnknownSale => self.sync_shards(layout).await?,
                PurchaseReply::SoldOut => {
                    let qty = u64::from(call.quantity);
                    if self.refill(layout, shard, qty).await? == Refill::Nothing {
                        return Ok(if self.sharded_sold_out(layout, qty, call.channel).await? {
                            PurchaseReply::SoldOut
                        } else {
                            PurchaseReply::StockMoving
                        });
                    }
                }
                PurchaseReply::Created {
                    order,
                    remaining: 0,
                    payment,
                } => {
                    return Ok(PurchaseReply::Created {
                        order,
                        remaining: self.sale_remaining(layout).await?,
                        payment,
                    })
                }
                PurchaseReply::Existing {
                    order,
                    remaining: 0,
                    payment,
                } => {
                    return Ok(PurchaseReply::Existing {
                        order,
                        remaining: self.sale_remaining(layout).await?,
                        payment,
                    })
                }
                other => return Ok(other),
            }
        }
        Ok(PurchaseReply::StockMoving)
    }

    /// What a buyer whose shard just ran dry is told is left: the whole sale's, and 0 only
    /// when no place has any and none is on its way (a client, such as the edge, reads 0 as
    /// "sold out").
    async fn sale_remaining(&self, layout: &ShardLayout) -> Result<u64, StoreError> {
        let counts = self.stock_counts(layout, 4).await?;
        let left = counts.sum(|c| c.remaining);
        Ok(
            if counts.consistent && counts.sum(|c| c.xfer_open + c.pending) == 0 {
                left
            } else {
                left.max(1)
            },
        )
    }

    /// The keeper's round for every sharded sale: copies changed settings to the shards and
    /// finishes every transfer left open; a sale sold out with nothing open or pending leaves
    /// the list (a restock puts it back). One origin at a time does a sale's round (a lease of
    /// three seconds in `hg:{<sale>}:keeper`). A sale whose round fails (its primary failing
    /// over, say) is logged and left for the next round; the others go on. Returns the
    /// transfers it finished.
    pub async fn keep_stock_shards(&self, holder: &str) -> Result<u64, StoreError> {
        let sales: Vec<String> = self.pool.next().smembers(SHARDED_SALES_KEY).await?;
        let mut finished = 0;
        for sale in sales {
            let Ok(sale) = SaleId::parse(&sale) else {
                continue;
            };
            match self.keep_sale(&sale, holder).await {
                Ok(n) => finished += n,
                Err(e) => {
                    tracing::warn!(error = %e, %sale, "the stock keeper skipped a sale this round")
                }
            }
        }
        Ok(finished)
    }

    async fn keep_sale(&self, sale: &SaleId, holder: &str) -> Result<u64, StoreError> {
        let Some(layout) = self.layout(sale).await? else {
            return Ok(0);
        };
        let lease: Option<String> = self
            .pool
            .next()
            .set(
                format!("hg:{{{sale}}}:keeper"),
                holder,
                Some(Expiration::PX(3_000)),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        if lease.is_none() {
            return Ok(0);
        }
        self.sync_shards(&layout).await?;
        let finished = self.finish_transfers(&layout).await?;
        let counts = self.stock_counts(&layout, 4).await?;
        if counts.consistent && counts.sum(|c| c.remaining + c.pending + c.xfer_open) == 0 {
            let _: u64 = self
                .pool
                .next()
                .srem(SHARDED_SALES_KEY, sale.to_string())
                .await?;
            // A restock between the look and the removal would have been taken off the list
            // with it: look again, and put it back if so.
            let again = self.stock_counts(&layout, 1).await?;
            if again.sum(|c| c.remaining + c.pending + c.xfer_open) > 0 {
                let _: u64 = self
                    .pool
                    .next()
                    .sadd(SHARDED_SALES_KEY, sale.to_string())
                    .await?;
            }
        }
        Ok(finished)
    }
}

/// The keys `lua/stock_shard.lua` takes, of one place.
fn transfer_keys(k: &SaleKeys) -> Vec<String> {
    vec![
        k.sale.clone(),
        k.xfer_open.clone(),
        k.xfer_done.clone(),
        k.xfer_recv.clone(),
    ]
}

/// A fresh transfer id: 16 random bytes, hex.
fn transfer_id() -> Result<String, StoreError> {
    let mut id = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| StoreError::Protocol("no randomness for a transfer id".into()))?;
    Ok(hex::encode(id))
}

/// The keeper: every second, [`Store::keep_stock_shards`].
pub async fn keeper(store: Arc<Store>) {
    let holder = transfer_id().unwrap_or_else(|_| "keeper".to_owned());
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.keep_stock_shards(&holder).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(transfers = n, "the stock keeper finished open transfers"),
            Err(e) => tracing::warn!(error = %e, "the stock keeper's round failed; next in 1 s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_take_their_band_of_the_slots_and_visitors_spread_over_them() {
        let sale = SaleId::parse("hot").unwrap();
        for n in [2u32, 3, 6, 16] {
            for k in 0..n {
                let tag = shard_tag(&sale, k, n);
                let slot = u32::from(fred::util::redis_keyslot(tag.as_bytes()));
                assert_eq!(slot * n / 16_384, k, "{tag}");
                // The key's slot is its tag's.
                let key = SaleKeys::at(&tag).sale;
                assert_eq!(
                    u32::from(fred::util::redis_keyslot(key.as_bytes())),
                    slot,
                    "{key}"
                );
            }
        }
        let mut seen = [0u32; 3];
        for i in 0..3_000 {
            let v = VisitorId::parse(&format!("v{i}")).unwrap();
            seen[visitor_shard(&v, 3) as usize] += 1;
        }
        assert!(seen.iter().all(|&s| s > 800), "{seen:?}");
        assert_eq!(
            visitor_shard(&VisitorId::parse("v1").unwrap(), 1),
            0,
            "one shard takes everyone"
        );
    }

    #[test]
    fn places_are_named_in_records_and_read_back() {
        for p in [Place::Reserve, Place::Shard(0), Place::Shard(15)] {
            assert_eq!(Place::parse(&p.name()), Some(p));
        }
        assert_eq!(Place::parse("x"), None);
    }
}
