//! Regions (issue #17): one sale in two regions, each with its own `redis-server` and origin
//! and its own allocation, and the rebalancer between them (`herdgate_origin::regions`): stock
//! follows demand; a transfer cut off after its debit waits, its items sold nowhere; a region
//! partitioned away (its Redis killed) stops nothing in the other, which sells exactly what
//! it holds; once it is back every transfer is applied exactly once, no item is stranded, and
//! a region that sold out and gets stock again sells again. The books are read with the
//! `redis` crate.
//!
//! And the edge's part: one edge in front of both regions places each visitor, keeps the
//! geofence, and sends each purchase to the visitor's region.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herdgate_core::wire::SaleConfig;
use herdgate_core::{SaleId, VisitorId};
use herdgate_origin::regions::{Rebalancer, Region, RoundReport};
use herdgate_origin::store::{SaleKeys, Store, StoreConfig, WaitReplicas};
use herdgate_testkit::{
    keyring_spec, now_ms, EdgeClient, EdgeWorker, Identity, OriginOptions, RedisServer, TestKeys,
    TestOrigin,
};
use serde_json::json;

use crate::edge_support::{admitted, pass_of, poll_until};
use crate::independent::Books;
use crate::support::{alone, code, http_client, open_config, purchase};

const EU_STOCK: u64 = 20;
const US_STOCK: u64 = 60;

async fn store(url: &str) -> Arc<Store> {
    Arc::new(
        Store::connect(StoreConfig {
            url: url.to_owned(),
            pool_size: 1,
            command_timeout: Duration::from_millis(500),
            wait_replicas: WaitReplicas::Auto,
            wait_timeout: Duration::from_millis(250),
            tls_ca_pem: None,
        })
        .await
        .unwrap(),
    )
}

/// Buys at `origin` until answered with an order; a region sold out for now is asked again
/// (a person refreshing), for at most 20 s. The order id, or `None`.
async fn buy(http: reqwest::Client, origin: String, pass: String) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = purchase(&http, &origin, "drop", Some(&pass), "").await;
        match status {
            200 | 201 => return Some(body["order"]["order_id"].as_str().unwrap().to_owned()),
            409 | 503 if std::time::Instant::now() < deadline => {
                assert!(
                    matches!(code(&body), "sold_out" | "store_unavailable"),
                    "{body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            409 => return None,
            _ => panic!("{status} {body}"),
        }
    }
}

