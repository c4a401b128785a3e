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
//! items it sold per second since the last round (or, if more, the demand it had, losing a
//! fifth of it per second: a region that sold out sells nothing, but its buyers are still
//! there); and its need, its demand over the horizon, rounded up. A region whose remaining
//! is below its need gets stock from the region with the most to spare (remaining above its
//! own need): what it lacks, at most half the donor's spare per round, and never leaving the
//! donor below its own need. A region whose sale has not opened, is paused or is seated
//! neither gives nor takes, nor does one read for the first time.

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
    /// Per sale and region: sold, when, and the demand then (items per second).
    last: HashMap<(SaleId, String), (u64, Instant, f64)>,
}

/// What a region holds of a sale now.
struct Standing {
    region: usize,
    remaining: u64,
    need: u64,
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
            let key = (sale.clone(), region.name.clone());
            let known = self.last.get(&key).copied();
            let pace = match known {
                Some((sold, at, pace)) if now > at => {
                    let secs = (now - at).as_secs_f64();
                    let now_pace = state.sold.saturating_sub(sold) as f64 / secs;
                    now_pace.max(pace * DECAY_PER_SEC.powf(secs))
                }
                Some((_, _, pace)) => pace,
                None => 0.0,
            };
            self.last.insert(key, (state.sold, now, pace));
            if known.is_none() {
                // Its first reading: no pace yet.
                continue;
            }
            standings.push(Standing {
                region: i,
                remaining: state.remaining,
                need: (pace * self.horizon.as_secs_f64()).ceil() as u64,
            });
        }
        let Some(needy) = standings
            .iter()
            .filter(|s| s.remaining < s.need)
            .max_by_key(|s| s.need - s.remaining)
        else {
            return;
        };
        let Some(donor) = standings
            .iter()
            .filter(|s| s.region != needy.region && s.remaining > s.need)
            .max_by_key(|s| s.remaining - s.need)
        else {
            return;
        };
        // At most half of what the donor can spare in one round, and never below its own
        // need (its buyers may have bought since it was read: the debit keeps that much).
        let spare = donor.remaining - donor.need;
        let n = (needy.need - needy.remaining).min(spare.div_ceil(2));
        let (from, to, keep) = (donor.region, needy.region, donor.need);
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
