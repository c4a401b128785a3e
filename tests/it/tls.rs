//! The origin reaches Redis over TLS (`rediss://`, a `redis-server` of the test's own with a
//! certificate from a certificate authority of its own), and trusts only the authorities it
//! is given (`--redis-tls-ca`); and a Redis Cluster over TLS (`rediss-cluster://`), every
//! primary of it.

use std::time::Duration;

use herdgate_core::SaleId;
use herdgate_testkit::{
    AdminClient, OriginOptions, RedisCluster, RedisServer, TestKeys, TestOrigin,
};

use crate::independent::Books;
use crate::support::{bounded, http_client, purchase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_sells_over_tls_and_refuses_a_redis_it_cannot_trust() {
    bounded(Duration::from_secs(90), async {
        let redis = RedisServer::start_tls().await.unwrap();
        let url = redis.tls_url().unwrap();
        let keys = TestKeys::generate();
        let trusting = OriginOptions {
            redis_tls_ca: redis.tls_ca(),
            ..OriginOptions::default()
        };
        // Ready only once the scripts are loaded: over TLS.
        let origin = TestOrigin::start(&url, &keys, trusting).await.unwrap();
        let http = http_client();
        let admin = AdminClient::new(http.clone(), &origin.url(), &keys.admin_token);
        let config = crate::support::open_config(3);
        admin.put_sale("secure", &config).await.unwrap();
        let sale = SaleId::parse("secure").unwrap();
        let pass = keys.pass(&sale, &herdgate_core::VisitorId::parse("ann").unwrap());
        let (status, body) = purchase(&http, &origin.url(), "secure", Some(&pass), "").await;
        assert_eq!(status, 201, "{body}");
        // The books, read on the server's plain port by another client.
        let books = Books::connect(&redis.url()).await;
        assert_eq!(books.stock(&sale).await, (2, 1, 3));

        // An origin that trusts only the system's authorities does not trust this server: it
        // is never ready, and a purchase is a 503 (to retry), not an order.
        let doubting = TestOrigin::start_unready(&url, &keys, OriginOptions::default())
            .await
            .unwrap();
        let ready = format!("{}/readyz", doubting.url());
        for _ in 0..10 {
            let status = http.get(&ready).send().await.unwrap().status();
            assert_eq!(status, 503);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let pass = keys.pass(&sale, &herdgate_core::VisitorId::parse("ben").unwrap());
        let (status, body) = purchase(&http, &doubting.url(), "secure", Some(&pass), "").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("store_unavailable")),
            "{body}"
        );
        assert_eq!(books.stock(&sale).await, (2, 1, 3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_sells_on_every_primary_of_a_cluster_over_tls() {
    crate::support::alone(Duration::from_secs(180), async {
        // Three primaries and their replicas, every node on a TLS port too, the cluster bus
        // and replication over TLS.
        let cluster = RedisCluster::start_tls(3).await.unwrap();
        let keys = TestKeys::generate();
        let options = OriginOptions {
            redis_tls_ca: cluster.tls_ca(),
            ..OriginOptions::default()
        };
        // Ready only once every primary holds the scripts: over TLS, at the TLS ports the
        // cluster told the origin.
        let origin = TestOrigin::start(&cluster.tls_url().unwrap(), &keys, options)
            .await
            .unwrap();
        let http = http_client();
        let admin = AdminClient::new(http.clone(), &origin.url(), &keys.admin_token);
        let mut config = crate::support::open_config(4);
        // Six sales, spread over the primaries by their slots, and one over three stock
        // shards (one on each primary, reached through each primary's own pool).
        let sales: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
        for sale in &sales {
            admin.put_sale(sale, &config).await.unwrap();
        }
        config.stock = 6;
        config.stock_shards = Some(3);
        admin.put_sale("sharded", &config).await.unwrap();
        for (sale, buyers) in sales
            .iter()
            .map(|s| (s.as_str(), 1))
            .chain([("sharded", 6)])
        {
            let id = SaleId::parse(sale).unwrap();
            for b in 0..buyers {
                let visitor = herdgate_core::VisitorId::parse(&format!("v{b}")).unwrap();
                let pass = keys.pass(&id, &visitor);
                let (status, body) = purchase(&http, &origin.url(), sale, Some(&pass), "").await;
                assert_eq!(status, 201, "{sale}: {body}");
            }
        }
        // The books, read on the plain ports through the `redis` crate's cluster routing.
        let nodes = crate::independent::primary_urls(&cluster).await;
        for sale in &sales {
            let (stock, sold, remaining) = crate::independent::cluster_stock(&nodes, sale).await;
            assert_eq!((stock, sold, remaining), (4, 1, 3), "{sale}");
        }
        let state = admin.sale("sharded").await.unwrap();
        assert_eq!((state.state.sold, state.orders), (6, 6));
        let late = keys.pass(
            &SaleId::parse("sharded").unwrap(),
            &herdgate_core::VisitorId::parse("late").unwrap(),
        );
        let (status, body) = purchase(&http, &origin.url(), "sharded", Some(&late), "").await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("sold_out")),
            "{body}"
        );
    })
    .await;
}
