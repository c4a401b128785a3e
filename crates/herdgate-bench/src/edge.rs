//! `herdgate-bench edge`: the Rust worker's status poll against a trivial JavaScript worker.
//!
//! Both workers are served under workerd (the same build), and the load generator polls each in
//! interleaved rounds, so drift on the machine hits all runs alike; it also times one pass
//! verification natively.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use herdgate_core::{SaleId, VisitorId};
use herdgate_testkit::{now_ms, EdgeClient, Stack};

use crate::load::{create_sale_at, load_spec, LoadSpec, Run};
use crate::procs::sibling_binary;
use crate::sections;

/// Options of `herdgate-bench edge`.
#[derive(clap::Args)]
pub struct EdgeArgs {
    /// Status polls per measured run.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Connections open at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Queue tickets the polls cycle through.
    #[arg(long, default_value_t = 200)]
    pub tickets: usize,
    /// Rounds of the three interleaved runs.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Write the results into this markdown file's edge section.
    #[arg(long)]
    pub write: Option<PathBuf>,
}

/// The User-Agent of every edge request: the worker binds a ticket to the client that joined,
/// User-Agent included, so the polls must send the one the joins sent.
const UA: &str = "herdgate-bench/1";

/// Joins `n` visitors to `sale` through the edge (challenge, native proof-of-work, join) as
/// one client, and returns their tickets.
async fn join_tickets(buyer: &EdgeClient, sale: &str, n: usize) -> Result<Vec<String>> {
    let mut tickets = Vec::with_capacity(n);
    for i in 0..n {
        if i % 50 == 49 {
            eprintln!("joined {i}");
        }
        tickets.push(buyer.solve_and_join(sale, None).await?.ticket);
    }
    Ok(tickets)
}

/// The socket address of an `http://host:port` URL.
fn url_addr(url: &str) -> Result<SocketAddr> {
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    hostport
        .parse()
        .with_context(|| format!("not host:port: {url}"))
}

