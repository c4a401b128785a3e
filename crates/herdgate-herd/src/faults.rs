//! Faults under a crowd: one piece of the local stack (Redis, the origin or the edge) fails in
//! the middle of a herd run and comes back, and afterwards the promises are checked from the
//! system's own records, not from timing:
//!
//! - **lost**: an order a client was told of (200 or 201) that Redis does not hold;
//! - **double**: a visitor with two different orders (in the order stream, or as told to
//!   clients);
//! - **oversold**: items sold beyond the stock (by the sale's counter, the orders hash or the
//!   order stream), checked with the books (`sold + remaining = stock`, one order per item
//!   sold);
//! - **locked out**: a buyer who joined, has no order and whose journey ended on anything but
//!   `sold_out` (a refusal such as a 5xx or `purchase_in_progress`, or no answer) asks again
//!   after the recovery, as a person whose page is still open would: polls with their ticket
//!   and buys with the pass they get. They must get an order, or be told `sold_out` while
//!   nothing is left. So that a sold-out edge cannot answer for them, the operator first
//!   restocks as many items as they are. Whoever still gets a refusal (or nothing) when the
//!   re-check's time is up is locked out;
//! - **orders withheld**: a buyer who holds an order in Redis that they were not told of (the
//!   fault cut the answer off) retries the purchase with their pass, as their page would: they
//!   must be given that order;
//! - **recovery**: from the restart (or SIGCONT) to the stack answering ready (origin
//!   `/readyz`, edge `/healthz`) and to the first purchase answered 200/201.
//!
//! The stack is the testkit's [`Stack`] with the origin as a process and the edge's Durable
//! Objects on disk ([`stack`]), so each piece can be killed and started again on its port.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use fred::prelude::*;
use herdgate_core::wire::{QueueStatus, SaleConfig};
use herdgate_core::TicketClaims;
use herdgate_testkit::{now_ms, AdminClient, Stack, StackBuilder};
use serde::Serialize;
use serde_json::json;

use crate::buyer::Ending;
use crate::client::{Endpoint, Reply, Shared, SimClient};
use crate::plan::HerdConfig;
use crate::report::Report;
use crate::run::{self, honest_client, Outcome};

/// One fault of the local stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// `kill -9` of redis-server, restarted on its port from its append-only file.
    RedisKill9,
    /// `kill -9` of the origin, restarted on the same port.
    OriginKill9,
    /// The origin frozen with SIGSTOP (longer than the edge's `ORIGIN_TIMEOUT_MS`), then
    /// SIGCONT.
    #[serde(rename = "origin-sigstop")]
    OriginStop,
    /// The edge (node and workerd) killed and started again on the same port with the same
    /// Durable Object directory.
    EdgeRestart,
}

impl Fault {
    /// Every fault, in the order the suite runs them.
    pub const ALL: [Fault; 4] = [
        Fault::RedisKill9,
        Fault::OriginKill9,
        Fault::OriginStop,
        Fault::EdgeRestart,
    ];

    /// The fault's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::RedisKill9 => "redis-kill9",
            Fault::OriginKill9 => "origin-kill9",
            Fault::OriginStop => "origin-sigstop",
            Fault::EdgeRestart => "edge-restart",
        }
    }

    /// What happens, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::RedisKill9 => "`kill -9` of Redis, restarted from its AOF",
            Fault::OriginKill9 => "`kill -9` of the origin, restarted on its port",
            Fault::OriginStop => "origin stopped (SIGSTOP) past the edge's timeout, then SIGCONT",
            Fault::EdgeRestart => "edge killed, restarted with its Durable Object directory",
        }
    }

    /// Parses a name of [`Self::name`].
    pub fn parse(s: &str) -> Result<Self, String> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!("unknown fault {s:?}: one of {}", names.join(", "))
            })
    }
}

