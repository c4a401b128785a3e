//! Seated sales against a real origin and redis-server: the map and its checks, holds all or
//! none, best available, expiry with no client, confirm and release, and the invariant
//! (every seat free, held by one visitor or sold to one, never two) sampled while a crowd
//! holds, confirms, releases and lets holds lapse.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fred::interfaces::{HashesInterface, KeysInterface};
use herdgate_core::SaleId;
use herdgate_testkit::now_ms;
use serde_json::{json, Value};

use herdgate_testkit::{EdgeClient, Localstripe};

use crate::edge_support::{admitted, builder, pass_of, poll_until, Stack as EdgeStack};
use crate::independent::Books;
use crate::support::{alone, bounded, code, status_json, Env};

/// A venue: sections A and B, `rows` rows of `per_row` seats each; A's first row has a
/// wheelchair space at seat 1 and its companion at seat 2; front rows (the first half) cost
/// more.
fn venue(rows: usize, per_row: usize, hold_secs: u64) -> Value {
    let section = |id: &str| {
        let rows: Vec<Value> = (1..=rows)
            .map(|r| {
                let tier = if r <= rows.div_ceil(2) {
                    "front"
                } else {
                    "back"
                };
                let seats: Vec<Value> = (1..=per_row)
                    .map(|n| match (id, r, n) {
                        ("A", 1, 1) => json!({"tier": tier, "access": "wheelchair"}),
                        ("A", 1, 2) => json!({"tier": tier, "access": "companion"}),
                        _ => json!({"tier": tier}),
                    })
                    .collect();
                json!({"id": r.to_string(), "seats": seats})
            })
            .collect();
        json!({"id": id, "rows": rows})
    };
    json!({
        "tiers": {"front": 9000, "back": 4000},
        "sections": [section("A"), section("B")],
        "hold_secs": hold_secs,
    })
}

struct Venue {
    env: Env,
    sale: SaleId,
}

impl Venue {
    /// A seated sale open since a minute ago with `map`, at most `limit` seats a visitor.
    async fn open(map: Value, limit: u32) -> Venue {
        Venue::at(map, limit, now_ms() - 60_000).await
    }

    async fn at(map: Value, limit: u32, starts_at_ms: u64) -> Venue {
        let env = Env::start().await.unwrap();
        let config = json!({"stock": 0, "per_visitor_limit": limit, "starts_at_ms": starts_at_ms, "admission_rate": 100});
        let (status, body) = env.admin.put_sale_reply("gig", &config).await.unwrap();
        assert_eq!(status, 201, "{body}");
        let v = Venue {
            env,
            sale: SaleId::parse("gig").unwrap(),
        };
        let (status, body) = v.admin("PUT", "seats", &map).await;
        assert_eq!(status, 200, "{body}");
        v
    }

