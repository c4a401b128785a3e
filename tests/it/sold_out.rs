//! The sold-out fast path: answered from memory, learnt by every origin without polling,
//! forgotten on restock.

use std::time::Duration;

use herdgate_testkit::{OriginOptions, TestOrigin};

use crate::support::{
    bounded, code, command_calls, http_client, metrics_text, purchase, sum_metric, Env,
};

/// Polls an origin's /metrics (with the admin `token`) until `gauge` reads `want` (at most
/// 10 s).
async fn wait_for_gauge(http: &reqwest::Client, base: &str, token: &str, gauge: &str, want: f64) {
    for _ in 0..400 {
        let text = metrics_text(http, base, token).await;
        if sum_metric(&text, gauge, &[]) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{gauge} at {base} never reached {want}");
}

/// The Redis commands that could serve a purchase or a sale state.
const STORE_COMMANDS: [&str; 6] = ["evalsha", "eval", "hmget", "hget", "hgetall", "hlen"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sold_out_is_answered_from_memory_on_every_origin() {
    bounded(Duration::from_secs(90), async {
        // The timeline recorder samples a sale in the background for ten minutes after its
        // sell-out; this test counts what the buyers' path asks of Redis, so it runs without.
        let quiet = OriginOptions {
            timeline_every_ms: Some(0),
            ..OriginOptions::default()
        };
        let env = Env::start_with(quiet.clone()).await.unwrap();
        // A second origin on the same Redis that never sells anything itself.
        let other = TestOrigin::start(&env.redis.url(), &env.keys, quiet)
            .await
            .unwrap();
        let sale = env.create_sale("tiny", 3, 1).await;
        let mut winners = Vec::new();
        for v in ["w1", "w2", "w3"] {
            let pass = env.pass(&sale, v);
            let (status, body) = env.purchase("tiny", Some(&pass), "").await;
            assert_eq!(status, 201, "{body}");
            winners.push((pass, body["order"].clone()));
        }

        // Both origins learn it, the second one only from the pub/sub event.
        let http = http_client();
        wait_for_gauge(
            &http,
            &env.origin.url(),
            &env.keys.admin_token,
            "herdgate_sold_out_sales_in_memory",
            1.0,
        )
        .await;
        wait_for_gauge(
            &http,
            &other.url(),
            &env.keys.admin_token,
            "herdgate_sold_out_sales_in_memory",
            1.0,
        )
        .await;

        let before: Vec<u64> = store_command_calls(&env).await;
        for (i, base) in [env.origin.url(), other.url()].iter().enumerate() {
            for n in 0..100 {
                let pass = env.pass(&sale, &format!("late-{i}-{n}"));
                let (status, body) = purchase(&http, base, "tiny", Some(&pass), "").await;
                assert_eq!((status, code(&body)), (409, "sold_out"), "{body}");
            }
            // A winner retrying after the sell-out still gets their own order.
            let (pass, order) = &winners[i];
            let (status, body) = purchase(&http, base, "tiny", Some(pass), "").await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(&body["order"], order);
            // The public state too.
            let state: serde_json::Value = http
                .get(format!("{base}/v1/sales/tiny"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(state["status"], "sold_out");
            assert_eq!(state["sold"], 3);
        }
        let after = store_command_calls(&env).await;
        assert_eq!(
            before, after,
            "Redis served commands {STORE_COMMANDS:?} for a sold-out sale"
        );
        assert_eq!(env.stock(&sale).await, (0, 3, 3));

        // Restock: every origin forgets, and the next buyer gets an item.
        let config = serde_json::json!({
            "stock": 4, "per_visitor_limit": 1,
            "starts_at_ms": herdgate_testkit::now_ms() - 60_000, "admission_rate": 500,
        });
        assert_eq!(
            env.admin.put_sale_reply("tiny", &config).await.unwrap().0,
            200
        );
        wait_for_gauge(
            &http,
            &other.url(),
            &env.keys.admin_token,
            "herdgate_sold_out_sales_in_memory",
            0.0,
        )
        .await;
        let pass = env.pass(&sale, "after-restock");
        let (status, body) = purchase(&http, &other.url(), "tiny", Some(&pass), "").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(env.stock(&sale).await, (0, 4, 4));
        other.stop().await;
    })
    .await;
}

async fn store_command_calls(env: &Env) -> Vec<u64> {
    let mut out = Vec::new();
    for c in STORE_COMMANDS {
        out.push(command_calls(&env.redis_client, c).await);
    }
    out
}
