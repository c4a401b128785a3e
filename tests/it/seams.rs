//! The promises at the seams between the edge, the origin and the operator: a refusal costs
//! nobody their place, and what the operator changes at the origin the edge obeys.
//!
//! Every check goes through the edge under workerd, in front of the real origin and Redis.
//! Times are read from the stack's own records: the admission moment the edge stamps on each
//! pass (`adm`), and the origin's settings.

use std::time::Duration;

use herdgate_core::wire::{QueueStatus, SaleConfig};
use herdgate_core::{read_unverified, PassClaims, VisitorId};
use herdgate_testkit::{now_ms, solve};
use serde_json::{json, Value};

use crate::edge_support::{admitted, builder, pass_of, poll_until, Stack, TEST_SHARDS};
use crate::support::{bounded, code};

const UA: &str = "Mozilla/5.0 (herdgate seams test)";

/// A sale's settings: `stock` items, one per visitor, opening at `starts_at_ms`, `rate`/s.
fn settings(stock: u64, starts_at_ms: u64, rate: u32) -> SaleConfig {
    SaleConfig {
        stock,
        per_visitor_limit: 1,
        starts_at_ms,
        admission_rate: rate,
        price: None,
        paused: None,
        prequeue: None,
        stock_shards: None,
        countries: Vec::new(),
    }
}

/// The moment the edge stamped on a pass as its admission, unix ms.
fn admitted_at(pass: &str) -> u64 {
    read_unverified::<PassClaims>(pass).unwrap().adm
}

/// Polls the edge's view of the sale until `done` says so (at most `limit`).
async fn edge_sees(s: &Stack, sale: &str, limit: Duration, done: impl Fn(&Value) -> bool) {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let seen = s.edge_state(sale).await;
        if done(&seen) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the edge still sees {seen} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Refusals the origin gives to an admitted buyer (too many items, a sale postponed under
/// them, the stock briefly gone, an order the audit cancelled) are not remembered as the
/// pass's answer: once the reason is gone, the same buyer buys. And the one answer that is
/// final, a cancelled order, reads as cancelled, not as the old order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_costs_nobody_their_place() {
    bounded(Duration::from_secs(150), async {
        // Each isolate keeps the sale's state 3 s, so purchases reach the origin while the
        // edge still believes what it saw before the origin changed.
        let s = Stack::start_from(builder().var("STATE_CACHE_MS", "3000"))
            .await
            .unwrap();
        let admin = s.admin();

        // Too many items: a buyer whose app asked for 2 of a limit of 1 buys 1 afterwards.
        s.sale("limit", 5, 60_000, 1_000).await;
        let me = s.buyer(UA);
        let joined = me.solve_and_join("limit", None).await.unwrap();
        let pass = pass_of(&me.status("limit", &joined.ticket).await.unwrap());
        let (status, body) = me
            .purchase_reply("limit", Some(&pass), &json!({"quantity": 2}))
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (422, "over_limit"), "{body}");
        let (status, body) = me
            .purchase_reply("limit", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "after over_limit: {body}");

        // Postponed under an admitted buyer: refused `sale_not_open`, then buys at the new
        // start with the same place.
        s.sale("later", 5, 60_000, 1_000).await;
        let me = s.buyer(UA);
        let joined = me.solve_and_join("later", None).await.unwrap();
        let pass = pass_of(&me.status("later", &joined.ticket).await.unwrap());
        let new_start = now_ms() + 4_000;
        admin
            .put_sale("later", &settings(5, new_start, 1_000))
            .await
            .unwrap();
        let (status, body) = me
            .purchase_reply("later", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "sale_not_open"), "{body}");
        // Until the edge has followed the change (within its STATE_CACHE_MS), it may still
        // hand out a pass under the old start; the first one after is for the new start.
        edge_sees(&s, "later", Duration::from_secs(20), |v| {
            v["sale"]["starts_at_ms"] == new_start
        })
        .await;
        let status = poll_until(
            &me,
            "later",
            &joined.ticket,
            Duration::from_secs(20),
            admitted,
        )
        .await;
        let pass = pass_of(&status);
        assert!(
            admitted_at(&pass) >= new_start,
            "a pass stamped {} before the new start {new_start}",
            admitted_at(&pass)
        );
        let (status, body) = me
            .purchase_reply("later", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "after sale_not_open: {body}");

        // The stock briefly gone: the last item is sold straight at the origin while the
        // edge still counts one; the buyer is refused `sold_out`, the operator restocks, and
        // the same buyer buys.
        let restock = s.sale("restock", 1, 60_000, 1_000).await;
        let me = s.buyer(UA);
        let joined = me.solve_and_join("restock", None).await.unwrap();
        let pass = pass_of(&me.status("restock", &joined.ticket).await.unwrap());
        let direct = s
            .keys
            .pass(&restock, &VisitorId::parse("direct-buyer").unwrap());
        let r = s
            .http
            .post(format!("{}/v1/sales/restock/purchase", s.origin.url()))
            .bearer_auth(direct)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let (status, body) = me
            .purchase_reply("restock", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "sold_out"), "{body}");
        admin
            .put_sale("restock", &settings(2, now_ms() - 60_000, 1_000))
            .await
            .unwrap();
        edge_sees(&s, "restock", Duration::from_secs(20), |v| {
            v["sale"]["remaining"] == 1
        })
        .await;
        let (status, body) = me
            .purchase_reply("restock", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "after a restock: {body}");
        assert_eq!(admin.sale("restock").await.unwrap().state.sold, 2);

        // An order the audit cancelled reads as cancelled, not as the old order, and nothing
        // of it comes back.
        s.sale("audited", 5, 60_000, 1_000).await;
        let me = s.buyer(UA);
        let joined = me.solve_and_join("audited", None).await.unwrap();
        let pass = pass_of(&me.status("audited", &joined.ticket).await.unwrap());
        let bought = me.purchase("audited", &pass, &json!({})).await.unwrap();
        assert!(bought.created);
        let again = me.purchase("audited", &pass, &json!({})).await.unwrap();
        assert_eq!((again.created, &again.order), (false, &bought.order));
        // Every order is "fast" under this policy: the audit cancels them all.
        let report = admin
            .audit(
                "audited",
                &json!({"apply": true, "fast_ms": 3_600_000, "flag_score": 1}),
            )
            .await
            .unwrap();
        assert_eq!(report["cancelled"], 1, "{report}");
        edge_sees(&s, "audited", Duration::from_secs(20), |v| {
            v["sale"]["cancelled"] == 1
        })
        .await;
        for _ in 0..2 {
            let (status, body) = me
                .purchase_reply("audited", Some(&pass), &json!({}))
                .await
                .unwrap();
            assert_eq!((status, code(&body)), (409, "order_cancelled"), "{body}");
        }
        let after = admin.sale("audited").await.unwrap();
        assert_eq!((after.state.sold, after.orders), (0, 0));
    })
    .await;
}

