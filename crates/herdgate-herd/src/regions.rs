//! `herd local --regions N`: one sale sold in N regions on this machine (README, "Regions").
//!
//! Each region is a `redis-server` and an origin (`--region <name>`) of its own, with its
//! allocation of the stock; one edge under workerd sends each visitor to their region by where
//! `request.cf` says they are (the herd's people carry a country, sent to the local workerd as
//! Miniflare's `MF-CF-Blob` header); `herdgate-rebalancer` moves unsold stock towards demand.
//! Demand is skewed (most buyers in the first region), and one region can be partitioned away
//! mid-sale (its Redis killed, then restarted).
//!
//! What is reported comes from the regions' own records, read from each Redis after the run:
//! sold and remaining per region, every transfer settled at its source received once with the
//! same count at its destination, nothing oversold, nothing stranded (sold plus remaining over
//! the regions is the stock), and how long a region that ran dry while another had stock
//! waited for the rebalancer (sampled from Redis every 200 ms during the run).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use fred::prelude::*;
use herdgate_testkit::{
    keyring_spec, EdgeWorker, OriginOptions, OriginProcess, RedisServer, TestKeys,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::plan::{HerdConfig, HerdRegion};
use crate::run::Outcome;

/// The regions a local run can have: name, and where its buyers come from (country,
/// continent).
pub const PLACES: [(&str, &str, &str); 3] =
    [("eu", "DE", "EU"), ("us", "US", "NA"), ("ap", "JP", "AS")];

/// One region on this machine.
pub struct LocalRegion {
    /// Its name.
    pub name: &'static str,
    /// Its Redis.
    pub redis: RedisServer,
    /// Its origin, `--region <name>`.
    pub origin: OriginProcess,
}

/// A child process stopped (SIGKILL, by its PID) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// N regions, the rebalancer between them and one edge in front of them; each stopped when
/// dropped (the edge first, by process group; the rebalancer and origins by PID; Redis last).
pub struct RegionalStack {
    /// The edge, with `REGIONS` naming every region's origin.
    pub edge: EdgeWorker,
    rebalancer: Option<Guard>,
    /// The regions, in `REGIONS` order.
    pub regions: Vec<LocalRegion>,
    /// The pass keyring (the edge and every origin) and the admin token.
    pub keys: TestKeys,
}

impl RegionalStack {
    /// Starts `n` regions (2 or 3: [`PLACES`]) with the origin binary `origin_bin`, the edge
    /// with `vars` over the wiring, and, once [`Self::balance`] is called, the rebalancer.
    pub async fn start(n: usize, origin_bin: &Path, vars: Value) -> Result<Self> {
        if !(2..=PLACES.len()).contains(&n) {
            bail!("--regions takes 2 or 3");
        }
        let keys = TestKeys::generate();
        let mut regions = Vec::new();
        for (name, ..) in &PLACES[..n] {
            let redis = RedisServer::start()
                .await
                .context("starting redis-server")?;
            let options = OriginOptions {
                region: Some((*name).to_owned()),
                ..OriginOptions::default()
            };
            let origin = OriginProcess::start_with(origin_bin, &redis.url(), &keys, &options)
                .await
                .with_context(|| format!("starting the origin {}", origin_bin.display()))?;
            regions.push(LocalRegion {
                name,
                redis,
                origin,
            });
        }
        let spec = regions
            .iter()
            .map(|r| format!("{}={}", r.name, r.origin.url()))
            .collect::<Vec<_>>()
            .join(",");
        let continents = PLACES[..n]
            .iter()
            .map(|(name, _, continent)| format!("{continent}={name}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut bindings = Map::new();
        for (k, v) in [
            ("REGIONS", spec),
            ("REGION_BY_CONTINENT", continents),
            ("TICKET_KEYS", keyring_spec("e1")),
            ("PASS_KEYS", keys.spec.clone()),
            ("ADMIN_TOKEN", keys.admin_token.clone()),
        ] {
            bindings.insert(k.to_owned(), Value::String(v));
        }
        if let Value::Object(vars) = vars {
            bindings.extend(vars);
        }
        let edge = EdgeWorker::start(&Value::Object(bindings))
            .await
            .context("starting the edge worker (scripts/build-worker.sh builds it)")?;
        Ok(RegionalStack {
            edge,
            rebalancer: None,
            regions,
            keys,
        })
    }

    /// Starts `herdgate-rebalancer` (the binary `bin`) for `sale` over every region: a round
    /// every `every_ms`, each region needing `horizon_secs` of stock at its pace. Its log goes
    /// to `log`.
    pub fn balance(
        &mut self,
        bin: &Path,
        sale: &str,
        every_ms: u64,
        horizon_secs: u64,
        log: &Path,
    ) -> Result<()> {
        let mut cmd = Command::new(bin);
        for r in &self.regions {
            cmd.arg(format!("--region={}={}", r.name, r.redis.url()));
        }
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.arg(format!("--sale={sale}"))
            .arg(format!("--every-ms={every_ms}"))
            .arg(format!("--horizon-secs={horizon_secs}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = cmd.spawn().with_context(|| {
            format!(
                "starting {} (cargo build --release -p herdgate-origin)",
                bin.display()
            )
        })?;
        self.rebalancer = Some(Guard(child));
        Ok(())
    }

    /// The herd's regions: each region's origin, an equal share of `items` (the first takes
    /// what does not divide), its share of the buyers (`demand`, percentages), and where its
    /// buyers come from.
    pub fn herd_regions(&self, items: u64, demand: &[u32]) -> Vec<HerdRegion> {
        let n = self.regions.len() as u64;
        let total: u32 = demand.iter().sum::<u32>().max(1);
        self.regions
            .iter()
            .enumerate()
            .map(|(i, r)| HerdRegion {
                name: r.name.to_owned(),
                origin: r.origin.url(),
                items: items / n + if i == 0 { items % n } else { 0 },
                demand: f64::from(demand.get(i).copied().unwrap_or(0)) / f64::from(total),
                country: PLACES[i].1.to_owned(),
                continent: PLACES[i].2.to_owned(),
            })
            .collect()
    }

    /// The Redis URLs, in order.
    pub fn redis_urls(&self) -> Vec<String> {
        self.regions.iter().map(|r| r.redis.url()).collect()
    }
}

/// Runs the crowd `cfg` (its `regions` from [`RegionalStack::herd_regions`]) against `stack`,
/// whose rebalancer runs ([`RegionalStack::balance`]); with `partition` (`at`, `lasting`),
/// the second region's Redis is killed `at` after the herd starts and restarted `lasting`
/// later. Once the crowd is done, `settle` is left for the rebalancer to finish what the
/// partition cut off, then the regions' books are read.
pub async fn run(
    stack: &mut RegionalStack,
    cfg: HerdConfig,
    partition: Option<(Duration, Duration)>,
    settle: Duration,
    progress: bool,
) -> Result<(Outcome, RegionsReport)> {
    let herd_regions = cfg.regions.clone();
    let sale = cfg.sale.clone();
    let t0 = Instant::now();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample(
        stack.redis_urls(),
        sale.clone(),
        t0,
        Arc::clone(&sampling),
    ));
    let cut = partition.map(|(at, lasting)| {
        let region = stack.regions.remove(1);
        tokio::spawn(self::partition(region, t0, at, lasting))
    });
    let ran = crate::run::run(cfg, progress).await;
    let partition = match cut {
        Some(task) => {
            let (region, result) = task.await.context("the partition")?;
            stack.regions.insert(1, region);
            Some(result?)
        }
        None => None,
    };
    tokio::time::sleep(settle).await;
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await.unwrap_or_default();
    let outcome = ran?;
    let books = RegionsReport::read(
        &sale,
        &herd_regions,
        &stack.redis_urls(),
        &samples,
        partition,
    )
    .await?;
    Ok((outcome, books))
}

/// A partition of one region: its Redis killed `after` the sale opens, and restarted `lasting`
/// later.
#[derive(Debug, Clone, Serialize)]
pub struct Partition {
    /// The region cut off.
    pub region: String,
    /// When, s after the herd started.
    pub at_s: f64,
    /// For how long, s.
    pub lasted_s: f64,
}

/// Cuts region `index` off: kills its Redis at `at` (measured from `t0`), restarts it
/// `lasting` later. What happened, and the region back.
pub async fn partition(
    mut region: LocalRegion,
    t0: Instant,
    at: Duration,
    lasting: Duration,
) -> (LocalRegion, Result<Partition>) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(t0 + at)).await;
    let at_s = t0.elapsed().as_secs_f64();
    region.redis.kill9();
    tokio::time::sleep(lasting).await;
    let restarted = region.redis.restart().await;
    let lasted_s = t0.elapsed().as_secs_f64() - at_s;
    let result = restarted.map(|()| Partition {
        region: region.name.to_owned(),
        at_s,
        lasted_s,
    });
    (region, result)
}

