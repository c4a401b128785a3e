//! `lua/upsert_sale.lua`: create a sale or change its settings; and beside it the plain reads
//! of the sale hash it writes (the public state and the operator's view).

use fred::prelude::*;
use herdgate_core::draw::REVEAL_AFTER_MS;
use herdgate_core::wire::{
    AdminSaleState, Choosing, DrawState, Prequeue, Price, SaleConfig, SaleState, SaleStatus,
};
use herdgate_core::SaleId;

use super::{text, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/upsert_sale.lua");

/// The most stock a sale may hold: Lua numbers are doubles, exact up to 2^53.
pub const MAX_STOCK: u64 = 1_000_000_000_000_000;

/// One call of `lua/upsert_sale.lua`.
#[derive(Debug, Clone, Copy)]
pub struct UpsertSaleCall<'a> {
    /// The sale (its key, and `ARGV[5]`).
    pub sale: &'a SaleId,
    /// `ARGV[1..4]` and `ARGV[7..9]`: stock, limit, start, rate, price and paused (checked by
    /// the caller: stock at most [`MAX_STOCK`], limit and rate at least 1, a valid price).
    pub config: &'a SaleConfig,
    /// `ARGV[10]`: now, unix ms (the settings' revision is at least this).
    pub now_ms: u64,
    /// `ARGV[6]`: the events channel.
    pub channel: &'a str,
    /// `ARGV[13]`: a fresh secret seed for the sale's draw, kept only if it has none (and
    /// only if the config has a pre-queue). Never logged.
    pub seed: &'a [u8; herdgate_core::draw::SEED_BYTES],
}

impl UpsertSaleCall<'_> {
    /// The script's `KEYS` and `ARGV`, in its order.
    pub fn keys_and_args(&self) -> (Vec<String>, Vec<String>) {
        let k = SaleKeys::new(self.sale);
        let config = self.config;
        let args = vec![
            config.stock.to_string(),
            config.per_visitor_limit.to_string(),
            config.starts_at_ms.to_string(),
            config.admission_rate.to_string(),
            self.sale.to_string(),
            self.channel.to_owned(),
            config
                .price
                .as_ref()
                .map(|p| p.amount.to_string())
                .unwrap_or_default(),
            config
                .price
                .as_ref()
                .map(|p| p.currency.clone())
                .unwrap_or_default(),
            match config.paused {
                Some(true) => "1",
                Some(false) => "0",
                None => "",
            }
            .to_owned(),
            self.now_ms.to_string(),
            config
                .prequeue
                .map(|p| p.opens_at_ms.to_string())
                .unwrap_or_default(),
            config
                .prequeue
                .map(|p| p.draw_window_ms.to_string())
                .unwrap_or_default(),
            hex::encode(self.seed),
            herdgate_core::draw::commitment(self.seed),
            config
                .stock_shards
                .map(|n| n.to_string())
                .unwrap_or_default(),
            config.countries.join(","),
        ];
        (vec![k.sale, k.seat_tiers], args)
    }
}

/// What `lua/upsert_sale.lua` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertSaleReply {
    /// `created`: a new sale.
    Created,
    /// `updated`: an existing sale, its settings replaced.
    Updated,
    /// `stock_below_sold`: the new stock is below what was sold; nothing changed.
    StockBelowSold,
    /// `draw_fixed`: a pre-queue added to an existing sale, or removed after it opened;
    /// nothing changed.
    DrawFixed,
    /// `seated_stock`: a seated sale's stock is its seat map's; nothing changed.
    SeatedStock,
    /// `seated_price`: a seated sale given a price (its card hold per seat) below its dearest
    /// tier's; nothing changed.
    SeatedPrice,
    /// `shards_fixed`: stock shards other than the sale's own (set when it was created);
    /// nothing changed.
    ShardsFixed,
}

