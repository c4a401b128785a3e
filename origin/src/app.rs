//! The router and its middleware: every request's body is read first (within its size and time
//! limits), every gated route then shares an in-flight limit, and every request is counted and
//! timed. The handlers are in [`crate::routes`].

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use herdgate_core::ErrorCode;

use crate::error::{Outcome, Refusal};
use crate::extract;
use crate::routes::{self, audit, console, probes, purchase, sales, seats};
use crate::state::AppState;

/// The router, with every route and middleware.
pub fn app(state: AppState) -> Router {
    let gated = Router::new()
        .route("/v1/sales/{sale}", get(sales::public_state))
        .route("/v1/sales/{sale}/purchase", post(purchase::purchase))
        .route("/admin/v1/sales", get(sales::list_sales))
        .route(
            "/admin/v1/sales/{sale}",
            get(sales::admin_state).put(sales::upsert_sale),
        )
        .route("/admin/v1/sales/{sale}/control", post(sales::control))
        .route("/admin/v1/sales/{sale}/audit", post(audit::audit))
        .route("/admin/v1/sales/{sale}/timeline", get(console::timeline))
        .route("/admin/v1/sales/{sale}/seats", put(seats::put_map))
        .route(
            "/admin/v1/sales/{sale}/seats/changes",
            post(seats::change_map),
        )
        .route("/v1/sales/{sale}/seats", get(seats::availability))
        .route("/v1/sales/{sale}/seat-holds", post(seats::hold))
        .route("/v1/sales/{sale}/seat-holds/{hold}", delete(seats::release))
        .route(
            "/v1/sales/{sale}/seat-holds/{hold}/confirm",
            post(seats::confirm),
        )
        .route("/admin", get(console::to_console))
        .route("/admin/", get(console::page))
        .route("/admin/console.js", get(console::script))
        .route("/admin/console.css", get(console::style))
        .route("/admin/login", post(console::login))
        .route("/admin/logout", post(console::logout))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limit_in_flight,
        ));
    let probe_routes = Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics));
    // Layers run outermost last: `track` sees every answer, the body reader's included, and the
    // body is read before `limit_in_flight` (a route layer, inside) takes a slot.
    gated
        .merge(probe_routes)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), read_body))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// Reads the body ([`extract::read_body`]) before the request takes an in-flight slot, so a
/// client that sends it slowly holds no slot while it does. A body that does not arrive in time
/// is refused at once, and the connection is closed: the rest of the body may still be coming.
async fn read_body(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let app = &app.inner;
    let limit = body_limit(&request, app);
    match extract::read_body(request, limit, app.body_timeout).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => {
            let mut response = refusal.into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// The largest body `request` may have: `--max-body-bytes`, except for a seat map the operator
/// loads (`PUT /admin/v1/sales/{sale}/seats` with the admin token), which may be up to
/// [`seats::MAX_MAP_BYTES`]: a 100,000-seat venue is a few megabytes of JSON.
fn body_limit(request: &Request, app: &crate::state::Inner) -> usize {
    let path = request.uri().path();
    let seat_map = request.method() == axum::http::Method::PUT
        && path.starts_with("/admin/v1/sales/")
        && path.ends_with("/seats");
    if seat_map && extract::is_admin(request.headers(), &app.admin_token) {
        seats::MAX_MAP_BYTES
    } else {
        app.max_body_bytes
    }
}

/// Refuses at once, with 503 and Retry-After, when `max_in_flight` requests are under way,
/// instead of queueing without bound.
async fn limit_in_flight(State(app): State<AppState>, request: Request, next: Next) -> Response {
    match Arc::clone(&app.inner.in_flight).try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => Refusal(ErrorCode::Overloaded).into_response(),
    }
}

/// Counts every request by route and outcome, and times it; marks the operator's answers
/// `Cache-Control: no-store`.
async fn track(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let admin = request.uri().path().starts_with("/admin");
    let mut response = next.run(request).await;
    // The operator's answers (sales, timelines, the console) are nobody's to cache: a session
    // cookie, unlike a bearer token, does not keep shared caches away by itself.
    if admin && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .map(|o| o.0)
        .unwrap_or_else(|| status_outcome(response.status()));
    app.inner
        .metrics
        .observe(&route, outcome, started.elapsed().as_secs_f64());
    response
}

fn status_outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        400..=499 => "client_error",
        _ => "server_error",
    }
}

