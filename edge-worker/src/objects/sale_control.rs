//! `SaleControl`: one Durable Object per sale holding its admission schedule at the edge.
//!
//! The origin holds the operator's settings (start time, rate, paused) and is their one source
//! of truth; this object holds the schedule that follows them: the frontier is continuous, so
//! every change of the settings re-bases it at the moment the object sees the change
//! ([`ControlState::follow`]). Every isolate passes its copy of the sale's state along when
//! its copy of the control is stale (see `cache.rs`), so the object sees about one request per
//! isolate per `STATE_CACHE_MS`, never one per waiter, and follows the newest settings any
//! isolate has seen; an older copy never undoes a newer one (settings carry a revision).
//!
//! For a sale with a pre-queue, the first request after the draw's close seals every queue
//! shard's pre-queue and keeps their tally in the control (`herdgate_core::draw::Tally`), so
//! every isolate learns it with the schedule: `K` object calls once per sale, none per poll.
//!
//! While the frontier waits where the passes out cover the stock, with a position below it
//! that may be nobody's, the object asks every queue shard how many joined there (at most once
//! per [`JOINS_REFRESH_MS`]), so that the wait counts places people hold, not positions nobody
//! took (`herdgate_core::gate::odds::cap_position`).

use std::cell::{Cell, RefCell};

use herdgate_core::draw::Tally;
use herdgate_core::gate::odds::{self, Sample};
use herdgate_core::wire::{AdmissionSettings, Choosing, ControlState, EdgeCounts, SaleState};
use herdgate_core::SaleId;
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::cache;
use crate::config;
use crate::config::Config;
use crate::counters;
use crate::http::Refusal;
use crate::objects::call_object;
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};

/// While the frontier waits at the stock's cap, how often the control asks the queue shards
/// for their joins, at most (each time, one call per shard).
pub const JOINS_REFRESH_MS: u64 = 1_000;

/// What the worker asks the control object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ControlOp {
    /// Read the schedule, following `settings` first if they are newer than the ones it
    /// follows (or creating it from them if the sale has none yet).
    Get {
        /// The origin's settings, as the calling isolate last read them.
        settings: AdmissionSettings,
        /// The sale (to seal its pre-queue's shards at the draw's close).
        #[serde(default)]
        sale: String,
        /// Items bought (sold, and the orders the audit cancelled), as the calling isolate
        /// last read them.
        #[serde(default)]
        bought: u64,
        /// Items that can still sell (`SaleState::unsold`: in stock, or on their way between
        /// regions), as the calling isolate last read them (`None`: not known, the frontier
        /// is not held or released on this call).
        #[serde(default)]
        remaining: Option<u64>,
        /// What the calling isolate counted since it last handed its counts on (`counters`),
        /// to add to the sale's totals.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        counts: Option<EdgeCounts>,
    },
    /// Adds `add` (the calling isolate's counts, if any) to the sale's totals and reads them.
    Counts {
        /// The calling isolate's counts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        add: Option<EdgeCounts>,
    },
    /// A seated sale: the place at `position` holds seats until `until_ms`, and counts as
    /// choosing until then (see [`Sessions`]).
    Holding {
        /// The place's position in line.
        position: u64,
        /// When its hold lapses, unix ms.
        until_ms: u64,
    },
    /// A seated sale: the place at `position` bought or gave its seats back, and no longer
    /// counts as choosing.
    Done {
        /// The place's position in line.
        position: u64,
    },
}

/// Who is choosing seats in a seated sale (admission by concurrency): every place admitted
/// counts from the moment this object sees the frontier pass it, for the sale's `choose_ms`
/// or, once it holds seats, until its hold lapses; it stops counting when it buys or
/// releases. The frontier is capped at `ended + choosers`, where `ended` are the places
/// admitted that no longer count, so the next person is let in when someone buys, lets their
/// hold lapse, releases, or leaves (their time to choose runs out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// The positions below this one were admitted, as this object last saw the frontier.
    seen: u64,
    /// The places that count as choosing: (position, until when, unix ms).
    live: Vec<(u64, u64)>,
    /// Places that bought or released before this object saw the frontier pass them (an
    /// isolate admitted them with its copy of the schedule): they never count.
    #[serde(default)]
    done_early: Vec<u64>,
}