/// When and how long a fault strikes, and how long buyers ask again afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct FaultPlan {
    /// The fault.
    pub fault: Fault,
    /// It strikes once the sale has sold this many items.
    pub after_sold: u64,
    /// How long the piece stays dead (or frozen) before it is restarted (or thawed).
    pub down: Duration,
    /// How long, after the crowd is done, those left without an order keep asking.
    pub recheck_for: Duration,
}

/// The stack the fault suite runs on: the origin binary at `origin_binary` as a process, the
/// edge's Durable Objects on disk, the edge giving up on an origin request after
/// `origin_timeout_ms`. The bot defences are off (no bots run: the faults are the subject), and
/// waiters poll every 0.5 to 5 s, as `herd local` has them.
pub fn stack(origin_binary: impl Into<PathBuf>, origin_timeout_ms: u64) -> StackBuilder {
    Stack::with_origin_binary(origin_binary)
        .persist_edge()
        .vars(json!({
            "POW_BITS": "8",
            "POW_ADAPTIVE": "off",
            "JOINS_PER_DEVICE": "0",
            "JOINS_PER_NETWORK": "0",
            "POLL_MIN_MS": "500",
            "POLL_MAX_MS": "5000",
            "ORIGIN_TIMEOUT_MS": origin_timeout_ms.to_string(),
        }))
}

/// What buyers left without an order got when they asked again after the recovery.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recheck {
    /// Buyers who asked again: they joined, have no order, and their journey ended on anything
    /// but `sold_out` (a refusal, or no answer).
    pub asked: usize,
    /// Items the operator added first, so that the edge could not answer `sold_out` for them.
    pub restocked: u64,
    /// Of those who asked, who bought.
    pub bought: usize,
    /// Told `sold_out` with nothing left.
    pub sold_out: usize,
    /// Still told to wait for their turn when the re-check's time was up (not admitted yet:
    /// not a lock-out).
    pub still_queued: usize,
    /// Refused, or answered with nothing, to the end: the last answer's code, by code.
    pub locked_out: BTreeMap<String, usize>,
    /// Buyers who hold an order in Redis but were last told something else (their answer was
    /// lost in the fault: a 5xx, no answer, or `sold_out`), who asked again.
    pub holders_asked: usize,
    /// Of those, who were given their order.
    pub holders_told: usize,
    /// Of those, who were still not given their order at the end: the last answer, by code.
    pub withheld: BTreeMap<String, usize>,
}

/// The outcome of one fault under a crowd.
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// The fault, when and for how long.
    pub plan: FaultPlan,
    /// Honest buyers in the crowd.
    pub buyers: usize,
    /// Items on sale at the start.
    pub items: u64,
    /// Items sold when the fault struck.
    pub sold_at_fault: u64,
    /// Seconds from the herd's start to the fault.
    pub fault_at_s: f64,
    /// Seconds from the restart (or SIGCONT) until the origin answered `/readyz` and the edge
    /// `/healthz`.
    pub ready_after_s: Option<f64>,
    /// Seconds from the restart (or SIGCONT) until the first purchase answered 200/201 (`None`:
    /// no purchase succeeded after it during the crowd).
    pub first_sale_after_s: Option<f64>,
    /// Answers to the crowd that were a 5xx or nothing at all.
    pub troubled_answers: usize,
    /// Orders clients were told of (200/201), the crowd's and the re-check's.
    pub acknowledged: usize,
    /// Acknowledged orders Redis does not hold (a few visitor ids for the record).
    pub lost: usize,
    /// Visitors with two different orders.
    pub double: usize,
    /// Items sold beyond the stock.
    pub oversold: u64,
    /// `sold + remaining = stock` and one order per item sold, after the crowd and after the
    /// re-check.
    pub books_balance: bool,
    /// Buyers left locked out (see [`Recheck::locked_out`]).
    pub locked_out: usize,
    /// Orders in Redis that no client was told of during the crowd: the fault cut off the
    /// answer (not a broken promise by itself, if the buyer is told on asking again).
    pub untold_orders: usize,
    /// Buyers who hold an order and, asking again after the recovery, are still not given it
    /// (see [`Recheck::withheld`]): a retried purchase must return the buyer's order.
    pub withheld: usize,
    /// The re-check.
    pub recheck: Recheck,
    /// The sale's records at the end: stock, sold, remaining, orders.
    pub stock: u64,
    /// Items sold.
    pub sold: u64,
    /// Items left.
    pub remaining: u64,
    /// Orders recorded.
    pub orders: u64,
    /// A few of the problems found, for people (empty when every promise held).
    pub problems: Vec<String>,
    /// The herd's own report of the crowd (honest buyers' endings, requests, latency).
    pub herd_summary: String,
    /// Seconds the whole run took, crowd and re-check.
    pub duration_s: f64,
}

