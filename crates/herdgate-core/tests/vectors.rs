//! Checks this implementation against the known-answer vectors in `vectors/vectors.json`,
//! which an independent Python implementation produced.

#![allow(clippy::unwrap_used)]
use herdgate_core::gate::pass::{issue, pass_id, PassTerms};
use herdgate_core::ids::is_hex_id;
use herdgate_core::token::client_binding;
use herdgate_core::{
    pow, ChallengeClaims, Check, Claims, ErrorCode, Keyring, PassClaims, SaleId, TicketClaims,
    VisitorId,
};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check_good<C: Claims + PartialEq + std::fmt::Debug>(ring: &Keyring, v: &Value) {
    let claims: C = serde_json::from_value(v["claims"].clone()).unwrap();
    let token = v["token"].as_str().unwrap();
    if v.get("signed_by_older_key").is_none() {
        assert_eq!(ring.sign(&claims), token, "{}", v["name"]);
    }
    let sale = claims.sale().clone();
    let check = Check {
        sale: &sale,
        now: claims.not_before(),
        leeway: 0,
    };
    assert_eq!(
        ring.verify::<C>(token, &check).unwrap(),
        claims,
        "{}",
        v["name"]
    );
}

#[test]
fn tokens_match_the_vectors() {
    let v = vectors();
    let ring = Keyring::parse(v["keyring"].as_str().unwrap()).unwrap();
    let tokens = v["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 4);
    for t in tokens {
        match t["kind"].as_str().unwrap() {
            "chal" => check_good::<ChallengeClaims>(&ring, t),
            "tkt" => check_good::<TicketClaims>(&ring, t),
            "pass" => check_good::<PassClaims>(&ring, t),
            other => panic!("unknown kind {other}"),
        }
    }
}

#[test]
fn refusals_match_the_vectors() {
    let v = vectors();
    let ring = Keyring::parse(v["keyring"].as_str().unwrap()).unwrap();
    let refusals = v["refusals"].as_array().unwrap();
    assert!(refusals.len() >= 10);
    for r in refusals {
        let sale = SaleId::parse(r["sale"].as_str().unwrap()).unwrap();
        let check = Check {
            sale: &sale,
            now: r["now"].as_u64().unwrap(),
            leeway: 0,
        };
        let err = ring
            .verify::<PassClaims>(r["token"].as_str().unwrap(), &check)
            .expect_err(r["name"].as_str().unwrap());
        assert_eq!(
            ErrorCode::for_pass(&err).as_str(),
            r["error"].as_str().unwrap(),
            "{}",
            r["name"]
        );
    }
}

#[test]
fn proof_of_work_matches_the_vectors() {
    let v = vectors();
    for p in v["pow"].as_array().unwrap() {
        let challenge = p["challenge"].as_str().unwrap();
        let bits = u8::try_from(p["bits"].as_u64().unwrap()).unwrap();
        let nonce = p["first_nonce"].as_u64().unwrap();
        assert_eq!(hex::encode(pow::digest(challenge, nonce)), p["digest_hex"]);
        assert_eq!(
            u64::from(pow::leading_zero_bits(&pow::digest(challenge, nonce))),
            p["zero_bits"].as_u64().unwrap()
        );
        assert_eq!(pow::solve(challenge, bits, 0..nonce + 1), Some(nonce));
        assert!(pow::verify(challenge, nonce, bits).is_ok());
    }
}

#[test]
fn client_binding_matches_the_vectors() {
    let v = &vectors()["client_binding"];
    assert_eq!(
        client_binding(
            v["ip_prefix"].as_str().unwrap(),
            v["user_agent"].as_str().unwrap()
        ),
        v["binding"].as_str().unwrap()
    );
}

#[test]
fn pass_ids_match_the_vectors() {
    let v = vectors();
    let ids = v["pass_ids"].as_array().unwrap();
    assert!(ids.len() >= 5);
    for p in ids {
        let sale = SaleId::parse(p["sale"].as_str().unwrap()).unwrap();
        let visitor = VisitorId::parse(p["visitor"].as_str().unwrap()).unwrap();
        let expected = p["pass_id"].as_str().unwrap();
        assert_eq!(pass_id(&sale, &visitor), expected, "{sale}/{visitor}");
        assert!(is_hex_id(expected));
    }
    // A pass issued for the vectors' ticket carries the id of its sale and visitor.
    let ticket: TicketClaims = serde_json::from_value(v["tokens"][1]["claims"].clone()).unwrap();
    let terms = PassTerms {
        slice_secs: 10,
        ttl_secs: 300,
    };
    let pass = issue(&ticket, ticket.iat * 1000, ticket.iat * 1000, terms);
    assert_eq!(pass.id, ids[0]["pass_id"].as_str().unwrap());
}
