//! Runs the crowd: creates the sale, lets buyers and bots arrive, shows progress, samples the
//! stock, and gathers everything the report needs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use herdgate_core::wire::{AdminSaleState, Prequeue, Price, SaleConfig};
use herdgate_core::SaleId;
use herdgate_testkit::client::Devices;
use herdgate_testkit::AdminClient;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use crate::bots::{self, BotOutcome, Strategy};
use crate::buyer::{self, Ending, Journey};
use crate::client::{
    Admitted, Counters, Event, Human, Shared, SimClient, Waited, DESKTOP_HASHES_PER_SEC,
    PEOPLE_THINK_MS, PHONE_HASHES_PER_SEC,
};
use crate::plan::HerdConfig;

/// Requests the origin counted, by route.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct OriginCounts {
    /// `POST /v1/sales/{sale}/purchase`
    pub purchase: f64,
    /// `GET /v1/sales/{sale}` (the edge's state refreshes)
    pub sale_state: f64,
}

/// One stock sample: ms since start, remaining, sold.
pub type StockSample = (u32, u64, u64);

/// Everything a run produced.
pub struct Outcome {
    /// What was run.
    pub config: HerdConfig,
    /// How long it took.
    pub duration: Duration,
    /// When the sale opened, ms since start.
    pub sale_opened_at_ms: u32,
    /// Every honest buyer's journey.
    pub honest: Vec<Journey>,
    /// Every bot client's outcome.
    pub bots: Vec<(Strategy, BotOutcome)>,
    /// Every request the crowd made.
    pub events: Vec<Event>,
    /// Every admission the crowd saw.
    pub admissions: Vec<Admitted>,
    /// Every "queued" answer the crowd got.
    pub waits: Vec<Waited>,
    /// When the herd started, unix ms (to place the edge's stamps on the herd's time line).
    pub t0_unix_ms: u64,
    /// Stock over time.
    pub stock: Vec<StockSample>,
    /// The edge's admission frontier over time: (ms since start, places admitted).
    pub frontier: Vec<(u32, u64)>,
    /// The published draw, checked after the run (a sale with a pre-queue).
    pub draw: Option<DrawCheck>,
    /// The origin's request counters during the run.
    pub origin: OriginCounts,
    /// The sale at the end, as the origin reports it.
    pub final_state: AdminSaleState,
    /// Orders the audit cancelled during the run.
    pub cancelled: Vec<String>,
    /// Orders the last audit was watching (scored below the flag).
    pub watched: usize,
    /// Every client's device key, by user agent: a client made again for the same person
    /// after the run (the fault suite's) proves with the same key.
    pub devices: Devices,
}

/// The published draw of a sale with a pre-queue, read back from the edge and verified
/// (`herdgate_core::draw::DrawRecord::verify`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DrawCheck {
    /// Entries in the draw.
    pub entries: u64,
    /// Whether every check passed.
    pub verified: bool,
    /// The tally's root, or what failed.
    pub detail: String,
}

/// A well-mixed 64-bit hash of `x` (splitmix64), for stable pseudo-random identities.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Browser languages people send.
const LANGUAGES: [&str; 4] = [
    "en-US,en;q=0.9",
    "de-DE,de;q=0.9,en;q=0.8",
    "fr-FR,fr;q=0.9,en;q=0.7",
    "es-ES,es;q=0.9",
];

/// Device signals of common devices, as the page reports them.
fn device(model: u64, tz: &str) -> serde_json::Value {
    const MODELS: [(&str, u32, &str, u32); 8] = [
        ("390x844x3", 6, "iPhone", 5),
        ("393x873x2.75", 8, "Linux armv8l", 5),
        ("412x915x2.625", 8, "Linux armv8l", 5),
        ("1920x1080x1", 8, "Win32", 0),
        ("1536x864x1.25", 12, "Win32", 0),
        ("1440x900x2", 8, "MacIntel", 0),
        ("1512x982x2", 10, "MacIntel", 0),
        ("2560x1440x1", 16, "Linux x86_64", 0),
    ];
    let (screen, cores, platform, touch) = MODELS[(model % MODELS.len() as u64) as usize];
    json!({"screen": screen, "tz": tz, "cores": cores, "langs": "en-US,en",
           "platform": platform, "touch": touch})
}

