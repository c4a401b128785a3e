//! Regions: one sale sold in several regions, each with its own Redis (or Cluster) and
//! origins, each with an allocation of the stock; and the rebalancer that moves unsold stock
//! from regions with little demand to regions with much (`herdgate-rebalancer`).
//!
//! Each region sells its own allocation alone: a purchase never leaves its region, so a
//! region cut off from the others keeps selling what it holds, and nothing is oversold
//! (PACELC: during a partition, availability of each region's own stock, and no rebalancing;
//! without one, latency: no purchase waits for another region).
//!
//! The rebalancer moves stock between two regions' reserves (the sale's own hash in each
//! region's Redis) with the transfer of `lua/stock_shard.lua`: a debit at the source (its
//! record there says "to `@<region>`"), a credit at the destination (recorded there, once),
//! a settle at the source. Each step is atomic and idempotent in its own Redis, so a transfer
//! cut off anywhere (the rebalancer killed, a region unreachable) is finished exactly once by
//! the next round that reaches both regions; meanwhile its items are in neither region's
//! stock, so they are sold nowhere.
//!
//! Each round, for each sale: every reachable region's sold and remaining; its demand, the
//! items it sold and the purchases it turned away for want of stock (its origins, run with
//! `--region`, count them as `unmet`), per second since the last round (or, if more, the
//! demand it had, losing a fifth of it per second); and its need, its demand over the horizon (a fraction of an item, for a region
//! whose buyers are going). The region that lacks most gets stock from the one with the most
//! to spare, item by item while an item is more likely to sell there than where it is (the
//! destination, with the items moved so far, still lacks more than the source would with
//! one fewer): at most what it lacks, never taking the source below its own need. So stock
//! never goes back and forth between two regions, and a region whose buyers have gone gives
//! its last items to one that has buyers. A region whose sale has not opened, is paused or is
//! seated neither gives nor takes, nor does one read for the first time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herdgate_core::SaleId;

use crate::store::{SaleKeys, Store, StoreError};

/// One region: its name (`[a-z0-9-]{1,32}`) and its Redis.
pub struct Region {
    /// The region's name, as transfer records name it (`@<name>`).
    pub name: String,
    /// Its inventory store.
    pub store: Arc<Store>,
}

pub use herdgate_core::region::valid_region_name;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RoundReport {
    /// Transfers found open and finished.
    pub finished: u64,
    /// Transfers made this round: `(sale, from, to, items)`.
    pub moved: Vec<(SaleId, String, String, u64)>,
    /// Regions that could not be read or written this round.
    pub unreachable: Vec<String>,
    /// Open transfers this rebalancer cannot finish: to a region it was not given, or to one
    /// without the sale (`<region>/<id>`). Their items are in no region until one that knows
    /// both regions finishes them.
    pub stuck: Vec<String>,
}

/// The rebalancer: the regions, the sales it keeps balanced, and what it saw last round.
pub struct Rebalancer {
    regions: Vec<Region>,
    sales: Vec<SaleId>,
    horizon: Duration,
    channel: String,
    /// Per sale and region: sold and turned away, when, and the demand then (items per
    /// second).
    last: HashMap<(SaleId, String), (u64, Instant, f64)>,
}

/// What a region holds of a sale now, and what it would sell over the horizon.
#[derive(Debug, Clone, Copy)]
struct Standing {
    region: usize,
    remaining: u64,
    /// Its demand over the horizon, in items (a fraction: a region whose buyers have gone
    /// has a demand fading towards zero).
    need: f64,
}

impl Standing {
    /// What it lacks (negative: what it has to spare).
    fn short(&self) -> f64 {
        self.need - self.remaining as f64
    }
}

/// The move of one round, if any: from the region with the most to spare to the one that
/// lacks most, `(from, to, items, keep)`, where the source keeps `keep` whatever its buyers
/// took since it was read.
///
/// An item moves only where it is more likely to sell: the k-th item moved is worth moving
/// while the destination, k - 1 items later, still lacks more than the source would lack
/// with k items fewer (`to.short() - (k - 1) > from.short() + k`). So stock never goes back and
/// forth between two regions (after a move the difference is below one item in either
/// direction), a region with buyers gets the last items of one whose buyers have gone, and at
/// most what the destination lacks moves, nor more than the source has beyond its own need.
fn plan(standings: &[Standing]) -> Option<(usize, usize, u64, u64)> {
    let by_short = |a: &&Standing, b: &&Standing| a.short().total_cmp(&b.short());
    let to = standings
        .iter()
        .filter(|s| s.short() > 0.0)
        .max_by(by_short)?;
    let from = standings
        .iter()
        .filter(|s| s.region != to.region)
        .min_by(by_short)?;
    let gap = to.short() - from.short();
    // The number of k >= 1 with k < (gap + 1) / 2.
    let worth = (((gap + 1.0) / 2.0).ceil() - 1.0).max(0.0) as u64;
    let keep = from.need.floor().max(0.0) as u64;
    let n = worth
        .min(to.short().ceil() as u64)
        .min(from.remaining.saturating_sub(keep));
    (n > 0).then_some((from.region, to.region, n, keep))
}

