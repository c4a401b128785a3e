//! A place in line bound to a key the device holds (`herdgate_core::proof`): it survives a
//! change of network and of IP family, it tells colleagues behind one address apart, and a
//! copied ticket or pass, or a captured proof, is worth nothing, at the edge and at the origin.
//!
//! Every check goes through the edge under workerd, in front of the real origin and Redis;
//! the keys are the testkit client's (`herdgate-client`), which signs the proofs the page signs
//! with WebCrypto (the browser test checks the page's own).

use std::sync::Arc;
use std::time::Duration;

use herdgate_core::proof::ProofKey;
use herdgate_core::wire::{ChallengeResponse, QueueStatus};
use herdgate_testkit::client::new_key;
use herdgate_testkit::{now_ms, EdgeClient, Identity};
use serde_json::{json, Value};

use crate::edge_support::{admitted, pass_of, poll_until, Stack};
use crate::support::{bounded, code};

/// One managed browser build, as an office's IT department rolls it out: Chrome's reduced
/// User-Agent is the same on every machine of a major version.
const OFFICE_BROWSER: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The device signals every machine of that office reports: one screen, one time zone.
fn office_device() -> Value {
    json!({"screen": "1920x1080x1", "tz": "Europe/Berlin", "cores": 8, "langs": "de-DE,en",
           "platform": "Win32", "touch": 0})
}

