//! Step 6, buy: which position a purchase's claim names, what an answer from the origin says
//! about the stock, which answers are final (the edge may remember them for good), and how a
//! stored answer is replayed to a pass that bought before.

use crate::refusal::ErrorCode;
use crate::token::PassClaims;

/// The pass's position when it carries a card hold (its queue shard then keeps the hold
/// through the purchase); `None` spares the shard the lookup.
pub fn held_position(pass: &PassClaims) -> Option<u64> {
    (!pass.hold.is_empty()).then_some(pass.position)
}

/// Whether the origin's answer (`status` and JSON `body`) says the sale has nothing left for
/// good: an order (200 or 201) that took the last item (`remaining: 0`) in a sale without card
/// holds. A 409 `sold_out` does not: the origin also says it when fewer items are left than
/// were asked for. Nor does a paid order (`charged`): other winners' captures may still fail
/// and give their items back, which only the sale's state tells. A body that is not JSON
/// says nothing.
pub fn sold_the_last_item(status: u16, body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    matches!(status, 200 | 201) && v["remaining"] == 0 && v.get("charged").is_none()
}

/// Whether the origin's answer to a purchase is final: the same pass can never get another.
/// That is an order (2xx), or a refusal that is final by construction: the audit cancelled
/// the visitor's order (`order_cancelled`), or the pass bought an order that is gone
/// (`pass_spent`). Every other answer (a refusal that may not hold a moment later, such as
/// `sold_out`, `sale_not_open` or `over_limit`, and every 5xx) is not, and is never
/// remembered for the pass.
pub fn is_final(status: u16, body: &str) -> bool {
    if (200..300).contains(&status) {
        return true;
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    let code = &v["error"]["code"];
    [ErrorCode::OrderCancelled, ErrorCode::PassSpent]
        .iter()
        .any(|c| status == c.status() && code == c.as_str())
}

/// The stored answer to a pass that bought before, as a retry gets it from the origin: a 201
/// becomes 200 with `created: false` (the same order, not created again); any other answer,
/// or a 201 whose body is not JSON, is replayed as stored. A stored 201 is the origin's
/// [`crate::wire::PurchaseResponse`], a JSON object.
pub fn replay(status: u16, body: &str) -> (u16, String) {
    if status == 201 {
        if let Ok(serde_json::Value::Object(mut order)) = serde_json::from_str(body) {
            order.insert("created".into(), serde_json::Value::Bool(false));
            return (200, serde_json::Value::Object(order).to_string());
        }
    }
    (status, body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SaleId, VisitorId};
    use serde_json::{json, Value};

    fn pass(hold: &str) -> PassClaims {
        PassClaims {
            sale: SaleId::parse("drop-1").unwrap(),
            visitor: VisitorId::parse("v-0001").unwrap(),
            id: "c0ffee00c0ffee00".into(),
            position: 41,
            client: String::new(),
            slice: 0,
            nbf: 0,
            exp: 0,
            net: String::new(),
            dev: String::new(),
            jkt: String::new(),
            adm: 0,
            rcv: 0,
            ath: String::new(),
            shr: false,
            hold: hold.into(),
            hat: 0,
            reg: String::new(),
        }
    }

    fn order(created: bool, remaining: u64) -> Value {
        json!({
            "created": created,
            "order": {
                "order_id": "drop-1-7",
                "sale": "drop-1",
                "visitor": "v-0001",
                "quantity": 1,
                "pass_id": "c0ffee00c0ffee00",
                "created_at_ms": 1_790_000_012_345_u64,
            },
            "remaining": remaining,
        })
    }

    #[test]
    fn only_a_pass_with_a_card_hold_names_its_position() {
        assert_eq!(held_position(&pass("pi_123")), Some(41));
        assert_eq!(held_position(&pass("")), None);
    }

    #[test]
    fn the_last_item_is_sold_by_an_order_leaving_none_or_a_sold_out_refusal() {
        let last = order(true, 0).to_string();
        assert!(sold_the_last_item(201, &last));
        assert!(sold_the_last_item(200, &order(false, 0).to_string()));
        assert!(!sold_the_last_item(201, &order(true, 3).to_string()));
        // The origin says sold_out also when fewer are left than asked for.
        let sold_out = r#"{"error":{"code":"sold_out","message":"Sold out."}}"#;
        assert!(!sold_the_last_item(409, sold_out));
        let in_progress = r#"{"error":{"code":"purchase_in_progress","message":"Wait."}}"#;
        assert!(!sold_the_last_item(409, in_progress));
        // Only the status the answer came with counts.
        assert!(!sold_the_last_item(503, sold_out));
        assert!(!sold_the_last_item(409, &last));
        assert!(!sold_the_last_item(402, &last));
        // `remaining` must be the number 0.
        assert!(!sold_the_last_item(201, r#"{"remaining":"0"}"#));
        assert!(!sold_the_last_item(201, "{}"));
        // A paid order: other captures may still give items back.
        let mut paid = order(true, 0);
        paid["charged"] = json!({"amount": 1500, "currency": "eur", "hold": "pi_1"});
        assert!(!sold_the_last_item(201, &paid.to_string()));
        // Not JSON: says nothing.
        assert!(!sold_the_last_item(409, "sold_out"));
        assert!(!sold_the_last_item(201, ""));
    }

    #[test]
    fn only_orders_and_final_refusals_are_final() {
        assert!(is_final(201, &order(true, 5).to_string()));
        assert!(is_final(200, &order(false, 5).to_string()));
        let body = |code: ErrorCode| crate::wire::ErrorBody::from(code);
        for code in [ErrorCode::OrderCancelled, ErrorCode::PassSpent] {
            let text = serde_json::to_string(&body(code)).unwrap();
            assert!(is_final(code.status(), &text), "{code}");
        }
        for code in [
            ErrorCode::SoldOut,
            ErrorCode::SaleNotOpen,
            ErrorCode::OverLimit,
            ErrorCode::PassUnknownKey,
            ErrorCode::PassExpired,
            ErrorCode::HoldRequired,
            ErrorCode::PaymentFailed,
            ErrorCode::OriginUnavailable,
            ErrorCode::Internal,
            ErrorCode::InvalidBody,
        ] {
            let text = serde_json::to_string(&body(code)).unwrap();
            assert!(!is_final(code.status(), &text), "{code}");
        }
        // A final code under another status, or no JSON, is not final.
        let cancelled = serde_json::to_string(&body(ErrorCode::OrderCancelled)).unwrap();
        assert!(!is_final(500, &cancelled));
        assert!(!is_final(409, "order_cancelled"));
    }

    #[test]
    fn a_replayed_201_is_the_same_order_not_created_again() {
        let (status, body) = replay(201, &order(true, 5).to_string());
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            order(false, 5)
        );
    }

    #[test]
    fn other_answers_are_replayed_as_stored() {
        let stored = r#"{ "created": false, "remaining": 5 }"#;
        assert_eq!(replay(200, stored), (200, stored.to_owned()));
        let refused = r#"{"error":{"code":"over_limit","message":"No."}}"#;
        assert_eq!(replay(422, refused), (422, refused.to_owned()));
        // A 201 that is not JSON keeps its status and text.
        assert_eq!(replay(201, "created"), (201, "created".to_owned()));
        // Nor does a 201 that is JSON but no object panic: it too is replayed as stored.
        assert_eq!(replay(201, "[1]"), (201, "[1]".to_owned()));
        assert_eq!(replay(201, "7"), (201, "7".to_owned()));
    }
}
