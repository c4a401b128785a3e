//! The routing table: every route of the worker and the handler it goes to. This file only
//! matches method and path; the handlers are in `api/` (JSON) and `pages/` (HTML).
//!
//! | method | path | handler | what |
//! |---|---|---|---|
//! | `GET` | `/sales/{sale}` and below | `pages::room::gated` | the waiting room (HTML, or JSON for `Accept: application/json`); below `/sales/{sale}`, with a valid pass, the request goes on to the origin |
//! | `POST` | `/api/v1/sales/{sale}/challenge` | `api::challenge::post` | a proof-of-work challenge bound to this client |
//! | `POST` | `/api/v1/sales/{sale}/join` | `api::join::post` | `{challenge, nonce}` → a queue ticket (JSON and cookie) |
//! | `GET` | `/api/v1/sales/{sale}/status` | `api::status::get` | queued / paused / admitted (with a pass) / sold out |
//! | `POST`, `GET` | `/api/v1/sales/{sale}/hold` | `api::hold::{post, get}` | put a card on hold for this place in line; where the hold stands (see [`crate::api::hold`]) |
//! | `POST` | `/api/v1/sales/{sale}/purchase` | `api::purchase::post` | forwarded to the origin only with a valid pass |
//! | `GET` | `/api/v1/sales/{sale}` | `api::sale::get` | the sale's public state, as this edge sees it |
//! | `GET` | `/api/v1/sales/{sale}/seats` | `api::seats::get` | a seated sale's seats by section, or one section's rows (`?section=`), with a pass |
//! | `POST` | `/api/v1/sales/{sale}/seat-holds` | `api::seats::hold` | hold seats, forwarded to the origin with a valid pass |
//! | `POST` | `/api/v1/sales/{sale}/seat-holds/{hold}/confirm` | `api::seats::confirm` | buy the held seats, likewise |
//! | `DELETE` | `/api/v1/sales/{sale}/seat-holds/{hold}` | `api::seats::release` | give them back, likewise |
//! | `GET` | `/api/v1/sales/{sale}/draw`, `…/draw/entries?shard=K&from=J` | `api::draw::{get, entries}` | the sale's pre-queue draw: commitment, tally, seed, entries with their places |
//! | `GET`, `POST` | `/admin/v1/sales/{sale}/control` | `api::admin::control` | read, pause, resume, set the admission rate (admin token) |
//! | `GET` | `/admin/v1/sales/{sale}/storage` | `api::admin::storage` | what the sale's objects store (admin token) |
//! | `GET` | `/admin/v1/sales/{sale}/counters` | `api::admin::counters` | what the edge counted for the sale (admin token) |
//! | `GET` | `/queue/{sale}` | `pages::lane::lane` | the no-JavaScript lane: a self-refreshing page that joins the line later than the page does |
//! | `POST` | `/queue/{sale}/buy` | `pages::lane::lane_buy` | the no-JavaScript lane's buy form |
//! | `POST` | `/queue/{sale}/seats`, `/queue/{sale}/seats/{hold}/confirm`, `…/release` | `pages::lane::lane_seats` | the no-JavaScript lane's seat forms (a seated sale: best available, buy, give back) |
//! | `GET`, `POST` | `/queue/{sale}/card`, `/queue/{sale}/hold` | `pages::lane::{lane_card, lane_hold}` | the no-JavaScript lane's card form, and where it posts (sales with card holds) |
//! | `GET` | `/healthz` | here | the worker answers |
//!
//! Every `POST` a browser can send with a buyer's cookies (the JSON API's and the no-JavaScript
//! lane's) is first checked for where it came from ([`http::same_origin`]); those that may
//! read a ticket or pass from a cookie must also declare a JSON body
//! ([`http::json_unless_bearer`]), or, on the lane, carry their form's token (`pages/lane.rs`).
//! A refused request reaches no handler, so it changes nothing.

use std::cell::Cell;
use std::future::Future;

use herdgate_core::{ErrorCode, SaleId};
use worker::{Env, Method, Request, Response, Result};

