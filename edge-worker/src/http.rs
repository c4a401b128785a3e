//! Small HTTP helpers: typed refusals, JSON, bearer tokens, cookies, the cross-site checks,
//! client binding, ids, the clock, and `fetch` with a time limit.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use herdgate_core::wire::ErrorBody;
use herdgate_core::{ErrorCode, SaleId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use worker::{Delay, Fetch, Request, Response, Result};

/// Request bodies larger than this are refused at the edge.
pub const MAX_BODY_BYTES: usize = 4096;

/// A typed refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub ErrorCode);

impl From<ErrorCode> for Refusal {
    fn from(code: ErrorCode) -> Self {
        Refusal(code)
    }
}

/// The sale named in a request's path, or `invalid_sale_id`.
pub fn sale_id(raw: &str) -> std::result::Result<SaleId, Refusal> {
    SaleId::parse(raw).map_err(|_| Refusal(ErrorCode::InvalidSaleId))
}

/// An `internal` refusal for a failure the client cannot act on: what went wrong goes to the
/// log, not to the client.
pub fn internal<E: std::fmt::Display>(e: E) -> Refusal {
    worker::console_error!("internal error: {e}");
    Refusal(ErrorCode::Internal)
}

/// The runtime's clock, unix ms.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Fetches `req`, giving up after `timeout_ms`: `None` when the time ran out.
pub async fn fetch_within(req: Request, timeout_ms: u64) -> Option<Result<Response>> {
    let fetch = Fetch::Request(req);
    let sent = Box::pin(fetch.send());
    let timer = Box::pin(Delay::from(Duration::from_millis(timeout_ms)));
    let raced = select(sent, timer).await;
    match raced {
        Either::Left((answer, _)) => Some(answer),
        Either::Right(_) => None,
    }
}

/// The refusal as a response: JSON body, fitting status, never cached, never sniffed.
pub fn refusal(code: ErrorCode) -> Result<Response> {
    let mut r = Response::from_json(&ErrorBody::from(code))?.with_status(code.status());
    r.headers_mut().set("cache-control", "no-store")?;
    r.headers_mut().set("x-content-type-options", "nosniff")?;
    if code.status() == 503 {
        r.headers_mut().set("retry-after", "1")?;
    }
    if code == ErrorCode::Unauthorized {
        r.headers_mut().set("www-authenticate", "Bearer")?;
    }
    Ok(r)
}

/// A JSON response with `status`, not cached, never sniffed as anything but JSON.
pub fn json<T: Serialize>(value: &T, status: u16) -> Result<Response> {
    let mut r = Response::from_json(value)?.with_status(status);
    r.headers_mut().set("cache-control", "no-store")?;
    r.headers_mut().set("x-content-type-options", "nosniff")?;
    Ok(r)
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(req: &Request) -> Option<String> {
    let value = req.headers().get("authorization").ok()??;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    // `DPoP` is the scheme RFC 9449 names for a token bound to a key; both say the same here.
    let scheme_ok = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop");
    (scheme_ok && !token.is_empty()).then(|| token.to_owned())
}

/// The prefix of every cookie the edge sets. A browser keeps a `__Host-` cookie only if it
/// is `Secure`, has `Path=/` and no `Domain`, so no other host (a sibling subdomain) and no
/// plain-http page can set or overwrite one: a buyer's place cannot be swapped for another.
/// Browsers treat `http://127.0.0.1` and `http://localhost` as secure, so local runs keep it.
pub const COOKIE_PREFIX: &str = "__Host-";

/// The value of cookie `name` as [`set_cookie`] sets it (`__Host-{name}`); else, of `name`
/// without the prefix, as versions before it set it, so a deploy during a sale costs nobody
/// their place (such a cookie lives at most `TICKET_TTL_SECS`; it is never set again).
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    let header = req.headers().get("cookie").ok()??;
    let find = |wanted: &str| {
        header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == wanted && !v.is_empty()).then(|| v.to_owned())
        })
    };
    find(&format!("{COOKIE_PREFIX}{name}")).or_else(|| find(name))
}

