//! Card holds end to end: the real edge under workerd takes the holds while buyers queue, the
//! real origin captures the winners', the queue shards release everyone else's, all against
//! localstripe (PyPI's independent implementation of Stripe's API) on a loopback port.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use herdgate_core::wire::{Price, QueueStatus, SaleConfig};
use herdgate_testkit::Localstripe;
use serde_json::{json, Value};

use crate::edge_support::{self, pass_of, Stack};
use crate::support::alone;

const PRICE: u64 = 1500;

async fn paid_stack(ls: &Localstripe, extra: Value) -> Stack {
    let builder = edge_support::builder()
        .localstripe(ls)
        .vars(json!({"HOLD_SWEEP_SECS": "1", "HOLD_RELEASE_RATE": "400"}))
        .vars(extra);
    Stack::start_from(builder).await.unwrap()
}

/// A sale with a price: `stock` items, open since 10 s ago (or opening in an hour), 1000/s.
async fn paid_sale(stack: &Stack, sale: &str, stock: u64, open: bool) {
    let now = herdgate_testkit::now_ms();
    let config = SaleConfig {
        stock,
        per_visitor_limit: 1,
        starts_at_ms: if open { now - 10_000 } else { now + 3_600_000 },
        admission_rate: 1000,
        price: Some(Price {
            amount: PRICE,
            currency: "eur".into(),
        }),
        paused: None,
        prequeue: None,
        stock_shards: None,
        countries: Vec::new(),
    };
    stack.admin().put_sale(sale, &config).await.unwrap();
}

async fn hold(stack: &Stack, sale: &str, ua: &str, ticket: &str, body: Value) -> (u16, Value) {
    stack
        .buyer(ua)
        .hold_reply(sale, ticket, &body)
        .await
        .unwrap()
}

async fn hold_state(stack: &Stack, sale: &str, ua: &str, ticket: &str) -> (u16, Value) {
    stack
        .buyer(ua)
        .hold_state_reply(sale, ticket)
        .await
        .unwrap()
}

/// Joins as `ua` and puts `pm` on hold: the ticket carrying the hold, and the hold's id.
async fn join_and_hold(stack: &Stack, sale: &str, ua: &str, pm: &str) -> (String, String) {
    let ticket = join(stack, sale, ua).await;
    let (status, body) = hold(stack, sale, ua, &ticket, json!({"payment_method": pm})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["hold"]["state"], "on_hold", "{body}");
    (
        body["ticket"].as_str().unwrap().to_owned(),
        body["hold"]["hold"].as_str().unwrap().to_owned(),
    )
}

/// Joins as `ua`: the ticket.
async fn join(stack: &Stack, sale: &str, ua: &str) -> String {
    stack
        .buyer(ua)
        .solve_and_join(sale, None)
        .await
        .unwrap()
        .ticket
}

/// Where `ticket` stands.
async fn queue_status(stack: &Stack, sale: &str, ua: &str, ticket: &str) -> QueueStatus {
    stack.buyer(ua).status(sale, ticket).await.unwrap()
}

/// Buys as `ua` with `pass`.
async fn purchase(stack: &Stack, sale: &str, ua: &str, pass: &str) -> (u16, Value) {
    stack
        .buyer(ua)
        .purchase_reply(sale, Some(pass), &json!({}))
        .await
        .unwrap()
}

async fn sale_numbers(stack: &Stack, sale: &str) -> (u64, u64, u64) {
    let state = stack.admin().sale(sale).await.unwrap();
    (state.config.stock, state.state.remaining, state.state.sold)
}