/// The operator postpones a sale after the first visitor looked at it: the edge admits
/// nobody before the new start, and meters from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_postponed_after_the_first_visitor_opens_at_the_new_time() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        let admin = s.admin();
        let first_start = now_ms() + 3_000;
        admin
            .put_sale("postponed", &settings(10, first_start, 1_000))
            .await
            .unwrap();
        let me = s.buyer(UA);
        let joined = me.solve_and_join("postponed", None).await.unwrap();
        assert!(
            matches!(joined.status, QueueStatus::Queued { .. }),
            "{joined:?}"
        );
        let new_start = first_start + 5_000;
        admin
            .put_sale("postponed", &settings(10, new_start, 1_000))
            .await
            .unwrap();
        let status = poll_until(
            &me,
            "postponed",
            &joined.ticket,
            Duration::from_secs(30),
            admitted,
        )
        .await;
        let pass = pass_of(&status);
        assert!(
            admitted_at(&pass) >= new_start,
            "admitted at {} under the old start {first_start}, not the new {new_start}",
            admitted_at(&pass)
        );
        let (status, body) = me
            .purchase_reply("postponed", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
    })
    .await;
}

/// The operator brings an hour-away opening forward to now: the edge admits the line from
/// the moment it sees the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_started_early_admits_from_the_change() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        let admin = s.admin();
        admin
            .put_sale("early", &settings(10, now_ms() + 3_600_000, 1_000))
            .await
            .unwrap();
        let me = s.buyer(UA);
        let joined = me.solve_and_join("early", None).await.unwrap();
        assert!(
            matches!(joined.status, QueueStatus::Queued { .. }),
            "{joined:?}"
        );
        let changed = now_ms();
        admin
            .put_sale("early", &settings(10, changed, 1_000))
            .await
            .unwrap();
        let status = poll_until(
            &me,
            "early",
            &joined.ticket,
            Duration::from_secs(30),
            admitted,
        )
        .await;
        let pass = pass_of(&status);
        assert!(admitted_at(&pass) >= changed);
        let (status, body) = me
            .purchase_reply("early", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
    })
    .await;
}

