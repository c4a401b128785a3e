//! One hot sale's stock split over stock shards (issue #17): a skewed burst that drains one
//! shard while transfers are cut off on purpose after each of their steps, with the books
//! sampled throughout by another Redis client; and the shards of a sale on a real Redis
//! Cluster, one on each primary.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herdgate_core::{SaleId, VisitorId};
use herdgate_origin::store::stock_shards::{visitor_shard, ShardLayout};
use herdgate_origin::store::{Place, Store, StoreConfig, WaitReplicas};
use herdgate_testkit::{now_ms, OriginOptions, RedisCluster, TestKeys, TestOrigin};
use serde_json::{json, Value};

use crate::independent::Books;
use crate::support::{alone, code, http_client, purchase, Env};

const SHARDS: u32 = 3;

/// `n` visitor ids, `on_first` of them routed to shard 0 and the rest to the others.
fn skewed_visitors(n: usize, on_first: usize) -> Vec<String> {
    let (mut first, mut others) = (Vec::new(), Vec::new());
    for i in 0.. {
        let v = format!("v{i}");
        if visitor_shard(&VisitorId::parse(&v).unwrap(), SHARDS) == 0 {
            if first.len() < on_first {
                first.push(v);
            }
        } else if others.len() < n - on_first {
            others.push(v);
        }
        if first.len() == on_first && others.len() == n - on_first {
            break;
        }
    }
    first.extend(others);
    first
}

/// Buys until answered: the order id, or `None` for sold out; 503 is a retry.
async fn buy(http: reqwest::Client, base: String, sale: String, pass: String) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = purchase(&http, &base, &sale, Some(&pass), "").await;
        match status {
            200 | 201 => return Some(body["order"]["order_id"].as_str().unwrap().to_owned()),
            409 if code(&body) == "sold_out" => return None,
            503 if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            _ => panic!("{sale}: {status} {body}"),
        }
    }
}