#[cfg(test)]
mod tests {
    //! Which refusal wins when several apply, through the whole router. None of these requests
    //! reaches Redis, so the store points at a closed port.

    use std::sync::atomic::AtomicBool;

    use axum::body::Body;
    use herdgate_core::{Keyring, PassClaims, SaleId, VisitorId};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;
    use crate::soldout::SoldOutBoard;
    use crate::state::Parts;
    use crate::store::{Store, StoreConfig};

    /// Method, path, `Authorization`, body; the status and code expected.
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, u16, &'a str);

    const ADMIN: &str = "correct horse battery staple";
    const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    async fn router(keyring: &Keyring) -> Router {
        router_with(keyring, 8, std::time::Duration::from_secs(5)).await
    }

    async fn router_with(
        keyring: &Keyring,
        max_in_flight: usize,
        body_timeout: std::time::Duration,
    ) -> Router {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let store = Store::connect(StoreConfig {
            url: format!("redis://{closed}"),
            pool_size: 1,
            command_timeout: std::time::Duration::from_millis(20),
            wait_replicas: crate::store::WaitReplicas::Auto,
            wait_timeout: std::time::Duration::from_millis(20),
            tls_ca_pem: None,
        })
        .await
        .unwrap();
        app(AppState::new(Parts {
            store: Arc::new(store),
            board: Arc::new(SoldOutBoard::default()),
            keyring: keyring.clone(),
            admin_token: ADMIN.parse().unwrap(),
            max_in_flight,
            leeway_secs: 5,
            max_body_bytes: 128,
            body_timeout,
            events_channel: "events".into(),
            subscribed: Arc::new(AtomicBool::new(true)),
            payments: None,
            timeline_every_ms: 1000,
            console_session_secs: 3600,
            sales_changed: Arc::default(),
            seats_changed: Arc::default(),
            console_cookie_secure: true,
            region: None,
        }))
    }

    fn pass(keyring: &Keyring, client: &str) -> String {
        let now = crate::clock::now_ms() / 1000;
        keyring.sign(&PassClaims {
            client: client.into(),
            ..PassClaims::bare(
                SaleId::parse("s1").unwrap(),
                VisitorId::parse("v1").unwrap(),
                "abc123".into(),
                now - 10,
                now + 600,
            )
        })
    }

