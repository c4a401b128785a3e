//! Faults under a small crowd, through the whole local stack (redis-server with the shipped
//! AOF settings, the origin as a process of its own, the edge under workerd with its Durable
//! Objects on disk): `kill -9` of Redis, `kill -9` of the origin, the origin frozen with
//! SIGSTOP past the edge's timeout, and the edge restarted. Each strikes once a quarter of the
//! stock has sold and the piece comes back after ten seconds (longer than the crowd's own
//! retries last, so some buyers give up and must be able to buy later); afterwards the records say
//! whether a promise broke (see `herdgate_herd::faults`): no acknowledged order lost, no visitor
//! with two orders, nothing oversold, the books balanced, nobody left locked out, every buyer
//! who holds an order given it on asking again. Nothing here
//! is timed: the recovery times are in the summary (and in BENCHMARKS.md, from
//! `scripts/bench-faults.sh`).

use std::time::Duration;

use herdgate_herd::bots::BotMix;
use herdgate_herd::faults::{self, Fault, FaultPlan};
use herdgate_herd::plan::{Arrival, HerdConfig};

use crate::support::alone;

const BUYERS: usize = 200;
const ITEMS: u64 = 100;
/// 100 items at 20/s: five seconds of admission, so the fault strikes while people buy.
const RATE: u32 = 20;
/// The edge gives up on the origin after this long; the SIGSTOP lasts longer.
const ORIGIN_TIMEOUT_MS: u64 = 1_500;

async fn under_a_crowd(fault: Fault) {
    let mut stack = faults::stack(env!("CARGO_BIN_EXE_e2e-origin"), ORIGIN_TIMEOUT_MS)
        .start()
        .await
        .unwrap();
    let cfg = HerdConfig {
        edge: stack.edge.url().to_owned(),
        origin: stack.origin.url(),
        admin_token: stack.keys.admin_token.clone(),
        sale: format!("fault-{}", fault.name()),
        buyers: BUYERS,
        items: ITEMS,
        rate: RATE,
        // Everyone is in line when the sale opens, so the sale is still selling when it strikes.
        arrival: Arrival::BeforeStart { over_ms: 4_000 },
        bots: BotMix::default(),
        connections: 64,
        deadline: Duration::from_secs(90),
        audit_every: None,
        audit_fast_ms: None,
        bots_at_opening: false,
        preauth: false,
        stock_shards: None,
        regions: Vec::new(),
    };
    let plan = FaultPlan {
        fault,
        after_sold: ITEMS / 4,
        down: Duration::from_secs(10),
        // Longer than a purchase claim the fault left behind takes to lapse (30 s).
        recheck_for: Duration::from_secs(45),
    };
    let report = faults::run(&mut stack, cfg, &plan).await.unwrap();
    let summary = report.summary();
    println!("{summary}");

    // The fault was felt: people got errors or no answer while it lasted.
    assert!(report.troubled_answers > 0, "{summary}");
    assert_eq!(report.lost, 0, "acknowledged orders lost\n{summary}");
    assert_eq!(report.double, 0, "visitors with two orders\n{summary}");
    assert_eq!(report.oversold, 0, "oversold\n{summary}");
    assert!(report.books_balance, "the books do not balance\n{summary}");
    assert_eq!(report.locked_out, 0, "buyers locked out\n{summary}");
    assert_eq!(
        report.withheld, 0,
        "buyers who hold an order were not given it\n{summary}"
    );
    assert!(report.kept_every_promise(), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_redis_under_a_crowd_loses_nothing_and_locks_nobody_out() {
    alone(Duration::from_secs(150), under_a_crowd(Fault::RedisKill9)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_origin_under_a_crowd_loses_nothing_and_locks_nobody_out() {
    alone(Duration::from_secs(150), under_a_crowd(Fault::OriginKill9)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_frozen_past_the_edge_timeout_loses_nothing_and_locks_nobody_out() {
    alone(Duration::from_secs(150), under_a_crowd(Fault::OriginStop)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_restarted_under_a_crowd_loses_nothing_and_locks_nobody_out() {
    alone(Duration::from_secs(150), under_a_crowd(Fault::EdgeRestart)).await;
}