/// Honest buyer `i`: a person on a home or mobile network of their own (a pseudo-random /24 in
/// 10.0.0.0/8), except a few colleagues who share one office network. 40% are on phones.
pub(crate) fn honest_client(shared: &Shared, i: usize) -> SimClient {
    let h = mix(i as u64);
    let office = i % 50 == 7 && i < 1_500;
    let ip = if office {
        format!("10.200.0.{}", (i / 50) % 250 + 1)
    } else {
        // Avoid the office's 10.200.0.0/24.
        let b = (h >> 8) & 0xff;
        format!(
            "10.{}.{}.{}",
            (h >> 16) & 0xff,
            if b == 0 { 1 } else { b },
            h & 0xff
        )
    };
    let phone = h % 10 < 4;
    let speed = if phone {
        PHONE_HASHES_PER_SEC
    } else {
        DESKTOP_HASHES_PER_SEC
    };
    let tz = [
        "Europe/Berlin",
        "Europe/Paris",
        "America/New_York",
        "Asia/Tokyo",
    ][(h >> 40) as usize % 4];
    SimClient::new(
        shared.clone(),
        format!("herd-buyer/{i} (simulated browser)"),
        ip,
    )
    .with_language(LANGUAGES[(h >> 32) as usize % LANGUAGES.len()])
    .with_device(device(h >> 24, tz))
    .as_human(Human {
        hashes_per_sec: speed,
        think_ms: PEOPLE_THINK_MS,
    })
}

/// Bot client `n` of `strategy`. Farms share one /24 (172.16.9.0/24) and one device; other
/// bots each have a network of their own in 100.64.0.0/10 and made-up device signals.
fn bot_client(shared: &Shared, strategy: Strategy, n: usize) -> SimClient {
    let h = mix(0xb07 ^ n as u64);
    let ua = format!("herd-bot/{n} (simulated)");
    match strategy {
        Strategy::Farm => SimClient::new(shared.clone(), ua, format!("172.16.9.{}", n % 254 + 1))
            .with_language(LANGUAGES[0])
            .with_device(device(3, "UTC")),
        _ => SimClient::new(
            shared.clone(),
            ua,
            format!(
                "100.{}.{}.{}",
                64 + (h >> 16) % 64,
                (h >> 8) & 0xff,
                h & 0xff
            ),
        )
        .with_language(LANGUAGES[0])
        .with_device(device(h >> 24, "UTC")),
    }
}

/// The origins' counts, summed over the regions.
async fn all_counts(places: &[(AdminClient, u64)]) -> Result<OriginCounts> {
    let mut sum = OriginCounts {
        purchase: 0.0,
        sale_state: 0.0,
    };
    for (admin, _) in places {
        let c = origin_counts(admin).await?;
        sum.purchase += c.purchase;
        sum.sale_state += c.sale_state;
    }
    Ok(sum)
}

async fn origin_counts(admin: &AdminClient) -> Result<OriginCounts> {
    // The origin's metrics are the operator's: they need the admin token.
    let text = admin.metrics_text().await?;
    let sum = |route: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("herdgate_http_requests_total") && l.contains(route))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok(OriginCounts {
        purchase: sum("route=\"/v1/sales/{sale}/purchase\""),
        sale_state: sum("route=\"/v1/sales/{sale}\","),
    })
}

/// Reads one count off the crowd's counters.
type Reader = fn(&Counters) -> u64;
type Bars = Vec<(ProgressBar, Reader)>;

