//! Step 2, prove work: `POST /api/v1/sales/{sale}/challenge` hands out a stateless, MAC-signed,
//! expiring challenge bound to the sale and to the key whose proof the request carries (see
//! `herdgate_core::proof`). Its difficulty rises with this
//! isolate's challenge rate and with the device's earlier joins and failed proofs (asked of
//! its `JoinLimiter` shard only when difficulty may rise above the base).

use herdgate_core::defence::History;
use herdgate_core::gate::challenge::device_signals;
use herdgate_core::wire::{ChallengeResponse, SaleStatus};
use herdgate_core::{ChallengeClaims, ErrorCode};

use crate::api::{Ctx, Outcome};
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::join_limiter::{self, LimitRequest, LimitResponse};
use crate::origin::known_sale;
use crate::tokens;

thread_local! {
    /// Challenges issued by this isolate, as a rate (per second, decaying with a 1 s time
    /// constant) and when it was last updated (unix ms).
    static CHALLENGE_RATE: std::cell::Cell<(f64, u64)> = const { std::cell::Cell::new((0.0, 0)) };
}

/// Counts one challenge and returns this isolate's current challenge rate per second.
fn challenge_rate(now: u64) -> f64 {
    CHALLENGE_RATE.with(|c| {
        let (rate, at) = c.get();
        let dt = now.saturating_sub(at) as f64 / 1000.0;
        let next = rate * (-dt).exp() + 1.0;
        c.set((next, now));
        next
    })
}

/// `POST /api/v1/sales/{sale}/challenge`: a proof-of-work challenge bound to this client, as
/// hard as this isolate's challenge rate and the device's history ask.
pub(crate) async fn post(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
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
    let net = http::network_digest(req);
    let rate = challenge_rate(now);
    // A device's history only matters when difficulty may rise above the base.
    let history = if cfg.pow.max_bits > cfg.pow.base_bits {
        match join_limiter::call(
            env,
            cfg,
            &sale,
            &net,
            &LimitRequest::Peek {
                device: client.clone(),
            },
        )
        .await?
        {
            LimitResponse::History(h) => h,
            other => return Err(internal(format!("unexpected limiter answer {other:?}"))),
        }
    } else {
        History::default()
    };
    let now_s = now / 1000;
    let claims = ChallengeClaims {
        sale,
        id: http::random_hex(16)?,
        client,
        bits: cfg.pow.bits(rate, history),
        nbf: now_s,
        exp: now_s + cfg.challenge_ttl_secs,
        net,
        dev: http::device_digest(signals.as_ref()),
        jkt,
    };
    let body = ChallengeResponse {
        challenge: cfg.ticket_keys.sign(&claims),
        bits: claims.bits,
        expires_at: claims.exp,
    };
    http::json(&body, 200).map_err(internal)
}
