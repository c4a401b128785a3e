//! What several routes check before they do anything, as axum extractors: the sale in the
//! path ([`SaleParam`]), the operator's token ([`AdminAuth`]), the buyer's admission pass
//! ([`VerifiedPass`]) and a JSON body ([`JsonBody`], [`JsonOrEmpty`]). Each refuses with the
//! [`Refusal`] the handlers return, so every route refuses the same thing the same way.
//!
//! The body is read from the network in one place, [`read_body`], which the router runs on every
//! request before the request takes an in-flight slot: in full, within the size limit and the
//! time limit. The body extractors only parse what it read, so they take no time and can come
//! in any order among the others; a handler takes the extractors in the order its refusals
//! win, and axum answers the first refusal.
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use herdgate_core::proof::{self, Expect, Target};
use herdgate_core::{Check, ErrorCode, PassClaims, SaleId};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::clock;
use crate::error::Refusal;
use crate::state::AppState;

/// The `{sale}` of the path, a valid sale id; otherwise `invalid_sale_id`.
#[derive(Debug, Clone)]
pub struct SaleParam(pub SaleId);

impl<S: Send + Sync> FromRequestParts<S> for SaleParam {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        let raw = path_param(parts, state, "sale")
            .await
            .ok_or(Refusal(ErrorCode::InvalidSaleId))?;
        SaleId::parse(&raw)
            .map(SaleParam)
            .map_err(|_| Refusal(ErrorCode::InvalidSaleId))
    }
}

/// The `{hold}` of the path: a seat hold's id, 32 hex digits; otherwise `no_seat_hold` (no
/// hold has such an id).
#[derive(Debug, Clone)]
pub struct HoldParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for HoldParam {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Refusal> {
        match path_param(parts, state, "hold").await {
            Some(id) if id.len() == 32 && herdgate_core::ids::is_hex_id(&id) => Ok(HoldParam(id)),
            _ => Err(Refusal(ErrorCode::NoSeatHold)),
        }
    }
}

/// The path parameter `name`, decoded.
async fn path_param<S: Send + Sync>(parts: &mut Parts, state: &S, name: &str) -> Option<String> {
    let params = axum::extract::RawPathParams::from_request_parts(parts, state)
        .await
        .ok()?;
    let value = params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned());
    value
}

/// The operator: the request carries the admin bearer token, or the cookie of a live console
/// session (`routes/console.rs`); otherwise `unauthorized`. A session's request that may
/// change something (any method but `GET` and `HEAD`) must also carry the session's CSRF
/// token in `X-CSRF-Token`; otherwise `csrf_required`. A bearer token, which a browser never
/// sends by itself, needs none.
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

/// The console session's cookie.
pub const SESSION_COOKIE: &str = "herdgate_console";

/// The header a console page sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Refusal> {
        if let Some(token) = bearer(&parts.headers) {
            return match app.inner.admin_token.matches(token) {
                true => Ok(AdminAuth),
                false => Err(Refusal(ErrorCode::Unauthorized)),
            };
        }
        let csrf = console_session(&parts.headers, app)
            .await?
            .ok_or(Refusal(ErrorCode::Unauthorized))?;
        if parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD {
            return Ok(AdminAuth);
        }
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        match same_secret(sent, &csrf) {
            true => Ok(AdminAuth),
            false => Err(Refusal(ErrorCode::CsrfRequired)),
        }
    }
}

/// Whether `headers` carry the admin bearer token.
pub fn is_admin(headers: &HeaderMap, token: &crate::config::AdminToken) -> bool {
    bearer(headers).is_some_and(|t| token.matches(t))
}

/// The CSRF token of the live console session whose cookie `headers` carry, if any. A session
/// is kept as `<csrf>.<token fingerprint>`: one made with an admin token this origin no longer
/// has (a rotation) is no session.
pub async fn console_session(
    headers: &HeaderMap,
    app: &AppState,
) -> Result<Option<String>, Refusal> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(kept) = app.inner.store.session(&session_digest(id)).await? else {
        return Ok(None);
    };
    Ok(kept
        .rsplit_once('.')
        .filter(|(_, fp)| same_secret(fp, &app.inner.admin_token.fingerprint()))
        .map(|(csrf, _)| csrf.to_owned()))
}

