//! `herdgate-bench edge`: the Rust worker's status poll against a trivial JavaScript worker,
//! and the poll that issues a pass with its proof of possession against the same poll without.
//!
//! The workers are served under workerd (the same build), and the load generator polls each in
//! interleaved rounds, so drift on the machine hits all runs alike; it also times one pass
//! verification and one proof verification natively.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _, Result};
use herdgate_core::proof::ProofKey;
use herdgate_core::{SaleId, VisitorId};
use herdgate_testkit::{now_ms, EdgeClient, Identity, Stack};

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
    /// Rounds of the four interleaved runs.
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
async fn join_tickets(buyer: &EdgeClient, sale: &str, n: usize) -> Result<Tickets> {
    let mut tickets = Tickets::default();
    for i in 0..n {
        if i % 50 == 49 {
            eprintln!("joined {i}");
        }
        // A device of its own for every ticket, as a crowd has: each proof's key is new to
        // the edge as often as it would be.
        let device = buyer.as_identity(Identity::new(UA));
        tickets
            .tokens
            .push(device.solve_and_join(sale, None).await?.ticket);
        let key = device
            .identity()
            .key
            .clone()
            .context("a device without a key")?;
        tickets.keys.push(key);
    }
    Ok(tickets)
}

/// Queue tickets and the keys of the devices that hold them.
#[derive(Default)]
struct Tickets {
    tokens: Vec<String>,
    keys: Vec<Arc<ProofKey>>,
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
    // The trivial worker again, verifying each poll's proof signature with the runtime's
    // own WebCrypto: where else the edge could verify.
    let webcrypto = herdgate_testkit::EdgeWorker::start_script(
        &herdgate_testkit::repo_root().join("crates/herdgate-bench/webcrypto-worker.mjs"),
    )
    .await?;
    let webcrypto_addr = url_addr(webcrypto.url())?;
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
    // The same deployment with `BIND_CLIENT = "off"`: it checks no proof, so its admitted
    // poll is the same poll without one, side by side with the one that verifies it.
    let mut unbound_vars = stack.edge_bindings.clone();
    unbound_vars["BIND_CLIENT"] = "off".into();
    let unbound = herdgate_testkit::EdgeWorker::start(&unbound_vars).await?;
    let unbound_addr = url_addr(unbound.url())?;
    // And with `EDGE_COUNTERS = "off"`: the queued poll without the edge's own counting,
    // side by side with the one that counts.
    let mut uncounted_vars = stack.edge_bindings.clone();
    uncounted_vars["EDGE_COUNTERS"] = "off".into();
    let uncounted = herdgate_testkit::EdgeWorker::start(&uncounted_vars).await?;
    let uncounted_addr = url_addr(uncounted.url())?;
    let key = Arc::clone(&admitted.keys[0]);

