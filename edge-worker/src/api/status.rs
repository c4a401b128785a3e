//! Step 4, wait (and step 5, admitted): `GET /api/v1/sales/{sale}/status` is answered from the
//! ticket and the isolate's cached sale state and admission control, without touching any
//! Durable Object while the copies are fresh. Once the admission frontier passes the ticket's
//! position the answer carries a pass.

use herdgate_core::wire::{QueueStatus, SaleStatus};
use herdgate_core::TicketClaims;
use worker::Env;

use crate::api::{Ctx, Outcome};
use crate::config::Config;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::sale_control;
use crate::origin::known_sale;
use crate::tokens;

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

/// `GET /api/v1/sales/{sale}/status`: where the ticket's holder stands, with a pass (and its
/// cookie) once admitted.
pub(crate) async fn get(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let (ticket, _) = tokens::verified_ticket(req, cfg, &sale, now)?;
    let status = queue_status(env, cfg, &ticket, now).await?;
    let mut resp = http::json(&status, 200).map_err(internal)?;
    tokens::set_pass_cookie(&mut resp, req, cfg, &sale, &status)?;
    Ok(resp)
}