/// Each region's remaining, every 200 ms from `t0` while `on` (`None` where a region could not
/// be read): ms since `t0`, and a reading per region.
pub async fn sample(
    urls: Vec<String>,
    sale: String,
    t0: Instant,
    on: Arc<AtomicBool>,
) -> Vec<(u64, Vec<Option<u64>>)> {
    let mut clients = Vec::new();
    for url in &urls {
        // Reconnecting: the partitioned region's Redis comes back on the same port.
        let built = Config::from_url(url).and_then(|c| {
            let mut b = Builder::from_config(c);
            b.set_policy(ReconnectPolicy::new_constant(0, 100));
            b.build()
        });
        let client = match built {
            Ok(c) => c,
            Err(_) => return Vec::new(),
        };
        let _ = client.init().await;
        clients.push(client);
    }
    let key = format!("hg:{{{sale}}}:sale");
    let mut samples = Vec::new();
    while on.load(Ordering::Relaxed) {
        let mut row = Vec::new();
        for c in &clients {
            let read = tokio::time::timeout(
                Duration::from_millis(300),
                c.hget::<Option<u64>, _, _>(&key, "remaining"),
            )
            .await;
            row.push(match read {
                Ok(Ok(v)) => v,
                _ => None,
            });
        }
        samples.push((t0.elapsed().as_millis() as u64, row));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    samples
}

/// One region's books after the run.
#[derive(Debug, Clone, Serialize)]
pub struct RegionBooks {
    /// The region.
    pub region: String,
    /// Its allocation at the start.
    pub allocated: u64,
    /// Its share of the buyers.
    pub demand: f64,
    /// Items it sold.
    pub sold: u64,
    /// Items it has left.
    pub remaining: u64,
    /// Items it received from other regions.
    pub received: u64,
    /// Items it gave to other regions.
    pub given: u64,
    /// Orders recorded (one per visitor).
    pub orders: u64,
}

/// What the regions' records say after the run.
#[derive(Debug, Clone, Serialize)]
pub struct RegionsReport {
    /// Each region's books.
    pub regions: Vec<RegionBooks>,
    /// Transfers settled at their source.
    pub transfers: usize,
    /// Every transfer settled at its source was received once, with the same count, at its
    /// destination, nothing was received that no source settled, and none is open.
    pub transfers_applied_once: bool,
    /// Transfers still open (debited, not settled).
    pub transfers_open: usize,
    /// Items sold beyond the stock over every region.
    pub oversold: u64,
    /// Items neither sold nor in any region's stock: lost, or stuck in a transfer.
    pub stranded: i64,
    /// How long a region that ran dry while another region had stock waited until stock came:
    /// each such wait, s (from the samples).
    pub dry_waits_s: Vec<f64>,
    /// Dry spells that never ended while another region still had stock.
    pub dry_unfilled: usize,
    /// The partition, if there was one.
    pub partition: Option<Partition>,
}

impl RegionsReport {
    /// Reads every region's books (each with the `redis` URL) and the transfer records.
    pub async fn read(
        sale: &str,
        regions: &[HerdRegion],
        urls: &[String],
        samples: &[(u64, Vec<Option<u64>>)],
        partition: Option<Partition>,
    ) -> Result<Self> {
        let key = |suffix: &str| format!("hg:{{{sale}}}:{suffix}");
        let mut books = Vec::new();
        let mut settled: HashMap<String, (String, String, u64)> = HashMap::new();
        let mut received: HashMap<String, (String, String, u64)> = HashMap::new();
        let mut open = 0;
        for (r, url) in regions.iter().zip(urls) {
            let c = Builder::from_config(Config::from_url(url)?).build()?;
            c.init().await?;
            let f: Vec<Option<u64>> = c
                .hmget(
                    key("sale"),
                    vec!["sold", "remaining", "xreg_in", "xreg_out"],
                )
                .await?;
            let n = |i: usize| f.get(i).copied().flatten().unwrap_or(0);
            let orders: u64 = c.hlen(key("orders")).await?;
            books.push(RegionBooks {
                region: r.name.clone(),
                allocated: r.items,
                demand: r.demand,
                sold: n(0),
                remaining: n(1),
                received: n(2),
                given: n(3),
                orders,
            });
            let done: HashMap<String, String> = c.hgetall(key("xfer_done")).await?;
            for (id, rec) in done {
                if let Some((to, k)) = rec.split_once('|') {
                    let to = to.trim_start_matches('@').to_owned();
                    settled.insert(id, (r.name.clone(), to, k.parse().unwrap_or(0)));
                }
            }
            let recv: HashMap<String, String> = c.hgetall(key("xfer_recv")).await?;
            for (id, rec) in recv {
                if let Some((from, k)) = rec.split_once('|') {
                    let from = from.trim_start_matches('@').to_owned();
                    received.insert(id, (from, r.name.clone(), k.parse().unwrap_or(0)));
                }
            }
            open += c.hlen::<usize, _>(key("xfer_open")).await?;
            let _ = c.quit().await;
        }
        let stock: u64 = regions.iter().map(|r| r.items).sum();
        let sold: u64 = books.iter().map(|b| b.sold).sum();
        let remaining: u64 = books.iter().map(|b| b.remaining).sum();
        let (dry_waits_s, dry_unfilled) = dry_spells(samples);
        Ok(RegionsReport {
            regions: books,
            transfers: settled.len(),
            transfers_applied_once: settled == received && open == 0,
            transfers_open: open,
            oversold: sold.saturating_sub(stock),
            stranded: stock as i64 - (sold + remaining) as i64,
            dry_waits_s,
            dry_unfilled,
            partition,
        })
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = String::from("  regions:\n");
        for b in &self.regions {
            s.push_str(&format!(
                "    {}: {:.0} % of buyers, allocated {}, sold {}, remaining {}, received {}, gave {}\n",
                b.region,
                b.demand * 100.0,
                b.allocated,
                b.sold,
                b.remaining,
                b.received,
                b.given
            ));
        }
        s.push_str(&format!(
            "    transfers {} (applied exactly once: {}, open {}), oversold {}, stranded {}\n",
            self.transfers,
            self.transfers_applied_once,
            self.transfers_open,
            self.oversold,
            self.stranded
        ));
        let mut waits = self.dry_waits_s.clone();
        waits.sort_by(f64::total_cmp);
        if let Some(longest) = waits.last() {
            s.push_str(&format!(
                "    a region dry while another had stock waited {:.1} s at the median, {:.1} s at the longest ({} times; {} never refilled)\n",
                waits[waits.len() / 2],
                longest,
                waits.len(),
                self.dry_unfilled
            ));
        }
        if let Some(p) = &self.partition {
            s.push_str(&format!(
                "    partition: {} cut off at {:.1} s for {:.1} s (its Redis killed, then restarted)\n",
                p.region, p.at_s, p.lasted_s
            ));
        }
        s
    }

    /// The promises a multi-region run keeps, as failures (empty: all kept).
    pub fn broken(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if self.oversold > 0 {
            broken.push(format!("{} items oversold", self.oversold));
        }
        if self.stranded != 0 {
            broken.push(format!("{} items stranded", self.stranded));
        }
        if !self.transfers_applied_once {
            broken.push("a transfer was not applied exactly once".to_owned());
        }
        for b in &self.regions {
            if b.orders != b.sold {
                broken.push(format!(
                    "{}: {} orders for {} items sold",
                    b.region, b.orders, b.sold
                ));
            }
        }
        broken
    }
}

/// From the samples: how long each region that ran dry while another had stock waited until
/// it had stock again (s), and how many such spells never ended while another still had some.
fn dry_spells(samples: &[(u64, Vec<Option<u64>>)]) -> (Vec<f64>, usize) {
    let regions = samples.first().map_or(0, |(_, row)| row.len());
    let mut waits = Vec::new();
    let mut unfilled = 0;
    for i in 0..regions {
        let mut since: Option<u64> = None;
        let mut others_had = false;
        for (t, row) in samples {
            let Some(mine) = row[i] else { continue };
            let others: u64 = row
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .filter_map(|(_, v)| *v)
                .sum();
            match (since, mine) {
                (None, 0) if others > 0 => since = Some(*t),
                (Some(start), m) if m > 0 => {
                    waits.push((t - start) as f64 / 1000.0);
                    since = None;
                }
                _ => {}
            }
            others_had = others > 0;
        }
        if since.is_some() && others_had {
            unfilled += 1;
        }
    }
    (waits, unfilled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_spell_lasts_from_running_dry_while_others_have_stock_to_the_refill() {
        let s = |t: u64, row: &[Option<u64>]| (t, row.to_vec());
        let samples = vec![
            s(0, &[Some(5), Some(5)]),
            s(200, &[Some(0), Some(5)]),
            s(400, &[None, Some(5)]),
            s(1_200, &[Some(3), Some(2)]),
            s(1_400, &[Some(0), Some(0)]),
            s(1_600, &[Some(0), Some(1)]),
        ];
        let (waits, unfilled) = dry_spells(&samples);
        assert_eq!(waits, vec![1.0]);
        assert_eq!(
            unfilled, 1,
            "dry again while the other had 1 left, to the end"
        );
    }
}
