//! Card holds taken while the buyer queues.
//!
//! `POST /api/v1/sales/{sale}/hold` with the queue ticket and either a payment method id
//! (`{"payment_method": "pm_…"}`, what a processor's own card form or mobile SDK returns) or
//! card details (`{"card": {"number", "exp_month", "exp_year", "cvc"}}`, what the waiting
//! room's form sends) authorises the sale's price times its per-visitor limit on the card,
//! without taking it (a manual-capture PaymentIntent). The hold is registered at the ticket's
//! queue shard, which releases it if it does not buy (see [`crate::objects::queue_shard`]),
//! and its id goes into a re-signed ticket, so every pass the ticket earns carries it and the
//! origin captures exactly that hold. The origin never sees the crowd's holds, only the
//! winners'.
//!
//! `GET /api/v1/sales/{sale}/hold` tells the ticket's holder where their hold stands: on hold,
//! charged, or released.
//!
//! Card details pass through the worker in memory only, on their way to the processor: they
//! are never logged, stored or put in a token.

use herdgate_core::wire::{HoldResponse, HoldState, HoldView, SaleStatus};
use herdgate_core::{ErrorCode, TicketClaims};
use herdgate_pay::card::CardInput;
use herdgate_pay::{Card, CardError, HoldRequest, PaymentGateway};
use serde::Deserialize;
use worker::Response;

use crate::api::status::queue_status;
use crate::api::{Ctx, Outcome};
use crate::config::Config;
use crate::counters;
use crate::http::{self, Refusal};
use crate::objects::join_limiter::{self, LimitRequest, LimitResponse};
use crate::objects::queue_shard::{self, HoldRecord, ShardRequest, ShardResponse};
use crate::origin;
use crate::payments;
use crate::tokens;

/// What a hold request names: a payment method id or card details (exactly one).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct HoldInput {
    #[serde(default)]
    pub(crate) payment_method: Option<String>,
    #[serde(default)]
    pub(crate) card: Option<CardInput>,
}

/// What a hold is asked on, once checked.
enum Method {
    /// A payment method id the processor already holds.
    Id(String),
    /// Card details, sent to the processor to make one.
    Card(Card),
}

/// The (year, month) of unix ms `now`, UTC.
fn year_month(now_ms: u64) -> (u16, u8) {
    // Days to civil date (H. Hinnant's algorithm), for dates after 1970.
    let z = (now_ms / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        u16::try_from(year).unwrap_or(u16::MAX),
        u8::try_from(month).unwrap_or(1),
    )
}

fn card_refusal(e: CardError) -> Refusal {
    Refusal(match e {
        CardError::Number => ErrorCode::CardNumberInvalid,
        CardError::Expiry => ErrorCode::CardExpiryInvalid,
        CardError::Cvc => ErrorCode::CardCvcInvalid,
    })
}

/// Margin after the last pass a ticket could earn has expired, ms: the origin accepts passes up
/// to its own clock leeway (5 s by default) late.
const PASS_GRACE_MS: u64 = 10_000;

/// By when a hold taken now for `ticket` is released if it does not buy: when the ticket and
/// any pass it could still earn have expired (plus [`PASS_GRACE_MS`]), or when the hold reaches
/// `HOLD_MAX_AGE_SECS`, whichever is first.
pub fn release_by_ms(cfg: &Config, ticket: &TicketClaims, authorised_ms: u64) -> u64 {
    let passes_end_ms =
        (ticket.exp + tokens::LEEWAY_SECS + cfg.pass_ttl_secs) * 1000 + PASS_GRACE_MS;
    passes_end_ms.min(authorised_ms + cfg.hold_max_age_secs * 1000)
}