use crate::api::{self, Ctx};
use crate::cache;
use crate::config;
use crate::counters;
use crate::http::{self, Refusal};
use crate::pages;

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
    counters::switch(cfg.edge_counters);
    let path = req.path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let cx = Ctx::new(req, body, env, cfg);
    // A page's refusal is rendered as a page: its code is noted here first, to be counted.
    let page_refusal = Cell::new(None);
    let noted = |answer: api::Outcome| {
        page_refusal.set(answer.as_ref().err().map(|r| r.0));
        answer
    };
    let outcome = match (method.clone(), segments.as_slice()) {
        (Method::Get, ["healthz"]) => http::json(&serde_json::json!({"status": "ok"}), 200)
            .map_err(|_| Refusal(ErrorCode::Internal)),
        (Method::Get | Method::Head, ["sales", sale, ..]) => {
            let html = pages::wants_html(&cx.req);
            let lang = pages::language(&cx.req);
            let answer = noted(pages::room::gated(&cx, sale).await);
            pages::html_refusal(answer, html, lang, &cx.cfg, sale)
        }
        (Method::Get, ["queue", sale]) => {
            let lang = pages::language(&cx.req);
            let answer = noted(pages::lane::lane(&cx, sale, lang).await);
            pages::html_refusal(answer, true, lang, &cx.cfg, sale)
        }
        (Method::Post, ["queue", sale, "buy"]) => {
            let lang = pages::language(&cx.req);
            let answer = noted(from_this_site(&cx, pages::lane::lane_buy(&cx, sale, lang)).await);
            pages::html_refusal(answer, true, lang, &cx.cfg, sale)
        }
        (Method::Get, ["queue", sale, "card"]) => {
            let lang = pages::language(&cx.req);
            let answer = noted(pages::lane::lane_card(&cx, sale, lang, None).await);
            pages::html_refusal(answer, true, lang, &cx.cfg, sale)
        }
        (Method::Post, ["queue", sale, "seats"]) => {
            let lang = pages::language(&cx.req);
            let seats = pages::lane::lane_seats(&cx, sale, "", lang);
            let answer = noted(from_this_site(&cx, seats).await);
            pages::html_refusal(answer, true, lang, &cx.cfg, sale)
        }
        (Method::Post, ["queue", sale, "seats", hold, act @ ("confirm" | "release")]) => {
            let lang = pages::language(&cx.req);
            let act = format!("{hold}/{act}");
            let seats = pages::lane::lane_seats(&cx, sale, &act, lang);
            let answer = noted(from_this_site(&cx, seats).await);
            pages::html_refusal(answer, true, lang, &cx.cfg, sale)
        }
        (Method::Post, ["queue", sale, "hold"]) => {
            let lang = pages::language(&cx.req);
            let answer = noted(from_this_site(&cx, pages::lane::lane_hold(&cx, sale, lang)).await);
            pages::html_refusal(answer, true, lang, &cx.cfg, sale)
        }
        // A challenge reads no cookie: only where it came from is checked.
        (Method::Post, ["api", "v1", "sales", sale, "challenge"]) => {
            from_this_site(&cx, api::challenge::post(&cx, sale)).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "join"]) => {
            json_from_this_site(&cx, api::join::post(&cx, sale)).await
        }
        (Method::Get, ["api", "v1", "sales", sale, "status"]) => api::status::get(&cx, sale).await,
        (Method::Post, ["api", "v1", "sales", sale, "hold"]) => {
            json_from_this_site(&cx, api::hold::post(&cx, sale)).await
        }
        (Method::Get, ["api", "v1", "sales", sale, "hold"]) => api::hold::get(&cx, sale).await,
        (Method::Post, ["api", "v1", "sales", sale, "purchase"]) => {
            json_from_this_site(&cx, api::purchase::post(&cx, sale)).await
        }
        (Method::Get, ["api", "v1", "sales", sale]) => api::sale::get(&cx, sale).await,
        (Method::Get, ["api", "v1", "sales", sale, "seats"]) => api::seats::get(&cx, sale).await,
        (Method::Post, ["api", "v1", "sales", sale, "seat-holds"]) => {
            json_from_this_site(&cx, api::seats::hold(&cx, sale)).await
        }
        (Method::Post, ["api", "v1", "sales", sale, "seat-holds", hold, "confirm"]) => {
            json_from_this_site(&cx, api::seats::confirm(&cx, sale, hold)).await
        }
        (Method::Delete, ["api", "v1", "sales", sale, "seat-holds", hold]) => {
            from_this_site(&cx, api::seats::release(&cx, sale, hold)).await
        }
        (Method::Get, ["api", "v1", "sales", sale, "draw"]) => api::draw::get(&cx, sale).await,
        (Method::Get, ["api", "v1", "sales", sale, "draw", "entries"]) => {
            api::draw::entries(&cx, sale).await
        }
        (Method::Get | Method::Post, ["admin", "v1", "sales", sale, "control"]) => {
            api::admin::control(&cx, sale).await
        }
        (Method::Get, ["admin", "v1", "sales", sale, "storage"]) => {
            api::admin::storage(&cx, sale).await
        }
        (Method::Get, ["admin", "v1", "sales", sale, "counters"]) => {
            api::admin::counters(&cx, sale).await
        }
        (
            _,
            ["healthz"]
            | ["api", "v1", "sales", _, "challenge" | "join" | "status" | "hold" | "purchase" | "seats" | "seat-holds"]
            | ["api", "v1", "sales", _, "seat-holds", _]
            | ["api", "v1", "sales", _, "seat-holds", _, "confirm"]
            | ["api", "v1", "sales", _]
            | ["api", "v1", "sales", _, "draw"]
            | ["api", "v1", "sales", _, "draw", "entries"],
        )
        | (
            _,
            ["admin", "v1", "sales", _, "control" | "storage" | "counters"]
            | ["queue", _]
            | ["queue", _, "buy" | "card" | "hold" | "seats"]
            | ["queue", _, "seats", _, "confirm" | "release"],
        ) => Err(Refusal(ErrorCode::MethodNotAllowed)),
        _ => Err(Refusal(ErrorCode::NotFound)),
    };
    count(&segments, &outcome, page_refusal.get());
    match outcome {
        Ok(r) => Ok(r),
        Err(Refusal(code)) => http::refusal(code),
    }
}

