use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;
use crate::card::CardInput;

/// Runs a future whose transport answers at once.
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the scripted transport never waits"),
    }
}

/// Answers with scripted replies, in order, and records the calls.
#[derive(Default)]
struct Script {
    replies: RefCell<VecDeque<ApiReply>>,
    calls: RefCell<Vec<ApiCall>>,
}

impl Script {
    fn with(replies: &[(u16, &str)]) -> Self {
        Script {
            replies: RefCell::new(
                replies
                    .iter()
                    .map(|(s, b)| ApiReply {
                        status: *s,
                        body: b.as_bytes().to_vec(),
                    })
                    .collect(),
            ),
            calls: RefCell::default(),
        }
    }
}

impl Transport for &Script {
    async fn send(&self, call: ApiCall) -> Result<ApiReply, TransportError> {
        self.calls.borrow_mut().push(call);
        self.replies
            .borrow_mut()
            .pop_front()
            .ok_or(TransportError::Failed("no scripted reply".to_owned()))
    }
}

fn config() -> StripeConfig {
    StripeConfig::new("http://127.0.0.1:4242/", "sk_test_secret123").expect("config")
}

fn intent(status: &str) -> String {
    format!(
        r#"{{"id":"pi_1","object":"payment_intent","status":"{status}","amount":1500,"amount_received":0,"currency":"eur","created":1700000000}}"#
    )
}

