//! The edge's own numbers (`GET /admin/v1/sales/{sale}/counters`): every request the crowd
//! sent is counted once, by route, with its refusal, and the totals match what the crowd saw.
//! (Locally there is one isolate, and reading the totals hands its own counts on first, so
//! they are exact here; in production each isolate's last `STATE_CACHE_MS` may be missing.)

use std::time::Duration;

use herdgate_core::wire::{EdgeCounts, QueueStatus};
use serde_json::json;

use crate::edge_support::{admitted, pass_of, Stack};
use crate::openapi::check_documented;
use crate::support::{bounded, code};

const UA: &str = "herdgate-tests (counters)";
const ROUTE: &str = "/admin/v1/sales/{sale}/counters";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_counts_what_it_answered_and_tells_only_the_operator() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        s.sale("counted", 100, 60_000, 1_000).await;
        let operator = s.buyer(UA);
        let token = s.keys.admin_token.clone();

        // The operator's route: the token, and a sale that exists.
        let (status, body) = operator.counters_reply("counted", "wrong").await.unwrap();
        assert_eq!((status, code(&body)), (401, "unauthorized"));
        check_documented("get", ROUTE, status, &body, "counters without the token");
        let (status, body) = operator.counters_reply("nosuch", &token).await.unwrap();
        assert_eq!((status, code(&body)), (404, "unknown_sale"));
        check_documented("get", ROUTE, status, &body, "counters of no sale");

        // Three buyers join (admitted at once: the sale opened a minute ago at 1,000/s) and
        // buy.
        let mut sent = EdgeCounts::default();
        let mut passes = Vec::new();
        for n in 0..3 {
            let me = s.buyer(&format!("{UA} {n}"));
            let joined = me.solve_and_join("counted", None).await.unwrap();
            sent.joins += 1;
            if admitted(&joined.status) {
                sent.passes += 1;
            }
            let status = if admitted(&joined.status) {
                joined.status
            } else {
                let status = me.status("counted", &joined.ticket).await.unwrap();
                *sent.requests.entry("status".into()).or_default() += 1;
                if matches!(status, QueueStatus::Admitted { .. }) {
                    sent.passes += 1;
                }
                status
            };
            passes.push((me, pass_of(&status)));
        }
        *sent.requests.entry("challenge".into()).or_default() += 3;
        *sent.requests.entry("join".into()).or_default() += 3;
        for (me, pass) in &passes {
            let (status, body) = me
                .purchase_reply("counted", Some(pass), &json!({}))
                .await
                .unwrap();
            assert_eq!(status, 201, "{body}");
            *sent.requests.entry("purchase".into()).or_default() += 1;
        }
        // A made-up pass is refused at the edge: counted, not forwarded.
        let (status, body) = passes[0]
            .0
            .purchase_reply("counted", Some("not-a-pass"), &json!({}))
            .await
            .unwrap();
        assert!(status >= 400, "{body}");
        *sent.requests.entry("purchase".into()).or_default() += 1;
        *sent.refusals.entry(code(&body).to_owned()).or_default() += 1;

        // A poll without a ticket: refused, and counted with its code.
        let (status, body) = operator.status_reply("counted", "").await.unwrap();
        assert!(status >= 400, "{body}");
        *sent.requests.entry("status".into()).or_default() += 1;
        *sent.refusals.entry(code(&body).to_owned()).or_default() += 1;

        let (status, body) = operator.counters_reply("counted", &token).await.unwrap();
        assert_eq!(status, 200, "{body}");
        check_documented("get", ROUTE, status, &body, "counters");
        let counted: EdgeCounts = serde_json::from_value(body).unwrap();
        assert_eq!(counted.requests, sent.requests, "requests by route");
        assert_eq!(counted.refusals, sent.refusals, "refusals by code");
        assert_eq!((counted.joins, counted.passes), (sent.joins, sent.passes));
        assert_eq!(counted.purchases_forwarded, 3);
        assert_eq!(counted.holds, 0);

        // Reading the totals counts nothing, and gives the same totals again.
        let (_, again) = operator.counters_reply("counted", &token).await.unwrap();
        assert_eq!(
            serde_json::from_value::<EdgeCounts>(again).unwrap(),
            counted
        );
    })
    .await;
}