/// Counts a card attempt of the ticket before anything reaches the processor: at its queue
/// shard (the place in line's limit, and the shard's share of the sale's hold budget; a spent
/// budget counts nothing and answers `holds_busy`), then at the join limiter of its network
/// (the device's and the network's limits). Card testing gets a few answers per place,
/// device and network, and new holds never use the part of the processor's rate limit that
/// captures and releases need.
async fn attempt(
    cx: &Ctx,
    sale: &herdgate_core::SaleId,
    ticket: &TicketClaims,
) -> Result<(), Refusal> {
    let Ctx { env, cfg, .. } = cx;
    let shard = queue_shard::shard_of_position(cfg, ticket.position)?;
    let per_second = f64::from(cfg.hold_create_rate) / f64::from(cfg.shards.max(1));
    let request = ShardRequest::HoldAttempt {
        position: ticket.position,
        per_ticket: cfg.hold_attempts.per_ticket,
        per_second,
    };
    match queue_shard::call(env, sale, shard, &request).await? {
        ShardResponse::Allowed => {}
        ShardResponse::Limited => return Err(Refusal(ErrorCode::HoldAttemptsExceeded)),
        ShardResponse::Busy => return Err(Refusal(ErrorCode::HoldsBusy)),
        other => return Err(http::internal(format!("unexpected shard answer {other:?}"))),
    }
    let limits = cfg.hold_attempts.place;
    if limits.per_device == 0 && limits.per_network == 0 {
        return Ok(());
    }
    let request = LimitRequest::HoldAttempt {
        sale: sale.to_string(),
        device: ticket.client.clone(),
        network: ticket.net.clone(),
        limits,
    };
    match join_limiter::call(env, cfg, sale, &ticket.net, &request).await? {
        LimitResponse::Allowed => Ok(()),
        LimitResponse::Limited { .. } => {
            // Refused by the device's or the network's limit: the place in line gets its
            // attempt back, and the sale's budget its token.
            let back = ShardRequest::HoldAttemptBack {
                position: ticket.position,
                per_second,
            };
            if let Err(Refusal(code)) = queue_shard::call(env, sale, shard, &back).await {
                worker::console_error!("could not give a card attempt back: {code}");
            }
            Err(Refusal(ErrorCode::HoldAttemptsExceeded))
        }
        other => Err(http::internal(format!(
            "unexpected limiter answer {other:?}"
        ))),
    }
}

/// `POST /api/v1/sales/{sale}/hold`.
pub(crate) async fn post(cx: &Ctx, raw: &str) -> Outcome {
    let body = cx.body()?;
    let sale = http::sale_id(raw)?;
    let input: HoldInput = http::parse(body)?;
    let (answer, held) = hold_for(cx, &sale, input).await?;
    let mut resp = http::json(&answer, 201).map_err(http::internal)?;
    set_cookies(&mut resp, &cx.cfg, &held, &answer)?;
    Ok(resp)
}

/// Sets the re-signed ticket cookie and, once admitted, the pass cookie of a hold's answer.
pub(crate) fn set_cookies(
    resp: &mut Response,
    cfg: &Config,
    held: &TicketClaims,
    answer: &HoldResponse,
) -> Result<(), Refusal> {
    let now_s = http::now_ms() / 1000;
    http::set_cookie(
        resp,
        &tokens::ticket_cookie(held.sale.as_str()),
        &answer.ticket,
        held.exp.saturating_sub(now_s),
    )
    .map_err(http::internal)?;
    tokens::set_pass_cookie(resp, cfg, &held.sale, &answer.status)
}

