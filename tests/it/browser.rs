//! The waiting room in real headless Chromium: `tests/browser/waiting-room.test.mjs` (node's
//! test runner, playwright-core, axe-core) drives the browser against this stack, and this
//! side checks the books in Redis afterwards.
//!
//! The operator's console the same way (`tests/browser/console.test.mjs`), during a herd, and
//! a seated sale's seat chooser (`tests/browser/seats.test.mjs`).
//!
//! Set `HERDGATE_SCREENSHOTS=docs/screenshots` to refresh the README's screenshots.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use herdgate_core::SaleId;
use serde_json::{json, Value};
use tokio::process::Command;

use herdgate_herd::bots::BotMix;
use herdgate_herd::plan::{Arrival, HerdConfig};
use herdgate_herd::report::Report;
use herdgate_testkit::Localstripe;

use crate::edge_support::{self, Stack};
use crate::support::{alone, read_stock, status_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_room_in_headless_chromium() {
    alone(Duration::from_secs(300), async {
        // Card holds are on for sales with a price (one test has one), against localstripe.
        let ls = Localstripe::start().await.unwrap();
        let builder = edge_support::builder().localstripe(&ls).vars(json!({
            "HOLD_SWEEP_SECS": "1",
            // The product's own poll interval, so "sold out within 2 s" is checked as shipped.
            "POLL_MIN_MS": "1000",
            "NOJS_DELAY_SECS": "2",
            "NOJS_REFRESH_SECS": "1",
            // One queue shard: positions are then strictly in order of arrival, which the
            // tests check. (With K shards, positions interleave k, k+K, …, so at a trickle of
            // joins a later arrival can hold a lower position; see the README.)
            "QUEUE_SHARD_COUNT": "1",
        }));
        let s = Stack::start_from(builder).await.unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let result = std::env::temp_dir().join(format!(
            "herdgate-browser-{}-{}.json",
            std::process::id(),
            herdgate_testkit::now_ms()
        ));
        let mut cmd = Command::new(root.join("node_modules/.bin/node"));
        cmd.arg("--test-reporter=spec")
            .arg(root.join("tests/browser/waiting-room.test.mjs"))
            .current_dir(&root)
            .env("HERDGATE_EDGE_URL", s.edge.url())
            .env("HERDGATE_ORIGIN_URL", s.origin.url())
            .env("HERDGATE_ADMIN_TOKEN", &s.keys.admin_token)
            .env("HERDGATE_RESULT", &result)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Ok(dir) = std::env::var("HERDGATE_SCREENSHOTS") {
            cmd.env("HERDGATE_SCREENSHOTS", root.join(dir));
        }
        let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
            .await
            .expect("the browser tests did not finish in 240 s")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "browser tests failed");

        // What the pages showed is what Redis holds: one order per buyer who bought, and the
        // books balance for every sale the browser tests made.
        let expected: HashMap<String, u64> =
            serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
        let _ = std::fs::remove_file(&result);
        assert!(expected.len() >= 5, "{expected:?}");
        let redis = s.redis.client().await.unwrap();
        for (sale, orders) in expected {
            let id = SaleId::parse(&sale).unwrap();
            let (remaining, sold, stock) = read_stock(&s.redis.url(), &id).await;
            assert_eq!(sold, orders, "{sale}: items sold");
            assert_eq!(remaining + sold, stock, "{sale}: books");
            let hlen: u64 =
                fred::interfaces::HashesInterface::hlen(&redis, format!("hg:{{{sale}}}:orders"))
                    .await
                    .unwrap();
            assert_eq!(hlen, orders, "{sale}: orders");
        }
        // The card-hold sales: the page's winner and the no-JS lane's buyer captured, the
        // loser's hold released, none left.
        let census = ls.census().await.unwrap();
        assert_eq!(census.get("succeeded"), Some(&2), "{census:?}");
        assert_eq!(census.get("requires_capture"), None, "{census:?}");
    })
    .await;
}