/// The rate and the pause are the origin's settings: changed there (by the origin's control
/// route or a new sale config) or through the edge's control route, every answer of the edge
/// follows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_pause_changed_at_the_origin_reach_the_edge() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        let admin = s.admin();
        s.sale("metered", 100, 60_000, 1).await;
        edge_sees(&s, "metered", Duration::from_secs(10), |v| {
            v["admission"]["rate"] == 1
        })
        .await;

        // A new rate in the sale's settings.
        let mut config = admin.sale("metered").await.unwrap().config;
        config.admission_rate = 40;
        admin.put_sale("metered", &config).await.unwrap();
        edge_sees(&s, "metered", Duration::from_secs(10), |v| {
            v["admission"]["rate"] == 40
        })
        .await;

        // Paused at the origin: a waiter far back is told so; resumed: queued again.
        let (status, body) = admin
            .control_reply("metered", &json!({"action": "pause"}))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["paused"], true);
        edge_sees(&s, "metered", Duration::from_secs(10), |v| {
            v["admission"]["paused"] == true
        })
        .await;
        // A restock that says nothing of the pause leaves the sale paused.
        let mut restock = admin.sale("metered").await.unwrap().config;
        restock.stock += 10;
        restock.paused = None;
        let after = admin.put_sale("metered", &restock).await.unwrap();
        assert_eq!(after.config.paused, Some(true));
        assert!(after.state.paused);
        let me = s.buyer(UA);
        let mut joined = me.solve_and_join("metered", None).await.unwrap();
        // The edge admits whoever the frontier passed before the pause: join until a place
        // behind it.
        while !matches!(joined.status, QueueStatus::Paused { .. }) {
            joined = me.solve_and_join("metered", None).await.unwrap();
        }
        let (status, body) = admin
            .control_reply("metered", &json!({"action": "resume"}))
            .await
            .unwrap();
        assert_eq!((status, body["paused"].clone()), (200, json!(false)));
        poll_until(
            &me,
            "metered",
            &joined.ticket,
            Duration::from_secs(10),
            |st| !matches!(st, QueueStatus::Paused { .. }),
        )
        .await;

        // Through the edge's control route the change is made at the origin too.
        let (status, c) = s
            .control("metered", Some(json!({"action": "set_rate", "rate": 7})))
            .await;
        assert_eq!((status, c["rate"].clone()), (200, json!(7)), "{c}");
        assert_eq!(
            admin.sale("metered").await.unwrap().config.admission_rate,
            7
        );
        // A refusal of the origin comes back as it is, and changes nothing.
        let (status, body) = s.control("ghost", Some(json!({"action": "pause"}))).await;
        assert_eq!((status, code(&body)), (404, "unknown_sale"), "{body}");
    })
    .await;
}

/// A join sent again (its answer was lost, a page reloaded) gets the same place and visitor,
/// and the join limits count it once: the device's next join is still allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_sent_again_keeps_its_place_and_is_counted_once() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start_with(json!({"JOINS_PER_DEVICE": "2"}))
            .await
            .unwrap();
        s.sale("again", 10, 60_000, 100).await;
        let me = s.buyer(UA);
        let challenge = me.challenge("again", None).await.unwrap();
        let nonce = solve(&challenge).await.unwrap();
        let (status, first) = me
            .join_reply("again", &challenge.challenge, nonce)
            .await
            .unwrap();
        assert_eq!(status, 201, "{first}");
        for _ in 0..3 {
            let (status, again) = me
                .join_reply("again", &challenge.challenge, nonce)
                .await
                .unwrap();
            assert_eq!(status, 201, "{again}");
            assert_eq!(
                (&again["position"], &again["visitor"]),
                (&first["position"], &first["visitor"])
            );
        }
        // Counted once: the device's second join of two is allowed, its third is not.
        let (status, body) = me.solve_and_join_reply("again", None).await.unwrap();
        assert_eq!(status, 201, "{body}");
        assert_ne!(body["position"], first["position"]);
        let (status, body) = me.solve_and_join_reply("again", None).await.unwrap();
        assert_eq!((status, code(&body)), (429, "join_limit_device"), "{body}");
        // At the limit, the first join sent again still gets its place.
        let (status, again) = me
            .join_reply("again", &challenge.challenge, nonce)
            .await
            .unwrap();
        assert_eq!((status, &again["position"]), (201, &first["position"]));
    })
    .await;
}