impl FaultReport {
    /// Every promise held: nothing lost, doubled or oversold, the books balance, nobody left
    /// locked out, every buyer who holds an order is given it on asking again.
    pub fn kept_every_promise(&self) -> bool {
        self.lost == 0
            && self.double == 0
            && self.oversold == 0
            && self.books_balance
            && self.locked_out == 0
            && self.withheld == 0
    }

    /// A summary for people, a few lines.
    pub fn summary(&self) -> String {
        let secs = |v: Option<f64>| v.map_or("–".to_owned(), |s| format!("{s:.1} s"));
        let mut s = format!(
            "fault {} ({}), {} buyers for {} items: struck at {:.1} s with {} sold, down {:.1} s\n",
            self.plan.fault.name(),
            self.plan.fault.describe(),
            self.buyers,
            self.items,
            self.fault_at_s,
            self.sold_at_fault,
            self.plan.down.as_secs_f64(),
        );
        s.push_str(&format!(
            "  recovery: ready {} and first sale {} after the restart; {} answers to the crowd were 5xx or none\n",
            secs(self.ready_after_s),
            secs(self.first_sale_after_s),
            self.troubled_answers,
        ));
        s.push_str(&format!(
            "  acknowledged {}, lost {}, double {}, oversold {}, books balance: {}; sold {} of {} (remaining {}, orders {})\n",
            self.acknowledged,
            self.lost,
            self.double,
            self.oversold,
            self.books_balance,
            self.sold,
            self.stock,
            self.remaining,
            self.orders,
        ));
        let r = &self.recheck;
        s.push_str(&format!(
            "  asked again: {} ({} items restocked for them): {} bought, {} sold out, {} still queued, {} locked out {:?}\n",
            r.asked,
            r.restocked,
            r.bought,
            r.sold_out,
            r.still_queued,
            self.locked_out,
            r.locked_out,
        ));
        s.push_str(&format!(
            "  orders nobody was told of during the crowd: {}; their buyers asked again: {} given their order, {} not {:?}\n",
            self.untold_orders, r.holders_told, self.withheld, r.withheld,
        ));
        for p in &self.problems {
            s.push_str(&format!("  PROBLEM: {p}\n"));
        }
        for line in self.herd_summary.lines() {
            s.push_str(&format!("  | {line}\n"));
        }
        s
    }
}

/// Runs the crowd `cfg` against `stack`, strikes with `plan`'s fault once the sale has sold
/// `plan.after_sold` items, brings the piece back, and checks the promises once the crowd is
/// done. `cfg` must point at `stack`'s edge and origin; it should have no bots and no audit
/// (their cancelled orders would read as lost).
pub async fn run(stack: &mut Stack, cfg: HerdConfig, plan: &FaultPlan) -> Result<FaultReport> {
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let admin = AdminClient::new(http.clone(), &cfg.origin, &cfg.admin_token);
    let herd = tokio::spawn(run::run(cfg.clone(), false));
    let strike = strike(stack, &admin, &cfg, plan, &herd).await;
    let strike = match strike {
        Ok(s) => s,
        Err(e) => {
            herd.abort();
            return Err(e);
        }
    };
    let outcome = herd.await.context("the herd task")??;
    check(stack, &admin, &cfg, plan, &outcome, strike, started).await
}

