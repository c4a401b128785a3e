//! The origin on a real Redis Cluster (three primaries, a replica each, `redis-server` in
//! cluster mode on free loopback ports): the scripts on every primary, sales on every primary
//! and sold there, the sales listed across them all, readiness that asks every primary, and a
//! primary that lost its script cache.

use std::time::Duration;

use fred::interfaces::{KeysInterface, LuaInterface};
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
        let config = SaleConfig {
            stock: 5,
            per_visitor_limit: 1,
            starts_at_ms: now_ms() - 60_000,
            admission_rate: 100,
            price: None,
            paused: None,
            prequeue: None,
        };
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
        let nodes: Vec<String> = primaries
            .iter()
            .map(|(node, _)| format!("redis://127.0.0.1:{}", node.port()))
            .collect();
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