    #[tokio::test]
    async fn the_first_refusal_wins_in_the_documented_order() {
        let keyring = Keyring::parse(KEYS).unwrap();
        let app = router(&keyring).await;
        let admin = format!("Bearer {ADMIN}");
        let good_pass = format!("Bearer {}", pass(&keyring, ""));
        let odd_digest = format!("Bearer {}", pass(&keyring, "NOT-HEX"));
        let too_big = "x".repeat(200);
        let config =
            r#"{"stock": 1, "per_visitor_limit": 0, "starts_at_ms": 0, "admission_rate": 1}"#;
        let cases: &[Case<'_>] = &[
            // The purchase: sale id, body, pass.
            (
                "POST",
                "/v1/sales/b%7Bd/purchase",
                None,
                "{",
                400,
                "invalid_sale_id",
            ),
            (
                "POST",
                "/v1/sales/s1/purchase",
                None,
                "{",
                400,
                "invalid_body",
            ),
            (
                "POST",
                "/v1/sales/s1/purchase",
                None,
                &too_big,
                413,
                "body_too_large",
            ),
            (
                "POST",
                "/v1/sales/s1/purchase",
                Some("Bearer x"),
                "{",
                400,
                "invalid_body",
            ),
            (
                "POST",
                "/v1/sales/s1/purchase",
                None,
                " ",
                401,
                "missing_pass",
            ),
            (
                "POST",
                "/v1/sales/s1/purchase",
                Some("Bearer x"),
                "",
                401,
                "pass_malformed",
            ),
            (
                "POST",
                "/v1/sales/s2/purchase",
                Some(&good_pass),
                "",
                403,
                "pass_wrong_sale",
            ),
            (
                "POST",
                "/v1/sales/s1/purchase",
                Some(&odd_digest),
                "",
                401,
                "pass_invalid_claims",
            ),
            // The operator's routes: token, sale id, body, settings.
            (
                "PUT",
                "/admin/v1/sales/b%7Bd",
                Some("Bearer nope"),
                "{",
                401,
                "unauthorized",
            ),
            (
                "PUT",
                "/admin/v1/sales/b%7Bd",
                Some(&admin),
                "{",
                400,
                "invalid_sale_id",
            ),
            (
                "PUT",
                "/admin/v1/sales/s1",
                Some(&admin),
                "",
                400,
                "invalid_body",
            ),
            (
                "PUT",
                "/admin/v1/sales/s1",
                Some(&admin),
                config,
                422,
                "invalid_sale_config",
            ),
            (
                "GET",
                "/admin/v1/sales/b%7Bd",
                None,
                "",
                401,
                "unauthorized",
            ),
            (
                "GET",
                "/admin/v1/sales/b%7Bd",
                Some(&admin),
                "",
                400,
                "invalid_sale_id",
            ),
            (
                "POST",
                "/admin/v1/sales/b%7Bd/audit",
                None,
                "{",
                401,
                "unauthorized",
            ),
            (
                "POST",
                "/admin/v1/sales/b%7Bd/audit",
                Some(&admin),
                "{",
                400,
                "invalid_sale_id",
            ),
            (
                "POST",
                "/admin/v1/sales/s1/audit",
                Some(&admin),
                "{",
                400,
                "invalid_body",
            ),
            ("GET", "/v1/sales/b%7Bd", None, "", 400, "invalid_sale_id"),
        ];
        for (method, uri, auth, body, status, code) in cases {
            let mut request = Request::builder().method(*method).uri(*uri);
            if let Some(auth) = auth {
                request = request.header(header::AUTHORIZATION, *auth);
            }
            let request = request.body(Body::from(body.to_string())).unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let got_status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                (
                    got_status,
                    json["error"]["code"].as_str().unwrap_or_default()
                ),
                (*status, *code),
                "{method} {uri} {auth:?} {body:?}"
            );
        }
    }

    async fn answer(response: Response) -> (u16, String, Option<String>) {
        let status = response.status().as_u16();
        let connection = response
            .headers()
            .get(header::CONNECTION)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let code = json["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (status, code, connection)
    }

    /// A purchase whose body never comes.
    fn stalled_purchase(declared_length: &str) -> Request {
        let never = futures_util::stream::pending::<Result<axum::body::Bytes, std::io::Error>>();
        Request::builder()
            .method("POST")
            .uri("/v1/sales/s1/purchase")
            .header(header::CONTENT_LENGTH, declared_length)
            .body(Body::from_stream(never))
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_on_its_way_holds_no_slot_and_one_too_slow_is_refused() {
        let keyring = Keyring::parse(KEYS).unwrap();
        let app = router_with(&keyring, 1, std::time::Duration::from_millis(200)).await;
        let slow = tokio::spawn(app.clone().oneshot(stalled_purchase("10")));
        // The test's runtime has one thread: the slow request runs until it waits for its body.
        tokio::task::yield_now().await;
        assert!(!slow.is_finished());
        // The only slot is free: the next purchase is refused for its own reason, not 503.
        let request = Request::builder()
            .method("POST")
            .uri("/v1/sales/s1/purchase")
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(
            answer(response).await,
            (401, "missing_pass".to_owned(), None)
        );
        let response = slow.await.unwrap().unwrap();
        assert_eq!(
            answer(response).await,
            (408, "request_timeout".to_owned(), Some("close".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_body_declared_too_large_is_refused_without_waiting_for_it() {
        let keyring = Keyring::parse(KEYS).unwrap();
        // Had the body been waited for, the answer would be `request_timeout`.
        let app = router_with(&keyring, 1, std::time::Duration::from_millis(200)).await;
        let response = app.oneshot(stalled_purchase("1000000")).await.unwrap();
        assert_eq!(
            answer(response).await,
            (413, "body_too_large".to_owned(), None)
        );
    }
}