/// When the fault struck and how the stack came back.
#[derive(Debug, Clone, Copy)]
struct Strike {
    sold: u64,
    at_unix_ms: u64,
    back_unix_ms: u64,
    ready_unix_ms: Option<u64>,
}

/// Waits until the sale has sold `plan.after_sold` items, then brings the fault and the
/// recovery about.
async fn strike(
    stack: &mut Stack,
    admin: &AdminClient,
    cfg: &HerdConfig,
    plan: &FaultPlan,
    herd: &tokio::task::JoinHandle<Result<Outcome>>,
) -> Result<Strike> {
    let deadline = Instant::now() + cfg.deadline;
    let sold = loop {
        if let Ok(s) = admin.sale(&cfg.sale).await {
            if s.state.sold >= plan.after_sold {
                break s.state.sold;
            }
        }
        if herd.is_finished() {
            bail!(
                "the crowd was done before the sale had sold {} items: make the crowd larger \
                 or strike earlier",
                plan.after_sold
            );
        }
        if Instant::now() > deadline {
            bail!("the sale did not sell {} items in time", plan.after_sold);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at_unix_ms = now_ms();
    match plan.fault {
        Fault::RedisKill9 => stack.redis.kill9(),
        Fault::OriginKill9 => origin(stack)?.kill9(),
        Fault::OriginStop => origin(stack)?.pause()?,
        Fault::EdgeRestart => stack.edge.kill9(),
    }
    tokio::time::sleep(plan.down).await;
    let back_unix_ms = now_ms();
    match plan.fault {
        Fault::RedisKill9 => stack
            .redis
            .restart()
            .await
            .context("restarting redis-server from its files")?,
        Fault::OriginKill9 => origin(stack)?
            .restart()
            .await
            .context("restarting the origin")?,
        Fault::OriginStop => origin(stack)?.resume()?,
        Fault::EdgeRestart => stack.edge.restart().await.context("restarting the edge")?,
    }
    let ready_unix_ms = ready(stack).await;
    Ok(Strike {
        sold,
        at_unix_ms,
        back_unix_ms,
        ready_unix_ms,
    })
}

fn origin(stack: &mut Stack) -> Result<&mut herdgate_testkit::OriginProcess> {
    stack
        .origin
        .process_mut()
        .context("the fault suite needs the origin as a process (faults::stack)")
}

/// When the origin answered `/readyz` and the edge `/healthz` with 200, within 60 s.
async fn ready(stack: &Stack) -> Option<u64> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()?;
    let ok = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().as_u16() == 200)
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ok(format!("{}/readyz", stack.origin.url())).await
            && ok(format!("{}/healthz", stack.edge.url())).await
        {
            return Some(now_ms());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A sale's records in Redis.
struct Books {
    stock: u64,
    sold: u64,
    remaining: u64,
    /// visitor → order id, from the orders hash.
    orders: HashMap<String, String>,
    /// visitor → the order ids the order stream holds for them.
    stream: HashMap<String, HashSet<String>>,
}

impl Books {
    async fn read(client: &Client, sale: &str) -> Result<Self> {
        let fields: Vec<Option<u64>> = client
            .hmget(
                format!("hg:{{{sale}}}:sale"),
                vec!["stock", "sold", "remaining"],
            )
            .await?;
        let field = |i: usize| fields.get(i).copied().flatten().unwrap_or(0);
        let raw: HashMap<String, String> = client.hgetall(format!("hg:{{{sale}}}:orders")).await?;
        let mut orders = HashMap::new();
        for (visitor, order) in raw {
            let order: serde_json::Value = serde_json::from_str(&order)
                .with_context(|| format!("the order of {visitor} is not JSON"))?;
            orders.insert(
                visitor,
                order["order_id"].as_str().unwrap_or_default().to_owned(),
            );
        }
        let entries: Vec<(String, HashMap<String, String>)> = client
            .xrange_values(format!("hg:{{{sale}}}:log"), "-", "+", None)
            .await?;
        let mut stream: HashMap<String, HashSet<String>> = HashMap::new();
        for (_, fields) in entries {
            if let (Some(id), Some(visitor)) = (fields.get("order_id"), fields.get("visitor")) {
                stream
                    .entry(visitor.clone())
                    .or_default()
                    .insert(id.clone());
            }
        }
        Ok(Books {
            stock: field(0),
            sold: field(1),
            remaining: field(2),
            orders,
            stream,
        })
    }

    /// Items sold beyond the stock, by whichever record says most.
    fn oversold(&self) -> u64 {
        let in_stream: usize = self.stream.values().map(HashSet::len).sum();
        let most = self
            .sold
            .max(self.orders.len() as u64)
            .max(in_stream as u64);
        most.saturating_sub(self.stock)
    }

    /// `sold + remaining = stock` and one order per item sold (each order is one item here).
    fn balance(&self) -> bool {
        self.sold + self.remaining == self.stock && self.sold == self.orders.len() as u64
    }
}

/// The checks after the crowd: reads the records, lets those left without an order ask again,
/// and reads the records once more.
async fn check(
    stack: &Stack,
    admin: &AdminClient,
    cfg: &HerdConfig,
    plan: &FaultPlan,
    outcome: &Outcome,
    strike: Strike,
    started: Instant,
) -> Result<FaultReport> {
    let redis = stack.redis.client().await?;
    let after_crowd = Books::read(&redis, &cfg.sale).await?;
    let herd_report = Report::new(outcome, format!("faults {}", plan.fault.name()));

    // Those who joined, hold no order and whose journey ended on an answer that may change
    // ask again for an item; those who hold an order they were not told of ask again for it.
    let mut candidates = Vec::new();
    let mut holders = Vec::new();
    let mut told: Vec<(String, String)> = Vec::new();
    for (i, j) in outcome.honest.iter().enumerate() {
        if let Ending::Bought { order_id, visitor } = &j.ending {
            told.push((visitor.clone(), order_id.clone()));
            continue;
        }
        let Some(ticket) = &j.ticket else {
            continue;
        };
        let visitor = herdgate_core::read_unverified::<TicketClaims>(ticket)
            .map(|c| c.visitor.as_str().to_owned())
            .context("a ticket the edge issued does not read")?;
        match after_crowd.orders.get(&visitor) {
            Some(order_id) => holders.push((i, ticket.clone(), j.pass.clone(), order_id.clone())),
            None if matches!(j.ending, Ending::Refused { .. } | Ending::Failed) => {
                candidates.push((i, ticket.clone()));
            }
            None => {}
        }
    }
    let told_during_crowd: HashSet<&str> = told.iter().map(|(v, _)| v.as_str()).collect();
    let untold_orders = after_crowd
        .orders
        .keys()
        .filter(|v| !told_during_crowd.contains(v.as_str()))
        .count();
    let mut recheck = Recheck {
        asked: candidates.len(),
        holders_asked: holders.len(),
        ..Recheck::default()
    };
    if after_crowd.remaining < candidates.len() as u64 {
        // The operator restocks, so that every one of them can buy and the edge, had it
        // learnt of a sell-out, cannot answer `sold_out` in their place.
        let more = candidates.len() as u64 - after_crowd.remaining;
        let current = admin.sale(&cfg.sale).await?.config;
        let config = SaleConfig {
            stock: current.stock + more,
            ..current
        };
        admin
            .put_sale(&cfg.sale, &config)
            .await
            .context("restocking for the re-check")?;
        recheck.restocked = more;
    }
    let asking: Vec<Asking> = candidates
        .into_iter()
        .map(|(i, ticket)| Asking {
            buyer: i,
            ticket,
            pass: None,
            holds: None,
        })
        .chain(holders.into_iter().map(|(i, ticket, pass, order)| Asking {
            buyer: i,
            ticket,
            pass,
            holds: Some(order),
        }))
        .collect();
    for (answer, holds) in ask_again(cfg, admin, outcome, asking, plan.recheck_for).await {
        match (answer, holds) {
            (Again::Bought { visitor, order_id }, None) => {
                recheck.bought += 1;
                told.push((visitor, order_id));
            }
            (Again::Bought { visitor, order_id }, Some(held)) if order_id == held => {
                recheck.holders_told += 1;
                told.push((visitor, order_id));
            }
            (Again::Bought { visitor, order_id }, Some(_)) => {
                // Told of another order than the one Redis held: the double check sees it.
                *recheck.withheld.entry("another order".into()).or_default() += 1;
                told.push((visitor, order_id));
            }
            (Again::SoldOut, None) => recheck.sold_out += 1,
            (Again::Queued, None) => recheck.still_queued += 1,
            (Again::Refused(code), None) => *recheck.locked_out.entry(code).or_default() += 1,
            (Again::SoldOut, Some(_)) => {
                *recheck.withheld.entry("sold_out".into()).or_default() += 1
            }
            (Again::Queued, Some(_)) => *recheck.withheld.entry("queued".into()).or_default() += 1,
            (Again::Refused(code), Some(_)) => *recheck.withheld.entry(code).or_default() += 1,
        }
    }

    let end = Books::read(&redis, &cfg.sale).await?;
    let mut problems = Vec::new();
    let lost: Vec<&(String, String)> = told
        .iter()
        .filter(|(visitor, order_id)| end.orders.get(visitor) != Some(order_id))
        .collect();
    if !lost.is_empty() {
        problems.push(format!(
            "{} acknowledged orders not in Redis, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(3)]
        ));
    }
    let mut ids: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (visitor, set) in &end.stream {
        ids.entry(visitor)
            .or_default()
            .extend(set.iter().map(String::as_str));
    }
    for (visitor, order_id) in &told {
        ids.entry(visitor).or_default().insert(order_id);
    }
    let double: Vec<&str> = ids
        .iter()
        .filter(|(_, set)| set.len() > 1)
        .map(|(v, _)| *v)
        .collect();
    if !double.is_empty() {
        problems.push(format!(
            "{} visitors with two orders, e.g. {:?}",
            double.len(),
            &double[..double.len().min(3)]
        ));
    }
    let oversold = after_crowd.oversold().max(end.oversold());
    let books_balance = after_crowd.balance() && end.balance();
    if oversold > 0 || !books_balance {
        problems.push(format!(
            "books after the crowd: stock {} sold {} remaining {} orders {}; at the end: stock {} sold {} remaining {} orders {}",
            after_crowd.stock, after_crowd.sold, after_crowd.remaining, after_crowd.orders.len(),
            end.stock, end.sold, end.remaining, end.orders.len()
        ));
    }
    let locked_out: usize = recheck.locked_out.values().sum();
    if locked_out > 0 {
        problems.push(format!(
            "{locked_out} buyers locked out: {:?}",
            recheck.locked_out
        ));
    }
    let withheld: usize = recheck.withheld.values().sum();
    if withheld > 0 {
        problems.push(format!(
            "{withheld} buyers who hold an order were not given it on asking again: {:?}",
            recheck.withheld
        ));
    }

    let herd_ms = |unix_ms: u64| unix_ms.saturating_sub(outcome.t0_unix_ms);
    let back = herd_ms(strike.back_unix_ms);
    let first_sale = outcome
        .events
        .iter()
        .filter(|e| e.endpoint == Endpoint::Purchase && matches!(e.status, 200 | 201))
        .map(|e| u64::from(e.at_ms) + u64::from(e.latency_us) / 1000)
        .filter(|&done| done >= back)
        .min();
    let troubled_answers = outcome
        .events
        .iter()
        .filter(|e| e.status == 0 || e.status >= 500)
        .count();
    Ok(FaultReport {
        plan: plan.clone(),
        buyers: cfg.buyers,
        items: cfg.items,
        sold_at_fault: strike.sold,
        fault_at_s: herd_ms(strike.at_unix_ms) as f64 / 1000.0,
        ready_after_s: strike
            .ready_unix_ms
            .map(|r| r.saturating_sub(strike.back_unix_ms) as f64 / 1000.0),
        first_sale_after_s: first_sale.map(|t| t.saturating_sub(back) as f64 / 1000.0),
        troubled_answers,
        acknowledged: told.len(),
        lost: lost.len(),
        double: double.len(),
        oversold,
        books_balance,
        locked_out,
        untold_orders,
        withheld,
        recheck,
        stock: end.stock,
        sold: end.sold,
        remaining: end.remaining,
        orders: end.orders.len() as u64,
        problems,
        herd_summary: herd_report.summary(),
        duration_s: started.elapsed().as_secs_f64(),
    })
}

/// What one buyer got when they asked again.
enum Again {
    Bought { visitor: String, order_id: String },
    SoldOut,
    Queued,
    Refused(String),
}

/// A buyer who asks again after the recovery.
struct Asking {
    /// Their index in the crowd (which gives their browser and network).
    buyer: usize,
    /// Their ticket.
    ticket: String,
    /// The pass they bought with, if any.
    pass: Option<String>,
    /// The order Redis holds for them, if any.
    holds: Option<String>,
}

/// Lets every buyer in `asking` ask again, for at most `limit` in all; each answer comes with
/// the order the buyer held.
async fn ask_again(
    cfg: &HerdConfig,
    admin: &AdminClient,
    crowd: &Outcome,
    asking: Vec<Asking>,
    limit: Duration,
) -> Vec<(Again, Option<String>)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let mut shared = Shared::new(cfg, http, Instant::now());
    // The crowd's devices: a person who asks again still holds the key of their place.
    shared.devices = crowd.devices.clone();
    let until = Instant::now() + limit;
    let tasks: Vec<_> = asking
        .into_iter()
        .map(|a| {
            // The same person: the same device (its key), browser and network.
            let mut client = honest_client(&shared, a.buyer);
            let (admin, sale) = (admin.clone(), cfg.sale.clone());
            tokio::spawn(async move {
                let answer = once_more(&mut client, &admin, &sale, &a, until).await;
                (answer, a.holds)
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(answer) = task.await {
            answers.push(answer);
        }
    }
    answers
}

/// One buyer asks again until they get a final answer or `until`. A buyer who holds an order
/// retries the purchase with the pass they bought with, as their page would after an answer
/// that was lost; anyone else polls with their ticket and buys with the pass it brings. No
/// answer, a 5xx, `purchase_in_progress` (a claim of the fault's time lapses), a wait in line
/// and, for a buyer without an order, a `sold_out` while items are left (the edge learns of a
/// restock within its state cache's life) are asked again after a pause; any other refusal is
/// final. A buyer who holds an order and is told `sold_out` is answered for good: the sale
/// stays sold out.
async fn once_more(
    client: &mut SimClient,
    admin: &AdminClient,
    sale: &str,
    asking: &Asking,
    until: Instant,
) -> Again {
    let holds_order = asking.holds.is_some();
    let mut last = Again::Refused("no answer".into());
    while Instant::now() < until {
        let mut pause = Duration::from_millis(500);
        if let (true, Some(pass)) = (holds_order, &asking.pass) {
            let reply = client
                .call(Endpoint::Purchase, Some(pass), Some(json!({})))
                .await;
            last = match reply.status {
                200 | 201 => return bought(&reply),
                _ if reply.code() == Some("sold_out") => return Again::SoldOut,
                _ if transient(&reply) => Again::Refused(code(&reply)),
                _ => return Again::Refused(code(&reply)),
            };
            tokio::time::sleep(pause).await;
            continue;
        }
        let reply = client
            .call(Endpoint::Status, Some(&asking.ticket), None)
            .await;
        last = match reply.status {
            200 => match serde_json::from_value::<QueueStatus>(reply.body.clone()) {
                Ok(QueueStatus::Admitted { pass, .. }) => {
                    let reply = client
                        .call(Endpoint::Purchase, Some(&pass), Some(json!({})))
                        .await;
                    match reply.status {
                        200 | 201 => return bought(&reply),
                        _ if reply.code() == Some("sold_out") => {
                            match holds_order || nothing_left(admin, sale).await {
                                true => return Again::SoldOut,
                                false => Again::Refused("sold_out".into()),
                            }
                        }
                        _ if transient(&reply) => Again::Refused(code(&reply)),
                        _ => return Again::Refused(code(&reply)),
                    }
                }
                Ok(QueueStatus::SoldOut) => match holds_order || nothing_left(admin, sale).await {
                    true => return Again::SoldOut,
                    false => Again::Refused("sold_out".into()),
                },
                Ok(
                    QueueStatus::Queued { poll_after_ms, .. }
                    | QueueStatus::Paused { poll_after_ms, .. },
                ) => {
                    pause = Duration::from_millis(poll_after_ms.min(2_000));
                    Again::Queued
                }
                _ => Again::Refused(format!("unreadable status {}", reply.body)),
            },
            _ if transient(&reply) => Again::Refused(code(&reply)),
            _ => return Again::Refused(code(&reply)),
        };
        tokio::time::sleep(pause).await;
    }
    last
}

fn bought(reply: &Reply) -> Again {
    let order = &reply.body["order"];
    Again::Bought {
        visitor: order["visitor"].as_str().unwrap_or_default().to_owned(),
        order_id: order["order_id"].as_str().unwrap_or_default().to_owned(),
    }
}

/// An answer that may be different a moment later.
fn transient(reply: &Reply) -> bool {
    reply.status == 0 || reply.status >= 500 || reply.code() == Some("purchase_in_progress")
}

/// The answer's refusal code, or its status.
fn code(reply: &Reply) -> String {
    match (reply.status, reply.code()) {
        (0, _) => "no answer".to_owned(),
        (_, Some(code)) => code.to_owned(),
        (status, None) => format!("http {status}"),
    }
}

/// Whether the sale has nothing left, by the origin's records.
async fn nothing_left(admin: &AdminClient, sale: &str) -> bool {
    admin.sale(sale).await.is_ok_and(|s| s.state.remaining == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_reads_back_by_its_name_which_reports_use() {
        for fault in Fault::ALL {
            assert_eq!(Fault::parse(fault.name()), Ok(fault));
            assert_eq!(
                serde_json::to_value(fault).unwrap(),
                serde_json::Value::String(fault.name().into())
            );
        }
        assert!(Fault::parse("redis").unwrap_err().contains("redis-kill9"));
    }

    fn books(stock: u64, sold: u64, remaining: u64, orders: &[(&str, &str)]) -> Books {
        let mut stream: HashMap<String, HashSet<String>> = HashMap::new();
        for (visitor, id) in orders {
            stream
                .entry((*visitor).into())
                .or_default()
                .insert((*id).into());
        }
        Books {
            stock,
            sold,
            remaining,
            orders: orders
                .iter()
                .map(|(v, id)| ((*v).into(), (*id).into()))
                .collect(),
            stream,
        }
    }

    #[test]
    fn oversold_counts_by_the_record_that_says_most_and_the_books_must_balance() {
        let ok = books(2, 2, 0, &[("a", "s-1"), ("b", "s-2")]);
        assert_eq!((ok.oversold(), ok.balance()), (0, true));
        // The counter says 2, but three orders were recorded.
        let over = books(2, 2, 0, &[("a", "s-1"), ("b", "s-2"), ("c", "s-3")]);
        assert_eq!((over.oversold(), over.balance()), (1, false));
        // A second order of one visitor, seen in the stream only.
        let mut twice = books(3, 2, 1, &[("a", "s-1"), ("b", "s-2")]);
        twice
            .stream
            .entry("a".into())
            .or_default()
            .insert("s-3".into());
        assert_eq!((twice.oversold(), twice.balance()), (0, true));
        let unbalanced = books(3, 1, 1, &[("a", "s-1")]);
        assert!(!unbalanced.balance());
    }
}
