//! A fair opening: the pre-queue's draw, through the real edge under workerd, the origin and
//! Redis. Everyone who joins before the close gets a place drawn among that group; later
//! arrivals queue behind it; the published record recomputes every place, and an altered
//! record does not. (Independence of place and arrival over 12,000 joins is tested on the draw
//! itself, in `herdgate_core::draw`.)

use std::time::Duration;

use herdgate_core::draw::{entry_digest, DrawError, Entry};
use herdgate_core::wire::{JoinResponse, Prequeue, QueueStatus, SaleConfig};
use herdgate_testkit::{now_ms, EdgeClient};
use serde_json::{json, Value};

use crate::edge_support::Stack;
use crate::support::{bounded, code};

/// A sale of `stock` at `rate`/s with a pre-queue open since a second ago, starting at
/// `starts_at_ms`, its draw closing `window_ms` after.
fn fair(stock: u64, rate: u32, starts_at_ms: u64, window_ms: u64) -> SaleConfig {
    SaleConfig {
        stock,
        per_visitor_limit: 1,
        starts_at_ms,
        admission_rate: rate,
        price: None,
        paused: None,
        prequeue: Some(Prequeue {
            opens_at_ms: now_ms() - 1_000,
            draw_window_ms: window_ms,
        }),
        stock_shards: None,
        countries: Vec::new(),
    }
}

/// `n` devices of their own join `sale` at once: the devices and their joins, in order.
async fn join_at_once(
    s: &Stack,
    sale: &'static str,
    n: usize,
) -> (Vec<EdgeClient>, Vec<JoinResponse>) {
    let buyers: Vec<EdgeClient> = (0..n)
        .map(|i| s.buyer(&format!("Mozilla/5.0 (herdgate draw test, {sale} {i})")))
        .collect();
    let tasks: Vec<_> = buyers
        .iter()
        .cloned()
        .map(|b| tokio::spawn(async move { b.solve_and_join(sale, None).await }))
        .collect();
    let mut joins = Vec::new();
    for t in tasks {
        joins.push(t.await.unwrap().unwrap());
    }
    (buyers, joins)
}

