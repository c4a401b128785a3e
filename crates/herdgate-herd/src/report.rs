//! The report of a herd run: the figures people ask after a launch.

use std::collections::{BTreeMap, HashMap, HashSet};

use hdrhistogram::Histogram;
use herdgate_core::Schedule;
use serde::{Deserialize, Serialize};

use crate::bots::Strategy;
use crate::buyer::Ending;
use crate::client::{Admitted, Endpoint};
use crate::plan::HerdConfig;
use crate::run::{OriginCounts, Outcome};

/// The status answers that still said "queued" after the last item sold (the origin's stock,
/// sampled every 200 ms, reached 0). A waiter learns of the sell-out at its next poll, which may
/// be up to `POLL_MAX_MS` later ([`Report::sold_out_notice_s`]); this is how soon the edge
/// says it to whoever asks.
#[derive(Debug, Clone, Serialize)]
pub struct SoldOutAnswers {
    /// "Queued" answers to requests sent after the last item sold.
    pub queued_after: usize,
    /// Of those, the ones sent more than [`SOLD_OUT_SAID_WITHIN_S`] after it.
    pub queued_after_bound: usize,
    /// How long after the last item the last request answered "queued" was sent, seconds
    /// (0 when none was).
    pub last_queued_s: f64,
}

/// Within how many seconds of the last item every status answer should say sold out (issue
/// #15: the edge's copy of the sale's state is at most `STATE_CACHE_MS` old).
pub const SOLD_OUT_SAID_WITHIN_S: f64 = 2.0;

/// Latency percentiles of one endpoint, ms.
#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    /// Requests.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// How the honest buyers fared.
#[derive(Debug, Clone, Serialize)]
pub struct Honest {
    /// Honest buyers.
    pub buyers: usize,
    /// Who bought and kept the order.
    pub bought: usize,
    /// Who bought but had the order cancelled by the audit (false positives).
    pub cancelled: usize,
    /// Who were told it sold out.
    pub sold_out: usize,
    /// Refusals by code.
    pub refused: BTreeMap<String, usize>,
    /// Who got no usable answer.
    pub failed: usize,
    /// Who joined the queue.
    pub joined: usize,
}

/// What a bot strategy achieved.
#[derive(Debug, Clone, Serialize)]
pub struct Bots {
    /// Bot clients of this strategy.
    pub clients: usize,
    /// Items they got and kept.
    pub items: usize,
    /// Orders they got that the audit cancelled.
    pub cancelled: usize,
    /// Refusals by code.
    pub refusals: BTreeMap<String, u64>,
}

/// Requests at the edge and at the origin.
#[derive(Debug, Clone, Serialize)]
pub struct Requests {
    /// Requests the crowd sent to the edge.
    pub edge: usize,
    /// By endpoint.
    pub edge_by_endpoint: BTreeMap<Endpoint, usize>,
    /// Requests that got no answer.
    pub edge_unanswered: usize,
    /// What reached the origin.
    pub origin: OriginCounts,
    /// Edge requests per origin purchase request.
    pub edge_per_origin_purchase: f64,
}

/// Admission: what was configured against what the edge did, read from the moments it
/// stamped on the passes it issued (not from the crowd's clock, which also measures how long
/// its requests queued).
#[derive(Debug, Clone, Serialize)]
pub struct Admission {
    /// Admissions per second configured.
    pub configured_per_s: u32,
    /// Admissions per second observed (see [`observed_rate`]) over the buyers who waited in
    /// line for their turn, by the edge's stamps.
    pub observed_per_s: Option<f64>,
    /// Clients that saw "admitted".
    pub admitted: usize,
    /// Of those, admitted by the answer to their join: their position had passed the
    /// frontier before they joined, so their moment measures the join rate, not admission.
    pub admitted_on_join: usize,
    /// Passes the edge issued before the frontier reached their position (must be 0).
    pub admitted_early: usize,
    /// "Queued" answers to requests sent more than [`STAMP_SLACK_MS`] after the frontier had
    /// reached the position (must be 0): the edge kept someone waiting past their turn.
    pub kept_waiting_late: usize,
    /// "Queued" answers the crowd got, in all.
    pub queued_answers: usize,
    /// Passes without the edge's `adm` stamp (must be 0: the checks above rely on it).
    pub unstamped: usize,
    /// The edge's own admission rate while the frontier moved freely (below the stock, before
    /// any wait for passes out to convert): the slope of its frontier, sampled every 200 ms.
    pub frontier_per_s: Option<f64>,
    /// When the frontier reached the stock, s since the herd started.
    pub frontier_reached_stock_s: Option<f64>,
}

