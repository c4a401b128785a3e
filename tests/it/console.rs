//! The operator's console at the origin: its login, its session and CSRF checks, and the
//! timeline it reads. The page itself, in Chromium during a herd, is `console_in_chromium`
//! (`tests/browser/console.test.mjs`).

use std::time::Duration;

use herdgate_core::wire::{ControlRequest, Timeline};
use herdgate_testkit::{now_ms, OriginOptions};
use serde_json::json;

use crate::support::{bounded, code, status_json, Env};

/// A client that shows redirects instead of following them, as a browser's first hop.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The session cookie `Set-Cookie` carries (`name=value`), and the whole header.
fn session_of(r: &reqwest::Response) -> (String, String) {
    let set = r
        .headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_owned();
    (set.split(';').next().unwrap().to_owned(), set)
}

/// The CSRF token the console page carries.
fn csrf_of(page: &str) -> String {
    let needle = "name=\"csrf-token\" content=\"";
    let at = page.find(needle).expect("a CSRF meta tag") + needle.len();
    page[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_takes_a_login_and_every_change_needs_its_csrf_token() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let base = env.origin.url();
        let http = browser();
        env.create_sale("c1", 10, 1).await;

        // Anyone sees the login form; nobody sees a sale without a login.
        let r = http.get(format!("{base}/admin/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        let page = r.text().await.unwrap();
        assert!(page.contains("action=\"/admin/login\"") && !page.contains("csrf-token"));
        let r = http
            .get(format!("{base}/admin/v1/sales"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        // A wrong token, and no token, get the form again with the refusal.
        for body in ["token=not-the-admin-token-at-all", "", "token"] {
            let r = http
                .post(format!("{base}/admin/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{body:?}");
            assert!(r.headers().get("set-cookie").is_none());
            assert!(r
                .text()
                .await
                .unwrap()
                .contains("data-code=\"unauthorized\""));
        }

        // The token buys a session: an HttpOnly, SameSite=Strict cookie for /admin only.
        let form = format!("token={}", env.keys.admin_token);
        let r = http
            .post(format!("{base}/admin/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/admin/");
        let (cookie, set) = session_of(&r);
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="] {
            assert!(set.contains(attribute), "{set} lacks {attribute}");
        }
        // An origin listening on a loopback address serves the console over plain HTTP on
        // this machine: not Secure, or no browser keeps it. (Any other origin sets Secure.)
        assert!(!set.contains("Secure"), "{set}");
        assert!(!set.contains(&env.keys.admin_token));
        drop(form);

        // Redis keeps the SHA-256 of the cookie's value, never the value.
        let value = cookie.split_once('=').unwrap().1.to_owned();
        let digest: String = sha2::Digest::finalize(sha2::Digest::chain_update(
            <sha2::Sha256 as sha2::Digest>::new(),
            value.as_bytes(),
        ))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
        let kept: Option<String> = fred::interfaces::KeysInterface::get(
            &env.redis_client,
            format!("hg:console:session:{digest}"),
        )
        .await
        .unwrap();
        let kept = kept.expect("the session, under the digest of its cookie");
        assert!(!kept.contains(&value) && !kept.contains(&env.keys.admin_token));

        // With the session: the console page, with its CSRF token, and the admin API.
        let page = http
            .get(format!("{base}/admin/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        assert!(csrf.len() >= 40, "{csrf}");
        let r = http
            .get(format!("{base}/admin/v1/sales"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(
            (status, body["sales"][0]["state"]["sale"].as_str()),
            (200, Some("c1"))
        );

        // A change without the CSRF token, or with another, is refused and changes nothing.
        let pause = serde_json::to_value(ControlRequest::Pause).unwrap();
        for token in [None, Some("forged"), Some("")] {
            let mut req = http
                .post(format!("{base}/admin/v1/sales/c1/control"))
                .header("cookie", &cookie)
                .json(&pause);
            if let Some(t) = token {
                req = req.header("x-csrf-token", t);
            }
            let (status, body) = status_json(req.send().await.unwrap()).await;
            assert_eq!((status, code(&body)), (403, "csrf_required"), "{token:?}");
        }
        assert!(!env.admin.sale("c1").await.unwrap().state.paused);
        // With it, the change is made.
        let r = http
            .post(format!("{base}/admin/v1/sales/c1/control"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(&pause)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(env.admin.sale("c1").await.unwrap().state.paused);

        // A cookie that is not a session's opens nothing.
        let r = http
            .get(format!("{base}/admin/v1/sales"))
            .header("cookie", "herdgate_console=made-up")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        // A session belongs to the admin token that made it: an origin given another token (a
        // rotation) does not take it, on the same Redis.
        let rotated = herdgate_testkit::TestOrigin::start(
            &env.redis.url(),
            &herdgate_testkit::TestKeys::generate(),
            OriginOptions::default(),
        )
        .await
        .unwrap();
        let r = http
            .get(format!("{}/admin/v1/sales", rotated.url()))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        drop(rotated);

        // Signing out ends the session: logging out is a change, so it needs the token too.
        let r = http
            .post(format!("{base}/admin/logout"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = http
            .post(format!("{base}/admin/logout"))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert!(session_of(&r).1.contains("Max-Age=0"));
        let r = http
            .get(format!("{base}/admin/v1/sales"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let page = http
            .get(format!("{base}/admin/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("action=\"/admin/login\""));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_records_a_live_sale_and_refuses_bad_questions() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start_with(OriginOptions {
            timeline_every_ms: Some(200),
            ..OriginOptions::default()
        })
        .await
        .unwrap();
        let sale = env.create_sale("t1", 5, 1).await;
        // A sale that opens in a day is not live: nothing is recorded for it.
        let later = herdgate_core::wire::SaleConfig {
            stock: 5,
            per_visitor_limit: 1,
            starts_at_ms: now_ms() + 86_400_000,
            admission_rate: 5,
            price: None,
            paused: None,
            prequeue: None,
            stock_shards: None,
            countries: Vec::new(),
        };
        env.admin.put_sale("later", &later).await.unwrap();
        for n in 0..3 {
            let pass = env.pass(&sale, &format!("buyer{n}"));
            assert_eq!(env.purchase("t1", Some(&pass), "").await.0, 201);
        }
        let timeline = |sale: &'static str, query: &'static str| {
            let url = format!("{}/admin/v1/sales/{sale}/timeline{query}", env.origin.url());
            let req = env.http.get(url).bearer_auth(&env.keys.admin_token);
            async move { status_json(req.send().await.unwrap()).await }
        };
        // Samples come every 200 ms: wait for one that has the three orders, and for the
        // three purchases' latencies (taken by the round after they were answered).
        let timed = |t: &Timeline| -> u64 {
            t.samples
                .iter()
                .filter_map(|s| s.latency)
                .map(|l| l.purchases)
                .sum()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let t: Timeline = loop {
            let (status, body) = timeline("t1", "").await;
            assert_eq!(status, 200, "{body}");
            let t: Timeline = serde_json::from_value(body).unwrap();
            if t.samples.len() >= 2
                && t.samples.last().is_some_and(|s| s.orders == 3)
                && timed(&t) >= 3
            {
                break t;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no sample with the orders"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(t.every_ms, 200);
        let last = t.samples.last().unwrap();
        assert_eq!((last.sold, last.remaining, last.rate), (3, 2, 500));
        // One sample per moment, in order, on the interval's grid; no edge was configured.
        assert!(t.samples.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
        assert!(t
            .samples
            .iter()
            .all(|s| s.at_ms % 200 == 0 && s.edge.is_none()));
        // The three checkouts' latencies, each in one sample.
        assert_eq!(timed(&t), 3);
        // From a moment on, and a page at a time.
        let (_, body) = timeline("t1", "?limit=1").await;
        assert_eq!(
            (
                body["samples"].as_array().unwrap().len(),
                &body["truncated"]
            ),
            (1, &json!(true))
        );
        let from = format!("?from_ms={}", last.at_ms);
        let url = format!("{}/admin/v1/sales/t1/timeline{from}", env.origin.url());
        let (_, body) = status_json(
            env.http
                .get(url)
                .bearer_auth(&env.keys.admin_token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(body["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["at_ms"].as_u64() >= Some(last.at_ms)));

        let (_, body) = timeline("later", "").await;
        assert_eq!(body["samples"], json!([]));
        for query in [
            "?limit=0",
            "?limit=10001",
            "?from_ms=-1",
            "?from_ms=soon",
            "?colour=red",
        ] {
            let (status, body) = timeline("t1", query).await;
            assert_eq!((status, code(&body)), (400, "invalid_query"), "{query}");
        }
        let (status, body) = timeline("nope", "").await;
        assert_eq!((status, code(&body)), (404, "unknown_sale"));
        let url = format!("{}/admin/v1/sales/t1/timeline", env.origin.url());
        let r = env.http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 401);
    })
    .await;
}
