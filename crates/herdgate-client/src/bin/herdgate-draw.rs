//! `herdgate-draw`: check a sale's pre-queue draw from what was published.
//!
//! ```text
//! herdgate-draw fetch  --edge https://shop.example --sale drop-1 > draw.json
//! herdgate-draw verify --edge https://shop.example --sale drop-1 [--visitor ID --place N] [--commitment HEX]
//! herdgate-draw verify --file draw.json [--visitor ID --place N]
//! ```
//!
//! `verify` recomputes the draw from the record (see `herdgate_core::draw`): the revealed seed
//! against the commitment published before the pre-queue opened, every shard's entries against
//! its hash chain, and every place from the seed and the entries. With `--visitor` (the id the
//! join answered) it also finds that buyer's entry, and with `--place` checks that the place
//! they were told is the one the draw gives; with `--commitment`, that the record is the one
//! committed to before the close (as the buyer saw it). Exit status: 0 the record holds, 1 it
//! does not, 2 it could not be read.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use herdgate_core::draw::{entry_digest, DrawRecord};

#[derive(Parser)]
#[command(
    name = "herdgate-draw",
    version,
    about = "Check a herdgate sale's pre-queue draw"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download the whole published record as JSON (to keep, or to check later).
    Fetch {
        #[command(flatten)]
        source: Source,
    },
    /// Check the record, and optionally one buyer's entry in it.
    Verify {
        #[command(flatten)]
        source: Source,
        /// A buyer's visitor id (from their join): find their entry.
        #[arg(long)]
        visitor: Option<String>,
        /// The place that buyer was told (0-based, as the status says): check it.
        #[arg(long, requires = "visitor")]
        place: Option<u64>,
        /// The commitment the buyer saw before the close (their page, or the sale's state):
        /// check that the record is the one committed to then.
        #[arg(long)]
        commitment: Option<String>,
    },
}

#[derive(clap::Args)]
struct Source {
    /// The edge's base URL.
    #[arg(long, requires = "sale", conflicts_with = "file")]
    edge: Option<String>,
    /// The sale id.
    #[arg(long)]
    sale: Option<String>,
    /// A record saved by `fetch`.
    #[arg(long)]
    file: Option<std::path::PathBuf>,
}

fn load(source: &Source) -> anyhow::Result<DrawRecord> {
    match (&source.file, &source.edge, &source.sale) {
        (Some(file), _, _) => {
            let text = std::fs::read_to_string(file)?;
            Ok(serde_json::from_str(&text)?)
        }
        (None, Some(edge), Some(sale)) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?;
            runtime.block_on(herdgate_client::draw::fetch(&http, edge, sale))
        }
        _ => anyhow::bail!("give --file, or --edge and --sale"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (source, visitor, place, committed) = match &cli.command {
        Command::Fetch { source } => (source, None, None, None),
        Command::Verify {
            source,
            visitor,
            place,
            commitment,
        } => (source, visitor.as_deref(), *place, commitment.as_deref()),
    };
    let record = match load(source) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("herdgate-draw: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Command::Fetch { .. } = cli.command {
        return match serde_json::to_string_pretty(&record) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("herdgate-draw: {e}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(seen) = committed {
        if !seen.eq_ignore_ascii_case(&record.commitment) {
            println!(
                "FAILED: the record commits to {}, not to the {seen} seen before the close",
                record.commitment
            );
            return ExitCode::from(1);
        }
    }
    let verified = match record.verify() {
        Ok(v) => v,
        Err(e) => {
            println!("FAILED: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "ok: the seed matches the commitment {}; {} entries over {} shards hash to their heads \
         (root {}); every place is the one the draw gives, each once",
        record.commitment,
        verified.entries,
        record.shards.len(),
        verified.root
    );
    if let Some(visitor) = visitor {
        let digest = entry_digest(visitor);
        match record.find(&digest) {
            None => {
                println!("FAILED: no entry {digest} for visitor {visitor} in the draw");
                return ExitCode::from(1);
            }
            Some((shard, index, drawn)) => {
                let drawn = drawn.unwrap_or(u64::MAX);
                println!(
                    "ok: entry {digest} is entry {index} of shard {shard}, drawn place {drawn}"
                );
                if let Some(told) = place.filter(|told| *told != drawn) {
                    println!("FAILED: the buyer was told place {told}; the draw gives {drawn}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    ExitCode::SUCCESS
}