/// Waits (at most `secs`) until localstripe holds no intent in `requires_capture`.
async fn until_no_hold_left(ls: &Localstripe, secs: u64) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let census = ls.census().await.unwrap();
        if !census.contains_key("requires_capture") || Instant::now() > deadline {
            return census;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn winners_are_charged_once_and_every_other_hold_is_released() {
    // Each runs workerd, localstripe and a shard's sweep.
    alone(Duration::from_secs(300), async {
        let ls = Localstripe::start().await.unwrap();
        let stack = paid_stack(&ls, json!({})).await;
        let sale = "paid-drop";
        paid_sale(&stack, sale, 3, true).await;

        // Refusals change nothing at the processor.
        let ticket = join(&stack, sale, "ua-refused").await;
        let bad = [
            (
                json!({"card": {"number": "4242424242424241", "exp_month": 12, "exp_year": 30, "cvc": "123"}}),
                422,
                "card_number_invalid",
            ),
            (
                json!({"card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "cvc": "123"}}),
                422,
                "card_expiry_invalid",
            ),
            (
                json!({"payment_method": "tok_visa"}),
                400,
                "invalid_payment_method",
            ),
            (json!({}), 400, "invalid_payment_method"),
            (
                json!({"payment_method": "pm_card_chargeCustomerFail"}),
                402,
                "card_declined",
            ),
        ];
        for (body, want_status, want_code) in bad {
            let (status, answer) = hold(&stack, sale, "ua-refused", &ticket, body).await;
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (want_status, Some(want_code)),
                "{answer}"
            );
        }
        let (status, answer) = hold(
            &stack,
            sale,
            "ua-other",
            &ticket,
            json!({"payment_method": "pm_card_visa"}),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (403, Some("proof_key_mismatch"))
        );
        assert!(!ls.census().await.unwrap().contains_key("requires_capture"));

        // Eight buyers queue with a card on hold: one typed card details, one changed card.
        let mut buyers = Vec::new();
        for i in 0..8 {
            let ua = format!("ua-buyer-{i}");
            let (ticket, intent) = if i == 0 {
                let t = join(&stack, sale, &ua).await;
                let card = json!({"card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}});
                let (status, body) = hold(&stack, sale, &ua, &t, card).await;
                assert_eq!(status, 201, "{body}");
                (
                    body["ticket"].as_str().unwrap().to_owned(),
                    body["hold"]["hold"].as_str().unwrap().to_owned(),
                )
            } else {
                join_and_hold(&stack, sale, &ua, "pm_card_visa").await
            };
            buyers.push((ua, ticket, intent));
        }
        let (ua7, ticket7, first7) = buyers[7].clone();
        let (status, body) = hold(
            &stack,
            sale,
            &ua7,
            &ticket7,
            json!({"payment_method": "pm_card_visa"}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let second7 = body["hold"]["hold"].as_str().unwrap().to_owned();
        assert_ne!(first7, second7);
        buyers[7].1 = body["ticket"].as_str().unwrap().to_owned();
        buyers[7].2 = second7;
        assert_eq!(ls.census().await.unwrap().get("requires_capture"), Some(&9));
        // The origin has seen none of the holds: no purchase yet.
        assert_eq!(stack.origin_purchases().await, 0.0);

        // Six of them buy, one after another; buyers 6 and 7 never come back (closed tabs).
        let mut winners = Vec::new();
        let mut sold_out = 0;
        for (ua, ticket, intent) in buyers.iter().take(6) {
            let pass = match queue_status(&stack, sale, ua, ticket).await {
                QueueStatus::SoldOut => {
                    sold_out += 1;
                    continue;
                }
                admitted => pass_of(&admitted),
            };
            let (status, body) = purchase(&stack, sale, ua, &pass).await;
            match status {
                201 => {
                    assert_eq!(body["charged"]["amount"], PRICE, "{body}");
                    assert_eq!(body["charged"]["hold"], intent.as_str(), "{body}");
                    if winners.is_empty() {
                        // The first winner retries at once: the same order, no second capture.
                        let (status, again) = purchase(&stack, sale, ua, &pass).await;
                        assert_eq!((status, &again["order"]), (200, &body["order"]), "{again}");
                    }
                    winners.push((ua.clone(), ticket.clone(), intent.clone(), pass));
                }
                409 => {
                    assert_eq!(body["error"]["code"], "sold_out", "{body}");
                    sold_out += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!((winners.len(), sold_out), (3, 3));
        let (ua, ticket, intent, _) = &winners[0];
        let (status, body) = hold_state(&stack, sale, ua, ticket).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (200, Some("charged")),
            "{body}"
        );

        // Every loser's hold is released by its shard, tab open or not.
        let census = until_no_hold_left(&ls, 60).await;
        assert_eq!(census.get("requires_capture"), None, "{census:?}");
        assert_eq!(census.get("succeeded"), Some(&3), "{census:?}");
        // Nine holds (eight buyers, one changed card): three captured, six released. The declined
        // card's intent holds nothing (Stripe leaves it in requires_payment_method).
        assert_eq!(census.get("canceled"), Some(&6), "{census:?}");
        assert_eq!(
            census.get("requires_payment_method"),
            Some(&1),
            "{census:?}"
        );
        for i in ls.intents().await.unwrap() {
            if i["status"] == "succeeded" {
                // Charged exactly once: one charge, captured, for the price.
                let charges = i["charges"]["data"].as_array().unwrap();
                assert_eq!(charges.len(), 1, "{i}");
                assert_eq!(
                    (&charges[0]["captured"], &charges[0]["amount"]),
                    (&json!(true), &json!(PRICE)),
                    "{i}"
                );
                assert!(winners.iter().any(|w| i["id"] == w.2.as_str()), "{i}");
            }
        }
        let got = ls.intent(intent).await.unwrap();
        assert_eq!(got["status"], "succeeded");
        let (ua, ticket, _) = &buyers[6];
        let (status, body) = hold_state(&stack, sale, ua, ticket).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (200, Some("released")),
            "{body}"
        );
        let (stock, remaining, sold) = sale_numbers(&stack, sale).await;
        assert_eq!((stock, remaining + sold, sold), (3, 3, 3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_that_fails_gives_the_item_back_and_a_cancelled_order_is_refunded() {
    // Each runs workerd, localstripe and a shard's sweep.
    alone(Duration::from_secs(300), async {
        let ls = Localstripe::start().await.unwrap();
        let stack = paid_stack(&ls, json!({})).await;
        let sale = "paid-one";
        paid_sale(&stack, sale, 1, true).await;

        let (ticket_a, intent_a) = join_and_hold(&stack, sale, "ua-a", "pm_card_visa").await;
        // The card's issuer voids the authorisation before A buys.
        ls.void(&intent_a).await.unwrap();
        let pass_a = pass_of(&queue_status(&stack, sale, "ua-a", &ticket_a).await);
        let (status, body) = purchase(&stack, sale, "ua-a", &pass_a).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (402, Some("payment_failed")),
            "{body}"
        );
        assert_eq!(sale_numbers(&stack, sale).await, (1, 1, 0));
        // Retrying with the same dead hold changes nothing.
        let (status, body) = purchase(&stack, sale, "ua-a", &pass_a).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (402, Some("payment_failed")),
            "{body}"
        );
        assert_eq!(sale_numbers(&stack, sale).await, (1, 1, 0));

        // B buys the item that went back.
        let (ticket_b, intent_b) = join_and_hold(&stack, sale, "ua-b", "pm_card_visa").await;
        let pass_b = pass_of(&queue_status(&stack, sale, "ua-b", &ticket_b).await);
        let (status, body) = purchase(&stack, sale, "ua-b", &pass_b).await;
        assert_eq!(
            (status, body["charged"]["hold"].as_str()),
            (201, Some(intent_b.as_str())),
            "{body}"
        );
        assert_eq!(sale_numbers(&stack, sale).await, (1, 0, 1));

        // A puts a new card on hold too late: sold out (once the edge's copy of the sale says
        // so: a paid order does not mark it sold out at once, as other captures might fail).
        let until = Instant::now() + Duration::from_secs(10);
        while stack.edge_state(sale).await["sale"]["status"] != "sold_out" {
            assert!(Instant::now() < until, "the edge never saw the sell-out");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, body) = hold(
            &stack,
            sale,
            "ua-a",
            &ticket_a,
            json!({"payment_method": "pm_card_visa"}),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("sold_out")),
            "{body}"
        );
        let census = until_no_hold_left(&ls, 30).await;
        assert_eq!(census.get("succeeded"), Some(&1), "{census:?}");
        assert_eq!(census.get("requires_capture"), None, "{census:?}");
        assert_eq!(ls.intent(&intent_a).await.unwrap()["status"], "canceled");

        // The shop's audit cancels B's order (bought within milliseconds of admission, as only a
        // program does): B's payment is refunded and the item is back on sale.
        audit_applies(&stack, sale, (1, 1)).await;
        let refunded = ls.intent(&intent_b).await.unwrap();
        assert_eq!(
            refunded["charges"]["data"][0]["amount_refunded"], PRICE,
            "{refunded}"
        );
        assert_eq!(sale_numbers(&stack, sale).await, (1, 1, 0));
        // Applying again refunds nothing twice.
        audit_applies(&stack, sale, (0, 0)).await;
        let refunded = ls.intent(&intent_b).await.unwrap();
        assert_eq!(
            refunded["charges"]["data"][0]["refunds"]["total_count"], 1,
            "{refunded}"
        );
    })
    .await;
}

/// Applies the audit and checks how many orders it cancelled and refunded.
async fn audit_applies(stack: &Stack, sale: &str, (cancelled, refunded): (u64, u64)) {
    let report = audit_apply(stack, sale).await;
    assert_eq!(
        (report["cancelled"].as_u64(), report["refunded"].as_u64()),
        (Some(cancelled), Some(refunded)),
        "{report}"
    );
}

async fn audit_apply(stack: &Stack, sale: &str) -> Value {
    let (status, report) = stack
        .admin()
        .audit_reply(sale, &json!({"apply": true}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_near_its_age_limit_is_released_and_never_captured() {
    // Each runs workerd, localstripe and a shard's sweep.
    alone(Duration::from_secs(300), async {
        let ls = Localstripe::start().await.unwrap();
        let stack = paid_stack(&ls, json!({"HOLD_MAX_AGE_SECS": "3"})).await;
        let sale = "paid-later";
        paid_sale(&stack, sale, 5, false).await;

        let (ticket, intent) = join_and_hold(&stack, sale, "ua-early", "pm_card_visa").await;
        assert!(matches!(
            queue_status(&stack, sale, "ua-early", &ticket).await,
            QueueStatus::Queued { .. }
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = hold_state(&stack, sale, "ua-early", &ticket).await;
            assert_eq!(status, 200, "{body}");
            if body["state"] == "released" {
                break;
            }
            assert!(Instant::now() < deadline, "still {body}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(ls.intent(&intent).await.unwrap()["status"], "canceled");
    })
    .await;
}

/// The hold route is no oracle for stolen cards: each place in line, device and network gets
/// a few card attempts, and past them nothing reaches the processor. New holds are metered
/// to the sale's budget, so captures and releases keep their part of the processor's rate
/// limit; a hold refused for the budget counts nothing and keeps the buyer's place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_attempts_are_limited_and_metered_before_the_processor() {
    alone(Duration::from_secs(300), async {
        let ls = Localstripe::start().await.unwrap();
        let card =
            |n: &str| json!({"card": {"number": n, "exp_month": 12, "exp_year": 40, "cvc": "123"}});
        let good = card("4242424242424242");
        let intents = || async { ls.intents().await.unwrap().len() };

        let stack = paid_stack(
            &ls,
            json!({"HOLD_ATTEMPTS_PER_TICKET": "3", "HOLD_ATTEMPTS_PER_DEVICE": "4"}),
        )
        .await;
        let sale = "tested";
        paid_sale(&stack, sale, 5, false).await;
        let ticket = join(&stack, sale, "ua-tester").await;
        // A card that cannot be right is refused here and is no attempt.
        for _ in 0..5 {
            let (status, body) =
                hold(&stack, sale, "ua-tester", &ticket, card("4242424242424241")).await;
            assert_eq!(
                (status, body["error"]["code"].clone()),
                (422, json!("card_number_invalid"))
            );
        }
        for n in 0..3 {
            let before = intents().await;
            let (status, body) = hold(&stack, sale, "ua-tester", &ticket, good.clone()).await;
            assert_eq!(status, 201, "attempt {n}: {body}");
            assert_eq!(intents().await, before + 1);
        }
        let before = intents().await;
        let (status, body) = hold(&stack, sale, "ua-tester", &ticket, good.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (429, json!("hold_attempts_exceeded")),
            "{body}"
        );
        // A new place in line on the same device: one attempt left of the device's four.
        let second = join(&stack, sale, "ua-tester").await;
        let (status, body) = hold(&stack, sale, "ua-tester", &second, good.clone()).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = hold(&stack, sale, "ua-tester", &second, good.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (429, json!("hold_attempts_exceeded"))
        );
        assert_eq!(
            intents().await,
            before + 1,
            "a refused attempt reached the processor"
        );
        // Another device is not limited by this one.
        let other = join(&stack, sale, "ua-someone-else").await;
        let (status, body) = hold(&stack, sale, "ua-someone-else", &other, good.clone()).await;
        assert_eq!(status, 201, "{body}");
        drop(stack);

        // A budget of one new hold per second for the sale, four shards: a quarter per second
        // each. The second hold in a row at one shard waits; it counts nothing.
        let stack = paid_stack(&ls, json!({"HOLD_CREATE_RATE": "1"})).await;
        let sale = "metered-holds";
        paid_sale(&stack, sale, 5, false).await;
        let ticket = join(&stack, sale, "ua-a").await;
        let (status, body) = hold(&stack, sale, "ua-a", &ticket, good.clone()).await;
        assert_eq!(status, 201, "{body}");
        let before = intents().await;
        let (status, body) = hold(&stack, sale, "ua-a", &ticket, good.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (503, json!("holds_busy")),
            "{body}"
        );
        assert_eq!(intents().await, before);
        // Once the budget has refilled, the same place puts its card on hold.
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = hold(&stack, sale, "ua-a", &ticket, good.clone()).await;
            if status == 201 {
                break;
            }
            assert_eq!(body["error"]["code"], "holds_busy", "{body}");
            assert!(Instant::now() < until, "the hold budget never refilled");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
}

/// A sale whose last item's capture is still under way is not sold out: the capture may fail
/// and give the item back. So nobody in line is told "sold out", and no queue shard releases
/// the waiting buyers' holds, until the capture has succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_is_not_sold_out_while_its_last_capture_is_pending() {
    alone(Duration::from_secs(300), async {
        let ls = Localstripe::start().await.unwrap();
        let builder = edge_support::builder()
            .origin_options(herdgate_testkit::OriginOptions {
                payment_timeout_ms: Some(1_000),
                ..Default::default()
            })
            .localstripe(&ls)
            .vars(json!({"HOLD_SWEEP_SECS": "1", "HOLD_RELEASE_RATE": "400"}));
        let stack = Stack::start_from(builder).await.unwrap();
        let sale = "settling";
        paid_sale(&stack, sale, 1, true).await;
        let (a_ticket, _) = join_and_hold(&stack, sale, "ua-a", "pm_card_visa").await;
        let (b_ticket, _) = join_and_hold(&stack, sale, "ua-b", "pm_card_visa").await;
        let a_pass = pass_of(&queue_status(&stack, sale, "ua-a", &a_ticket).await);

        // The processor stops answering while A buys the last item: the order is taken, its
        // capture is pending.
        let signal = |sig: &str| {
            let ok = std::process::Command::new("kill")
                .args([sig, &ls.pid().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill {sig}");
        };
        signal("-STOP");
        let (status, body) = purchase(&stack, sale, "ua-a", &a_pass).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (503, json!("payment_unavailable")),
            "{body}"
        );
        let state = stack.admin().sale(sale).await.unwrap().state;
        assert_eq!((state.remaining, state.pending), (0, 1));
        assert_ne!(
            state.status,
            herdgate_core::wire::SaleStatus::SoldOut,
            "sold out while a capture may still give the item back"
        );
        // B, in line with a hold, is not told "sold out", and B's hold stands after several
        // of its shard's sweeps.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let b = queue_status(&stack, sale, "ua-b", &b_ticket).await;
        assert!(!matches!(b, QueueStatus::SoldOut), "{b:?}");
        let (status, hold) = hold_state(&stack, sale, "ua-b", &b_ticket).await;
        assert_eq!(
            (status, hold["state"].clone()),
            (200, json!("on_hold")),
            "{hold}"
        );

        // The processor is back and A asks again: A is charged, and only now is the sale sold
        // out; B's hold is released.
        signal("-CONT");
        let (status, body) = purchase(&stack, sale, "ua-a", &a_pass).await;
        assert!(matches!(status, 200 | 201), "{body}");
        assert_eq!(body["charged"]["amount"], PRICE, "{body}");
        let state = stack.admin().sale(sale).await.unwrap().state;
        assert_eq!(
            (state.remaining, state.pending, state.status),
            (0, 0, herdgate_core::wire::SaleStatus::SoldOut)
        );
        let census = until_no_hold_left(&ls, 60).await;
        assert_eq!(census.get("succeeded"), Some(&1), "{census:?}");
        assert!(!census.contains_key("requires_capture"), "{census:?}");
    })
    .await;
}

/// The same with the sale's stock over two stock shards (README, "Stock shards"): the capture
/// at each buyer's shard, a failed one giving the item back there, the audit reading and
/// cancelling orders at every shard and refunding them, and the numbers summed over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_sale_captures_gives_back_and_refunds_at_each_buyers_shard() {
    alone(Duration::from_secs(300), async {
        let ls = Localstripe::start().await.unwrap();
        let stack = paid_stack(&ls, json!({})).await;
        let sale = "paid-sharded";
        let config = json!({"stock": 2, "per_visitor_limit": 1,
            "starts_at_ms": herdgate_testkit::now_ms() - 10_000, "admission_rate": 1000,
            "price": {"amount": PRICE, "currency": "eur"}, "stock_shards": 2});
        let (status, body) = stack.admin().put_sale_reply(sale, &config).await.unwrap();
        assert_eq!(status, 201, "{body}");

        // A's issuer voids the authorisation: the item goes back at A's shard.
        let (ticket_a, intent_a) = join_and_hold(&stack, sale, "ua-a", "pm_card_visa").await;
        ls.void(&intent_a).await.unwrap();
        let pass_a = pass_of(&queue_status(&stack, sale, "ua-a", &ticket_a).await);
        let (status, body) = purchase(&stack, sale, "ua-a", &pass_a).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (402, Some("payment_failed")),
            "{body}"
        );
        assert_eq!(sale_numbers(&stack, sale).await, (2, 2, 0));

        // B and C buy both items, wherever their shards are (one refills from the other if
        // both are on the same shard), and each is charged once.
        let mut intents = Vec::new();
        for ua in ["ua-b", "ua-c"] {
            let (ticket, intent) = join_and_hold(&stack, sale, ua, "pm_card_visa").await;
            let pass = pass_of(&queue_status(&stack, sale, ua, &ticket).await);
            let (status, body) = purchase(&stack, sale, ua, &pass).await;
            assert_eq!(
                (status, body["charged"]["hold"].as_str()),
                (201, Some(intent.as_str())),
                "{body}"
            );
            intents.push(intent);
        }
        assert_eq!(sale_numbers(&stack, sale).await, (2, 0, 2));
        let until = Instant::now() + Duration::from_secs(10);
        while stack.edge_state(sale).await["sale"]["status"] != "sold_out" {
            assert!(Instant::now() < until, "the edge never saw the sell-out");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The audit reads the orders of both shards, cancels both (bought within milliseconds
        // of admission), refunds them, and the items are back on sale.
        audit_applies(&stack, sale, (2, 2)).await;
        for intent in &intents {
            let refunded = ls.intent(intent).await.unwrap();
            assert_eq!(
                refunded["charges"]["data"][0]["amount_refunded"], PRICE,
                "{refunded}"
            );
        }
        assert_eq!(sale_numbers(&stack, sale).await, (2, 2, 0));
        audit_applies(&stack, sale, (0, 0)).await;
        assert_eq!(ls.intent(&intent_a).await.unwrap()["status"], "canceled");
    })
    .await;
}
