//! The origin client: everything the edge asks `herdgate-origin`.
//!
//! A sale's public state (read through the isolate's cache, so the origin sees about one
//! request per isolate per `STATE_CACHE_MS`), admitted purchases, and gated pages requested
//! with a pass. Every request is bounded by `ORIGIN_TIMEOUT_MS`; a failure or a timeout is
//! logged here and reaches the buyer as `origin_unavailable`.
//!
//! With regions (`REGIONS`), a sale's state is read from every region's origin at once and
//! merged (`herdgate_core::region::merge`); each region's copy is kept beside the merged one,
//! so the edge can tell a region out of stock for now from a sale sold out. A visitor's home
//! region ([`home_region`]) comes from `request.cf`; their purchases, seat holds and gated pages
//! go to that region's origin (the `reg` claim of their pass), and an operator's change of
//! admission goes to every region's.

use std::cell::RefCell;
use std::collections::HashMap;

use herdgate_core::region::{self, RegionCopy};
use herdgate_core::seats::Availability;
use herdgate_core::wire::SaleState;
use herdgate_core::{ErrorCode, SaleId};
use worker::{Method, Request, RequestInit, Response};

use crate::cache;
use crate::config::Config;
use crate::http::{self, internal, Refusal};

/// Sends `req` to the origin with a time limit.
pub async fn send(req: Request, timeout_ms: u64) -> Result<Response, Refusal> {
    match http::fetch_within(req, timeout_ms).await {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => {
            worker::console_error!("origin request failed: {e}");
            Err(Refusal(ErrorCode::OriginUnavailable))
        }
        None => {
            worker::console_error!("origin request timed out after {timeout_ms} ms");
            Err(Refusal(ErrorCode::OriginUnavailable))
        }
    }
}

thread_local! {
    /// Per sale, each region's copy as last read (with regions only).
    static COPIES: RefCell<HashMap<SaleId, Vec<RegionCopy>>> = RefCell::new(HashMap::new());
}

/// Each region's copy of `sale` as this isolate last read it (empty without regions, or before
/// the first read).
pub(crate) fn region_copies(sale: &SaleId) -> Vec<RegionCopy> {
    COPIES.with(|c| c.borrow().get(sale).cloned().unwrap_or_default())
}

/// Reads the sale from the one origin, or from every region's and merges the copies: a region
/// that does not answer counts with its last copy; `origin_unavailable` if none answers.
async fn fetch_sale(cfg: &Config, sale: &SaleId) -> Result<Option<SaleState>, Refusal> {
    let Some(regions) = &cfg.regions else {
        return fetch_one(cfg, &cfg.origin_url, sale).await;
    };
    let reads = futures_util::future::join_all(
        regions
            .origins
            .iter()
            .map(|(_, url)| fetch_one(cfg, url, sale)),
    )
    .await;
    if reads.iter().all(Result::is_err) {
        return Err(Refusal(ErrorCode::OriginUnavailable));
    }
    let before = region_copies(sale);
    let copies: Vec<RegionCopy> = regions
        .origins
        .iter()
        .zip(reads)
        .map(|((name, _), read)| match read {
            Ok(state) => RegionCopy {
                region: name.clone(),
                state,
                reachable: true,
            },
            Err(_) => RegionCopy {
                region: name.clone(),
                state: before
                    .iter()
                    .find(|c| c.region == *name)
                    .and_then(|c| c.state.clone()),
                reachable: false,
            },
        })
        .collect();
    let merged = region::merge(&copies);
    COPIES.with(|c| {
        let mut c = c.borrow_mut();
        // As `cache.rs` does: ids that name no sale anywhere go first, then everything.
        if c.len() >= cache::MAX_SALES && !c.contains_key(sale) {
            c.retain(|_, copies| copies.iter().any(|c| c.state.is_some()));
            if c.len() >= cache::MAX_SALES {
                c.clear();
            }
        }
        c.insert(sale.clone(), copies);
    });
    Ok(merged)
}