/// The edge answers a request after it was sent, on the same clock; this much is left for
/// reading the two clocks at millisecond grain.
pub const STAMP_SLACK_MS: u64 = 20;

/// Plotted series.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// Admissions first seen in each second since the start.
    pub admissions_per_s: Vec<u64>,
    /// (s since start, remaining, sold).
    pub stock: Vec<(f64, u64, u64)>,
    /// People in line (honest buyers who had joined) at the end of each second since the
    /// start: the line forming.
    #[serde(default)]
    pub in_line: Vec<u64>,
    /// Per second: (s, status p50 ms, status p99 ms, purchase p50 ms, purchase p99 ms).
    pub latency: Vec<(f64, f64, f64, f64, f64)>,
}

/// A sale's pre-queue, as the crowd saw it.
#[derive(Debug, Clone, Serialize)]
pub struct DrawReport {
    /// The published draw, read back from the edge and verified.
    pub check: Option<crate::run::DrawCheck>,
    /// When the draw closed, s since the herd started.
    pub closed_at_s: f64,
    /// Honest buyers who joined before it (everyone in the draw).
    pub honest_entries: usize,
    /// Honest buyers who joined after it.
    pub honest_late: usize,
}

/// When each phase of a run ended, seconds from the herd's start (by the crowd's clock).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phases {
    /// The last honest buyer's join was answered: the line had formed.
    pub last_join_s: Option<f64>,
    /// Admission began: the sale's start, or the draw's close for a sale with a pre-queue.
    pub admission_from_s: f64,
    /// The last item sold.
    pub sold_out_s: Option<f64>,
    /// The last honest buyer's journey ended (bought, told sold out, or refused).
    pub last_answer_s: Option<f64>,
}

/// The key of the edge's CPU in [`Report::cpu_seconds`]: workerd and its node parent, the
/// whole process group.
pub const EDGE_CPU: &str = "edge (workerd + node)";

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command that produced it.
    pub command: String,
    /// What was simulated.
    pub config: HerdConfig,
    /// The pre-queue's draw, for a sale with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw: Option<DrawReport>,
    /// How long after the last item sold each honest waiter who was told "sold out" learnt
    /// it, seconds (by the crowd's clock).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sold_out_notice_s: Option<Percentiles>,
    /// What the edge's status answered after the last item sold: how soon it said sold out to
    /// anyone who asked, whenever they asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sold_out_answers: Option<SoldOutAnswers>,
    /// Seconds the run took.
    pub duration_s: f64,
    /// When each phase ended.
    #[serde(default)]
    pub phases: Phases,
    /// Seconds from the sale's opening to its last item, if it sold out.
    pub time_to_sell_out_s: Option<f64>,
    /// Items sold (origin).
    pub sold: u64,
    /// Items left (origin).
    pub remaining: u64,
    /// Items sold beyond the stock: must be 0.
    pub oversold: u64,
    /// Visitors holding two different orders: must be 0.
    pub double_orders: u64,
    /// Orders the origin recorded.
    pub orders: u64,
    /// Honest buyers.
    pub honest: Honest,
    /// Bots, by strategy.
    pub bots: BTreeMap<Strategy, Bots>,
    /// Items bots got, all strategies.
    pub bot_items: usize,
    /// Share of the sold items honest buyers got.
    pub honest_share: f64,
    /// Requests at the edge and at the origin.
    pub requests: Requests,
    /// Admission rate, configured and observed.
    pub admission: Admission,
    /// Latency per endpoint, ms.
    pub latency_ms: BTreeMap<Endpoint, Percentiles>,
    /// Latency of the purchases that bought (201), ms: the checkout a winner waits for.
    pub bought_latency_ms: Percentiles,
    /// Series for the plots.
    pub timeline: Timeline,
    /// Where the time went: CPU seconds used during the run by each local process (only for
    /// `herd local`, which started them); the edge's under [`EDGE_CPU`].
    pub cpu_seconds: BTreeMap<String, f64>,
    /// Card holds at the payments API after the run (`herd local --preauth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<Holds>,
    /// What the sale's Durable Objects store right after the run, before their clean-up
    /// (the edge's `GET /admin/v1/sales/{sale}/storage`, when the admin token opens it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_storage: Option<EdgeStorage>,
    /// A sale sold in several regions (`herd local --regions`): the regions' books.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regions: Option<crate::regions::RegionsReport>,
}

