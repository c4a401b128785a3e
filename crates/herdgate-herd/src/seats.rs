//! `herd seats`: a crowd for a seated sale (a ticket launch), through the edge.
//!
//! The herd creates the sale, loads a venue's seat map at the origin (sections of rows of
//! seats; the first sections are the front tier) and sends its people in over the arrival
//! window. Each person proves work, joins, waits to be admitted (admission by concurrency:
//! at most `choosers` choose at once), looks at the seats by section, asks for the best block
//! of 1 to 4 seats together, most of them in the front (another section, then one seat fewer,
//! when there is no block that large), and then either buys the hold after a moment's thought
//! or, for `lapse_pct` of them, walks away and lets it lapse, so its seats go back on sale and
//! are sold again.
//!
//! The report counts seats sold, held, lapsed and sold again, orders, the answers "no block of
//! that many" and "seats taken", and every seat sold twice: from the people's own answers (two
//! orders naming one seat) and, for `herd local`, from the orders Redis holds. While the crowd
//! runs, the herd reads the seats once a second from the origin (free, held, sold), for the
//! plot.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use herdgate_client::{AdminClient, EdgeClient, Identity};
use herdgate_core::wire::QueueStatus;
use rand::Rng as _;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// A venue: `sections` sections of `rows` rows of `per_row` seats; the first `front` sections
/// are the front tier.
#[derive(Debug, Clone, Copy)]
pub struct Venue {
    /// Sections.
    pub sections: usize,
    /// Rows per section.
    pub rows: usize,
    /// Seats per row.
    pub per_row: usize,
    /// How many of the sections (the first) are the front tier.
    pub front: usize,
}

impl Venue {
    /// Seats in the venue.
    pub fn seats(&self) -> usize {
        self.sections * self.rows * self.per_row
    }

    /// The section ids: `S1`, `S2`, …
    fn section_ids(&self) -> Vec<String> {
        (1..=self.sections).map(|s| format!("S{s}")).collect()
    }

    /// The seat map, with how long a hold lasts and how the edge admits.
    pub fn map(&self, hold_secs: u64, choosers: u32, choose_secs: u64) -> Value {
        let sections: Vec<Value> = self
            .section_ids()
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let tier = if i < self.front { "front" } else { "back" };
                let seats: Vec<Value> = (0..self.per_row).map(|_| json!({"tier": tier})).collect();
                let rows: Vec<Value> = (1..=self.rows)
                    .map(|r| json!({"id": r.to_string(), "seats": seats}))
                    .collect();
                json!({"id": id, "rows": rows})
            })
            .collect();
        json!({
            "tiers": {"front": 12_000, "back": 6_000},
            "sections": sections,
            "hold_secs": hold_secs,
            "choosers": choosers,
            "choose_secs": choose_secs,
        })
    }
}

/// What `herd seats` runs.
#[derive(Debug, Clone)]
pub struct SeatsConfig {
    /// The edge's base URL.
    pub edge: String,
    /// The origin's base URL (the sale and its map are made there; the seats are sampled
    /// there).
    pub origin: String,
    /// The origin's admin token.
    pub admin_token: String,
    /// The sale id to create.
    pub sale: String,
    /// People in the crowd.
    pub people: usize,
    /// The venue.
    pub venue: Venue,
    /// The most people choosing seats at once.
    pub choosers: u32,
    /// Seconds an admitted person counts as choosing before they hold.
    pub choose_secs: u64,
    /// Seconds a hold lasts.
    pub hold_secs: u64,
    /// Percent of the people who hold seats and walk away.
    pub lapse_pct: u32,
    /// Percent of the people who want the front tier.
    pub front_pct: u32,
    /// People admitted per second at most (the concurrency limit comes first).
    pub rate: u32,
    /// The crowd arrives spread over this long after the sale opens.
    pub arrival: Duration,
    /// The longest a person thinks before buying the seats they hold.
    pub think: Duration,
    /// Requests in flight at once.
    pub connections: usize,
    /// Stop waiting for people after this long.
    pub deadline: Duration,
}