/// Reads the sale from every region again now, whatever the age of the isolate's copy, and
/// keeps what it read. Not through the cache: a refresh under way there may have started
/// before the answer that asks for this one.
pub(crate) async fn reread(cfg: &Config, sale: &SaleId, now: u64) {
    if let Ok(Some(state)) = fetch_sale(cfg, sale).await {
        cache::put_sale(sale, state, now);
    }
}

/// Notes that `region` sold its last item of `sale`: its copy says so until the next read.
/// If every region's copy then says sold out, they are read again (they were read a moment
/// ago, and a move out of `region` since may be in none of them), and the isolate's merged
/// copy says sold out only if the new copies do.
pub(crate) async fn region_sold_out(cfg: &Config, sale: &SaleId, home: &str, now: u64) {
    let all_out = COPIES.with(|c| {
        let mut c = c.borrow_mut();
        let Some(copies) = c.get_mut(sale) else {
            return false;
        };
        for copy in copies.iter_mut().filter(|c| c.region == home) {
            if let Some(s) = copy.state.as_mut() {
                s.remaining = 0;
            }
        }
        // (An item given by one region and not received by another, between two reads, is
        // on its way too.)
        region::in_flight(copies) == 0
            && copies.iter().all(|c| match &c.state {
                Some(s) => s.remaining == 0 && s.pending == 0 && s.moving == 0,
                // No such sale there; or, never read, not known.
                None => c.reachable,
            })
    });
    if all_out {
        reread(cfg, sale, now).await;
    }
}

/// The home region of the visitor asking for a place in `state`'s sale (empty without
/// regions), refused `not_sold_here` where the sale is not sold: outside the countries it
/// names, or in a region whose origin has no such sale. From `request.cf`'s country, then its
/// continent (`REGION_BY_COUNTRY`, `REGION_BY_CONTINENT`); a request without `cf` (not through
/// Cloudflare) counts as from nowhere known. A seated sale is sold in one region, the first
/// that has it: its seats are one map.
pub(crate) async fn home_region(
    req: &Request,
    cfg: &Config,
    state: &SaleState,
    now: u64,
) -> Result<String, Refusal> {
    let cf = req.cf();
    let country = cf.and_then(|cf| cf.country());
    let continent = cf.and_then(|cf| cf.continent());
    if !region::sold_to(&state.countries, country.as_deref()) {
        return Err(Refusal(ErrorCode::NotSoldHere));
    }
    let Some(regions) = &cfg.regions else {
        return Ok(String::new());
    };
    let mut copies = region_copies(&state.sale);
    if copies.is_empty() {
        // The isolate let go of them (many sales): read them again.
        reread(cfg, &state.sale, now).await;
        copies = region_copies(&state.sale);
    }
    if state.seated.is_some() {
        return match copies.iter().find(|c| c.state.is_some() || !c.reachable) {
            Some(c) if c.state.is_some() => Ok(c.region.clone()),
            Some(_) => Err(Refusal(ErrorCode::OriginUnavailable)),
            None => Err(Refusal(ErrorCode::UnknownSale)),
        };
    }
    let home = regions.map.home(country.as_deref(), continent.as_deref());
    match copies.iter().find(|c| c.region == home) {
        Some(c) if c.state.is_some() => Ok(home.to_owned()),
        // Its origin says it has no such sale: not sold there.
        Some(c) if c.reachable => Err(Refusal(ErrorCode::NotSoldHere)),
        // Never read: not known yet, not refused for good.
        _ => Err(Refusal(ErrorCode::OriginUnavailable)),
    }
}

/// GETs the sale's public state from the origin at `base`.
async fn fetch_one(cfg: &Config, base: &str, sale: &SaleId) -> Result<Option<SaleState>, Refusal> {
    let url = format!("{base}/v1/sales/{sale}");
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    let req = Request::new_with_init(&url, &init).map_err(|_| Refusal(ErrorCode::Internal))?;
    let mut resp = send(req, cfg.origin_timeout_ms).await?;
    match resp.status_code() {
        200 => resp
            .json::<SaleState>()
            .await
            .map(Some)
            .map_err(|_| Refusal(ErrorCode::OriginUnavailable)),
        404 => Ok(None),
        _ => Err(Refusal(ErrorCode::OriginUnavailable)),
    }
}

