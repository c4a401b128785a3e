//! Step 4, wait (and step 5, admitted): `GET /api/v1/sales/{sale}/status` is answered from the
//! ticket and the isolate's cached sale state and admission control, without touching any
//! Durable Object while the copies are fresh. Once the admission frontier passes the ticket's
//! position the answer carries a pass. What to answer is `herdgate_core::gate::status`'s
//! decision; this file reads what it needs and signs the pass. For a sale with a pre-queue the
//! ticket's place is its place in the draw (`herdgate_core::gate::status::place`), and until
//! the draw is made the answer is `entered`.

use herdgate_core::draw::entry_digest;
use herdgate_core::gate::odds;
use herdgate_core::gate::status::{entered_poll_ms, place_with, standing, PollBounds, Standing};
use herdgate_core::wire::{QueueStatus, SaleStatus};
use herdgate_core::TicketClaims;
use worker::Env;

use crate::api::{Ctx, Outcome};
use crate::cache;
use crate::config::Config;
use crate::counters;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::sale_control;
use crate::origin::known_sale;
use crate::tokens;

/// Where the ticket's holder stands, from the ticket and the isolate's cached sale state and
/// control: no Durable Object and no origin request while the copies are fresh.
///
/// A pass is issued only once `prove` (awaited only then) says the request is the ticket's
/// holder (see `tokens::Held::proven`): an admitted ticket bound to a key, presented without a
/// good proof of that key, is refused, so a copied ticket never becomes a pass. A queued poll
/// verifies no proof.
pub(crate) async fn queue_status(
    env: &Env,
    cfg: &Config,
    ticket: &TicketClaims,
    now: u64,
    prove: impl std::future::Future<Output = std::result::Result<(), Refusal>>,
) -> std::result::Result<QueueStatus, Refusal> {
    let state = known_sale(cfg, &ticket.sale, now).await?;
    // A sold-out sale is answered without asking for its control.
    if state.status == SaleStatus::SoldOut {
        return Ok(QueueStatus::SoldOut);
    }
    let control = sale_control::control(env, cfg, &ticket.sale, &state, now).await?;
    let polls = PollBounds {
        min_ms: cfg.poll_min_ms,
        max_ms: cfg.poll_max_ms,
    };
    // With a pre-queue, the place is the draw's; until the draw is made, the entry waits.
    let Some(position) = place_with(&state, &control, ticket.position, |tally| {
        cache::draw(&state, tally)
    }) else {
        let draw = state
            .draw
            .as_ref()
            .ok_or_else(|| internal("a draw without a draw"))?;
        let entry = entry_digest(ticket.visitor.as_str());
        let poll_after_ms = entered_poll_ms(draw.closes_at_ms.saturating_sub(now), &entry, polls);
        return Ok(QueueStatus::Entered {
            entry,
            draw_at_ms: draw.closes_at_ms,
            commitment: draw.commitment.clone(),
            poll_after_ms,
        });
    };
    Ok(match standing(&state, &control, position, now, polls) {
        Standing::SoldOut => QueueStatus::SoldOut,
        Standing::Admit => {
            prove.await?;
            let pass = tokens::issue_pass(cfg, ticket, now);
            counters::pass(&ticket.sale);
            QueueStatus::Admitted {
                position,
                pass_expires_at: pass.exp,
                pass: cfg.pass_keys.sign(&pass),
            }
        }
        Standing::Paused { poll_after_ms } => QueueStatus::Paused {
            position,
            poll_after_ms,
        },
        Standing::Queued {
            ahead,
            eta_ms,
            poll_after_ms,
        } => {
            let admitted = control.schedule.frontier(now);
            let c = control.conversion_ppm;
            QueueStatus::Queued {
                position,
                ahead,
                eta_ms,
                poll_after_ms,
                remaining: Some(state.remaining),
                chance_pct: Some(odds::chance_pct(
                    c,
                    admitted,
                    state.sold + state.cancelled,
                    state.unsold(),
                    ahead,
                )),
                stock_covered: control.schedule.capped(now),
            }
        }
    })
}

/// `GET /api/v1/sales/{sale}/status`: where the ticket's holder stands, with a pass (and its
/// cookie) once admitted.
pub(crate) async fn get(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let held = tokens::verified_ticket(req, cfg, &sale, now)?;
    let status = queue_status(env, cfg, &held.claims, now, held.proven(req, now)).await?;
    let mut resp = http::json(&status, 200).map_err(internal)?;
    tokens::set_pass_cookie(&mut resp, cfg, &sale, &status)?;
    Ok(resp)
}