impl Rebalancer {
    /// A rebalancer of `sales` over `regions`; a region needs the stock it would sell in
    /// `horizon` at its current pace. A region that receives stock is told on its origins'
    /// events `channel` (`open:<sale>`), so an origin that remembered the sale as sold out
    /// asks Redis again.
    pub fn new(
        regions: Vec<Region>,
        sales: Vec<SaleId>,
        horizon: Duration,
        channel: String,
    ) -> Self {
        let mut sales = sales;
        sales.sort();
        sales.dedup();
        Rebalancer {
            regions,
            sales,
            horizon,
            channel,
            last: HashMap::new(),
        }
    }

    /// One round: finishes every transfer between regions left open, then moves stock to the
    /// regions that need it.
    pub async fn round(&mut self, now_ms: u64) -> RoundReport {
        let mut report = RoundReport::default();
        for sale in self.sales.clone() {
            self.finish(&sale, &mut report).await;
            self.balance(&sale, now_ms, &mut report).await;
        }
        report.unreachable.sort();
        report.unreachable.dedup();
        report
    }

    fn region(&self, name: &str) -> Option<usize> {
        self.regions.iter().position(|r| r.name == name)
    }

    /// Finishes the open transfers of `sale` that start in any reachable region and end in a
    /// reachable one.
    async fn finish(&self, sale: &SaleId, report: &mut RoundReport) {
        let k = SaleKeys::new(sale);
        for (i, from) in self.regions.iter().enumerate() {
            // Once unreachable, a region is left alone for the rest of the round.
            if report.unreachable.contains(&from.name) {
                continue;
            }
            let open = match from.store.open_transfers_at(&k).await {
                Ok(open) => open,
                Err(e) => {
                    tracing::warn!(region = %from.name, error = %e, "region unreachable");
                    report.unreachable.push(from.name.clone());
                    continue;
                }
            };
            for (id, to, n) in open {
                let Some(name) = to.strip_prefix('@') else {
                    // A stock shard's (the keeper finishes those).
                    continue;
                };
                let Some(to) = self.region(name) else {
                    tracing::warn!(%sale, %id, region = %name, "an open transfer to a region this rebalancer was not given");
                    report.stuck.push(format!("{}/{id}", from.name));
                    continue;
                };
                if report.unreachable.contains(&self.regions[to].name) {
                    continue;
                }
                match self.complete(i, to, sale, &id, n).await {
                    Ok(()) => report.finished += 1,
                    Err(StoreError::Protocol(detail)) => {
                        tracing::warn!(%sale, %id, %detail, "an open transfer cannot be finished");
                        report.stuck.push(format!("{}/{id}", from.name));
                    }
                    Err(e) => {
                        tracing::warn!(%sale, %id, error = %e, "a transfer waits for its regions");
                        report.unreachable.push(self.regions[to].name.clone());
                    }
                }
            }
        }
    }

    /// Steps 2 and 3 of transfer `id` of `n` items from region `from` to region `to`.
    async fn complete(
        &self,
        from: usize,
        to: usize,
        sale: &SaleId,
        id: &str,
        n: u64,
    ) -> Result<(), StoreError> {
        let k = SaleKeys::new(sale);
        let (source, dest) = (&self.regions[from], &self.regions[to]);
        if !dest
            .store
            .credit_at(&k, id, &format!("@{}", source.name), n)
            .await?
        {
            return Err(StoreError::Protocol(format!(
                "sale {sale} does not exist in region {}",
                dest.name
            )));
        }
        dest.store
            .announce(&self.channel, format!("open:{sale}"))
            .await?;
        source.store.settle_at(&k, id).await
    }