impl Store {
    /// Creates or updates a sale (see `lua/upsert_sale.lua`).
    pub async fn upsert_sale(
        &self,
        call: &UpsertSaleCall<'_>,
    ) -> Result<UpsertSaleReply, StoreError> {
        let (keys, args) = call.keys_and_args();
        let reply = self.evalsha(&self.scripts.upsert_sale, keys, args).await?;
        match text(&reply, 0)?.as_str() {
            "created" => Ok(UpsertSaleReply::Created),
            "updated" => Ok(UpsertSaleReply::Updated),
            "stock_below_sold" => Ok(UpsertSaleReply::StockBelowSold),
            "draw_fixed" => Ok(UpsertSaleReply::DrawFixed),
            "seated_stock" => Ok(UpsertSaleReply::SeatedStock),
            "seated_price" => Ok(UpsertSaleReply::SeatedPrice),
            "shards_fixed" => Ok(UpsertSaleReply::ShardsFixed),
            other => Err(StoreError::Protocol(format!("upsert returned {other:?}"))),
        }
    }

    /// The public state of a sale (one `HMGET`), or `None` if there is no such sale.
    pub async fn sale_state(
        &self,
        sale: &SaleId,
        now_ms: u64,
    ) -> Result<Option<(SaleState, SaleConfig)>, StoreError> {
        let k = SaleKeys::new(sale);
        let f: Vec<Option<String>> = self
            .pool
            .next()
            .hmget(
                k.sale,
                vec![
                    "stock",
                    "remaining",
                    "sold",
                    "limit",
                    "starts_at_ms",
                    "rate",
                    "price_amount",
                    "price_currency",
                    "paused",
                    "revision",
                    "cancelled",
                    "pending",
                    "pq_opens_at_ms",
                    "pq_window_ms",
                    "draw_commitment",
                    "draw_seed",
                    "seated",
                    "choosers",
                    "choose_ms",
                    "hold_ms",
                    "stock_shards",
                    "countries",
                    "xreg_open",
                    "xreg_moving",
                    "xreg_out",
                    "xreg_in",
                ],
            )
            .await?;
        let n = |i: usize| {
            f.get(i)
                .cloned()
                .flatten()
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (
            Some(stock),
            Some(mut remaining),
            Some(mut sold),
            Some(limit),
            Some(starts_at_ms),
            Some(rate),
        ) = (n(0), n(1), n(2), n(3), n(4), n(5))
        else {
            return Ok(None);
        };
        let (mut cancelled, mut pending) = (n(10).unwrap_or(0), n(11).unwrap_or(0));
        let (mut given, mut received) = (n(24).unwrap_or(0), n(25).unwrap_or(0));
        let stock_shards = n(20).and_then(|s| u32::try_from(s).ok());
        let countries: Vec<String> = f
            .get(21)
            .cloned()
            .flatten()
            .map(|c| c.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        if let Some(layout) = self.layout(sale).await? {
            // Sold and pending at the shards (the reserve sells nothing); remaining is the rest,
            // so stock on its way between shards counts as remaining.
            let counts = self.stock_counts(&layout, 1).await?;
            sold = counts.sum(|c| c.sold);
            // (Less what went to other regions, and more what came from them: `regions.rs`.)
            remaining = (stock + counts.sum(|c| c.xreg_in))
                .saturating_sub(sold + counts.sum(|c| c.xreg_out));
            cancelled = counts.sum(|c| c.cancelled);
            pending = counts.sum(|c| c.pending);
            // From the same read as remaining: a move between the two reads is in one or the
            // other, never in neither.
            given = counts.sum(|c| c.xreg_out);
            received = counts.sum(|c| c.xreg_in);
        }
        let price = match (n(6), f.get(7).cloned().flatten()) {
            (Some(amount), Some(currency)) => Some(Price { amount, currency }),
            _ => None,
        };
        let paused = n(8).unwrap_or(0) != 0;
        let per_visitor_limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let admission_rate = u32::try_from(rate).unwrap_or(u32::MAX);
        let prequeue = n(12).map(|opens_at_ms| Prequeue {
            opens_at_ms,
            draw_window_ms: n(13).unwrap_or(0),
        });
        let draw = prequeue.and_then(|p| {
            let commitment = f.get(14).cloned().flatten()?;
            let closes_at_ms = p.closes_at_ms(starts_at_ms);
            // The seed is revealed only once the draw has closed, and a little after.
            let seed = f
                .get(15)
                .cloned()
                .flatten()
                .filter(|_| now_ms >= closes_at_ms.saturating_add(REVEAL_AFTER_MS));
            Some(DrawState {
                opens_at_ms: p.opens_at_ms,
                closes_at_ms,
                commitment,
                seed,
            })
        });
        let state = SaleState {
            sale: sale.clone(),
            status: SaleStatus::settling(remaining, pending, starts_at_ms, now_ms),
            remaining,
            sold,
            starts_at_ms,
            admission_rate,
            per_visitor_limit,
            price: price.clone(),
            paused,
            revision: n(9).unwrap_or(0),
            cancelled,
            pending,
            draw,
            // A map loaded before it said how the edge admits takes the defaults.
            seated: match (n(16), n(19)) {
                (Some(1), Some(hold_ms)) => Some(Choosing {
                    choosers: n(17).map_or(herdgate_core::seats::DEFAULT_CHOOSERS, |c| {
                        u32::try_from(c).unwrap_or(u32::MAX)
                    }),
                    choose_ms: n(18).unwrap_or(herdgate_core::seats::DEFAULT_CHOOSE_SECS * 1000),
                    hold_ms,
                }),
                _ => None,
            },
            countries: countries.clone(),
            // (Of the reserve: moves between regions leave from it.) Items, or, for a move
            // debited before they were counted, at least one per open move.
            moving: n(23).unwrap_or(0).max(n(22).unwrap_or(0)),
            given,
            received,
        };
        let config = SaleConfig {
            stock,
            per_visitor_limit,
            starts_at_ms,
            admission_rate,
            price,
            paused: Some(paused),
            prequeue,
            stock_shards,
            countries,
        };
        Ok(Some((state, config)))
    }

    /// The ids of the sales this Redis holds, in order, at most `limit` of them (and whether
    /// there were more), read with `SCAN` over their settings' keys: for operators, never on a
    /// buyer's path.
    pub async fn sale_ids(&self, limit: usize) -> Result<(Vec<SaleId>, bool), StoreError> {
        self.ids_of("sale", limit).await
    }

    /// The ids of the sales with a seat map (at most `limit`, by `SCAN`: no command per sale).
    pub async fn seated_sale_ids(&self, limit: usize) -> Result<(Vec<SaleId>, bool), StoreError> {
        self.ids_of("seat_sections", limit).await
    }

    /// The sale ids of the keys `hg:{<sale>}:<suffix>`, sorted, at most `limit`; `true` when
    /// there were more.
    async fn ids_of(&self, suffix: &str, limit: usize) -> Result<(Vec<SaleId>, bool), StoreError> {
        let tail = format!("}}:{suffix}");
        // On a cluster every primary holds some sales: the scan covers them all.
        let keys = self.scan_keys(format!("hg:{{*{tail}")).await?;
        let mut ids: Vec<SaleId> = keys
            .iter()
            .filter_map(|k| k.strip_prefix("hg:{"))
            .filter_map(|r| r.strip_suffix(tail.as_str()))
            .filter_map(|s| SaleId::parse(s).ok())
            .collect();
        // SCAN may return a key twice.
        ids.sort();
        ids.dedup();
        let more = ids.len() > limit;
        ids.truncate(limit);
        Ok((ids, more))
    }

    /// Everything about a sale, for operators.
    pub async fn admin_state(
        &self,
        sale: &SaleId,
        now_ms: u64,
    ) -> Result<Option<AdminSaleState>, StoreError> {
        let Some((state, config)) = self.sale_state(sale, now_ms).await? else {
            return Ok(None);
        };
        let client = self.pool.next();
        let (mut orders, mut stream_length) = (0u64, 0u64);
        // Every place that takes orders: the sale, or each of its stock shards.
        for k in self.order_places(sale).await? {
            let o: u64 = client.hlen(k.orders).await?;
            let l: u64 = client.xlen(k.log).await?;
            orders += o;
            stream_length += l;
        }
        let stock_places = match self.layout(sale).await? {
            Some(layout) => self.stock_counts(&layout, 1).await?.view(),
            None => Vec::new(),
        };
        Ok(Some(AdminSaleState {
            config,
            state,
            orders,
            stream_length,
            stock_places,
        }))
    }
}