/// Counts a request to a sale this isolate knows (`counters`): by route, with its refusal.
/// Requests for sales that do not exist are not counted, so made-up sale ids cost no memory.
fn count(segments: &[&str], outcome: &api::Outcome, page_refusal: Option<ErrorCode>) {
    if !counters::on() {
        return;
    }
    let (route, raw) = match segments {
        ["sales", sale, ..] => ("page", *sale),
        ["queue", sale, ..] => ("lane", *sale),
        ["api", "v1", "sales", sale] => ("sale", *sale),
        ["api", "v1", "sales", sale, "draw", ..] => ("draw", *sale),
        ["api", "v1", "sales", sale, route] => match *route {
            "challenge" => ("challenge", *sale),
            "join" => ("join", *sale),
            "status" => ("status", *sale),
            "hold" => ("hold", *sale),
            "purchase" => ("purchase", *sale),
            "seats" => ("seats", *sale),
            "seat-holds" => ("seat_holds", *sale),
            _ => return,
        },
        ["api", "v1", "sales", sale, "seat-holds", ..] => ("seat_holds", *sale),
        _ => return,
    };
    let Ok(sale) = SaleId::parse(raw) else {
        return;
    };
    if !cache::exists(&sale) {
        return;
    }
    let refusal = outcome.as_ref().err().map(|r| r.0).or(page_refusal);
    counters::request(&sale, route, refusal);
}

/// Runs `handler` only if the request did not come from another site ([`http::same_origin`]).
/// The handler's future has not started: a refusal here means it never runs.
async fn from_this_site(cx: &Ctx, handler: impl Future<Output = api::Outcome>) -> api::Outcome {
    http::same_origin(&cx.req)?;
    handler.await
}

/// Like [`from_this_site`], and the body must be declared JSON unless the request carries an
/// `Authorization` header ([`http::json_unless_bearer`]): for the routes that may read a ticket
/// or pass from a cookie, or set one.
async fn json_from_this_site(
    cx: &Ctx,
    handler: impl Future<Output = api::Outcome>,
) -> api::Outcome {
    http::same_origin(&cx.req)?;
    http::json_unless_bearer(&cx.req)?;
    handler.await
}
