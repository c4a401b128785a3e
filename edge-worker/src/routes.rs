//! Routing and the handlers of the buyer's path.
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/sales/{sale}` and below | the waiting room (HTML, or JSON for `Accept: application/json`); with a valid pass, the request goes on to the origin |
//! | `POST` | `/api/v1/sales/{sale}/challenge` | a proof-of-work challenge bound to this client |
//! | `POST` | `/api/v1/sales/{sale}/join` | `{challenge, nonce}` → a queue ticket (JSON and cookie) |
//! | `GET` | `/api/v1/sales/{sale}/status` | queued / paused / admitted (with a pass) / sold out |
//! | `POST`, `GET` | `/api/v1/sales/{sale}/hold` | put a card on hold for this place in line; where the hold stands (see [`crate::holds`]) |
//! | `POST` | `/api/v1/sales/{sale}/purchase` | forwarded to the origin only with a valid pass |
//! | `GET` | `/api/v1/sales/{sale}` | the sale's public state, as this edge sees it |
//! | `GET`, `POST` | `/admin/v1/sales/{sale}/control` | read, pause, resume, set the admission rate (admin token) |
//! | `GET` | `/queue/{sale}` | the no-JavaScript lane: a self-refreshing page that joins the line later than the page does |
//! | `POST` | `/queue/{sale}/buy` | the no-JavaScript lane's buy form |
//! | `GET`, `POST` | `/queue/{sale}/card`, `/queue/{sale}/hold` | the no-JavaScript lane's card form, and where it posts (sales with card holds) |
//! | `GET` | `/healthz` | the worker answers |

use std::rc::Rc;

use herdgate_core::defence::{History, Limited};
use herdgate_core::wire::{
    ChallengeResponse, ControlRequest, JoinRequest, JoinResponse, PurchaseRequest, QueueStatus,
    SaleState, SaleStatus,
};
use herdgate_core::{pow, ChallengeClaims, ErrorCode, PassClaims, SaleId, TicketClaims, VisitorId};
use serde::Serialize;
use worker::{Env, Method, Request, Response, Result};

use crate::cache;
use crate::config::{self, Config};
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::i18n::{self, Strings};
use crate::objects::join_limiter::{self, LimitRequest, LimitResponse};
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};
use crate::objects::sale_control::{self, ControlOp};
use crate::origin::{self, known_sale};
use crate::page::{self, Lane, LanePayment};
use crate::tokens;

/// A handler's answer.
pub(crate) type Outcome = std::result::Result<Response, Refusal>;
/// A request body, read by [`handle`] before routing.
pub(crate) type Body = std::result::Result<Vec<u8>, Refusal>;

/// Routes one request.
pub async fn handle(mut req: Request, env: Env) -> Result<Response> {
    let method = req.method();
    // Every body is read here, once and under one size limit, so no handler answers before
    // the request is consumed.
    let body = match method {
        Method::Post | Method::Put | Method::Patch | Method::Delete => http::body(&mut req).await,
        _ => Ok(Vec::new()),
    };
    let cfg = match config::get(&env) {
        Ok(c) => c,
        Err(e) => {
            worker::console_error!("configuration error: {e}");
            return http::refusal(ErrorCode::Internal);
        }
    };
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let outcome = match (method.clone(), segments.as_slice()) {
        (Method::Get, ["healthz"]) => http::json(&serde_json::json!({"status": "ok"}), 200)
            .map_err(|_| Refusal(ErrorCode::Internal)),
        (Method::Get | Method::Head, ["sales", sale, ..]) => {
            let html = wants_html(&req);
            let lang = language(&req);
            let answer = gated(req, &env, &cfg, sale).await;
            html_refusal(answer, html, lang, &cfg, sale)
        }
        (Method::Get, ["queue", sale]) => {
            let lang = language(&req);
            let answer = lane(req, &env, &cfg, sale, lang).await;
            html_refusal(answer, true, lang, &cfg, sale)
        }
        (Method::Post, ["queue", sale, "buy"]) => {
            let lang = language(&req);
            let answer = lane_buy(req, body, &env, &cfg, sale, lang).await;
            html_refusal(answer, true, lang, &cfg, sale)
        }
        (Method::Get, ["queue", sale, "card"]) => {
            let lang = language(&req);
            let answer = lane_card(&cfg, sale, lang, None);
            html_refusal(answer, true, lang, &cfg, sale)
        }
        (Method::Post, ["queue", sale, "hold"]) => {
            let lang = language(&req);
            let answer = lane_hold(req, body, &env, &cfg, sale, lang).await;
            html_refusal(answer, true, lang, &cfg, sale)
        }
        (Method::Post, ["api", "v1", "sales", sale, "challenge"]) => {
            challenge(req, body, &env, &cfg, sale).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "join"]) => {
            join(req, body, &env, &cfg, sale).await
        }
        (Method::Get, ["api", "v1", "sales", sale, "status"]) => {
            status(req, &env, &cfg, sale).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "hold"]) => {
            crate::holds::place(req, body, &env, &cfg, sale).await
        }
        (Method::Get, ["api", "v1", "sales", sale, "hold"]) => {
            crate::holds::show(req, &env, &cfg, sale).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "purchase"]) => {
            purchase(req, body, &env, &cfg, sale).await
        }
        (Method::Get, ["api", "v1", "sales", sale]) => public_state(&env, &cfg, sale).await,
        (Method::Get | Method::Post, ["admin", "v1", "sales", sale, "control"]) => {
            admin_control(req, body, &env, &cfg, sale).await
        }
        (_, ["healthz"] | ["api", "v1", "sales", _, _] | ["api", "v1", "sales", _])
        | (
            _,
            ["admin", "v1", "sales", _, "control"]
            | ["queue", _]
            | ["queue", _, "buy" | "card" | "hold"],
        ) => Err(Refusal(ErrorCode::MethodNotAllowed)),
        _ => Err(Refusal(ErrorCode::NotFound)),
    };
    match outcome {
        Ok(r) => Ok(r),
        Err(Refusal(code)) => http::refusal(code),
    }
}

/// Device signals a page may send with its challenge request: a flat object of at most 16
/// short strings, numbers or booleans.
fn device_signals(
    body: &[u8],
) -> std::result::Result<Option<serde_json::Map<String, serde_json::Value>>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: serde_json::Value = http::parse(body)?;
    let Some(device) = v.get("device") else {
        return Ok(None);
    };
    let map = device
        .as_object()
        .filter(|m| m.len() <= 16)
        .ok_or(Refusal(ErrorCode::InvalidBody))?;
    let flat = map.iter().all(|(k, v)| {
        k.len() <= 32
            && match v {
                serde_json::Value::String(s) => s.len() <= 128,
                serde_json::Value::Number(_) | serde_json::Value::Bool(_) => true,
                _ => false,
            }
    });
    if !flat {
        return Err(Refusal(ErrorCode::InvalidBody));
    }
    Ok(Some(map.clone()))
}

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

async fn challenge(req: Request, body: Body, env: &Env, cfg: &Config, raw: &str) -> Outcome {
    let body = body?;
    let sale = sale_id(raw)?;
    let signals = device_signals(&body)?;
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    if state.status == SaleStatus::SoldOut {
        return Err(Refusal(ErrorCode::SoldOut));
    }
    let client = http::client_binding(&req);
    let net = http::network_digest(&req);
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
    };
    let body = ChallengeResponse {
        challenge: cfg.ticket_keys.sign(&claims),
        bits: claims.bits,
        expires_at: claims.exp,
    };
    http::json(&body, 200).map_err(internal)
}

async fn join(req: Request, body: Body, env: &Env, cfg: &Config, raw: &str) -> Outcome {
    let body = body?;
    let sale = sale_id(raw)?;
    let join: JoinRequest = http::parse(&body)?;
    let now = now_ms();
    let claims = tokens::verified_challenge(&req, cfg, &sale, &join.challenge, now)?;
    if pow::verify(&join.challenge, join.nonce, claims.bits).is_err() {
        // A failed proof makes this device's next challenge harder.
        if cfg.pow.max_bits > cfg.pow.base_bits {
            let fail = LimitRequest::Fail {
                device: claims.client.clone(),
            };
            join_limiter::call(env, cfg, &sale, &claims.net, &fail).await?;
        }
        return Err(Refusal(ErrorCode::PowInsufficient));
    }
    let (ticket_claims, ticket) = enqueue(env, cfg, claims, now).await?;
    let status = queue_status(env, cfg, &ticket_claims, now).await?;
    let body = JoinResponse {
        ticket: ticket.clone(),
        visitor: ticket_claims.visitor,
        position: ticket_claims.position,
        status,
    };
    let mut resp = http::json(&body, 201).map_err(internal)?;
    http::set_cookie(
        &mut resp,
        &req,
        &tokens::ticket_cookie(sale.as_str()),
        &ticket,
        cfg.ticket_ttl_secs,
    )
    .map_err(internal)?;
    tokens::set_pass_cookie(&mut resp, &req, cfg, &sale, &body.status)?;
    Ok(resp)
}

/// Spends a verified challenge (or no-JavaScript lane token) at its queue shard and returns
/// the new queue ticket, signed.
async fn enqueue(
    env: &Env,
    cfg: &Config,
    claims: ChallengeClaims,
    now: u64,
) -> std::result::Result<(TicketClaims, String), Refusal> {
    let sale = claims.sale.clone();
    let state = known_sale(cfg, &sale, now).await?;
    if state.status == SaleStatus::SoldOut {
        return Err(Refusal(ErrorCode::SoldOut));
    }
    // Joins are counted when a limit applies, or when they raise the device's next difficulty.
    if cfg.limits.per_device > 0
        || cfg.limits.per_network > 0
        || cfg.pow.max_bits > cfg.pow.base_bits
    {
        let count = LimitRequest::Join {
            device: claims.client.clone(),
            network: claims.net.clone(),
            limits: cfg.limits,
        };
        match join_limiter::call(env, cfg, &sale, &claims.net, &count).await? {
            LimitResponse::Allowed => {}
            LimitResponse::Limited {
                limit: Limited::Device,
            } => return Err(Refusal(ErrorCode::JoinLimitDevice)),
            LimitResponse::Limited {
                limit: Limited::Network,
            } => return Err(Refusal(ErrorCode::JoinLimitNetwork)),
            other => return Err(internal(format!("unexpected limiter answer {other:?}"))),
        }
    }
    let shard = queue_shard::shard_of_challenge(cfg, &claims.id);
    let joined = queue_shard::call(
        env,
        &sale,
        shard,
        &ShardRequest::Join {
            challenge: claims.id.clone(),
            expires_at: claims.exp,
            shard,
            shards: cfg.shards,
        },
    )
    .await?;
    let position = match joined {
        ShardResponse::Joined { position } => position,
        ShardResponse::ChallengeSpent => return Err(Refusal(ErrorCode::ChallengeSpent)),
        other => return Err(internal(format!("unexpected shard answer {other:?}"))),
    };
    let visitor = VisitorId::parse(&format!("v{}", http::random_hex(12)?)).map_err(internal)?;
    let now_s = now / 1000;
    let ticket_claims = TicketClaims {
        sale: sale.clone(),
        visitor: visitor.clone(),
        position,
        client: claims.client,
        iat: now_s,
        exp: now_s + cfg.ticket_ttl_secs,
        net: claims.net,
        dev: claims.dev,
        hold: String::new(),
        hat: 0,
    };
    let ticket = cfg.ticket_keys.sign(&ticket_claims);
    Ok((ticket_claims, ticket))
}

/// Where the ticket's holder stands, from the ticket and the isolate's cached sale state and
/// control: no Durable Object and no origin request while the copies are fresh.
pub(crate) async fn queue_status(
    env: &Env,
    cfg: &Config,
    ticket: &TicketClaims,
    now: u64,
) -> std::result::Result<QueueStatus, Refusal> {
    let state = known_sale(cfg, &ticket.sale, now).await?;
    if state.status == SaleStatus::SoldOut {
        return Ok(QueueStatus::SoldOut);
    }
    let control = sale_control::control(env, cfg, &ticket.sale, &state, now).await?;
    let schedule = control.schedule;
    let position = ticket.position;
    if schedule.is_admitted(position, now) {
        let pass = tokens::issue_pass(cfg, ticket, now);
        return Ok(QueueStatus::Admitted {
            position,
            pass_expires_at: pass.exp,
            pass: cfg.pass_keys.sign(&pass),
        });
    }
    // However far back a waiter is, they poll often enough to learn of a sell-out soon after
    // it can happen: the sale cannot sell out before its remaining stock has had time to be
    // admitted, so the interval is at most half that time.
    let sellout_horizon = herdgate_core::admission::sellout_horizon_ms(
        state.remaining,
        control.rate,
        state.starts_at_ms.saturating_sub(now),
    );
    let cap = (sellout_horizon / 2).clamp(cfg.poll_min_ms, cfg.poll_max_ms.max(cfg.poll_min_ms));
    if control.paused {
        return Ok(QueueStatus::Paused {
            position,
            poll_after_ms: cfg.poll_max_ms.min(5_000).max(cfg.poll_min_ms).min(cap),
        });
    }
    let admitted_at = schedule.admitted_at_ms(position).unwrap_or(u64::MAX);
    Ok(QueueStatus::Queued {
        position,
        ahead: position.saturating_sub(schedule.frontier(now)),
        eta_ms: admitted_at.saturating_sub(now),
        poll_after_ms: schedule
            .next_poll_ms(position, now, cfg.poll_min_ms, cfg.poll_max_ms)
            .min(cap),
    })
}

async fn status(req: Request, env: &Env, cfg: &Config, raw: &str) -> Outcome {
    let sale = sale_id(raw)?;
    let now = now_ms();
    let (ticket, _) = tokens::verified_ticket(&req, cfg, &sale, now)?;
    let status = queue_status(env, cfg, &ticket, now).await?;
    let mut resp = http::json(&status, 200).map_err(internal)?;
    tokens::set_pass_cookie(&mut resp, &req, cfg, &sale, &status)?;
    Ok(resp)
}

async fn purchase(req: Request, body: Body, env: &Env, cfg: &Config, raw: &str) -> Outcome {
    let body = body?;
    let sale = sale_id(raw)?;
    let _: PurchaseRequest = http::parse_or_default(&body)?;
    let (status, text) = settle(&req, body, env, cfg, &sale).await?;
    origin_response(status, text)
}

/// Buys with the request's pass: claims the pass at its shard (a pass that bought before gets
/// its stored answer, `200` with `created: false`), forwards the purchase to the origin and
/// records the answer. Returns the origin's status and body.
async fn settle(
    req: &Request,
    body: Vec<u8>,
    env: &Env,
    cfg: &Config,
    sale: &SaleId,
) -> std::result::Result<(u16, String), Refusal> {
    let sale = sale.clone();
    let now = now_ms();
    // Verified without the client check first, so a pass offered from another client can be
    // remembered as shared (the audit scores it) before it is refused.
    let (pass, _) = tokens::verified_pass_any_client(req, cfg, &sale, now)?;
    let shard = queue_shard::shard_of_position(cfg, pass.position)?;
    if let Err(refusal) = tokens::same_client(req, cfg, &pass.client) {
        let taint = ShardRequest::Taint {
            pass: pass.id.clone(),
        };
        queue_shard::call(env, &sale, shard, &taint).await?;
        return Err(refusal);
    }
    let state = known_sale(cfg, &sale, now).await?;
    if state.status == SaleStatus::SoldOut {
        return Err(Refusal(ErrorCode::SoldOut));
    }
    if !pass.hold.is_empty() && pass.hat + cfg.hold_max_age_secs <= now / 1000 {
        // Released (or about to be) by its shard: not worth a round trip to the origin.
        return Err(Refusal(ErrorCode::HoldExpired));
    }

    let shared = match queue_shard::call(
        env,
        &sale,
        shard,
        &ShardRequest::Claim {
            pass: pass.id.clone(),
            position: held_position(&pass),
        },
    )
    .await?
    {
        ShardResponse::Claimed { shared } => shared,
        ShardResponse::InFlight => return Err(Refusal(ErrorCode::PurchaseInProgress)),
        ShardResponse::Done { status, body } => return Ok(replay(status, &body)),
        other => return Err(internal(format!("unexpected shard answer {other:?}"))),
    };

    // The pass goes on re-signed with the time the edge received the purchase (`rcv`) and
    // whether it was offered from another client (`shr`).
    let forwarded = cfg.pass_keys.sign(&PassClaims {
        rcv: now,
        shr: shared,
        ..pass.clone()
    });
    let answer = origin::forward_purchase(cfg, &sale, &forwarded, body).await;
    let (status, text) = match answer {
        Ok(a) => a,
        Err(refusal) => {
            release(env, &sale, shard, &pass.id).await;
            return Err(refusal);
        }
    };
    if status >= 500 || status == 402 {
        // Not a decision (5xx), or a payment to put right with a new card hold (402): let the
        // buyer retry with the same pass.
        release(env, &sale, shard, &pass.id).await;
    } else {
        let done = ShardRequest::Complete {
            pass: pass.id.clone(),
            status,
            body: text.clone(),
            position: held_position(&pass),
        };
        queue_shard::call(env, &sale, shard, &done).await?;
    }
    if sold_the_last_item(status, &text) {
        cache::mark_sold_out(&sale, now);
    }
    Ok((status, text))
}

/// The pass's position when it carries a card hold (its shard then keeps the hold through
/// the purchase); `None` spares the shard the lookup.
fn held_position(pass: &PassClaims) -> Option<u64> {
    (!pass.hold.is_empty()).then_some(pass.position)
}

/// Whether the origin's answer says the sale has nothing left: a 409 `sold_out`, or an order
/// that took the last item.
fn sold_the_last_item(status: u16, body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    match status {
        409 => v["error"]["code"] == "sold_out",
        200 | 201 => v["remaining"] == 0,
        _ => false,
    }
}

async fn release(env: &Env, sale: &SaleId, shard: u32, pass: &str) {
    let release = ShardRequest::Release {
        pass: pass.to_owned(),
    };
    if let Err(Refusal(code)) = queue_shard::call(env, sale, shard, &release).await {
        worker::console_error!("could not release a purchase claim: {code}");
    }
}

fn origin_response(status: u16, body: String) -> Outcome {
    let mut resp = Response::ok(body).map_err(internal)?.with_status(status);
    let h = resp.headers_mut();
    h.set("content-type", "application/json")
        .map_err(internal)?;
    h.set("cache-control", "no-store").map_err(internal)?;
    if status == 503 {
        h.set("retry-after", "1").map_err(internal)?;
    }
    Ok(resp)
}

/// The stored answer to a pass that bought before: the same order, as a retry gets it from the
/// origin (200, `created: false`), without asking the origin again.
fn replay(status: u16, body: &str) -> (u16, String) {
    if status == 201 {
        if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) {
            v["created"] = serde_json::Value::Bool(false);
            return (200, v.to_string());
        }
    }
    (status, body.to_owned())
}

#[derive(Serialize)]
struct WaitingRoom {
    sale: SaleState,
    status: Option<QueueStatus>,
    challenge_url: String,
    join_url: String,
    status_url: String,
    purchase_url: String,
}

async fn gated(req: Request, env: &Env, cfg: &Rc<Config>, raw: &str) -> Outcome {
    let sale = sale_id(raw)?;
    let now = now_ms();
    // A valid pass opens the gate: the request goes on to the origin.
    if let Ok((_, pass)) = tokens::verified_pass(&req, cfg, &sale, now) {
        return origin::forward_gated(&req, cfg, &pass).await;
    }
    let state = known_sale(cfg, &sale, now).await?;
    let status = match tokens::verified_ticket(&req, cfg, &sale, now) {
        Ok((ticket, _)) => Some(queue_status(env, cfg, &ticket, now).await?),
        Err(_) => None,
    };
    let accept = req
        .headers()
        .get("accept")
        .ok()
        .flatten()
        .unwrap_or_default();
    if accept.contains("application/json") {
        let api = format!("/api/v1/sales/{sale}");
        let room = WaitingRoom {
            sale: state,
            status,
            challenge_url: format!("{api}/challenge"),
            join_url: format!("{api}/join"),
            status_url: format!("{api}/status"),
            purchase_url: format!("{api}/purchase"),
        };
        return http::json(&room, 200).map_err(internal);
    }
    let t = language(&req);
    html(
        page::room(
            t,
            &cfg.brand,
            &sale,
            &lane_url(&req, &sale),
            cfg.payments.is_some() && state.price.is_some(),
        ),
        200,
    )
}

async fn public_state(env: &Env, cfg: &Config, raw: &str) -> Outcome {
    let sale = sale_id(raw)?;
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    let control = sale_control::control(env, cfg, &sale, &state, now).await?;
    let body = serde_json::json!({
        "sale": state,
        "admission": {
            "frontier": control.schedule.frontier(now),
            "paused": control.paused,
            "rate": control.rate,
        },
    });
    let mut resp = Response::from_json(&body).map_err(internal)?;
    resp.headers_mut()
        .set("cache-control", "public, max-age=1")
        .map_err(internal)?;
    Ok(resp)
}

async fn admin_control(req: Request, body: Body, env: &Env, cfg: &Config, raw: &str) -> Outcome {
    let body = body?;
    match http::bearer(&req) {
        Some(token) if cfg.is_admin(&token) => {}
        _ => return Err(Refusal(ErrorCode::Unauthorized)),
    }
    let sale = sale_id(raw)?;
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    let (starts_at_ms, rate) = (state.starts_at_ms, state.admission_rate);
    let op = if req.method() == Method::Post {
        let request: ControlRequest = http::parse(&body)?;
        ControlOp::Apply {
            starts_at_ms,
            rate,
            request,
        }
    } else {
        ControlOp::Get { starts_at_ms, rate }
    };
    let control = sale_control::call(env, &sale, &op).await?;
    cache::put_control(&sale, control.clone(), now);
    http::json(&control, 200).map_err(internal)
}

/// Whether the request asks for a page rather than JSON.
fn wants_html(req: &Request) -> bool {
    let accept = req
        .headers()
        .get("accept")
        .ok()
        .flatten()
        .unwrap_or_default();
    !accept.contains("application/json")
}

/// The `?lang=` of the request's URL, if any.
fn query_lang(req: &Request) -> Option<String> {
    let url = req.url().ok()?;
    let lang = url
        .query_pairs()
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.into_owned());
    lang
}

/// The language of the request's pages.
fn language(req: &Request) -> &'static Strings {
    let accept = req
        .headers()
        .get("accept-language")
        .ok()
        .flatten()
        .unwrap_or_default();
    i18n::choose(query_lang(req).as_deref(), &accept)
}

/// The no-JavaScript lane of `sale`, keeping an explicit `?lang=` choice.
fn lane_url(req: &Request, sale: &SaleId) -> String {
    match query_lang(req).and_then(|l| i18n::LANGUAGES.iter().find(|s| s.lang == l)) {
        Some(s) => format!("/queue/{sale}?lang={}", s.lang),
        None => format!("/queue/{sale}"),
    }
}

/// An HTML response, never cached.
fn html(body: String, status: u16) -> Outcome {
    let mut resp = Response::from_html(body)
        .map_err(internal)?
        .with_status(status);
    resp.headers_mut()
        .set("cache-control", "no-store")
        .map_err(internal)?;
    Ok(resp)
}

/// A refusal of a page request as a page in state `refused` (with the refusal's status), so a
/// person sees a sentence in their language rather than JSON.
fn html_refusal(
    answer: Outcome,
    html_wanted: bool,
    t: &Strings,
    cfg: &Config,
    raw: &str,
) -> Outcome {
    match answer {
        Err(Refusal(code)) if html_wanted => {
            let sale = if SaleId::parse(raw).is_ok() { raw } else { "" };
            let view = Lane::Refused(code);
            let mut resp = html(
                page::lane(t, &cfg.brand, sale, &view, None, "", &LanePayment::None),
                code.status(),
            )?;
            if code.status() == 503 {
                resp.headers_mut()
                    .set("retry-after", "1")
                    .map_err(internal)?;
            }
            Ok(resp)
        }
        other => other,
    }
}

/// The no-JavaScript lane: one self-refreshing page that takes a visitor from arrival to
/// admission without any script.
///
/// A first visit gets a lane token (a challenge of difficulty 0) that becomes valid
/// `NOJS_DELAY_SECS` after the sale opens or after the visit, whichever is later, and a page
/// that refreshes when it does. The refresh spends the token at a queue shard like a solved
/// challenge, so the visitor gets a ticket, a position at the back of the line as it is then,
/// and the same status as the page; the lane pays for skipping the proof of work with time,
/// and cannot jump the queue. Pages refresh at most every `NOJS_REFRESH_SECS`.
async fn lane(req: Request, env: &Env, cfg: &Config, raw: &str, t: &Strings) -> Outcome {
    let sale = sale_id(raw)?;
    let now = now_ms();
    let now_s = now / 1000;
    let state = known_sale(cfg, &sale, now).await?;
    let self_url = lane_url(&req, &sale);
    let buy_url = format!("/queue/{sale}/buy");
    // In a sale that takes card holds: a link to the card form, or the hold.
    let payment = |hold: Option<&str>| match (&cfg.payments, &state.price) {
        (Some(_), Some(price)) => match hold {
            Some(h) if !h.is_empty() => LanePayment::Held {
                amount: page::money(price.times(state.per_visitor_limit.max(1)), &price.currency),
            },
            _ => LanePayment::Offer {
                card_url: format!("/queue/{sale}/card"),
            },
        },
        _ => LanePayment::None,
    };
    let show = |view: Lane, refresh: Option<u64>, payment: LanePayment| {
        html(
            page::lane(
                t,
                &cfg.brand,
                sale.as_str(),
                &view,
                refresh,
                &self_url,
                &payment,
            ),
            200,
        )
    };
    if state.status == SaleStatus::SoldOut {
        return show(Lane::SoldOut, None, LanePayment::None);
    }
    if let Ok((pass, _)) = tokens::verified_pass(&req, cfg, &sale, now) {
        return show(Lane::Admitted { buy_url }, None, payment(Some(&pass.hold)));
    }
    let (ticket, token, fresh) = match tokens::verified_ticket(&req, cfg, &sale, now) {
        Ok((ticket, token)) => (ticket, token, false),
        Err(_) => match tokens::lane_token(&req, cfg, &sale, now_s) {
            // Not yet: come back when the token is valid.
            Some((claims, _)) if claims.nbf > now_s => {
                let in_secs = claims.nbf - now_s;
                return show(
                    Lane::Joining { in_secs },
                    Some(in_secs.max(1)),
                    LanePayment::None,
                );
            }
            Some((claims, _)) => {
                let (ticket, token) = enqueue(env, cfg, claims, now).await?;
                (ticket, token, true)
            }
            None => {
                let nbf = now_s.max(state.starts_at_ms / 1000) + cfg.nojs_delay_secs;
                let claims = ChallengeClaims {
                    sale: sale.clone(),
                    id: http::random_hex(16)?,
                    client: http::client_binding(&req),
                    bits: 0,
                    nbf,
                    exp: nbf + cfg.challenge_ttl_secs,
                    net: http::network_digest(&req),
                    dev: String::new(),
                };
                let in_secs = nbf - now_s;
                let mut resp = show(
                    Lane::Joining { in_secs },
                    Some(in_secs.max(1)),
                    LanePayment::None,
                )?;
                let max_age = nbf - now_s + cfg.challenge_ttl_secs;
                let token = cfg.ticket_keys.sign(&claims);
                http::set_cookie(&mut resp, &req, &tokens::lane_cookie(raw), &token, max_age)
                    .map_err(internal)?;
                return Ok(resp);
            }
        },
    };
    let status = queue_status(env, cfg, &ticket, now).await?;
    let refresh = |ms: u64| Some(ms.div_ceil(1000).max(cfg.nojs_refresh_secs));
    let held = payment(Some(&ticket.hold));
    let mut resp = match &status {
        QueueStatus::Queued {
            position,
            ahead,
            eta_ms,
            poll_after_ms,
        } => show(
            Lane::Waiting {
                position: *position,
                ahead: *ahead,
                eta_ms: *eta_ms,
            },
            refresh(*poll_after_ms),
            held,
        )?,
        QueueStatus::Paused {
            position,
            poll_after_ms,
        } => show(
            Lane::Paused {
                position: *position,
            },
            refresh(*poll_after_ms),
            held,
        )?,
        QueueStatus::Admitted { .. } => show(Lane::Admitted { buy_url }, None, held)?,
        _ => show(Lane::SoldOut, None, LanePayment::None)?,
    };
    if fresh {
        http::set_cookie(
            &mut resp,
            &req,
            &tokens::ticket_cookie(sale.as_str()),
            &token,
            cfg.ticket_ttl_secs,
        )
        .map_err(internal)?;
        // The lane token is spent: forget it.
        http::set_cookie(&mut resp, &req, &tokens::lane_cookie(raw), "", 0).map_err(internal)?;
    }
    tokens::set_pass_cookie(&mut resp, &req, cfg, &sale, &status)?;
    Ok(resp)
}

/// The no-JavaScript lane's card form: a page of its own that does not refresh while the buyer
/// types. `error`: why the previous card was not put on hold.
fn lane_card(cfg: &Config, raw: &str, t: &Strings, error: Option<ErrorCode>) -> Outcome {
    let sale = sale_id(raw)?;
    if cfg.payments.is_none() {
        return Err(Refusal(ErrorCode::PaymentsDisabled));
    }
    let view = Lane::Card {
        action: format!("/queue/{sale}/hold"),
        error,
    };
    let status = error.map_or(200, |code| code.status());
    html(
        page::lane(
            t,
            &cfg.brand,
            sale.as_str(),
            &view,
            None,
            "",
            &LanePayment::None,
        ),
        status,
    )
}

/// The card form's post (`number`, `exp` as MM/YY, `cvc`): puts the card on hold for the
/// ticket and goes back to the lane; a card the processor or the checks refuse shows the form
/// again with the reason.
async fn lane_hold(
    req: Request,
    body: Body,
    env: &Env,
    cfg: &Config,
    raw: &str,
    t: &Strings,
) -> Outcome {
    let body = body?;
    let sale = sale_id(raw)?;
    let field = |name: &str| {
        form_urlencoded::parse(&body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let exp = field("exp");
    let (month, year) = exp.split_once('/').unwrap_or((&exp, ""));
    let card = herdgate_pay::card::CardInput {
        number: field("number"),
        exp_month: month.trim().parse().unwrap_or(0),
        exp_year: year.trim().parse().unwrap_or(0),
        cvc: field("cvc"),
    };
    let input = crate::holds::HoldInput {
        payment_method: None,
        card: Some(card),
    };
    let (answer, held) = match crate::holds::hold_for(&req, env, cfg, &sale, input).await {
        Ok(done) => done,
        Err(Refusal(code)) if code.status() == 402 || code.status() == 422 => {
            return lane_card(cfg, raw, t, Some(code));
        }
        Err(refusal) => return Err(refusal),
    };
    let mut resp = Response::empty().map_err(internal)?.with_status(303);
    resp.headers_mut()
        .set("location", &lane_url(&req, &sale))
        .map_err(internal)?;
    resp.headers_mut()
        .set("cache-control", "no-store")
        .map_err(internal)?;
    crate::holds::set_cookies(&mut resp, &req, cfg, &held, &answer)?;
    Ok(resp)
}

/// The no-JavaScript lane's buy form: buys with the pass cookie and shows the outcome.
async fn lane_buy(
    req: Request,
    body: Body,
    env: &Env,
    cfg: &Config,
    raw: &str,
    t: &Strings,
) -> Outcome {
    // A form post's body carries nothing the purchase needs; it is read only to be bounded.
    let _ = body?;
    let sale = sale_id(raw)?;
    let (status, text) = settle(&req, Vec::new(), env, cfg, &sale).await?;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let view = if status < 300 {
        let order_id = v["order"]["order_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Lane::Bought { order_id }
    } else {
        let code = serde_json::from_value::<ErrorCode>(v["error"]["code"].clone())
            .unwrap_or(ErrorCode::Internal);
        if code == ErrorCode::SoldOut {
            Lane::SoldOut
        } else {
            return Err(Refusal(code));
        }
    };
    let self_url = lane_url(&req, &sale);
    html(
        page::lane(
            t,
            &cfg.brand,
            sale.as_str(),
            &view,
            None,
            &self_url,
            &LanePayment::None,
        ),
        if status < 300 { 200 } else { status },
    )
}