impl Sessions {
    /// Counts the places admitted since the last call (`frontier`, at `now`) and drops those
    /// whose time ran out; returns the cap the frontier may reach.
    fn follow(&mut self, frontier: u64, choosing: &Choosing, now: u64) -> u64 {
        let limit = u64::from(choosing.choosers);
        if frontier > self.seen {
            // Admitted before the sale was seen seated (or before a restart): at most the
            // last `choosers` of them can still be choosing.
            let from = self.seen.max(frontier.saturating_sub(limit));
            for position in from..frontier {
                let done = self.done_early.contains(&position);
                if !done && !self.live.iter().any(|(p, _)| *p == position) {
                    self.live.push((position, now + choosing.choose_ms));
                }
            }
            self.seen = frontier;
            let seen = self.seen;
            self.done_early.retain(|p| *p >= seen);
        }
        self.live.retain(|(_, until)| *until > now);
        let ended = self.seen.saturating_sub(self.live.len() as u64);
        ended + limit
    }

    /// How many places count as choosing.
    fn choosing(&self) -> u64 {
        self.live.len() as u64
    }

    /// The place at `position` holds seats until `until_ms`: it counts until then, and no
    /// longer (again, if its time to choose had run out), so the next place is let in when
    /// the hold lapses, whatever time to choose was left.
    fn holding(&mut self, position: u64, until_ms: u64) {
        match self.live.iter_mut().find(|(p, _)| *p == position) {
            Some((_, until)) => *until = until_ms,
            None => self.live.push((position, until_ms)),
        }
    }

    /// The place at `position` bought or released: it no longer counts.
    fn done(&mut self, position: u64) {
        self.live.retain(|(p, _)| *p != position);
        if position >= self.seen && !self.done_early.contains(&position) {
            self.done_early.push(position);
        }
    }
}

/// Asks the sale's control object.
pub async fn call(
    env: &Env,
    sale: &SaleId,
    op: &ControlOp,
) -> std::result::Result<ControlState, Refusal> {
    call_object(env, "SALE_CONTROL", sale.as_str(), op).await
}

/// Tells the sale's control object who is choosing seats ([`ControlOp::Holding`],
/// [`ControlOp::Done`]).
pub async fn tell(env: &Env, sale: &SaleId, op: &ControlOp) -> std::result::Result<(), Refusal> {
    call_object::<_, serde_json::Value>(env, "SALE_CONTROL", sale.as_str(), op)
        .await
        .map(|_| ())
}

/// Hands this isolate's counts for `sale` on and reads the sale's totals (every isolate's
/// counts as they last handed them on).
pub async fn counts(env: &Env, sale: &SaleId) -> std::result::Result<EdgeCounts, Refusal> {
    let add = counters::take(sale);
    let op = ControlOp::Counts { add: add.clone() };
    let answer = call_object(env, "SALE_CONTROL", sale.as_str(), &op).await;
    if let (Err(_), Some(add)) = (&answer, &add) {
        counters::give_back(sale, add);
    }
    answer
}

/// The sale's admission control, at most `STATE_CACHE_MS` old, and never older than the
/// settings in `state`: a copy that follows an older revision is refreshed at once.
pub async fn control(
    env: &Env,
    cfg: &Config,
    sale: &SaleId,
    state: &SaleState,
    now: u64,
) -> std::result::Result<ControlState, Refusal> {
    let settings = state.admission();
    // The counts go along only when the copy is refreshed: the future runs only then.
    let refresh = async {
        let counts = counters::take(sale);
        let op = ControlOp::Get {
            settings,
            sale: sale.to_string(),
            bought: state.sold + state.cancelled,
            remaining: Some(state.unsold()),
            counts: counts.clone(),
        };
        let answer = call(env, sale, &op).await;
        if let (Err(_), Some(counts)) = (&answer, &counts) {
            // Counted again next time (twice, if the object added them and its answer was
            // lost).
            counters::give_back(sale, counts);
        }
        answer
    };
    cache::control(sale, now, cfg.state_cache_ms, settings.revision, refresh).await
}

pub use object::SaleControl;

// `#[durable_object]` generates public bindings without doc comments.
#[allow(missing_docs)]
mod object {
    use super::*;

    /// A sale's control object.
    #[durable_object]
    pub struct SaleControl {
        state: State,
        env: Env,
        /// Samples of (time, admitted, sold), oldest first, over the conversion window and a
        /// little more (memory only: after an eviction the conversion is guessed cautiously
        /// again for one window).
        samples: RefCell<Vec<Sample>>,
        /// The pre-queue's tally, once this object has it (so it seals at most once).
        tally: RefCell<Option<Tally>>,
        /// Each queue shard's joins, as last counted (memory only).
        joins: RefCell<Option<Vec<u64>>>,
        /// When the shards were last asked (unix ms; 0: never), answered or not.
        joins_asked_at: Cell<u64>,
        /// Whether the last answer's frontier waited at the stock's cap with a position
        /// below it that may be nobody's (the shards' joins are worth counting again).
        held: Cell<bool>,
    }

