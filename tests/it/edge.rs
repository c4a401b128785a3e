//! The edge worker under workerd, in front of the real origin and a real Redis.

use std::collections::HashSet;
use std::time::Duration;

use herdgate_core::wire::QueueStatus;
use herdgate_core::{ChallengeClaims, PassClaims};
use serde_json::json;

use crate::edge_support::{pass_of, Stack, TEST_SHARDS};
use crate::support::{bounded, code};

const UA: &str = "Mozilla/5.0 (herdgate test)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_status_pass_purchase_reaches_the_origin_and_redis() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        let sale = s.sale("path", 5, 60_000, 100).await;

        // The waiting room, as a page and as JSON.
        let page = s
            .http
            .get(format!("{}/sales/path", s.edge.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("aria-live") && html.contains("new Worker"),
            "{html}"
        );
        let room: serde_json::Value = s
            .http
            .get(format!("{}/sales/path", s.edge.url()))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(room["sale"]["remaining"], 5);
        assert_eq!(room["status"], serde_json::Value::Null);

        let me = s.buyer(UA);
        let joined = me.solve_and_join("path", None).await.unwrap();
        assert!(
            matches!(joined.status, QueueStatus::Admitted { .. }),
            "{joined:?}"
        );
        let status = me.status("path", &joined.ticket).await.unwrap();
        let pass = pass_of(&status);

        let before = s.origin_purchases().await;
        let (code_, body) = me
            .purchase_reply("path", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(code_, 201, "{body}");
        assert_eq!(body["order"]["visitor"], joined.visitor.as_str());
        assert_eq!(s.origin_purchases().await, before + 1.0);
        assert_eq!(s.sold_and_remaining(sale.as_str()).await, (1, 4));

        // With a pass, the gated path goes on to the origin (which has no page there).
        let gated = s
            .http
            .get(format!("{}/sales/path/checkout", s.edge.url()))
            .header("user-agent", UA)
            .header("cookie", format!("__Host-hg_pass_path={pass}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            gated.status(),
            404,
            "the origin answered, not the waiting room"
        );
        // The room itself stays the room: an admitted buyer who reloads it finds it, with
        // their admission, once they prove the ticket's key; the cookies alone (a navigation,
        // or someone who copied them) get the room without a pass.
        let room_url = format!("{}/sales/path", s.edge.url());
        let room = |proof: Option<String>| {
            let mut request = s
                .http
                .get(&room_url)
                .header("user-agent", UA)
                .header("accept", "application/json")
                .header(
                    "cookie",
                    format!(
                        "__Host-hg_pass_path={pass}; __Host-hg_tkt_path={}",
                        joined.ticket
                    ),
                );
            if let Some(proof) = proof {
                request = request.bearer_auth(&joined.ticket).header("dpop", proof);
            }
            async move {
                request
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            }
        };
        let unproven = room(None).await;
        assert_eq!(unproven["status"], serde_json::Value::Null, "{unproven}");
        let proof = me.identity().prove("GET", &room_url, Some(&joined.ticket));
        let proven = room(proof).await;
        assert_eq!(proven["status"]["state"], "admitted", "{proven}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_of_work_refusals() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        s.sale("pow", 5, 60_000, 100).await;
        let other = s.sale("other", 5, 60_000, 100).await;

        let me = s.buyer(UA);
        let ch = me.challenge("pow", None).await.unwrap();
        let (challenge, bits) = (ch.challenge, ch.bits);
        let nonce = herdgate_core::pow::solve(&challenge, bits, 0..u64::MAX).unwrap();
        let wrong = (0..)
            .find(|&n| herdgate_core::pow::verify(&challenge, n, bits).is_err())
            .unwrap();

        let (st, body) = me.join_reply("pow", &challenge, wrong).await.unwrap();
        assert_eq!((st, code(&body)), (403, "pow_insufficient"), "{body}");

        // Flip the last character of the payload (the part before the tag).
        let (head, tag) = challenge.rsplit_once('.').unwrap();
        let flipped = if head.ends_with('A') { 'B' } else { 'A' };
        let tampered = format!("{}{flipped}.{tag}", &head[..head.len() - 1]);
        let (st, body) = me.join_reply("pow", &tampered, nonce).await.unwrap();
        assert_eq!((st, code(&body)), (400, "challenge_forged"), "{body}");

        // A challenge we sign ourselves with the edge's key, already expired.
        let claims: ChallengeClaims = s
            .ticket_keys
            .verify(
                &challenge,
                &herdgate_core::Check {
                    sale: &herdgate_core::SaleId::parse("pow").unwrap(),
                    now: herdgate_testkit::now_ms() / 1000,
                    leeway: 0,
                },
            )
            .unwrap();
        let expired = s.ticket_keys.sign(&ChallengeClaims {
            nbf: claims.nbf - 600,
            exp: claims.nbf - 300,
            ..claims.clone()
        });
        let n = herdgate_core::pow::solve(&expired, bits, 0..u64::MAX).unwrap();
        let (st, body) = me.join_reply("pow", &expired, n).await.unwrap();
        assert_eq!((st, code(&body)), (400, "challenge_expired"), "{body}");

        // Another sale's challenge.
        let foreign = s.ticket_keys.sign(&ChallengeClaims {
            sale: other.clone(),
            ..claims.clone()
        });
        let n = herdgate_core::pow::solve(&foreign, bits, 0..u64::MAX).unwrap();
        let (st, body) = me.join_reply("pow", &foreign, n).await.unwrap();
        assert_eq!((st, code(&body)), (403, "challenge_wrong_sale"), "{body}");

        // Another client's challenge.
        let (st, body) = s
            .buyer("SomeOtherBrowser/1.0")
            .join_reply("pow", &challenge, nonce)
            .await
            .unwrap();
        assert_eq!((st, code(&body)), (403, "proof_key_mismatch"), "{body}");

        // The right answer joins once: sent again (its answer was lost), it gets the same
        // place and visitor, not a second place.
        let (st, first) = me.join_reply("pow", &challenge, nonce).await.unwrap();
        assert_eq!(st, 201, "{first}");
        let (st, again) = me.join_reply("pow", &challenge, nonce).await.unwrap();
        assert_eq!(st, 201, "{again}");
        assert_eq!(
            (&again["position"], &again["visitor"]),
            (&first["position"], &first["visitor"])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_passes_never_reach_the_origin() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        let sale = s.sale("gate", 5, 60_000, 100).await;
        let other = s.sale("gate2", 5, 60_000, 100).await;
        let me = s.buyer(UA);
        let ticket = me.solve_and_join("gate", None).await.unwrap().ticket;
        let pass = pass_of(&me.status("gate", &ticket).await.unwrap());
        let claims: PassClaims = s
            .keys
            .keyring
            .verify(
                &pass,
                &herdgate_core::Check {
                    sale: &sale,
                    now: herdgate_testkit::now_ms() / 1000,
                    leeway: 5,
                },
            )
            .unwrap();

        let forged = herdgate_core::Keyring::new(vec![(
            "t1".into(),
            herdgate_core::Secret::new(vec![7; 32]).unwrap(),
        )])
        .unwrap()
        .sign(&claims);
        let expired = s.keys.keyring.sign(&PassClaims {
            nbf: claims.nbf - 900,
            exp: claims.nbf - 600,
            ..claims.clone()
        });
        let other_sale = s.keys.keyring.sign(&PassClaims {
            sale: other,
            ..claims.clone()
        });

        let before = s.origin_purchases().await;
        for (p, ua, want) in [
            (None, UA, "missing_pass"),
            (Some(forged.as_str()), UA, "pass_forged"),
            (Some(expired.as_str()), UA, "pass_expired"),
            (Some(other_sale.as_str()), UA, "pass_wrong_sale"),
            (Some(ticket.as_str()), UA, "pass_wrong_kind"),
            (
                Some(pass.as_str()),
                "AnotherDevice/2.0",
                "proof_key_mismatch",
            ),
        ] {
            let (_, body) = s
                .buyer(ua)
                .purchase_reply("gate", p, &json!({}))
                .await
                .unwrap();
            assert_eq!(code(&body), want, "{body}");
        }
        assert_eq!(
            s.origin_purchases().await,
            before,
            "the origin saw a refused pass"
        );

        // The real pass buys once; its replays get the same order from the edge's ledger.
        let (st, first) = me
            .purchase_reply("gate", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(st, 201, "{first}");
        assert_eq!(s.origin_purchases().await, before + 1.0);
        for _ in 0..3 {
            let (st, again) = me
                .purchase_reply("gate", Some(&pass), &json!({}))
                .await
                .unwrap();
            assert_eq!(st, 200, "{again}");
            assert_eq!(again["order"], first["order"]);
        }
        // A new status poll hands out a pass with the same id: it is a replay too.
        let repoll = pass_of(&me.status("gate", &ticket).await.unwrap());
        let (st, again) = me
            .purchase_reply("gate", Some(&repoll), &json!({}))
            .await
            .unwrap();
        assert_eq!((st, &again["order"]), (200, &first["order"]));
        assert_eq!(
            s.origin_purchases().await,
            before + 1.0,
            "a replay reached the origin"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_positions_are_unique_admitted_in_order_and_pause_resume_work() {
    bounded(Duration::from_secs(180), async {
        let s = Stack::start().await.unwrap();
        // Open for 2 s at 10/s: about 20 positions are in, the rest wait.
        s.sale("order", 1_000, 2_000, 10).await;
        let mut tickets = Vec::new();
        for i in 0..40 {
            let ua = format!("{UA} buyer-{i}");
            let joined = s.buyer(&ua).solve_and_join("order", None).await.unwrap();
            tickets.push((ua, joined.ticket, joined.position));
        }
        let positions: HashSet<u64> = tickets.iter().map(|t| t.2).collect();
        assert_eq!(
            positions.len(),
            tickets.len(),
            "two visitors share a position"
        );
        let shards: HashSet<u64> = positions.iter().map(|p| p % TEST_SHARDS).collect();
        assert!(shards.len() > 1, "all joins went to one shard: {shards:?}");
        // Shard k of K hands out k, k+K, k+2K, … with no gaps: the configured K is in force.
        for k in 0..TEST_SHARDS {
            let mut mine: Vec<u64> = positions
                .iter()
                .copied()
                .filter(|p| p % TEST_SHARDS == k)
                .collect();
            mine.sort_unstable();
            let expected: Vec<u64> = (0..mine.len() as u64)
                .map(|j| k + j * TEST_SHARDS)
                .collect();
            assert_eq!(mine, expected, "positions of shard {k}");
        }

        // Admission is in position order: every admitted position lies below the frontier
        // the edge reports after the polls, every waiting one at or above the one before.
        let before = s.edge_state("order").await["admission"]["frontier"]
            .as_u64()
            .unwrap();
        let mut statuses = Vec::new();
        for (ua, ticket, position) in &tickets {
            let status = s.buyer(ua).status("order", ticket).await.unwrap();
            statuses.push((*position, status));
        }
        let after = s.edge_state("order").await["admission"]["frontier"]
            .as_u64()
            .unwrap();
        assert!(before >= 10, "frontier {before} after 2 s at 10/s");
        for (position, status) in &statuses {
            match status {
                QueueStatus::Admitted { .. } => {
                    assert!(*position < after, "{position} admitted early")
                }
                QueueStatus::Queued { ahead, .. } => {
                    assert!(*position >= before, "{position} left waiting");
                    assert!(*ahead <= position - before + (after - before));
                }
                other => panic!("{other:?}"),
            }
        }

        // Pause: the frontier stops.
        let (st, c) = s.control("order", Some(json!({"action": "pause"}))).await;
        assert_eq!(st, 200, "{c}");
        assert_eq!(c["paused"], true);
        let frozen = s.edge_state("order").await["admission"]["frontier"]
            .as_u64()
            .unwrap();
        let waiting = tickets
            .iter()
            .filter(|t| t.2 >= frozen + 2)
            .min_by_key(|t| t.2)
            .cloned()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(
            s.edge_state("order").await["admission"]["frontier"]
                .as_u64()
                .unwrap(),
            frozen
        );
        let waiter = s.buyer(&waiting.0);
        let paused = waiter.status("order", &waiting.1).await.unwrap();
        assert!(matches!(paused, QueueStatus::Paused { .. }), "{paused:?}");

        // Resume at a faster rate: the waiting ticket is admitted.
        let (st, c) = s
            .control("order", Some(json!({"action": "set_rate", "rate": 50})))
            .await;
        assert_eq!((st, &c["paused"]), (200, &json!(true)));
        let (st, c) = s.control("order", Some(json!({"action": "resume"}))).await;
        assert_eq!(
            (st, &c["paused"], &c["rate"]),
            (200, &json!(false), &json!(50))
        );
        let mut admitted = false;
        for _ in 0..100 {
            if matches!(
                waiter.status("order", &waiting.1).await.unwrap(),
                QueueStatus::Admitted { .. }
            ) {
                admitted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            admitted,
            "position {} never admitted after resume",
            waiting.2
        );

        // The admin route is guarded and typed.
        let r = s
            .http
            .post(format!("{}/admin/v1/sales/order/control", s.edge.url()))
            .json(&json!({"action": "pause"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let (st, body) = s.control("order", Some(json!({"action": "explode"}))).await;
        assert_eq!((st, code(&body)), (400, "invalid_body"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sold_out_reaches_every_waiter_and_the_origin_sees_no_more_purchases() {
    bounded(Duration::from_secs(180), async {
        let s = Stack::start().await.unwrap();
        s.sale("last", 3, 60_000, 1_000).await;
        let mut buyers = Vec::new();
        for i in 0..10 {
            let ua = format!("{UA} waiter-{i}");
            let me = s.buyer(&ua);
            let ticket = me.solve_and_join("last", None).await.unwrap().ticket;
            let pass = pass_of(&me.status("last", &ticket).await.unwrap());
            buyers.push((me, ticket, pass));
        }
        for (me, _, pass) in &buyers[..3] {
            let (st, body) = me
                .purchase_reply("last", Some(pass), &json!({}))
                .await
                .unwrap();
            assert_eq!(st, 201, "{body}");
        }
        let after_sellout = s.origin_purchases().await;
        // The bound: the edge trusts its copy of the sale's state for 1 s (STATE_CACHE_MS).
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        for (me, ticket, pass) in &buyers[3..] {
            let status = me.status("last", ticket).await.unwrap();
            assert_eq!(status, QueueStatus::SoldOut);
            let (st, body) = me
                .purchase_reply("last", Some(pass), &json!({}))
                .await
                .unwrap();
            assert_eq!((st, code(&body)), (409, "sold_out"), "{body}");
            let (st, body) = me.challenge_reply("last", None).await.unwrap();
            assert_eq!((st, code(&body)), (409, "sold_out"), "{body}");
        }
        assert_eq!(
            s.origin_purchases().await,
            after_sellout,
            "the origin saw a purchase after the sell-out"
        );
    })
    .await;
}