/// A token from `Authorization: Bearer` (apps) or else from cookie `name` (the page).
pub fn token(req: &Request, name: &str) -> Option<String> {
    bearer(req).or_else(|| cookie(req, name))
}

/// Appends a `Set-Cookie` for `__Host-{name}={value}` ([`COOKIE_PREFIX`]): `Path=/`, no
/// `Domain`, `Secure`, `HttpOnly` (the page's script never reads it) and `SameSite=Lax` (a
/// browser sends it on no other site's subrequests and form posts).
pub fn set_cookie(resp: &mut Response, name: &str, value: &str, max_age: u64) -> Result<()> {
    let cookie = format!(
        "{COOKIE_PREFIX}{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    );
    resp.headers_mut().append("set-cookie", &cookie)
}

/// Refuses (`cross_site_request`) a browser request that another site made it send, by what
/// it says about where it came from (see [`herdgate_core::gate::csrf::same_origin`]). Every
/// route that changes something for the holder of a cookie calls it before anything else.
pub fn same_origin(req: &Request) -> std::result::Result<(), Refusal> {
    let headers = req.headers();
    let site = headers.get("sec-fetch-site").ok().flatten();
    let origin = headers.get("origin").ok().flatten();
    if site.is_none() && origin.is_none() {
        return Ok(());
    }
    let own = req
        .url()
        .map(|u| u.origin().ascii_serialization())
        .map_err(internal)?;
    if herdgate_core::gate::csrf::same_origin(site.as_deref(), origin.as_deref(), &own) {
        Ok(())
    } else {
        Err(Refusal(ErrorCode::CrossSiteRequest))
    }
}

/// Refuses (`unsupported_media_type`) a request that may be authenticated by a cookie (it has
/// no `Authorization` header) unless its body is declared `application/json`. Another site can
/// make a browser send a form or a `text/plain` body with the buyer's cookies, but JSON only
/// after a CORS preflight, which the edge never grants.
pub fn json_unless_bearer(req: &Request) -> std::result::Result<(), Refusal> {
    if req.headers().has("authorization").unwrap_or(false) {
        return Ok(());
    }
    let content_type = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(Refusal(ErrorCode::UnsupportedMediaType))
    }
}

/// The IP prefix a client is known by: /24 for IPv4, /48 for IPv6, from `CF-Connecting-IP`
/// (set by Cloudflare; absent locally, where every client is `local`).
pub fn ip_prefix(req: &Request) -> String {
    let Some(ip) = req.headers().get("cf-connecting-ip").ok().flatten() else {
        return "local".into();
    };
    if let Ok(v4) = ip.parse::<std::net::Ipv4Addr>() {
        let o = v4.octets();
        return format!("{}.{}.{}.0/24", o[0], o[1], o[2]);
    }
    if let Ok(v6) = ip.parse::<std::net::Ipv6Addr>() {
        let s = v6.segments();
        return format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]);
    }
    "unknown".into()
}

fn header(req: &Request, name: &str) -> String {
    req.headers().get(name).ok().flatten().unwrap_or_default()
}