/// The key a session is kept under: the SHA-256 (hex) of its cookie's value, so what Redis
/// holds cannot be replayed as a cookie.
pub fn session_digest(cookie_value: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(cookie_value.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    use sha2::Digest as _;
    use subtle::ConstantTimeEq as _;
    if b.is_empty() {
        return false;
    }
    let (a, b) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    bool::from(a.ct_eq(&b))
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// An admission pass for the path's sale, verified now: signed by a key of the keyring, for
/// this sale, within its validity window (with the configured leeway), with claims that may
/// be written to Redis as they are (hex pass id and digests), and, for a pass bound to a key,
/// offered with a proof signed by that key (`DPoP`, see `herdgate_core::proof`) for this
/// request (its method, and its route, which the edge's address ends with: a purchase, or a
/// seat hold's call), made over the pass the client presented: the edge forwards the
/// client's proof, and the hash of the pass it was made over (`ath`) in the pass it re-signs.
/// A pass sent straight here is no bearer token either.
///
/// Refusals, first wins: `invalid_sale_id` (the path), `missing_pass` (no bearer token), the
/// pass's own refusal (`ErrorCode::for_pass`), `pass_invalid_claims`, `pass_wrong_region` (a
/// pass of another region than this origin's `--region`), `proof_required`, the
/// proof's own refusal (`ErrorCode::for_proof`).
#[derive(Debug, Clone)]
pub struct VerifiedPass {
    /// The pass's claims.
    pub claims: PassClaims,
    /// The instant the pass was checked at, unix ms: the purchase is dated by the same
    /// reading, so the pass and the order agree on the time.
    pub now_ms: u64,
}

impl FromRequestParts<AppState> for VerifiedPass {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Refusal> {
        let SaleParam(sale) = SaleParam::from_request_parts(parts, app).await?;
        let token = pass_token(&parts.headers).ok_or(Refusal(ErrorCode::MissingPass))?;
        let app = &app.inner;
        let now_ms = clock::now_ms();
        let check = Check {
            sale: &sale,
            now: now_ms / 1000,
            leeway: app.leeway_secs,
        };
        let claims: PassClaims = app
            .keyring
            .verify(token, &check)
            .map_err(|e| Refusal(ErrorCode::for_pass(&e)))?;
        if !herdgate_core::ids::is_hex_id(&claims.id) {
            return Err(Refusal(ErrorCode::PassInvalidClaims));
        }
        // The audit facts are stored as they are: nothing a client chose reaches Redis
        // unchecked.
        let hex_or_empty = |s: &str| s.is_empty() || herdgate_core::ids::is_hex_id(s);
        if !(hex_or_empty(&claims.client) && hex_or_empty(&claims.net) && hex_or_empty(&claims.dev))
        {
            return Err(Refusal(ErrorCode::PassInvalidClaims));
        }
        // A region sells only to its own visitors: the edge signed their home region in.
        if let Some(region) = &app.region {
            if !claims.reg.is_empty() && claims.reg != *region {
                return Err(Refusal(ErrorCode::PassWrongRegion));
            }
        }
        if !claims.jkt.is_empty() {
            proven(parts, &claims, token, now_ms)?;
        }
        Ok(VerifiedPass { claims, now_ms })
    }
}

/// Checks the request's proof of the key `claims` is bound to (see [`VerifiedPass`]).
fn proven(parts: &Parts, claims: &PassClaims, token: &str, now_ms: u64) -> Result<(), Refusal> {
    if !proof::is_thumbprint(&claims.jkt) {
        return Err(Refusal(ErrorCode::PassInvalidClaims));
    }
    let proof = parts
        .headers
        .get(proof::PROOF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(Refusal(ErrorCode::ProofRequired))?;
    // Only the edge sets `ath` in a pass, with `rcv`, as it re-signs the client's pass.
    let ath = if claims.rcv > 0 && !claims.ath.is_empty() {
        claims.ath.clone()
    } else {
        proof::token_hash(token)
    };
    // The request's own route, as the edge's address ends with it: `/v1/sales/{sale}/purchase`
    // here is `/api/v1/sales/{sale}/purchase` at the edge; the hold routes likewise.
    let path = parts.uri.path();
    let route = path.strip_prefix("/v1").unwrap_or(path);
    let expect = Expect {
        method: parts.method.as_str(),
        target: Target::PathEndsWith(route),
        ath: Some(&ath),
        key: Some(&claims.jkt),
        now: now_ms / 1000,
    };
    let refused = |e: proof::ProofError| Refusal(ErrorCode::for_proof(&e));
    let parsed = proof::parse(proof.trim()).map_err(refused)?;
    signature_holds(&parsed).map_err(refused)?;
    parsed.check(&expect).map(|_| ()).map_err(refused)
}

/// Checks a parsed proof's signature with `ring` (native P-256, several times faster than the
/// portable `p256` crate that `herdgate_core::proof::verify` uses), in the same place of the
/// order of checks.
fn signature_holds(parsed: &proof::Parsed<'_>) -> Result<(), proof::ProofError> {
    let coordinate = |b64: &str| {
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b64)
            .ok()
            .filter(|c| c.len() == 32)
            .ok_or(proof::ProofError::Unsupported)
    };
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend(coordinate(&parsed.jwk.x)?);
    point.extend(coordinate(&parsed.jwk.y)?);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point)
        .verify(parsed.signed.as_bytes(), &parsed.signature)
        .map_err(|_| proof::ProofError::BadSignature)
}

/// Reads the body of `request` from the network, in full, before anything else looks at the
/// request. A body that does not arrive within `limit` is refused at once with
/// `request_timeout`: the request never arrived in full, and nothing else about it can be
/// answered. Otherwise the request goes on with what was read, for the body extractors: the
/// bytes, or the refusal (`body_too_large` over `max_bytes`, declared or sent; `invalid_body`
/// for a body that broke off), which the handler raises in its own order.
pub async fn read_body(
    request: Request,
    max_bytes: usize,
    limit: Duration,
) -> Result<Request, Refusal> {
    let (mut parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let read = if declared.is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX)) {
        // Refused without waiting for a body that would be refused anyway.
        Err(Refusal(ErrorCode::BodyTooLarge))
    } else {
        match tokio::time::timeout(limit, Limited::new(body, max_bytes).collect()).await {
            Err(_) => return Err(Refusal(ErrorCode::RequestTimeout)),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                Err(Refusal(ErrorCode::BodyTooLarge))
            }
            Ok(Err(_)) => Err(Refusal(ErrorCode::InvalidBody)),
        }
    };
    parts.extensions.insert(ReadBody(read));
    Ok(Request::from_parts(parts, Body::empty()))
}