/// What a sale's queue shards and join limiters store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeStorage {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        p50: ms(0.50),
        p90: ms(0.90),
        p99: ms(0.99),
        max: h.max() as f64 / 1000.0,
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3)
        .expect("1 µs to 120 s at 3 digits is a valid histogram")
}

/// Observed admissions per second: the least-squares slope of "admissions so far" against
/// time (ms), over the middle 80 % of admissions (the first and last tenth are where polling
/// lag and the sell-out cut the line).
pub fn observed_rate(admissions: &[u64]) -> Option<f64> {
    let mut t: Vec<f64> = admissions.iter().map(|&ms| ms as f64).collect();
    t.sort_by(f64::total_cmp);
    if t.len() < 10 {
        return None;
    }
    let middle: Vec<(f64, f64)> = t
        .iter()
        .enumerate()
        .skip(t.len() / 10)
        .take(t.len() * 8 / 10)
        .map(|(i, &ms)| (ms, i as f64))
        .collect();
    let n = middle.len() as f64;
    let (mx, my) = middle
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (cov, var) = middle.iter().fold((0.0, 0.0), |(c, v), (x, y)| {
        (c + (x - mx) * (y - my), v + (x - mx) * (x - mx))
    });
    (var > 0.0).then(|| cov / var * 1000.0)
}

/// The slope of the edge's frontier samples `(ms, places)` while it moved below `items`, per
/// second: a least-squares fit over the samples strictly inside the climb (at least two), else
/// from the last sample at 0 to the first at or past `items` (which errs by up to a sampling
/// interval at each end).
pub fn frontier_rate(samples: &[(u32, u64)], items: u64) -> Option<f64> {
    let inside: Vec<(f64, f64)> = samples
        .iter()
        .filter(|(_, f)| *f > 0 && *f < items)
        .map(|(t, f)| (f64::from(*t), *f as f64))
        .collect();
    if inside.len() >= 2 {
        let n = inside.len() as f64;
        let (mx, my) = inside
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
        let (cov, var) = inside.iter().fold((0.0, 0.0), |(c, v), (x, y)| {
            (c + (x - mx) * (y - my), v + (x - mx) * (x - mx))
        });
        if var > 0.0 {
            return Some(cov / var * 1000.0);
        }
    }
    let start = samples.iter().rposition(|(_, f)| *f == 0)?;
    let end = samples
        .iter()
        .position(|(_, f)| *f >= items)
        .unwrap_or(samples.len().checked_sub(1)?);
    let ((t0, f0), (t1, f1)) = (samples.get(start)?, samples.get(end)?);
    (end > start && t1 > t0).then(|| (f1 - f0) as f64 * 1000.0 / f64::from(t1 - t0))
}

