//! Step 2, prove work: `POST /api/v1/sales/{sale}/challenge` hands out a stateless, MAC-signed,
//! expiring challenge bound to the sale and to the key whose proof the request carries (see
//! `herdgate_core::proof`). Its difficulty rises with this isolate's challenge rate; it asks no
//! Durable Object. A device that joined or failed a proof before is asked for more work when
//! it joins (`api/join.rs`, `herdgate_core::defence::PowPolicy::enough`).

use herdgate_core::defence::History;
use herdgate_core::gate::challenge::device_signals;
use herdgate_core::wire::SaleStatus;
use herdgate_core::{ChallengeClaims, ErrorCode};

use crate::api::{Ctx, Outcome};
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::origin::{self, known_sale};
use crate::tokens;

/// `POST /api/v1/sales/{sale}/challenge`: a proof-of-work challenge bound to this client, as
/// hard as this isolate's challenge rate and the device's history ask.
pub(crate) async fn post(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, cfg, .. } = cx;
    let body = cx.body()?;
    let sale = sale_id(raw)?;
    let signals = device_signals(body).map_err(ErrorCode::from)?;
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    // A pre-queue not open yet takes no joins: say so before the browser works for nothing.
    if state.draw.as_ref().is_some_and(|d| now < d.opens_at_ms) {
        return Err(Refusal(ErrorCode::PrequeueNotOpen));
    }
    if state.status == SaleStatus::SoldOut {
        return Err(Refusal(ErrorCode::SoldOut));
    }
    // Where the visitor buys, if the sale is sold where they are: refused before any work.
    let reg = origin::home_region(req, cfg, &state, now).await?;
    // The proof introduces the key the place will be bound to. Without binding
    // (`BIND_CLIENT = "off"`) no key is recorded: the place is bound to nothing, at the edge
    // or at the origin, and the network and browser digest only counts for the limits.
    let jkt = if cfg.bind_client {
        tokens::proof_of(req, None, None, now)
            .await?
            .ok_or(Refusal(ErrorCode::ProofRequired))?
    } else {
        String::new()
    };
    let client = if jkt.is_empty() {
        http::client_binding(req)
    } else {
        herdgate_core::proof::key_client(&jkt)
    };
    // The difficulty of a first visit at this isolate's challenge rate: nothing is asked of
    // the device's past here (that would be a Durable Object call for every person). The join
    // counts the device anyway, and asks more work of one that joined or failed before
    // (`api/join.rs`).
    let rate = tokens::challenge_rate(now, true);
    let now_s = now / 1000;
    let claims = ChallengeClaims {
        sale,
        id: http::random_hex(16)?,
        client,
        bits: cfg.pow.bits(rate, History::default()),
        nbf: now_s,
        exp: now_s + cfg.challenge_ttl_secs,
        net: http::network_digest(req),
        dev: http::device_digest(signals.as_ref()),
        jkt,
        hx: 0,
        reg,
    };
    let body = tokens::issue_challenge(cfg, &claims);
    http::json(&body, 200).map_err(internal)
}
