//! `herdgate-bench`: benchmarks that measure herdgate against a baseline in the same run, and
//! write their figures into BENCHMARKS.md with the command that produced them.
//!
//! - `herdgate-bench origin`: the origin's purchase and sold-out paths over HTTP against
//!   `redis-benchmark` running `EVALSHA` of the same Lua script.
//! - `herdgate-bench edge`: the Rust worker's status poll against a trivial JavaScript worker
//!   under the same workerd, and the CPU cost of one pass verification.
//! - `herdgate-bench edge-cost`: the edge's CPU per request of each kind on the buyer's path
//!   (challenge, join, status, purchase), and what its join-limiter calls add.
//! - `herdgate-bench capture`: a winner's purchase that captures a card hold against the same
//!   purchase without one.
//! - `herdgate-bench bots`: the same crowd against the local stack with each bot defence off,
//!   alone and all on, bots arriving with the crowd and at the opening (runs `herd local`).
//! - `herdgate-bench preauth`: the same crowd without and with card holds (runs `herd local`).
//! - `herdgate-bench seats`: seat holds in herdgate's Lua against PostgreSQL (`FOR UPDATE
//!   NOWAIT`, a version column, a naive read-then-write, `SKIP LOCKED`), one run each.
//! - `herdgate-bench shards`: one hot sale on one Redis Cluster primary against the same sale
//!   over three stock shards: purchases per second and Redis CPU per purchase.
//! - `herdgate-bench faults`: a crowd against the local stack while one piece fails (`kill -9`
//!   of Redis or the origin, the origin frozen, the edge restarted), with what was lost, doubled,
//!   oversold or locked out, and how long the recovery took (runs herd's `faults` module).
//!
//! Each prints its figures and, with `--write BENCHMARKS.md`, replaces its sections of that
//! file: the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`. The
//! markers must already be there; they are checked before anything is measured.
//!
//! # Layout
//!
//! - `main.rs`: the command line, one subcommand per benchmark.
//! - `origin.rs`, `edge.rs`, `cost.rs`, `capture.rs`, `shards.rs`: benchmarks this process drives itself: it starts the
//!   servers and sends the requests.
//! - `bots.rs`, `preauth.rs`: benchmarks made of `herd local` runs, one per configuration; they
//!   render their tables from each run's `report.json`.
//! - `faults.rs`: one stack per fault, struck in the middle of a crowd by herd's library
//!   (`herdgate_herd::faults`), which a run of the `herd` binary could not do.
//! - `load.rs`: the closed-loop HTTP load generator and the admin call that creates a sale.
//! - `herd.rs`: running `herd local` and reading figures from its report.
//! - `procs.rs`: the release binaries next to this one.
//! - `sections.rs`: the one writer of BENCHMARKS.md's sections.

mod bots;
mod capture;
mod cost;
mod edge;
mod faults;
mod herd;
mod load;
mod origin;
mod preauth;
mod procs;
mod seats;
mod sections;
mod shards;

use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "herdgate-bench",
    about = "herdgate benchmarks against same-run baselines"
)]
enum Cli {
    /// Origin purchase and sold-out paths against redis-benchmark EVALSHA of the same script.
    Origin(origin::OriginArgs),
    /// The Rust worker's status poll against a trivial JavaScript worker under the same
    /// workerd, and the CPU cost of one pass verification.
    Edge(edge::EdgeArgs),
    /// The edge's CPU per request of each kind on the buyer's path, and what its
    /// join-limiter calls add.
    EdgeCost(cost::CostArgs),
    /// A winner's purchase that captures a card hold (localstripe) against the same purchase
    /// without one.
    Capture(capture::CaptureArgs),
    /// The bot-defence tables: `herd local` with each defence off, alone and all on, bots
    /// arriving with the crowd and at the opening.
    Bots(bots::BotsArgs),
    /// The card-hold table: `herd local` without and with `--preauth`.
    Preauth(preauth::PreauthArgs),
    /// The fault table: a crowd against the local stack while Redis or the origin is killed,
    /// the origin frozen or the edge restarted, and what each fault cost.
    Faults(faults::FaultsArgs),
    /// Seat holds: herdgate's Lua against PostgreSQL with NOWAIT, a version column, a naive
    /// read-then-write, and SKIP LOCKED for best available.
    Seats(seats::SeatsArgs),
    /// One hot sale on one Redis Cluster primary against the same sale over three stock
    /// shards: purchases per second and Redis CPU per purchase.
    Shards(shards::ShardsArgs),
}

impl Cli {
    /// The markdown file to write, and the sections this benchmark writes into it.
    fn sections(&self) -> (Option<&std::path::Path>, &'static [&'static str]) {
        match self {
            Cli::Origin(a) => (a.write.as_deref(), &["origin"]),
            Cli::Edge(a) => (a.write.as_deref(), &["edge"]),
            Cli::EdgeCost(a) => (a.write.as_deref(), &["edge-cost"]),
            Cli::Capture(a) => (a.write.as_deref(), &["capture"]),
            Cli::Bots(a) => (a.write.as_deref(), &bots::SECTIONS),
            Cli::Preauth(a) => (a.write.as_deref(), &["preauth"]),
            Cli::Faults(a) => (a.write.as_deref(), &["faults"]),
            Cli::Seats(a) => (a.write.as_deref(), &["seats"]),
            Cli::Shards(a) => (a.write.as_deref(), &["shards"]),
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let (Some(path), names) = cli.sections() {
        sections::check(path, names)?;
    }
    match cli {
        Cli::Origin(args) => origin::run(args).await,
        Cli::Edge(args) => edge::run(args).await,
        Cli::EdgeCost(args) => cost::run(args).await,
        Cli::Capture(args) => capture::run(args).await,
        Cli::Bots(args) => bots::run(args).await,
        Cli::Preauth(args) => preauth::run(args).await,
        Cli::Faults(args) => faults::run(args).await,
        Cli::Seats(args) => seats::run(args).await,
        Cli::Shards(args) => shards::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::Cli;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_crowd_benchmarks_default_to_the_scripts_crowd_and_folders() {
        let Ok(Cli::Bots(bots)) = Cli::try_parse_from(["herdgate-bench", "bots"]) else {
            panic!("bots parses");
        };
        assert_eq!((bots.crowd.buyers, bots.crowd.items), (2_000, 200));
        assert_eq!(bots.results, std::path::Path::new("results/bots"));
        let Ok(Cli::Preauth(preauth)) = Cli::try_parse_from([
            "herdgate-bench",
            "preauth",
            "--buyers",
            "500",
            "--items",
            "50",
        ]) else {
            panic!("preauth parses");
        };
        assert_eq!((preauth.crowd.buyers, preauth.crowd.items), (500, 50));
        assert_eq!(preauth.results, std::path::Path::new("results/preauth"));
    }
}
