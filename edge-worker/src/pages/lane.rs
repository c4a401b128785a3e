//! The no-JavaScript lane: `/queue/{sale}` takes a visitor from arrival to admission without
//! any script, `/queue/{sale}/card` and `/queue/{sale}/hold` put a card on hold in sales that
//! take card holds, and `/queue/{sale}/buy` buys. Every page is rendered by
//! [`crate::pages::render::lane()`].
//!
//! The two forms (buy, card) carry a token bound to the visitor whose ticket or pass they act
//! with (`herdgate_core::gate::csrf`), and their posts are refused (`cross_site_request`)
//! without it before anything is done, so another site cannot make a visitor's browser buy
//! or put a card on hold. `routes.rs` checks where a post came from before it gets here.

use herdgate_core::gate;
use herdgate_core::gate::csrf::{self, LaneForm};
use herdgate_core::wire::{QueueStatus, SaleStatus};
use herdgate_core::{ChallengeClaims, ErrorCode, SaleId, VisitorId};
use worker::Response;

use crate::api::{self, Ctx, Outcome};
use crate::config::Config;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::origin::known_sale;
use crate::pages::i18n::Strings;
use crate::pages::render::{self, Lane, LanePayment, FORM_TOKEN_FIELD};
use crate::pages::{html, lane_url};
use crate::tokens;