impl Report {
    /// Builds the report of `outcome`, produced by `command`.
    pub fn new(outcome: &Outcome, command: String) -> Self {
        let cfg = &outcome.config;
        let state = &outcome.final_state;

        // Orders the crowd was given, by visitor: two different ids for one visitor would be
        // a double order.
        let mut orders_by_visitor: HashMap<&str, HashSet<&str>> = HashMap::new();
        let cancelled: HashSet<&str> = outcome.cancelled.iter().map(String::as_str).collect();
        let mut honest = Honest {
            buyers: outcome.honest.len(),
            bought: 0,
            cancelled: 0,
            sold_out: 0,
            refused: BTreeMap::new(),
            failed: 0,
            joined: 0,
        };
        for j in &outcome.honest {
            if j.joined_at_ms.is_some() {
                honest.joined += 1;
            }
            match &j.ending {
                Ending::Bought { order_id, .. } if cancelled.contains(order_id.as_str()) => {
                    honest.cancelled += 1;
                }
                Ending::Bought { order_id, visitor } => {
                    honest.bought += 1;
                    orders_by_visitor
                        .entry(visitor)
                        .or_default()
                        .insert(order_id);
                }
                Ending::SoldOut => honest.sold_out += 1,
                Ending::Refused { code } => *honest.refused.entry(code.clone()).or_default() += 1,
                Ending::Failed => honest.failed += 1,
            }
        }
        let double_orders = orders_by_visitor
            .values()
            .filter(|ids| ids.len() > 1)
            .count() as u64;

        let mut bots: BTreeMap<Strategy, Bots> = BTreeMap::new();
        for (strategy, out) in &outcome.bots {
            let b = bots.entry(*strategy).or_insert(Bots {
                clients: 0,
                items: 0,
                cancelled: 0,
                refusals: BTreeMap::new(),
            });
            b.clients += 1;
            for order in &out.bought {
                if cancelled.contains(order.as_str()) {
                    b.cancelled += 1;
                } else {
                    b.items += 1;
                }
            }
            for (code, n) in &out.refusals {
                *b.refusals.entry(code.clone()).or_default() += n;
            }
        }
        let bot_items: usize = bots.values().map(|b| b.items).sum();
        let honest_share = if state.state.sold > 0 {
            honest.bought as f64 / state.state.sold as f64
        } else {
            0.0
        };

        let mut by_endpoint: BTreeMap<Endpoint, Histogram<u64>> = BTreeMap::new();
        let mut bought = histogram();
        let mut counts: BTreeMap<Endpoint, usize> = BTreeMap::new();
        let mut unanswered = 0;
        let secs = (outcome.duration.as_secs() + 1) as usize;
        let mut per_second: Vec<[Histogram<u64>; 2]> =
            (0..secs).map(|_| [histogram(), histogram()]).collect();
        for e in &outcome.events {
            *counts.entry(e.endpoint).or_default() += 1;
            if e.status == 0 {
                unanswered += 1;
                continue;
            }
            let v = u64::from(e.latency_us.max(1));
            if e.endpoint == Endpoint::Purchase && e.status == 201 {
                let _ = bought.record(v);
            }
            let _ = by_endpoint
                .entry(e.endpoint)
                .or_insert_with(histogram)
                .record(v);
            let slot = match e.endpoint {
                Endpoint::Status => Some(0),
                Endpoint::Purchase => Some(1),
                _ => None,
            };
            if let (Some(k), Some(sec)) = (slot, per_second.get_mut(e.at_ms as usize / 1000)) {
                let _ = sec[k].record(v);
            }
        }
        let edge: usize = counts.values().sum();

        let opened = outcome.sale_opened_at_ms;
        // The edge's moment of each admission on the herd's time line (the crowd's own when a
        // pass carried no stamp).
        let since_start = |a: &Admitted| {
            if a.edge_ms == 0 {
                u64::from(a.seen_ms)
            } else {
                a.edge_ms.saturating_sub(outcome.t0_unix_ms)
            }
        };
        let mut admissions_per_s = vec![0u64; secs];
        for a in &outcome.admissions {
            if let Some(slot) = admissions_per_s.get_mut(since_start(a) as usize / 1000) {
                *slot += 1;
            }
        }
        let waited: Vec<u64> = outcome
            .admissions
            .iter()
            .filter(|a| !a.on_join && a.edge_ms > 0)
            .map(|a| a.edge_ms)
            .collect();
        // Admission begins at the start, or at the draw's close for a sale with a pre-queue.
        let admits_from = cfg.arrival.admission_opens_after().as_millis() as u64;
        let schedule = Schedule::starting(outcome.t0_unix_ms + admits_from, cfg.rate);
        let admitted_early = outcome
            .admissions
            .iter()
            .filter(|a| {
                a.edge_ms > 0
                    && schedule
                        .admitted_at_ms(a.position)
                        .is_none_or(|at| a.edge_ms < at)
            })
            .count();
        let kept_waiting_late = outcome
            .waits
            .iter()
            .filter(|w| {
                let sent = outcome.t0_unix_ms + u64::from(w.sent_ms);
                // Past the stock the frontier may rightly wait (the passes out cover it).
                w.position < cfg.items
                    && schedule
                        .admitted_at_ms(w.position)
                        .is_some_and(|at| sent > at + STAMP_SLACK_MS)
            })
            .count();
        let sold_out_at = outcome
            .stock
            .iter()
            .find(|(_, remaining, _)| *remaining == 0)
            .map(|(t, _, _)| *t);
        let time_to_sell_out_s = sold_out_at.map(|t| f64::from(t.saturating_sub(opened)) / 1000.0);
        let sold_out_notice_s = sold_out_at.and_then(|at| {
            let mut h = histogram();
            for j in &outcome.honest {
                if let (Ending::SoldOut, Some(end)) = (&j.ending, j.ended_at_ms) {
                    // In ms, recorded as µs so the percentiles read in ms / 1000 = s.
                    let _ = h.record(u64::from(end.saturating_sub(at)) * 1000);
                }
            }
            let p = percentiles(&h);
            (p.count > 0).then(|| Percentiles {
                count: p.count,
                p50: p.p50 / 1000.0,
                p90: p.p90 / 1000.0,
                p99: p.p99 / 1000.0,
                max: p.max / 1000.0,
            })
        });
        let sold_out_answers = sold_out_at.map(|at| {
            let late: Vec<u32> = outcome
                .waits
                .iter()
                .filter(|w| w.sent_ms > at)
                .map(|w| w.sent_ms - at)
                .collect();
            let bound = (SOLD_OUT_SAID_WITHIN_S * 1000.0) as u32;
            SoldOutAnswers {
                queued_after: late.len(),
                queued_after_bound: late.iter().filter(|&&ms| ms > bound).count(),
                last_queued_s: late.iter().max().map_or(0.0, |&ms| f64::from(ms) / 1000.0),
            }
        });
        let in_s = |ms: u32| f64::from(ms) / 1000.0;
        let phases = Phases {
            last_join_s: outcome
                .honest
                .iter()
                .filter_map(|j| j.joined_at_ms)
                .max()
                .map(in_s),
            admission_from_s: cfg.arrival.admission_opens_after().as_secs_f64(),
            sold_out_s: sold_out_at.map(in_s),
            last_answer_s: outcome
                .honest
                .iter()
                .filter_map(|j| j.ended_at_ms)
                .max()
                .map(in_s),
        };
        let draw = cfg.arrival.draw_window().map(|_| {
            let closed = cfg.arrival.admission_opens_after().as_millis() as u32;
            let joined: Vec<u32> = outcome
                .honest
                .iter()
                .filter_map(|j| j.joined_at_ms)
                .collect();
            DrawReport {
                check: outcome.draw.clone(),
                closed_at_s: f64::from(closed) / 1000.0,
                honest_entries: joined.iter().filter(|t| **t < closed).count(),
                honest_late: joined.iter().filter(|t| **t >= closed).count(),
            }
        });
        let mut in_line = vec![0u64; secs];
        for j in &outcome.honest {
            if let Some(t) = j.joined_at_ms {
                for slot in in_line.iter_mut().skip(t as usize / 1000) {
                    *slot += 1;
                }
            }
        }
        let latency = per_second
            .iter()
            .enumerate()
            .map(|(s, [st, pu])| {
                let q = |h: &Histogram<u64>, q: f64| {
                    if h.is_empty() {
                        0.0
                    } else {
                        h.value_at_quantile(q) as f64 / 1000.0
                    }
                };
                (s as f64, q(st, 0.5), q(st, 0.99), q(pu, 0.5), q(pu, 0.99))
            })
            .collect();

        Report {
            command,
            config: cfg.clone(),
            duration_s: outcome.duration.as_secs_f64(),
            phases,
            time_to_sell_out_s,
            draw,
            sold_out_notice_s,
            sold_out_answers,
            sold: state.state.sold,
            remaining: state.state.remaining,
            oversold: state.state.sold.saturating_sub(cfg.items),
            double_orders,
            orders: state.orders,
            honest,
            bot_items,
            honest_share,
            bots,
            requests: Requests {
                edge,
                edge_by_endpoint: counts,
                edge_unanswered: unanswered,
                origin: outcome.origin,
                edge_per_origin_purchase: if outcome.origin.purchase > 0.0 {
                    edge as f64 / outcome.origin.purchase
                } else {
                    0.0
                },
            },
            admission: Admission {
                configured_per_s: cfg.rate,
                observed_per_s: observed_rate(&waited),
                admitted: outcome.admissions.len(),
                admitted_on_join: outcome.admissions.iter().filter(|a| a.on_join).count(),
                admitted_early,
                kept_waiting_late,
                queued_answers: outcome.waits.len(),
                unstamped: outcome.admissions.iter().filter(|a| a.edge_ms == 0).count(),
                frontier_per_s: frontier_rate(&outcome.frontier, cfg.items),
                frontier_reached_stock_s: outcome
                    .frontier
                    .iter()
                    .find(|(_, f)| *f >= cfg.items)
                    .map(|(t, _)| f64::from(*t) / 1000.0),
            },
            bought_latency_ms: percentiles(&bought),
            latency_ms: by_endpoint
                .iter()
                .map(|(k, h)| (*k, percentiles(h)))
                .collect(),
            timeline: Timeline {
                admissions_per_s,
                stock: outcome
                    .stock
                    .iter()
                    .map(|(t, r, s)| (f64::from(*t) / 1000.0, *r, *s))
                    .collect(),
                in_line,
                latency,
            },
            cpu_seconds: BTreeMap::new(),
            holds: None,
            edge_storage: None,
            regions: None,
        }
    }