/// The place a status gives, if it gives one.
fn place_of(status: &QueueStatus) -> Option<u64> {
    match status {
        QueueStatus::Queued { position, .. }
        | QueueStatus::Admitted { position, .. }
        | QueueStatus::Paused { position, .. } => Some(*position),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_queue_is_drawn_admitted_in_drawn_order_and_verifiable() {
    bounded(Duration::from_secs(240), async {
        let s = Stack::start().await.unwrap();
        let admin = s.admin();
        // The sale starts in a minute; the operator will bring it forward, so the close comes
        // when the test has everyone in, whatever the machine's speed.
        let mut config = fair(100, 4, now_ms() + 60_000, 0);
        admin.put_sale("fair", &config).await.unwrap();

        // 24 devices join the pre-queue at once.
        let (buyers, joins) = join_at_once(&s, "fair", 24).await;
        for j in &joins {
            match &j.status {
                QueueStatus::Entered { entry, .. } => {
                    assert_eq!(entry, &entry_digest(j.visitor.as_str()));
                }
                other => panic!("not in the pre-queue: {other:?}"),
            }
        }
        // Before the close: the commitment is public, the seed and the entries are not.
        let http = &s.http;
        let draw_url = format!("{}/api/v1/sales/fair/draw", s.edge.url());
        let before: Value = http
            .get(&draw_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            before["commitment"].as_str().is_some_and(|c| c.len() == 64),
            "{before}"
        );
        assert!(
            before.get("seed").is_none() && before.get("tally").is_none(),
            "{before}"
        );
        let origin_state = admin.sale("fair").await.unwrap();
        assert!(origin_state.state.draw.as_ref().unwrap().seed.is_none());
        let early = http
            .get(format!("{draw_url}/entries?shard=0"))
            .send()
            .await
            .unwrap();
        assert_eq!(early.status(), 409);
        let early: Value = early.json().await.unwrap();
        assert_eq!(code(&early), "draw_not_made");

        // The operator opens now: the draw closes (the seed is out a few seconds later).
        config.starts_at_ms = now_ms();
        admin.put_sale("fair", &config).await.unwrap();

        // Every entry learns its place; admission follows the drawn places: whenever one
        // buyer is admitted and a buyer asked later is not, the admitted one's place is lower
        // (the frontier never moves back).
        let mut places = vec![None; buyers.len()];
        let mut admitted = vec![false; buyers.len()];
        let until = tokio::time::Instant::now() + Duration::from_secs(120);
        while admitted.iter().any(|a| !a) {
            assert!(
                tokio::time::Instant::now() < until,
                "not all admitted: {admitted:?}"
            );
            let mut highest_admitted: Option<u64> = None;
            for (i, (b, j)) in buyers.iter().zip(&joins).enumerate() {
                let status = b.status("fair", &j.ticket).await.unwrap();
                let Some(place) = place_of(&status) else {
                    assert!(matches!(status, QueueStatus::Entered { .. }), "{status:?}");
                    continue;
                };
                assert!(places[i].is_none_or(|p| p == place), "the place changed");
                places[i] = Some(place);
                if matches!(status, QueueStatus::Admitted { .. }) {
                    admitted[i] = true;
                    highest_admitted = highest_admitted.max(Some(place));
                } else if let Some(h) = highest_admitted {
                    assert!(h < place, "place {h} admitted before {place}, which waits");
                }
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let mut sorted: Vec<u64> = places.iter().map(|p| p.unwrap()).collect();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..24).collect::<Vec<_>>(),
            "the drawn places are 0..24"
        );

        // A later arrival queues behind the whole pre-queue.
        let late = s.buyer("Mozilla/5.0 (herdgate draw test, late)");
        let late_join = late.solve_and_join("fair", None).await.unwrap();
        let late_place = place_of(&late_join.status).expect("a late arrival gets a place");
        assert!(late_place >= 24, "late arrival at {late_place}");

        // The published record recomputes every place, and each buyer finds theirs.
        let record = herdgate_testkit::client::draw::fetch(http, s.edge.url(), "fair")
            .await
            .unwrap();
        let verified = record.verify().unwrap();
        assert_eq!(verified.entries, 24);
        for (j, told) in joins.iter().zip(&places) {
            let (_, _, drawn) = record.find(&entry_digest(j.visitor.as_str())).unwrap();
            assert_eq!(drawn, *told);
        }
        assert!(record
            .find(&entry_digest(late_join.visitor.as_str()))
            .is_none());

        // An altered record fails: a place swapped, an entry added, another seed.
        let mut swapped = record.clone();
        let (a, b) = (
            0,
            swapped
                .shards
                .iter()
                .position(|s| s.entries.len() > 1)
                .unwrap(),
        );
        let first = swapped.shards[a].entries[0].place;
        swapped.shards[a].entries[0].place = swapped.shards[b].entries[1].place;
        swapped.shards[b].entries[1].place = first;
        assert!(matches!(swapped.verify(), Err(DrawError::Place { .. })));
        let mut added = record.clone();
        added.shards[0].entries.push(Entry {
            digest: entry_digest("someone-inserted"),
            at_ms: now_ms(),
            place: Some(0),
        });
        added.shards[0].tally.count += 1;
        assert!(matches!(added.verify(), Err(DrawError::Chain { .. })));
        let mut reseeded = record.clone();
        reseeded.seed = "11".repeat(32);
        assert_eq!(reseeded.verify(), Err(DrawError::Commitment));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_queue_takes_nobody_early_and_stays_once_open() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        let admin = s.admin();
        let start = now_ms() + 3_600_000;
        // Opens in half an hour: a join now is refused and leaves nothing behind.
        let mut later = fair(10, 10, start, 0);
        later.prequeue = Some(Prequeue {
            opens_at_ms: start - 1_800_000,
            draw_window_ms: 0,
        });
        admin.put_sale("later", &later).await.unwrap();
        let me = s.buyer("Mozilla/5.0 (herdgate draw test)");
        // Refused at the challenge already, before the browser works for nothing.
        let (status, body) = me.challenge_reply("later", None).await.unwrap();
        assert_eq!((status, code(&body)), (409, "prequeue_not_open"), "{body}");
        let (status, body) = s.control("later", None).await;
        assert_eq!(status, 200, "{body}");

        // Out of range: opening after the start, or a draw window over ten minutes.
        for (opens_at_ms, draw_window_ms) in [(start + 1, 0), (start - 1, 600_001)] {
            let mut bad = fair(10, 10, start, 0);
            bad.prequeue = Some(Prequeue {
                opens_at_ms,
                draw_window_ms,
            });
            let (status, body) = admin
                .put_sale_reply("bad", &serde_json::to_value(&bad).unwrap())
                .await
                .unwrap();
            assert_eq!(
                (status, code(&body)),
                (422, "invalid_sale_config"),
                "{body}"
            );
        }

        // Once open, a pre-queue cannot be removed; nor added to a sale that has none.
        admin
            .put_sale("open", &fair(10, 10, start, 0))
            .await
            .unwrap();
        let mut without = fair(10, 10, start, 0);
        without.prequeue = None;
        let (status, body) = admin
            .put_sale_reply("open", &serde_json::to_value(&without).unwrap())
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "draw_fixed"), "{body}");
        admin.put_sale("plain", &without).await.unwrap();
        let (status, body) = admin
            .put_sale_reply(
                "plain",
                &serde_json::to_value(fair(10, 10, start, 0)).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "draw_fixed"), "{body}");
        // Once open, its opening stays.
        let open = fair(10, 10, start, 0);
        admin.put_sale("moved", &open).await.unwrap();
        let mut later_opening = open.clone();
        later_opening.prequeue = Some(Prequeue {
            opens_at_ms: now_ms() + 60_000,
            draw_window_ms: 0,
        });
        let (status, body) = admin
            .put_sale_reply("moved", &serde_json::to_value(&later_opening).unwrap())
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "draw_fixed"), "{body}");
        // Once closed, the close stays: a start moved later would hide the seed again.
        let mut closed = fair(10, 10, now_ms() - 10_000, 0);
        closed.prequeue = Some(Prequeue {
            opens_at_ms: now_ms() - 20_000,
            draw_window_ms: 0,
        });
        admin.put_sale("closed", &closed).await.unwrap();
        let revealed = admin.sale("closed").await.unwrap().state.draw.unwrap();
        assert!(revealed.seed.is_some(), "{revealed:?}");
        let mut postponed = closed.clone();
        postponed.starts_at_ms = now_ms() + 60_000;
        let (status, body) = admin
            .put_sale_reply("closed", &serde_json::to_value(&postponed).unwrap())
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "draw_fixed"), "{body}");
        // Other changes go through: a restock keeps the draw as it is.
        let mut restocked = closed.clone();
        restocked.stock = 20;
        admin.put_sale("closed", &restocked).await.unwrap();
        let after = admin.sale("closed").await.unwrap().state.draw.unwrap();
        assert_eq!(after, revealed);
        // The refused changes changed nothing: the commitment stands.
        let kept = admin.sale("open").await.unwrap();
        assert!(kept.state.draw.is_some() && kept.config.prequeue.is_some());
        let json = json!(kept.state.draw);
        assert!(json.get("seed").is_none(), "{json}");
    })
    .await;
}