    impl DurableObject for SaleControl {
        fn new(state: State, env: Env) -> Self {
            SaleControl {
                state,
                env,
                samples: RefCell::new(Vec::new()),
                tally: RefCell::new(None),
                joins: RefCell::new(None),
                joins_asked_at: Cell::new(0),
                held: Cell::new(false),
            }
        }

        async fn fetch(&self, mut req: Request) -> Result<Response> {
            match crate::objects::read_request(&mut req).await? {
                ControlOp::Get {
                    settings,
                    sale,
                    bought,
                    remaining,
                    counts,
                } => {
                    let next = self.get(settings, sale, bought, remaining).await?;
                    // Added once the answer stands: a failed call gives its counts back to
                    // the isolate, which must not find them added already.
                    if let Some(counts) = counts {
                        self.add_counts(&counts).await?;
                    }
                    Response::from_json(&next)
                }
                ControlOp::Counts { add } => {
                    let totals = match add {
                        Some(add) => self.add_counts(&add).await?,
                        None => self.state.storage().get(COUNTS).await?.unwrap_or_default(),
                    };
                    Response::from_json(&totals)
                }
                ControlOp::Holding { position, until_ms } => {
                    self.sessions(|s| s.holding(position, until_ms)).await?;
                    Response::from_json(&serde_json::json!({}))
                }
                ControlOp::Done { position } => {
                    self.sessions(|s| s.done(position)).await?;
                    Response::from_json(&serde_json::json!({}))
                }
            }
        }
    }

    /// Where the object keeps the sale's counts.
    const COUNTS: &str = "counts";
    /// Where the object keeps a seated sale's [`Sessions`].
    const SESSIONS: &str = "sessions";

    impl SaleControl {
        /// Changes the stored [`Sessions`] with `change` (no other await between the read and
        /// the write, as in [`Self::add_counts`]); returns what `change` returned.
        async fn sessions<T>(&self, change: impl FnOnce(&mut Sessions) -> T) -> Result<T> {
            let storage = self.state.storage();
            let stored: Sessions = storage.get(SESSIONS).await?.unwrap_or_default();
            let mut sessions = stored.clone();
            let answer = change(&mut sessions);
            if sessions != stored {
                storage.put(SESSIONS, &sessions).await?;
            }
            Ok(answer)
        }

        /// Adds `counts` to the stored totals and returns them.
        async fn add_counts(&self, counts: &EdgeCounts) -> Result<EdgeCounts> {
            let storage = self.state.storage();
            // No other await between the read and the write: the storage call holds the
            // object's input gate, so no other request's counts are lost.
            let mut totals: EdgeCounts = storage.get(COUNTS).await?.unwrap_or_default();
            totals.add(counts);
            storage.put(COUNTS, &totals).await?;
            Ok(totals)
        }