    /// A summary for people, a few lines.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let c = &self.config;
        s.push_str(&format!(
            "herd: {} honest buyers + {} bot clients for {} items at {}/s ({:?})\n",
            c.buyers,
            c.bots.clients(),
            c.items,
            c.rate,
            c.arrival
        ));
        s.push_str(&format!(
            "  sold {} / {} (remaining {}), oversold {}, double orders {}, orders recorded {}\n",
            self.sold, c.items, self.remaining, self.oversold, self.double_orders, self.orders
        ));
        s.push_str(&format!(
            "  honest buyers: {} bought ({} more cancelled by the audit), {} told sold out, {} refused, {} no answer\n",
            self.honest.bought,
            self.honest.cancelled,
            self.honest.sold_out,
            self.honest.refused.values().sum::<usize>(),
            self.honest.failed
        ));
        s.push_str(&format!(
            "  bots got {} items ({:.1} % of sold went to honest buyers)\n",
            self.bot_items,
            self.honest_share * 100.0
        ));
        for (strategy, b) in &self.bots {
            s.push_str(&format!(
                "    {:?}: {} clients, {} items ({} more cancelled), refused {:?}\n",
                strategy, b.clients, b.items, b.cancelled, b.refusals
            ));
        }
        s.push_str(&format!(
            "  requests: {} at the edge ({} unanswered), {:.0} purchases and {:.0} state reads at the origin\n",
            self.requests.edge, self.requests.edge_unanswered, self.requests.origin.purchase, self.requests.origin.sale_state
        ));
        s.push_str(&format!(
            "  admission: configured {}/s, the edge's frontier {} up to the stock{}, passes seen by the crowd {} by the edge's stamps ({} admitted, {} on joining, {} early, {} kept waiting past their turn)\n",
            self.admission.configured_per_s,
            self.admission
                .frontier_per_s
                .map_or("n/a".into(), |r| format!("{r:.1}/s")),
            self.admission
                .frontier_reached_stock_s
                .map_or(String::new(), |t| format!(" (reached at {t:.1} s)")),
            self.admission
                .observed_per_s
                .map_or("n/a".into(), |r| format!("{r:.1}/s")),
            self.admission.admitted,
            self.admission.admitted_on_join,
            self.admission.admitted_early,
            self.admission.kept_waiting_late,
        ));
        if let Some(d) = &self.draw {
            s.push_str(&format!(
                "  pre-queue: {} honest buyers in line when the draw closed at {:.1} s, {} joined after it\n",
                d.honest_entries, d.closed_at_s, d.honest_late
            ));
            if let Some(c) = &d.check {
                s.push_str(&format!(
                    "  draw: {} entries, {} ({})\n",
                    c.entries,
                    if c.verified {
                        "verified from the published record: commitment, chains, every place"
                    } else {
                        "NOT VERIFIED"
                    },
                    c.detail
                ));
            }
        }
        if let Some(n) = &self.sold_out_notice_s {
            s.push_str(&format!(
                "  sold-out notice: {} waiters told sold out, p50 {:.1} s, p90 {:.1} s, p99 {:.1} s, last {:.1} s after the last item\n",
                n.count, n.p50, n.p90, n.p99, n.max
            ));
        }
        if let Some(a) = &self.sold_out_answers {
            s.push_str(&format!(
                "  sold-out at the edge: {} status answers said queued to requests sent after the last item, \
                 {} of them more than {SOLD_OUT_SAID_WITHIN_S:.0} s after it (the last {:.1} s after)\n",
                a.queued_after, a.queued_after_bound, a.last_queued_s
            ));
        }
        let at = |t: Option<f64>| t.map_or("-".to_owned(), |t| format!("{t:.1} s"));
        let p = &self.phases;
        s.push_str(&format!(
            "  phases: the line formed by {} (last join answered), admission from {:.1} s, sold out at {}, \
             every honest buyer answered by {}, run over at {:.1} s\n",
            at(p.last_join_s),
            p.admission_from_s,
            at(p.sold_out_s),
            at(p.last_answer_s),
            self.duration_s
        ));
        match self.time_to_sell_out_s {
            Some(t) => s.push_str(&format!(
                "  sold out {t:.1} s after opening; run took {:.1} s\n",
                self.duration_s
            )),
            None => s.push_str(&format!(
                "  not sold out; run took {:.1} s\n",
                self.duration_s
            )),
        }
        if !self.cpu_seconds.is_empty() {
            let parts: Vec<String> = self
                .cpu_seconds
                .iter()
                .map(|(k, v)| format!("{k} {v:.1} s"))
                .collect();
            s.push_str(&format!("  CPU during the run: {}\n", parts.join(", ")));
            if let Some(edge) = self.cpu_seconds.get(EDGE_CPU) {
                let visitors = (self.config.buyers + self.config.bots.clients()).max(1) as f64;
                s.push_str(&format!(
                    "  edge CPU per visitor: {:.2} ms ({} buyers and bots)\n",
                    edge * 1000.0 / visitors,
                    visitors
                ));
            }
        }
        if let Some(st) = &self.edge_storage {
            let visitors = (self.config.buyers + self.config.bots.clients()).max(1) as f64;
            s.push_str(&format!(
                "  edge storage after the run: {} keys, {} bytes ({:.0} bytes per visitor; \
                 deleted CLEANUP_AFTER_SECS after the sale is over)\n",
                st.keys,
                st.bytes,
                st.bytes as f64 / visitors
            ));
        }
        if let Some(h) = &self.holds {
            s.push_str(&format!(
                "  card holds: {} created, {} captured, {} released, {} still held{}\n",
                h.created,
                h.captured,
                h.released,
                h.held,
                match h.all_released_after_s {
                    Some(t) => format!(" (every loser's hold released {t:.1} s after the run)"),
                    None => String::new(),
                }
            ));
        }
        let b = &self.bought_latency_ms;
        s.push_str(&format!(
            "  purchases that bought: {} requests, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms\n",
            b.count, b.p50, b.p90, b.p99
        ));
        for (e, p) in &self.latency_ms {
            s.push_str(&format!(
                "  {:>9}: {:>7} requests, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.0} ms\n",
                format!("{e:?}").to_lowercase(),
                p.count,
                p.p50,
                p.p90,
                p.p99,
                p.max
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontier_rate_is_its_slope_below_the_stock() {
        let samples = [
            (0, 0),
            (200, 0),
            (400, 100),
            (600, 200),
            (800, 300),
            (1_000, 300),
        ];
        // Inside the climb: 100 at 400 ms, 200 at 600 ms.
        assert_eq!(frontier_rate(&samples, 300), Some(500.0));
        // A stock never reached: every sample above 0 is inside (a plateau lowers the fit).
        let rate = frontier_rate(&samples, 1_000).unwrap();
        assert!(rate < 500.0, "{rate}");
        assert_eq!(frontier_rate(&[(0, 0)], 10), None);
        assert_eq!(frontier_rate(&[(0, 5), (200, 10)], 10), None);
        assert_eq!(frontier_rate(&[(0, 0), (2_000, 1_000)], 1_000), Some(500.0));
    }

    #[test]
    fn observed_rate_is_the_slope_of_sightings() {
        // 40 per second for 5 s, with a burst of late sightings at the end.
        let mut t: Vec<u64> = (0..200).map(|i| 1_000 + i * 25).collect();
        t.extend([6_000; 20]);
        let r = observed_rate(&t).unwrap();
        assert!((r - 40.0).abs() < 4.0, "{r}");
        assert_eq!(observed_rate(&[1, 2, 3]), None);
        assert_eq!(observed_rate(&[5; 50]), None);
    }
}

/// Card holds at the payments API after a run with `--preauth`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Holds {
    /// PaymentIntents created.
    pub created: usize,
    /// Captured (`succeeded`).
    pub captured: usize,
    /// Released (`canceled`).
    pub released: usize,
    /// Still held (`requires_capture`) when the count was taken.
    pub held: usize,
    /// Seconds from the end of the run until none was held (`None`: some still were when the
    /// herd stopped waiting).
    pub all_released_after_s: Option<f64>,
}