/// One reading of the seats, from the origin.
#[derive(Debug, Clone, Serialize)]
pub struct SeatSample {
    /// Seconds since the sale opened.
    pub t_s: f64,
    /// Free seats.
    pub free: u64,
    /// Held seats.
    pub held: u64,
    /// Sold seats.
    pub sold: u64,
    /// Places choosing seats, as the edge's control counts them.
    pub choosing: Option<u64>,
}

/// What happened.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeatsReport {
    /// The command that produced it.
    pub command: String,
    /// People in the crowd.
    pub people: usize,
    /// Seats on sale.
    pub seats: usize,
    /// People admitted.
    pub admitted: u64,
    /// Orders (one per buyer).
    pub orders: u64,
    /// Seats sold, by the people's orders.
    pub seats_sold: u64,
    /// Seats sold, by the sale's books at the end (the origin's).
    pub seats_sold_books: u64,
    /// Seats held at the end (by the origin's books).
    pub seats_held_at_end: u64,
    /// Holds made.
    pub holds: u64,
    /// Holds left to lapse.
    pub holds_lapsed: u64,
    /// Seats in holds that lapsed.
    pub seats_lapsed: u64,
    /// Seats of lapsed holds that were sold afterwards.
    pub seats_resold: u64,
    /// Seats sold to two orders, by the people's answers.
    pub double_sold: u64,
    /// Seats sold to two orders, by the orders Redis holds (`herd local` only).
    pub double_sold_in_redis: Option<u64>,
    /// Answers "no block of that many free seats together".
    pub no_adjacent: u64,
    /// Answers "some of those seats were just taken".
    pub seats_taken: u64,
    /// People told the sale is sold out.
    pub told_sold_out: u64,
    /// People whose time to choose ran out while every free seat was held by others.
    pub gave_up: u64,
    /// People who never got a final answer before the deadline.
    pub unanswered: u64,
    /// People whose requests failed (no answer, or a 5xx), by what failed.
    pub failures: BTreeMap<String, u64>,
    /// Every other refusal, by code.
    pub refusals: BTreeMap<String, u64>,
    /// The most people admitted and not done (bought, released, walked away, or their
    /// hold's end) at once, by the herd's own count.
    pub most_choosing: u64,
    /// The most places choosing at once by the edge's own count (its sale control, read once
    /// a second): what admission by concurrency holds at `choosers`.
    pub most_choosing_edge: Option<u64>,
    /// Seconds from the opening to the last seat sold, if every seat was.
    pub sold_out_after_s: Option<f64>,
    /// The run's wall time, seconds.
    pub wall_s: f64,
    /// The seats once a second.
    pub samples: Vec<SeatSample>,
}

impl SeatsReport {
    /// The report as a few lines of text.
    pub fn text(&self) -> String {
        let mut out = format!(
            "seated sale: {} people for {} seats\n\
             sold {} seats in {} orders (books: {} sold, {} still held)\n\
             holds {} · lapsed {} ({} seats) · lapsed seats sold again {}\n\
             double-sold {} (answers){}\n\
             \"no block that large\" {} · \"seats taken\" {} · told sold out {} · gave up {} · unanswered {}\n\
             admitted {} · most choosing at once {} (the herd's count), {} (the edge's)\n",
            self.people,
            self.seats,
            self.seats_sold,
            self.orders,
            self.seats_sold_books,
            self.seats_held_at_end,
            self.holds,
            self.holds_lapsed,
            self.seats_lapsed,
            self.seats_resold,
            self.double_sold,
            match self.double_sold_in_redis {
                Some(n) => format!(", {n} (Redis)"),
                None => String::new(),
            },
            self.no_adjacent,
            self.seats_taken,
            self.told_sold_out,
            self.gave_up,
            self.unanswered,
            self.admitted,
            self.most_choosing,
            self.most_choosing_edge
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        );
        match self.sold_out_after_s {
            Some(s) => out.push_str(&format!("sold out {s:.1} s after the opening\n")),
            None => out.push_str("not sold out\n"),
        }
        if !self.failures.is_empty() {
            out.push_str(&format!("failed: {:?}\n", self.failures));
        }
        if !self.refusals.is_empty() {
            out.push_str(&format!("other refusals: {:?}\n", self.refusals));
        }
        out.push_str(&format!("run {:.1} s\n", self.wall_s));
        out
    }

