//! Step 3, join: `POST /api/v1/sales/{sale}/join` checks the solved challenge and spends it at
//! its queue shard for a position, counted by the join limits; the answer is a signed queue
//! ticket (JSON and cookie) and the ticket's first status. The no-JavaScript lane spends its
//! lane token through the same [`enqueue`].
//!
//! A sale with a pre-queue refuses joins before it opens (`prequeue_not_open`); until the
//! draw's close every join is an entry of the draw (`herdgate_core::draw`).
//!
//! A join is idempotent per challenge: sent again (its answer was lost, a page reloaded), it
//! gets the same position and the same visitor, is not counted again by the join limits, and
//! is never refused by them.
//!
//! A device that joined this sale or failed a proof before needs more work than a first
//! visit's challenge asks (`herdgate_core::defence::PowPolicy::enough`): the join limiter says
//! so in the call that counts the join, and the answer (`more_work_required`, with a
//! `MoreWorkBody`) carries a harder challenge to solve and join with.

use herdgate_core::defence::Limited;
use herdgate_core::draw::entry_digest;
use herdgate_core::gate::join::visitor_of;
use herdgate_core::wire::{ErrorBody, JoinRequest, JoinResponse, MoreWorkBody, SaleStatus};
use herdgate_core::{pow, ChallengeClaims, ErrorCode, TicketClaims};
use worker::Env;

use crate::api::status::queue_status;
use crate::api::{Ctx, Outcome};
use crate::config::Config;
use crate::counters;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::join_limiter::{self, LimitRequest, LimitResponse, PowCheck};
use crate::objects::queue_shard::{self, DrawJoin, ShardRequest, ShardResponse};
use crate::origin::known_sale;
use crate::tokens;

/// `POST /api/v1/sales/{sale}/join`: a solved challenge becomes a queue ticket (JSON and
/// cookie).
pub(crate) async fn post(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let body = cx.body()?;
    let sale = sale_id(raw)?;
    let join: JoinRequest = http::parse(body)?;
    let now = now_ms();
    let claims = tokens::verified_challenge(req, cfg, &sale, &join.challenge, now).await?;
    if pow::verify(&join.challenge, join.nonce, claims.bits).is_err() {
        // A failed proof makes this device's next challenge harder.
        if cfg.pow.max_bits > cfg.pow.base_bits {
            let fail = LimitRequest::Fail {
                sale: sale.to_string(),
                device: claims.client.clone(),
            };
            join_limiter::call(env, cfg, &sale, &claims.net, &fail).await?;
        }
        return Err(Refusal(ErrorCode::PowInsufficient));
    }
    let (ticket_claims, ticket) = match enqueue(env, cfg, claims, now, true).await? {
        Enqueued::Ticket(claims, ticket) => (claims, ticket),
        Enqueued::MoreWork(harder) => {
            counters::refused(&sale, ErrorCode::MoreWorkRequired);
            let body = MoreWorkBody {
                error: ErrorBody::from(ErrorCode::MoreWorkRequired).error,
                challenge: tokens::issue_challenge(cfg, &harder),
            };
            return http::json(&body, ErrorCode::MoreWorkRequired.status()).map_err(internal);
        }
    };
    // The join's proof was made with the ticket's key: its holder may have the pass.
    let status = queue_status(env, cfg, &ticket_claims, now, async { Ok(()) }).await?;
    let body = JoinResponse {
        ticket: ticket.clone(),
        visitor: ticket_claims.visitor,
        position: ticket_claims.position,
        status,
    };
    let mut resp = http::json(&body, 201).map_err(internal)?;
    http::set_cookie(
        &mut resp,
        &tokens::ticket_cookie(sale.as_str()),
        &ticket,
        ticket_claims.exp.saturating_sub(now / 1000),
    )
    .map_err(internal)?;
    tokens::set_pass_cookie(&mut resp, cfg, &sale, &body.status)?;
    Ok(resp)
}

/// What spending a challenge came to.
pub(crate) enum Enqueued {
    /// A place: the ticket's claims and the signed ticket.
    Ticket(TicketClaims, String),
    /// The device joined or failed a proof before, and the challenge was too easy for it:
    /// the harder challenge to solve (nothing was counted and no place taken).
    MoreWork(ChallengeClaims),
}