/// The frontier that waits for the stock counts places people hold, not positions: queue
/// shards hand out positions interleaved, so a shard with fewer joins leaves positions nobody
/// holds. With as many items as people, every one of them is admitted and buys, the one past
/// an empty position too (a wait in positions would hold them until the conversion is
/// measured, an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frontier_waiting_for_the_stock_passes_over_positions_nobody_holds() {
    bounded(Duration::from_secs(180), async {
        let s = Stack::start_with(json!({"CONVERSION_WINDOW_SECS": "3600"}))
            .await
            .unwrap();
        let admin = s.admin();
        let mut config = SaleConfig {
            prequeue: None,
            ..fair(1, 50, now_ms() + 600_000, 0)
        };
        admin.put_sale("gaps", &config).await.unwrap();
        // People join one at a time until at least three have and one holds a position past
        // the number who joined: a position below theirs is nobody's.
        let mut people = Vec::new();
        for i in 0..40 {
            let buyer = s.buyer(&format!("Mozilla/5.0 (herdgate gaps test {i})"));
            let join = buyer.solve_and_join("gaps", None).await.unwrap();
            people.push((buyer, join.ticket, join.position));
            let n = people.len() as u64;
            if n >= 3 && people.iter().any(|(_, _, p)| *p >= n) {
                break;
            }
        }
        let n = people.len() as u64;
        let positions: Vec<u64> = people.iter().map(|(_, _, p)| *p).collect();
        assert!(positions.iter().any(|p| *p >= n), "no gap in {positions:?}");
        // As many items as people, on sale now.
        config.stock = n;
        config.starts_at_ms = now_ms();
        admin.put_sale("gaps", &config).await.unwrap();
        for (buyer, ticket, position) in &people {
            let status = crate::edge_support::poll_until(
                buyer,
                "gaps",
                ticket,
                Duration::from_secs(30),
                crate::edge_support::admitted,
            )
            .await;
            let pass = crate::edge_support::pass_of(&status);
            let (code_, body) = buyer
                .purchase_reply("gaps", Some(&pass), &json!({}))
                .await
                .unwrap();
            assert_eq!(code_, 201, "position {position} of {positions:?}: {body}");
        }
        assert_eq!(s.sold_and_remaining("gaps").await, (n, 0));
    })
    .await;
}