/// The audit's dry run of `sale`, its machine-speed rule off: the test clients buy at once,
/// and that rule is not what these tests are about.
async fn audited(s: &Stack, sale: &str) -> Value {
    s.admin().audit(sale, &json!({"fast_ms": 0})).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_survives_a_change_of_network_and_of_ip_family() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        // Opens in three seconds: the buyer joins before, and waits in line.
        s.sale("roam", 5, -3_000, 100).await;
        let phone = Identity::new("Mozilla/5.0 (Linux; Android 15) Mobile").with_ip("203.0.113.10");
        let on_wifi = s.client(phone.clone());
        let joined = on_wifi.solve_and_join("roam", None).await.unwrap();
        assert!(
            matches!(joined.status, QueueStatus::Queued { .. }),
            "{:?}",
            joined.status
        );

        // The phone leaves the Wi-Fi for the carrier's IPv6 network mid-queue: same key, same
        // place.
        let on_mobile = s.client(phone.clone().with_ip("2001:db8:4:7::1"));
        let status = on_mobile.status("roam", &joined.ticket).await.unwrap();
        match status {
            QueueStatus::Queued { position, .. } => assert_eq!(position, joined.position),
            other => panic!("the place was lost on the new network: {other:?}"),
        }
        // Admitted on the mobile network, it buys on yet another (IPv4 again, other prefix).
        let admitted_on_mobile = poll_until(
            &on_mobile,
            "roam",
            &joined.ticket,
            Duration::from_secs(30),
            admitted,
        );
        let pass = pass_of(&admitted_on_mobile.await);
        let elsewhere = s.client(phone.with_ip("198.51.100.40"));
        let (status, body) = elsewhere
            .purchase_reply("roam", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["order"]["visitor"], joined.visitor.as_str(), "{body}");
        assert_eq!(s.sold_and_remaining("roam").await, (1, 4));
        // Three networks for one device is no reason to flag its order.
        let report = audited(&s, "roam").await;
        assert_eq!(report["audit"]["flagged"], json!([]), "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colleagues_behind_one_address_with_one_browser_build_all_join_and_buy() {
    bounded(Duration::from_secs(120), async {
        // One join per device: the limit counts keys, not browsers or addresses.
        let s = Stack::start_with(json!({"JOINS_PER_DEVICE": "1"}))
            .await
            .unwrap();
        s.sale("office", 10, 60_000, 1_000).await;
        let device = office_device();
        let colleagues: Vec<EdgeClient> = (0..3)
            .map(|_| {
                s.client(
                    Identity::new(OFFICE_BROWSER)
                        .with_ip("203.0.113.20")
                        .with_language("de-DE,en;q=0.8"),
                )
            })
            .collect();
        for (i, colleague) in colleagues.iter().enumerate() {
            let joined = colleague
                .solve_and_join("office", Some(&device))
                .await
                .unwrap_or_else(|e| panic!("colleague {i} could not join: {e}"));
            let pass = pass_of(&joined.status);
            let (status, body) = colleague
                .purchase_reply("office", Some(&pass), &json!({}))
                .await
                .unwrap();
            assert_eq!(status, 201, "colleague {i}: {body}");
        }
        assert_eq!(s.sold_and_remaining("office").await, (3, 7));
        // The limit still holds for each of them: a second place for the same key is refused.
        let (status, body) = colleagues[0]
            .solve_and_join_reply("office", Some(&device))
            .await
            .unwrap();
        assert_eq!((status, code(&body)), (429, "join_limit_device"), "{body}");
        // Nobody is flagged: three keys are three clients. (They bought at machine speed here;
        // that rule is not what is under test.)
        let report = audited(&s, "office").await;
        assert_eq!(report["audit"]["orders"], 3, "{report}");
        assert_eq!(report["audit"]["flagged"], json!([]), "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_ticket_or_pass_or_a_captured_proof_is_worth_nothing() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        s.sale("copied", 5, 60_000, 1_000).await;
        let ua = "Mozilla/5.0 (the owner's browser)";
        let owner_id = Identity::new(ua).with_ip("203.0.113.30");
        let owner = s.client(owner_id.clone());
        let joined = owner.solve_and_join("copied", None).await.unwrap();
        let pass = pass_of(&joined.status);
        let edge = s.edge.url().to_owned();
        let status_url = format!("{edge}/api/v1/sales/copied/status");
        let purchase_url = format!("{edge}/api/v1/sales/copied/purchase");

        // Someone on the same network with the same browser facts and the owner's cookies:
        // without the key, and with a key of their own.
        let without_key = s.client(owner_id.clone().with_key(None));
        let own_key = s.client(owner_id.clone().with_key(Some(Arc::new(new_key()))));
        for (thief, want) in [
            (&without_key, (401, "proof_required")),
            (&own_key, (403, "proof_key_mismatch")),
        ] {
            let (status, body) = thief.status_reply("copied", &joined.ticket).await.unwrap();
            assert_eq!((status, code(&body)), want, "status: {body}");
            let (status, body) = thief
                .purchase_reply("copied", Some(&pass), &json!({}))
                .await
                .unwrap();
            assert_eq!((status, code(&body)), want, "purchase: {body}");
        }
        // The cookies alone, as a browser would send them.
        let cookies = format!(
            "__Host-hg_tkt_copied={}; __Host-hg_pass_copied={pass}",
            joined.ticket
        );
        let r = s
            .http
            .post(&purchase_url)
            .header("user-agent", ua)
            .header("cf-connecting-ip", "203.0.113.30")
            .header("cookie", &cookies)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        // Straight to the origin: the pass alone, and with the thief's own proof.
        let origin_purchase = format!("{}/v1/sales/copied/purchase", s.origin.url());
        let thief_proof = own_key
            .identity()
            .prove("POST", &origin_purchase, Some(&pass))
            .unwrap();
        for (proof, want) in [
            (None, (401, "proof_required")),
            (Some(thief_proof), (403, "proof_key_mismatch")),
        ] {
            let mut request = s.http.post(&origin_purchase).bearer_auth(&pass);
            if let Some(proof) = proof {
                request = request.header("dpop", proof);
            }
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert_eq!((status, code(&body)), want, "origin: {body}");
        }

        // The owner's own proofs, captured: one made a minute ago, one made for the status
        // poll, one made over the ticket instead of the pass; and one with another proof's
        // signature (the runtime's WebCrypto checks it at the edge).
        let key: &ProofKey = owner_id.key.as_deref().unwrap();
        let now = now_ms() / 1000;
        let good = key.prove("POST", &purchase_url, now, Some(&pass), "good");
        let other = key.prove("POST", &purchase_url, now, Some(&pass), "other");
        let (signed, _) = good.rsplit_once('.').unwrap();
        let (_, other_signature) = other.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{other_signature}");
        for (proof, want) in [
            (forged, (401, "proof_invalid")),
            (
                key.prove("POST", &purchase_url, now - 60, Some(&pass), "old"),
                (401, "proof_expired"),
            ),
            (
                key.prove("GET", &status_url, now, Some(&joined.ticket), "status"),
                (401, "proof_invalid"),
            ),
            (
                key.prove("POST", &purchase_url, now, Some(&joined.ticket), "ticket"),
                (401, "proof_invalid"),
            ),
        ] {
            let r = s
                .http
                .post(&purchase_url)
                .header("user-agent", ua)
                .header("cf-connecting-ip", "203.0.113.30")
                .bearer_auth(&pass)
                .header("dpop", proof)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert_eq!((status, code(&body)), want, "replayed: {body}");
        }
        assert_eq!(
            s.sold_and_remaining("copied").await,
            (0, 5),
            "a refused purchase sold"
        );

        // Nothing of it cost the owner anything: they buy, and their order is not flagged.
        let (status, body) = owner
            .purchase_reply("copied", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        let report = audited(&s, "copied").await;
        assert_eq!(report["audit"]["flagged"], json!([]), "{report}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_got_by_replaying_a_proof_joins_nothing_and_uses_up_no_joins() {
    bounded(Duration::from_secs(120), async {
        // One join per device: a join counted in the owner's name would lock the owner out.
        let s = Stack::start_with(json!({"JOINS_PER_DEVICE": "1"}))
            .await
            .unwrap();
        s.sale("spent", 5, 0, 100).await;
        let owner_id = Identity::new(OFFICE_BROWSER).with_ip("203.0.113.50");
        let owner = s.client(owner_id.clone());
        let key: &ProofKey = owner_id.key.as_deref().unwrap();

        // A neighbour behind the same address captured the proof of the owner's challenge
        // request (proofs are not remembered: it may be sent again for 30 s) and replays it:
        // the challenge it gets names the owner's key, and counts on the owner's network.
        let challenge_url = format!("{}/api/v1/sales/spent/challenge", s.edge.url());
        let captured = key.prove("POST", &challenge_url, now_ms() / 1000, None, "captured");
        let neighbour = Identity::new("curl/8.5.0")
            .with_ip("203.0.113.77")
            .with_key(None);
        let r = neighbour
            .apply(s.http.post(&challenge_url))
            .header("dpop", &captured)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let challenge: ChallengeResponse = r.json().await.unwrap();
        let nonce = herdgate_testkit::solve(&challenge).await.unwrap();

        // Solved, it joins nothing without a proof the owner's key signed: none, one made for
        // another request, one by another key, or the right claims under another proof's
        // signature are refused, and nothing is spent or counted.
        let join_url = format!("{}/api/v1/sales/spent/join", s.edge.url());
        let now = now_ms() / 1000;
        let token = Some(challenge.challenge.as_str());
        let good = key.prove("POST", &join_url, now, token, "good");
        let other = key.prove("POST", &join_url, now, token, "other");
        let (signed, _) = good.rsplit_once('.').unwrap();
        let (_, other_signature) = other.rsplit_once('.').unwrap();
        let status_url = format!("{}/api/v1/sales/spent/status", s.edge.url());
        for (proof, want) in [
            (None, (401, "proof_required")),
            (
                Some(key.prove("GET", &status_url, now, token, "elsewhere")),
                (401, "proof_invalid"),
            ),
            (
                Some(new_key().prove("POST", &join_url, now, token, "own")),
                (403, "proof_key_mismatch"),
            ),
            (
                Some(format!("{signed}.{other_signature}")),
                (401, "proof_invalid"),
            ),
        ] {
            let mut request = neighbour
                .apply(s.http.post(&join_url))
                .json(&json!({"challenge": challenge.challenge, "nonce": nonce}));
            if let Some(proof) = proof {
                request = request.header("dpop", proof);
            }
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let reply: Value = r.json().await.unwrap();
            assert_eq!((status, code(&reply)), want, "{reply}");
        }

        // The owner's one join is still theirs: joined, admitted, bought.
        let joined = owner.solve_and_join("spent", None).await.unwrap();
        let pass = pass_of(
            &poll_until(
                &owner,
                "spent",
                &joined.ticket,
                Duration::from_secs(30),
                admitted,
            )
            .await,
        );
        let (status, reply) = owner
            .purchase_reply("spent", Some(&pass), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 201, "{reply}");
        assert_eq!(s.sold_and_remaining("spent").await, (1, 4));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lane_ignores_a_place_bound_to_a_key_and_keeps_one_of_its_own() {
    bounded(Duration::from_secs(120), async {
        let s = Stack::start().await.unwrap();
        s.sale("lane", 5, 60_000, 1_000).await;
        let ua = "Mozilla/5.0 (the page's browser)";
        let me = s.buyer(ua);
        let joined = me.solve_and_join("lane", None).await.unwrap();
        let pass = pass_of(&joined.status);
        // The same browser opens the no-JavaScript lane with the page's cookies: the lane
        // cannot prove the key, so it neither shows a buy form for that pass nor refuses the
        // person; it starts a place of its own (a lane token, bound to network and browser).
        let r = s
            .http
            .get(format!("{}/queue/lane", s.edge.url()))
            .header("user-agent", ua)
            .header("accept", "text/html")
            .header(
                "cookie",
                format!(
                    "__Host-hg_tkt_lane={}; __Host-hg_pass_lane={pass}",
                    joined.ticket
                ),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let lane_token = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| c.starts_with("__Host-hg_lane_lane="));
        let page = r.text().await.unwrap();
        assert!(!page.contains("/queue/lane/buy"), "{page}");
        assert!(lane_token, "the lane did not start a place of its own");
    })
    .await;
}