/// Puts `input` on hold for the request's ticket: the answer, and the re-signed ticket's
/// claims.
pub(crate) async fn hold_for(
    cx: &Ctx,
    sale: &herdgate_core::SaleId,
    input: HoldInput,
) -> Result<(HoldResponse, TicketClaims), Refusal> {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale.clone();
    let gateway = payments::gateway(cfg).ok_or(Refusal(ErrorCode::PaymentsDisabled))?;
    let now = http::now_ms();
    let held = tokens::verified_ticket(req, cfg, &sale, now)?;
    // A card hold is placed for the place's holder only: a copied ticket spends no attempt.
    held.proven(req, now).await?;
    let ticket = held.claims;
    let state = origin::known_sale(cfg, &sale, now).await?;
    if state.status == SaleStatus::SoldOut {
        return Err(Refusal(ErrorCode::SoldOut));
    }
    let price = state
        .price
        .clone()
        .ok_or(Refusal(ErrorCode::PaymentsDisabled))?;
    // Checked here first: a card that cannot be right never reaches the processor, nor
    // counts as an attempt.
    let method = match (input.payment_method, input.card) {
        (Some(pm), None) if herdgate_pay::is_payment_method_id(&pm) => Method::Id(pm),
        (None, Some(card)) => {
            Method::Card(Card::parse(&card, year_month(now)).map_err(card_refusal)?)
        }
        _ => return Err(Refusal(ErrorCode::InvalidPaymentMethod)),
    };
    attempt(cx, &sale, &ticket).await?;
    let payment_method = match method {
        Method::Id(pm) => pm,
        Method::Card(card) => {
            let key = format!("hg-pm-{}", http::random_hex(16)?);
            gateway
                .payment_method(&card, &key)
                .await
                .map_err(|e| payments::refusal(&e))?
        }
    };
    let amount = price.times(state.per_visitor_limit.max(1));
    let position = ticket.position.to_string();
    let key = format!("hg-hold-{sale}-{}-{payment_method}", ticket.visitor);
    let intent = gateway
        .hold(&HoldRequest {
            amount,
            currency: &price.currency,
            payment_method: &payment_method,
            idempotency_key: &key,
            metadata: &[
                ("herdgate_sale", sale.as_str()),
                ("herdgate_visitor", ticket.visitor.as_str()),
                ("herdgate_position", &position),
            ],
        })
        .await
        .map_err(|e| payments::refusal(&e))?;

    let release_by = release_by_ms(cfg, &ticket, now);
    let record = HoldRecord {
        intent: intent.id.clone(),
        visitor: ticket.visitor.to_string(),
        amount: intent.amount,
        currency: intent.currency.clone(),
        authorised_ms: now,
        release_by_ms: release_by,
        state: HoldState::OnHold,
        claimed_until_ms: 0,
        due_key: String::new(),
    };
    let register = ShardRequest::Hold {
        sale: sale.to_string(),
        position: ticket.position,
        record,
    };
    let shard = queue_shard::shard_of_position(cfg, ticket.position)?;
    match queue_shard::call(env, &sale, shard, &register).await {
        Ok(ShardResponse::Ok) => counters::hold(&sale),
        other => {
            // Not tracked, so nobody would release it: release it now.
            if let Err(e) = gateway
                .release(&intent.id, &format!("hg-release-{}", intent.id))
                .await
            {
                worker::console_error!("could not release an untracked hold: {e}");
            }
            return Err(match other {
                Err(r) => r,
                Ok(_) => Refusal(ErrorCode::Internal),
            });
        }
    }

    let held = TicketClaims {
        hold: intent.id.clone(),
        hat: now / 1000,
        ..ticket
    };
    let token = cfg.ticket_keys.sign(&held);
    let status = queue_status(env, cfg, &held, now, async { Ok(()) }).await?;
    let answer = HoldResponse {
        hold: HoldView {
            state: HoldState::OnHold,
            hold: intent.id,
            amount: intent.amount,
            currency: intent.currency,
            authorised_at_ms: now,
            release_by_ms: release_by,
        },
        ticket: token,
        status,
    };
    Ok((answer, held))
}

/// `GET /api/v1/sales/{sale}/hold`.
pub(crate) async fn get(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = http::sale_id(raw)?;
    let now = http::now_ms();
    let ticket = tokens::verified_ticket(req, cfg, &sale, now)?.claims;
    if ticket.hold.is_empty() {
        return Err(Refusal(ErrorCode::NoHold));
    }
    let shard = queue_shard::shard_of_position(cfg, ticket.position)?;
    let ask = ShardRequest::HoldState {
        position: ticket.position,
    };
    let record = match queue_shard::call(env, &sale, shard, &ask).await? {
        ShardResponse::HoldState {
            record: Some(record),
        } => record,
        _ => return Err(Refusal(ErrorCode::NoHold)),
    };
    let view = HoldView {
        state: record.state,
        hold: record.intent,
        amount: record.amount,
        currency: record.currency,
        authorised_at_ms: record.authorised_ms,
        release_by_ms: record.release_by_ms,
    };
    let mut resp: Response = http::json(&view, 200).map_err(http::internal)?;
    resp.headers_mut()
        .set("cache-control", "no-store")
        .map_err(http::internal)?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::year_month;

    #[test]
    fn year_and_month_of_unix_ms() {
        assert_eq!(year_month(0), (1970, 1));
        // 2026-11-23T21:51:36Z
        assert_eq!(year_month(1_795_470_696_000), (2026, 11));
        // 2024-02-29T23:59:59Z and the next second
        assert_eq!(year_month(1_709_251_199_000), (2024, 2));
        assert_eq!(year_month(1_709_251_200_000), (2024, 3));
    }
}