/// The sale's public state (`None`: the origin has no such sale), at most `STATE_CACHE_MS` old
/// unless the origin is unreachable and an older copy exists.
pub async fn sale(cfg: &Config, sale: &SaleId, now: u64) -> Result<Option<SaleState>, Refusal> {
    cache::sale(sale, now, cfg.state_cache_ms, fetch_sale(cfg, sale)).await
}

/// The sale's state, or a refusal if it does not exist.
pub(crate) async fn known_sale(
    cfg: &Config,
    sale: &SaleId,
    now: u64,
) -> Result<SaleState, Refusal> {
    self::sale(cfg, sale, now)
        .await?
        .ok_or(Refusal(ErrorCode::UnknownSale))
}

/// POSTs the JSON `body` to the origin's `path` with `bearer` (and the client's `proof`, if
/// any): the origin's status and body.
async fn post_json(
    cfg: &Config,
    base: &str,
    path: &str,
    bearer: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    send_json(cfg, base, Method::Post, path, bearer, proof, body).await
}

/// Sends `method` with the JSON `body` (none if empty) to `path` of the origin at `base`, with
/// `bearer` (and the client's `proof`, if any): the origin's status and body.
async fn send_json(
    cfg: &Config,
    base: &str,
    method: Method,
    path: &str,
    bearer: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    let url = format!("{base}{path}");
    let headers = worker::Headers::new();
    headers
        .set("authorization", &format!("Bearer {bearer}"))
        .map_err(internal)?;
    if let Some(proof) = proof {
        headers
            .set(herdgate_core::proof::PROOF_HEADER, proof)
            .map_err(internal)?;
    }
    let mut init = RequestInit::new();
    if !body.is_empty() {
        headers
            .set("content-type", "application/json")
            .map_err(internal)?;
        init.with_body(Some(js_bytes(body)));
    }
    init.with_method(method).with_headers(headers);
    let req = Request::new_with_init(&url, &init).map_err(internal)?;
    let mut resp = send(req, cfg.origin_timeout_ms).await?;
    let status = resp.status_code();
    let text = resp
        .text()
        .await
        .map_err(|_| Refusal(ErrorCode::OriginUnavailable))?;
    Ok((status, text))
}

/// Forwards an admitted purchase with its pass (re-signed by the edge) and the client's proof
/// of the pass's key, which the origin verifies again, to the origin of the pass's region
/// (`home`); returns the origin's status and body.
pub(crate) async fn forward_purchase(
    cfg: &Config,
    sale: &SaleId,
    home: &str,
    pass: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    post_json(
        cfg,
        cfg.origin_of(home),
        &format!("/v1/sales/{sale}/purchase"),
        pass,
        proof,
        body,
    )
    .await
}

/// Forwards a seated sale's buyer request (`POST seat-holds`, `POST seat-holds/{hold}/confirm`,
/// `DELETE seat-holds/{hold}`: `route` below `/v1/sales/{sale}/`) with the pass (re-signed by
/// the edge) and the client's proof, which the origin verifies again for the same route, to
/// the origin of the pass's region (`home`); returns the origin's status and body.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn forward_seats(
    cfg: &Config,
    method: Method,
    sale: &SaleId,
    home: &str,
    route: &str,
    pass: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    let path = format!("/v1/sales/{sale}/{route}");
    send_json(cfg, cfg.origin_of(home), method, &path, pass, proof, body).await
}