/// The TLS and bot facts Cloudflare attaches to the request (`request.cf`): TLS version and
/// cipher, HTTP protocol, and the JA4 fingerprint when Bot Management provides one. Empty
/// where absent (locally).
fn cf_facts(req: &Request) -> String {
    use worker::js_sys::Reflect;
    use worker::wasm_bindgen::JsValue;
    let Ok(cf) = Reflect::get(req.inner().as_ref(), &JsValue::from_str("cf")) else {
        return String::new();
    };
    if !cf.is_object() {
        return String::new();
    }
    let text = |obj: &JsValue, key: &str| {
        Reflect::get(obj, &JsValue::from_str(key))
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let bot = Reflect::get(&cf, &JsValue::from_str("botManagement")).unwrap_or(JsValue::UNDEFINED);
    let ja4 = if bot.is_object() {
        text(&bot, "ja4")
    } else {
        String::new()
    };
    format!(
        "{}|{}|{}|{}",
        text(&cf, "tlsVersion"),
        text(&cf, "tlsCipher"),
        text(&cf, "httpProtocol"),
        ja4
    )
}

/// The client binding of the request: a digest of its network (IP prefix) and its browser as
/// the edge sees it on every request (User-Agent, Accept-Language, and Cloudflare's TLS facts
/// where present). The no-JavaScript lane's tokens, which no key can bind, carry it, and only
/// a request with the same binding may use them (unless var `BIND_CLIENT = "off"`, when any
/// client may). Tokens bound to a key carry a digest of the key instead
/// (`herdgate_core::proof::key_client`).
pub fn client_binding(req: &Request) -> String {
    let browser = format!(
        "{}\0{}\0{}",
        header(req, "user-agent"),
        header(req, "accept-language"),
        cf_facts(req)
    );
    herdgate_core::token::client_binding(&ip_prefix(req), &browser)
}

/// A digest of the request's network (IP prefix), 16 hex digits: what limits and the audit
/// group by, without the address itself leaving the edge.
pub fn network_digest(req: &Request) -> String {
    short_digest("herdgate/network/v1", &ip_prefix(req))
}

/// A digest of the device signals a page reported (a flat JSON object of short strings and
/// numbers), 16 hex digits; empty when there are none.
pub fn device_digest(signals: Option<&serde_json::Map<String, serde_json::Value>>) -> String {
    let Some(signals) = signals.filter(|s| !s.is_empty()) else {
        return String::new();
    };
    // serde_json's map is ordered by key, so this text is canonical.
    let canonical = serde_json::Value::Object(signals.clone()).to_string();
    short_digest("herdgate/device/v1", &canonical)
}

fn short_digest(label: &str, input: &str) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0]);
    h.update(input.as_bytes());
    herdgate_core::ids::to_hex(&h.finalize()[..8])
}

/// `n` random bytes as hex, from the runtime's CSPRNG.
pub fn random_hex(n: usize) -> std::result::Result<String, Refusal> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).map_err(|_| Refusal(ErrorCode::Internal))?;
    Ok(herdgate_core::ids::to_hex(&bytes))
}

/// Reads a request body of at most [`MAX_BODY_BYTES`]. A declared length over the limit is
/// refused before anything is read; a body without one (chunked) is read as it streams and
/// refused as soon as it passes the limit, so no body larger than the limit is ever held.
pub async fn body(req: &mut Request) -> std::result::Result<Vec<u8>, Refusal> {
    if let Some(len) = req.headers().get("content-length").ok().flatten() {
        if len
            .trim()
            .parse::<usize>()
            .map_or(true, |n| n > MAX_BODY_BYTES)
        {
            return Err(Refusal(ErrorCode::BodyTooLarge));
        }
        // A declared length within the limit (the runtime holds the body to it): read in one
        // call, not chunk by chunk.
        let bytes = req
            .bytes()
            .await
            .map_err(|_| Refusal(ErrorCode::InvalidBody))?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(Refusal(ErrorCode::BodyTooLarge));
        }
        return Ok(bytes);
    }
    let Ok(mut stream) = req.stream() else {
        // No body at all.
        return Ok(Vec::new());
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Refusal(ErrorCode::InvalidBody))?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Refusal(ErrorCode::BodyTooLarge));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Parses a JSON body.
pub fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, Refusal> {
    serde_json::from_slice(bytes).map_err(|_| Refusal(ErrorCode::InvalidBody))
}

/// Parses a JSON body; an empty (all-whitespace) body is `T::default()`.
pub fn parse_or_default<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> std::result::Result<T, Refusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse(bytes)
}
