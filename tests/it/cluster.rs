//! The origin on a real Redis Cluster (three primaries, a replica each, `redis-server` in
//! cluster mode on free loopback ports): the scripts on every primary, sales on every primary
//! and sold there, the sales listed across them all, readiness that asks every primary, and a
//! primary that lost its script cache; an order answered only once a replica has it; and a
//! primary killed (`kill -9`) during a burst, with no acknowledged order lost.

use std::time::Duration;

use fred::interfaces::{ClientLike, KeysInterface, LuaInterface};
use herdgate_core::wire::SaleConfig;
use herdgate_core::SaleId;
use herdgate_testkit::{now_ms, AdminClient, OriginOptions, RedisCluster, TestKeys, TestOrigin};

use crate::support::{alone, http_client, purchase};

const SALES: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_sells_on_every_primary_of_a_cluster() {
    alone(Duration::from_secs(180), async {
        let cluster = RedisCluster::start(3).await.unwrap();
        let keys = TestKeys::generate();
        // Ready only once every primary holds the scripts (TestOrigin waits for /readyz).
        let origin = TestOrigin::start(&cluster.url(), &keys, OriginOptions::default())
            .await
            .unwrap();
        let http = http_client();
        let admin = AdminClient::new(http.clone(), &origin.url(), &keys.admin_token);
        let config = crate::support::open_config(5);
        let sales: Vec<String> = (0..SALES).map(|i| format!("c{i}")).collect();
        for sale in &sales {
            admin.put_sale(sale, &config).await.unwrap();
        }

        // Every primary holds some of the sales (their hash tags spread over the slots).
        let primaries = cluster.primaries().await.unwrap();
        assert_eq!(primaries.len(), 3);
        for (node, client) in &primaries {
            let (_, found): (String, Vec<String>) = client
                .scan_page("0", "hg:{*}:sale", Some(1000), None)
                .await
                .unwrap();
            assert!(
                !found.is_empty(),
                "no sale on the primary at {}",
                node.port()
            );
        }

        // Each sale sells, whichever primary holds it.
        let buy = |sale: &str, visitor: &str| {
            let pass = keys.pass(
                &SaleId::parse(sale).unwrap(),
                &herdgate_core::VisitorId::parse(visitor).unwrap(),
            );
            let (http, base, sale) = (http.clone(), origin.url(), sale.to_owned());
            async move { purchase(&http, &base, &sale, Some(&pass), "").await }
        };
        for sale in &sales {
            let (status, body) = buy(sale, "first").await;
            assert_eq!(status, 201, "{sale}: {body}");
            assert_eq!(body["remaining"], 4);
        }
        // Listed across every primary.
        let (status, listed) = admin.sales_reply().await.unwrap();
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed["sales"].as_array().unwrap().len(), SALES, "{listed}");

        // A primary loses its script cache (a restart, a SCRIPT FLUSH): the origin is not
        // ready until it holds them again, and the next purchase there loads them again.
        let (node, client) = &primaries[0];
        client.script_flush(false).await.unwrap();
        let readyz = format!("{}/readyz", origin.url());
        assert_eq!(http.get(&readyz).send().await.unwrap().status(), 503);
        for sale in &sales {
            let (status, body) = buy(sale, "second").await;
            assert_eq!(
                status,
                201,
                "{sale} after a SCRIPT FLUSH at {}: {body}",
                node.port()
            );
        }
        assert_eq!(http.get(&readyz).send().await.unwrap().status(), 200);
        // Each sale's books through another client's cluster routing (the `redis` crate's,
        // not fred's): two sold, nothing oversold.
        let nodes = crate::independent::primary_urls(&cluster).await;
        for sale in &sales {
            let (stock, sold, remaining) = crate::independent::cluster_stock(&nodes, sale).await;
            assert_eq!((stock, sold, remaining), (5, 2, 3), "{sale}");
        }
        // Nothing oversold, anywhere: each sale's books, read on its own primary.
        for (_, client) in &primaries {
            let (_, found): (String, Vec<String>) = client
                .scan_page("0", "hg:{*}:sale", Some(1000), None)
                .await
                .unwrap();
            for key in found {
                let f: Vec<u64> = fred::interfaces::HashesInterface::hmget(
                    client,
                    &key,
                    vec!["stock", "sold", "remaining"],
                )
                .await
                .unwrap();
                assert_eq!((f[1], f[0]), (2, f[1] + f[2]), "{key}");
            }
        }
    })
    .await;
}

/// `INFO replication` of one node.
async fn replication_info(client: &fred::clients::Client) -> String {
    client
        .info(Some(fred::types::InfoKind::Replication))
        .await
        .unwrap()
}

