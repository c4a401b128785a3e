//! Routing and the handlers of the buyer's path.
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/sales/{sale}` and below | the waiting room (HTML, or JSON for `Accept: application/json`); with a valid pass, the request goes on to the origin |
//! | `POST` | `/api/v1/sales/{sale}/challenge` | a proof-of-work challenge bound to this client |
//! | `POST` | `/api/v1/sales/{sale}/join` | `{challenge, nonce}` → a queue ticket (JSON and cookie) |
//! | `GET` | `/api/v1/sales/{sale}/status` | queued / paused / admitted (with a pass) / sold out |
//! | `POST`, `GET` | `/api/v1/sales/{sale}/hold` | put a card on hold for this place in line; where the hold stands (see [`crate::api::hold`]) |
//! | `POST` | `/api/v1/sales/{sale}/purchase` | forwarded to the origin only with a valid pass |
//! | `GET` | `/api/v1/sales/{sale}` | the sale's public state, as this edge sees it |
//! | `GET`, `POST` | `/admin/v1/sales/{sale}/control` | read, pause, resume, set the admission rate (admin token) |
//! | `GET` | `/queue/{sale}` | the no-JavaScript lane: a self-refreshing page that joins the line later than the page does |
//! | `POST` | `/queue/{sale}/buy` | the no-JavaScript lane's buy form |
//! | `GET`, `POST` | `/queue/{sale}/card`, `/queue/{sale}/hold` | the no-JavaScript lane's card form, and where it posts (sales with card holds) |
//! | `GET` | `/healthz` | the worker answers |

use std::rc::Rc;

use herdgate_core::wire::{QueueStatus, SaleState, SaleStatus};
use herdgate_core::{ChallengeClaims, ErrorCode, SaleId};
use serde::Serialize;
use worker::{Env, Method, Request, Response, Result};

use crate::api::{self, Body, Outcome};
use crate::config::{self, Config};
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::i18n::{self, Strings};
use crate::origin::{self, known_sale};
use crate::page::{self, Lane, LanePayment};
use crate::tokens;

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
            api::challenge::post(req, body, &env, &cfg, sale).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "join"]) => {
            api::join::post(req, body, &env, &cfg, sale).await
        }
        (Method::Get, ["api", "v1", "sales", sale, "status"]) => {
            api::status::get(req, &env, &cfg, sale).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "hold"]) => {
            api::hold::post(req, body, &env, &cfg, sale).await
        }
        (Method::Get, ["api", "v1", "sales", sale, "hold"]) => {
            api::hold::get(req, &env, &cfg, sale).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "purchase"]) => {
            api::purchase::post(req, body, &env, &cfg, sale).await
        }
        (Method::Get, ["api", "v1", "sales", sale]) => api::sale::get(&env, &cfg, sale).await,
        (Method::Get | Method::Post, ["admin", "v1", "sales", sale, "control"]) => {
            api::admin::control(req, body, &env, &cfg, sale).await
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
        Ok((ticket, _)) => Some(api::status::queue_status(env, cfg, &ticket, now).await?),
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
                let (ticket, token) = api::join::enqueue(env, cfg, claims, now).await?;
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
    let status = api::status::queue_status(env, cfg, &ticket, now).await?;
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
    let input = api::hold::HoldInput {
        payment_method: None,
        card: Some(card),
    };
    let (answer, held) = match api::hold::hold_for(&req, env, cfg, &sale, input).await {
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
    api::hold::set_cookies(&mut resp, &req, cfg, &held, &answer)?;
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
    let (status, text) = api::purchase::settle(&req, Vec::new(), env, cfg, &sale).await?;
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