/// Honest odds, and the frontier that waits: with 2 items and everyone admitted expected to
/// buy, the frontier stops at 2 places; the waiters behind are told the stock is covered and
/// their chance; an order the audit cancels gives an item back, and the next place is let in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frontier_waits_while_the_passes_out_cover_the_stock_and_moves_when_an_item_comes_back()
{
    bounded(Duration::from_secs(180), async {
        // The conversion stays the cautious guess (everyone admitted buys) for the whole test.
        let s = Stack::start_with(json!({"CONVERSION_WINDOW_SECS": "3600"}))
            .await
            .unwrap();
        let admin = s.admin();
        let mut config = fair(2, 50, now_ms() + 60_000, 0);
        admin.put_sale("covered", &config).await.unwrap();
        let (buyers, joins) = join_at_once(&s, "covered", 4).await;
        let tickets: Vec<String> = joins.into_iter().map(|j| j.ticket).collect();
        config.starts_at_ms = now_ms();
        admin.put_sale("covered", &config).await.unwrap();
        // Everyone's place, once drawn, and who is admitted: at 50/s the rate alone would have
        // let all four in within 0.1 s; over 3 s of polls, places 2 and 3 never are.
        let mut by_place: Vec<Option<usize>> = vec![None; 4];
        // The seed is out a few seconds after the close: until then everyone is `entered`.
        let drawn = |st: &QueueStatus| !matches!(st, QueueStatus::Entered { .. });
        for (b, t) in buyers.iter().zip(&tickets) {
            crate::edge_support::poll_until(b, "covered", t, Duration::from_secs(60), drawn).await;
        }
        let until = tokio::time::Instant::now() + Duration::from_secs(3);
        let mut rounds = 0;
        while rounds < 3 || tokio::time::Instant::now() < until {
            rounds += 1;
            for (i, (b, t)) in buyers.iter().zip(&tickets).enumerate() {
                let status = b.status("covered", t).await.unwrap();
                match status {
                    QueueStatus::Entered { .. } => {}
                    QueueStatus::Admitted { position, .. } => {
                        assert!(position < 2, "place {position} admitted past the stock");
                        by_place[position as usize] = Some(i);
                    }
                    QueueStatus::Queued {
                        position,
                        ahead,
                        remaining,
                        chance_pct,
                        stock_covered,
                        ..
                    } => {
                        by_place[position as usize] = Some(i);
                        if ahead == 0 && position >= 2 {
                            // At the front: the two passes out are expected to buy both items.
                            assert!(stock_covered, "{status:?}");
                            assert_eq!(remaining, Some(2));
                            assert_eq!(chance_pct, Some(0), "{status:?}");
                        }
                    }
                    other => panic!("{other:?}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let who = |place: usize| by_place[place].expect("every place was seen");
        // Place 0 buys; place 1 does not (yet). The frontier still waits at 2.
        let first = who(0);
        let status = buyers[first]
            .status("covered", &tickets[first])
            .await
            .unwrap();
        let pass = crate::edge_support::pass_of(&status);
        let (code_, body) = buyers[first]
            .purchase_reply("covered", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(code_, 201, "{body}");
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let third = who(2);
        let status = buyers[third]
            .status("covered", &tickets[third])
            .await
            .unwrap();
        assert!(
            matches!(
                status,
                QueueStatus::Queued {
                    stock_covered: true,
                    ..
                }
            ),
            "{status:?}"
        );
        // The audit cancels that order: an item comes back, and place 2 is let in.
        let (code_, body) = admin
            .audit_reply(
                "covered",
                &json!({"apply": true, "fast_ms": 3_600_000, "flag_score": 1}),
            )
            .await
            .unwrap();
        assert_eq!(code_, 200, "{body}");
        assert_eq!(s.sold_and_remaining("covered").await, (0, 2), "{body}");
        let status = crate::edge_support::poll_until(
            &buyers[third],
            "covered",
            &tickets[third],
            Duration::from_secs(30),
            crate::edge_support::admitted,
        )
        .await;
        assert!(matches!(status, QueueStatus::Admitted { position: 2, .. }));
        // Place 3 still waits: places 1 and 2 hold passes for the two items left.
        let fourth = who(3);
        let status = buyers[fourth]
            .status("covered", &tickets[fourth])
            .await
            .unwrap();
        assert!(
            matches!(
                status,
                QueueStatus::Queued {
                    position: 3,
                    stock_covered: true,
                    ..
                }
            ),
            "{status:?}"
        );
    })
    .await;
}