/// One place's `remaining`, `sold`, `xfer_out`, `xfer_in`, `xfer_open` (one `HMGET`: one
/// moment of that place).
async fn place_counts(books: &Books, key: &str) -> [i64; 5] {
    let v: Vec<i64> = books
        .eval(
            "local f = redis.call('HMGET', KEYS[1], 'remaining', 'sold', 'xfer_out', 'xfer_in', 'xfer_open')
             for i = 1, 5 do f[i] = tonumber(f[i] or '0') end
             return f",
            &[key.to_owned()],
        )
        .await;
    [v[0], v[1], v[2], v[3], v[4]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_burst_sells_every_item_once_through_transfers_cut_off_at_each_step() {
    alone(Duration::from_secs(180), async {
        const STOCK: u64 = 120;
        let env = Env::start().await.unwrap();
        let config = json!({"stock": STOCK, "per_visitor_limit": 1,
            "starts_at_ms": now_ms() - 60_000, "admission_rate": 500, "stock_shards": SHARDS});
        let (status, body) = env.admin.put_sale_reply("hot", &config).await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["config"]["stock_shards"], SHARDS);
        // Spread at once: the reserve keeps what does not divide, each shard a third.
        let places: Vec<(String, u64)> = body["stock_places"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["place"].as_str().unwrap().to_owned(),
                    p["remaining"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            places,
            [("r", 0), ("0", 40), ("1", 40), ("2", 40)]
                .map(|(p, n)| (p.to_owned(), n))
                .to_vec(),
            "{body}"
        );

        // The shards are set once: another count is refused, none named keeps them, and a
        // seat map cannot be loaded on the sale. Nothing changed.
        let mut other = config.clone();
        other["stock_shards"] = json!(2);
        let (status, body) = env.admin.put_sale_reply("hot", &other).await.unwrap();
        assert_eq!((status, code(&body)), (409, "stock_shards_fixed"), "{body}");
        let mut bad = config.clone();
        bad["stock_shards"] = json!(17);
        let (status, body) = env.admin.put_sale_reply("hot", &bad).await.unwrap();
        assert_eq!(
            (status, code(&body)),
            (422, "invalid_sale_config"),
            "{body}"
        );
        let mut unnamed = config.clone();
        unnamed.as_object_mut().unwrap().remove("stock_shards");
        let (status, body) = env.admin.put_sale_reply("hot", &unnamed).await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["config"]["stock_shards"], SHARDS);
        let map = json!({"tiers": {"a": 100}, "hold_secs": 60, "sections": [{"id": "A",
            "rows": [{"id": "1", "seats": [{"tier": "a"}, {"tier": "a"}]}]}]});
        let seats = env
            .http
            .put(format!("{}/admin/v1/sales/hot/seats", env.origin.url()))
            .bearer_auth(&env.keys.admin_token)
            .json(&map)
            .send()
            .await
            .unwrap();
        let (status, body) = crate::support::status_json(seats).await;
        assert_eq!((status, code(&body)), (409, "stock_shards_fixed"), "{body}");

        let sale = SaleId::parse("hot").unwrap();
        let layout = ShardLayout::new(&sale, SHARDS);
        let keys: Vec<(Place, String)> =
            layout.places().map(|p| (p, layout.keys(p).sale)).collect();

        // The sampler: every place's books, read with the `redis` crate, all through the burst.
        // At each place sold + remaining + given - received is what it started with (the
        // stock at the reserve, 0 at a shard), and nothing is below zero.
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (books, keys, stop) = (env.books.clone(), keys.clone(), stop.clone());
            tokio::spawn(async move {
                let mut samples = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let mut sold = 0;
                    for (place, key) in &keys {
                        let [remaining, s, out, inn, open] = place_counts(&books, key).await;
                        let start = if *place == Place::Reserve {
                            STOCK as i64
                        } else {
                            0
                        };
                        assert_eq!(s + remaining + out - inn, start, "{key}");
                        assert!(
                            remaining >= 0 && s >= 0 && open >= 0,
                            "{key}: {remaining} {s}"
                        );
                        sold += s;
                    }
                    assert!(sold <= STOCK as i64, "oversold: {sold}");
                    samples += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                samples
            })
        };

        // The crasher: transfers cut off after their first step (the debit) or their second
        // (the credit), as an origin killed there would leave them: six before the burst (so
        // stock is in limbo when it starts), then more between random places during it.
        let store = Store::connect(StoreConfig {
            url: env.redis.url(),
            pool_size: 1,
            command_timeout: Duration::from_secs(2),
            wait_replicas: WaitReplicas::Auto,
            wait_timeout: Duration::from_millis(250),
            tls_ca_pem: None,
        })
        .await
        .unwrap();
        let cut_off = |store: Arc<Store>, layout: ShardLayout, id: String, from, to, credit| async move {
            let n = store.transfer_debit(&layout, &id, from, to, 3).await.unwrap();
            if n > 0 && credit {
                store.transfer_credit(&layout, &id, from, to, n).await.unwrap();
            }
            (n > 0).then_some((id, from))
        };
        let store = Arc::new(store);
        let mut cut = Vec::new();
        let (s0, s1, s2, r) = (Place::Shard(0), Place::Shard(1), Place::Shard(2), Place::Reserve);
        for (i, (from, to, credit)) in [
            (s1, s0, false),
            (s2, r, true),
            (s0, s2, false),
            (s1, r, false),
            (s2, s1, true),
            (s0, s1, true),
        ]
        .into_iter()
        .enumerate()
        {
            let id = format!("before{i}");
            cut.extend(cut_off(store.clone(), layout.clone(), id, from, to, credit).await);
        }
        assert_eq!(cut.len(), 6);
        let crasher = {
            let (store, layout) = (store.clone(), layout.clone());
            tokio::spawn(async move {
                let places: Vec<Place> = layout.places().collect();
                let mut cut = Vec::new();
                for i in 0..18usize {
                    let (from, to) = (places[i % 4], places[(i * 7 + 1) % 4]);
                    if from != to {
                        let id = format!("during{i}");
                        let c = cut_off(store.clone(), layout.clone(), id, from, to, i % 2 == 1);
                        cut.extend(c.await);
                    }
                    tokio::time::sleep(Duration::from_millis(15)).await;
                }
                cut
            })
        };

        // The burst: 120 buyers for 120 items, 100 of them routed to shard 0 (which holds 40).
        // Every one of them must buy: "sold out" while stock is anywhere, or on its way, would
        // leave one without.
        let visitors = skewed_visitors(STOCK as usize, 100);
        let limit = Arc::new(tokio::sync::Semaphore::new(16));
        let mut tasks = Vec::new();
        for v in &visitors {
            let pass = env.pass(&sale, v);
            let (http, base, limit, v) =
                (env.http.clone(), env.origin.url(), limit.clone(), v.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = limit.acquire_owned().await.unwrap();
                (v, buy(http, base, "hot".into(), pass).await)
            }));
        }
        let mut told: HashMap<String, String> = HashMap::new();
        for t in tasks {
            let (v, order) = t.await.unwrap();
            let order = order.unwrap_or_else(|| panic!("{v} was told sold out with stock left"));
            told.insert(v, order);
        }
        cut.extend(crasher.await.unwrap());

        // The keeper finishes what was cut off (within a few of its one-second rounds).
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut open = 0;
            for (_, key) in &keys {
                open += place_counts(&env.books, key).await[4];
            }
            if open == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{open} transfers still open"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        let samples = sampler.await.unwrap();
        assert!(samples > 5, "the sampler took {samples} samples");

        // Every item sold once, none stranded: the stock's worth of orders, nothing left
        // anywhere, every buyer told about an order has exactly that order in their shard's
        // books, and no visitor has two.
        assert_eq!(told.len() as u64, STOCK);
        let mut sold = 0;
        for (_, key) in &keys {
            let [remaining, s, ..] = place_counts(&env.books, key).await;
            assert_eq!(remaining, 0, "{key} has stock left");
            sold += s;
        }
        assert_eq!(sold as u64, STOCK);
        let mut booked: HashMap<String, String> = HashMap::new();
        let mut ids = HashSet::new();
        for k in 0..SHARDS {
            let orders = env
                .books
                .hgetall(&layout.keys(Place::Shard(k)).orders)
                .await;
            for (v, json) in orders {
                assert_eq!(
                    visitor_shard(&VisitorId::parse(&v).unwrap(), SHARDS),
                    k,
                    "{v} bought at another shard than its own"
                );
                let o: Value = serde_json::from_str(&json).unwrap();
                let id = o["order_id"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "order id {id} twice");
                assert!(booked.insert(v.clone(), id).is_none(), "{v} has two orders");
            }
        }
        assert_eq!(booked, told);

        // Every transfer applied exactly once: each settled at its source is received once at
        // its destination with the same count, each received one was settled at its source,
        // and the cut-off ones are among them.
        let mut settled: HashMap<String, (Place, Place, u64)> = HashMap::new();
        let mut received: HashMap<String, (Place, Place, u64)> = HashMap::new();
        for (place, _) in &keys {
            let k = layout.keys(*place);
            assert!(env.books.hgetall(&k.xfer_open).await.is_empty());
            for (id, rec) in env.books.hgetall(&k.xfer_done).await {
                let (to, n) = rec.split_once('|').unwrap();
                settled.insert(id, (*place, Place::parse(to).unwrap(), n.parse().unwrap()));
            }
            for (id, rec) in env.books.hgetall(&k.xfer_recv).await {
                let (from, n) = rec.split_once('|').unwrap();
                received.insert(
                    id,
                    (Place::parse(from).unwrap(), *place, n.parse().unwrap()),
                );
            }
        }
        assert_eq!(settled, received);
        // And each place's counters say the same as its records: given = what it settled,
        // received = what it credited (a step done twice would count twice).
        for (place, key) in &keys {
            let [_, _, given, got, _] = place_counts(&env.books, key).await;
            let settled_here: u64 = settled.values().filter(|t| t.0 == *place).map(|t| t.2).sum();
            let received_here: u64 = received.values().filter(|t| t.1 == *place).map(|t| t.2).sum();
            assert_eq!((given as u64, got as u64), (settled_here, received_here), "{key}");
        }
        for (id, from) in &cut {
            assert_eq!(settled[id].0, *from, "{id}");
        }
        let to_shard0 = settled
            .values()
            .filter(|(_, to, _)| *to == Place::Shard(0))
            .count();
        assert!(to_shard0 > 0, "shard 0 was never refilled");
        println!(
            "{} transfers ({} cut off and finished by the keeper), {to_shard0} into the hot \
             shard; {samples} samples of the books",
            settled.len(),
            cut.len()
        );

        // Sold out for everyone now, and the public state says so for the whole sale.
        let late = env.pass(&sale, "late");
        let (status, body) = env.purchase("hot", Some(&late), "").await;
        assert_eq!((status, code(&body)), (409, "sold_out"), "{body}");
        let state = env
            .http
            .get(format!("{}/v1/sales/hot", env.origin.url()))
            .send()
            .await
            .unwrap();
        let (status, state) = crate::support::status_json(state).await;
        assert_eq!(status, 200);
        assert_eq!(
            (&state["status"], &state["sold"], &state["remaining"]),
            (&json!("sold_out"), &json!(STOCK), &json!(0)),
            "{state}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_sale_puts_one_shard_on_each_primary_of_a_cluster_and_sells_on_all() {
    alone(Duration::from_secs(180), async {
        const STOCK: u64 = 60;
        let cluster = RedisCluster::start(3).await.unwrap();
        let keys = TestKeys::generate();
        let origin = TestOrigin::start(&cluster.url(), &keys, OriginOptions::default())
            .await
            .unwrap();
        let http = http_client();
        let admin =
            herdgate_testkit::AdminClient::new(http.clone(), &origin.url(), &keys.admin_token);
        let config = json!({"stock": STOCK, "per_visitor_limit": 1,
            "starts_at_ms": now_ms() - 60_000, "admission_rate": 500, "stock_shards": 3});
        let (status, body) = admin.put_sale_reply("hot", &config).await.unwrap();
        assert_eq!(status, 201, "{body}");

        // One shard's books on each primary.
        let mut shards_per_primary = Vec::new();
        for (_, client) in cluster.primaries().await.unwrap() {
            let (_, found): (String, Vec<String>) = fred::interfaces::KeysInterface::scan_page(
                &client,
                "0",
                "hg:{hot.*}:sale",
                Some(1000),
                None,
            )
            .await
            .unwrap();
            shards_per_primary.push(found.len());
        }
        assert_eq!(shards_per_primary, vec![1, 1, 1]);

        // 90 buyers for 60 items: each bought at its own shard, on its own primary.
        let sale = SaleId::parse("hot").unwrap();
        let mut tasks = Vec::new();
        let limit = Arc::new(tokio::sync::Semaphore::new(12));
        for i in 0..90 {
            let v = format!("b{i}");
            let pass = keys.pass(&sale, &VisitorId::parse(&v).unwrap());
            let (http, base, limit) = (http.clone(), origin.url(), limit.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = limit.acquire_owned().await.unwrap();
                buy(http, base, "hot".into(), pass).await
            }));
        }
        let mut bought = 0;
        for t in tasks {
            bought += u64::from(t.await.unwrap().is_some());
        }
        assert_eq!(bought, STOCK);
        // The books, through the `redis` crate's cluster routing: sold at every shard, the
        // sale's stock sold in all, nothing left.
        let nodes = crate::independent::primary_urls(&cluster).await;
        let layout = ShardLayout::new(&sale, 3);
        let mut total = 0;
        for k in 0..3 {
            let books =
                crate::independent::cluster_hgetall(&nodes, &layout.keys(Place::Shard(k)).sale)
                    .await;
            let (sold, remaining): (u64, u64) = (
                books["sold"].parse().unwrap(),
                books["remaining"].parse().unwrap(),
            );
            assert!(sold > 0, "shard {k} sold nothing");
            assert_eq!(remaining, 0, "shard {k}");
            total += sold;
        }
        assert_eq!(total, STOCK);
    })
    .await;
}
