//! Step 1, arrive: any gated URL (`/sales/{sale}` and below) without a valid pass gets the
//! waiting room, as a page or, for `Accept: application/json`, as JSON for apps; with a valid
//! pass a URL below `/sales/{sale}` goes on to the origin. `/sales/{sale}` itself is always
//! the waiting room: an admitted buyer who reloads it, or opens it in a second tab, finds
//! their buy button there.

use herdgate_core::wire::{QueueStatus, SaleState};
use herdgate_core::ErrorCode;
use serde::Serialize;

use crate::api::status::queue_status;
use crate::api::{Ctx, Outcome};
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::origin::{self, known_sale};
use crate::pages::{html, lane_url, language, render, wants_html};
use crate::tokens;

/// The waiting room as JSON, for apps: the sale, where the ticket's holder stands (if the
/// request carries a ticket), and where each step of the API is.
#[derive(Serialize)]
struct WaitingRoom {
    sale: SaleState,
    status: Option<QueueStatus>,
    challenge_url: String,
    join_url: String,
    status_url: String,
    purchase_url: String,
}

/// `GET`, `HEAD /sales/{sale}/...`: the waiting room, or, below `/sales/{sale}`, the
/// origin's page with a valid pass.
pub(crate) async fn gated(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let now = now_ms();
    // A valid pass opens the gate to what lies below the room: the request goes on.
    let below_the_room = req.path().trim_matches('/').split('/').count() > 2;
    if below_the_room {
        // A page is not a purchase: a navigation cannot carry a proof, so the pass opens the
        // pages below the room without one (buying still needs the key).
        if let Ok(held) = tokens::verified_pass(req, cfg, &sale, now) {
            return origin::forward_gated(req, cfg, &held.claims.reg, &held.token).await;
        }
    }
    let state = known_sale(cfg, &sale, now).await?;
    let status = match tokens::verified_ticket(req, cfg, &sale, now) {
        // An admitted ticket bound to a key gets its pass from a proven status request.
        Ok(held) => {
            match queue_status(env, cfg, &held.claims, now, held.proven(req, now)).await {
                Ok(status) => Some(status),
                // Without a good proof the room shows no status; the page's poll asks again
                // with one.
                Err(Refusal(
                    ErrorCode::ProofRequired
                    | ErrorCode::ProofInvalid
                    | ErrorCode::ProofExpired
                    | ErrorCode::ProofKeyMismatch,
                )) => None,
                Err(other) => return Err(other),
            }
        }
        Err(_) => None,
    };
    if !wants_html(req) {
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
    let t = language(req);
    html(
        render::room(
            t,
            &cfg.brand,
            &sale,
            &lane_url(req, &sale),
            cfg.payments.is_some() && state.price.is_some(),
            state.seated.is_some(),
        ),
        200,
    )
}