    // A poll with a proof carries one made for it: the request's address (as the load
    // generator sends it, `Host` included), its ticket and the time. The generator signs one
    // per ticket and uses it again until it is 10 s old (the edge keeps no record of proofs
    // it saw, so it verifies every one in full), which keeps its own signing out of the
    // measurement whatever a run's length.
    let spec = |addr: SocketAddr, path: &str, tickets: &Tickets, requests: usize, prove: bool| {
        let htu = format!("http://{addr}{path}");
        let proof: Option<Arc<dyn Fn(usize) -> String + Send + Sync>> = if prove {
            let (keys, tokens) = (tickets.keys.clone(), tickets.tokens.clone());
            let made: Vec<Mutex<Option<(String, Instant)>>> =
                tokens.iter().map(|_| Mutex::new(None)).collect();
            Some(Arc::new(move |i: usize| {
                let mut slot = made[i].lock().unwrap_or_else(PoisonError::into_inner);
                match &*slot {
                    Some((proof, at)) if at.elapsed() < Duration::from_secs(10) => proof.clone(),
                    _ => {
                        let now_s = now_ms() / 1000;
                        let jti = format!("bench-{i}-{now_s}");
                        let proof = keys[i].prove("GET", &htu, now_s, Some(&tokens[i]), &jti);
                        *slot = Some((proof.clone(), Instant::now()));
                        proof
                    }
                }
            }))
        } else {
            None
        };
        Arc::new(LoadSpec {
            method: hyper::Method::GET,
            path: path.to_owned(),
            credentials: tickets
                .tokens
                .iter()
                .map(|t| (t.clone(), Some(UA.to_owned())))
                .collect(),
            proof,
            requests,
            want: 200,
        })
    };
    let (n, c) = (args.requests, args.concurrency);
    let warm = n.min(3_000);
    let queued_path = "/api/v1/sales/queued/status";
    let admitted_path = "/api/v1/sales/admitted/status";
    struct Phase<'a> {
        name: &'static str,
        addr: SocketAddr,
        path: &'static str,
        tickets: &'a Tickets,
        prove: bool,
    }
    let phase = |name, addr, path, tickets, prove| Phase {
        name,
        addr,
        path,
        tickets,
        prove,
    };
    let measured = [
        phase("trivial worker", trivial_addr, queued_path, &queued, false),
        phase("queued polls", edge_addr, queued_path, &queued, true),
        phase(
            "admitted polls with proofs",
            edge_addr,
            admitted_path,
            &admitted,
            true,
        ),
        phase(
            "admitted polls without proofs",
            unbound_addr,
            admitted_path,
            &admitted,
            false,
        ),
        phase(
            "trivial worker verifying with WebCrypto",
            webcrypto_addr,
            admitted_path,
            &admitted,
            true,
        ),
        phase(
            "queued polls, counters off",
            uncounted_addr,
            queued_path,
            &queued,
            true,
        ),
    ];
    // Warm up, then interleave the runs over `rounds` rounds, so that drift on the machine
    // hits all of them alike; the report gives each run's median round.
    for p in &measured {
        load_spec(p.addr, spec(p.addr, p.path, p.tickets, warm, p.prove), c)
            .await
            .with_context(|| format!("warming: {}", p.name))?;
    }
    let mut rounds: Vec<[Run; 6]> = Vec::new();
    // Side by side: the counting and the non-counting worker under the same load at the same
    // moment (half the connections each), each priced by the CPU its own workerd process
    // group spent per request, so drift on the machine hits both alike.
    let (counted_group, uncounted_group) = (stack.edge.pgid(), uncounted.pgid());
    let mut side_by_side: Vec<(f64, f64)> = Vec::new();
    for _ in 0..args.rounds.max(1) {
        let cpu = || {
            (
                herdgate_testkit::cpu::group_seconds(counted_group),
                herdgate_testkit::cpu::group_seconds(uncounted_group),
            )
        };
        let before = cpu();
        let (counted_run, uncounted_run) = tokio::join!(
            load_spec(
                edge_addr,
                spec(edge_addr, queued_path, &queued, n, true),
                (c / 2).max(1)
            ),
            load_spec(
                uncounted_addr,
                spec(uncounted_addr, queued_path, &queued, n, true),
                (c / 2).max(1)
            ),
        );
        let after = cpu();
        let per_request = |seconds: f64, run: &Run| seconds * 1e6 / run.requests.max(1) as f64;
        let (counted_run, uncounted_run) = (
            counted_run.context("side by side, counting")?,
            uncounted_run.context("side by side, not counting")?,
        );
        side_by_side.push((
            per_request(after.0 - before.0, &counted_run),
            per_request(after.1 - before.1, &uncounted_run),
        ));
        let mut round = Vec::new();
        for p in &measured {
            round.push(
                load_spec(p.addr, spec(p.addr, p.path, p.tickets, n, p.prove), c)
                    .await
                    .context(p.name)?,
            );
        }
        let runs: [Run; 6] = round.try_into().map_err(|_| anyhow::anyhow!("6 runs"))?;
        rounds.push(runs);
    }
    let ratios = |num: usize, den: usize| -> Vec<f64> {
        let mut v: Vec<f64> = rounds.iter().map(|r| r[num].rps / r[den].rps).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (queued_ratios, admitted_ratios, unbound_ratios, proof_ratios) =
        (ratios(1, 0), ratios(2, 0), ratios(3, 0), ratios(2, 3));
    // The queued poll that counts against the same poll that does not.
    let counting_ratios = ratios(1, 5);
    // Side by side: what counting adds to a queued poll's CPU, per round, sorted.
    let mut counting_cpu: Vec<f64> = side_by_side
        .iter()
        .map(|(counted, uncounted)| (counted / uncounted - 1.0) * 100.0)
        .collect();
    counting_cpu.sort_by(f64::total_cmp);
    let mut cpu_pairs = side_by_side.clone();
    cpu_pairs.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
    // What verifying adds to a request at saturation, in µs of the machine's time: the
    // difference of the reciprocal throughputs, per round, sorted.
    let added_us = |with: usize, without: usize| -> Vec<f64> {
        let mut v: Vec<f64> = rounds
            .iter()
            .map(|r| (1.0 / r[with].rps - 1.0 / r[without].rps) * 1e6)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (rust_us, webcrypto_us) = (added_us(2, 3), added_us(4, 0));
    let median = |v: &[f64]| v[v.len() / 2];
    // The round whose queued ratio is the median stands for all in the table.
    let mid = rounds
        .iter()
        .position(|r| r[1].rps / r[0].rps == median(&queued_ratios))
        .unwrap_or(0);
    let no_answer: usize = rounds.iter().flatten().map(|r| r.failed).sum();
    let all_requests: usize = rounds.iter().flatten().map(|r| r.requests).sum();
    let [base, poll, adm, adm_unbound, web, uncounted_poll] = rounds.swap_remove(mid);

    // One pass verification and one proof verification, natively (the same code the worker
    // and the origin run).
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
    let htu = format!("http://{edge_addr}{admitted_path}");
    let now_s = now_ms() / 1000;
    let proof = key.prove("GET", &htu, now_s, Some(&pass), "native");
    let ath = herdgate_core::proof::token_hash(&pass);
    let expect = herdgate_core::proof::Expect {
        method: "GET",
        target: herdgate_core::proof::Target::Exact(&htu),
        ath: Some(&ath),
        key: Some(key.thumbprint()),
        now: now_s,
    };
    let proof_rounds = 5_000u32;
    let t = Instant::now();
    for _ in 0..proof_rounds {
        let v = herdgate_core::proof::verify(std::hint::black_box(&proof), &expect);
        ensure!(v.is_ok(), "the proof does not verify");
    }
    let proof_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(proof_rounds);
    let t = Instant::now();
    for i in 0..proof_rounds {
        std::hint::black_box(key.prove("GET", &htu, now_s, Some(&pass), &i.to_string()));
    }
    let sign_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(proof_rounds);

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
            name: "Rust worker: status poll, admitted (verifies the proof, signs a pass)",
            ..adm
        },
        Run {
            name: "Rust worker, `BIND_CLIENT = \"off\"`: status poll, admitted (no proof, signs a pass)",
            ..adm_unbound
        },
        Run {
            name: "trivial JavaScript worker verifying the proof with WebCrypto",
            ..web
        },
        Run {
            name: "Rust worker, `EDGE_COUNTERS = \"off\"`: status poll, queued",
            ..uncounted_poll
        },
    ];
    let mut r = String::new();
    r.push_str(&format!(
        "Command: `scripts/bench-edge.sh` (builds the worker and release binaries, then \
         `target/release/herdgate-bench edge --requests {n} --concurrency {c} --tickets {} --rounds {} --write BENCHMARKS.md`).\n\
         Each worker runs in its own workerd process of the same build (Miniflare 4, \
         `edge-worker/serve-local.mjs`): the trivial worker, the Rust worker, and the Rust worker \
         again with `BIND_CLIENT = \"off\"` and with `EDGE_COUNTERS = \"off\"`; runs take turns, on this machine's {} cores, with the \
         load generator on the same cores. Every poll to the first Rust worker carries a proof \
         (`DPoP`), made before its run, as the page sends one with every poll; the queued poll \
         does not verify it (only a poll that issues a pass does).\n\n",
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
    // Numbers of a list, with `digits` decimals.
    let list = |v: &[f64], digits: usize| {
        v.iter()
            .map(|x| format!("{x:.digits$}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let show = |v: &[f64]| list(v, 2);
    r.push_str(&format!(
        "\nThe table shows the median of {} interleaved rounds (by the queued ratio). Ratios of every \
         round, sorted: queued {} (median {:.2}×); admitted with proofs {} (median {:.2}×); admitted \
         without proofs {} (median {:.2}×).\n",
        queued_ratios.len(),
        show(&queued_ratios),
        median(&queued_ratios),
        show(&admitted_ratios),
        median(&admitted_ratios),
        show(&unbound_ratios),
        median(&unbound_ratios),
    ));
    r.push_str(&format!(
        "\n**The proof's cost**: the admitted poll with proofs against the same poll without, per \
         round, sorted: {} (median {:.2}×; the target is at least 0.7×).\n",
        show(&proof_ratios),
        median(&proof_ratios),
    ));
    r.push_str(&format!(
        "\n**What counting costs** (the edge's own numbers, `counters.rs`): the queued poll \
         against the same poll with `EDGE_COUNTERS = \"off\"`, per round, sorted: {} (median \
         {:.2}×; the target is at least 0.95×).\n",
        show(&counting_ratios),
        median(&counting_ratios),
    ));
    let (mid_counted, mid_uncounted) = cpu_pairs[cpu_pairs.len() / 2];
    r.push_str(&format!(
        "\n**What counting costs, side by side**: in each round the counting and the \
         non-counting worker also served the same queued polls at the same time ({n} requests \
         each, {} connections each), and each workerd process group's CPU time was read before \
         and after (`/proc`). CPU per queued poll in the median round: {mid_counted:.0} µs \
         counting, {mid_uncounted:.0} µs not. What counting adds, per round, sorted: {} % \
         (median {:+.1} %; the target is under 5 %).\n",
        (c / 2).max(1),
        counting_cpu
            .iter()
            .map(|x| format!("{x:+.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        median(&counting_cpu),
    ));
    let show_us = |v: &[f64]| list(v, 0);
    r.push_str(&format!(
        "\n**What a proof adds** to a request at saturation (the difference of the reciprocal \
         throughputs, µs of this machine's time per request, per round, sorted): in the Rust \
         worker (the proof parsed and its claims checked in wasm, its signature by WebCrypto, \
         a key imported once per isolate) {} (median {:.0} µs); the signature alone by WebCrypto \
         in a JavaScript worker (key import and verify on every request) {} (median {:.0} µs).\n",
        show_us(&rust_us),
        median(&rust_us),
        show_us(&webcrypto_us),
        median(&webcrypto_us),
    ));
    r.push_str(&format!(
        "\nOver all rounds, {no_answer} of {all_requests} requests got no answer (workerd reset \
         the connection; the load generator counts them, reconnects and goes on).\n"
    ));
    r.push_str(&format!(
        "\nNative x86-64 release build: pass verification (parse, HMAC-SHA256 in constant time, \
         claims, window) {verify_ns:.0} ns per pass ({rounds} rounds); proof verification with the \
         portable `p256` crate (`herdgate_core::proof::verify`; the worker verifies with WebCrypto \
         and the origin with `ring` instead) {proof_us:.1} µs per proof, and signing one with \
         `ring`, as `herdgate-client` does (what the herd pays per request) {sign_us:.1} µs \
         ({proof_rounds} rounds each).\n"
    ));
    sections::publish(args.write.as_deref(), "edge", &r)
}