/// Spends a verified challenge (or no-JavaScript lane token) at its queue shard and returns
/// the new queue ticket, signed. With `pow` (a solved challenge, not a lane token) and the
/// adaptive proof of work on, the join limiter also checks the challenge's difficulty against
/// the device's history, in the same call that counts the join.
pub(crate) async fn enqueue(
    env: &Env,
    cfg: &Config,
    claims: ChallengeClaims,
    now: u64,
    pow: bool,
) -> std::result::Result<Enqueued, Refusal> {
    let sale = claims.sale.clone();
    let state = known_sale(cfg, &sale, now).await?;
    if state.status == SaleStatus::SoldOut {
        return Err(Refusal(ErrorCode::SoldOut));
    }
    // A sale with a pre-queue takes nobody before it opens; from then until the close every
    // join is an entry of the draw (its shard decides, by its clock, and seals at the close).
    // A ticket of a pre-queue lasts its lifetime from the close, however early it joined.
    let lasts_from = state.draw.as_ref().map_or(now, |d| now.max(d.closes_at_ms));
    let draw = match &state.draw {
        Some(d) if now < d.opens_at_ms => return Err(Refusal(ErrorCode::PrequeueNotOpen)),
        Some(d) => Some(DrawJoin {
            closes_at_ms: d.closes_at_ms,
            digest: entry_digest(visitor_of(&claims.id).map_err(internal)?.as_str()),
        }),
        None => None,
    };
    let shard = queue_shard::shard_of_challenge(cfg, &claims.id);
    // Joins are counted when a limit applies, or when they raise the device's next difficulty.
    let counted = cfg.limits.per_device > 0
        || cfg.limits.per_network > 0
        || cfg.pow.max_bits > cfg.pow.base_bits;
    if counted {
        let adaptive = pow && cfg.pow.max_bits > cfg.pow.base_bits;
        let count = LimitRequest::Join {
            sale: sale.to_string(),
            challenge: claims.id.clone(),
            device: claims.client.clone(),
            network: claims.net.clone(),
            limits: cfg.limits,
            pow: adaptive.then(|| PowCheck {
                policy: cfg.pow,
                rate: tokens::challenge_rate(now, false),
                bits: claims.bits,
                hx: claims.hx,
            }),
        };
        let refused = match join_limiter::call(env, cfg, &sale, &claims.net, &count).await? {
            LimitResponse::Allowed => None,
            LimitResponse::Limited {
                limit: Limited::Device,
            } => Some(Err(ErrorCode::JoinLimitDevice)),
            LimitResponse::Limited {
                limit: Limited::Network,
            } => Some(Err(ErrorCode::JoinLimitNetwork)),
            LimitResponse::MoreWork { bits, hx } => Some(Ok((bits, hx))),
            other => return Err(internal(format!("unexpected limiter answer {other:?}"))),
        };
        if let Some(refusal) = refused {
            // A join sent again is never refused by the limits, nor asked for more work by
            // the history its own first join made: it has its place already.
            let place = ShardRequest::Place {
                challenge: claims.id.clone(),
            };
            if let ShardResponse::Joined { position, .. } =
                queue_shard::call(env, &sale, shard, &place).await?
            {
                return ticket(cfg, claims, position, now, lasts_from);
            }
            return match refusal {
                Err(code) => Err(Refusal(code)),
                Ok((bits, hx)) => {
                    let now_s = now / 1000;
                    Ok(Enqueued::MoreWork(ChallengeClaims {
                        id: http::random_hex(16)?,
                        bits,
                        hx,
                        nbf: now_s,
                        exp: now_s + cfg.challenge_ttl_secs,
                        ..claims
                    }))
                }
            };
        }
    }
    let joined = queue_shard::call(
        env,
        &sale,
        shard,
        &ShardRequest::Join {
            sale: sale.to_string(),
            challenge: claims.id.clone(),
            expires_at: claims.exp,
            shard,
            shards: cfg.shards,
            draw,
        },
    )
    .await?;
    let position = match joined {
        // A join sent again was not counted again (the limiter marks the challenges it
        // counted): its place is all it gets.
        ShardResponse::Joined { position, again } => {
            if !again {
                counters::joined(&sale);
            }
            position
        }
        ShardResponse::ChallengeSpent => return Err(Refusal(ErrorCode::ChallengeSpent)),
        other => return Err(internal(format!("unexpected shard answer {other:?}"))),
    };
    ticket(cfg, claims, position, now, lasts_from)
}

/// The signed queue ticket of the challenge that took `position`, valid for `TICKET_TTL_SECS`
/// from `lasts_from` (unix ms: now, or a pre-queue's close). Its visitor id is derived from
/// the challenge id (random, and known only to the challenge's holder), so the ticket of a join
/// sent again names the same visitor.
fn ticket(
    cfg: &Config,
    claims: ChallengeClaims,
    position: u64,
    now: u64,
    lasts_from: u64,
) -> std::result::Result<Enqueued, Refusal> {
    let sale = claims.sale.clone();
    let visitor = visitor_of(&claims.id).map_err(internal)?;
    let now_s = now / 1000;
    let ticket_claims = TicketClaims {
        sale: sale.clone(),
        visitor: visitor.clone(),
        position,
        client: claims.client,
        iat: now_s,
        exp: lasts_from / 1000 + cfg.ticket_ttl_secs,
        net: claims.net,
        dev: claims.dev,
        jkt: claims.jkt,
        hold: String::new(),
        hat: 0,
        reg: claims.reg,
    };
    let ticket = cfg.ticket_keys.sign(&ticket_claims);
    Ok(Enqueued::Ticket(ticket_claims, ticket))
}
