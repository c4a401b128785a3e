//! `herdgate-bench edge-cost`: the edge's CPU per request, by kind of request, and what its
//! Durable Object calls add.
//!
//! One edge worker under workerd (with every defence on, as `herd local` runs it) is sent the
//! steps of the buyer's path one kind at a time: `--buyers` challenges, their joins, queued
//! status polls, the polls that bring a pass, and the purchases. Each kind's CPU is the edge
//! process group's CPU time (workerd and its node parent, from /proc) over the requests of
//! that kind alone, sent by `--concurrency` clients at once; the load generator's own work
//! (solving, signing proofs) is done outside the measured phases where it can be. A second
//! edge, with the join limits and the adaptive difficulty off, answers the same challenges and
//! joins without its `JoinLimiter` calls, which puts a price on them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context as _, Result};
use herdgate_core::wire::{ChallengeResponse, QueueStatus};
use herdgate_testkit::cpu::group_seconds;
use herdgate_testkit::{now_ms, solve, EdgeClient, EdgeWorker, Identity, Stack};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::load::create_sale_at;
use crate::procs::sibling_binary;
use crate::sections;

/// Options of `herdgate-bench edge-cost`.
#[derive(clap::Args)]
pub struct CostArgs {
    /// Buyers (one device each) taken through the path.
    #[arg(long, default_value_t = 2_000)]
    pub buyers: usize,
    /// Status polls per buyer in the queued phase.
    #[arg(long, default_value_t = 5)]
    pub polls: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Rounds of the whole path; each kind's figure is its median over the rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Write the results into this markdown file's edge-cost section.
    #[arg(long)]
    pub write: Option<PathBuf>,
}

/// The user agent of every request.
const UA: &str = "herdgate-bench/1 (edge-cost)";

/// One measured phase: requests of one kind and the CPU they cost.
struct Phase {
    name: &'static str,
    requests: usize,
    object_calls: &'static str,
    cpu_s: f64,
    wall_s: f64,
}

impl Phase {
    fn micros(&self) -> f64 {
        self.cpu_s * 1e6 / self.requests.max(1) as f64
    }
}

/// Runs `f` on every item with `c` at once, and measures the edge group's CPU meanwhile.
async fn measure<T, R, F, Fut>(
    group: u32,
    items: Vec<T>,
    c: usize,
    f: F,
) -> Result<(Vec<R>, f64, f64)>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<R>> + Send + 'static,
{
    let f = Arc::new(f);
    let gate = Arc::new(Semaphore::new(c.max(1)));
    let before = group_seconds(group);
    let started = Instant::now();
    let mut set = JoinSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let (f, gate) = (Arc::clone(&f), Arc::clone(&gate));
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            Ok::<_, anyhow::Error>((i, f(item).await?))
        });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        out.push(done??);
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = group_seconds(group) - before;
    out.sort_by_key(|(i, _)| *i);
    Ok((out.into_iter().map(|(_, r)| r).collect(), cpu, wall))
}

/// `n` buyers of one sale, a device each, 50 to a network.
fn buyers(edge: &EdgeClient, n: usize, net: u8) -> Vec<EdgeClient> {
    (0..n)
        .map(|i| {
            // 50 to a /24, within the network limit.
            let ip = format!("10.{net}.{}.{}", i / 50, 1 + i % 50);
            edge.as_identity(Identity::new(UA).with_ip(ip))
        })
        .collect()
}