/// Waits (at most 60 s) until every primary has its replica connected and in sync.
async fn replicas_in_sync(cluster: &RedisCluster) {
    for (node, client) in cluster.primaries().await.unwrap() {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let info = replication_info(&client).await;
            if info.contains("connected_slaves:1") && info.contains("state=online") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: {info}",
                node.port()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sends `signal` (`STOP`, `CONT`) to the process `pid` the test started.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_answered_only_once_a_replica_of_its_primary_has_it() {
    alone(Duration::from_secs(180), async {
        let cluster = RedisCluster::start(3).await.unwrap();
        // Every primary's replica in sync first: the origin, with its default (`auto`), then
        // waits for one replica per write.
        replicas_in_sync(&cluster).await;
        let keys = TestKeys::generate();
        let options = OriginOptions {
            redis_wait_ms: Some(200),
            ..OriginOptions::default()
        };
        let origin = TestOrigin::start(&cluster.url(), &keys, options)
            .await
            .unwrap();
        let http = http_client();
        let admin = AdminClient::new(http.clone(), &origin.url(), &keys.admin_token);
        let sale = "durable";
        let config = crate::support::open_config(5);
        admin.put_sale(sale, &config).await.unwrap();
        let buy = |visitor: &str| {
            let pass = keys.pass(
                &SaleId::parse(sale).unwrap(),
                &herdgate_core::VisitorId::parse(visitor).unwrap(),
            );
            let (http, base) = (http.clone(), origin.url());
            async move { purchase(&http, &base, sale, Some(&pass), "").await }
        };

        // The sale's primary, and its replica.
        let key = format!("hg:{{{sale}}}:sale");
        let mut replica_port = None;
        for (_, client) in cluster.primaries().await.unwrap() {
            let (_, found): (String, Vec<String>) = client
                .scan_page("0", key.clone(), Some(1000), None)
                .await
                .unwrap();
            if found.contains(&key) {
                let info = replication_info(&client).await;
                let port = info
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("slave0:"))
                    .and_then(|l| l.split(',').find_map(|kv| kv.strip_prefix("port=")))
                    .and_then(|p| p.parse::<u16>().ok());
                replica_port = port;
            }
        }
        let replica_port = replica_port.expect("the sale's primary has a replica");
        let replica = cluster
            .nodes
            .iter()
            .find(|n| n.port() == replica_port)
            .unwrap();
        let pid = replica.pid().unwrap();

        // Answered: the replica had the order before the buyer heard of it.
        let (status, body) = buy("ann").await;
        assert_eq!(status, 201, "{body}");
        let on_replica: Option<String> = crate::independent::replica_hget(
            &replica.url(),
            &format!("hg:{{{sale}}}:orders"),
            "ann",
        )
        .await;
        assert!(
            on_replica.is_some(),
            "the replica does not have ann's order"
        );

        // The replica stops answering: the next order is written on the primary but not
        // answered (503, to retry), since a failover now would lose it.
        signal(pid, "STOP");
        let (first, first_body) = buy("ben").await;
        // Asked again while the replica still does not answer: the order is on the primary,
        // but it is still not answered.
        let (again, again_body) = buy("ben").await;
        signal(pid, "CONT");
        assert_eq!(
            (first, first_body["error"]["code"].as_str()),
            (503, Some("store_unavailable")),
            "{first_body}"
        );
        assert_eq!(
            (again, again_body["error"]["code"].as_str()),
            (503, Some("store_unavailable")),
            "{again_body}"
        );
        // The retry, once the replica is back, answers that same order.
        let (status, body) = buy("ben").await;
        assert_eq!(
            (status, &body["created"]),
            (200, &serde_json::json!(false)),
            "{body}"
        );
        let nodes = crate::independent::primary_urls(&cluster).await;
        let (stock, sold, remaining) = crate::independent::cluster_stock(&nodes, sale).await;
        assert_eq!((stock, sold, remaining), (5, 2, 3));
    })
    .await;
}

/// One buyer's purchase, asked again after every 503 until it is answered: the order id, how
/// many 503s it got, and from its first 503 to its answer (ms; 0 without one).
async fn buy_until_answered(
    http: reqwest::Client,
    base: String,
    sale: String,
    pass: String,
) -> (Option<String>, u32, u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let (mut refused, mut first_refusal) = (0u32, None);
    loop {
        let (status, body) = purchase(&http, &base, &sale, Some(&pass), "").await;
        match status {
            200 | 201 => {
                let waited =
                    first_refusal.map_or(0, |t: std::time::Instant| t.elapsed().as_millis() as u64);
                return (
                    body["order"]["order_id"].as_str().map(str::to_owned),
                    refused,
                    waited,
                );
            }
            503 if std::time::Instant::now() < deadline => {
                refused += 1;
                first_refusal.get_or_insert_with(std::time::Instant::now);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => panic!("{sale}: {status} {body}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_during_a_burst_loses_no_acknowledged_order() {
    alone(Duration::from_secs(240), async {
        const SALES: usize = 6;
        const BUYERS: usize = 60;
        let mut cluster = RedisCluster::start(3).await.unwrap();
        replicas_in_sync(&cluster).await;
        let keys = TestKeys::generate();
        let origin = TestOrigin::start(&cluster.url(), &keys, OriginOptions::default())
            .await
            .unwrap();
        let http = http_client();
        let admin = AdminClient::new(http.clone(), &origin.url(), &keys.admin_token);
        let config = SaleConfig {
            stock: BUYERS as u64,
            per_visitor_limit: 1,
            starts_at_ms: now_ms() - 60_000,
            admission_rate: 1_000,
            price: None,
            paused: None,
            prequeue: None,
            stock_shards: None,
            countries: Vec::new(),
        };
        let sales: Vec<String> = (0..SALES).map(|i| format!("f{i}")).collect();
        for sale in &sales {
            admin.put_sale(sale, &config).await.unwrap();
        }
        // The primary that dies: the one holding f0. Which sales it holds.
        let mut victim = None;
        let mut doomed: Vec<String> = Vec::new();
        for (node, client) in cluster.primaries().await.unwrap() {
            let (_, found): (String, Vec<String>) = client
                .scan_page("0", "hg:{*}:sale", Some(1000), None)
                .await
                .unwrap();
            if found.contains(&"hg:{f0}:sale".to_owned()) {
                victim = cluster.nodes.iter().position(|n| n.port() == node.port());
                doomed = sales
                    .iter()
                    .filter(|s| found.contains(&format!("hg:{{{s}}}:sale")))
                    .cloned()
                    .collect();
            }
        }
        let victim = victim.unwrap();

        // The burst: every sale's buyers at once, 24 requests in flight, each asking again
        // after a 503 until it is answered. A third of the way in, the primary is killed.
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(24));
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for n in 0..BUYERS {
            for sale in &sales {
                let visitor = format!("v{n}");
                let pass = keys.pass(
                    &SaleId::parse(sale).unwrap(),
                    &herdgate_core::VisitorId::parse(&visitor).unwrap(),
                );
                let (http, base, sale) = (http.clone(), origin.url(), sale.clone());
                let (limit, answered) = (limit.clone(), answered.clone());
                tasks.push(tokio::spawn(async move {
                    let _slot = limit.acquire_owned().await.unwrap();
                    let got = buy_until_answered(http, base, sale.clone(), pass).await;
                    answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    (sale, visitor, got)
                }));
            }
        }
        while answered.load(std::sync::atomic::Ordering::Relaxed) < SALES * BUYERS / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let killed_at = answered.load(std::sync::atomic::Ordering::Relaxed);
        cluster.nodes[victim].kill9();
        let mut acknowledged: std::collections::HashMap<(String, String), String> =
            std::collections::HashMap::new();
        let (mut waits_doomed, mut waits_others, mut refused_others) =
            (Vec::new(), Vec::new(), 0u32);
        for task in tasks {
            let (sale, visitor, (order, refused, waited)) = task.await.unwrap();
            let order =
                order.unwrap_or_else(|| panic!("{sale}/{visitor}: an answer without an order"));
            if doomed.contains(&sale) {
                waits_doomed.push(waited);
            } else {
                refused_others += refused;
                waits_others.push(waited);
            }
            acknowledged.insert((sale, visitor), order);
        }

        // Every order a buyer was told about is in the books of the promoted replica, once;
        // nothing is oversold; sold + remaining = stock.
        let nodes = crate::independent::primary_urls(&cluster).await;
        for sale in &sales {
            let orders =
                crate::independent::cluster_hgetall(&nodes, &format!("hg:{{{sale}}}:orders")).await;
            for n in 0..BUYERS {
                let visitor = format!("v{n}");
                let told = &acknowledged[&(sale.clone(), visitor.clone())];
                let kept = orders
                    .get(&visitor)
                    .unwrap_or_else(|| panic!("{sale}: {visitor}'s order {told} was lost"));
                let kept: serde_json::Value = serde_json::from_str(kept).unwrap();
                assert_eq!(kept["order_id"], told.as_str(), "{sale}/{visitor}");
            }
            assert_eq!(orders.len(), BUYERS, "{sale}");
            let (stock, sold, remaining) = crate::independent::cluster_stock(&nodes, sale).await;
            assert_eq!(
                (stock, sold, remaining),
                (BUYERS as u64, BUYERS as u64, 0),
                "{sale}"
            );
        }
        // The other primaries' sales never stopped: the origin sends each script straight to
        // the primary of its slot over a pool of its own, so none of their buyers was refused
        // while the killed primary's were.
        assert_eq!(
            refused_others, 0,
            "the other sales' buyers were refused {refused_others} times during the failover"
        );
        // How long the buyers waited (reported, not asserted: a measurement, not an invariant).
        waits_doomed.sort_unstable();
        waits_others.sort_unstable();
        println!(
            "killed the primary of {doomed:?} after {killed_at} of {} answers: its buyers waited \
             up to {} ms (median {} ms); the other sales' buyers got {refused_others} 503s and \
             waited up to {} ms",
            SALES * BUYERS,
            waits_doomed.last().unwrap_or(&0),
            waits_doomed[waits_doomed.len() / 2],
            waits_others.last().unwrap_or(&0),
        );
    })
    .await;
}