/// The value of field `name` of a form post's body; empty if absent.
fn form_field(body: &[u8], name: &str) -> String {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Refuses (`cross_site_request`) a post of `form` whose body does not carry the token the
/// lane's page put in that form for `visitor`.
fn check_form_token(
    cfg: &Config,
    body: &[u8],
    form: LaneForm,
    sale: &SaleId,
    visitor: &VisitorId,
) -> Result<(), Refusal> {
    let token = form_field(body, FORM_TOKEN_FIELD);
    if csrf::form_token_matches(&cfg.ticket_keys, form, sale, visitor, &token) {
        Ok(())
    } else {
        Err(Refusal(ErrorCode::CrossSiteRequest))
    }
}

/// What the lane says of the buyer's card in a sale that takes card holds: a link to the card
/// form, or the hold (`hold`, the pass's; `""` for none).
fn lane_payment(
    cfg: &Config,
    sale: &SaleId,
    state: &herdgate_core::wire::SaleState,
    hold: &str,
) -> LanePayment {
    match (&cfg.payments, &state.price) {
        (Some(_), Some(price)) if !hold.is_empty() => LanePayment::Held {
            amount: render::money(price.times(state.per_visitor_limit.max(1)), &price.currency),
        },
        (Some(_), Some(_)) => LanePayment::Offer {
            card_url: format!("/queue/{sale}/card"),
        },
        _ => LanePayment::None,
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
pub(crate) async fn lane(cx: &Ctx, raw: &str, t: &Strings) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let now_s = now / 1000;
    let state = known_sale(cfg, &sale, now).await?;
    let self_url = lane_url(req, &sale);
    let buy_url = format!("/queue/{sale}/buy");
    let payment = |hold: Option<&str>| lane_payment(cfg, &sale, &state, hold.unwrap_or(""));
    let show = |view: Lane, refresh: Option<u64>, payment: LanePayment| {
        html(
            render::lane(
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
    // What an admitted visitor sees: the buy form or, in a seated sale, the seat form (best
    // available only) or their hold, whose page refreshes when the hold runs out. The seats
    // are read only for an admitted visitor. The form's token is for the visitor of the pass
    // it acts with.
    let admitted = |visitor: VisitorId| {
        let form_token = csrf::form_token(&cfg.ticket_keys, LaneForm::Buy, &sale, &visitor);
        let buy_url = buy_url.clone();
        let state = &state;
        let sale = &sale;
        async move {
            if state.seated.is_none() {
                let view = Lane::Admitted {
                    buy_url,
                    form_token,
                };
                return Ok::<_, Refusal>((view, None));
            }
            let view = seat_view(cx, sale, state, None, true, now).await?;
            let refresh = match &view {
                Lane::SeatsHeld { left_secs, .. } => Some(left_secs + 1),
                _ => None,
            };
            Ok((view.with_token(form_token), refresh))
        }
    };
    // Tokens bound to a key are the JavaScript page's: they buy and get passes only with a
    // proof, which a form cannot carry. The lane ignores them and keeps a place of its own,
    // bound to the network and browser.
    if let Ok(held) = tokens::verified_pass(req, cfg, &sale, now) {
        if held.claims.jkt.is_empty() {
            let pass = held.claims;
            let (view, refresh) = admitted(pass.visitor.clone()).await?;
            return show(view, refresh, payment(Some(&pass.hold)));
        }
    }
    let (ticket, token, fresh) = match tokens::verified_ticket(req, cfg, &sale, now) {
        Ok(held) if held.claims.jkt.is_empty() => (held.claims, held.token, false),
        _ => match tokens::lane_token(req, cfg, &sale, now_s) {
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
                // A lane token is no solved challenge: no work is asked of it.
                match api::join::enqueue(env, cfg, claims, now, false).await? {
                    api::join::Enqueued::Ticket(ticket, token) => (ticket, token, true),
                    api::join::Enqueued::MoreWork(_) => {
                        return Err(internal("more work asked of a lane token"))
                    }
                }
            }
            None => {
                // With a pre-queue the line opens with it: a lane visitor who comes before the
                // draw's close less the delay enters the draw like everyone else.
                let opens = state
                    .draw
                    .as_ref()
                    .map_or(state.starts_at_ms, |d| d.opens_at_ms);
                let nbf = gate::lane::token_valid_from(now_s, opens, cfg.nojs_delay_secs);
                let reg = crate::origin::home_region(req, cfg, &state, now).await?;
                let claims = ChallengeClaims {
                    sale: sale.clone(),
                    id: http::random_hex(16)?,
                    client: http::client_binding(req),
                    bits: 0,
                    nbf,
                    exp: nbf + cfg.challenge_ttl_secs,
                    net: http::network_digest(req),
                    dev: String::new(),
                    // The lane holds no key: its place is bound to the network and browser.
                    jkt: String::new(),
                    hx: 0,
                    reg,
                };
                let in_secs = nbf - now_s;
                let mut resp = show(
                    Lane::Joining { in_secs },
                    Some(in_secs.max(1)),
                    LanePayment::None,
                )?;
                let max_age = nbf - now_s + cfg.challenge_ttl_secs;
                let token = cfg.ticket_keys.sign(&claims);
                http::set_cookie(&mut resp, &tokens::lane_cookie(raw), &token, max_age)
                    .map_err(internal)?;
                return Ok(resp);
            }
        },
    };
    // A lane ticket was checked against this client's binding as it was read.
    let status = api::status::queue_status(env, cfg, &ticket, now, async { Ok(()) }).await?;
    let refresh = |ms: u64| Some(ms.div_ceil(1000).max(cfg.nojs_refresh_secs));
    let held = payment(Some(&ticket.hold));
    let mut resp = match &status {
        QueueStatus::Queued {
            position,
            ahead,
            eta_ms,
            poll_after_ms,
            remaining,
            chance_pct,
            stock_covered,
        } => show(
            Lane::Waiting {
                position: *position,
                ahead: *ahead,
                eta_ms: *eta_ms,
                odds: remaining
                    .zip(*chance_pct)
                    .map(|(r, c)| (r, c, *stock_covered)),
            },
            refresh(*poll_after_ms),
            held,
        )?,
        QueueStatus::Entered {
            entry,
            draw_at_ms,
            poll_after_ms,
            ..
        } => show(
            Lane::Entered {
                draw_at_ms: *draw_at_ms,
                entry: entry.clone(),
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
        // A ticket's passes are for its visitor.
        QueueStatus::Admitted { .. } => {
            let (view, refresh) = admitted(ticket.visitor.clone()).await?;
            show(view, refresh, held)?
        }
        QueueStatus::SoldOut => show(Lane::SoldOut, None, LanePayment::None)?,
        other => return Err(internal(format!("the lane cannot show {other:?}"))),
    };
    if fresh {
        http::set_cookie(
            &mut resp,
            &tokens::ticket_cookie(sale.as_str()),
            &token,
            ticket.exp.saturating_sub(now_s),
        )
        .map_err(internal)?;
        // The lane token is spent: forget it.
        http::set_cookie(&mut resp, &tokens::lane_cookie(raw), "", 0).map_err(internal)?;
    }
    tokens::set_pass_cookie(&mut resp, cfg, &sale, &status)?;
    Ok(resp)
}

/// The no-JavaScript lane's card form: a page of its own that does not refresh while the buyer
/// types, for the holder of a ticket. `error`: why the previous card was not put on hold.
pub(crate) async fn lane_card(
    cx: &Ctx,
    raw: &str,
    t: &Strings,
    error: Option<ErrorCode>,
) -> Outcome {
    let Ctx { req, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    if cfg.payments.is_none() {
        return Err(Refusal(ErrorCode::PaymentsDisabled));
    }
    // The form puts a card on hold for this ticket, so its token is for the ticket's visitor.
    let now = now_ms();
    let held = tokens::verified_ticket(req, cfg, &sale, now)?;
    held.proven(req, now).await?;
    let ticket = held.claims;
    let view = Lane::Card {
        action: format!("/queue/{sale}/hold"),
        error,
        form_token: csrf::form_token(&cfg.ticket_keys, LaneForm::Hold, &sale, &ticket.visitor),
    };
    let status = error.map_or(200, |code| code.status());
    html(
        render::lane(
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

/// The card form's post (`number`, `exp` as MM/YY, `cvc`, and the form's token): puts the card
/// on hold for the ticket and goes back to the lane; a card the processor or the checks refuse
/// shows the form again with the reason. Without the form's token for the ticket's visitor it
/// is refused (`cross_site_request`) before the card goes anywhere.
pub(crate) async fn lane_hold(cx: &Ctx, raw: &str, t: &Strings) -> Outcome {
    let Ctx { req, cfg, .. } = cx;
    let body = cx.body()?;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let held = tokens::verified_ticket(req, cfg, &sale, now)?;
    held.proven(req, now).await?;
    let ticket = held.claims;
    check_form_token(cfg, body, LaneForm::Hold, &sale, &ticket.visitor)?;
    let field = |name: &str| form_field(body, name);
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
    let (answer, held) = match api::hold::hold_for(cx, &sale, input).await {
        Ok(done) => done,
        Err(Refusal(code)) if code.status() == 402 || code.status() == 422 => {
            return lane_card(cx, raw, t, Some(code)).await;
        }
        Err(refusal) => return Err(refusal),
    };
    let mut resp = Response::empty().map_err(internal)?.with_status(303);
    resp.headers_mut()
        .set("location", &lane_url(req, &sale))
        .map_err(internal)?;
    resp.headers_mut()
        .set("cache-control", "no-store")
        .map_err(internal)?;
    api::hold::set_cookies(&mut resp, cfg, &held, &answer)?;
    Ok(resp)
}

/// The no-JavaScript lane's buy form: buys with the pass cookie and shows the outcome. Without
/// the form's token for the pass's visitor it is refused (`cross_site_request`) before the
/// pass is claimed or anything reaches the origin.
pub(crate) async fn lane_buy(cx: &Ctx, raw: &str, t: &Strings) -> Outcome {
    let Ctx { req, cfg, .. } = cx;
    let body = cx.body()?;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let held = tokens::verified_pass(req, cfg, &sale, now)?;
    held.proven(req, now).await?;
    let pass = held.claims;
    check_form_token(cfg, body, LaneForm::Buy, &sale, &pass.visitor)?;
    let (status, text) = api::purchase::settle(cx, &[], &sale).await?;
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
    let self_url = lane_url(req, &sale);
    html(
        render::lane(
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

/// The cookie that remembers a lane visitor's seat hold in `sale` (set as
/// `__Host-hg_seats_{sale}`), for the page that shows it:
/// `<hold>:<expires_at_ms>:<amount>:<seat>.<seat>…`. Only shown, never trusted: the origin
/// checks that a hold confirmed or released is the pass's visitor's.
fn seats_cookie(sale: &str) -> String {
    format!("hg_seats_{sale}")
}

/// A hold as the lane's cookie remembers it: (id, expires at, amount, seats).
fn remembered_hold(
    req: &worker::Request,
    sale: &SaleId,
) -> Option<(String, u64, u64, Vec<String>)> {
    let value = http::cookie(req, &seats_cookie(sale.as_str()))?;
    let mut parts = value.splitn(4, ':');
    let id = parts
        .next()
        .filter(|id| api::seats::is_hold_id(id))?
        .to_owned();
    let expires = parts.next()?.parse().ok()?;
    let amount = parts.next()?.parse().ok()?;
    let seats = parts.next()?.split('.').map(str::to_owned).collect();
    Some((id, expires, amount, seats))
}

/// What a seated sale's admitted lane visitor sees (without the forms' token, which
/// [`Lane::with_token`] adds): their hold, if the cookie remembers a live one (and
/// `remembered`), or the best-available form with `error`.
async fn seat_view(
    cx: &Ctx,
    sale: &SaleId,
    state: &herdgate_core::wire::SaleState,
    error: Option<ErrorCode>,
    remembered: bool,
    now: u64,
) -> Result<Lane, Refusal> {
    let hold = remembered_hold(&cx.req, sale).filter(|_| remembered);
    if let Some((id, expires, amount, seats)) = hold {
        if expires > now {
            return Ok(Lane::SeatsHeld {
                seats,
                amount,
                left_secs: (expires - now) / 1000,
                confirm: format!("/queue/{sale}/seats/{id}/confirm"),
                release: format!("/queue/{sale}/seats/{id}/release"),
                form_token: String::new(),
            });
        }
    }
    let summary = api::seats::summary(&cx.cfg, sale, now).await?;
    Ok(Lane::ChooseSeats {
        action: format!("/queue/{sale}/seats"),
        form_token: String::new(),
        sections: summary
            .sections
            .iter()
            .filter(|s| s.free > 0)
            .map(|s| (s.id.clone(), s.free))
            .collect(),
        max: state.per_visitor_limit,
        error,
    })
}

/// The no-JavaScript lane's seat forms (`POST /queue/{sale}/seats`, `…/seats/{hold}/confirm`,
/// `…/seats/{hold}/release`): best available, then buy or give back, with the pass cookie.
/// Without the form's token for the pass's visitor a post is refused (`cross_site_request`)
/// before anything is done. A hold that worked, or a release, goes back to the lane with a
/// 303 (the lane's page shows the hold from its cookie); a refusal shows the form again with
/// the reason; a confirmation shows the order.
pub(crate) async fn lane_seats(cx: &Ctx, raw: &str, act: &str, t: &Strings) -> Outcome {
    let Ctx { req, cfg, .. } = cx;
    let body = cx.body()?;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let held = tokens::verified_pass(req, cfg, &sale, now)?;
    held.proven(req, now).await?;
    let visitor = held.claims.visitor.clone();
    let card = held.claims.hold.clone();
    check_form_token(cfg, body, LaneForm::Buy, &sale, &visitor)?;
    let (act, json) = match act.split_once('/') {
        None => {
            let count = form_field(body, "count").parse::<u32>().unwrap_or(0);
            let section = form_field(body, "section");
            let mut best = serde_json::json!({ "count": count });
            if !section.is_empty() {
                best["section"] = section.into();
            }
            let json = serde_json::json!({ "best": best }).to_string();
            (api::seats::Act::Hold, json)
        }
        Some((hold, "confirm")) => (api::seats::Act::Confirm(hold), String::new()),
        Some((hold, _)) => (api::seats::Act::Release(hold), String::new()),
    };
    let releasing = matches!(act, api::seats::Act::Release(_));
    let (status, text) = match api::seats::settle(cx, &sale, act, json.as_bytes()).await {
        Ok(answer) => answer,
        // The card refusals the edge gives by itself are shown on the form, as the origin's.
        Err(Refusal(code @ (ErrorCode::HoldRequired | ErrorCode::HoldExpired))) => (
            code.status(),
            serde_json::json!({"error": {"code": code, "message": code.message()}}).to_string(),
        ),
        Err(refusal) => return Err(refusal),
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let back = || -> Outcome {
        let mut resp = Response::empty().map_err(internal)?.with_status(303);
        let h = resp.headers_mut();
        h.set("location", &lane_url(req, &sale)).map_err(internal)?;
        h.set("cache-control", "no-store").map_err(internal)?;
        Ok(resp)
    };
    let self_url = lane_url(req, &sale);
    let page = |view: &Lane, status: u16, payment: &LanePayment| {
        html(
            render::lane(t, &cfg.brand, sale.as_str(), view, None, &self_url, payment),
            status,
        )
    };
    let forget = |resp: &mut Response| {
        http::set_cookie(resp, &seats_cookie(sale.as_str()), "", 0).map_err(internal)
    };
    // A hold (the origin's `SeatHold`), remembered for the lane's page as long as it lasts.
    let remember = |hold: &serde_json::Value| -> Outcome {
        let seats: Vec<String> = serde_json::from_value(hold["seats"].clone()).unwrap_or_default();
        let expires = hold["expires_at_ms"].as_u64().unwrap_or(now);
        let remembered = format!(
            "{}:{}:{}:{}",
            hold["hold"].as_str().unwrap_or_default(),
            expires,
            hold["amount"].as_u64().unwrap_or(0),
            seats.join(".")
        );
        let mut resp = back()?;
        http::set_cookie(
            &mut resp,
            &seats_cookie(sale.as_str()),
            &remembered,
            expires.saturating_sub(now) / 1000 + 1,
        )
        .map_err(internal)?;
        Ok(resp)
    };
    if status < 300 {
        if releasing {
            let mut resp = back()?;
            forget(&mut resp)?;
            return Ok(resp);
        }
        if let Some(order_id) = v["order"]["order_id"].as_str() {
            let mut resp = page(
                &Lane::Bought {
                    order_id: order_id.to_owned(),
                },
                200,
                &LanePayment::None,
            )?;
            forget(&mut resp)?;
            return Ok(resp);
        }
        return remember(&v);
    }
    let code = serde_json::from_value::<ErrorCode>(v["error"]["code"].clone())
        .unwrap_or(ErrorCode::Internal);
    if code == ErrorCode::SoldOut {
        return page(&Lane::SoldOut, 409, &LanePayment::None);
    }
    // Seats held already (the cookie was lost, or the JavaScript page held them): the
    // refusal names the hold, which the lane shows from now on.
    if code == ErrorCode::SeatHoldExists && v["hold"]["hold"].is_string() {
        return remember(&v["hold"]);
    }
    // Nothing held (or the hold is gone): the form again, with the reason.
    let state = known_sale(cfg, &sale, now).await?;
    let form_token = csrf::form_token(&cfg.ticket_keys, LaneForm::Buy, &sale, &visitor);
    let card_failed = matches!(
        code,
        ErrorCode::HoldRequired | ErrorCode::HoldExpired | ErrorCode::PaymentFailed
    );
    // A hold the origin no longer has is forgotten: a confirmation the card could not pay for
    // gave its seats back. The buyer puts a card on hold, then chooses again.
    let gone = card_failed || matches!(code, ErrorCode::SeatHoldExpired | ErrorCode::NoSeatHold);
    let view = seat_view(cx, &sale, &state, Some(code), !gone, now).await?;
    // A card that could not pay is offered again; the one on hold is shown.
    let card = if card_failed { "" } else { card.as_str() };
    let payment = lane_payment(cfg, &sale, &state, card);
    let mut resp = page(&view.with_token(form_token), status, &payment)?;
    if gone {
        forget(&mut resp)?;
    }
    Ok(resp)
}