/// A region's `remaining`, `sold`, and its transfer counters (`xreg_out`, `xreg_in`).
async fn books(b: &Books) -> (i64, i64, i64, i64) {
    let v: Vec<i64> = b
        .eval(
            "local f = redis.call('HMGET', KEYS[1], 'remaining', 'sold', 'xreg_out', 'xreg_in')
             for i = 1, 4 do f[i] = tonumber(f[i] or '0') end
             return f",
            &["hg:{drop}:sale".to_owned()],
        )
        .await;
    (v[0], v[1], v[2], v[3])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_follows_demand_between_regions_and_a_partition_loses_nothing() {
    alone(Duration::from_secs(180), async {
        let eu_redis = RedisServer::start().await.unwrap();
        let mut us_redis = RedisServer::start().await.unwrap();
        // One edge signs the passes of both regions: one set of keys.
        let keys = TestKeys::generate();
        let eu = TestOrigin::start(&eu_redis.url(), &keys, OriginOptions::default())
            .await
            .unwrap();
        let us = TestOrigin::start(&us_redis.url(), &keys, OriginOptions::default())
            .await
            .unwrap();
        let http = http_client();
        for (origin, stock) in [(&eu, EU_STOCK), (&us, US_STOCK)] {
            let admin =
                herdgate_testkit::AdminClient::new(http.clone(), &origin.url(), &keys.admin_token);
            let config = json!({"stock": stock, "per_visitor_limit": 1,
                "starts_at_ms": now_ms() - 60_000, "admission_rate": 500});
            let (status, body) = admin.put_sale_reply("drop", &config).await.unwrap();
            assert_eq!(status, 201, "{body}");
        }
        let sale = SaleId::parse("drop").unwrap();
        let (eu_store, us_store) = (store(&eu_redis.url()).await, store(&us_redis.url()).await);
        let buyer = |region: &str, i: usize| {
            let pass = keys.pass(&sale, &VisitorId::parse(&format!("{region}{i}")).unwrap());
            let origin = if region == "us" { us.url() } else { eu.url() };
            (http.clone(), origin, pass)
        };

        // The US's few buyers come first; then its demand is over.
        for i in 0..5 {
            let (http, origin, pass) = buyer("us", i);
            assert!(buy(http, origin, pass).await.is_some());
        }

        // The rebalancer, a round every 200 ms, needing 5 s of stock at each region's pace.
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = {
            let mut rebalancer = Rebalancer::new(
                vec![
                    Region {
                        name: "eu".into(),
                        store: eu_store.clone(),
                    },
                    Region {
                        name: "us".into(),
                        store: us_store.clone(),
                    },
                ],
                vec![sale.clone()],
                Duration::from_secs(5),
                herdgate_origin::config::DEFAULT_EVENTS_CHANNEL.to_owned(),
            );
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut reports: Vec<RoundReport> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    reports.push(rebalancer.round(now_ms()).await);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                reports
            })
        };

        // Demand where the stock is not: 40 buyers in the EU (20 items there; 55 left in the
        // US), arriving 40 ms apart. Every one of them buys: stock moves to the EU.
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (http, origin, pass) = buyer("eu", i);
            tasks.push(tokio::spawn(buy(http, origin, pass)));
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        for t in tasks {
            assert!(t.await.unwrap().is_some(), "a buyer in the EU never bought");
        }
        let eu_books = Books::connect(&eu_redis.url()).await;
        let (_, eu_sold, _, eu_got) = books(&eu_books).await;
        assert_eq!(eu_sold, 40);
        assert!(eu_got >= 20, "the EU received {eu_got} items");

        // The US is partitioned away (its Redis killed), and a transfer towards it is cut
        // off after its first step: 2 items debited in the EU for the US, in neither region's
        // stock until a round reaches both.
        us_redis.kill9();
        let k = SaleKeys::new(&sale);
        let cut = eu_store.debit_at(&k, "cut-1", "@us", 2, 0).await.unwrap();
        assert_eq!(cut, 2, "the EU had fewer than 2 items left");
        // The EU keeps selling what it holds, to the last item, then says sold out: never an
        // error, and not one item fewer or more than it holds.
        let (left, ..) = books(&eu_books).await;
        for i in 0..left as usize {
            let (http, origin, pass) = buyer("late", i);
            let (status, body) = purchase(&http, &origin, "drop", Some(&pass), "").await;
            assert_eq!(status, 201, "{body}");
        }
        let (http_late, origin, pass) = buyer("late", left as usize);
        let (status, body) = purchase(&http_late, &origin, "drop", Some(&pass), "").await;
        assert_eq!((status, code(&body)), (409, "sold_out"), "{body}");
        // The EU's state counts the 2 items on their way, item by item: stock that can still
        // sell, which the edge's admission counts.
        let eu_state = || async {
            let reply = http
                .get(format!("{}/v1/sales/drop", eu.url()))
                .send()
                .await
                .unwrap();
            reply.json::<serde_json::Value>().await.unwrap()
        };
        let state = eu_state().await;
        assert_eq!(
            (state["remaining"].as_u64(), state["moving"].as_u64()),
            (Some(0), Some(2)),
            "{state}"
        );
        // And what it gave and received, all told, as its books say.
        let (_, _, gave, got) = books(&eu_books).await;
        assert_eq!(
            (state["given"].as_i64(), state["received"].as_i64()),
            (Some(gave), Some(got)),
            "{state}"
        );
        tokio::time::sleep(Duration::from_millis(1_000)).await;

        // Healed: the cut-off transfer is finished, once, and nothing is left in flight.
        us_redis.restart().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let open = eu_books.hgetall("hg:{drop}:xfer_open").await.len()
                + Books::connect(&us_redis.url())
                    .await
                    .hgetall("hg:{drop}:xfer_open")
                    .await
                    .len();
            if open == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{open} transfers still open"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let state = eu_state().await;
        assert_eq!(state["moving"].as_u64().unwrap_or(0), 0, "{state}");
        // The EU, sold out with buyers still coming, gets stock from the US again, and its
        // origin, told so, stops answering from its sold-out memory: a buyer there buys.
        let (http, origin, pass) = buyer("after", 0);
        assert!(
            buy(http, origin, pass).await.is_some(),
            "the EU stayed sold out with stock in the US"
        );
        stop.store(true, Ordering::Relaxed);
        let reports = rounds.await.unwrap();
        assert!(
            reports
                .iter()
                .any(|r| r.unreachable.contains(&"us".to_owned())),
            "the rebalancer never noticed the partition"
        );
        assert!(reports.iter().all(|r| r.stuck.is_empty()));
        let moved_to_eu: u64 = reports
            .iter()
            .flat_map(|r| &r.moved)
            .filter(|(_, from, to, _)| from == "us" && to == "eu")
            .map(|(_, _, _, n)| n)
            .sum();
        assert!(moved_to_eu >= 20, "moved {moved_to_eu} to the EU");

        // The books of both regions: nothing oversold, nothing stranded (sold + remaining over
        // both is the stock of both), and every transfer applied exactly once: each settled at
        // its source was received once, with the same count, at its destination, and each
        // region's counters say the same as its records.
        let us_books = Books::connect(&us_redis.url()).await;
        let (eu_rem, eu_sold, eu_out, eu_in) = books(&eu_books).await;
        let (us_rem, us_sold, us_out, us_in) = books(&us_books).await;
        assert_eq!(
            eu_rem + eu_sold + us_rem + us_sold,
            (EU_STOCK + US_STOCK) as i64,
            "eu {eu_rem}+{eu_sold}, us {us_rem}+{us_sold}"
        );
        assert!(eu_rem >= 0 && us_rem >= 0);
        let mut settled = HashMap::new();
        let mut received = HashMap::new();
        for (region, b) in [("eu", &eu_books), ("us", &us_books)] {
            for (id, rec) in b.hgetall("hg:{drop}:xfer_done").await {
                let (to, n) = rec.split_once('|').unwrap();
                settled.insert(
                    id,
                    (
                        region.to_owned(),
                        to[1..].to_owned(),
                        n.parse::<i64>().unwrap(),
                    ),
                );
            }
            for (id, rec) in b.hgetall("hg:{drop}:xfer_recv").await {
                let (from, n) = rec.split_once('|').unwrap();
                received.insert(
                    id,
                    (
                        from[1..].to_owned(),
                        region.to_owned(),
                        n.parse::<i64>().unwrap(),
                    ),
                );
            }
        }
        assert_eq!(settled, received);
        assert_eq!(settled["cut-1"], ("eu".to_owned(), "us".to_owned(), 2));
        let total =
            |from: &str| -> i64 { settled.values().filter(|t| t.0 == from).map(|t| t.2).sum() };
        assert_eq!((eu_out, us_out), (total("eu"), total("us")));
        assert_eq!((eu_in, us_in), (total("us"), total("eu")));
        println!(
            "{} transfers between the regions ({moved_to_eu} items to the EU); after the \
             partition: eu {eu_sold} sold, {eu_rem} left; us {us_sold} sold, {us_rem} left",
            settled.len()
        );
    })
    .await;
}