    /// Moves `n` items of `sale` from region `from` to region `to`, leaving `from` at least
    /// `keep`: the three steps under a fresh id. Returns how many moved (fewer if the source
    /// had fewer).
    pub async fn transfer(
        &self,
        sale: &SaleId,
        from: usize,
        to: usize,
        n: u64,
        keep: u64,
    ) -> Result<u64, StoreError> {
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| StoreError::Protocol("no randomness for a transfer id".into()))?;
        let id = hex::encode(id);
        let k = SaleKeys::new(sale);
        let moved = self.regions[from]
            .store
            .debit_at(&k, &id, &format!("@{}", self.regions[to].name), n, keep)
            .await?;
        if moved > 0 {
            self.complete(from, to, sale, &id, moved).await?;
        }
        Ok(moved)
    }

    /// Reads every region's standing in `sale` and moves stock to the one that needs it most.
    async fn balance(&mut self, sale: &SaleId, now_ms: u64, report: &mut RoundReport) {
        let now = Instant::now();
        let mut standings = Vec::new();
        for (i, region) in self.regions.iter().enumerate() {
            if report.unreachable.contains(&region.name) {
                continue;
            }
            let state = match region.store.sale_state(sale, now_ms).await {
                Ok(Some((state, _))) => state,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(region = %region.name, error = %e, "region unreachable");
                    report.unreachable.push(region.name.clone());
                    continue;
                }
            };
            // A seated sale's stock is its seat map: no stock moves. A region whose sale has
            // not opened, or is paused, neither gives nor takes: its demand is not known yet.
            if state.seated.is_some() || state.paused || state.starts_at_ms > now_ms {
                continue;
            }
            // Demand: what it sold, and the purchases it turned away for want of stock (a
            // region whose buyers wait sells nothing, but they are there).
            let unmet = match region.store.unmet(sale).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(region = %region.name, error = %e, "region unreachable");
                    report.unreachable.push(region.name.clone());
                    continue;
                }
            };
            let asked = state.sold + unmet;
            let key = (sale.clone(), region.name.clone());
            let known = self.last.get(&key).copied();
            let pace = match known {
                Some((before, at, pace)) if now > at => {
                    let secs = (now - at).as_secs_f64();
                    let now_pace = asked.saturating_sub(before) as f64 / secs;
                    now_pace.max(pace * DECAY_PER_SEC.powf(secs))
                }
                Some((_, _, pace)) => pace,
                None => 0.0,
            };
            self.last.insert(key, (asked, now, pace));
            if known.is_none() {
                // Its first reading: no pace yet.
                continue;
            }
            standings.push(Standing {
                region: i,
                remaining: state.remaining,
                need: pace * self.horizon.as_secs_f64(),
            });
        }
        let Some((from, to, n, keep)) = plan(&standings) else {
            return;
        };
        match self.transfer(sale, from, to, n, keep).await {
            Ok(0) => {}
            Ok(moved) => report.moved.push((
                sale.clone(),
                self.regions[from].name.clone(),
                self.regions[to].name.clone(),
                moved,
            )),
            Err(e) => {
                tracing::warn!(%sale, error = %e, "a transfer waits for its regions");
                report.unreachable.push(self.regions[to].name.clone());
            }
        }
    }
}

/// How much of a region's demand it keeps after a second without a sale (see [`Rebalancer`]).
const DECAY_PER_SEC: f64 = 0.8;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(region: usize, remaining: u64, need: f64) -> Standing {
        Standing {
            region,
            remaining,
            need,
        }
    }

    #[test]
    fn stock_goes_where_it_is_more_likely_to_sell_and_never_back() {
        // Demand in region 1, stock in region 0: what region 1 lacks moves (at most what
        // region 0 has beyond its own need).
        assert_eq!(plan(&[at(0, 60, 2.0), at(1, 0, 30.0)]), Some((0, 1, 30, 2)));
        assert_eq!(plan(&[at(0, 10, 2.0), at(1, 0, 30.0)]), Some((0, 1, 8, 2)));
        // Two regions whose buyers are going, one item: it goes to the likelier one, once,
        // and stays there (not back and forth, the same item again and again).
        assert_eq!(plan(&[at(0, 1, 0.3), at(1, 0, 0.2)]), None);
        assert_eq!(plan(&[at(0, 0, 0.3), at(1, 1, 0.2)]), Some((1, 0, 1, 0)));
        // A region whose buyers have gone gives its last item to one with buyers.
        assert_eq!(plan(&[at(0, 1, 0.01), at(1, 0, 4.0)]), Some((0, 1, 1, 0)));
        // Nobody lacks anything: nothing moves.
        assert_eq!(plan(&[at(0, 5, 1.0), at(1, 5, 4.0)]), None);
        // After any move, the reverse move is not worth it.
        for (a, b, na, nb) in [(7, 0, 1.0, 6.0), (3, 1, 0.5, 9.5), (2, 0, 0.0, 1.5)] {
            let s = [at(0, a, na), at(1, b, nb)];
            if let Some((_, _, n, _)) = plan(&s) {
                let after = [at(0, a - n, na), at(1, b + n, nb)];
                assert_eq!(plan(&after), None, "{a} {b} {na} {nb}: moved {n}");
            }
        }
    }

    #[test]
    fn region_names_are_short_and_plain() {
        assert!(valid_region_name("eu-west"));
        assert!(valid_region_name("us1"));
        assert!(!valid_region_name(""));
        assert!(!valid_region_name("EU"));
        assert!(!valid_region_name("eu|west"));
        assert!(!valid_region_name(&"a".repeat(33)));
    }
}