/// A seated sale's seats as the origin reads them (`GET /v1/sales/{sale}/seats`), refused
/// `unknown_sale` or `not_seated` as the origin refuses them. With regions, from the first
/// region that has the sale (a seated sale is sold there alone: [`home_region`]).
pub(crate) async fn fetch_seats(cfg: &Config, sale: &SaleId) -> Result<Availability, Refusal> {
    let home = region_copies(sale)
        .into_iter()
        .find(|c| c.state.is_some())
        .map(|c| c.region)
        .unwrap_or_default();
    let url = format!("{}/v1/sales/{sale}/seats", cfg.origin_of(&home));
    let mut init = RequestInit::new();
    init.with_method(Method::Get);
    let req = Request::new_with_init(&url, &init).map_err(internal)?;
    let mut resp = send(req, cfg.origin_timeout_ms).await?;
    match resp.status_code() {
        200 => resp
            .json::<Availability>()
            .await
            .map_err(|_| Refusal(ErrorCode::OriginUnavailable)),
        404 => Err(Refusal(ErrorCode::UnknownSale)),
        409 => Err(Refusal(ErrorCode::NotSeated)),
        _ => Err(Refusal(ErrorCode::OriginUnavailable)),
    }
}

/// Forwards an operator's change of admission to the origin, which holds the sale's settings,
/// with the operator's own bearer token (the origin checks it too). `Ok` carries the sale's
/// new public state; a refusal of the origin comes back as its status and body.
///
/// With regions, to every region's origin that has the sale, the first first: its refusal
/// comes back as it is, and its state is the answer. A change is a setting, so sending it
/// again is safe: a region that did not take it makes the answer `origin_unavailable`, and the
/// operator sends it again.
pub(crate) async fn control_sale(
    cfg: &Config,
    sale: &SaleId,
    bearer: &str,
    body: &[u8],
) -> Result<Result<SaleState, (u16, String)>, Refusal> {
    let path = format!("/admin/v1/sales/{sale}/control");
    let bases: Vec<&str> = match &cfg.regions {
        None => vec![cfg.origin_url.as_str()],
        Some(regions) => {
            let copies = region_copies(sale);
            regions
                .origins
                .iter()
                .filter(|(name, _)| {
                    copies.is_empty()
                        || copies
                            .iter()
                            .any(|c| c.region == *name && (c.state.is_some() || !c.reachable))
                })
                .map(|(_, url)| url.as_str())
                .collect()
        }
    };
    let mut answer = None;
    for base in bases {
        let (status, text) = post_json(cfg, base, &path, bearer, None, body).await?;
        if answer.is_none() {
            if status != 200 {
                return Ok(Err((status, text)));
            }
            answer = Some(
                serde_json::from_str::<SaleState>(&text)
                    .map_err(|_| Refusal(ErrorCode::OriginUnavailable))?,
            );
        } else if status != 200 && status != 404 {
            worker::console_error!("a region refused an operator's change: {status}");
            return Err(Refusal(ErrorCode::OriginUnavailable));
        }
    }
    let Some(first) = answer else {
        return Err(Refusal(ErrorCode::UnknownSale));
    };
    if cfg.regions.is_none() {
        return Ok(Ok(first));
    }
    // The answer is the sale over every region (the first region's state has its stock only).
    fetch_sale(cfg, sale)
        .await?
        .map(Ok)
        .ok_or(Refusal(ErrorCode::UnknownSale))
}

fn js_bytes(bytes: &[u8]) -> wasm_bindgen::JsValue {
    worker::js_sys::Uint8Array::from(bytes).into()
}

/// Forwards a gated page request that carries a valid pass to the origin of the pass's region
/// (`home`): the origin's answer goes back to the buyer as it is.
pub(crate) async fn forward_gated(
    req: &Request,
    cfg: &Config,
    home: &str,
    pass: &str,
) -> Result<Response, Refusal> {
    let url = format!("{}{}", cfg.origin_of(home), req.path());
    let headers = worker::Headers::new();
    headers
        .set("authorization", &format!("Bearer {pass}"))
        .map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let forwarded = Request::new_with_init(&url, &init).map_err(internal)?;
    send(forwarded, cfg.origin_timeout_ms).await
}
