//! An order the origin acknowledged survives `kill -9` of redis-server mid-burst, once Redis is
//! restarted from its files with the shipped configuration.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use tokio::sync::Semaphore;

use crate::support::{bounded, purchase, read_stock, Env};

const BUYERS: usize = 3_000;
const ITEMS: u64 = 2_000;
const KILL_AFTER_ACKS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_survive_kill_9_of_redis() {
    bounded(Duration::from_secs(180), async {
        let mut env = Env::start().await.unwrap();
        let sale = env.create_sale("durable", ITEMS, 1).await;
        let acks = Arc::new(AtomicUsize::new(0));
        let killed = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::new(Semaphore::new(64));
        let mut tasks = Vec::new();
        for i in 0..BUYERS {
            let visitor = format!("d{i}");
            let pass = env.pass(&sale, &visitor);
            let (http, base, acks, killed, gate) = (
                env.http.clone(),
                env.origin.url(),
                Arc::clone(&acks),
                Arc::clone(&killed),
                Arc::clone(&gate),
            );
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                let (status, body) = purchase(&http, &base, "durable", Some(&pass), "").await;
                if status == 201 && acks.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER_ACKS {
                    killed.notify_one();
                }
                (visitor, status, body)
            }));
        }

        killed.notified().await;
        env.redis.kill9();

        let mut acknowledged: HashMap<String, serde_json::Value> = HashMap::new();
        let mut unavailable = 0;
        for t in tasks {
            let (visitor, status, body) = t.await.unwrap();
            match status {
                201 | 200 => {
                    acknowledged.insert(visitor, body["order"].clone());
                }
                503 => unavailable += 1,
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert!(acknowledged.len() >= KILL_AFTER_ACKS);
        assert!(
            unavailable > 0,
            "Redis was killed after every purchase had finished"
        );

        env.redis.restart().await.unwrap();
        let client = env.redis.client().await.unwrap();
        // Read with the `redis` crate: not the client that wrote them.
        let books = crate::independent::Books::connect(&env.redis.url()).await;
        let orders: HashMap<String, String> = books.hgetall(&format!("hg:{{{sale}}}:orders")).await;
        let mut lost = Vec::new();
        for (visitor, order) in &acknowledged {
            match orders.get(visitor) {
                Some(stored) => {
                    let stored: serde_json::Value = serde_json::from_str(stored).unwrap();
                    assert_eq!(&stored, order, "order of {visitor} changed");
                }
                None => lost.push(visitor.clone()),
            }
        }
        assert!(
            lost.is_empty(),
            "{} acknowledged orders lost: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );

        // The books balance after the crash, too.
        let (remaining, sold, stock) = read_stock(&env.redis.url(), &sale).await;
        assert_eq!(remaining + sold, stock);
        assert_eq!(sold, orders.len() as u64);
        let log: u64 = client.xlen(format!("hg:{{{sale}}}:log")).await.unwrap();
        assert_eq!(log, sold);

        // The origin reconnects by itself and keeps selling.
        env.origin
            .wait_ready(Duration::from_secs(30))
            .await
            .unwrap();
        let pass = env.pass(&sale, "after-crash");
        let (status, body) = env.purchase("durable", Some(&pass), "").await;
        assert_eq!(status, 201, "{body}");
    })
    .await;
}
