//! `herdgate-bench`: benchmarks that measure herdgate against a baseline in the same run, and
//! write their figures into BENCHMARKS.md with the command that produced them.
//!
//! - `herdgate-bench origin`: the origin's purchase and sold-out paths over HTTP against
//!   `redis-benchmark` running `EVALSHA` of the same Lua script.
//! - `herdgate-bench edge`: the Rust worker's status poll against a trivial JavaScript worker
//!   under the same workerd, and the CPU cost of one pass verification.
//! - `herdgate-bench capture`: a winner's purchase that captures a card hold against the same
//!   purchase without one.
//!
//! Each prints its figures and, with `--write BENCHMARKS.md`, replaces its sections of that
//! file: the text between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`. The
//! markers must already be there; they are checked before anything is measured.
//!
//! # Layout
//!
//! - `main.rs`: the command line, one subcommand per benchmark.
//! - `origin.rs`, `edge.rs`, `capture.rs`: benchmarks this process drives itself: it starts the
//!   servers and sends the requests.
//! - `load.rs`: the closed-loop HTTP load generator and the admin call that creates a sale.
//! - `procs.rs`: the release binaries next to this one, and CPU seconds from /proc.
//! - `sections.rs`: the one writer of BENCHMARKS.md's sections.

mod capture;
mod edge;
mod load;
mod origin;
mod procs;
mod sections;

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
    /// A winner's purchase that captures a card hold (localstripe) against the same purchase
    /// without one.
    Capture(capture::CaptureArgs),
}

impl Cli {
    /// The markdown file to write, and the sections this benchmark writes into it.
    fn sections(&self) -> (Option<&std::path::Path>, &'static [&'static str]) {
        match self {
            Cli::Origin(a) => (a.write.as_deref(), &["origin"]),
            Cli::Edge(a) => (a.write.as_deref(), &["edge"]),
            Cli::Capture(a) => (a.write.as_deref(), &["capture"]),
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
        Cli::Capture(args) => capture::run(args).await,
    }
}