/// What [`read_body`] read, in the request's extensions.
#[derive(Debug, Clone)]
struct ReadBody(Result<Bytes, Refusal>);

/// A JSON body; an empty (or blank) one is `invalid_body`, and so is JSON that does not
/// parse; a body over the limit is `body_too_large`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for JsonBody<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Refusal> {
        let bytes = body_bytes(parts)?;
        if is_blank(&bytes) {
            return Err(Refusal(ErrorCode::InvalidBody));
        }
        parse(&bytes).map(JsonBody)
    }
}

/// A JSON body whose fields are all optional: an empty (or blank) body is `T::default()`;
/// otherwise as [`JsonBody`].
#[derive(Debug, Clone)]
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequestParts<S> for JsonOrEmpty<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Refusal> {
        let bytes = body_bytes(parts)?;
        if is_blank(&bytes) {
            return Ok(JsonOrEmpty(T::default()));
        }
        parse(&bytes).map(JsonOrEmpty)
    }
}

/// A form body (`application/x-www-form-urlencoded`, what an HTML form posts); one that does
/// not parse into `T` is `invalid_body`.
#[derive(Debug, Clone)]
pub struct FormBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for FormBody<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Refusal> {
        let bytes = body_bytes(parts)?;
        serde_urlencoded::from_bytes(&bytes)
            .map(FormBody)
            .map_err(|_| Refusal(ErrorCode::InvalidBody))
    }
}

fn body_bytes(parts: &Parts) -> Result<Bytes, Refusal> {
    match parts.extensions.get::<ReadBody>() {
        Some(ReadBody(read)) => read.clone(),
        None => {
            // A route outside the router's body reader: a bug, not the client's doing.
            tracing::error!(path = %parts.uri.path(), "a body was asked for but never read");
            Err(Refusal(ErrorCode::Internal))
        }
    }
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(bytes).map_err(|_| Refusal(ErrorCode::InvalidBody))
}

/// The pass of an `Authorization: Bearer` or `Authorization: DPoP` header (RFC 9449's scheme
/// for a token bound to a key: both say the same here).
fn pass_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop"))
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