    async fn admin(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}/admin/v1/sales/gig/{path}", self.env.origin.url());
        let req = self
            .env
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.env.keys.admin_token)
            .json(body);
        status_json(req.send().await.unwrap()).await
    }

    /// A buyer's call with their pass.
    async fn buyer(
        &self,
        visitor: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}/v1/sales/gig/{path}", self.env.origin.url());
        // Admitted now, as the edge stamps a pass (the audit reads it).
        let who = herdgate_core::VisitorId::parse(visitor).unwrap();
        let mut claims = self.env.keys.pass_claims(&self.sale, &who);
        claims.adm = now_ms();
        let pass = self.env.keys.keyring.sign(&claims);
        let mut req = self
            .env
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(pass);
        if let Some(b) = body {
            req = req.json(b);
        }
        status_json(req.send().await.unwrap()).await
    }

    async fn hold(&self, visitor: &str, body: Value) -> (u16, Value) {
        self.buyer(visitor, "POST", "seat-holds", Some(&body)).await
    }

    async fn confirm(&self, visitor: &str, hold: &str) -> (u16, Value) {
        self.buyer(visitor, "POST", &format!("seat-holds/{hold}/confirm"), None)
            .await
    }

    async fn availability(&self) -> Value {
        let url = format!("{}/v1/sales/gig/seats", self.env.origin.url());
        let (status, body) = status_json(self.env.http.get(url).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Reads every row, hold and order straight from Redis and checks that each seat is free,
    /// held by one live hold or sold in one order, never two, and that the sale's counts
    /// agree. Returns (free, held, sold).
    async fn invariant(&self) -> (u64, u64, u64) {
        read_invariant(&self.env.books, &self.sale).await
    }
}

async fn read_invariant(books: &Books, sale: &SaleId) -> (u64, u64, u64) {
    let key = |name: &str| format!("hg:{{{sale}}}:{name}");
    // One script, so the sample is one moment of Redis.
    const READ: &str = "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), \
        redis.call('HGETALL', KEYS[3]), redis.call('HMGET', KEYS[4], 'stock', 'sold', 'remaining', 'held')}";
    let keys = vec![key("seat_rows"), key("holds"), key("orders"), key("sale")];
    let (rows, holds, orders, counts): (Vec<String>, Vec<String>, Vec<String>, Vec<u64>) =
        books.eval(READ, &keys).await;
    let map = |flat: Vec<String>| -> HashMap<String, String> {
        flat.chunks(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect()
    };
    let (rows, holds, orders) = (map(rows), map(holds), map(orders));
    let mut owner: HashMap<String, String> = HashMap::new();
    let mut claim = |seat: &str, by: String| {
        if let Some(before) = owner.insert(seat.to_owned(), by.clone()) {
            panic!("seat {seat} is {before} and {by}");
        }
    };
    for (id, json) in &holds {
        let h: Value = serde_json::from_str(json).unwrap();
        for s in h["seats"].as_array().unwrap() {
            claim(s.as_str().unwrap(), format!("held by {id}"));
        }
    }
    for (visitor, json) in &orders {
        let o: Value = serde_json::from_str(json).unwrap();
        for s in o["seats"].as_array().unwrap() {
            claim(s.as_str().unwrap(), format!("sold to {visitor}"));
        }
    }
    let (mut free, mut held, mut sold) = (0u64, 0u64, 0u64);
    for (row, state) in &rows {
        for (i, c) in state.chars().enumerate() {
            let seat = format!("{row}/{}", i + 1);
            let by = owner.remove(&seat);
            match (c, by.as_deref()) {
                ('.', None) => free += 1,
                ('h', Some(b)) if b.starts_with("held") => held += 1,
                ('s', Some(b)) if b.starts_with("sold") => sold += 1,
                ('x', None) => {}
                (c, by) => panic!("seat {seat} is {c:?} in its row and {by:?} in the books"),
            }
        }
    }
    assert!(
        owner.is_empty(),
        "seats in holds or orders that no row has: {owner:?}"
    );
    let (stock, sold_count, remaining, held_count) = (counts[0], counts[1], counts[2], counts[3]);
    assert_eq!((sold_count, held_count), (sold, held), "the sale's counts");
    assert_eq!(sold + remaining, stock, "sold + remaining = stock");
    assert_eq!(free + held, remaining, "free + held = remaining");
    (free, held, sold)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seat_map_is_checked_changed_before_the_sale_and_locked_once_seats_are_taken() {
    bounded(Duration::from_secs(60), async {
        let v = Venue::at(venue(2, 10, 480), 4, now_ms() + 3_600_000).await;
        assert_eq!(v.invariant().await, (40, 0, 0));
        // Bad maps are refused and change nothing.
        let mut unknown_tier = venue(2, 10, 480);
        unknown_tier["sections"][0]["rows"][0]["seats"][3]["tier"] = json!("gold");
        let mut twice = venue(2, 10, 480);
        twice["sections"][1]["id"] = json!("A");
        let mut bad_id = venue(2, 10, 480);
        bad_id["sections"][0]["id"] = json!("A/B");
        for bad in [unknown_tier, twice, bad_id, venue(2, 10, 4), json!({"tiers": {}, "sections": []})] {
            let (status, body) = v.admin("PUT", "seats", &bad).await;
            assert_eq!((status, code(&body)), (422, "invalid_seat_map"), "{bad}");
        }
        let (status, body) = v.admin("PUT", "seats", &json!({"sections": "many"})).await;
        assert_eq!((status, code(&body)), (400, "invalid_body"));
        assert_eq!(v.invariant().await, (40, 0, 0));

        // Before the sale: withdraw two seats, raise a price.
        let change = json!({"withdraw": ["B/2/9", "B/2/10"], "prices": {"back": 4500}});
        let (status, body) = v.admin("POST", "seats/changes", &change).await;
        assert_eq!((status, &body["stock"]), (200, &json!(38)), "{body}");
        for (bad, want) in [
            (json!({"withdraw": ["B/1/1", "B/1/1"]}), "unknown_seat"),
            (json!({"withdraw": ["B/2/11"]}), "unknown_seat"),
            (json!({"withdraw": ["B/2/9"]}), "unknown_seat"),
            (json!({"prices": {"gold": 1}}), "unknown_seat"),
            (json!({"withdraw": ["not a seat"]}), "unknown_seat"),
        ] {
            let (status, body) = v.admin("POST", "seats/changes", &bad).await;
            assert_eq!((status, code(&body)), (422, want), "{bad}");
        }
        let seats = v.availability().await;
        let back = seats["tiers"].as_array().unwrap().iter().find(|t| t["id"] == "back").unwrap();
        assert_eq!(back["price"], 4500);
        assert_eq!(seats["sections"][1]["rows"][1]["state"], "........xx");
        assert_eq!(seats["sections"][0]["rows"][0]["access"], "wc........");
        assert_eq!(v.invariant().await, (38, 0, 0));

        // A seated sale is bought by holding seats, not with a purchase; its stock is its map.
        let pass = v.env.pass(&v.sale, "someone");
        let (status, body) = v.env.purchase("gig", Some(&pass), "").await;
        assert_eq!((status, code(&body)), (409, "seats_required"), "{body}");
        let config = json!({"stock": 100, "per_visitor_limit": 4, "starts_at_ms": now_ms() - 1_000, "admission_rate": 100});
        let (status, body) = v.env.admin.put_sale_reply("gig", &config).await.unwrap();
        assert_eq!((status, code(&body)), (409, "seated_stock"));
        // Its price is what a card hold authorises per seat: never below its dearest tier.
        let priced = json!({"stock": 38, "per_visitor_limit": 4, "starts_at_ms": now_ms() - 1_000, "admission_rate": 100, "price": {"amount": 100, "currency": "eur"}});
        let (status, body) = v.env.admin.put_sale_reply("gig", &priced).await.unwrap();
        assert_eq!((status, code(&body)), (409, "seated_price"));
        let config = json!({"stock": 38, "per_visitor_limit": 4, "starts_at_ms": now_ms() - 1_000, "admission_rate": 100});
        let (status, body) = v.env.admin.put_sale_reply("gig", &config).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let (status, body) = v.env.purchase("gig", Some(&pass), "").await;
        assert_eq!((status, code(&body)), (409, "seats_required"), "{body}");

        // Once open, prices stay; once a seat is held, the map stays.
        let (status, body) = v.admin("POST", "seats/changes", &json!({"prices": {"back": 1}})).await;
        assert_eq!((status, code(&body)), (409, "sale_started"));
        let (status, _) = v.hold("someone", json!({"seats": ["A/1/5"]})).await;
        assert_eq!(status, 201);
        let (status, body) = v.admin("PUT", "seats", &venue(2, 10, 480)).await;
        assert_eq!((status, code(&body)), (409, "seat_map_locked"));
        assert_eq!(v.invariant().await, (37, 1, 0));

        // A counter sale has no seats, and a sale whose card holds cover less than a seat's
        // tier takes no map with it.
        v.env.create_sale("plain", 5, 1).await;
        let url = format!("{}/v1/sales/plain/seats", v.env.origin.url());
        let (status, body) = status_json(v.env.http.get(url).send().await.unwrap()).await;
        assert_eq!((status, code(&body)), (409, "not_seated"));
        let priced = json!({"stock": 0, "per_visitor_limit": 1, "starts_at_ms": now_ms(), "admission_rate": 10, "price": {"amount": 100, "currency": "eur"}});
        assert_eq!(v.env.admin.put_sale_reply("paid", &priced).await.unwrap().0, 201);
        let url = format!("{}/admin/v1/sales/paid/seats", v.env.origin.url());
        let r = v.env.http.put(url).bearer_auth(&v.env.keys.admin_token).json(&venue(1, 2, 480)).send().await.unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!((status, code(&body)), (409, "seated_price"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_holds_on_the_same_seats_leave_one_winner_and_name_alternatives() {
    bounded(Duration::from_secs(60), async {
        let v = Arc::new(Venue::open(venue(3, 12, 480), 4).await);
        let wanted = json!({"seats": ["A/1/6", "A/1/7"]});
        let mut tasks = Vec::new();
        for n in 0..24 {
            let (v, wanted) = (Arc::clone(&v), wanted.clone());
            tasks.push(tokio::spawn(async move {
                v.hold(&format!("fan{n}"), wanted).await
            }));
        }
        let mut won = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                201 => {
                    won += 1;
                    assert_eq!(body["seats"], json!(["A/1/6", "A/1/7"]));
                    assert_eq!(body["amount"], 18_000);
                }
                409 => {
                    assert_eq!(code(&body), "seats_taken", "{body}");
                    assert_eq!(body["taken"], json!(["A/1/6", "A/1/7"]));
                    // The alternative is two free seats side by side in section A.
                    let alt: Vec<&str> = body["alternatives"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap())
                        .collect();
                    assert_eq!(alt.len(), 2, "{body}");
                    assert!(alt.iter().all(|s| s.starts_with("A/")), "{alt:?}");
                }
                other => panic!("{other}: {body}"),
            }
        }
        assert_eq!(won, 1);
        assert_eq!(v.invariant().await, (70, 2, 0));

        // All or none: a request with one taken seat holds nothing.
        let (status, body) = v.hold("late", json!({"seats": ["A/1/5", "A/1/6"]})).await;
        assert_eq!((status, body["taken"].clone()), (409, json!(["A/1/6"])));
        assert_eq!(v.invariant().await, (70, 2, 0));
        // Bad names and counts are refused, and change nothing.
        for (body, want) in [
            (json!({"seats": ["A/1/13"]}), (422, "unknown_seat")),
            (json!({"seats": ["Z/1/1"]}), (422, "unknown_seat")),
            (json!({"seats": ["A/1/1", "A/1/1"]}), (422, "unknown_seat")),
            (json!({"seats": ["A-1-1"]}), (422, "unknown_seat")),
            (json!({"seats": []}), (400, "invalid_body")),
            (
                json!({"seats": ["A/2/1", "A/2/2", "A/2/3", "A/2/4", "A/2/5"]}),
                (422, "over_limit"),
            ),
            (json!({"best": {"count": 5}}), (422, "over_limit")),
            (
                json!({"best": {"count": 2, "section": "Z"}}),
                (422, "unknown_seat"),
            ),
            (
                json!({"best": {"count": 2, "tier": "gold"}}),
                (422, "unknown_seat"),
            ),
            (json!({"best": {"count": 0}}), (422, "over_limit")),
            (json!({"pick": 2}), (400, "invalid_body")),
        ] {
            let (status, got) = v.hold("careful", body.clone()).await;
            assert_eq!((status, code(&got)), want, "{body}: {got}");
        }
        assert_eq!(v.invariant().await, (70, 2, 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_available_under_contention_finds_adjacent_seats_or_says_there_are_none() {
    bounded(Duration::from_secs(90), async {
        // 2 sections x 4 rows x 10 seats = 80 seats; 60 fans want 2 to 4 together.
        let v = Arc::new(Venue::open(venue(4, 10, 480), 4).await);
        let mut tasks = Vec::new();
        for n in 0..60u32 {
            let v = Arc::clone(&v);
            tasks.push(tokio::spawn(async move {
                let count = 2 + n % 3;
                let (status, body) = v
                    .hold(&format!("fan{n}"), json!({"best": {"count": count}}))
                    .await;
                (count, status, body)
            }));
        }
        let mut held = 0u64;
        let mut refused = 0;
        for t in tasks {
            let (count, status, body) = t.await.unwrap();
            match status {
                201 => {
                    let seats: Vec<&str> = body["seats"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap())
                        .collect();
                    assert_eq!(seats.len() as u32, count);
                    // Side by side in one row, and no accessible place unless asked for.
                    let row = seats[0].rsplit_once('/').unwrap().0;
                    let ns: Vec<u32> = seats
                        .iter()
                        .map(|s| {
                            let (r, n) = s.rsplit_once('/').unwrap();
                            assert_eq!(r, row);
                            n.parse().unwrap()
                        })
                        .collect();
                    assert!(ns.windows(2).all(|w| w[1] == w[0] + 1), "{seats:?}");
                    assert!(!(row == "A/1" && ns.iter().any(|n| *n <= 2)), "{seats:?}");
                    held += u64::from(count);
                }
                409 => {
                    assert_eq!(code(&body), "no_adjacent_seats", "{body}");
                    refused += 1;
                }
                other => panic!("{other}: {body}"),
            }
        }
        assert!(refused > 0, "the venue had room for everyone");
        let (free, h, sold) = v.invariant().await;
        assert_eq!((h, sold), (held, 0));
        // The seats left are scattered: no fan's block fitted anywhere.
        assert!(free < 80);
        // The wheelchair space is found when asked for.
        let (status, body) = v
            .hold("wheels", json!({"best": {"count": 2, "wheelchair": true}}))
            .await;
        assert_eq!(
            (status, body["seats"].clone()),
            (201, json!(["A/1/1", "A/1/2"])),
            "{body}"
        );
        // A tier: the back rows only.
        let (status, body) = v
            .hold("thrifty", json!({"best": {"count": 1, "tier": "back"}}))
            .await;
        if status == 201 {
            let row: u32 = body["seats"][0]
                .as_str()
                .unwrap()
                .split('/')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            assert!(row >= 3, "{body}");
        } else {
            assert_eq!(code(&body), "no_adjacent_seats");
        }
        v.invariant().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_lapses_with_no_client_and_its_confirmation_is_refused() {
    // Alone: the bound below is the (hold time + 2 s), against a sweeper that ticks
    // every second, so other tests' load must not stand between them.
    crate::support::alone(Duration::from_secs(60), async {
        let v = Venue::open(venue(1, 6, 5), 2).await;
        let (status, hold) = v.hold("slow", json!({"seats": ["B/1/3", "B/1/4"]})).await;
        assert_eq!(status, 201, "{hold}");
        let expires = hold["expires_at_ms"].as_u64().unwrap();
        let id = hold["hold"].as_str().unwrap().to_owned();
        // Nobody calls the origin now: only Redis is read, until the seats are free again.
        let rows = format!("hg:{{{}}}:seat_rows", v.sale);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let back_at = loop {
            let row: String = v.env.redis_client.hget(&rows, "B/1").await.unwrap();
            if &row[2..4] == ".." {
                break now_ms();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the seats never came back: {row}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            back_at >= expires,
            "released before its time: {back_at} < {expires}"
        );
        assert!(
            back_at <= expires + 2_000,
            "released {} ms after its time",
            back_at - expires
        );
        assert_eq!(v.invariant().await, (12, 0, 0));
        // Too late to buy them, and the buyer hears why.
        let (status, body) = v.confirm("slow", &id).await;
        assert_eq!((status, code(&body)), (409, "seat_hold_expired"), "{body}");
        // Another buyer takes them; the first can hold again.
        let (status, _) = v.hold("quick", json!({"seats": ["B/1/3", "B/1/4"]})).await;
        assert_eq!(status, 201);
        let (status, second) = v
            .hold("slow", json!({"best": {"count": 2, "section": "B"}}))
            .await;
        assert_eq!(status, 201);
        v.invariant().await;
        // Holding and letting go has an end: five holds a visitor (this one has made two).
        let id = second["hold"].as_str().unwrap();
        assert_eq!(
            v.buyer("slow", "DELETE", &format!("seat-holds/{id}"), None)
                .await
                .0,
            200
        );
        for _ in 0..3 {
            let (status, h) = v.hold("slow", json!({"seats": ["A/1/5"]})).await;
            assert_eq!(status, 201, "{h}");
            let id = h["hold"].as_str().unwrap();
            assert_eq!(
                v.buyer("slow", "DELETE", &format!("seat-holds/{id}"), None)
                    .await
                    .0,
                200
            );
        }
        let (status, body) = v.hold("slow", json!({"seats": ["A/1/5"]})).await;
        assert_eq!((status, code(&body)), (429, "seat_hold_limit"), "{body}");
        assert_eq!(v.invariant().await, (10, 2, 0));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_hold_is_an_order_and_a_released_one_gives_its_seats_back() {
    bounded(Duration::from_secs(60), async {
        let v = Venue::open(venue(1, 6, 480), 3).await;
        let (_, hold) = v
            .hold("ana", json!({"seats": ["A/1/4", "A/1/5", "A/1/6"]}))
            .await;
        let id = hold["hold"].as_str().unwrap().to_owned();
        // One live hold at a time: the refusal names it, so a page that lost it takes it up.
        let (status, body) = v.hold("ana", json!({"seats": ["B/1/1"]})).await;
        assert_eq!((status, code(&body)), (409, "seat_hold_exists"));
        assert_eq!(body["hold"], hold, "{body}");
        // Someone else cannot confirm or release it.
        let (status, body) = v.confirm("eve", &id).await;
        assert_eq!((status, code(&body)), (404, "no_seat_hold"));
        let (status, _) = v
            .buyer("eve", "DELETE", &format!("seat-holds/{id}"), None)
            .await;
        assert_eq!(status, 404);
        let (status, body) = v.confirm("ana", "not-a-hold").await;
        assert_eq!((status, code(&body)), (404, "no_seat_hold"));

        let (status, order) = v.confirm("ana", &id).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["order"]["seats"], json!(["A/1/4", "A/1/5", "A/1/6"]));
        assert_eq!(order["order"]["amount"], 27_000);
        assert_eq!(order["remaining"], 9);
        // A retry answers the same order.
        let (status, again) = v.confirm("ana", &id).await;
        assert_eq!((status, &again["order"]), (200, &order["order"]));
        let (status, body) = v.hold("ana", json!({"seats": ["B/1/1"]})).await;
        assert_eq!((status, code(&body)), (409, "already_bought"));
        let seats = v.availability().await;
        assert_eq!(seats["sections"][0]["rows"][0]["state"], "...sss");
        assert_eq!(
            (&seats["sections"][0]["sold"], &seats["sections"][1]["free"]),
            (&json!(3), &json!(6))
        );
        // The audit scores a seated sale's orders on what the pass that bought said (here
        // anything bought within a day of admission counts as machine speed) and cancels the
        // flagged ones: their seats are free again, and the visitor holds no more.
        let policy = json!({"fast_ms": 86_400_000});
        let (status, report) = v.admin("POST", "audit", &policy).await;
        let flagged = &report["audit"]["flagged"];
        assert_eq!(
            (status, &flagged[0]["visitor"]),
            (200, &json!("ana")),
            "{report}"
        );
        let mut apply = policy.clone();
        apply["apply"] = true.into();
        let (status, report) = v.admin("POST", "audit", &apply).await;
        assert_eq!((status, &report["cancelled"]), (200, &json!(1)), "{report}");
        assert_eq!(v.invariant().await, (12, 0, 0));
        let (status, body) = v.confirm("ana", &id).await;
        assert_eq!((status, code(&body)), (409, "order_cancelled"), "{body}");
        let (status, body) = v.hold("ana", json!({"seats": ["A/1/4"]})).await;
        assert_eq!((status, code(&body)), (409, "order_cancelled"), "{body}");
        let (status, report) = v.admin("POST", "audit", &apply).await;
        assert_eq!((status, &report["cancelled"]), (200, &json!(0)), "{report}");
        // Others buy those seats again.
        let (_, hold) = v
            .hold("cy", json!({"seats": ["A/1/4", "A/1/5", "A/1/6"]}))
            .await;
        let (status, order) = v.confirm("cy", hold["hold"].as_str().unwrap()).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(v.invariant().await, (9, 0, 3));

        // Released: the seats are free again at once.
        let (_, hold) = v
            .hold("ben", json!({"best": {"count": 2, "section": "B"}}))
            .await;
        let id = hold["hold"].as_str().unwrap();
        assert_eq!(v.invariant().await, (7, 2, 3));
        let (status, body) = v
            .buyer("ben", "DELETE", &format!("seat-holds/{id}"), None)
            .await;
        assert_eq!((status, &body["released"]), (200, &json!(2)));
        assert_eq!(v.invariant().await, (9, 0, 3));
        let (status, body) = v.confirm("ben", id).await;
        assert_eq!((status, code(&body)), (404, "no_seat_hold"));
        // Without a pass, nothing.
        let url = format!("{}/v1/sales/gig/seat-holds", v.env.origin.url());
        let (status, body) = status_json(
            v.env
                .http
                .post(url)
                .json(&json!({"best": {"count": 1}}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, code(&body)), (401, "missing_pass"));
    })
    .await;
}

/// 20,000 buyers against a 2,000-seat venue: each holds the best 1 to 4 seats together; most
/// confirm, some release, some let their hold lapse (5 s). A sampler reads Redis every 100 ms
/// while they run and checks that no seat is ever in two hands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seats_stay_in_one_hand_through_a_burst_of_twenty_thousand() {
    crate::support::alone(Duration::from_secs(300), async {
        let v = Arc::new(Venue::open(venue(20, 50, 5), 4).await);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let (redis, sale, stop) = (v.env.books.clone(), v.sale.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut samples = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    read_invariant(&redis, &sale).await;
                    samples += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                samples
            })
        };
        let gate = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::new();
        for n in 0..20_000u32 {
            let (v, gate) = (Arc::clone(&v), Arc::clone(&gate));
            tasks.push(tokio::spawn(async move {
                let _slot = gate.acquire().await.unwrap();
                let visitor = format!("fan{n}");
                let section = if n % 3 == 0 { json!("B") } else { json!("A") };
                let (status, hold) = v
                    .hold(
                        &visitor,
                        json!({"best": {"count": 1 + n % 4, "section": section}}),
                    )
                    .await;
                if status != 201 {
                    assert!(
                        ["no_adjacent_seats", "sold_out"].contains(&code(&hold)),
                        "{hold}"
                    );
                    return (0, 0);
                }
                let id = hold["hold"].as_str().unwrap().to_owned();
                match n % 10 {
                    0 => {
                        let (status, _) = v
                            .buyer(&visitor, "DELETE", &format!("seat-holds/{id}"), None)
                            .await;
                        assert_eq!(status, 200);
                        (0, 1)
                    }
                    1 => (0, 0), // lets it lapse
                    _ => {
                        let (status, body) = v.confirm(&visitor, &id).await;
                        assert_eq!(status, 201, "{body}");
                        (body["order"]["quantity"].as_u64().unwrap(), 0)
                    }
                }
            }));
        }
        let (mut bought, mut released) = (0u64, 0u64);
        for t in tasks {
            let (b, r) = t.await.unwrap();
            bought += b;
            released += r;
        }
        // The lapsed holds come back by themselves.
        let held_key = format!("hg:{{{}}}:sale", v.sale);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let held: u64 = v.env.redis_client.hget(&held_key, "held").await.unwrap();
            if held == 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{held} seats still held"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = sampler.await.unwrap();
        let (free, held, sold) = v.invariant().await;
        println!(
            "sold {sold}, free {free}, released {released}, invariant sampled {samples} times"
        );
        assert_eq!((held, sold), (0, bought));
        assert_eq!(free + sold, 2_000);
        assert!(samples >= 10, "{samples}");
        assert!(sold > 1_000, "{sold}");
        let orders: u64 = v
            .env
            .redis_client
            .hlen(format!("hg:{{{}}}:orders", v.sale))
            .await
            .unwrap();
        let keys: u64 = v
            .env
            .redis_client
            .exists(format!("hg:{{{}}}:holds", v.sale))
            .await
            .unwrap();
        assert!(orders > 0 && keys == 0, "{orders} orders, holds key {keys}");
    })
    .await;
}

/// A seated sale on a whole stack (Redis, the origin, the worker under workerd), open since a
/// second ago with `map` (and its `choosers`, `choose_secs`), at most 4 seats a visitor, and
/// one queue shard, so places in line follow each other with no gap.
async fn seated_stack(sale: &str, mut map: Value, choosers: u32, choose_secs: u64) -> EdgeStack {
    let s = EdgeStack::start_from(builder().var("QUEUE_SHARD_COUNT", "1"))
        .await
        .unwrap();
    let config = json!({"stock": 0, "per_visitor_limit": 4, "starts_at_ms": now_ms() - 1_000, "admission_rate": 100});
    let (status, body) = s.admin().put_sale_reply(sale, &config).await.unwrap();
    assert_eq!(status, 201, "{body}");
    map["choosers"] = choosers.into();
    map["choose_secs"] = choose_secs.into();
    let url = format!("{}/admin/v1/sales/{sale}/seats", s.origin.url());
    let req = s.http.put(url).bearer_auth(&s.keys.admin_token).json(&map);
    let (status, body) = status_json(req.send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choosers"], choosers);
    s
}

/// Joins `sale` as `who`: the client and its ticket.
async fn join(s: &EdgeStack, sale: &str, who: &str) -> (EdgeClient, String) {
    let me = s.buyer(&format!("herdgate-tests ({who})"));
    let ticket = me.solve_and_join(sale, None).await.unwrap().ticket;
    (me, ticket)
}

#[tokio::test]
async fn a_seated_sale_sells_through_the_edge_with_the_pass_and_its_proof() {
    bounded(Duration::from_secs(120), async {
        let s = seated_stack("arena", venue(4, 10, 60), 10, 60).await;
        let sale = "arena";
        // A sale of items beside it: its seats are refused.
        s.sale("items", 5, 1_000, 100).await;

        let (ann, ticket) = join(&s, sale, "ann").await;
        let pass =
            pass_of(&poll_until(&ann, sale, &ticket, Duration::from_secs(20), admitted).await);

        // The seats by section, then one section's rows, read through the edge.
        let (status, summary) = ann.seats_reply(sale, &pass, None).await.unwrap();
        assert_eq!(status, 200, "{summary}");
        assert_eq!(summary["sections"][0]["id"], "A");
        assert_eq!(summary["sections"][0]["free"], 40);
        assert_eq!(summary["sections"][0]["free_by_tier"]["front"], 20);
        assert_eq!(summary["sections"][0]["free_wheelchair"], 1);
        let (status, a) = ann.seats_reply(sale, &pass, Some("A")).await.unwrap();
        assert_eq!(status, 200, "{a}");
        assert_eq!(a["sections"][0]["rows"][0]["state"], "..........");
        // Looking needs a pass; a section not on the map, or another question, is refused.
        let no_pass = s
            .http
            .get(format!("{}/api/v1/sales/{sale}/seats", s.edge.url()));
        let (status, body) = status_json(no_pass.send().await.unwrap()).await;
        assert_eq!((status, code(&body)), (401, "missing_pass"), "{body}");
        let (status, body) = ann.seats_reply(sale, &pass, Some("Z")).await.unwrap();
        assert_eq!((status, code(&body)), (422, "unknown_seat"), "{body}");
        let (status, body) = ann.seats_reply(sale, &pass, Some("A/1")).await.unwrap();
        assert_eq!((status, code(&body)), (400, "invalid_query"), "{body}");

        // A seated sale is not bought with a purchase.
        let (status, body) = ann
            .purchase_reply(sale, Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "seats_required"), "{body}");

        // The best two together in the front, held and bought.
        let best = json!({"best": {"count": 2, "tier": "front"}});
        let (status, hold) = ann.seat_hold_reply(sale, &pass, &best).await.unwrap();
        assert_eq!(status, 201, "{hold}");
        let seats: Vec<String> = serde_json::from_value(hold["seats"].clone()).unwrap();
        assert_eq!(seats.len(), 2);
        assert_eq!(hold["amount"], 18_000);
        let id = hold["hold"].as_str().unwrap();
        let (status, order) = ann.seat_confirm_reply(sale, &pass, id).await.unwrap();
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["order"]["seats"], json!(seats));
        let (status, again) = ann.seat_confirm_reply(sale, &pass, id).await.unwrap();
        assert_eq!((status, &again["created"]), (200, &json!(false)), "{again}");

        // Someone else asks for those very seats: refused, with the best block instead.
        let (ben, ticket) = join(&s, sale, "ben").await;
        let pass_b =
            pass_of(&poll_until(&ben, sale, &ticket, Duration::from_secs(20), admitted).await);
        let (status, taken) = ben
            .seat_hold_reply(sale, &pass_b, &json!({"seats": seats}))
            .await
            .unwrap();
        assert_eq!((status, code(&taken)), (409, "seats_taken"), "{taken}");
        assert_eq!(taken["taken"], json!(seats));
        assert_eq!(taken["alternatives"].as_array().unwrap().len(), 2);
        // Another's hold id, a made-up one, and one that is no id at all.
        let (status, body) = ben.seat_confirm_reply(sale, &pass_b, id).await.unwrap();
        assert_eq!((status, code(&body)), (404, "no_seat_hold"), "{body}");
        let (status, body) = ben.seat_release_reply(sale, &pass_b, "nope").await.unwrap();
        assert_eq!((status, code(&body)), (404, "no_seat_hold"), "{body}");
        // Without the proof of the pass's key, or with Ann's pass: refused.
        let bare = s
            .http
            .post(format!("{}/api/v1/sales/{sale}/seat-holds", s.edge.url()))
            .bearer_auth(&pass_b)
            .json(&best);
        let (status, body) = status_json(bare.send().await.unwrap()).await;
        assert_eq!((status, code(&body)), (401, "proof_required"), "{body}");
        let (status, body) = ben.seat_hold_reply(sale, &pass, &best).await.unwrap();
        assert_eq!((status, code(&body)), (403, "proof_key_mismatch"), "{body}");

        // Ben holds and gives back.
        let (status, hold) = ben.seat_hold_reply(sale, &pass_b, &best).await.unwrap();
        assert_eq!(status, 201, "{hold}");
        let id_b = hold["hold"].as_str().unwrap();
        let (status, body) = ben.seat_release_reply(sale, &pass_b, id_b).await.unwrap();
        assert_eq!((status, &body["released"]), (200, &json!(2)), "{body}");

        // The sale of items has no seats.
        let (cat, ticket) = join(&s, "items", "cat").await;
        let pass_c =
            pass_of(&poll_until(&cat, "items", &ticket, Duration::from_secs(20), admitted).await);
        let (status, body) = cat.seat_hold_reply("items", &pass_c, &best).await.unwrap();
        assert_eq!((status, code(&body)), (409, "not_seated"), "{body}");
        let (status, body) = cat.seats_reply("items", &pass_c, None).await.unwrap();
        assert_eq!((status, code(&body)), (409, "not_seated"), "{body}");

        let redis = Books::connect(&s.redis.url()).await;
        let (free, held, sold) = read_invariant(&redis, &SaleId::parse(sale).unwrap()).await;
        assert_eq!((free, held, sold), (78, 0, 2));
    })
    .await;
}

/// Puts `pm` on hold for `me` while queued with `ticket`: the ticket that carries the card
/// hold, and the hold's id.
async fn card_on_hold(me: &EdgeClient, sale: &str, ticket: &str, pm: &str) -> (String, String) {
    let body = json!({"payment_method": pm});
    let (status, held) = me.hold_reply(sale, ticket, &body).await.unwrap();
    assert_eq!(
        (status, &held["hold"]["state"]),
        (201, &json!("on_hold")),
        "{held}"
    );
    (
        held["ticket"].as_str().unwrap().to_owned(),
        held["hold"]["hold"].as_str().unwrap().to_owned(),
    )
}

/// What localstripe says the card was charged for `intent`: nothing unless the intent
/// succeeded (a cancelled intent is never charged; localstripe still lets its charge be
/// captured, which herdgate reads back as the intent's `canceled`), else the charge's amount
/// less what went back (a capture of less than the authorisation refunds the rest).
async fn taken(ls: &Localstripe, intent: &str) -> (Value, u64) {
    let i = ls.intent(intent).await.unwrap();
    let charge = &i["charges"]["data"][0];
    let amount = charge["amount"].as_u64().unwrap_or(0);
    let kept = amount - charge["amount_refunded"].as_u64().unwrap_or(0);
    let paid = i["status"] == "succeeded" && charge["captured"] == true;
    (i["status"].clone(), if paid { kept } else { 0 })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seated_sale_with_card_holds_charges_the_seats_and_a_failed_capture_gives_them_back() {
    // Runs workerd, localstripe and a shard's sweep.
    alone(Duration::from_secs(240), async {
        let ls = Localstripe::start().await.unwrap();
        let builder = builder()
            .localstripe(&ls)
            .var("QUEUE_SHARD_COUNT", "1")
            .vars(json!({"HOLD_SWEEP_SECS": "1", "HOLD_RELEASE_RATE": "400"}));
        let s = EdgeStack::start_from(builder).await.unwrap();
        let sale = "opera";
        let settings = |stock: u64, amount: u64| {
            json!({"stock": stock, "per_visitor_limit": 4, "starts_at_ms": now_ms() - 1_000,
                   "admission_rate": 100, "price": {"amount": amount, "currency": "eur"}})
        };
        // The price is what a card hold authorises per seat: no tier may cost more.
        let (status, body) = s
            .admin()
            .put_sale_reply(sale, &settings(0, 9_000))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        let url = format!("{}/admin/v1/sales/{sale}/seats", s.origin.url());
        let put = |map: &Value| s.http.put(&url).bearer_auth(&s.keys.admin_token).json(map);
        let mut dear = venue(4, 10, 60);
        dear["tiers"]["front"] = 9_500.into();
        let (status, body) = status_json(put(&dear).send().await.unwrap()).await;
        assert_eq!((status, code(&body)), (409, "seated_price"), "{body}");
        let (status, body) = status_json(put(&venue(4, 10, 60)).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = s
            .admin()
            .put_sale_reply(sale, &settings(80, 8_999))
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (409, "seated_price"), "{body}");
        let (status, body) = s
            .admin()
            .put_sale_reply(sale, &settings(80, 9_000))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");

        // Ann puts her card on hold while she waits: 4 seats at most 9,000 each.
        let (ann, ticket) = join(&s, sale, "ann").await;
        let (ticket, card_a) = card_on_hold(&ann, sale, &ticket, "pm_card_visa").await;
        assert_eq!(ls.intent(&card_a).await.unwrap()["amount"], 36_000);
        let pass_a =
            pass_of(&poll_until(&ann, sale, &ticket, Duration::from_secs(20), admitted).await);
        // She holds the best two front seats and buys them: the card pays their price.
        let best = json!({"best": {"count": 2, "tier": "front"}});
        let (status, hold) = ann.seat_hold_reply(sale, &pass_a, &best).await.unwrap();
        assert_eq!((status, &hold["amount"]), (201, &json!(18_000)), "{hold}");
        let id = hold["hold"].as_str().unwrap().to_owned();
        let (status, order) = ann.seat_confirm_reply(sale, &pass_a, &id).await.unwrap();
        assert_eq!(status, 201, "{order}");
        let charged = json!({"amount": 18_000, "currency": "eur", "hold": card_a});
        assert_eq!(order["charged"], charged, "{order}");
        // Asked again: the same order, charged once.
        let (status, again) = ann.seat_confirm_reply(sale, &pass_a, &id).await.unwrap();
        assert_eq!(status, 200, "{again}");
        assert_eq!(
            again["order"]["order_id"], order["order"]["order_id"],
            "{again}"
        );
        assert_eq!(taken(&ls, &card_a).await, (json!("succeeded"), 18_000));

        // Ben has no card on hold: he may not hold seats.
        let (ben, ticket) = join(&s, sale, "ben").await;
        let pass_b =
            pass_of(&poll_until(&ben, sale, &ticket, Duration::from_secs(20), admitted).await);
        let (status, body) = ben.seat_hold_reply(sale, &pass_b, &best).await.unwrap();
        assert_eq!((status, code(&body)), (402, "hold_required"), "{body}");
        // With one, he holds two seats; the issuer voids it before he buys.
        let (ticket, card_b) = card_on_hold(&ben, sale, &ticket, "pm_card_visa").await;
        let pass_b =
            pass_of(&poll_until(&ben, sale, &ticket, Duration::from_secs(20), admitted).await);
        let (status, hold) = ben.seat_hold_reply(sale, &pass_b, &best).await.unwrap();
        assert_eq!(status, 201, "{hold}");
        let seats_b = hold["seats"].clone();
        let id = hold["hold"].as_str().unwrap().to_owned();
        let redis = Books::connect(&s.redis.url()).await;
        let opera = SaleId::parse(sale).unwrap();
        assert_eq!(read_invariant(&redis, &opera).await, (76, 2, 2));
        ls.void(&card_b).await.unwrap();
        let (status, body) = ben.seat_confirm_reply(sale, &pass_b, &id).await.unwrap();
        assert_eq!((status, code(&body)), (402, "payment_failed"), "{body}");
        // Nothing was charged and his seats are back on sale; asking again says why, and
        // changes nothing.
        assert_eq!(read_invariant(&redis, &opera).await, (78, 0, 2));
        let (status, body) = ben.seat_confirm_reply(sale, &pass_b, &id).await.unwrap();
        assert_eq!((status, code(&body)), (402, "payment_failed"), "{body}");
        assert_eq!(read_invariant(&redis, &opera).await, (78, 0, 2));
        assert_eq!(taken(&ls, &card_b).await, (json!("canceled"), 0));

        // Cat buys those very seats.
        let (cat, ticket) = join(&s, sale, "cat").await;
        let (ticket, card_c) = card_on_hold(&cat, sale, &ticket, "pm_card_visa").await;
        let pass_c =
            pass_of(&poll_until(&cat, sale, &ticket, Duration::from_secs(20), admitted).await);
        let named = json!({"seats": seats_b});
        let (status, hold) = cat.seat_hold_reply(sale, &pass_c, &named).await.unwrap();
        assert_eq!(status, 201, "{hold}");
        let id = hold["hold"].as_str().unwrap();
        let (status, order) = cat.seat_confirm_reply(sale, &pass_c, id).await.unwrap();
        assert_eq!(
            (status, &order["order"]["seats"]),
            (201, &seats_b),
            "{order}"
        );
        assert_eq!(read_invariant(&redis, &opera).await, (76, 0, 4));
        assert_eq!(taken(&ls, &card_c).await, (json!("succeeded"), 18_000));
        // Each order is charged once, and the pending count is back to none.
        let key = [format!("hg:{{{sale}}}:sale")];
        let pending: Option<u64> = redis
            .eval("return redis.call('HGET', KEYS[1], 'pending')", &key)
            .await;
        assert_eq!(pending.unwrap_or(0), 0);
    })
    .await;
}

#[tokio::test]
async fn admission_by_concurrency_lets_the_next_person_in_when_a_hold_lapses_or_is_released() {
    bounded(Duration::from_secs(150), async {
        // One person chooses at a time; a hold lasts 10 s; the time to choose (a minute) never
        // runs out in this test, so only a lapse or a release lets the next one in.
        let sale = "solo";
        let s = seated_stack(sale, venue(2, 6, 10), 1, 60).await;
        let (ann, t_ann) = join(&s, sale, "ann").await;
        let (ben, t_ben) = join(&s, sale, "ben").await;
        let (cat, t_cat) = join(&s, sale, "cat").await;
        let pass =
            pass_of(&poll_until(&ann, sale, &t_ann, Duration::from_secs(20), admitted).await);
        let best = json!({"best": {"count": 2}});
        let (status, hold) = ann.seat_hold_reply(sale, &pass, &best).await.unwrap();
        assert_eq!(status, 201, "{hold}");
        let expires_at_ms = hold["expires_at_ms"].as_u64().unwrap();

        // Ben waits while Ann holds, and is let in once her hold lapsed: the edge stamped his
        // pass after the hold's end.
        let status = poll_until(&ben, sale, &t_ben, Duration::from_secs(30), admitted).await;
        let pass_b = pass_of(&status);
        let adm = herdgate_core::read_unverified::<herdgate_core::PassClaims>(&pass_b)
            .unwrap()
            .adm;
        assert!(
            adm >= expires_at_ms,
            "admitted at {adm}, the hold ran to {expires_at_ms}"
        );
        // Her confirmation comes too late.
        let id = hold["hold"].as_str().unwrap();
        let (status, body) = ann.seat_confirm_reply(sale, &pass, id).await.unwrap();
        assert_eq!((status, code(&body)), (409, "seat_hold_expired"), "{body}");

        // Cat waits while Ben chooses, and is let in when he gives his seats back.
        let cat_status = cat.status(sale, &t_cat).await.unwrap();
        assert!(!admitted(&cat_status), "{cat_status:?}");
        let (status, hold) = ben.seat_hold_reply(sale, &pass_b, &best).await.unwrap();
        assert_eq!(status, 201, "{hold}");
        let cat_status = cat.status(sale, &t_cat).await.unwrap();
        assert!(!admitted(&cat_status), "{cat_status:?}");
        let released_at = now_ms();
        let id_b = hold["hold"].as_str().unwrap();
        let (status, body) = ben.seat_release_reply(sale, &pass_b, id_b).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let status = poll_until(&cat, sale, &t_cat, Duration::from_secs(30), admitted).await;
        let adm = herdgate_core::read_unverified::<herdgate_core::PassClaims>(&pass_of(&status))
            .unwrap()
            .adm;
        // Let in after the release, well before Ben's hold would have lapsed.
        assert!(
            adm >= released_at,
            "admitted at {adm}, released at {released_at}"
        );
        assert!(
            adm < hold["expires_at_ms"].as_u64().unwrap(),
            "waited for the lapse"
        );
    })
    .await;
}

/// `herd seats`, small: 400 people for a 150-seat venue through the whole stack, a fifth of
/// them letting their holds lapse, 40 choosing at once. Every seat is sold once, none twice
/// (by the people's answers and by the orders in Redis), nothing is left held, and every person
/// got a final answer: an order, a hold they walked away from, or "sold out".
#[tokio::test]
async fn a_crowd_for_a_seated_sale_sells_every_seat_once() {
    alone(Duration::from_secs(240), async {
        let s = EdgeStack::start().await.unwrap();
        let venue = herdgate_herd::seats::Venue {
            sections: 3,
            rows: 5,
            per_row: 10,
            front: 1,
        };
        let cfg = herdgate_herd::seats::SeatsConfig {
            edge: s.edge.url().to_owned(),
            origin: s.origin.url(),
            admin_token: s.keys.admin_token.clone(),
            sale: "tour".into(),
            people: 400,
            venue,
            choosers: 40,
            choose_secs: 30,
            hold_secs: 5,
            lapse_pct: 20,
            front_pct: 70,
            rate: 200,
            arrival: Duration::from_secs(3),
            think: Duration::from_millis(500),
            connections: 64,
            deadline: Duration::from_secs(180),
        };
        let redis = s.redis.client().await.unwrap();
        let r = herdgate_herd::seats::run(cfg, "test".into(), Some(redis))
            .await
            .unwrap();
        let summary = r.text();
        assert_eq!(r.seats, 150);
        assert_eq!(
            (r.double_sold, r.double_sold_in_redis),
            (0, Some(0)),
            "{summary}"
        );
        assert_eq!(r.seats_sold, 150, "{summary}");
        assert_eq!(r.seats_sold_books, 150, "{summary}");
        assert_eq!(r.seats_held_at_end, 0, "{summary}");
        assert!(r.holds_lapsed > 0, "nobody let a hold lapse: {summary}");
        assert_eq!(
            (r.unanswered, r.failures.len(), r.refusals.len()),
            (0, 0, 0),
            "{summary}"
        );
        assert_eq!(
            r.orders + r.holds_lapsed + r.told_sold_out + r.gave_up,
            400,
            "everyone answered once: {summary}"
        );
        let redis = Books::connect(&s.redis.url()).await;
        let sale = SaleId::parse("tour").unwrap();
        assert_eq!(read_invariant(&redis, &sale).await, (0, 0, 150));
    })
    .await;
}
