//! Idempotency: a retry returns the same order, a pass buys once, a visitor buys once.

use std::collections::HashSet;
use std::time::Duration;

use fred::prelude::*;

use crate::support::{bounded, code, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_purchase_returns_the_same_order() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let sale = env.create_sale("retry", 10, 1).await;
        let pass = env.pass(&sale, "alice");

        let (s1, first) = env.purchase("retry", Some(&pass), "{\"quantity\":1}").await;
        assert_eq!(s1, 201, "{first}");
        assert_eq!(first["created"], true);
        assert_eq!(first["remaining"], 9);

        let (s2, again) = env.purchase("retry", Some(&pass), "{\"quantity\":1}").await;
        assert_eq!(s2, 200, "{again}");
        assert_eq!(again["created"], false);
        assert_eq!(again["order"], first["order"]);

        // A new pass for the same visitor does not buy a second time either.
        let second_pass = env.pass(&sale, "alice");
        let (s3, third) = env.purchase("retry", Some(&second_pass), "").await;
        assert_eq!(s3, 200, "{third}");
        assert_eq!(third["order"], first["order"]);

        assert_eq!(env.stock(&sale).await, (9, 1, 10));
        assert_eq!(env.orders(&sale).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_pass_sent_many_times_at_once_buys_once() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let sale = env.create_sale("replay", 10, 1).await;
        let pass = env.pass(&sale, "bob");
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (http, base, pass) = (env.http.clone(), env.origin.url(), pass.clone());
            tasks.push(tokio::spawn(async move {
                crate::support::purchase(&http, &base, "replay", Some(&pass), "").await
            }));
        }
        let mut created = 0;
        let mut ids = HashSet::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert!(status == 201 || status == 200, "{status} {body}");
            if status == 201 {
                created += 1;
            }
            ids.insert(body["order"]["order_id"].as_str().unwrap().to_owned());
        }
        assert_eq!(created, 1);
        assert_eq!(ids.len(), 1, "{ids:?}");
        assert_eq!(env.stock(&sale).await, (9, 1, 10));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quantity_up_to_the_limit_and_a_spent_pass_never_buys_again() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let sale = env.create_sale("multi", 10, 3).await;
        let pass = env.pass(&sale, "carol");
        let (status, body) = env.purchase("multi", Some(&pass), "{\"quantity\":3}").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["order"]["quantity"], 3);
        assert_eq!(env.stock(&sale).await, (7, 3, 10));

        // An operator cancels the order (e.g. after an audit) without returning the pass:
        // the pass that bought it is spent.
        let _: i64 = env
            .redis_client
            .hdel(format!("hg:{{{sale}}}:orders"), "carol")
            .await
            .unwrap();
        let (status, body) = env.purchase("multi", Some(&pass), "").await;
        assert_eq!((status, code(&body)), (409, "pass_spent"), "{body}");
        assert_eq!(env.stock(&sale).await, (7, 3, 10));
    })
    .await;
}