        /// The schedule, following `settings` and the stock.
        async fn get(
            &self,
            settings: AdmissionSettings,
            sale: String,
            bought: u64,
            remaining: Option<u64>,
        ) -> Result<ControlState> {
            let storage = self.state.storage();
            // Sealing calls the queue shards, and other requests may come in meanwhile: it is
            // done first, and the control is then read, changed and written with no other
            // await between (a storage call holds the object's input gate), so no request's
            // change is lost to another's older copy.
            let closed = settings
                .draw_closes_at_ms
                .is_some_and(|c| worker::Date::now().as_millis() >= c);
            let sealed = match SaleId::parse(&sale) {
                Ok(sale) if closed && self.tally.borrow().is_none() => {
                    let stored = storage.get::<ControlState>("control").await?;
                    match stored.and_then(|c| c.tally) {
                        Some(tally) => Some(tally),
                        None => match self.seal(&sale).await {
                            Ok(tally) => Some(tally),
                            Err(e) => {
                                // Answered without the draw; the next request tries again.
                                worker::console_error!("sealing the pre-queue failed: {e}");
                                None
                            }
                        },
                    }
                }
                _ => None,
            };
            if let Some(tally) = &sealed {
                *self.tally.borrow_mut() = Some(tally.clone());
            }
            // A sale without a draw or seats whose frontier waited at the stock's cap: where
            // the positions nobody holds are. (A draw's places have no gaps; a seated sale
            // admits by who is choosing.) Asked before the read below, like the seal.
            let follows_stock = remaining.is_some()
                && settings.choosing.is_none()
                && settings.draw_closes_at_ms.is_none();
            let joins = match SaleId::parse(&sale) {
                Ok(sale) if follows_stock => self.joins(&sale).await,
                _ => None,
            };
            let current = storage.get::<ControlState>("control").await?;
            let now = worker::Date::now().as_millis();
            let mut next = match &current {
                Some(c) => c.follow(&settings, now),
                None => ControlState::following(&settings),
            };
            if next.tally.is_none() {
                next.tally = sealed;
            }
            // The frontier's cap: where the passes out cover the stock, and for a seated sale
            // where as many are choosing as may.
            let mut cap = None;
            let mut follows = false;
            if let Some(remaining) = remaining {
                let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
                let stock_cap;
                (next, stock_cap) =
                    self.follow_stock(next, now, bought, remaining, joins.as_deref(), &cfg);
                cap = stock_cap;
                follows = true;
            }
            if let Some(choosing) = settings.choosing {
                // A control made just now has admitted nobody yet, whatever its schedule
                // says: no isolate has a copy of it.
                let frontier = match &current {
                    Some(_) => next.schedule.frontier(now),
                    None => 0,
                };
                let (choosing_cap, live) = self
                    .sessions(|s| (s.follow(frontier, &choosing, now), s.choosing()))
                    .await?;
                next.choosing = Some(live);
                // A seated sale admits by who is choosing alone: its buyers buy several seats
                // each, and one who found nothing to their liking counts as a place that did
                // not buy, so the stock's cap would hold the line while seats come back.
                cap = Some(choosing_cap);
                follows = true;
            }
            if settings.choosing.is_none() {
                next.choosing = None;
            }
            if follows {
                next.schedule = match &current {
                    // A seated sale's first control: nobody admitted yet, the cap holds from
                    // the first position.
                    None if settings.choosing.is_some() => herdgate_core::admission::Schedule {
                        cap,
                        ..next.schedule
                    },
                    _ => next.schedule.with_cap(cap, now),
                };
            }
            // Worth counting the joins again while the frontier waits at the stock's cap,
            // unless every position below it was handed out already (joins only grow): in a
            // long line, once.
            let gapless = |cap: u64| {
                joins
                    .as_deref()
                    .is_some_and(|j| odds::held_below(cap, j) >= cap)
            };
            self.held.set(
                follows_stock
                    && next.schedule.capped(now)
                    && !next.schedule.cap.is_some_and(gapless),
            );
            if current.as_ref() != Some(&next) {
                storage.put("control", &next).await?;
            }
            Ok(next)
        }

        /// Each queue shard's joins, as last counted: counted again (one call per shard, at
        /// once) when the last answer's frontier waited at the stock's cap with a position
        /// below it that may be nobody's, at most once per [`JOINS_REFRESH_MS`] (whether the
        /// last count was answered or not, and however many requests come meanwhile). `None`
        /// before the first count, or while a shard has not answered one (the cap then counts
        /// positions, the cautious way).
        async fn joins(&self, sale: &SaleId) -> Option<Vec<u64>> {
            let now = worker::Date::now().as_millis();
            let known = self.joins.borrow().clone();
            if !self.held.get() || now < self.joins_asked_at.get() + JOINS_REFRESH_MS {
                return known;
            }
            // Before the calls: a request that comes in while they are under way, or after
            // they failed, does not ask again.
            self.joins_asked_at.set(now);
            let cfg = config::get(&self.env).ok()?;
            let calls = (0..cfg.shards).map(|shard| async move {
                match queue_shard::call(&self.env, sale, shard, &ShardRequest::Joins).await {
                    Ok(ShardResponse::Joins { joined }) => Some(joined),
                    other => {
                        worker::console_error!("counting the joins of shard {shard}: {other:?}");
                        None
                    }
                }
            });
            let counted: Option<Vec<u64>> = futures_util::future::join_all(calls)
                .await
                .into_iter()
                .collect();
            match counted {
                Some(joins) => {
                    *self.joins.borrow_mut() = Some(joins.clone());
                    Some(joins)
                }
                None => known,
            }
        }