/// The operator's console in headless Chromium while a small herd buys
/// (`tests/browser/console.test.mjs`): the numbers move during the run, end within 1 % of
/// what the herd counted, and equal what the admin API and the edge's counters say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium() {
    alone(Duration::from_secs(300), async {
        const SALE: &str = "console-herd";
        let builder = edge_support::builder().edge_numbers(500);
        let s = Stack::start_from(builder).await.unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let scratch = std::env::temp_dir().join(format!(
            "herdgate-console-{}-{}",
            std::process::id(),
            herdgate_testkit::now_ms()
        ));
        std::fs::create_dir_all(&scratch).unwrap();
        let (ready, truth, result) = (
            scratch.join("ready"),
            scratch.join("truth.json"),
            scratch.join("result.json"),
        );
        let mut cmd = Command::new(root.join("node_modules/.bin/node"));
        cmd.arg("--test-reporter=spec")
            .arg(root.join("tests/browser/console.test.mjs"))
            .current_dir(&root)
            .env("HERDGATE_ORIGIN_URL", s.origin.url())
            .env("HERDGATE_ADMIN_TOKEN", &s.keys.admin_token)
            .env("HERDGATE_SALE", SALE)
            .env("HERDGATE_READY", &ready)
            .env("HERDGATE_TRUTH", &truth)
            .env("HERDGATE_RESULT", &result)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Ok(dir) = std::env::var("HERDGATE_SCREENSHOTS") {
            cmd.env("HERDGATE_SCREENSHOTS", root.join(dir));
        }
        let browser = tokio::spawn(tokio::time::timeout(Duration::from_secs(240), cmd.output()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the console did not open"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // A small crowd of people (no bots: the herd's counts are then the edge's to match).
        let cfg = HerdConfig {
            edge: s.edge.url().to_owned(),
            origin: s.origin.url(),
            admin_token: s.keys.admin_token.clone(),
            sale: SALE.into(),
            buyers: 400,
            items: 100,
            // Ten seconds of admission: the console (a sample a second) sees it move.
            rate: 10,
            arrival: Arrival::Burst { within_ms: 1_000 },
            bots: BotMix::default(),
            connections: 64,
            deadline: Duration::from_secs(120),
            audit_every: None,
            audit_fast_ms: None,
            bots_at_opening: false,
            preauth: false,
            stock_shards: None,
            regions: Vec::new(),
        };
        let outcome = herdgate_herd::run::run(cfg, false).await.unwrap();
        let r = Report::new(&outcome, "console_in_chromium".into());
        assert_eq!(
            (r.sold, r.oversold, r.double_orders),
            (100, 0, 0),
            "{}",
            r.summary()
        );
        let counted = json!({
            "joined": r.honest.joined,
            "admitted": r.admission.admitted,
            "orders": r.orders,
            "sold": r.sold,
        });
        std::fs::write(&truth, counted.to_string()).unwrap();

        let out = browser
            .await
            .unwrap()
            .expect("the console test did not finish in 240 s")
            .unwrap();
        println!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "the console test failed");
        let shown: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();

        // The numbers moved while the crowd bought: several readings between none and all.
        let seen = shown["seen"].as_array().unwrap();
        let mut moving: Vec<u64> = seen.iter().filter_map(|n| n["orders"].as_u64()).collect();
        moving.dedup();
        assert!(
            moving.iter().filter(|o| (1..100).contains(*o)).count() >= 2,
            "the orders shown did not move: {moving:?}"
        );
        assert!(moving.windows(2).all(|w| w[0] <= w[1]), "{moving:?}");

        // At the end, within 1 % of the herd's counts…
        let last = &shown["final"];
        let within = |name: &str, truth: u64| {
            let got = last[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no {name} shown: {last}"));
            let slack = (truth / 100).max(1);
            assert!(
                got.abs_diff(truth) <= slack,
                "{name}: shown {got}, the herd {truth}"
            );
        };
        within("joined", r.honest.joined as u64);
        within("admitted", r.admission.admitted as u64);
        assert_eq!(last["orders"], r.orders, "{last}");
        assert_eq!(last["sold"], r.sold, "{last}");
        // …and equal to what the admin API, Redis and the edge's counters say.
        let admin = s.admin().sale("console-herd").await.unwrap();
        assert_eq!(
            (
                last["sold"].as_u64(),
                last["remaining"].as_u64(),
                last["orders"].as_u64()
            ),
            (
                Some(admin.state.sold),
                Some(admin.state.remaining),
                Some(admin.orders)
            )
        );
        let (remaining, sold, _) = read_stock(&s.redis.url(), &SaleId::parse(SALE).unwrap()).await;
        assert_eq!((sold, remaining), (admin.state.sold, admin.state.remaining));
        let counts: serde_json::Value = s
            .http
            .get(format!("{}/admin/v1/sales/{SALE}/counters", s.edge.url()))
            .bearer_auth(&s.keys.admin_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(last["joined"], counts["joins"], "{counts}");
        assert_eq!(last["admitted"], counts["passes"], "{counts}");
        // The confirmed control took effect.
        assert_eq!(shown["paused"], true);
        let _ = std::fs::remove_dir_all(&scratch);
    })
    .await;
}

/// A small venue for the seat chooser: sections A and B, rows 1 to 4 of 8 seats, rows 1 and 2
/// "front" (90.00), rows 3 and 4 "back" (40.00), one wheelchair space (B/1/1). Holds last 15 s
/// (long enough for the page's checks between holding and buying); ten people choose at once,
/// for a minute each.
fn small_venue() -> Value {
    let section = |id: &str| {
        let rows: Vec<Value> = (1..=4)
            .map(|r| {
                let tier = if r <= 2 { "front" } else { "back" };
                let seats: Vec<Value> = (1..=8)
                    .map(|n| {
                        if (id, r, n) == ("B", 1, 1) {
                            json!({"tier": tier, "access": "wheelchair"})
                        } else {
                            json!({"tier": tier})
                        }
                    })
                    .collect();
                json!({"id": r.to_string(), "seats": seats})
            })
            .collect();
        json!({"id": id, "rows": rows})
    };
    json!({
        "tiers": {"front": 9000, "back": 4000},
        "sections": [section("A"), section("B")],
        "hold_secs": 15,
        "choosers": 10,
        "choose_secs": 60,
    })
}

/// A seated sale's waiting room in headless Chromium (`tests/browser/seats.test.mjs`): one
/// buyer chooses two seats on the map with the keyboard alone, holds and buys them; another
/// holds the best two of the same section and gives them back. Afterwards the seats the page
/// bought are sold in exactly one order, and no other seat is sold or held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seats_in_chromium() {
    alone(Duration::from_secs(300), async {
        const SALE: &str = "seats-page";
        // A second seated sale that takes card holds (90.00 a seat at most), against localstripe.
        const PAID: &str = "seats-paid";
        let ls = Localstripe::start().await.unwrap();
        // One queue shard: places follow each other with no gap, so the buyers are let in as
        // soon as they join (see `seated_stack` in tests/it/seats.rs).
        let builder = edge_support::builder()
            .localstripe(&ls)
            .var("QUEUE_SHARD_COUNT", "1");
        let s = Stack::start_from(builder).await.unwrap();
        for (sale, price) in [(SALE, None), (PAID, Some(9_000))] {
            let mut config = json!({"stock": 0, "per_visitor_limit": 4, "starts_at_ms": herdgate_testkit::now_ms() - 1_000, "admission_rate": 100});
            if let Some(amount) = price {
                config["price"] = json!({"amount": amount, "currency": "eur"});
            }
            let (status, body) = s.admin().put_sale_reply(sale, &config).await.unwrap();
            assert_eq!(status, 201, "{body}");
            let url = format!("{}/admin/v1/sales/{sale}/seats", s.origin.url());
            let req = s
                .http
                .put(url)
                .bearer_auth(&s.keys.admin_token)
                .json(&small_venue());
            let (status, body) = status_json(req.send().await.unwrap()).await;
            assert_eq!(status, 200, "{body}");
        }

        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let result = std::env::temp_dir().join(format!(
            "herdgate-seats-{}-{}.json",
            std::process::id(),
            herdgate_testkit::now_ms()
        ));
        let mut cmd = Command::new(root.join("node_modules/.bin/node"));
        cmd.arg("--test-reporter=spec")
            .arg(root.join("tests/browser/seats.test.mjs"))
            .current_dir(&root)
            .env("HERDGATE_EDGE_URL", s.edge.url())
            .env("HERDGATE_SALE", SALE)
            .env("HERDGATE_PAID_SALE", PAID)
            .env("HERDGATE_RESULT", &result)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Ok(dir) = std::env::var("HERDGATE_SCREENSHOTS") {
            cmd.env("HERDGATE_SCREENSHOTS", root.join(dir));
        }
        let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
            .await
            .expect("the seat chooser's browser test did not finish in 240 s")
            .unwrap();
        println!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "the seat chooser's browser test failed");
        let shown: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
        let _ = std::fs::remove_file(&result);
        let mut bought: Vec<String> = serde_json::from_value(shown["seats"].clone()).unwrap();
        bought.sort();
        let order = shown["order"].as_str().unwrap();

        // In Redis: one order, the one the page showed, of the seats the page chose.
        let redis = s.redis.client().await.unwrap();
        let orders: HashMap<String, String> = fred::interfaces::HashesInterface::hgetall(
            &redis,
            format!("hg:{{{SALE}}}:orders"),
        )
        .await
        .unwrap();
        assert_eq!(orders.len(), 1, "{orders:?}");
        let one: Value = serde_json::from_str(orders.values().next().unwrap()).unwrap();
        assert_eq!(one["order_id"], order, "{one}");
        let mut seats: Vec<String> = serde_json::from_value(one["seats"].clone()).unwrap();
        seats.sort();
        assert_eq!(seats, bought, "{one}");
        let (remaining, sold, stock) = read_stock(&s.redis.url(), &SaleId::parse(SALE).unwrap()).await;
        assert_eq!((sold, remaining, stock), (2, 62, 64));

        // At the origin, seat by seat: those two sold and none held (the second buyer's hold
        // was given back). The origin's copy may be a second old: asked until it is not.
        let url = format!("{}/v1/sales/{SALE}/seats", s.origin.url());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let (status, seats) = status_json(s.http.get(&url).send().await.unwrap()).await;
            assert_eq!(status, 200, "{seats}");
            let (mut sold, mut held) = (Vec::new(), Vec::new());
            for section in seats["sections"].as_array().unwrap() {
                for row in section["rows"].as_array().unwrap() {
                    let states = row["state"].as_str().unwrap();
                    for (i, c) in states.chars().enumerate() {
                        let id = format!(
                            "{}/{}/{}",
                            section["id"].as_str().unwrap(),
                            row["id"].as_str().unwrap(),
                            i + 1
                        );
                        match c {
                            's' => sold.push(id),
                            'h' => held.push(id),
                            _ => {}
                        }
                    }
                }
            }
            sold.sort();
            if held.is_empty() || tokio::time::Instant::now() > deadline {
                assert_eq!(sold, bought, "{seats}");
                assert!(held.is_empty(), "held: {held:?}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // The paid sale: one order, its payment captured for the two seats' price, and the
        // card charged that (localstripe: the authorisation of 4 × 90.00, 180.00 of it kept).
        let paid = result.with_extension("json.paid");
        let shown: Value = serde_json::from_slice(&std::fs::read(&paid).unwrap()).unwrap();
        let _ = std::fs::remove_file(&paid);
        let orders: HashMap<String, String> = fred::interfaces::HashesInterface::hgetall(
            &redis,
            format!("hg:{{{PAID}}}:orders"),
        )
        .await
        .unwrap();
        assert_eq!(orders.len(), 1, "{orders:?}");
        let (visitor, one) = orders.iter().next().unwrap();
        let one: Value = serde_json::from_str(one).unwrap();
        assert_eq!((&one["order_id"], &one["amount"]), (&shown["order"], &json!(18_000)), "{one}");
        let payment: Option<String> = fred::interfaces::HashesInterface::hget(
            &redis,
            format!("hg:{{{PAID}}}:payments"),
            visitor,
        )
        .await
        .unwrap();
        let payment: Value = serde_json::from_str(&payment.unwrap()).unwrap();
        assert_eq!((&payment["state"], &payment["amount"]), (&json!("captured"), &json!(18_000)), "{payment}");
        let intent = ls.intent(payment["intent"].as_str().unwrap()).await.unwrap();
        let charge = &intent["charges"]["data"][0];
        assert_eq!(
            (&intent["status"], &charge["amount"], &charge["amount_refunded"]),
            (&json!("succeeded"), &json!(36_000), &json!(18_000)),
            "{intent}"
        );
    })
    .await;
}
