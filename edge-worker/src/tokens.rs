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
use herdgate_core::wire::{ChallengeResponse, QueueStatus};
use herdgate_core::{
    ChallengeClaims, Check, Claims, ErrorCode, Keyring, PassClaims, SaleId, TicketClaims,
    TokenError,
};
use worker::{Request, Response};

use crate::config::Config;
use crate::http::{self, internal, now_ms, Refusal};
use crate::webcrypto;

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

thread_local! {
    /// Challenges issued by this isolate, as a rate (per second, decaying with a 1 s time
    /// constant) and when it was last updated (unix ms).
    static CHALLENGE_RATE: std::cell::Cell<(f64, u64)> = const { std::cell::Cell::new((0.0, 0)) };
}

/// This isolate's challenge rate per second at `now` (unix ms), counting one more challenge
/// if `count`.
pub(crate) fn challenge_rate(now: u64, count: bool) -> f64 {
    CHALLENGE_RATE.with(|c| {
        let (rate, at) = c.get();
        let dt = now.saturating_sub(at) as f64 / 1000.0;
        let next = rate * (-dt).exp() + if count { 1.0 } else { 0.0 };
        if count {
            c.set((next, now));
        }
        next
    })
}

/// Signs a challenge: the token and what the client needs to solve it.
pub(crate) fn issue_challenge(cfg: &Config, claims: &ChallengeClaims) -> ChallengeResponse {
    ChallengeResponse {
        challenge: cfg.ticket_keys.sign(claims),
        bits: claims.bits,
        expires_at: claims.exp,
    }
}

/// A token that verified, and what the request shows of being the token's holder.
#[derive(Debug)]
pub(crate) struct Held<C> {
    /// The token's claims.
    pub claims: C,
    /// The token as the request presented it.
    pub token: String,
    binding: Binding,
}

/// What a request shows of being a token's holder.
#[derive(Debug)]
enum Binding {
    /// It is: a lane token offered by the client it was issued to, or binding is off.
    Holder,
    /// A token bound to a key: its proof is read and verified only when the answer needs
    /// it, so a queued poll pays for neither.
    Keyed,
}

impl<C: Claims> Held<C> {
    /// Refuses unless the request proved it is the holder (verifying its proof now):
    /// `proof_required` without a proof, the proof's refusal for a bad one. What uses the
    /// place (a join, a pass, a card hold, a purchase) needs that.
    pub(crate) async fn proven(&self, req: &Request, now: u64) -> Result<(), Refusal> {
        match &self.binding {
            Binding::Holder => Ok(()),
            Binding::Keyed => {
                let proof = proof_header(req).ok_or(Refusal(ErrorCode::ProofRequired))?;
                verify_proof(req, &proof, Some(&self.token), Some(self.claims.jkt()), now)
                    .await
                    .map(|_| ())
            }
        }
    }
}

/// The request's address as a proof names it: without query and fragment.
fn proof_target(req: &Request) -> Result<String, Refusal> {
    let mut url = req.url().map_err(internal)?;
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.into())
}

/// The pass as the edge forwards it to the origin, and the client's proof (if any) that goes
/// along: re-signed with the time the edge received the request (`rcv`) and with the hash of
/// the pass the client's proof was made over (`ath`), so the origin verifies the client's
/// proof again.
pub(crate) fn forwarded_pass(
    req: &Request,
    cfg: &Config,
    pass: &PassClaims,
    token: &str,
    now: u64,
) -> (String, Option<String>) {
    let forwarded = cfg.pass_keys.sign(&PassClaims {
        rcv: now,
        ath: proof::token_hash(token),
        ..pass.clone()
    });
    (forwarded, proof_header(req))
}

/// The request's `DPoP` header, if any.
fn proof_header(req: &Request) -> Option<String> {
    req.headers().get(proof::PROOF_HEADER).ok().flatten()
}

/// Verifies the request's `DPoP` proof for this request, presenting `token` (if any), signed
/// by the key `jkt` (if known), and returns the key's thumbprint. `None` when the request
/// carries no proof.
pub(crate) async fn proof_of(
    req: &Request,
    token: Option<&str>,
    jkt: Option<&str>,
    now: u64,
) -> Result<Option<String>, Refusal> {
    match proof_header(req) {
        Some(proof) => verify_proof(req, &proof, token, jkt, now).await.map(Some),
        None => Ok(None),
    }
}

/// Verifies `proof` for this request, presenting `token` (if any), signed by the key `jkt`
/// (if known), and returns the key's thumbprint: its shape and claims by
/// `herdgate_core::proof`, its signature by the runtime's WebCrypto ([`webcrypto`]), in the
/// order `herdgate_core::proof::verify` keeps.
async fn verify_proof(
    req: &Request,
    proof: &str,
    token: Option<&str>,
    jkt: Option<&str>,
    now: u64,
) -> Result<String, Refusal> {
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
    let refused = |e: proof::ProofError| Refusal(ErrorCode::for_proof(&e));
    let parsed = proof::parse(proof.trim()).map_err(refused)?;
    webcrypto::verify(&parsed).await.map_err(refused)?;
    parsed.check(&expect).map(|p| p.jkt).map_err(refused)
}

/// What the request shows of being the holder of a verified token (see [`Held`]): checks
/// the client binding of a token without a key now; a key's proof waits until it is needed.
fn binding<C: Claims>(req: &Request, cfg: &Config, claims: &C) -> Result<Binding, Refusal> {
    if !cfg.bind_client {
        return Ok(Binding::Holder);
    }
    if claims.jkt().is_empty() {
        same_client(req, cfg, claims.client())?;
        return Ok(Binding::Holder);
    }
    Ok(Binding::Keyed)
}

/// Verifies the request's token of kind `C` for `sale` (from `Authorization: Bearer` or
/// `Authorization: DPoP`, or else from `cookie`); which client offers it is [`binding`]'s
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
pub(crate) async fn verified_challenge(
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
    let held = Held {
        binding: binding(req, cfg, &claims)?,
        claims,
        token: token.to_owned(),
    };
    held.proven(req, now).await?;
    Ok(held.claims)
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
    Ok(Held {
        binding: binding(req, cfg, &claims)?,
        claims,
        token,
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
    Ok(Held {
        binding: binding(req, cfg, &claims)?,
        claims,
        token,
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
