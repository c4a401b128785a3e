//! The edge's tokens, verified and issued in one place: proof-of-work challenges, no-JavaScript
//! lane tokens (challenges of difficulty 0), queue tickets and admission passes, and the
//! cookies that carry them.
//!
//! The formats and the MACs are `herdgate-core`'s; this module adds what only the edge knows:
//! which cookie carries which token, how much clock skew to forgive, and whether the client
//! offering a token is the one it was issued to (`BIND_CLIENT`): for a token bound to a key,
//! whether the request carries a proof signed by that key (`herdgate_core::proof`); for a
//! token of the no-JavaScript lane, whether the request's network and browser digest is the
//! one the token carries.

use herdgate_core::gate;
use herdgate_core::proof::{self, Expect, Target};
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

/// A token that verified, and whether the request proved it is the token's holder.
#[derive(Debug)]
pub(crate) struct Held<C> {
    /// The token's claims.
    pub claims: C,
    /// The token as the request presented it.
    pub token: String,
    /// Whether the request is the holder's: it carries a good proof signed by the token's key
    /// (a token bound to a key), or it comes from the client the token was issued to (a lane
    /// token), or binding is off. A token bound to a key, presented without any proof, is not
    /// proven; with a bad proof it is refused outright.
    proven: bool,
}

impl<C> Held<C> {
    /// Refuses with `proof_required` unless the request proved it is the holder: what uses
    /// the place (a join, a pass, a card hold, a purchase) needs that.
    pub(crate) fn proven(&self) -> Result<(), Refusal> {
        if self.proven {
            Ok(())
        } else {
            Err(Refusal(ErrorCode::ProofRequired))
        }
    }

    /// Whether the request proved it is the holder.
    pub(crate) fn is_proven(&self) -> bool {
        self.proven
    }
}

/// The request's address as a proof names it: without query and fragment.
fn proof_target(req: &Request) -> Result<String, Refusal> {
    let mut url = req.url().map_err(internal)?;
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.into())
}

/// Verifies the request's `DPoP` proof for this request, presenting `token` (if any), signed
/// by the key `jkt` (if known), and returns the key's thumbprint. `None` when the request
/// carries no proof.
pub(crate) fn proof_of(
    req: &Request,
    token: Option<&str>,
    jkt: Option<&str>,
    now: u64,
) -> Result<Option<String>, Refusal> {
    let Some(proof) = req.headers().get(proof::PROOF_HEADER).ok().flatten() else {
        return Ok(None);
    };
    let target = proof_target(req)?;
    let ath = token.map(proof::token_hash);
    let method = req.method();
    let expect = Expect {
        method: method.as_ref(),
        target: Target::Exact(&target),
        ath: ath.as_deref(),
        key: jkt,
        now: now / 1000,
    };
    proof::verify(proof.trim(), &expect)
        .map(|p| Some(p.jkt))
        .map_err(|e| Refusal(ErrorCode::for_proof(&e)))
}

/// Whether the request is the holder of a verified token (see [`Held`]): checks the proof
/// of a token bound to a key, or the client binding of one that is not.
fn holder<C: Claims>(
    req: &Request,
    cfg: &Config,
    claims: &C,
    token: &str,
    now: u64,
) -> Result<bool, Refusal> {
    if !cfg.bind_client {
        return Ok(true);
    }
    if claims.jkt().is_empty() {
        same_client(req, cfg, claims.client())?;
        return Ok(true);
    }
    Ok(proof_of(req, Some(token), Some(claims.jkt()), now)?.is_some())
}

/// Verifies the request's token of kind `C` for `sale` (from `Authorization: Bearer` or
/// `Authorization: DPoP`, or else from `cookie`); which client offers it is [`holder`]'s
/// question. `missing` is the refusal when there is no token; `refusal` names each
/// verification failure.
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

/// Verifies a solved challenge `token` for `sale` (with no leeway), offered by its holder:
/// with a proof signed by its key, presenting it.
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
    if !holder(req, cfg, &claims, token, now)? {
        return Err(Refusal(ErrorCode::ProofRequired));
    }
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
    let fits = claims.bits == 0
        && claims.jkt.is_empty()
        && claims.exp > now_s
        && same_client(req, cfg, &claims.client).is_ok();
    fits.then_some((claims, token))
}

/// Verifies the request's queue ticket for `sale`, offered by its holder (see [`Held`]).
pub(crate) fn verified_ticket(
    req: &Request,
    cfg: &Config,
    sale: &SaleId,
    now: u64,
) -> Result<Held<TicketClaims>, Refusal> {
    let cookie = ticket_cookie(sale.as_str());
    let (claims, token): (TicketClaims, String) = verified(
        req,
        &cfg.ticket_keys,
        &cookie,
        sale,
        now,
        (ErrorCode::MissingTicket, ErrorCode::for_ticket),
    )?;
    let proven = holder(req, cfg, &claims, &token, now)?;
    Ok(Held {
        claims,
        token,
        proven,
    })
}

/// Verifies the request's admission pass for `sale`, offered by its holder (see [`Held`]),
/// with an id fit to be stored.
pub(crate) fn verified_pass(
    req: &Request,
    cfg: &Config,
    sale: &SaleId,
    now: u64,
) -> Result<Held<PassClaims>, Refusal> {
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
    let proven = holder(req, cfg, &claims, &token, now)?;
    Ok(Held {
        claims,
        token,
        proven,
    })
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
