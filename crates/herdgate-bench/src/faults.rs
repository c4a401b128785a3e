//! `herdgate-bench faults`: the fault table. For each fault of [`Fault::ALL`] a fresh local
//! stack (redis-server with the shipped AOF settings, the origin as a process, the edge under
//! workerd with its Durable Objects on disk) takes the same crowd; the fault strikes once a
//! quarter of the stock has sold, the piece comes back after `--down-secs`, and
//! `herdgate_herd::faults` checks the promises from the records afterwards. The reports go to
//! `<results>/report.json`; the table to section `faults`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use herdgate_herd::bots::BotMix;
use herdgate_herd::faults::{self, Fault, FaultPlan, FaultReport};
use herdgate_herd::plan::{Arrival, HerdConfig};

use crate::procs::sibling_binary;
use crate::sections;

/// Options of `herdgate-bench faults`.
#[derive(clap::Args)]
pub struct FaultsArgs {
    /// Honest buyers in each crowd.
    #[arg(long, default_value_t = 3_000)]
    pub buyers: usize,
    /// Items on sale.
    #[arg(long, default_value_t = 600)]
    pub items: u64,
    /// Admissions per second.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,
    /// How long each piece stays dead (or frozen) before it is restarted (or thawed), s.
    #[arg(long, default_value_t = 10)]
    pub down_secs: u64,
    /// The edge's `ORIGIN_TIMEOUT_MS` (the shipped default); the SIGSTOP lasts `--down-secs`,
    /// which must be longer.
    #[arg(long, default_value_t = 5_000)]
    pub origin_timeout_ms: u64,
    /// Only these faults (comma-separated names: redis-kill9, origin-kill9, origin-sigstop,
    /// edge-restart); all by default.
    #[arg(long, value_delimiter = ',', value_parser = Fault::parse)]
    pub only: Vec<Fault>,
    /// The origin binary (default: next to this one).
    #[arg(long)]
    pub origin_bin: Option<PathBuf>,
    /// Where the reports go: `<results>/report.json`.
    #[arg(long, default_value = "results/faults")]
    pub results: PathBuf,
    /// Write the table into this markdown file's faults section.
    #[arg(long)]
    pub write: Option<PathBuf>,
}

/// Runs every fault under its crowd and publishes the table.
pub async fn run(args: FaultsArgs) -> Result<()> {
    anyhow::ensure!(
        args.down_secs * 1000 > args.origin_timeout_ms,
        "--down-secs must be longer than the edge's timeout (--origin-timeout-ms)"
    );
    let origin_bin = sibling_binary(
        args.origin_bin.clone(),
        "herdgate-origin",
        "herdgate-origin",
    )?;
    let which: Vec<Fault> = match args.only.is_empty() {
        true => Fault::ALL.to_vec(),
        false => args.only.clone(),
    };
    let mut reports = Vec::with_capacity(which.len());
    for fault in which {
        eprintln!("bench-faults: {} ({})", fault.name(), fault.describe());
        let mut stack = faults::stack(&origin_bin, args.origin_timeout_ms)
            .start()
            .await?;
        let cfg = HerdConfig {
            edge: stack.edge.url().to_owned(),
            origin: stack.origin.url(),
            admin_token: stack.keys.admin_token.clone(),
            sale: format!("faults-{}", fault.name()),
            buyers: args.buyers,
            items: args.items,
            rate: args.rate,
            // The queue is full when the sale opens, so the fault strikes while people buy.
            arrival: Arrival::BeforeStart { over_ms: 15_000 },
            bots: BotMix::default(),
            connections: 256,
            deadline: Duration::from_secs(600),
            audit_every: None,
            audit_fast_ms: None,
            bots_at_opening: false,
            preauth: false,
            stock_shards: None,
            regions: Vec::new(),
        };
        let plan = FaultPlan {
            fault,
            after_sold: args.items / 4,
            down: Duration::from_secs(args.down_secs),
            recheck_for: Duration::from_secs(45),
        };
        let report = faults::run(&mut stack, cfg, &plan)
            .await
            .with_context(|| format!("fault {}", fault.name()))?;
        eprintln!("{}", report.summary());
        reports.push(report);
    }
    std::fs::create_dir_all(&args.results)
        .with_context(|| format!("creating {}", args.results.display()))?;
    std::fs::write(
        args.results.join("report.json"),
        serde_json::to_string_pretty(&reports)?,
    )?;
    let command = format!(
        "target/release/herdgate-bench faults --buyers {} --items {} --rate {} --down-secs {} \
         --origin-timeout-ms {} --write BENCHMARKS.md",
        args.buyers, args.items, args.rate, args.down_secs, args.origin_timeout_ms
    );
    sections::publish(args.write.as_deref(), "faults", &table(&command, &reports))
}