    /// The seats over time as an SVG line plot.
    pub fn plot(&self) -> String {
        let (w, h, pad) = (720.0, 300.0, 40.0);
        let t_max = self.samples.last().map_or(1.0, |s| s.t_s.max(1.0));
        let y_max = (self.seats as f64).max(1.0);
        let x = |t: f64| pad + t / t_max * (w - 2.0 * pad);
        let y = |v: f64| h - pad - v / y_max * (h - 2.0 * pad);
        let line = |pick: fn(&SeatSample) -> u64| {
            self.samples
                .iter()
                .map(|s| format!("{:.1},{:.1}", x(s.t_s), y(pick(s) as f64)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let series = [
            ("free", "#1f77b4", line(|s| s.free), ""),
            (
                "held",
                "#ff7f0e",
                line(|s| s.held),
                " stroke-dasharray=\"6 3\"",
            ),
            (
                "sold",
                "#2ca02c",
                line(|s| s.sold),
                " stroke-dasharray=\"2 2\"",
            ),
        ];
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" \
             aria-label=\"Seats free, held and sold over the sale\">\n\
             <title>Seats free, held and sold over the sale</title>\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/>\n\
             <line x1=\"{pad}\" y1=\"{pad}\" x2=\"{pad}\" y2=\"{b}\" stroke=\"black\"/>\n\
             <text x=\"{pad}\" y=\"{t}\" font-size=\"12\">{y_max} seats</text>\n\
             <text x=\"{r}\" y=\"{bt}\" font-size=\"12\" text-anchor=\"end\">{t_max:.0} s</text>\n",
            b = h - pad,
            r = w - pad,
            t = pad - 8.0,
            bt = h - pad + 16.0,
        );
        for (i, (name, colour, points, dash)) in series.iter().enumerate() {
            svg.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} points=\"{points}\"/>\n\
                 <text x=\"{lx}\" y=\"{ly}\" font-size=\"12\" fill=\"{colour}\">{name}</text>\n",
                lx = w - pad - 60.0,
                ly = pad + 16.0 * i as f64,
            ));
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// What the people tell each other (the herd's own books).
#[derive(Default)]
struct Books {
    admitted: AtomicU64,
    holds: AtomicU64,
    lapsed_holds: AtomicU64,
    no_adjacent: AtomicU64,
    seats_taken: AtomicU64,
    told_sold_out: AtomicU64,
    gave_up: AtomicU64,
    unanswered: AtomicU64,
    choosing: AtomicU64,
    most_choosing: AtomicU64,
    /// Seats per order.
    orders: Mutex<Vec<Vec<String>>>,
    /// Seats of holds left to lapse, and when each lapses (since the opening).
    lapsed: Mutex<Vec<(Vec<String>, Duration)>>,
    /// The last seat sold, since the opening.
    last_sale: Mutex<Option<Duration>>,
    refusals: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<BTreeMap<String, u64>>,
}

impl Books {
    fn refused(&self, code: &str) {
        let mut r = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        *r.entry(code.to_owned()).or_insert(0) += 1;
    }

    fn failed(&self, e: &anyhow::Error) {
        let mut text = format!("{e:#}");
        text.truncate(120);
        let mut f = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        *f.entry(text).or_insert(0) += 1;
    }

    fn choosing(&self, delta: i64) {
        if delta > 0 {
            let now = self.choosing.fetch_add(1, Ordering::Relaxed) + 1;
            self.most_choosing.fetch_max(now, Ordering::Relaxed);
        } else {
            self.choosing.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Makes the sale and loads its map; returns when it opens (now).
async fn set_up(cfg: &SeatsConfig, http: &reqwest::Client) -> Result<()> {
    let admin = AdminClient::new(http.clone(), &cfg.origin, &cfg.admin_token);
    let opens = herdgate_testkit::now_ms() + 2_000;
    let sale = json!({
        "stock": 0,
        "per_visitor_limit": 4,
        "starts_at_ms": opens,
        "admission_rate": cfg.rate,
    });
    let (status, body) = admin.put_sale_reply(&cfg.sale, &sale).await?;
    if status != 201 && status != 200 {
        bail!("creating the sale: {status} {body}");
    }
    let map = cfg.venue.map(cfg.hold_secs, cfg.choosers, cfg.choose_secs);
    let url = format!("{}/admin/v1/sales/{}/seats", cfg.origin, cfg.sale);
    let reply = http
        .put(url)
        .bearer_auth(&cfg.admin_token)
        .json(&map)
        .send()
        .await
        .context("loading the seat map")?;
    let status = reply.status();
    if !status.is_success() {
        bail!("loading the seat map: {status} {}", reply.text().await?);
    }
    let wait = opens.saturating_sub(herdgate_testkit::now_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
    Ok(())
}

/// Runs the crowd; `redis` (for `herd local`) is read for seats sold twice at the end.
pub async fn run(
    cfg: SeatsConfig,
    command: String,
    redis: Option<fred::clients::Client>,
) -> Result<SeatsReport> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(cfg.connections)
        .build()?;
    set_up(&cfg, &http).await?;
    let t0 = Instant::now();
    let books = Arc::new(Books::default());
    let slots = Arc::new(Semaphore::new(cfg.connections.max(1)));
    let cfg = Arc::new(cfg);

    let done = Arc::new(tokio::sync::Notify::new());
    let sampler = tokio::spawn(sample(cfg.clone(), http.clone(), t0, done.clone()));
    let mut people = tokio::task::JoinSet::new();
    for i in 0..cfg.people {
        let at = cfg.arrival.mul_f64(i as f64 / cfg.people.max(1) as f64);
        let (cfg, books, slots, http) = (cfg.clone(), books.clone(), slots.clone(), http.clone());
        people.spawn(async move {
            tokio::time::sleep_until((t0 + at).into()).await;
            let me = EdgeClient::new(
                http,
                &cfg.edge,
                Identity::new(format!("herd-seats/{i}")).with_ip(format!(
                    "10.{}.{}.{}",
                    i >> 16 & 255,
                    i >> 8 & 255,
                    i & 255
                )),
            );
            let finished = tokio::time::timeout_at(
                (t0 + cfg.deadline).into(),
                person(&cfg, &me, &books, &slots, t0),
            )
            .await;
            match finished {
                Ok(Ok(())) => {}
                Ok(Err(e)) => books.failed(&e),
                Err(_) => {
                    books.unanswered.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while people.join_next().await.is_some() {}
    done.notify_one();
    let samples = sampler.await.unwrap_or_default();

    let orders = books
        .orders
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut sold = HashSet::new();
    let mut double_sold = 0;
    for seat in orders.iter().flatten() {
        if !sold.insert(seat.clone()) {
            double_sold += 1;
        }
    }
    let lapsed = books
        .lapsed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let seats_lapsed = lapsed.iter().map(|(s, _)| s.len() as u64).sum();
    let seats_resold = lapsed
        .iter()
        .flat_map(|(s, _)| s)
        .filter(|s| sold.contains(*s))
        .count() as u64;
    let books_now = read_books(&cfg, &http).await?;
    let double_sold_in_redis = match redis {
        Some(r) => Some(double_sold_in(&r, &cfg.sale).await?),
        None => None,
    };
    let seats = cfg.venue.seats();
    let last_sale = *books
        .last_sale
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let report = SeatsReport {
        command,
        people: cfg.people,
        seats,
        admitted: books.admitted.load(Ordering::Relaxed),
        orders: orders.len() as u64,
        seats_sold: sold.len() as u64,
        seats_sold_books: books_now.sold,
        seats_held_at_end: books_now.held,
        holds: books.holds.load(Ordering::Relaxed),
        holds_lapsed: books.lapsed_holds.load(Ordering::Relaxed),
        seats_lapsed,
        seats_resold,
        double_sold,
        double_sold_in_redis,
        no_adjacent: books.no_adjacent.load(Ordering::Relaxed),
        seats_taken: books.seats_taken.load(Ordering::Relaxed),
        told_sold_out: books.told_sold_out.load(Ordering::Relaxed),
        gave_up: books.gave_up.load(Ordering::Relaxed),
        unanswered: books.unanswered.load(Ordering::Relaxed),
        failures: books
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        refusals: books
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        most_choosing: books.most_choosing.load(Ordering::Relaxed),
        most_choosing_edge: samples.iter().filter_map(|s| s.choosing).max(),
        sold_out_after_s: last_sale
            .filter(|_| books_now.sold as usize == seats)
            .map(|d| d.as_secs_f64()),
        wall_s: t0.elapsed().as_secs_f64(),
        samples,
    };
    Ok(report)
}

/// One person, from arrival to a final answer: `Ok` once they bought, walked away, or were
/// told there is nothing left for them.
async fn person(
    cfg: &SeatsConfig,
    me: &EdgeClient,
    books: &Books,
    slots: &Semaphore,
    t0: Instant,
) -> Result<()> {
    let sale = cfg.sale.as_str();
    let ticket = again(slots, || me.solve_and_join(sale, None)).await?.ticket;
    let pass = loop {
        let status = again(slots, || me.status(sale, &ticket)).await?;
        match status {
            QueueStatus::Admitted { pass, .. } => break pass,
            QueueStatus::SoldOut => {
                books.told_sold_out.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            QueueStatus::Queued { poll_after_ms, .. }
            | QueueStatus::Paused { poll_after_ms, .. }
            | QueueStatus::Entered { poll_after_ms, .. } => {
                let wait = poll_after_ms.clamp(200, 5_000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            other => bail!("an answer the herd does not expect: {other:?}"),
        }
    };
    books.admitted.fetch_add(1, Ordering::Relaxed);
    books.choosing(1);
    let outcome = choose(cfg, me, books, slots, t0, &ticket, pass).await;
    books.choosing(-1);
    outcome
}

/// An admitted person looks, holds and buys (or walks away).
async fn choose(
    cfg: &SeatsConfig,
    me: &EdgeClient,
    books: &Books,
    slots: &Semaphore,
    t0: Instant,
    ticket: &str,
    mut pass: String,
) -> Result<()> {
    let sale = cfg.sale.as_str();
    let (mut want, front, lapse, think) = {
        let mut rng = rand::thread_rng();
        (
            rng.gen_range(1..=4u32),
            rng.gen_range(0..100) < cfg.front_pct,
            rng.gen_range(0..100) < cfg.lapse_pct,
            cfg.think.mul_f64(rng.gen_range(0.0..1.0)),
        )
    };
    let looked_since = Instant::now();
    let hold = 'hold: loop {
        let (status, summary) = again(slots, || ok(me.seats_reply(sale, &pass, None))).await?;
        if code_of(&summary) == "pass_expired" {
            pass = fresh_pass(me, slots, sale, ticket).await?;
            continue 'hold;
        }
        if status != 200 {
            return refused(books, status, &summary);
        }
        // Sections with free seats of the tier this person wants, most free first; then any.
        let tier = if front { "front" } else { "back" };
        let mut sections: Vec<(u64, String)> = summary["sections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let free = s["free_by_tier"][tier].as_u64().unwrap_or(0);
                let any = s["free"].as_u64().unwrap_or(0);
                let id = s["id"].as_str()?.to_owned();
                (any > 0).then_some((free * 1_000_000 + any, id))
            })
            .collect();
        sections.sort_by_key(|s| std::cmp::Reverse(s.0));
        if sections.is_empty() {
            let held: u64 = summary["sections"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["held"].as_u64().unwrap_or(0))
                .sum();
            // Everything is held or sold: held seats may come back, so a person looks again
            // while their time to choose lasts.
            if held == 0 {
                books.told_sold_out.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            if looked_since.elapsed() >= Duration::from_secs(cfg.choose_secs) {
                books.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue 'hold;
        }
        for (_, section) in sections.iter().take(3) {
            let body = json!({"best": {"count": want, "section": section}});
            let (status, answer) =
                again(slots, || ok(me.seat_hold_reply(sale, &pass, &body))).await?;
            match (status, code_of(&answer)) {
                (201, _) => break 'hold answer,
                // An earlier try of this hold was made and its answer lost (`again`): the
                // person does not know its seats, and leaves them to lapse.
                (409, "seat_hold_exists") => {
                    books.holds.fetch_add(1, Ordering::Relaxed);
                    books.lapsed_holds.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(cfg.hold_secs)).await;
                    return Ok(());
                }
                (401, "pass_expired") => {
                    pass = fresh_pass(me, slots, sale, ticket).await?;
                    continue 'hold;
                }
                (409, "no_adjacent_seats") => {
                    books.no_adjacent.fetch_add(1, Ordering::Relaxed);
                }
                (409, "seats_taken") => {
                    books.seats_taken.fetch_add(1, Ordering::Relaxed);
                }
                (409, "sold_out") => {
                    books.told_sold_out.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                _ => return refused(books, status, &answer),
            }
        }
        // No block that large in the sections with most free seats (the summary is up to a
        // second old): one seat fewer, once the summary is new again.
        if want > 1 {
            want -= 1;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    books.holds.fetch_add(1, Ordering::Relaxed);
    let seats: Vec<String> = serde_json::from_value(hold["seats"].clone()).unwrap_or_default();
    let id = hold["hold"].as_str().unwrap_or_default().to_owned();
    if lapse {
        books.lapsed_holds.fetch_add(1, Ordering::Relaxed);
        let ends = t0.elapsed() + Duration::from_secs(cfg.hold_secs);
        books
            .lapsed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((seats, ends));
        // They walk away: they stop choosing when their hold ends.
        tokio::time::sleep(Duration::from_secs(cfg.hold_secs)).await;
        return Ok(());
    }
    tokio::time::sleep(think).await;
    let mut confirmed = again(slots, || ok(me.seat_confirm_reply(sale, &pass, &id))).await?;
    if code_of(&confirmed.1) == "pass_expired" {
        pass = fresh_pass(me, slots, sale, ticket).await?;
        confirmed = again(slots, || ok(me.seat_confirm_reply(sale, &pass, &id))).await?;
    }
    let (status, answer) = confirmed;
    if status != 201 && status != 200 {
        return refused(books, status, &answer);
    }
    let sold: Vec<String> =
        serde_json::from_value(answer["order"]["seats"].clone()).unwrap_or_default();
    books
        .orders
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(sold);
    *books
        .last_sale
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(t0.elapsed());
    Ok(())
}

/// Runs `call` (one request in flight of the herd's `connections`), again after a pause when
/// it fails (no answer, or a 503: the edge or the origin is busy), at most five times, as a
/// person would press again.
async fn again<T, F: std::future::Future<Output = Result<T>>>(
    slots: &Semaphore,
    mut call: impl FnMut() -> F,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        let answer = {
            let _slot = slots.acquire().await?;
            call().await
        };
        match answer {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= 4 => return Err(e),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
        }
    }
}

/// A reply, with a 503 made a failure to try again.
async fn ok(
    reply: impl std::future::Future<Output = Result<herdgate_client::Reply>>,
) -> Result<herdgate_client::Reply> {
    let (status, body) = reply.await?;
    if status == 503 {
        bail!("{status} {body}");
    }
    Ok((status, body))
}

/// A fresh pass of the same place (a pass lasts the edge's `PASS_TTL_SECS`; choosing may take
/// longer), from the status route.
async fn fresh_pass(
    me: &EdgeClient,
    slots: &Semaphore,
    sale: &str,
    ticket: &str,
) -> Result<String> {
    match again(slots, || me.status(sale, ticket)).await? {
        QueueStatus::Admitted { pass, .. } => Ok(pass),
        other => bail!("a place admitted before is now {other:?}"),
    }
}

/// Counts a refusal; a final answer for the person.
/// Counts a refusal (a final answer for the person), or fails on a 5xx (counted as a failure,
/// not a refusal: one outcome per person).
fn refused(books: &Books, status: u16, body: &Value) -> Result<()> {
    if status >= 500 {
        bail!("{status} {body}");
    }
    books.refused(code_of(body));
    Ok(())
}

fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

/// The seats as the origin's books count them (sold, held).
struct SeatBooks {
    sold: u64,
    held: u64,
}

async fn read_books(cfg: &SeatsConfig, http: &reqwest::Client) -> Result<SeatBooks> {
    let seats = read_seats(cfg, http).await?;
    Ok(SeatBooks {
        sold: total(&seats, "sold"),
        held: total(&seats, "held"),
    })
}

/// The sum of `field` (`free`, `held`, `sold`) over the sections of the origin's seats.
fn total(seats: &Value, field: &str) -> u64 {
    seats["sections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s[field].as_u64().unwrap_or(0))
        .sum()
}

async fn read_seats(cfg: &SeatsConfig, http: &reqwest::Client) -> Result<Value> {
    let url = format!("{}/v1/sales/{}/seats", cfg.origin, cfg.sale);
    let reply = http.get(url).send().await?;
    if !reply.status().is_success() {
        bail!("reading the seats: {}", reply.status());
    }
    Ok(reply.json().await?)
}

/// Reads the seats once a second until `done`.
async fn sample(
    cfg: Arc<SeatsConfig>,
    http: reqwest::Client,
    t0: Instant,
    done: Arc<tokio::sync::Notify>,
) -> Vec<SeatSample> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = done.notified() => break,
            _ = tick.tick() => {}
        }
        let Ok(seats) = read_seats(&cfg, &http).await else {
            continue;
        };
        let url = format!("{}/api/v1/sales/{}", cfg.edge, cfg.sale);
        let choosing = match http.get(url).send().await {
            Ok(r) => r.json::<Value>().await.ok(),
            Err(_) => None,
        }
        .and_then(|v| v["admission"]["choosing"].as_u64());
        samples.push(SeatSample {
            t_s: t0.elapsed().as_secs_f64(),
            free: total(&seats, "free"),
            held: total(&seats, "held"),
            sold: total(&seats, "sold"),
            choosing,
        });
    }
    samples
}

/// Seats that two of the sale's orders in Redis name.
async fn double_sold_in(redis: &fred::clients::Client, sale: &str) -> Result<u64> {
    use fred::interfaces::HashesInterface as _;
    let orders: HashMap<String, String> = redis.hgetall(format!("hg:{{{sale}}}:orders")).await?;
    let mut seen = HashSet::new();
    let mut twice = 0;
    for order in orders.values() {
        let order: Value = serde_json::from_str(order)?;
        for seat in order["seats"].as_array().into_iter().flatten() {
            if !seen.insert(seat.as_str().unwrap_or_default().to_owned()) {
                twice += 1;
            }
        }
    }
    Ok(twice)
}