fn form(call: &ApiCall) -> Vec<(String, String)> {
    form_urlencoded::parse(call.body.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn header<'a>(call: &'a ApiCall, name: &str) -> Option<&'a str> {
    call.headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn config_checks_url_and_key_and_never_shows_the_key() {
    assert_eq!(
        StripeConfig::new("ftp://x", "sk_test_abcdef").err(),
        Some(ConfigError::BaseUrl)
    );
    assert_eq!(
        StripeConfig::new("https://api.stripe.com", "pk_test_abcdef").err(),
        Some(ConfigError::SecretKey)
    );
    assert_eq!(
        StripeConfig::new("https://api.stripe.com", "sk_ab").err(),
        Some(ConfigError::SecretKey)
    );
    let c = config();
    assert!(!format!("{c:?}").contains("secret123"));
    let call = c.retrieve_call("pi_1");
    assert_eq!(call.url, "http://127.0.0.1:4242/v1/payment_intents/pi_1");
    assert!(!format!("{call:?}").contains("secret123"));
    assert_eq!(
        header(&call, "authorization"),
        Some("Bearer sk_test_secret123")
    );
}

#[test]
fn a_hold_is_a_confirmed_manual_capture_intent_with_its_key() {
    let c = config();
    let call = c.hold_call(&HoldRequest {
        amount: 1500,
        currency: "eur",
        payment_method: "pm_card_visa",
        idempotency_key: "hold-s1-v1",
        metadata: &[("sale", "s1"), ("note", "a&b=c")],
    });
    assert_eq!(call.method, Method::Post);
    assert_eq!(call.url, "http://127.0.0.1:4242/v1/payment_intents");
    assert_eq!(header(&call, "idempotency-key"), Some("hold-s1-v1"));
    let f = form(&call);
    for (k, v) in [
        ("amount", "1500"),
        ("currency", "eur"),
        ("payment_method", "pm_card_visa"),
        ("capture_method", "manual"),
        ("confirm", "true"),
        ("metadata[sale]", "s1"),
        ("metadata[note]", "a&b=c"),
    ] {
        assert!(
            f.contains(&(k.to_owned(), v.to_owned())),
            "{k}={v} missing from {f:?}"
        );
    }
    let refund = c.refund_call("pi_1", 1500, "ref-1");
    assert_eq!(refund.url, "http://127.0.0.1:4242/v1/refunds");
    assert_eq!(
        form(&refund),
        [
            ("payment_intent".to_owned(), "pi_1".to_owned()),
            ("amount".to_owned(), "1500".to_owned())
        ]
    );
    let capture = c.capture_call("pi_1", 700, "cap-1");
    assert_eq!(
        form(&capture),
        [("amount_to_capture".to_owned(), "700".to_owned())]
    );
    assert_eq!(header(&capture, "idempotency-key"), Some("cap-1"));
}

#[test]
fn errors_are_typed_by_status() {
    let reply = |status: u16, body: &str| ApiReply {
        status,
        body: body.as_bytes().to_vec(),
    };
    let declined = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds"}}"#;
    assert_eq!(
        parse_reply::<Intent>(&reply(402, declined), "payment intent"),
        Err(PayError::Declined {
            code: "insufficient_funds".to_owned()
        })
    );
    assert_eq!(
        parse_reply::<Intent>(&reply(404, "{}"), "payment intent"),
        Err(PayError::NotFound("payment intent"))
    );
    assert_eq!(
        parse_reply::<Intent>(&reply(429, ""), "payment intent"),
        Err(PayError::RateLimited)
    );
    assert!(parse_reply::<Intent>(&reply(503, "oops"), "payment intent")
        .is_err_and(|e| e.is_retryable()));
    assert_eq!(
        parse_reply::<Intent>(&reply(400, r#"{"error":{"message":"Bad request"}}"#), "x"),
        Err(PayError::Rejected {
            status: 400,
            code: "unknown".to_owned()
        })
    );
    assert!(parse_reply::<Intent>(&reply(200, "not json"), "x").is_err_and(|e| e.is_retryable()));
}

#[test]
fn a_refused_capture_of_a_captured_hold_counts_as_captured() {
    let script = Script::with(&[
        (400, r#"{"error":{"type":"invalid_request_error"}}"#),
        (200, &intent("succeeded")),
    ]);
    let stripe = Stripe::new(config(), &script);
    let out = run(stripe.capture("pi_1", 1500, "cap-1")).expect("capture");
    assert!(matches!(out, Capture::Captured(_)));
    let calls = script.calls.borrow();
    assert_eq!(calls.len(), 2, "one capture, then one read: {calls:?}");
    assert!(calls[0].url.ends_with("/capture"));
    assert_eq!(calls[1].method, Method::Get);
}

#[test]
fn a_cancelled_hold_cannot_be_captured() {
    let script = Script::with(&[(400, "{}"), (200, &intent("canceled"))]);
    let stripe = Stripe::new(config(), &script);
    let out = run(stripe.capture("pi_1", 1500, "cap-1")).expect("capture");
    assert!(matches!(out, Capture::Gone(i) if i.status == IntentStatus::Canceled));
}

#[test]
fn an_unanswered_capture_of_a_held_intent_is_an_error_to_retry() {
    let script = Script::with(&[(500, ""), (200, &intent("requires_capture"))]);
    let stripe = Stripe::new(config(), &script);
    let out = run(stripe.capture("pi_1", 1500, "cap-1"));
    assert!(out.is_err_and(|e| e.is_retryable()));
}

#[test]
fn releasing_twice_or_after_capture_is_not_an_error() {
    let script = Script::with(&[
        (200, &intent("canceled")),
        (400, "{}"),
        (200, &intent("canceled")),
        (400, "{}"),
        (200, &intent("succeeded")),
    ]);
    let stripe = Stripe::new(config(), &script);
    assert_eq!(run(stripe.release("pi_1", "r")), Ok(Release::Released));
    assert_eq!(run(stripe.release("pi_1", "r")), Ok(Release::Released));
    assert_eq!(run(stripe.release("pi_1", "r")), Ok(Release::Captured));
}

#[test]
fn a_hold_that_needs_the_buyer_is_cancelled_and_refused() {
    let script = Script::with(&[
        (200, &intent("requires_action")),
        (200, &intent("canceled")),
    ]);
    let stripe = Stripe::new(config(), &script);
    let req = HoldRequest {
        amount: 1500,
        currency: "eur",
        payment_method: "pm_x",
        idempotency_key: "k",
        metadata: &[],
    };
    assert_eq!(run(stripe.hold(&req)), Err(PayError::NeedsAuthentication));
    assert!(script.calls.borrow()[1].url.ends_with("/pi_1/cancel"));
}

#[test]
fn ids_are_checked_before_they_reach_a_url() {
    assert!(is_intent_id("pi_3MtwBwLkdIwHu7ix28a3tqPa"));
    assert!(!is_intent_id("pi_../../v1/charges"));
    assert!(!is_intent_id("pi_"));
    assert!(is_payment_method_id("pm_card_visa"));
    assert!(!is_payment_method_id("tok_visa"));
    assert!(is_currency("eur") && !is_currency("EUR") && !is_currency("euro"));
    let script = Script::default();
    let stripe = Stripe::new(config(), &script);
    assert_eq!(
        run(stripe.retrieve("pi_a/b")),
        Err(PayError::NotFound("payment intent"))
    );
    assert!(script.calls.borrow().is_empty());
}

#[test]
fn cards_are_checked_and_never_printed() {
    let input = |number: &str, m: u32, y: u32, cvc: &str| CardInput {
        number: number.to_owned(),
        exp_month: m,
        exp_year: y,
        cvc: cvc.to_owned(),
    };
    let now = (2026, 11);
    let card = Card::parse(&input("4242 4242 4242 4242", 12, 30, "123"), now).expect("valid");
    assert_eq!((card.exp_year(), card.last4()), (2030, "4242"));
    assert_eq!(format!("{card:?}"), "Card(…4242)");
    assert!(!format!("{:?}", input("4242424242424242", 1, 1, "1")).contains("4242"));
    assert_eq!(
        Card::parse(&input("4242424242424241", 12, 30, "123"), now),
        Err(CardError::Number)
    );
    assert_eq!(
        Card::parse(&input("4242x42424242424", 12, 30, "123"), now),
        Err(CardError::Number)
    );
    assert_eq!(
        Card::parse(&input("4242424242424242", 10, 2026, "123"), now),
        Err(CardError::Expiry)
    );
    assert!(Card::parse(&input("4242424242424242", 11, 2026, "123"), now).is_ok());
    assert_eq!(
        Card::parse(&input("4242424242424242", 13, 30, "123"), now),
        Err(CardError::Expiry)
    );
    assert_eq!(
        Card::parse(&input("4242424242424242", 12, 30, "12a"), now),
        Err(CardError::Cvc)
    );
}