/// Seconds with one decimal, or a dash.
fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |s| format!("{s:.1} s"))
}

/// The table of the runs, one row per fault, and what the re-check did.
fn table(command: &str, reports: &[FaultReport]) -> String {
    let mut rows = Vec::with_capacity(reports.len());
    let mut notes = Vec::new();
    for r in reports {
        rows.push(format!(
            "| {} | {} buyers, {} items | {} sold, {:.0} s down | {} | {} | {} | {} | {} | {} / {} | {} |",
            r.plan.fault.describe(),
            r.buyers,
            r.items,
            r.sold_at_fault,
            r.plan.down.as_secs_f64(),
            r.lost,
            r.double,
            r.oversold,
            r.locked_out,
            r.withheld,
            secs(r.ready_after_s),
            secs(r.first_sale_after_s),
            r.troubled_answers,
        ));
        let c = &r.recheck;
        notes.push(format!(
            "- {}: {} of {} acknowledged orders in Redis, books {}; {} orders nobody was told of \
             during the crowd; asked again after it: {} without an order ({} bought, {} sold \
             out, {} still queued{}), {} holding one ({} given it).",
            r.plan.fault.name(),
            r.acknowledged - r.lost,
            r.acknowledged,
            if r.books_balance {
                "balance (sold + remaining = stock, one order per item)"
            } else {
                "DO NOT balance"
            },
            r.untold_orders,
            c.asked,
            c.bought,
            c.sold_out,
            c.still_queued,
            match c.restocked {
                0 => String::new(),
                n => format!(", after a restock of {n}"),
            },
            c.holders_asked,
            c.holders_told,
        ));
    }
    format!(
        "Command: `scripts/bench-faults.sh` (`{command}`). Each row is a fresh stack on this \
         machine (redis-server with the shipped `redis/redis.conf`, the origin as a process, \
         the edge under workerd with its Durable Objects on disk) and the same crowd, no bots; \
         reports in `results/faults/report.json`.\n\
         \n\
         | fault | crowd | struck at | lost | double | oversold | locked out | orders withheld | recovery: ready / first sale | 5xx or no answer |\n\
         |---|---|---|---:|---:|---:|---:|---:|---|---:|\n\
         {}\n\
         \n\
         {}",
        rows.join("\n"),
        notes.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use herdgate_herd::faults::Recheck;

    fn report(fault: Fault, first_sale: Option<f64>, restocked: u64) -> FaultReport {
        FaultReport {
            plan: FaultPlan {
                fault,
                after_sold: 150,
                down: Duration::from_secs(10),
                recheck_for: Duration::from_secs(45),
            },
            buyers: 3000,
            items: 600,
            sold_at_fault: 152,
            fault_at_s: 18.0,
            ready_after_s: Some(0.42),
            first_sale_after_s: first_sale,
            troubled_answers: 1234,
            acknowledged: 600,
            lost: 0,
            double: 0,
            oversold: 0,
            books_balance: true,
            locked_out: 0,
            untold_orders: 3,
            withheld: 0,
            recheck: Recheck {
                asked: 7,
                restocked,
                bought: 7,
                holders_asked: 3,
                holders_told: 3,
                ..Recheck::default()
            },
            stock: 600 + restocked,
            sold: 600 + restocked,
            remaining: 0,
            orders: 600 + restocked,
            problems: Vec::new(),
            herd_summary: String::new(),
            duration_s: 60.0,
        }
    }

    #[test]
    fn one_row_per_fault_and_a_note_on_each_recheck() {
        let t = table(
            "herdgate-bench faults",
            &[
                report(Fault::RedisKill9, Some(0.25), 0),
                report(Fault::EdgeRestart, None, 4),
            ],
        );
        assert!(t.starts_with("Command: `scripts/bench-faults.sh` (`herdgate-bench faults`)."));
        assert!(t.contains(
            "| `kill -9` of Redis, restarted from its AOF | 3000 buyers, 600 items | 152 sold, 10 s down | 0 | 0 | 0 | 0 | 0 | 0.4 s / 0.2 s | 1234 |"
        ), "{t}");
        assert!(t.contains("| 0.4 s / – | 1234 |"), "{t}");
        assert!(t.contains(
            "- edge-restart: 600 of 600 acknowledged orders in Redis, books balance (sold + remaining = stock, one order per item); 3 orders nobody was told of during the crowd; asked again after it: 7 without an order (7 bought, 0 sold out, 0 still queued, after a restock of 4), 3 holding one (3 given it)."
        ), "{t}");
    }
}
