//! The edge's tokens, verified and issued in one place: proof-of-work challenges, no-JavaScript
//! lane tokens (challenges of difficulty 0), queue tickets and admission passes, and the
//! cookies that carry them.
//!
//! The formats and the MACs are `herdgate-core`'s; this module adds what only the edge knows:
//! which cookie carries which token, how much clock skew to forgive, and whether the client
//! offering a token is the one it was issued to (`BIND_CLIENT`).

use herdgate_core::gate;
use herdgate_core::wire::QueueStatus;
use herdgate_core::{
    ChallengeClaims, Check, Claims, ErrorCode, Keyring, PassClaims, SaleId, TicketClaims,
    TokenError,
};
use worker::{Request, Response};

use crate::config::Config;
use crate::http::{self, internal, now_ms, Refusal};

/// Seconds of clock skew tolerated between edge locations on tickets and passes.
pub(crate) const LEEWAY_SECS: u64 = herdgate_core::CLOCK_LEEWAY_SECS;

/// The ticket cookie of a sale (set as `__Host-hg_tkt_{sale}`: see [`http::set_cookie`]).
pub fn ticket_cookie(sale: &str) -> String {
    format!("hg_tkt_{sale}")
}

/// The pass cookie of a sale (set as `__Host-hg_pass_{sale}`).
pub fn pass_cookie(sale: &str) -> String {
    format!("hg_pass_{sale}")
}

/// The cookie holding a visitor's no-JavaScript lane token for `sale` (set as
/// `__Host-hg_lane_{sale}`).
pub(crate) fn lane_cookie(sale: &str) -> String {
    format!("hg_lane_{sale}")
}

/// Verifies the request's token of kind `C` for `sale` (from `Authorization: Bearer`, or else
/// from `cookie`); which client offers it is [`same_client`]'s question. `missing` is the
/// refusal when there is no token; `refusal` names each verification failure.
fn verified<C: Claims>(
    req: &Request,
    keys: &Keyring,
    cookie: &str,
    sale: &SaleId,
    now: u64,
    (missing, refusal): (ErrorCode, fn(&TokenError) -> ErrorCode),
) -> Result<(C, String), Refusal> {
    let token = http::token(req, cookie).ok_or(Refusal(missing))?;
    let check = Check {
        sale,
        now: now / 1000,
        leeway: LEEWAY_SECS,
    };
    let claims: C = keys
        .verify(&token, &check)
        .map_err(|e| Refusal(refusal(&e)))?;
    Ok((claims, token))
}

/// Refuses a token whose client binding is not this request's (unless `BIND_CLIENT` is off).
pub(crate) fn same_client(req: &Request, cfg: &Config, client: &str) -> Result<(), Refusal> {
    if cfg.bind_client && client != http::client_binding(req) {
        return Err(Refusal(ErrorCode::ClientMismatch));
    }
    Ok(())
}

/// Verifies a solved challenge `token` for `sale` (with no leeway), issued to this client.
pub(crate) fn verified_challenge(
    req: &Request,
    cfg: &Config,
    sale: &SaleId,
    token: &str,
    now: u64,
) -> Result<ChallengeClaims, Refusal> {
    let check = Check {
        sale,
        now: now / 1000,
        leeway: 0,
    };
    let claims: ChallengeClaims = cfg
        .ticket_keys
        .verify(token, &check)
        .map_err(|e| Refusal(ErrorCode::for_challenge(&e)))?;
    same_client(req, cfg, &claims.client)?;
    Ok(claims)
}

/// The request's lane token for `sale`, issued to this client. It is read with leeway so a
/// token that is not valid yet still says when it will be; spending it checks the time.
pub(crate) fn lane_token(
    req: &Request,
    cfg: &Config,
    sale: &SaleId,
    now_s: u64,
) -> Option<(ChallengeClaims, String)> {
    let token = http::cookie(req, &lane_cookie(sale.as_str()))?;
    let check = Check {
        sale,
        now: now_s,
        leeway: cfg.nojs_delay_secs + 1,
    };
    let claims: ChallengeClaims = cfg.ticket_keys.verify(&token, &check).ok()?;
    let fits =
        claims.bits == 0 && claims.exp > now_s && same_client(req, cfg, &claims.client).is_ok();
    fits.then_some((claims, token))
}

/// Verifies the request's queue ticket for `sale`, bound to this client.
pub(crate) fn verified_ticket(
    req: &Request,
    cfg: &Config,
    sale: &SaleId,
    now: u64,
) -> Result<(TicketClaims, String), Refusal> {
    let cookie = ticket_cookie(sale.as_str());
    let (claims, token): (TicketClaims, String) = verified(
        req,
        &cfg.ticket_keys,
        &cookie,
        sale,
        now,
        (ErrorCode::MissingTicket, ErrorCode::for_ticket),
    )?;
    same_client(req, cfg, &claims.client)?;
    Ok((claims, token))
}

/// Verifies the request's admission pass for `sale`, bound to this client, with an id fit to
/// be stored.
pub(crate) fn verified_pass(
    req: &Request,
    cfg: &Config,
    sale: &SaleId,
    now: u64,
) -> Result<(PassClaims, String), Refusal> {
    let cookie = pass_cookie(sale.as_str());
    let (claims, token): (PassClaims, String) = verified(
        req,
        &cfg.pass_keys,
        &cookie,
        sale,
        now,
        (ErrorCode::MissingPass, ErrorCode::for_pass),
    )?;
    if !herdgate_core::ids::is_hex_id(&claims.id) {
        return Err(Refusal(ErrorCode::PassInvalidClaims));
    }
    same_client(req, cfg, &claims.client)?;
    Ok((claims, token))
}

/// The pass of an admitted ticket (see `herdgate_core::gate::pass::issue`): one id for every
/// pass of the ticket, valid from the start of the current time slice for `PASS_TTL_SECS`,
/// issued now by the runtime's clock.
pub(crate) fn issue_pass(cfg: &Config, ticket: &TicketClaims, now: u64) -> PassClaims {
    let terms = gate::pass::PassTerms {
        slice_secs: cfg.slice_secs,
        ttl_secs: cfg.pass_ttl_secs,
    };
    // The moment of issue, not the request's start: a join's own work must not count as the
    // buyer's time to press "buy".
    gate::pass::issue(ticket, now, now_ms(), terms)
}

/// Sets the pass cookie when `status` admits the buyer, so the page and the no-JavaScript lane
/// buy with it.
pub(crate) fn set_pass_cookie(
    resp: &mut Response,
    cfg: &Config,
    sale: &SaleId,
    status: &QueueStatus,
) -> Result<(), Refusal> {
    if let QueueStatus::Admitted { pass, .. } = status {
        http::set_cookie(resp, &pass_cookie(sale.as_str()), pass, cfg.pass_ttl_secs)
            .map_err(internal)?;
    }
    Ok(())
}
