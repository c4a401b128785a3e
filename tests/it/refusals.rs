//! Every way a purchase can be refused: its own code and status, and stock unchanged.

use std::time::Duration;

use herdgate_core::{Keyring, SaleId, Secret, TicketClaims, VisitorId};
use herdgate_testkit::now_ms;
use serde_json::Value;

use crate::support::{bounded, code, Env};

/// name, sale in the path, pass, body, expected status, expected code
type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);

fn keyring(kid: &str, byte: u8) -> Keyring {
    Keyring::new(vec![(kid.to_owned(), Secret::new(vec![byte; 32]).unwrap())]).unwrap()
}

/// A refusal body has exactly a code and a sentence, and says nothing about internals.
fn assert_clean_refusal(body: &Value) {
    let err = body["error"].as_object().expect("an error object");
    assert_eq!(err.len(), 2, "{body}");
    let message = err["message"].as_str().unwrap();
    assert!(message.len() > 10 && message.ends_with('.'), "{message}");
    for leak in ["redis", "Redis", "panic", "lua", "ERR", "src/", "unwrap"] {
        assert!(!body.to_string().contains(leak), "{body} mentions {leak}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_passes_and_bad_requests_are_refused_and_change_nothing() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let sale = env.create_sale("guarded", 5, 1).await;
        let other_sale = env.create_sale("elsewhere", 5, 1).await;
        let visitor = VisitorId::parse("mallory").unwrap();
        let good = env.keys.pass_claims(&sale, &visitor);
        let now = now_ms() / 1000;

        let forged = keyring("t1", 0x42).sign(&good);
        let valid = env.keys.keyring.sign(&good);
        let (head, tag) = valid.rsplit_once('.').unwrap();
        let mut payload: Vec<u8> = head.as_bytes().to_vec();
        let last = payload.len() - 1;
        payload[last] = if payload[last] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{}.{tag}", String::from_utf8(payload).unwrap());
        let expired = env.keys.keyring.sign(&herdgate_core::PassClaims {
            nbf: now - 600,
            exp: now - 300,
            ..good.clone()
        });
        let early = env.keys.keyring.sign(&herdgate_core::PassClaims {
            nbf: now + 600,
            exp: now + 900,
            ..good.clone()
        });
        let wrong_sale = env.keys.pass(&other_sale, &visitor);
        let ticket = env.keys.keyring.sign(&TicketClaims {
            sale: sale.clone(),
            visitor: visitor.clone(),
            position: 0,
            client: String::new(),
            iat: now - 10,
            exp: now + 600,
            net: String::new(),
            dev: String::new(),
            jkt: String::new(),
            hold: String::new(),
            hat: 0,
            reg: String::new(),
        });
        let unknown_kid = keyring("zz", 0x42).sign(&good);
        let future_version = valid.replacen("hg1.", "hg9.", 1);
        let bad_id = env.keys.keyring.sign(&herdgate_core::PassClaims {
            id: "NOT-HEX\"}".into(),
            ..good.clone()
        });
        let unknown_sale_pass = env
            .keys
            .pass(&SaleId::parse("no-such-sale").unwrap(), &visitor);
        let oversized = format!("{{\"quantity\":1,\"pad\":\"{}\"}}", "x".repeat(10_000));

        let cases: Vec<Case<'_>> = vec![
            ("missing pass", "guarded", None, "", 401, "missing_pass"),
            ("forged", "guarded", Some(&forged), "", 401, "pass_forged"),
            (
                "tampered",
                "guarded",
                Some(&tampered),
                "",
                401,
                "pass_forged",
            ),
            (
                "expired",
                "guarded",
                Some(&expired),
                "",
                401,
                "pass_expired",
            ),
            (
                "not yet valid",
                "guarded",
                Some(&early),
                "",
                401,
                "pass_not_yet_valid",
            ),
            (
                "other sale's pass",
                "guarded",
                Some(&wrong_sale),
                "",
                403,
                "pass_wrong_sale",
            ),
            (
                "ticket as pass",
                "guarded",
                Some(&ticket),
                "",
                401,
                "pass_wrong_kind",
            ),
            (
                "unknown kid",
                "guarded",
                Some(&unknown_kid),
                "",
                401,
                "pass_unknown_key",
            ),
            (
                "future version",
                "guarded",
                Some(&future_version),
                "",
                401,
                "pass_unsupported_version",
            ),
            (
                "garbage",
                "guarded",
                Some("not-a-token"),
                "",
                401,
                "pass_malformed",
            ),
            (
                "pass id not hex",
                "guarded",
                Some(&bad_id),
                "",
                401,
                "pass_invalid_claims",
            ),
            (
                "malformed JSON",
                "guarded",
                Some(&valid),
                "{\"quantity\":",
                400,
                "invalid_body",
            ),
            (
                "wrong JSON type",
                "guarded",
                Some(&valid),
                "{\"quantity\":\"two\"}",
                400,
                "invalid_body",
            ),
            (
                "unknown field",
                "guarded",
                Some(&valid),
                "{\"price\":0}",
                400,
                "invalid_body",
            ),
            (
                "oversized body",
                "guarded",
                Some(&valid),
                &oversized,
                413,
                "body_too_large",
            ),
            (
                "over the limit",
                "guarded",
                Some(&valid),
                "{\"quantity\":2}",
                422,
                "over_limit",
            ),
            (
                "zero quantity",
                "guarded",
                Some(&valid),
                "{\"quantity\":0}",
                422,
                "over_limit",
            ),
            (
                "unknown sale",
                "no-such-sale",
                Some(&unknown_sale_pass),
                "",
                404,
                "unknown_sale",
            ),
            (
                "bad sale id",
                "bad%7Bid%7D",
                Some(&valid),
                "",
                400,
                "invalid_sale_id",
            ),
        ];
        for (name, sale_path, pass, body, status, want) in &cases {
            let (got, resp) = env.purchase(sale_path, *pass, body).await;
            assert_eq!((got, code(&resp)), (*status, *want), "{name}: {resp}");
            assert_clean_refusal(&resp);
        }

        // Wrong method and unknown route are typed too.
        let r = env
            .http
            .get(format!("{}/v1/sales/guarded/purchase", env.origin.url()))
            .send()
            .await
            .unwrap();
        let (status, body) = crate::support::status_json(r).await;
        assert_eq!((status, code(&body)), (405, "method_not_allowed"));
        let r = env
            .http
            .get(format!("{}/nowhere", env.origin.url()))
            .send()
            .await
            .unwrap();
        let (status, body) = crate::support::status_json(r).await;
        assert_eq!((status, code(&body)), (404, "not_found"));

        // Nothing changed anywhere.
        assert_eq!(env.stock(&sale).await, (5, 0, 5));
        assert_eq!(env.stock(&other_sale).await, (5, 0, 5));
        assert_eq!(env.orders(&sale).await, 0);
        assert_eq!(env.orders(&other_sale).await, 0);

        // And the same pass still buys, so the refusals were not a broken origin.
        let (status, body) = env.purchase("guarded", Some(&valid), "").await;
        assert_eq!(status, 201, "{body}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_that_has_not_opened_sells_nothing() {
    bounded(Duration::from_secs(60), async {
        let env = Env::start().await.unwrap();
        let config = serde_json::json!({
            "stock": 3, "per_visitor_limit": 1,
            "starts_at_ms": now_ms() + 3_600_000, "admission_rate": 10,
        });
        assert_eq!(
            env.admin.put_sale_reply("later", &config).await.unwrap().0,
            201
        );
        let sale = SaleId::parse("later").unwrap();
        let pass = env.pass(&sale, "early-bird");
        let (status, body) = env.purchase("later", Some(&pass), "").await;
        assert_eq!((status, code(&body)), (409, "sale_not_open"), "{body}");
        assert_eq!(env.stock(&sale).await, (3, 0, 3));
    })
    .await;
}
