//! The operator's console: a web page under `/admin/`, behind a login.
//!
//! The operator signs in with the admin token once (`POST /admin/login`, a form); the origin
//! answers with a session cookie (`herdgate_console`: random, `HttpOnly`, `SameSite=Strict`,
//! `Path=/admin`, `Secure` unless the origin listens on a loopback address) and keeps only the
//! SHA-256 of its value in Redis, with the session's CSRF token and a fingerprint of the admin
//! token, for `--console-session-secs`: rotating the token ends every session. The page then calls the same admin API as the CLI, with the
//! cookie instead of the token ([`AdminAuth`]); every call that changes something also
//! carries the CSRF token the page was served with. `POST /admin/logout` ends the session.
//!
//! The page, its script and its style are files in `origin/console/`, built into the binary;
//! they load nothing from elsewhere, and the content security policy says so.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use base64::Engine as _;
use herdgate_core::wire::Timeline;
use herdgate_core::ErrorCode;
use serde::Deserialize;

use crate::clock;
use crate::error::Refusal;
use crate::extract::{
    console_session, cookie, session_digest, AdminAuth, FormBody, SaleParam, SESSION_COOKIE,
};
use crate::routes::with_outcome;
use crate::state::AppState;

const LOGIN_HTML: &str = include_str!("../../console/login.html");
const CONSOLE_HTML: &str = include_str!("../../console/console.html");
const CONSOLE_JS: &str = include_str!("../../console/console.js");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");

/// What the console's pages may load: their own script and style, and calls to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The longest a console login lasts, whatever `--console-session-secs` says (30 days).
pub const MAX_SESSION_SECS: u64 = 30 * 24 * 3600;

/// The most samples one timeline answer holds.
pub const MAX_SAMPLES_PER_ANSWER: usize = 10_000;

/// `GET /admin`: the console is at `/admin/`.
pub async fn to_console() -> Redirect {
    Redirect::permanent("/admin/")
}

/// `GET /admin/`: the console to a signed-in operator, the login form to anyone else.
pub async fn page(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, Refusal> {
    Ok(match console_session(&headers, &app).await? {
        Some(csrf) => html(StatusCode::OK, CONSOLE_HTML.replace("{{csrf}}", &csrf)),
        None => login_page(StatusCode::OK, None),
    })
}

/// `GET /admin/console.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", CONSOLE_JS)
}

/// `GET /admin/console.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct Login {
    /// The admin token.
    pub token: String,
}

/// `POST /admin/login`: the admin token, from the login form, buys a session. A wrong or
/// missing token gets the form again, with 401 and the refusal's sentence.
pub async fn login(
    State(app): State<AppState>,
    form: Result<FormBody<Login>, Refusal>,
) -> Result<Response, Refusal> {
    let app_inner = &app.inner;
    let token = match &form {
        Ok(FormBody(login)) => login.token.trim(),
        Err(_) => "",
    };
    if !app_inner.admin_token.matches(token) {
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            Some(ErrorCode::Unauthorized),
        ));
    }
    let (id, csrf) = (random_secret()?, random_secret()?);
    let ttl_secs = app_inner.console_session_secs.clamp(60, MAX_SESSION_SECS);
    app_inner
        .store
        .put_session(
            &session_digest(&id),
            &format!("{csrf}.{}", app_inner.admin_token.fingerprint()),
            ttl_secs.saturating_mul(1000),
        )
        .await?;
    let secure = if app_inner.console_cookie_secure {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={ttl_secs}{secure}"
    );
    let mut response = Redirect::to("/admin/").into_response();
    set(&mut response, header::SET_COOKIE, &cookie);
    set(&mut response, header::CACHE_CONTROL, "no-store");
    Ok(with_outcome(response, "ok"))
}

/// `POST /admin/logout`: ends the session (an operator's call: cookie and CSRF token; a page
/// whose CSRF token is stale hears 403 and says so).
pub async fn logout(
    State(app): State<AppState>,
    _: AdminAuth,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        app.inner.store.drop_session(&session_digest(id)).await?;
    }
    let mut response = Redirect::to("/admin/").into_response();
    let cookie = format!("{SESSION_COOKIE}=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0");
    set(&mut response, header::SET_COOKIE, &cookie);
    Ok(with_outcome(response, "ok"))
}

/// The timeline's query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// The earliest sample wanted, unix ms (default: the first).
    #[serde(default)]
    pub from_ms: u64,
    /// The most samples wanted (default and most: [`MAX_SAMPLES_PER_ANSWER`]).
    pub limit: Option<usize>,
}

/// `GET /admin/v1/sales/{sale}/timeline?from_ms=&limit=`: the samples the recorder took of the
/// sale, oldest first (admin token or console session).
///
/// Refused without the operator first, then for the sale id, then for the query
/// (`invalid_query`), then for a sale that does not exist.
pub async fn timeline(
    State(app): State<AppState>,
    _: AdminAuth,
    SaleParam(sale): SaleParam,
    query: Result<Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let Ok(Query(q)) = query else {
        return Err(Refusal(ErrorCode::InvalidQuery));
    };
    let limit = match q.limit {
        None => MAX_SAMPLES_PER_ANSWER,
        Some(n) if (1..=MAX_SAMPLES_PER_ANSWER).contains(&n) => n,
        Some(_) => return Err(Refusal(ErrorCode::InvalidQuery)),
    };
    let app = &app.inner;
    if app
        .store
        .sale_state(&sale, clock::now_ms())
        .await?
        .is_none()
    {
        return Err(Refusal(ErrorCode::UnknownSale));
    }
    let (samples, truncated) = app.store.timeline(&sale, q.from_ms, limit).await?;
    let body = Timeline {
        sale,
        every_ms: app.timeline_every_ms,
        samples,
        truncated,
    };
    Ok(with_outcome(Json(body).into_response(), "ok"))
}

/// The login form, with the refusal's sentence if there is one.
fn login_page(status: StatusCode, refusal: Option<ErrorCode>) -> Response {
    let error = match refusal {
        Some(code) => format!(
            r#"<p class="error" role="alert" data-code="{}">{}</p>"#,
            code.as_str(),
            code.message()
        ),
        None => String::new(),
    };
    let mut response = html(status, LOGIN_HTML.replace("{{error}}", &error));
    if status == StatusCode::UNAUTHORIZED {
        set(
            &mut response,
            header::WWW_AUTHENTICATE,
            "Bearer realm=\"herdgate\"",
        );
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    set(
        &mut response,
        header::CONTENT_TYPE,
        "text/html; charset=utf-8",
    );
    set(&mut response, header::CACHE_CONTROL, "no-store");
    secure_headers(&mut response);
    with_outcome(
        response,
        if status.is_success() {
            "ok"
        } else {
            "unauthorized"
        },
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    set(&mut response, header::CONTENT_TYPE, content_type);
    set(&mut response, header::CACHE_CONTROL, "no-cache");
    secure_headers(&mut response);
    with_outcome(response, "ok")
}

fn secure_headers(response: &mut Response) {
    set(response, header::CONTENT_SECURITY_POLICY, CSP);
    set(response, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(response, header::REFERRER_POLICY, "no-referrer");
    set(response, header::X_FRAME_OPTIONS, "DENY");
}

fn set(response: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

/// 32 random bytes, base64url.
fn random_secret() -> Result<String, Refusal> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| Refusal(ErrorCode::Internal))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
