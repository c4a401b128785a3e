//! The waiting room in real headless Chromium: `tests/browser/waiting-room.test.mjs` (node's
//! test runner, playwright-core, axe-core) drives the browser against this stack, and this
//! side checks the books in Redis afterwards.
//!
//! Set `HERDGATE_SCREENSHOTS=docs/screenshots` to refresh the README's screenshots.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use herdgate_core::SaleId;
use serde_json::json;
use tokio::process::Command;

use herdgate_testkit::Localstripe;

use crate::edge_support::{self, Stack};
use crate::support::{alone, read_stock};

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
            let (remaining, sold, stock) = read_stock(&redis, &id).await;
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