/// Challenges (measured), solutions (not), joins (measured): the tickets, and the two phases.
async fn challenge_and_join(
    group: u32,
    clients: Vec<EdgeClient>,
    sale: &'static str,
    c: usize,
    calls: [&'static str; 2],
) -> Result<(Vec<(EdgeClient, String, QueueStatus)>, [Phase; 2])> {
    let n = clients.len();
    let (challenged, cpu, wall) =
        measure(group, clients, c, move |client: EdgeClient| async move {
            let challenge: ChallengeResponse = client.challenge(sale, None).await?;
            Ok((client, challenge))
        })
        .await?;
    let challenge = Phase {
        name: "challenge",
        requests: n,
        object_calls: calls[0],
        cpu_s: cpu,
        wall_s: wall,
    };
    let mut solved = Vec::with_capacity(n);
    for (client, ch) in challenged {
        let nonce = solve(&ch).await?;
        solved.push((client, ch.challenge, nonce));
    }
    let (joined, cpu, wall) = measure(
        group,
        solved,
        c,
        move |(client, ch, nonce): (EdgeClient, String, u64)| async move {
            let join = client.join(sale, &ch, nonce).await?;
            Ok((client, join.ticket, join.status))
        },
    )
    .await?;
    let join = Phase {
        name: "join",
        requests: n,
        object_calls: calls[1],
        cpu_s: cpu,
        wall_s: wall,
    };
    Ok((joined, [challenge, join]))
}

/// Runs the benchmark.
pub async fn run(args: CostArgs) -> Result<()> {
    let origin_bin = sibling_binary(None, "herdgate-origin", "herdgate-origin")?;
    // As `herd local` runs the edge: every defence on.
    let vars = json!({
        "POW_BITS": "8",
        "POW_ADAPTIVE": "on",
        "POW_MAX_BITS": "20",
        "BIND_CLIENT": "on",
        "JOINS_PER_DEVICE": "2",
        "JOINS_PER_NETWORK": "100",
    });
    let stack = Stack::with_origin_binary(origin_bin)
        .vars(vars)
        .start()
        .await?;
    let (n, c) = (args.buyers, args.concurrency);
    let keys = &stack.keys;
    let origin = stack.origin.url();
    // "waiting" opens in an hour: joins queue and polls answer queued. "open" opened a minute
    // ago and admits 100,000/s: every join is admitted at once, with a pass.
    create_sale_at(
        &origin,
        keys,
        "waiting",
        1_000_000,
        now_ms() + 3_600_000,
        100,
    )
    .await?;
    create_sale_at(&origin, keys, "open", 1_000_000, now_ms() - 60_000, 100_000).await?;
    let group = stack.edge.pgid();
    let edge = stack.buyer(UA);

    // Warm the isolate (compile, first state reads) outside the measurement.
    let warm = buyers(&edge, 50, 250);
    for client in &warm {
        let _ = client.solve_and_join("waiting", None).await?;
    }

    // The same challenges and joins without the join limits and adaptive difficulty: no
    // JoinLimiter call.
    let mut plain_vars = stack.edge_bindings.clone();
    plain_vars["POW_ADAPTIVE"] = "off".into();
    plain_vars["JOINS_PER_DEVICE"] = "0".into();
    plain_vars["JOINS_PER_NETWORK"] = "0".into();
    let plain = EdgeWorker::start(&plain_vars).await?;
    let plain_edge = EdgeClient::new(reqwest::Client::new(), plain.url(), Identity::new(UA));
    for client in buyers(&plain_edge, 50, 250) {
        let _ = client.solve_and_join("waiting", None).await?;
    }
    let mut rounds = Vec::new();
    for round in 0..args.rounds.max(1) {
        eprintln!("round {} of {}", round + 1, args.rounds.max(1));
        let net = u8::try_from(1 + 3 * round).context("at most 80 rounds")?;
        rounds.push(
            one_round(
                &edge,
                &plain_edge,
                group,
                plain.pgid(),
                n,
                c,
                args.polls,
                net,
            )
            .await?,
        );
    }
    let (phases, plain_phases) = medians(rounds);
    let report = render(&args, &phases, &plain_phases);
    println!("{report}");
    if let Some(path) = &args.write {
        sections::write(path, "edge-cost", &report)?;
    }
    Ok(())
}

/// One pass over the buyer's path with fresh buyers on networks `net`, `net + 1` (and
/// `net + 2` at the edge without limits): the phases, and the two at that edge.
#[allow(clippy::too_many_arguments)]
async fn one_round(
    edge: &EdgeClient,
    plain_edge: &EdgeClient,
    group: u32,
    plain_group: u32,
    n: usize,
    c: usize,
    polls_each: usize,
    net: u8,
) -> Result<(Vec<Phase>, Vec<Phase>)> {
    let mut phases = Vec::new();
    let (waiting, [ch, jn]) = challenge_and_join(
        group,
        buyers(edge, n, net),
        "waiting",
        c,
        [
            "none",
            "JoinLimiter (counts, checks the history), QueueShard (place)",
        ],
    )
    .await?;
    phases.extend([ch, jn]);
    let polls: Vec<(EdgeClient, String)> = waiting
        .iter()
        .flat_map(|(client, ticket, _)| {
            (0..polls_each).map(move |_| (client.clone(), ticket.clone()))
        })
        .collect();
    let (answers, cpu, wall) =
        measure(
            group,
            polls,
            c,
            |(client, ticket): (EdgeClient, String)| async move {
                client.status("waiting", &ticket).await
            },
        )
        .await?;
    ensure!(
        answers
            .iter()
            .all(|s| matches!(s, QueueStatus::Queued { .. })),
        "a poll of the waiting sale was not answered queued"
    );
    phases.push(Phase {
        name: "status, queued",
        requests: answers.len(),
        object_calls: "none (cached state and control)",
        cpu_s: cpu,
        wall_s: wall,
    });

    let (open, _) =
        challenge_and_join(group, buyers(edge, n, net + 1), "open", c, ["", ""]).await?;
    let (answers, cpu, wall) = measure(
        group,
        open,
        c,
        |(client, ticket, _): (EdgeClient, String, QueueStatus)| async move {
            let status = client.status("open", &ticket).await?;
            Ok((client, status))
        },
    )
    .await?;
    phases.push(Phase {
        name: "status, admitted (verifies the proof, signs a pass)",
        requests: answers.len(),
        object_calls: "none",
        cpu_s: cpu,
        wall_s: wall,
    });
    let with_pass: Vec<(EdgeClient, String)> = answers
        .into_iter()
        .map(|(client, status)| match status {
            QueueStatus::Admitted { pass, .. } => Ok((client, pass)),
            other => anyhow::bail!("not admitted on the open sale: {other:?}"),
        })
        .collect::<Result<_>>()?;
    let (bought, cpu, wall) = measure(
        group,
        with_pass,
        c,
        |(client, pass): (EdgeClient, String)| async move {
            client.purchase("open", &pass, &json!({})).await
        },
    )
    .await?;
    phases.push(Phase {
        name: "purchase (forwarded to the origin)",
        requests: bought.len(),
        object_calls: "QueueShard (claims the pass)",
        cpu_s: cpu,
        wall_s: wall,
    });

    let (_, [pch, pjn]) = challenge_and_join(
        plain_group,
        buyers(plain_edge, n, net + 2),
        "waiting",
        c,
        ["none", "QueueShard (place)"],
    )
    .await?;
    let plain_phases = [
        Phase {
            name: "challenge, no limits",
            ..pch
        },
        Phase {
            name: "join, no limits",
            ..pjn
        },
    ];

    Ok((phases, plain_phases.into()))
}

/// Each phase's median over the rounds (by CPU per request).
fn medians(rounds: Vec<(Vec<Phase>, Vec<Phase>)>) -> (Vec<Phase>, Vec<Phase>) {
    fn median(mut of: Vec<Phase>) -> Phase {
        of.sort_by(|a, b| a.micros().total_cmp(&b.micros()));
        of.swap_remove(of.len() / 2)
    }
    fn by_position(lists: Vec<Vec<Phase>>) -> Vec<Phase> {
        let width = lists.iter().map(Vec::len).min().unwrap_or(0);
        let mut columns: Vec<Vec<Phase>> = (0..width).map(|_| Vec::new()).collect();
        for list in lists {
            for (k, phase) in list.into_iter().take(width).enumerate() {
                columns[k].push(phase);
            }
        }
        columns.into_iter().map(median).collect()
    }
    let (main, plain): (Vec<_>, Vec<_>) = rounds.into_iter().unzip();
    (by_position(main), by_position(plain))
}

fn render(args: &CostArgs, phases: &[Phase], plain: &[Phase]) -> String {
    let mut s = format!(
        "Command: `scripts/bench-edge.sh` (`target/release/herdgate-bench edge-cost --buyers {} --polls {} --concurrency {} --rounds {}`). \
         One edge under workerd with every defence on, sent one kind of request at a time by {} clients at once; \
         CPU is the edge's process group (workerd and its node parent) over that kind's requests, from /proc; \
         each figure is the median of {} rounds, each with buyers of its own.\n\n",
        args.buyers, args.polls, args.concurrency, args.rounds, args.concurrency, args.rounds
    );
    s.push_str("| request | requests | Durable Object calls each | edge CPU per request | requests/s |\n|---|---:|---|---:|---:|\n");
    for p in phases.iter().chain(plain) {
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} µs | {:.0} |\n",
            p.name,
            p.requests,
            p.object_calls,
            p.micros(),
            p.requests as f64 / p.wall_s.max(1e-9)
        ));
    }
    if let (Some(jn), [_, pjn]) = (phases.iter().find(|p| p.name == "join"), plain) {
        s.push_str(&format!(
            "\nThe join limiter's call (it counts the join and checks the device's history): {:.0} µs on a join, \
             the difference to the edge without limits.\n",
            jn.micros() - pjn.micros()
        ));
    }
    s
}
