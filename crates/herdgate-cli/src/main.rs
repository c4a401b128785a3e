//! `herdgate`: the operator's command line. It drives the origin's admin API (`/admin/v1/`):
//! list sales, create, update, schedule and postpone one, pause and resume its admission or change its
//! rate, run the post-purchase audit (as a dry run, or applied), and write the report after a
//! sale from the origin's records (`report`). It prints tables for
//! people and, with `--json`, the API's own JSON for scripts. A refusal prints the server's
//! sentence and code and exits with status 1, as does a value the command itself refuses (a
//! time it cannot read, a new sale without its stock); a command line that does not parse
//! (a missing argument, an unknown flag) exits with status 2.
//!
//! ```sh
//! export HERDGATE_ADMIN_URL=http://127.0.0.1:8080 HERDGATE_ADMIN_TOKEN=…
//! herdgate sale put launch --stock 1000 --starts-at +10m --rate 500
//! herdgate sale list
//! herdgate sale show launch
//! herdgate sale pause launch
//! herdgate sale rate launch 200
//! herdgate sale postpone launch --to 2026-12-01T10:00:00Z
//! herdgate audit launch --apply
//! herdgate counters launch --edge-url https://shop.example.com
//! herdgate report launch --out reports/launch
//! herdgate completions bash > /etc/bash_completion.d/herdgate
//! ```

mod api;
mod render;
mod report;
mod settings;
mod when;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Args, CommandFactory as _, Parser, Subcommand};
use herdgate_core::wire::{AdminSaleState, ControlRequest, Prequeue, Price, SaleConfig};
use herdgate_core::SaleId;
use serde_json::{json, Value};

use crate::api::Admin;