fn bars(total: u64) -> (MultiProgress, Bars) {
    let multi = MultiProgress::new();
    let style = ProgressStyle::with_template("{prefix:>9} {bar:40.cyan/blue} {pos:>7}/{len}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let rows: Vec<(&str, Reader)> = vec![
        ("joined", |c| c.joined.load(Ordering::Relaxed)),
        ("waiting", |c| {
            u64::try_from(c.waiting.load(Ordering::Relaxed)).unwrap_or(0)
        }),
        ("admitted", |c| c.admitted.load(Ordering::Relaxed)),
        ("bought", |c| c.bought.load(Ordering::Relaxed)),
        ("sold out", |c| c.sold_out.load(Ordering::Relaxed)),
        ("refused", |c| c.refused.load(Ordering::Relaxed)),
    ];
    let bars = rows
        .into_iter()
        .map(|(name, read)| {
            let bar = multi.add(ProgressBar::new(total));
            bar.set_style(style.clone());
            bar.set_prefix(name);
            (bar, read)
        })
        .collect();
    (multi, bars)
}

/// Runs the herd described by `cfg`. With `progress`, draws progress bars on stderr.
pub async fn run(cfg: HerdConfig, progress: bool) -> Result<Outcome> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.connections)
        .timeout(Duration::from_secs(30))
        .build()?;
    let sale = SaleId::parse(&cfg.sale).context("sale id")?;
    let t0 = Instant::now();
    let t0_unix_ms = herdgate_testkit::now_ms();
    let opens_after = cfg.arrival.sale_opens_after();
    let starts_at_ms = t0_unix_ms + opens_after.as_millis() as u64;
    let admin = AdminClient::new(http.clone(), &cfg.origin, &cfg.admin_token);
    // Each region's origin and allocation; without regions, the one origin with every item.
    let places: Vec<(AdminClient, u64)> = match cfg.regions.is_empty() {
        true => vec![(admin.clone(), cfg.items)],
        false => cfg
            .regions
            .iter()
            .map(|r| {
                let admin = AdminClient::new(http.clone(), &r.origin, &cfg.admin_token);
                (admin, r.items)
            })
            .collect(),
    };
    let sale_config = SaleConfig {
        stock: cfg.items,
        per_visitor_limit: 1,
        starts_at_ms,
        admission_rate: cfg.rate,
        price: cfg.preauth.then(|| Price {
            amount: crate::plan::PREAUTH_PRICE,
            currency: "eur".into(),
        }),
        paused: None,
        prequeue: cfg.arrival.draw_window().map(|window| Prequeue {
            opens_at_ms: t0_unix_ms,
            draw_window_ms: window.as_millis() as u64,
        }),
        stock_shards: cfg.stock_shards,
        countries: Vec::new(),
    };
    for (admin, items) in &places {
        let config = SaleConfig {
            stock: *items,
            ..sale_config.clone()
        };
        admin
            .put_sale(&cfg.sale, &config)
            .await
            .context("creating the sale at the origin")?;
    }
    let before = all_counts(&places).await?;

    let shared = Shared::new(&cfg, http.clone(), t0);

    // Stock over time, from the origin's admin route (so the edge's own traffic to the origin
    // is counted apart).
    let sampling = Arc::new(AtomicBool::new(true));
    // With regions, the sum over them, each region's last reading standing in while it
    // cannot be read (a partition).
    let sampler = {
        let admins: Vec<AdminClient> = places.iter().map(|(a, _)| a.clone()).collect();
        let (sale, sampling) = (cfg.sale.clone(), Arc::clone(&sampling));
        tokio::spawn(async move {
            let mut samples: Vec<StockSample> = Vec::new();
            let mut last: Vec<Option<(u64, u64)>> = vec![None; admins.len()];
            while sampling.load(Ordering::Relaxed) {
                for (admin, slot) in admins.iter().zip(last.iter_mut()) {
                    if let Ok(s) = admin.sale(&sale).await {
                        *slot = Some((s.state.remaining, s.state.sold));
                    }
                }
                if last.iter().all(Option::is_some) {
                    let t = u32::try_from(t0.elapsed().as_millis()).unwrap_or(u32::MAX);
                    let (remaining, sold) = last
                        .iter()
                        .flatten()
                        .fold((0, 0), |(r, s), (r1, s1)| (r + r1, s + s1));
                    samples.push((t, remaining, sold));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            samples
        })
    };

    // The admission frontier as the edge computes it (its own record of who may buy), so the
    // report reads the admission rate the edge kept, apart from when the crowd noticed.
    let frontier_sampler = {
        let (http, url, sampling) = (
            http.clone(),
            format!(
                "{}/api/v1/sales/{}",
                cfg.edge.trim_end_matches('/'),
                cfg.sale
            ),
            Arc::clone(&sampling),
        );
        tokio::spawn(async move {
            let mut samples: Vec<(u32, u64)> = Vec::new();
            while sampling.load(Ordering::Relaxed) {
                let read = async {
                    let body: serde_json::Value =
                        http.get(&url).send().await.ok()?.json().await.ok()?;
                    let admission = &body["admission"];
                    Some((
                        admission["at_ms"].as_u64()?,
                        admission["frontier"].as_u64()?,
                    ))
                };
                if let Some((at_ms, f)) = read.await {
                    // On the edge's clock (this machine's), however long the answer took.
                    let at = at_ms.saturating_sub(t0_unix_ms);
                    samples.push((u32::try_from(at).unwrap_or(u32::MAX), f));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            samples
        })
    };

    let total = (cfg.buyers + cfg.bots.clients()) as u64;
    let drawing = progress.then(|| bars(total));
    let painter = drawing.as_ref().map(|(_, bars)| {
        let bars: Bars = bars.clone();
        let counters = Arc::clone(&shared.counters);
        let sampling = Arc::clone(&sampling);
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                for (bar, read) in &bars {
                    bar.set_position(read(&counters));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });

    // The operator's auditor: cancels flagged orders every `audit_every` while the crowd runs.
    let auditing = cfg.audit_every.map(|every| {
        let (admin, cfg, sampling) = (admin.clone(), cfg.clone(), Arc::clone(&sampling));
        tokio::spawn(async move {
            let mut cancelled = Vec::new();
            let mut watched = 0;
            loop {
                let last = !sampling.load(Ordering::Relaxed);
                if let Ok((flagged, w)) = audit(&admin, &cfg).await {
                    cancelled.extend(flagged);
                    watched = w;
                }
                if last {
                    break;
                }
                tokio::time::sleep(every).await;
            }
            (cancelled, watched)
        })
    });

    let mut honest = Vec::with_capacity(cfg.buyers);
    for i in 0..cfg.buyers {
        let mut client = honest_client(&shared, i);
        if let Some(region) = cfg.region_of(i) {
            client = client.in_country(&region.country, &region.continent);
        }
        client.preauth = cfg.preauth;
        let at = cfg.arrival.offset(i, cfg.buyers, rand::random::<f64>());
        honest.push(tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(t0 + at)).await;
            let journey = buyer::journey(&mut client, true).await;
            (journey, client.events)
        }));
    }
    let mut bot_tasks = Vec::new();
    let mut n = 0usize;
    for strategy in Strategy::ALL {
        for _ in 0..cfg.bots.count(strategy) {
            n += 1;
            let client = bot_client(&shared, strategy, n);
            let shared = shared.clone();
            let sale = sale.clone();
            let at = if cfg.bots_at_opening {
                // Programs waiting for the opening: they all arrive the moment it comes.
                opens_after
            } else {
                // At a random moment of the crowd's window, whatever the bot's strategy.
                cfg.arrival.random_offset(rand::random::<f64>())
            };
            let id = n;
            bot_tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(t0 + at)).await;
                let make =
                    move |k: usize| bot_client(&shared, Strategy::Share, 100_000 + id * 100 + k);
                let (outcome, clients) = bots::run(strategy, client, make, &sale).await;
                let events: Vec<Event> = clients.into_iter().flat_map(|c| c.events).collect();
                (strategy, outcome, events)
            }));
        }
    }

    let deadline = tokio::time::Instant::from_std(t0 + cfg.deadline);
    let mut journeys = Vec::with_capacity(cfg.buyers);
    let mut events = Vec::new();
    for task in honest {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok((journey, evs))) => {
                journeys.push(journey);
                events.extend(evs);
            }
            _ => journeys.push(Journey::ended(Ending::Failed)),
        }
    }
    let mut bots_out = Vec::new();
    for task in bot_tasks {
        if let Ok(Ok((strategy, outcome, evs))) = tokio::time::timeout_at(deadline, task).await {
            bots_out.push((strategy, outcome));
            events.extend(evs);
        }
    }
    let duration = t0.elapsed();
    // One more stock sample after the crowd is done, then stop sampling and drawing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sampling.store(false, Ordering::Relaxed);
    let stock = sampler.await.unwrap_or_default();
    let frontier = frontier_sampler.await.unwrap_or_default();
    let (cancelled, watched) = match auditing {
        Some(task) => task.await.unwrap_or_default(),
        None => (Vec::new(), 0),
    };
    if let Some(p) = painter {
        let _ = p.await;
    }
    if let Some((multi, bars)) = drawing {
        for (bar, read) in &bars {
            bar.set_position(read(&shared.counters));
            bar.finish();
        }
        let _ = multi.clear();
    }
    let after = all_counts(&places).await?;
    // With regions: the first region's settings, with the stock and orders of all.
    let mut final_state = places[0].0.sale(&cfg.sale).await?;
    for (admin, _) in &places[1..] {
        let s = admin.sale(&cfg.sale).await?;
        final_state.state.remaining += s.state.remaining;
        final_state.state.sold += s.state.sold;
        final_state.state.pending += s.state.pending;
        final_state.state.cancelled += s.state.cancelled;
        final_state.config.stock += s.config.stock;
        final_state.orders += s.orders;
        final_state.stream_length += s.stream_length;
    }
    // A sale with a pre-queue: read its published draw back from the edge and check it, as
    // anyone could with `herdgate-draw verify`.
    let draw = match cfg.arrival.draw_window() {
        Some(_) => Some(
            match herdgate_testkit::client::draw::fetch(&http, &cfg.edge, &cfg.sale).await {
                Ok(record) => match record.verify() {
                    Ok(v) => DrawCheck {
                        entries: v.entries,
                        verified: true,
                        detail: format!("root {}", v.root),
                    },
                    Err(e) => DrawCheck {
                        entries: record.tally().total(),
                        verified: false,
                        detail: e.to_string(),
                    },
                },
                Err(e) => DrawCheck {
                    entries: 0,
                    verified: false,
                    detail: format!("could not read the draw: {e:#}"),
                },
            },
        ),
        None => None,
    };
    let waits = std::mem::take(&mut *shared.waits.lock().unwrap_or_else(PoisonError::into_inner));
    let admissions = std::mem::take(
        &mut *shared
            .admissions
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    Ok(Outcome {
        duration,
        sale_opened_at_ms: u32::try_from(opens_after.as_millis()).unwrap_or(u32::MAX),
        honest: journeys,
        bots: bots_out,
        events,
        admissions,
        waits,
        t0_unix_ms,
        stock,
        frontier,
        draw,
        origin: OriginCounts {
            purchase: after.purchase - before.purchase,
            sale_state: after.sale_state - before.sale_state,
        },
        final_state,
        cancelled,
        watched,
        devices: shared.devices.clone(),
        config: cfg,
    })
}

/// Runs the audit once with `apply`, returning the orders it cancelled and how many it watches.
async fn audit(admin: &AdminClient, cfg: &HerdConfig) -> Result<(Vec<String>, usize)> {
    let request = match cfg.audit_fast_ms {
        Some(fast_ms) => json!({"apply": true, "fast_ms": fast_ms}),
        None => json!({"apply": true}),
    };
    let report = admin.audit(&cfg.sale, &request).await?;
    let cancelled = report["audit"]["flagged"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["order_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let watched = report["audit"]["watched"].as_array().map_or(0, Vec::len);
    Ok((cancelled, watched))
}
