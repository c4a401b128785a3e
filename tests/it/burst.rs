//! The flash sale itself: far more buyers than items, all at once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use serde_json::Value;
use tokio::sync::{watch, Semaphore};

use crate::support::{alone, code, purchase, Env};

const BUYERS: usize = 20_000;
const ITEMS: u64 = 1_000;
/// HTTP requests open at once, as a load balancer's connection pool would allow.
const CONNECTIONS: usize = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_buyers_for_a_thousand_items_never_oversell() {
    alone(Duration::from_secs(300), async {
        let env = Env::start().await.unwrap();
        let sale = env.create_sale("burst", ITEMS, 1).await;
        let passes: Vec<(String, String)> = (0..BUYERS)
            .map(|i| {
                let visitor = format!("v{i}");
                let pass = env.pass(&sale, &visitor);
                (visitor, pass)
            })
            .collect();

        // Watch the invariant while the burst runs: sold + remaining = stock in every sample.
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let client = env.books.clone();
            let sale = sale.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    samples.push(client.stock(&sale).await);
                    tokio::task::yield_now().await;
                }
                samples
            })
        };

        // Every buyer waits for the same starting gun.
        let (go, _) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(CONNECTIONS));
        let base = env.origin.url();
        let mut tasks = Vec::with_capacity(BUYERS);
        for (visitor, pass) in passes {
            let (mut go, gate, http, base) = (
                go.subscribe(),
                Arc::clone(&gate),
                env.http.clone(),
                base.clone(),
            );
            tasks.push(tokio::spawn(async move {
                go.wait_for(|started| *started).await.unwrap();
                let _permit = gate.acquire().await.unwrap();
                let (status, body) = purchase(&http, &base, "burst", Some(&pass), "").await;
                (visitor, status, body)
            }));
        }
        go.send_replace(true);

        let mut created: Vec<Value> = Vec::new();
        let mut sold_out = 0usize;
        let mut other = Vec::new();
        for t in tasks {
            let (visitor, status, body) = t.await.unwrap();
            match (status, code(&body)) {
                (201, _) => {
                    assert_eq!(body["order"]["visitor"], visitor.as_str());
                    created.push(body);
                }
                (409, "sold_out") => sold_out += 1,
                _ => other.push((status, body)),
            }
        }
        stop.store(true, Ordering::Relaxed);
        let samples = sampler.await.unwrap();

        assert!(
            other.is_empty(),
            "unexpected answers: {:?}",
            &other[..other.len().min(5)]
        );
        assert_eq!(created.len() as u64, ITEMS, "orders created");
        assert_eq!(sold_out, BUYERS - ITEMS as usize, "sold-out refusals");

        let visitors: HashSet<&str> = created
            .iter()
            .map(|b| b["order"]["visitor"].as_str().unwrap())
            .collect();
        let order_ids: HashSet<&str> = created
            .iter()
            .map(|b| b["order"]["order_id"].as_str().unwrap())
            .collect();
        assert_eq!(visitors.len() as u64, ITEMS, "a visitor got two orders");
        assert_eq!(order_ids.len() as u64, ITEMS, "an order id was reused");

        // Redis agrees.
        assert_eq!(env.stock(&sale).await, (0, ITEMS, ITEMS));
        assert_eq!(env.orders(&sale).await, ITEMS);
        let log_len: u64 = env
            .redis_client
            .xlen(format!("hg:{{{sale}}}:log"))
            .await
            .unwrap();
        assert_eq!(log_len, ITEMS);
        let spent: u64 = env
            .redis_client
            .hlen(format!("hg:{{{sale}}}:passes"))
            .await
            .unwrap();
        assert_eq!(spent, ITEMS);

        // The invariant held at every sample, and some samples were taken mid-sale.
        assert!(
            samples
                .iter()
                .all(|(rem, sold, stock)| rem + sold == *stock && *stock == ITEMS),
            "a sample broke sold + remaining = stock"
        );
        let mid = samples
            .iter()
            .filter(|(_, sold, _)| *sold > 0 && *sold < ITEMS)
            .count();
        assert!(
            mid > 0,
            "no sample was taken while the sale was selling ({} samples)",
            samples.len()
        );
    })
    .await;
}