/// The operator's command line for herdgate sales.
#[derive(Parser)]
#[command(name = "herdgate", version, about, propagate_version = true)]
struct Cli {
    /// The origin's URL; the admin API is under /admin/v1/.
    #[arg(long, env = "HERDGATE_ADMIN_URL", global = true)]
    admin_url: Option<String>,
    /// The admin bearer token. Prefer the environment or the config file: a flag shows in
    /// the process list.
    #[arg(
        long,
        env = "HERDGATE_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    admin_token: Option<String>,
    /// The edge's URL (the worker's), where `counters` reads what the edge counted.
    #[arg(long, env = "HERDGATE_EDGE_URL", global = true)]
    edge_url: Option<String>,
    /// The config file (admin_url, admin_token, edge_url); default
    /// $XDG_CONFIG_HOME/herdgate/config.toml.
    #[arg(long, env = "HERDGATE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A sale's settings and state, and the changes to them.
    #[command(subcommand)]
    Sale(SaleCommand),
    /// Runs the post-purchase audit of a sale: a dry run unless --apply.
    Audit(AuditArgs),
    /// What the edge counted for a sale: requests by route, refusals by code, joins, passes,
    /// purchases forwarded, card holds (needs --edge-url).
    Counters {
        /// The sale id.
        sale: String,
    },
    /// Writes the report of a sale from the origin's records: report.json and report.html
    /// (self-contained, with the timeline's plots) in --out.
    Report {
        /// The sale id.
        sale: String,
        /// The directory to write into (made if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Prints a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum SaleCommand {
    /// Lists every sale: status, stock, rate and start.
    List,
    /// Shows the sale's settings, stock and orders.
    Show {
        /// The sale id.
        sale: String,
    },
    /// Creates the sale, or updates the settings given (the others stay as they are).
    Put(PutArgs),
    /// Moves the sale's start later (and, with a pre-queue, its draw's close with it).
    Postpone {
        /// The sale id.
        sale: String,
        /// The new start, later than the current one: +10m (from now), an RFC 3339 time, or
        /// unix ms.
        #[arg(long)]
        to: String,
    },
    /// Stops admitting; those admitted stay admitted.
    Pause {
        /// The sale id.
        sale: String,
    },
    /// Admits again at the configured rate.
    Resume {
        /// The sale id.
        sale: String,
    },
    /// Admits at a new rate (per second) from now on; 0 pauses and keeps the configured rate.
    Rate {
        /// The sale id.
        sale: String,
        /// Positions admitted per second.
        rate: u32,
    },
}

#[derive(Args)]
struct PutArgs {
    /// The sale id.
    sale: String,
    /// Items on sale in total (sold + remaining); never below what was sold.
    #[arg(long)]
    stock: Option<u64>,
    /// The most items one visitor may buy (default 1 for a new sale).
    #[arg(long)]
    per_visitor: Option<u32>,
    /// When the sale opens: now, +10m, an RFC 3339 time, or unix ms.
    #[arg(long)]
    starts_at: Option<String>,
    /// Buyers admitted from the queue per second.
    #[arg(long)]
    rate: Option<u32>,
    /// The price of one item, for card holds: minor units and currency, `1999:eur`.
    #[arg(long)]
    price: Option<String>,
    /// Opens a pre-queue with a draw at this moment (at or before the start).
    #[arg(long)]
    prequeue_opens: Option<String>,
    /// How long after the start the draw closes (90s, 2m; at most 10m).
    #[arg(long)]
    draw_window: Option<String>,
    /// Splits a new sale's stock over this many stock shards (1 to 16), each on its own
    /// Redis Cluster primary, for one sale hotter than one primary can serve; set once.
    #[arg(long)]
    stock_shards: Option<u32>,
    /// The countries the sale is sold to, ISO codes (`DE,FR,AT`), or `all`: the edge refuses
    /// visitors from elsewhere `not_sold_here` (README, "Regions"). Left out, as it is.
    #[arg(long)]
    countries: Option<String>,
}

#[derive(Args)]
struct AuditArgs {
    /// The sale id.
    sale: String,
    /// Cancel the flagged orders (their items go back on sale).
    #[arg(long)]
    apply: bool,
    /// Flag an order placed faster than this after its admission, ms.
    #[arg(long)]
    fast_ms: Option<u64>,
    /// Flag orders from networks with at least this many orders.
    #[arg(long)]
    network_cluster: Option<usize>,
    /// Flag orders from devices with at least this many orders (at least 2).
    #[arg(long)]
    device_cluster: Option<usize>,
    /// The score from which an order is flagged (at least 1).
    #[arg(long)]
    flag_score: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    if let Command::Completions { shell } = cli.command {
        let mut out = std::io::stdout();
        clap_complete::generate(shell, &mut Cli::command(), "herdgate", &mut out);
        return Ok(());
    }
    let settings = settings::resolve(cli.admin_url, cli.admin_token, cli.edge_url, cli.config)?;
    let admin = Admin::new(&settings.admin_url, &settings.admin_token)?;
    let now = now_ms();
    let json = cli.json;
    match cli.command {
        Command::Completions { .. } => unreachable!("answered above"),
        Command::Sale(SaleCommand::List) => {
            let list = admin.sales().await?;
            if json {
                print_json(&serde_json::to_value(&list)?)
            } else {
                print(&render::sales(&list, now))
            }
        }
        Command::Sale(SaleCommand::Show { sale }) => {
            let state = admin.sale(&sale_id(&sale)?).await?;
            if json {
                print_json(&serde_json::to_value(&state)?)
            } else {
                print(&render::sale(&state, now))
            }
        }
        Command::Sale(SaleCommand::Put(args)) => {
            let sale = sale_id(&args.sale)?;
            let current = match admin.sale(&sale).await {
                Ok(state) => Some(state.config),
                Err(api::Error::Refused { code, .. }) if code == "unknown_sale" => None,
                Err(e) => return Err(e.into()),
            };
            let config = settings_from(&args, current, now)?;
            let answer = admin.put_sale(&sale, &config).await?;
            put_answer(answer, json, now)
        }
        Command::Sale(SaleCommand::Postpone { sale, to }) => {
            let sale = sale_id(&sale)?;
            let mut config = admin.sale(&sale).await?.config;
            let to = when::moment(&to, now).map_err(anyhow::Error::msg)?;
            if to < config.starts_at_ms {
                bail!(
                    "{} is before the sale's start, {}: postpone moves a start later (to bring it \
                     forward, use sale put --starts-at)",
                    when::show(to, now),
                    when::show(config.starts_at_ms, now)
                );
            }
            config.starts_at_ms = to;
            // Left out, the pause stays as the origin has it; the origin refuses a start the
            // pre-queue's opening or its draw's close no longer allows.
            config.paused = None;
            let answer = admin.put_sale(&sale, &config).await?;
            put_answer(answer, json, now)
        }
        Command::Sale(SaleCommand::Pause { sale }) => {
            control(&admin, &sale, ControlRequest::Pause, json, now).await
        }
        Command::Sale(SaleCommand::Resume { sale }) => {
            control(&admin, &sale, ControlRequest::Resume, json, now).await
        }
        Command::Sale(SaleCommand::Rate { sale, rate }) => {
            control(&admin, &sale, ControlRequest::SetRate { rate }, json, now).await
        }
        Command::Counters { sale } => {
            let Some(edge) = &settings.edge_url else {
                bail!("no edge URL: pass --edge-url, set HERDGATE_EDGE_URL, or put edge_url in the config file");
            };
            let counts = admin.counters(edge, &sale_id(&sale)?).await?;
            if json {
                print_json(&serde_json::to_value(&counts)?)
            } else {
                print(&render::counts(&counts))
            }
        }
        Command::Report { sale, out } => {
            let sale = sale_id(&sale)?;
            let state = admin.sale(&sale).await?;
            let timeline = admin.timeline(&sale).await?;
            let audit = admin.audit(&sale, &json!({ "apply": false })).await?;
            let summary = report::summarise(&state, &timeline);
            let r = report::SaleReport {
                generated_at_ms: now,
                summary,
                sale: state,
                audit,
                timeline,
            };
            std::fs::create_dir_all(&out).with_context(|| format!("making {}", out.display()))?;
            let (json_path, html_path) = (out.join("report.json"), out.join("report.html"));
            std::fs::write(&json_path, serde_json::to_vec_pretty(&r)?)
                .with_context(|| format!("writing {}", json_path.display()))?;
            std::fs::write(&html_path, report::html(&r))
                .with_context(|| format!("writing {}", html_path.display()))?;
            if json {
                print_json(&serde_json::to_value(&r.summary)?)
            } else {
                print(&format!(
                    "{}: {} sold, {} left, {} orders, {} samples\nwrote {} and {}",
                    sale,
                    r.summary.sold,
                    r.summary.remaining,
                    r.summary.orders,
                    r.summary.samples,
                    json_path.display(),
                    html_path.display()
                ))
            }
        }
        Command::Audit(args) => {
            let sale = sale_id(&args.sale)?;
            let mut request = json!({ "apply": args.apply });
            let fields = [
                ("fast_ms", args.fast_ms.map(|v| json!(v))),
                ("network_cluster", args.network_cluster.map(|v| json!(v))),
                ("device_cluster", args.device_cluster.map(|v| json!(v))),
                ("flag_score", args.flag_score.map(|v| json!(v))),
            ];
            for (key, value) in fields {
                if let Some(value) = value {
                    request[key] = value;
                }
            }
            if json {
                print_json(&admin.audit(&sale, &request).await?)
            } else {
                print(admin.audit_text(&sale, &request).await?.trim_end())
            }
        }
    }
}

/// The settings to put: the current ones (if the sale exists) with what the command gives.
fn settings_from(args: &PutArgs, current: Option<SaleConfig>, now: u64) -> Result<SaleConfig> {
    let moment = |t: &str| when::moment(t, now).map_err(anyhow::Error::msg);
    let starts_at = args.starts_at.as_deref().map(moment).transpose()?;
    let price = args.price.as_deref().map(price).transpose()?;
    let mut config = match current {
        Some(config) => config,
        None => {
            let (Some(stock), Some(starts_at_ms), Some(admission_rate)) =
                (args.stock, starts_at, args.rate)
            else {
                bail!("a new sale needs --stock, --starts-at and --rate");
            };
            SaleConfig {
                stock,
                per_visitor_limit: 1,
                starts_at_ms,
                admission_rate,
                price: None,
                paused: None,
                prequeue: None,
                stock_shards: None,
                countries: Vec::new(),
            }
        }
    };
    if let Some(stock) = args.stock {
        config.stock = stock;
    }
    if let Some(n) = args.per_visitor {
        config.per_visitor_limit = n;
    }
    if let Some(at) = starts_at {
        config.starts_at_ms = at;
    }
    if let Some(rate) = args.rate {
        config.admission_rate = rate;
    }
    if price.is_some() {
        config.price = price;
    }
    // Left out, `paused` stays as the origin has it.
    config.paused = None;
    if args.stock_shards.is_some() {
        config.stock_shards = args.stock_shards;
    }
    if let Some(list) = &args.countries {
        config.countries = match list.trim() {
            "all" => Vec::new(),
            list => list
                .split(',')
                .map(|c| c.trim().to_ascii_uppercase())
                .filter(|c| !c.is_empty())
                .collect(),
        };
        if let Some(bad) = config
            .countries
            .iter()
            .find(|c| !herdgate_core::region::valid_country(c))
        {
            bail!("--countries: {bad:?} is not a two-letter country code (such as DE)");
        }
    }
    if args.prequeue_opens.is_some() || args.draw_window.is_some() {
        // Once open, a pre-queue stays: one is added only when asked for by its opening.
        if config.prequeue.is_none() && args.prequeue_opens.is_none() {
            bail!("a sale without a pre-queue gets one with --prequeue-opens (and --draw-window)");
        }
        let mut prequeue = config.prequeue.unwrap_or(Prequeue {
            opens_at_ms: now,
            draw_window_ms: 0,
        });
        if let Some(opens) = &args.prequeue_opens {
            prequeue.opens_at_ms = moment(opens)?;
        }
        if let Some(window) = &args.draw_window {
            prequeue.draw_window_ms = when::span(window).map_err(anyhow::Error::msg)?;
        }
        config.prequeue = Some(prequeue);
    }
    Ok(config)
}

/// `1999:eur` as a price.
fn price(text: &str) -> Result<Price> {
    let Some((amount, currency)) = text.split_once(':') else {
        bail!("{text}: a price is minor units and currency, like 1999:eur");
    };
    let amount = amount
        .trim()
        .parse()
        .with_context(|| format!("{text}: the amount is not a whole number of minor units"))?;
    Ok(Price {
        amount,
        currency: currency.trim().to_ascii_lowercase(),
    })
}

async fn control(
    admin: &Admin,
    sale: &str,
    request: ControlRequest,
    json: bool,
    now: u64,
) -> Result<()> {
    let sale = sale_id(sale)?;
    let answer = admin.control(&sale, &request).await?;
    changed(admin, &sale, answer, json, now).await
}

/// Prints what a `PUT` of the sale answered (the sale as it now stands): its JSON, or a table.
fn put_answer(answer: Value, json: bool, now: u64) -> Result<()> {
    if json {
        return print_json(&answer);
    }
    let state: AdminSaleState = serde_json::from_value(answer)
        .context("the change was made, but its answer could not be read")?;
    print(&render::sale(&state, now))
}

/// Prints what a control change answered: its JSON, or the sale as it now stands (read again:
/// the answer is the public state).
async fn changed(admin: &Admin, sale: &SaleId, answer: Value, json: bool, now: u64) -> Result<()> {
    if json {
        return print_json(&answer);
    }
    let state = admin.sale(sale).await?;
    print(&render::sale(&state, now))
}

fn sale_id(text: &str) -> Result<SaleId> {
    SaleId::parse(text).map_err(|e| anyhow::anyhow!("{text}: not a sale id ({e})"))
}

fn print_json(value: &Value) -> Result<()> {
    print(&serde_json::to_string_pretty(value)?)
}

/// Prints `text` and a newline; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(extra: &[&str]) -> PutArgs {
        let mut argv = vec!["herdgate", "sale", "put", "launch"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Sale(SaleCommand::Put(args)) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_new_sale_needs_its_stock_start_and_rate() {
        let e = settings_from(&put(&["--stock", "10"]), None, 1_000).unwrap_err();
        assert!(e.to_string().contains("--starts-at"), "{e}");
        let c = settings_from(
            &put(&["--stock", "10", "--starts-at", "+1m", "--rate", "5"]),
            None,
            1_000,
        )
        .unwrap();
        assert_eq!((c.stock, c.starts_at_ms, c.admission_rate), (10, 61_000, 5));
        assert_eq!(c.per_visitor_limit, 1);
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let current = SaleConfig {
            stock: 100,
            per_visitor_limit: 2,
            starts_at_ms: 5_000,
            admission_rate: 50,
            price: Some(Price {
                amount: 1999,
                currency: "eur".into(),
            }),
            paused: Some(true),
            prequeue: None,
            stock_shards: None,
            countries: Vec::new(),
        };
        let c = settings_from(&put(&["--rate", "80"]), Some(current.clone()), 1_000).unwrap();
        assert_eq!(c.admission_rate, 80);
        assert_eq!(
            (c.stock, c.per_visitor_limit, c.starts_at_ms),
            (100, 2, 5_000)
        );
        assert_eq!(c.price, current.price);
        assert_eq!(
            c.paused, None,
            "left out, the pause stays as the origin has it"
        );
        let geo = settings_from(
            &put(&["--countries", "de, fr"]),
            Some(current.clone()),
            1_000,
        );
        assert_eq!(geo.unwrap().countries, ["DE", "FR"]);
        let everywhere = SaleConfig {
            countries: vec!["DE".into()],
            ..current.clone()
        };
        let all = settings_from(
            &put(&["--countries", "all"]),
            Some(everywhere.clone()),
            1_000,
        );
        assert!(all.unwrap().countries.is_empty());
        let kept = settings_from(&put(&["--rate", "5"]), Some(everywhere), 1_000);
        assert_eq!(kept.unwrap().countries, ["DE"], "left out, as it is");
        assert!(settings_from(&put(&["--countries", "Germany"]), None, 1_000).is_err());
        let e = settings_from(&put(&["--draw-window", "5s"]), Some(current.clone()), 1_000);
        assert!(e.is_err(), "a draw window alone made a pre-queue");
        let c = settings_from(
            &put(&["--prequeue-opens", "now", "--draw-window", "5s"]),
            Some(current),
            1_000,
        )
        .unwrap();
        assert_eq!(
            c.prequeue,
            Some(Prequeue {
                opens_at_ms: 1_000,
                draw_window_ms: 5_000
            })
        );
    }

    #[test]
    fn prices_are_minor_units_and_a_currency() {
        let p = price("1999:EUR").unwrap();
        assert_eq!((p.amount, p.currency.as_str()), (1999, "eur"));
        assert!(price("19.99:eur").is_err());
        assert!(price("1999").is_err());
    }
}
