//! `herd`: simulate a flash-sale crowd against herdgate and report what happened.
//!
//! `herd local` starts everything on this machine (redis-server, the origin, the edge worker
//! under workerd) and runs the crowd against it; `herd run` runs it against a deployment you
//! already have.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use herdgate_herd::bots::BotMix;
use herdgate_herd::plan::{Arrival, HerdConfig};
use herdgate_herd::report::{self, Holds, Report};
use herdgate_herd::{run, svg};
use herdgate_testkit::{cpu, Localstripe, Stack};

#[derive(Parser)]
#[command(
    name = "herd",
    about = "A flash-sale crowd against herdgate, with a report and plots"
)]
enum Cli {
    /// Start redis-server, the origin and the edge worker locally, then run the crowd.
    Local {
        #[command(flatten)]
        sim: SimArgs,
        /// Base proof-of-work difficulty of the local edge (bits); the crowd solves every
        /// challenge natively, and people then wait as long as a browser would need.
        #[arg(long, default_value_t = 8)]
        pow_bits: u8,
        /// The most the local edge's adaptive difficulty asks for (bits). The herd's bots
        /// solve natively on this machine, so a high ceiling costs the herd's own CPU.
        #[arg(long, default_value_t = 20)]
        pow_max_bits: u8,
        /// Bot defences of the local edge and origin: `all`, `none`, or a comma list of
        /// `pow` (adaptive difficulty), `binding` (tokens bound to the client), `limits`
        /// (joins per device and network), `audit` (cancel flagged orders during the sale).
        #[arg(long, default_value = "all", value_parser = Defences::parse)]
        defences: Defences,
        /// Seconds to keep the local stack up after the run, so the operator's console
        /// (printed at the start) can still be looked at; Ctrl-C ends it sooner.
        #[arg(long, default_value_t = 0)]
        linger_secs: u64,
        #[command(flatten)]
        regions: RegionArgs,
    },
    /// A ticket launch: start the local stack, load a venue's seat map, and send a crowd that
    /// chooses seats (admission by concurrency, holds that lapse, seats sold again).
    Seats(SeatsArgs),
    /// Run the crowd against an existing deployment.
    Run {
        #[command(flatten)]
        sim: SimArgs,
        /// The edge's base URL.
        #[arg(long)]
        edge: String,
        /// The origin's base URL.
        #[arg(long)]
        origin: String,
        /// The origin's admin token.
        #[arg(long, env = "HERD_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
}

#[derive(clap::Args, Clone)]
struct SimArgs {
    /// Honest buyers.
    #[arg(long, default_value_t = 100_000)]
    buyers: usize,
    /// Items on sale.
    #[arg(long, default_value_t = 1_000)]
    items: u64,
    /// Admissions per second.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Arrival: burst[:MS] (default: everyone within 1 s), ramp:MS, before-start:MS (the sale
    /// opens after MS; the crowd arrives in its first two thirds), prequeue:MS[:WINDOW_MS]
    /// (as before-start, with a pre-queue open from the herd's start and a draw window of
    /// WINDOW_MS after the start). Given twice, the last wins (scripts/demo.sh gives one).
    #[arg(long, default_value = "burst:1000", value_parser = Arrival::parse, overrides_with = "arrival")]
    arrival: Arrival,
    /// The sale id to create.
    #[arg(long, default_value = "launch")]
    sale: String,
    /// Bots that join without proof-of-work.
    #[arg(long, default_value_t = 20)]
    bots_flood: usize,
    /// Bots that buy with forged passes.
    #[arg(long, default_value_t = 20)]
    bots_forged: usize,
    /// Bots that share one pass with other clients.
    #[arg(long, default_value_t = 10)]
    bots_share: usize,
    /// Bots that join many times from one client.
    #[arg(long, default_value_t = 10)]
    bots_multi_join: usize,
    /// Bots that go straight to the purchase endpoint.
    #[arg(long, default_value_t = 20)]
    bots_skip: usize,
    /// Bots in a farm behind one IP prefix.
    #[arg(long, default_value_t = 0)]
    bots_farm: usize,
    /// Native fast solvers that arrive the moment the sale opens.
    #[arg(long, default_value_t = 0)]
    bots_fast: usize,
    /// Run the origin's audit (cancelling flagged orders) every this many ms during the sale
    /// (`herd local` sets it from --defences; 0 = never).
    #[arg(long, default_value_t = 0)]
    audit_every_ms: u64,
    /// The audit's machine-speed threshold, ms from admission to purchase on the edge's
    /// clock (default: the origin's, 300).
    #[arg(long)]
    audit_fast_ms: Option<u64>,
    /// Every bot arrives the moment the sale opens, instead of arriving like the crowd.
    #[arg(long)]
    bots_at_opening: bool,
    /// Card holds: the sale has a price and every honest buyer puts a card on hold right
    /// after joining (`herd local` serves localstripe for it; see README "Card holds").
    #[arg(long)]
    preauth: bool,
    /// Splits the sale's stock over this many stock shards (2 to 16; see the README, "Stock
    /// shards"). With `herd local` they share its one Redis.
    #[arg(long)]
    stock_shards: Option<u32>,
    /// HTTP requests in flight at once.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Stop waiting for buyers after this many seconds.
    #[arg(long, default_value_t = 1_200)]
    deadline_secs: u64,
    /// Where to write report.json and the plots.
    #[arg(long, default_value = "results/latest")]
    out: PathBuf,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// A sale sold in several regions (README, "Regions").
#[derive(clap::Args, Clone)]
struct RegionArgs {
    /// Sell in this many regions (2 or 3: eu, us, ap), each with its own redis-server and
    /// origin and an equal share of the items, behind one edge that sends each buyer to their
    /// region, with `herdgate-rebalancer` between them. The audit is off (it is per region).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    regions: u8,
    /// Each region's share of the buyers, in percent, in order (eu, us, ap).
    #[arg(long, value_delimiter = ',', default_value = "60,30,10")]
    region_demand: Vec<u32>,
    /// Partition the second region (kill its Redis) this many seconds after the sale opens…
    #[arg(long, default_value_t = 3.0)]
    partition_after_secs: f64,
    /// …for this many seconds, then restart it; 0: no partition.
    #[arg(long, default_value_t = 5.0)]
    partition_secs: f64,
    /// The rebalancer's rounds, ms apart.
    #[arg(long, default_value_t = 500)]
    rebalance_every_ms: u64,
    /// The stock a region needs: what it sells in this many seconds at its pace.
    #[arg(long, default_value_t = 5)]
    rebalance_horizon_secs: u64,
}

#[derive(clap::Args, Clone)]
struct SeatsArgs {
    /// People in the crowd.
    #[arg(long, default_value_t = 50_000)]
    people: usize,
    /// Sections of the venue (the first --front-sections are the front tier).
    #[arg(long, default_value_t = 10)]
    sections: usize,
    /// Rows per section.
    #[arg(long, default_value_t = 50)]
    rows: usize,
    /// Seats per row.
    #[arg(long, default_value_t = 40)]
    per_row: usize,
    /// Sections in the front tier.
    #[arg(long, default_value_t = 3)]
    front_sections: usize,
    /// Percent of the people who want the front tier.
    #[arg(long, default_value_t = 70)]
    front_pct: u32,
    /// The most people choosing seats at once (admission by concurrency).
    #[arg(long, default_value_t = 2_000)]
    choosers: u32,
    /// Seconds an admitted person counts as choosing before they hold.
    #[arg(long, default_value_t = 60)]
    choose_secs: u64,
    /// Seconds a hold lasts.
    #[arg(long, default_value_t = 30)]
    hold_secs: u64,
    /// Percent of the people who hold seats and walk away.
    #[arg(long, default_value_t = 10)]
    lapse_pct: u32,
    /// The longest a person thinks before buying the seats they hold, ms.
    #[arg(long, default_value_t = 3_000)]
    think_ms: u64,
    /// People admitted per second at most.
    #[arg(long, default_value_t = 1_000)]
    rate: u32,
    /// The crowd arrives spread over this many ms after the opening.
    #[arg(long, default_value_t = 20_000)]
    arrival_ms: u64,
    /// The sale id to create.
    #[arg(long, default_value = "tour")]
    sale: String,
    /// HTTP requests in flight at once.
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Stop waiting for people after this many seconds.
    #[arg(long, default_value_t = 1_200)]
    deadline_secs: u64,
    /// Where to write report.json and seats.svg.
    #[arg(long, default_value = "results/latest-seats")]
    out: PathBuf,
}

impl SimArgs {
    fn config(&self, edge: String, origin: String, admin_token: String) -> HerdConfig {
        HerdConfig {
            edge,
            origin,
            admin_token,
            sale: self.sale.clone(),
            buyers: self.buyers,
            items: self.items,
            rate: self.rate,
            arrival: self.arrival,
            bots: BotMix {
                flood: self.bots_flood,
                forged: self.bots_forged,
                share: self.bots_share,
                multi_join: self.bots_multi_join,
                skip: self.bots_skip,
                farm: self.bots_farm,
                fast: self.bots_fast,
            },
            connections: self.connections,
            deadline: Duration::from_secs(self.deadline_secs),
            audit_every: (self.audit_every_ms > 0)
                .then(|| Duration::from_millis(self.audit_every_ms)),
            audit_fast_ms: self.audit_fast_ms,
            bots_at_opening: self.bots_at_opening,
            preauth: self.preauth,
            stock_shards: self.stock_shards,
            regions: Vec::new(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    match Cli::parse() {
        Cli::Local {
            sim,
            pow_bits,
            pow_max_bits,
            defences,
            linger_secs,
            regions,
        } => {
            if regions.regions > 1 {
                return local_regions(sim, pow_bits, pow_max_bits, defences, regions, command)
                    .await;
            }
            let origin_bin = std::env::current_exe()?
                .parent()
                .context("no directory")?
                .join("herdgate-origin");
            let localstripe = match sim.preauth {
                true => Some(
                    Localstripe::start()
                        .await
                        .context("starting localstripe (scripts/setup.sh installs it)")?,
                ),
                false => None,
            };
            let mut builder = Stack::with_origin_binary(origin_bin).vars(edge_vars(
                pow_bits,
                pow_max_bits,
                defences,
            ));
            if let Some(ls) = &localstripe {
                // localstripe has no rate limit; Stripe's default is 100 calls/s per account.
                builder = builder.localstripe(ls).var("HOLD_RELEASE_RATE", "400");
            }
            // The origin samples the edge's numbers every second: the console shows the line.
            let stack = builder.edge_numbers(1_000).start().await?;
            eprintln!(
                "redis-server {} · origin {} · edge {} (workerd)",
                stack.redis.url(),
                stack.origin.url(),
                stack.edge.url()
            );
            let token_file = console_token_file(&stack.keys.admin_token)?;
            eprintln!(
                "operator's console: {}/admin/ (sign in with the admin token in {}, removed at the end)",
                stack.origin.url(),
                token_file.path().display()
            );
            let mut cfg = sim.config(
                stack.edge.url().to_owned(),
                stack.origin.url(),
                stack.keys.admin_token.clone(),
            );
            if defences.audit && cfg.audit_every.is_none() {
                cfg.audit_every = Some(Duration::from_millis(1_000));
            }
            if !defences.audit {
                cfg.audit_every = None;
            }
            let pids = (
                stack.redis.pid().unwrap_or(0),
                stack.origin.pid().unwrap_or(0),
                stack.edge.pgid(),
            );
            let before = cpu_now(pids.0, pids.1, pids.2);
            let run = finish(cfg, &sim, command, localstripe.as_ref(), |report| {
                let now = cpu_now(pids.0, pids.1, pids.2);
                let names = ["redis-server", "origin", report::EDGE_CPU, "herd"];
                for (i, name) in names.iter().enumerate() {
                    report
                        .cpu_seconds
                        .insert((*name).to_owned(), now[i] - before[i]);
                }
            });
            // On Ctrl-C or SIGTERM, return: leaving this scope stops redis-server, the origin
            // and the edge (by PID and process group) as a normal end does.
            let result = tokio::select! {
                result = run => result,
                _ = interrupted() => {
                    eprintln!("herd: interrupted; stopping what it started");
                    return Ok(());
                }
            };
            if linger_secs > 0 {
                eprintln!(
                    "keeping the stack up {linger_secs} s for the console ({}/admin/); Ctrl-C ends it",
                    stack.origin.url()
                );
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(linger_secs)) => {}
                    _ = interrupted() => {}
                }
            }
            drop(token_file);
            result
        }
        Cli::Seats(args) => seats(args, command).await,
        Cli::Run {
            sim,
            edge,
            origin,
            admin_token,
        } => {
            let cfg = sim.config(edge, origin, admin_token);
            finish(cfg, &sim, command, None, |_| {}).await
        }
    }
}

/// `herd local --regions N`: N regions, the rebalancer and one edge on this machine, the
/// crowd, a partition of the second region, and the regions' books (see `regions.rs`). Fails
/// (after writing the report) if a promise was broken.
async fn local_regions(
    sim: SimArgs,
    pow_bits: u8,
    pow_max_bits: u8,
    defences: Defences,
    args: RegionArgs,
    command: String,
) -> Result<()> {
    use herdgate_herd::regions::{self, RegionalStack};
    let dir = std::env::current_exe()?
        .parent()
        .context("no directory")?
        .to_owned();
    let vars = edge_vars(pow_bits, pow_max_bits, defences);
    if sim.stock_shards.is_some_and(|n| n > 1) {
        anyhow::bail!("--regions with --stock-shards is not supported: each region has one place");
    }
    let mut stack = RegionalStack::start(
        usize::from(args.regions),
        &dir.join("herdgate-origin"),
        vars,
    )
    .await?;
    for r in &stack.regions {
        eprintln!(
            "region {}: redis-server {} · origin {}",
            r.name,
            r.redis.url(),
            r.origin.url()
        );
    }
    eprintln!("edge {} (workerd), REGIONS over them", stack.edge.url());
    std::fs::create_dir_all(&sim.out).with_context(|| format!("creating {}", sim.out.display()))?;
    let herd_regions = stack.herd_regions(sim.items, &args.region_demand);
    let mut cfg = sim.config(
        stack.edge.url().to_owned(),
        herd_regions[0].origin.clone(),
        stack.keys.admin_token.clone(),
    );
    cfg.regions = herd_regions.clone();
    cfg.audit_every = None;
    stack.balance(
        &dir.join("herdgate-rebalancer"),
        &sim.sale,
        args.rebalance_every_ms,
        args.rebalance_horizon_secs,
        &sim.out.join("rebalancer.log"),
    )?;
    let partition = (args.partition_secs > 0.0).then(|| {
        (
            sim.arrival.sale_opens_after() + Duration::from_secs_f64(args.partition_after_secs),
            Duration::from_secs_f64(args.partition_secs),
        )
    });
    // Every transfer cut off by the partition is finished by the next rounds: time for three.
    let settle = Duration::from_millis(3 * args.rebalance_every_ms.max(200));
    let (outcome, books) = tokio::select! {
        ran = regions::run(&mut stack, cfg, partition, settle, !sim.quiet) => ran?,
        _ = interrupted() => {
            eprintln!("herd: interrupted; stopping what it started");
            return Ok(());
        }
    };
    let mut report = Report::new(&outcome, command);
    println!("{}", report.summary());
    print!("{}", books.summary());
    let broken = books.broken();
    report.regions = Some(books);
    write_report(&report, &sim)?;
    if !broken.is_empty() {
        anyhow::bail!("promises broken: {}", broken.join("; "));
    }
    Ok(())
}

/// `herd seats`: the local stack (no bot defences but the proof of work; the crowd is
/// honest), the seated sale and its crowd.
async fn seats(args: SeatsArgs, command: String) -> Result<()> {
    let origin_bin = std::env::current_exe()?
        .parent()
        .context("no directory")?
        .join("herdgate-origin");
    let stack = Stack::with_origin_binary(origin_bin)
        .vars(serde_json::json!({
            "POW_BITS": "8",
            "POLL_MIN_MS": "500",
            "POLL_MAX_MS": "5000",
            "POW_ADAPTIVE": "off",
            "JOINS_PER_DEVICE": "0",
            "JOINS_PER_NETWORK": "0",
        }))
        .start()
        .await?;
    eprintln!(
        "redis-server {} · origin {} · edge {} (workerd)",
        stack.redis.url(),
        stack.origin.url(),
        stack.edge.url()
    );
    let cfg = herdgate_herd::seats::SeatsConfig {
        edge: stack.edge.url().to_owned(),
        origin: stack.origin.url(),
        admin_token: stack.keys.admin_token.clone(),
        sale: args.sale.clone(),
        people: args.people,
        venue: herdgate_herd::seats::Venue {
            sections: args.sections,
            rows: args.rows,
            per_row: args.per_row,
            front: args.front_sections,
        },
        choosers: args.choosers,
        choose_secs: args.choose_secs,
        hold_secs: args.hold_secs,
        lapse_pct: args.lapse_pct,
        front_pct: args.front_pct,
        rate: args.rate,
        arrival: Duration::from_millis(args.arrival_ms),
        think: Duration::from_millis(args.think_ms),
        connections: args.connections,
        deadline: Duration::from_secs(args.deadline_secs),
    };
    let redis = stack.redis.client().await?;
    let run = herdgate_herd::seats::run(cfg, command, Some(redis));
    let report = tokio::select! {
        report = run => report?,
        _ = interrupted() => {
            eprintln!("herd: interrupted; stopping what it started");
            return Ok(());
        }
    };
    print!("{}", report.text());
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(args.out.join("seats.svg"), report.plot())?;
    println!(
        "report: {0}/report.json · plot: {0}/seats.svg",
        args.out.display()
    );
    Ok(())
}

/// The local stack's admin token in a file only this user can read (deleted when dropped), for
/// the console's login: never printed.
fn console_token_file(token: &str) -> Result<tempfile::NamedTempFile> {
    use std::io::Write as _;
    let mut file = tempfile::Builder::new()
        .prefix("herdgate-admin-token-")
        .tempfile()
        .context("writing the admin token's file")?;
    // `tempfile` creates it with mode 600.
    writeln!(file, "{token}")?;
    Ok(file)
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Which bot defences `herd local` turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Defences {
    pow: bool,
    binding: bool,
    limits: bool,
    audit: bool,
}

impl Defences {
    fn parse(s: &str) -> Result<Self, String> {
        let mut d = Defences {
            pow: false,
            binding: false,
            limits: false,
            audit: false,
        };
        match s {
            "all" => {
                return Ok(Defences {
                    pow: true,
                    binding: true,
                    limits: true,
                    audit: true,
                })
            }
            "none" => return Ok(d),
            _ => {}
        }
        for part in s.split(',') {
            match part.trim() {
                "pow" => d.pow = true,
                "binding" => d.binding = true,
                "limits" => d.limits = true,
                "audit" => d.audit = true,
                other => {
                    return Err(format!(
                        "unknown defence {other:?}: all, none, or pow,binding,limits,audit"
                    ))
                }
            }
        }
        Ok(d)
    }
}

/// The local edge's settings for `herd local`: the proof of work and the bot defences.
fn edge_vars(pow_bits: u8, pow_max_bits: u8, defences: Defences) -> serde_json::Value {
    serde_json::json!({
        "POW_BITS": pow_bits.to_string(),
        "POLL_MIN_MS": "500",
        "POLL_MAX_MS": "5000",
        "POW_ADAPTIVE": on_off(defences.pow),
        "POW_MAX_BITS": pow_max_bits.to_string(),
        "BIND_CLIENT": on_off(defences.binding),
        "JOINS_PER_DEVICE": if defences.limits { "2" } else { "0" },
        "JOINS_PER_NETWORK": if defences.limits { "100" } else { "0" },
    })
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

async fn finish(
    cfg: HerdConfig,
    sim: &SimArgs,
    command: String,
    localstripe: Option<&Localstripe>,
    annotate: impl FnOnce(&mut Report),
) -> Result<()> {
    let report = report_run(cfg, sim, command, localstripe, annotate).await?;
    println!("{}", report.summary());
    write_report(&report, sim)
}

/// Runs the crowd and makes its report, `annotate`d as soon as the crowd is done (then the
/// card holds counted at `localstripe`, if any).
async fn report_run(
    cfg: HerdConfig,
    sim: &SimArgs,
    command: String,
    localstripe: Option<&Localstripe>,
    annotate: impl FnOnce(&mut Report),
) -> Result<Report> {
    let storage_url = format!(
        "{}/admin/v1/sales/{}/storage",
        cfg.edge.trim_end_matches('/'),
        cfg.sale
    );
    let token = cfg.admin_token.clone();
    let outcome = run::run(cfg, !sim.quiet).await?;
    let mut report = Report::new(&outcome, command);
    annotate(&mut report);
    report.edge_storage = edge_storage(&storage_url, &token).await;
    if let Some(ls) = localstripe {
        report.holds = Some(count_holds(ls).await?);
    }
    Ok(report)
}

/// Writes `report.json` and the plots into `--out`.
fn write_report(report: &Report, sim: &SimArgs) -> Result<()> {
    std::fs::create_dir_all(&sim.out).with_context(|| format!("creating {}", sim.out.display()))?;
    std::fs::write(
        sim.out.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    for (name, body) in svg::plots(report) {
        std::fs::write(sim.out.join(name), body)?;
    }
    println!(
        "report: {}/report.json · plots: {0}/admissions.svg, {0}/stock.svg, {0}/latency.svg",
        sim.out.display()
    );
    Ok(())
}

/// What the sale's objects store, if the edge's storage route answers with this token.
async fn edge_storage(url: &str, token: &str) -> Option<herdgate_herd::report::EdgeStorage> {
    let reply = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    if !reply.status().is_success() {
        return None;
    }
    reply.json().await.ok()
}

/// Counts the holds at localstripe, waiting (at most 10 minutes) until the queue shards have
/// released every hold that did not buy.
async fn count_holds(ls: &Localstripe) -> Result<Holds> {
    let start = std::time::Instant::now();
    loop {
        let census = ls.census().await?;
        let n = |k: &str| census.get(k).copied().unwrap_or(0);
        let held = n("requires_capture");
        let waited = start.elapsed();
        if held == 0 || waited > Duration::from_secs(600) {
            return Ok(Holds {
                created: census.values().sum(),
                captured: n("succeeded"),
                released: n("canceled"),
                held,
                all_released_after_s: (held == 0).then_some(waited.as_secs_f64()),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// CPU seconds (user + system) so far of redis, the origin, the edge's process group and this
/// process, from /proc.
fn cpu_now(redis: u32, origin: u32, edge_group: u32) -> [f64; 4] {
    [
        cpu::process_seconds(redis),
        cpu::process_seconds(origin),
        cpu::group_seconds(edge_group),
        cpu::process_seconds(std::process::id()),
    ]
}