/// After the sell-out, the winner who asks again (their answer was lost) gets their order,
/// not "sold out"; and the operator's changes still reach the sold-out sale's public state,
/// which every origin then answers from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sold_out_sale_still_answers_its_winner_and_follows_its_operator() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        s.sale("last", 1, 60_000, 100).await;
        let me = s.buyer(UA);
        let joined = me.solve_and_join("last", None).await.unwrap();
        let pass = pass_of(&me.status("last", &joined.ticket).await.unwrap());
        let bought = me.purchase("last", &pass, &json!({})).await.unwrap();
        assert_eq!((bought.created, bought.remaining), (true, 0));
        let again = me.purchase("last", &pass, &json!({})).await.unwrap();
        assert_eq!((again.created, &again.order), (false, &bought.order));

        let public = || async {
            let r = s
                .http
                .get(format!("{}/v1/sales/last", s.origin.url()))
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        };
        let before = public().await;
        assert_eq!(before["status"], "sold_out");
        let (status, body) = s
            .admin()
            .control_reply("last", &json!({"action": "pause"}))
            .await
            .unwrap();
        assert_eq!((status, &body["paused"]), (200, &json!(true)), "{body}");
        // The origin's sold-out memory is read again with the new settings.
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = public().await;
            if now["paused"] == true {
                assert_eq!(now["status"], "sold_out");
                assert!(now["revision"].as_u64() > before["revision"].as_u64());
                break;
            }
            assert!(tokio::time::Instant::now() < until, "still {now}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

/// A chunked body (no declared length) is refused as soon as it passes the edge's limit,
/// without waiting for its end: a client cannot make the edge hold a large body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_refused_while_it_streams() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    bounded(Duration::from_secs(90), async {
        let s = Stack::start().await.unwrap();
        s.sale("chunks", 10, 60_000, 100).await;
        let addr = s
            .edge
            .url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/v1/sales/chunks/join HTTP/1.1\r\nHost: {addr}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        // 8 KiB in 1 KiB chunks, and then the body never ends.
        let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
        for _ in 0..8 {
            tcp.write_all(chunk.as_bytes()).await.unwrap();
        }
        tcp.flush().await.unwrap();
        let mut answer = Vec::new();
        let read_answer = async {
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&answer).contains("body_too_large") {
                match tcp.read(&mut buf).await.unwrap() {
                    0 => break,
                    n => answer.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read_answer)
            .await
            .expect("the edge waited for the end of a body already over its limit");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("body_too_large"), "{answer}");
    })
    .await;
}

/// Once a sale has been over for `CLEANUP_AFTER_SECS`, its queue shards and join limiters
/// delete what it left behind (spent challenges, the pass ledger, join counts), keeping only
/// each shard's count of positions handed out: a restock still hands out new positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_that_is_over_leaves_nothing_behind_but_its_position_counts() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start_with(json!({
            "CLEANUP_AFTER_SECS": "2",
            // The clean-up waits for every challenge of the open sale to expire too.
            "CHALLENGE_TTL_SECS": "3",
            "CLEANUP_CHECK_SECS": "1",
            "JOINS_PER_NETWORK": "100",
        }))
        .await
        .unwrap();
        let sale = s.sale("ends", 2, 60_000, 1_000).await;
        let storage = || async {
            let (status, body) = s
                .buyer(UA)
                .storage_reply("ends", &s.keys.admin_token)
                .await
                .unwrap();
            assert_eq!(status, 200, "{body}");
            body
        };
        let mut positions = Vec::new();
        let mut buyers = Vec::new();
        for n in 0..6 {
            let me = s.buyer(&format!("{UA} {n}"));
            let joined = me.solve_and_join("ends", None).await.unwrap();
            positions.push(joined.position);
            buyers.push((me, joined.ticket));
        }
        for (me, ticket) in &buyers[..2] {
            let pass = pass_of(&me.status("ends", ticket).await.unwrap());
            me.purchase("ends", &pass, &json!({})).await.unwrap();
        }
        let during = storage().await;
        // Six spent challenges, two ledger entries and one network's count at least.
        assert!(
            during["queue_shards"]["keys"].as_u64().unwrap() >= 8,
            "{during}"
        );
        assert!(
            during["join_limiters"]["keys"].as_u64().unwrap() >= 1,
            "{during}"
        );

        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        let after = loop {
            let now = storage().await;
            if now["join_limiters"]["keys"] == 0
                && now["queue_shards"]["keys"].as_u64().unwrap() <= TEST_SHARDS
            {
                break now;
            }
            assert!(tokio::time::Instant::now() < until, "still {now}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert!(after["bytes"].as_u64().unwrap() < 200, "{after}");

        // Restocked after the clean-up: new positions, never one handed out before.
        s.admin()
            .put_sale("ends", &settings(4, now_ms() - 60_000, 1_000))
            .await
            .unwrap();
        edge_sees(&s, "ends", Duration::from_secs(10), |v| {
            v["sale"]["remaining"] == 2
        })
        .await;
        for n in 0..4 {
            let joined = s
                .buyer(&format!("{UA} later {n}"))
                .solve_and_join(sale.as_str(), None)
                .await
                .unwrap();
            assert!(
                !positions.contains(&joined.position),
                "position {} handed out twice",
                joined.position
            );
            positions.push(joined.position);
        }
    })
    .await;
}