        /// Measures the conversion and returns the cap where the passes out cover the
        /// remaining stock (`herdgate_core::gate::odds`); the cap rises when items come back.
        /// With each queue shard's `joins`, the cap passes over the positions nobody holds.
        fn follow_stock(
            &self,
            mut next: ControlState,
            now: u64,
            bought: u64,
            remaining: u64,
            joins: Option<&[u64]>,
            cfg: &Config,
        ) -> (ControlState, Option<u64>) {
            let window_ms = cfg.conversion_window_secs * 1000;
            let admitted = next.schedule.frontier(now);
            let sample = Sample {
                at_ms: now,
                admitted,
                bought,
            };
            let mut samples = self.samples.borrow_mut();
            let cutoff = now.saturating_sub(window_ms);
            // Samples live in memory: after a restart of this object they do not reach back
            // a window, and the conversion stored before it stands until they do.
            if samples.first().is_some_and(|s| s.at_ms <= cutoff)
                || next.conversion_ppm == odds::PPM
            {
                next.conversion_ppm = odds::conversion_ppm(&samples, sample, window_ms);
            }
            // Keep the newest sample older than the window, and everything after it.
            let keep_from = samples.iter().rposition(|s| s.at_ms <= cutoff).unwrap_or(0);
            samples.drain(..keep_from);
            if samples.last().is_none_or(|s| now >= s.at_ms + 500) {
                samples.push(sample);
            }
            let cap = if cfg.frontier_waits_for_stock {
                odds::cap(next.conversion_ppm, bought, remaining)
                    .map(|places| odds::cap_position(places, joins.unwrap_or_default()))
            } else {
                None
            };
            (next, cap)
        }

        /// Seals every queue shard's pre-queue and gathers the tally (once per sale; a
        /// shard sealed already answers the same tally again).
        async fn seal(&self, sale: &SaleId) -> Result<Tally> {
            let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
            let mut shards = Vec::with_capacity(cfg.shards as usize);
            for shard in 0..cfg.shards {
                let op = ShardRequest::Seal {
                    sale: sale.to_string(),
                    shard,
                };
                match queue_shard::call(&self.env, sale, shard, &op).await {
                    Ok(ShardResponse::Sealed(tally)) => shards.push(tally),
                    other => {
                        return Err(worker::Error::RustError(format!(
                            "sealing shard {shard}: {other:?}"
                        )))
                    }
                }
            }
            Ok(Tally { shards })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHOOSING: Choosing = Choosing {
        choosers: 2,
        choose_ms: 10_000,
        hold_ms: 60_000,
    };

    #[test]
    fn the_next_place_is_let_in_when_someone_buys_releases_or_their_time_runs_out() {
        let mut s = Sessions::default();
        // Nobody admitted yet: two may come in.
        assert_eq!(s.follow(0, &CHOOSING, 0), 2);
        // Both came in at 1 s: nobody more.
        assert_eq!(s.follow(2, &CHOOSING, 1_000), 2);
        // Place 0 holds seats for a minute: still nobody more, even after its time to choose.
        s.holding(0, 61_000);
        assert_eq!(s.follow(2, &CHOOSING, 5_000), 2);
        // Place 1 never held: its time ran out at 11 s, and place 2 may come in.
        assert_eq!(s.follow(2, &CHOOSING, 11_000), 3);
        assert_eq!(s.follow(3, &CHOOSING, 12_000), 3);
        // Place 0 buys: place 3 may come in.
        s.done(0);
        assert_eq!(s.follow(3, &CHOOSING, 13_000), 4);
        // Place 2's hold lapses at 30 s without a word from it.
        s.holding(2, 30_000);
        assert_eq!(s.follow(4, &CHOOSING, 29_999), 4);
        assert_eq!(s.follow(4, &CHOOSING, 30_000), 5);
        // Place 4 is let in, holds and buys before this object sees the frontier pass it:
        // it never counts.
        s.holding(4, 90_000);
        s.done(4);
        assert_eq!(s.follow(5, &CHOOSING, 31_000), 6);
        assert!(s.done_early.is_empty());
    }

    #[test]
    fn places_admitted_before_the_sale_was_seen_seated_count_at_most_the_limit() {
        let mut s = Sessions::default();
        assert_eq!(s.follow(1_000, &CHOOSING, 0), 1_000);
        assert_eq!(s.live.len(), 2);
        // A place whose time ran out and then holds counts again, and holds the frontier.
        assert_eq!(s.follow(1_000, &CHOOSING, 20_000), 1_002);
        s.holding(5, 80_000);
        assert_eq!(s.follow(1_002, &CHOOSING, 20_000), 1_001);
    }
}