/// Runs the benchmark, prints its report and writes it if asked.
pub async fn run(args: EdgeArgs) -> Result<()> {
    let origin_bin = sibling_binary(None, "herdgate-origin", "herdgate-origin")?;
    let stack = Stack::with_origin_binary(origin_bin)
        .vars(serde_json::json!({
            "POW_BITS": "8",
            // The benchmark joins all its tickets from one client to set up; the status poll
            // it measures touches neither the join limits nor the adaptive difficulty.
            "JOINS_PER_DEVICE": "0",
            "JOINS_PER_NETWORK": "0",
            "POW_ADAPTIVE": "off",
        }))
        .start()
        .await?;
    let (edge, origin, keys) = (&stack.edge, &stack.origin, &stack.keys);
    let trivial = herdgate_testkit::EdgeWorker::start_script(
        &herdgate_testkit::repo_root().join("crates/herdgate-bench/trivial-worker.mjs"),
    )
    .await?;
    let (edge_addr, trivial_addr) = (url_addr(edge.url())?, url_addr(trivial.url())?);
    eprintln!(
        "rust worker {}, trivial worker {}, origin {}",
        edge.url(),
        trivial.url(),
        origin.url()
    );

    // "queued": the sale opens in an hour, so every poll answers "queued" (the hot path:
    // verify the ticket, read the isolate's cached state and control). "admitted": open
    // since a minute at 1000/s, so every poll also signs a pass.
    create_sale_at(
        &origin.url(),
        keys,
        "queued",
        1_000,
        now_ms() + 3_600_000,
        100,
    )
    .await?;
    create_sale_at(
        &origin.url(),
        keys,
        "admitted",
        1_000_000,
        now_ms() - 60_000,
        1_000,
    )
    .await?;
    let buyer = stack.buyer(UA);
    let queued = join_tickets(&buyer, "queued", args.tickets)
        .await
        .context("joining the queued sale")?;
    let admitted = join_tickets(&buyer, "admitted", args.tickets)
        .await
        .context("joining the admitted sale")?;

    let spec = |path: &str, tickets: &[String], requests: usize| {
        Arc::new(LoadSpec {
            method: hyper::Method::GET,
            path: path.to_owned(),
            credentials: tickets
                .iter()
                .map(|t| (t.clone(), Some(UA.to_owned())))
                .collect(),
            requests,
            want: 200,
        })
    };
    let (n, c) = (args.requests, args.concurrency);
    let warm = n.min(3_000);
    let queued_path = "/api/v1/sales/queued/status";
    let admitted_path = "/api/v1/sales/admitted/status";
    let phases = [
        (
            "warming the trivial worker",
            trivial_addr,
            queued_path,
            &queued,
            warm,
        ),
        (
            "warming: queued polls",
            edge_addr,
            queued_path,
            &queued,
            warm,
        ),
        (
            "warming: admitted polls",
            edge_addr,
            admitted_path,
            &admitted,
            warm,
        ),
        ("trivial worker", trivial_addr, queued_path, &queued, n),
        ("queued polls", edge_addr, queued_path, &queued, n),
        ("admitted polls", edge_addr, admitted_path, &admitted, n),
    ];
    // Warm up, then interleave the three runs over `rounds` rounds, so that drift on the
    // machine hits all three alike; the report gives each run's median round.
    for (name, addr, path, tickets, requests) in &phases[..3] {
        load_spec(*addr, spec(path, tickets, *requests), c)
            .await
            .context(*name)?;
    }
    let mut rounds: Vec<[Run; 3]> = Vec::new();
    for _ in 0..args.rounds.max(1) {
        let mut round = Vec::new();
        for (name, addr, path, tickets, requests) in &phases[3..] {
            round.push(
                load_spec(*addr, spec(path, tickets, *requests), c)
                    .await
                    .context(*name)?,
            );
        }
        let [base, poll, adm]: [Run; 3] =
            round.try_into().map_err(|_| anyhow::anyhow!("3 runs"))?;
        rounds.push([base, poll, adm]);
    }
    let ratios = |i: usize| -> Vec<f64> {
        let mut v: Vec<f64> = rounds.iter().map(|r| r[i].rps / r[0].rps).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (queued_ratios, admitted_ratios) = (ratios(1), ratios(2));
    let median = |v: &[f64]| v[v.len() / 2];
    // The round whose queued ratio is the median stands for all in the table.
    let mid = rounds
        .iter()
        .position(|r| r[1].rps / r[0].rps == median(&queued_ratios))
        .unwrap_or(0);
    let no_answer: usize = rounds.iter().flatten().map(|r| r.failed).sum();
    let all_requests: usize = rounds.iter().flatten().map(|r| r.requests).sum();
    let [base, poll, adm] = rounds.swap_remove(mid);

    // One pass verification, natively (the same code the worker and the origin run).
    let sale = SaleId::parse("admitted").context("sale id")?;
    let pass = keys.pass(&sale, &VisitorId::parse("bench").context("visitor id")?);
    let check = herdgate_core::Check {
        sale: &sale,
        now: now_ms() / 1000,
        leeway: 5,
    };
    let rounds = 200_000u32;
    let t = Instant::now();
    for _ in 0..rounds {
        let v = keys
            .keyring
            .verify::<herdgate_core::PassClaims>(std::hint::black_box(&pass), &check);
        ensure!(v.is_ok(), "the pass does not verify");
    }
    let verify_ns = t.elapsed().as_nanos() as f64 / f64::from(rounds);

    let runs = [
        Run {
            name: "trivial JavaScript worker (baseline)",
            ..base
        },
        Run {
            name: "Rust worker: status poll, queued",
            ..poll
        },
        Run {
            name: "Rust worker: status poll, admitted (signs a pass)",
            ..adm
        },
    ];
    let mut r = String::new();
    r.push_str(&format!(
        "Command: `scripts/bench-edge.sh` (builds the worker and release binaries, then \
         `target/release/herdgate-bench edge --requests {n} --concurrency {c} --tickets {} --rounds {} --write BENCHMARKS.md`).\n\
         Each worker runs in its own workerd process of the same build (Miniflare 4, \
         `edge-worker/serve-local.mjs`); runs take turns, on this machine's {} cores, with the load \
         generator on the same cores.\n\n",
        args.tickets,
        args.rounds,
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(0)
    ));
    r.push_str("| run | requests | concurrency | req/s | p50 ms | p99 ms | no answer | ratio |\n|---|---:|---:|---:|---:|---:|---:|---|\n");
    for (i, run) in runs.iter().enumerate() {
        let ratio = if i == 0 {
            "baseline".to_owned()
        } else {
            format!("{:.2}× baseline", run.rps / runs[0].rps)
        };
        r.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {} |\n",
            run.name, run.requests, c, run.rps, run.p50_ms, run.p99_ms, run.failed, ratio
        ));
    }
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    r.push_str(&format!(
        "\nThe table shows the median of {} interleaved rounds (by the queued ratio). Ratios of every \
         round, sorted: queued {} (median {:.2}×); admitted {} (median {:.2}×).\n",
        queued_ratios.len(),
        show(&queued_ratios),
        median(&queued_ratios),
        show(&admitted_ratios),
        median(&admitted_ratios),
    ));
    r.push_str(&format!(
        "\nOver all rounds, {no_answer} of {all_requests} requests got no answer (workerd reset \
         the connection; the load generator counts them, reconnects and goes on).\n"
    ));
    r.push_str(&format!(
        "\nPass verification (parse, HMAC-SHA256 in constant time, claims, window), native x86-64 \
         release build: {verify_ns:.0} ns per pass ({rounds} rounds).\n"
    ));
    sections::publish(args.write.as_deref(), "edge", &r)
}
