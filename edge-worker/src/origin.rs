//! The origin client: everything the edge asks `herdgate-origin`.
//!
//! A sale's public state (read through the isolate's cache, so the origin sees about one
//! request per isolate per `STATE_CACHE_MS`), admitted purchases, and gated pages requested
//! with a pass. Every request is bounded by `ORIGIN_TIMEOUT_MS`; a failure or a timeout is
//! logged here and reaches the buyer as `origin_unavailable`.

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

async fn fetch_sale(cfg: &Config, sale: &SaleId) -> Result<Option<SaleState>, Refusal> {
    let url = format!("{}/v1/sales/{sale}", cfg.origin_url);
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
    path: &str,
    bearer: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    send_json(cfg, Method::Post, path, bearer, proof, body).await
}

/// Sends `method` with the JSON `body` (none if empty) to the origin's `path` with `bearer`
/// (and the client's `proof`, if any): the origin's status and body.
async fn send_json(
    cfg: &Config,
    method: Method,
    path: &str,
    bearer: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    let url = format!("{}{path}", cfg.origin_url);
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
/// of the pass's key, which the origin verifies again; returns the origin's status and body.
pub(crate) async fn forward_purchase(
    cfg: &Config,
    sale: &SaleId,
    pass: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    post_json(
        cfg,
        &format!("/v1/sales/{sale}/purchase"),
        pass,
        proof,
        body,
    )
    .await
}

/// Forwards a seated sale's buyer request (`POST seat-holds`, `POST seat-holds/{hold}/confirm`,
/// `DELETE seat-holds/{hold}`: `route` below `/v1/sales/{sale}/`) with the pass (re-signed by
/// the edge) and the client's proof, which the origin verifies again for the same route;
/// returns the origin's status and body.
pub(crate) async fn forward_seats(
    cfg: &Config,
    method: Method,
    sale: &SaleId,
    route: &str,
    pass: &str,
    proof: Option<&str>,
    body: &[u8],
) -> Result<(u16, String), Refusal> {
    let path = format!("/v1/sales/{sale}/{route}");
    send_json(cfg, method, &path, pass, proof, body).await
}

/// A seated sale's seats as the origin reads them (`GET /v1/sales/{sale}/seats`), refused
/// `unknown_sale` or `not_seated` as the origin refuses them.
pub(crate) async fn fetch_seats(cfg: &Config, sale: &SaleId) -> Result<Availability, Refusal> {
    let url = format!("{}/v1/sales/{sale}/seats", cfg.origin_url);
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
pub(crate) async fn control_sale(
    cfg: &Config,
    sale: &SaleId,
    bearer: &str,
    body: &[u8],
) -> Result<Result<SaleState, (u16, String)>, Refusal> {
    let path = format!("/admin/v1/sales/{sale}/control");
    let (status, text) = post_json(cfg, &path, bearer, None, body).await?;
    if status == 200 {
        return serde_json::from_str::<SaleState>(&text)
            .map(Ok)
            .map_err(|_| Refusal(ErrorCode::OriginUnavailable));
    }
    Ok(Err((status, text)))
}

fn js_bytes(bytes: &[u8]) -> wasm_bindgen::JsValue {
    worker::js_sys::Uint8Array::from(bytes).into()
}

/// Forwards a gated page request that carries a valid pass: the origin's answer goes back
/// to the buyer as it is.
pub(crate) async fn forward_gated(
    req: &Request,
    cfg: &Config,
    pass: &str,
) -> Result<Response, Refusal> {
    let url = format!("{}{}", cfg.origin_url, req.path());
    let headers = worker::Headers::new();
    headers
        .set("authorization", &format!("Bearer {pass}"))
        .map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let forwarded = Request::new_with_init(&url, &init).map_err(internal)?;
    send(forwarded, cfg.origin_timeout_ms).await
}