/// A buyer at the edge `edge`, placed by Cloudflare (`request.cf`) in `country` on
/// `continent`.
fn visitor(
    http: &reqwest::Client,
    edge: &str,
    name: &str,
    country: &str,
    continent: &str,
) -> EdgeClient {
    EdgeClient::new(
        http.clone(),
        edge,
        Identity::new(name).in_country(country, continent),
    )
}

/// Joins `sale` at the edge and waits (at most 20 s) for the pass.
async fn admitted_pass(me: &EdgeClient, sale: &str) -> String {
    let joined = me.solve_and_join(sale, None).await.unwrap();
    let status = poll_until(me, sale, &joined.ticket, Duration::from_secs(20), admitted).await;
    pass_of(&status)
}

/// The visitors of `region`'s orders of `drop`, read from its Redis.
async fn buyers_in(books: &Books) -> Vec<String> {
    let mut v: Vec<String> = books
        .hgetall("hg:{drop}:orders")
        .await
        .into_keys()
        .collect();
    v.sort();
    v
}

/// The edge's part of regions (issue #17): one edge in front of two regions' origins, each
/// with its own `redis-server`. The edge places each visitor by `request.cf` (sent to workerd
/// as Miniflare's `MF-CF-Blob`), signs the region into the challenge, ticket and pass, and
/// sends the purchase to that region's origin, which refuses a pass of another region. A sale
/// is sold only to the countries it names and in the regions that have it. A region that
/// sold what it held answers `stock_moving` (try again) while another reachable region has
/// stock, and `sold_out` when none it can reach has; its visitors buy once stock arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_sends_each_visitor_to_their_regions_origin_and_keeps_the_geofence() {
    alone(Duration::from_secs(240), async {
        let eu_redis = RedisServer::start().await.unwrap();
        let mut us_redis = RedisServer::start().await.unwrap();
        let keys = TestKeys::generate();
        let in_region = |name: &str| OriginOptions {
            region: Some(name.to_owned()),
            ..OriginOptions::default()
        };
        let eu = TestOrigin::start(&eu_redis.url(), &keys, in_region("eu"))
            .await
            .unwrap();
        let us = TestOrigin::start(&us_redis.url(), &keys, in_region("us"))
            .await
            .unwrap();
        let http = http_client();
        let admin = |origin: &TestOrigin| {
            herdgate_testkit::AdminClient::new(http.clone(), &origin.url(), &keys.admin_token)
        };
        let drop_config = |stock: u64| SaleConfig {
            countries: ["DE", "FR", "GB", "US", "CA"].map(String::from).to_vec(),
            ..open_config(stock)
        };
        admin(&eu).put_sale("drop", &drop_config(2)).await.unwrap();
        admin(&us).put_sale("drop", &drop_config(3)).await.unwrap();
        // A sale of the EU alone.
        admin(&eu)
            .put_sale("eu-only", &open_config(5))
            .await
            .unwrap();

        let edge = EdgeWorker::start(&json!({
            "REGIONS": format!("eu={},us={}", eu.url(), us.url()),
            "REGION_BY_COUNTRY": "GB=eu",
            "REGION_BY_CONTINENT": "EU=eu,NA=us",
            "TICKET_KEYS": keyring_spec("e1"),
            "PASS_KEYS": keys.spec,
            "ADMIN_TOKEN": keys.admin_token,
            "POW_BITS": "8",
            "POW_ADAPTIVE": "off",
            "JOINS_PER_DEVICE": "0",
            "JOINS_PER_NETWORK": "0",
            "STATE_CACHE_MS": "200",
            "POLL_MIN_MS": "200",
        }))
        .await
        .unwrap();
        let at = |name: &str, country: &str, continent: &str| {
            visitor(&http, edge.url(), name, country, continent)
        };

        // The geofence: a country the sale does not name, a visitor from nowhere known, and
        // a region without the sale are refused before any work; nothing is counted.
        for (me, sale) in [
            (at("jp", "JP", "AS"), "drop"),
            (at("us-eu-only", "US", "NA"), "eu-only"),
        ] {
            let (status, body) = me.challenge_reply(sale, None).await.unwrap();
            assert_eq!((status, code(&body)), (403, "not_sold_here"), "{body}");
        }
        let nowhere = EdgeClient::new(http.clone(), edge.url(), Identity::new("nowhere"));
        let (status, body) = nowhere.challenge_reply("drop", None).await.unwrap();
        assert_eq!((status, code(&body)), (403, "not_sold_here"), "{body}");
        let (status, body) = at("fr-eu-only", "FR", "EU")
            .challenge_reply("eu-only", None)
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");

        // Each visitor buys in their home region: Germany and France in the EU, the US in
        // the US; the orders are in those regions' Redis and nowhere else.
        for (name, country, continent) in
            [("de", "DE", "EU"), ("fr", "FR", "EU"), ("us", "US", "NA")]
        {
            let me = at(name, country, continent);
            let pass = admitted_pass(&me, "drop").await;
            let (status, body) = me
                .purchase_reply("drop", Some(&pass), &json!({}))
                .await
                .unwrap();
            assert_eq!(status, 201, "{name}: {body}");
        }
        let (eu_books, us_books) = (
            Books::connect(&eu_redis.url()).await,
            Books::connect(&us_redis.url()).await,
        );
        assert_eq!(buyers_in(&eu_books).await.len(), 2);
        assert_eq!(buyers_in(&us_books).await.len(), 1);
        assert_eq!(books(&eu_books).await.0, 0, "the EU sold what it held");

        // The EU is out; the US has 2 left. A British visitor (the EU, by country) is admitted,
        // since the sale is not sold out, and told to try again, not that it sold out.
        let gb = at("gb", "GB", "EU");
        let gb_pass = admitted_pass(&gb, "drop").await;
        let (status, body) = gb
            .purchase_reply("drop", Some(&gb_pass), &json!({}))
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (503, "stock_moving"), "{body}");
        // Their pass is the EU's: the US origin refuses it, and sells nothing for it.
        let (status, body) = purchase(&http, &us.url(), "drop", Some(&gb_pass), "{}").await;
        assert_eq!((status, code(&body)), (403, "pass_wrong_region"), "{body}");
        assert_eq!(books(&us_books).await.1, 1);

        // The US is partitioned away (its Redis killed). It still holds 2 items, which move
        // once it is back: the EU's visitor is told to try again, never that it sold out, and
        // nothing is sold or lost meanwhile.
        us_redis.kill9();
        for _ in 0..3 {
            let (status, body) = gb
                .purchase_reply("drop", Some(&gb_pass), &json!({}))
                .await
                .unwrap();
            assert_eq!((status, code(&body)), (503, "stock_moving"), "{body}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }

        // Healed, and 2 items moved to the EU (the operator's allocation here; the rebalancer's
        // in the test above): the British visitor, asking again with the same pass, buys in
        // the EU.
        us_redis.restart().await.unwrap();
        let sale = SaleId::parse("drop").unwrap();
        let (eu_store, us_store) = (store(&eu_redis.url()).await, store(&us_redis.url()).await);
        let k = SaleKeys::new(&sale);
        assert_eq!(
            us_store.debit_at(&k, "move-1", "@eu", 2, 0).await.unwrap(),
            2
        );
        eu_store.credit_at(&k, "move-1", "@us", 2).await.unwrap();
        us_store.settle_at(&k, "move-1").await.unwrap();
        eu_store
            .announce(
                herdgate_origin::config::DEFAULT_EVENTS_CHANNEL,
                "open:drop".to_owned(),
            )
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = gb
                .purchase_reply("drop", Some(&gb_pass), &json!({}))
                .await
                .unwrap();
            if status == 201 {
                break;
            }
            assert!(
                matches!(
                    code(&body),
                    "sold_out" | "stock_moving" | "origin_unavailable"
                ),
                "{status} {body}"
            );
            assert!(
                std::time::Instant::now() < deadline,
                "the EU never sold again"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let eu_buyers = buyers_in(&eu_books).await;
        assert_eq!(eu_buyers.len(), 3, "{eu_buyers:?}");
        // (The US's Redis was restarted: a new connection.)
        let us_books = Books::connect(&us_redis.url()).await;
        assert_eq!(buyers_in(&us_books).await.len(), 1);

        // Every item is sold or in a region's stock: 5, none in flight.
        let (eu_rem, eu_sold, ..) = books(&eu_books).await;
        let (us_rem, us_sold, ..) = books(&us_books).await;
        assert_eq!((eu_rem + eu_sold + us_rem + us_sold), 5);
        assert_eq!((eu_rem, us_rem), (1, 0));

        // A French visitor buys the last item; then the sale is sold out everywhere, and the
        // edge says so to the next visitor.
        let fr2 = at("fr2", "FR", "EU");
        let pass = admitted_pass(&fr2, "drop").await;
        let (status, body) = fr2
            .purchase_reply("drop", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = at("de2", "DE", "EU")
                .challenge_reply("drop", None)
                .await
                .unwrap();
            if (status, code(&body)) == (409, "sold_out") {
                break;
            }
            assert_eq!(status, 200, "{body}");
            assert!(
                std::time::Instant::now() < deadline,
                "never sold out at the edge"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

/// The multi-region run (`herd local --regions`), small: three regions (each its own
/// `redis-server` and origin process, 20 items each), the rebalancer process, one edge, and
/// 120 people, 60 % of them in the EU, 30 % in the US, 10 % in Asia. The US is partitioned
/// away (its Redis killed) a second after the opening, for three seconds. Read from the
/// regions' own records afterwards: every item sold, nothing oversold, nothing stranded, every
/// transfer applied exactly once, one order per item in each region, stock moved to the EU,
/// and every person answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_over_three_regions_with_a_partition_keeps_every_promise() {
    use herdgate_herd::bots::BotMix;
    use herdgate_herd::plan::{Arrival, HerdConfig};
    use herdgate_herd::regions::{self, RegionalStack};

    alone(Duration::from_secs(300), async {
        let vars = json!({
            "POW_BITS": "8",
            "POW_ADAPTIVE": "off",
            "JOINS_PER_DEVICE": "0",
            "JOINS_PER_NETWORK": "0",
            "POLL_MIN_MS": "200",
            "POLL_MAX_MS": "2000",
            // The frontier waits where the passes out cover the stock (the default), which
            // counts the items on their way between regions: a hold that missed them would
            // leave the people behind it waiting with items unsold.
            "FRONTIER_WAITS_FOR_STOCK": "on",
        });
        let mut stack = RegionalStack::start(3, env!("CARGO_BIN_EXE_e2e-origin").as_ref(), vars)
            .await
            .unwrap();
        let log = tempfile_path("rebalancer.log");
        stack
            .balance(
                env!("CARGO_BIN_EXE_e2e-rebalancer").as_ref(),
                "world",
                300,
                3,
                &log,
            )
            .unwrap();
        let herd_regions = stack.herd_regions(60, &[60, 30, 10]);
        let cfg = HerdConfig {
            edge: stack.edge.url().to_owned(),
            origin: herd_regions[0].origin.clone(),
            admin_token: stack.keys.admin_token.clone(),
            sale: "world".into(),
            buyers: 120,
            items: 60,
            rate: 30,
            arrival: Arrival::Burst { within_ms: 1_000 },
            bots: BotMix::default(),
            connections: 64,
            deadline: Duration::from_secs(200),
            audit_every: None,
            audit_fast_ms: None,
            bots_at_opening: false,
            preauth: false,
            stock_shards: None,
            regions: herd_regions,
        };
        let partition = Some((Duration::from_secs(1), Duration::from_secs(3)));
        let (outcome, books) =
            regions::run(&mut stack, cfg, partition, Duration::from_secs(2), false)
                .await
                .unwrap();
        let report = herdgate_herd::report::Report::new(&outcome, "test".into());
        // What the edge answered, by its own counts (for a failure's message).
        let edge = EdgeClient::new(http_client(), stack.edge.url(), Identity::new("operator"));
        let (_, counted) = edge
            .counters_reply("world", &stack.keys.admin_token)
            .await
            .unwrap();
        let (_, seen) = edge.sale_reply("world").await.unwrap();
        let summary = format!(
            "{}{}  refused: {:?}; the edge's counts: {counted}; the edge's view: {seen}; \
             the rebalancer's log: {}",
            report.summary(),
            books.summary(),
            report.honest.refused,
            log.display()
        );
        println!("{summary}");
        assert_eq!(books.broken(), Vec::<String>::new(), "{summary}");
        assert_eq!(report.sold, 60, "{summary}");
        assert_eq!(report.honest.bought, 60, "{summary}");
        assert_eq!(report.honest.failed, 0, "every person answered\n{summary}");
        assert!(books.partition.is_some(), "{summary}");
        let eu = &books.regions[0];
        assert!(
            eu.received > 0 && eu.sold > 20,
            "stock followed demand\n{summary}"
        );
        assert!(books.transfers > 0);
        drop(stack);
        let _ = std::fs::remove_file(&log);
    })
    .await;
}

/// A path for a file of this test run, under the system's temporary directory.
fn tempfile_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("herdgate-{}-{name}", std::process::id()))
}
