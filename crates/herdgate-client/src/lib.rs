//! Typed clients of herdgate's two HTTP APIs: [`EdgeClient`], a buyer at the edge (challenge,
//! join, status, hold, purchase), and [`AdminClient`], an operator at the origin (sales, the
//! audit and the metrics). herdgate's own simulator, benchmarks and tests drive the services
//! with it; an app's test harness, or an app written in Rust, can too.
//!
//! A buyer is a device: its [`Identity`] holds the device's key (ECDSA P-256), and every
//! request that uses the buyer's place carries a proof signed by it (the `DPoP` header, see
//! `herdgate_core::proof` and the edge's OpenAPI document, `docs/openapi.json`). An app keeps
//! that key in the platform keystore and signs the same proofs; [`Identity::prove`] is the
//! reference for what they contain.
//!
//! A typed method returns a struct of [`herdgate_core::wire`] and fails on any status but the
//! one that answers the request. Its `*_reply` twin returns the raw [`Reply`] (status and JSON
//! body) whatever it is, for the tests that check refusals.
//!
//! [`draw::fetch`] reads a sale's published pre-queue draw for `herdgate_core::draw`'s
//! verification; the `herdgate-draw` command wraps it. [`svg`] draws line charts for the
//! reports.
//!
//! ```no_run
//! # async fn buy() -> anyhow::Result<()> {
//! use herdgate_client::{EdgeClient, Identity};
//! let buyer = EdgeClient::new(reqwest::Client::new(), "https://shop.example", Identity::new("my-app/1.0"));
//! let joined = buyer.solve_and_join("drop-1", None).await?;
//! let status = buyer.status("drop-1", &joined.ticket).await?;
//! # let _ = status; Ok(()) }
//! ```

pub mod draw;
pub mod svg;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use herdgate_core::pow;
use herdgate_core::proof::{Es256Signer, ProofKey, PROOF_HEADER};
use herdgate_core::wire::{
    AdminSaleState, ChallengeResponse, HoldResponse, JoinRequest, JoinResponse, MoreWorkBody,
    PurchaseResponse, QueueStatus, SaleConfig,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// A raw answer: the HTTP status and the JSON body (the body's text as a JSON string when it is
/// not JSON).
pub type Reply = (u16, Value);

/// Reads `response` as a [`Reply`].
pub async fn read_reply(response: reqwest::Response) -> Result<Reply> {
    let status = response.status().as_u16();
    let text = response.text().await.context("reading an answer")?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

/// The body of `reply` if its status is `want`; otherwise an error naming `what` and showing
/// the answer, so a failed step says what the server said.
fn body_if(reply: Reply, want: &[u16], what: &str) -> Result<Value> {
    let (status, body) = reply;
    if !want.contains(&status) {
        bail!("{what}: {status} {body}");
    }
    Ok(body)
}

/// A device as the edge sees it: its key, its browser, the network it comes from and its
/// language. The edge binds challenges, tickets and passes to the key and counts joins per
/// key and per network. Changing the network ([`Identity::with_ip`]) keeps the key: the same
/// device on another network keeps its place.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The device's key; `None` for a client that proves nothing (the edge asks a proof of
    /// every request that uses a place, unless its binding is off).
    pub key: Option<Arc<ProofKey>>,
    /// `User-Agent`.
    pub user_agent: String,
    /// `CF-Connecting-IP`, the address Cloudflare reports the client's request from. Without
    /// it the edge sees every client of the machine as one.
    pub ip: Option<String>,
    /// `Accept-Language`.
    pub accept_language: Option<String>,
    /// Where Cloudflare places the client (`request.cf`): its country and continent codes.
    /// A local workerd (Miniflare's socket) takes them from the `MF-CF-Blob` header, which
    /// is how they are sent; Cloudflare sets `request.cf` itself and ignores the header.
    pub place: Option<(String, String)>,
}

/// The header a local workerd reads `request.cf` from (Miniflare's sockets); Cloudflare's
/// edge does not.
pub const CF_BLOB_HEADER: &str = "mf-cf-blob";

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        let thumbprint = |i: &Identity| i.key.as_ref().map(|k| k.thumbprint().to_owned());
        thumbprint(self) == thumbprint(other)
            && self.user_agent == other.user_agent
            && self.ip == other.ip
            && self.accept_language == other.accept_language
            && self.place == other.place
    }
}

impl Eq for Identity {}

/// A device key's private half in `ring`, whose signing is several times faster than the
/// portable `p256` crate's (`herdgate-bench edge` prints both): a simulated crowd signs every
/// request on the machine that also runs the edge.
struct RingSigner {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Es256Signer for RingSigner {
    fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        // Signing fails only if the system's random source does.
        if let Ok(signature) = self.pair.sign(&self.rng, message) {
            out.copy_from_slice(signature.as_ref());
        }
        out
    }
}

/// A new P-256 device key from the system's random source.
///
/// # Panics
///
/// If the system has no random source.
pub fn new_key() -> ProofKey {
    let rng = SystemRandom::new();
    let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("the system's random source");
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("a key just made");
    // The uncompressed point: 0x04, x, y.
    let public = pair.public_key().as_ref();
    let mut x = [0u8; 32];
    let mut y = [0u8; 32];
    x.copy_from_slice(&public[1..33]);
    y.copy_from_slice(&public[33..65]);
    ProofKey::with_signer(&x, &y, Arc::new(RingSigner { pair, rng }))
}

/// Device keys by name (a user agent, a simulated person): the same name is the same device,
/// with the same key, for as long as the map lives. Cheap to clone; clones share the keys.
#[derive(Debug, Default, Clone)]
pub struct Devices(Arc<Mutex<HashMap<String, Arc<ProofKey>>>>);

impl Devices {
    /// The key of the device called `name`, made the first time it is asked for.
    pub fn key(&self, name: &str) -> Arc<ProofKey> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(new_key()))
            .clone()
    }
}

/// Unix seconds now, by this machine's clock.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Identity {
    /// A new device with a key of its own, known by its user agent.
    pub fn new(user_agent: impl Into<String>) -> Self {
        Self::of_device(user_agent, Arc::new(new_key()))
    }

    /// The device holding `key`, known by its user agent.
    pub fn of_device(user_agent: impl Into<String>, key: Arc<ProofKey>) -> Self {
        Identity {
            key: Some(key),
            user_agent: user_agent.into(),
            ip: None,
            accept_language: None,
            place: None,
        }
    }

    /// The same browser, placed by Cloudflare in `country` on `continent` (ISO codes such as
    /// `DE` and `EU`): what `request.cf` says of it.
    pub fn in_country(mut self, country: &str, continent: &str) -> Self {
        self.place = Some((country.to_owned(), continent.to_owned()));
        self
    }

    /// The same browser with the same key, on the network of `ip`.
    pub fn with_ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// The same browser, asking for `accept_language`.
    pub fn with_language(mut self, accept_language: impl Into<String>) -> Self {
        self.accept_language = Some(accept_language.into());
        self
    }

    /// The same browser and network with another key (`None`: none at all), as a client that
    /// copied a token without the key that proves it.
    pub fn with_key(mut self, key: Option<Arc<ProofKey>>) -> Self {
        self.key = key;
        self
    }

    /// A proof for a `method` request to `url` presenting `token` (if any), signed now by this
    /// device's key; `None` without a key.
    pub fn prove(&self, method: &str, url: &str, token: Option<&str>) -> Option<String> {
        let key = self.key.as_ref()?;
        let jti = format!("{:032x}", rand::random::<u128>());
        Some(key.prove(method, url, now_secs(), token, &jti))
    }

    /// `request` to `method` `url` with this identity's headers and, with a key, its proof
    /// presenting `token`.
    pub fn apply_proven(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.apply(request);
        match self.prove(method, url, token) {
            Some(proof) => request.header(PROOF_HEADER, proof),
            None => request,
        }
    }

    /// `request` with this identity's headers.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut request = request.header("user-agent", &self.user_agent);
        if let Some(ip) = &self.ip {
            request = request.header("cf-connecting-ip", ip);
        }
        if let Some(lang) = &self.accept_language {
            request = request.header("accept-language", lang);
        }
        if let Some((country, continent)) = &self.place {
            let cf = serde_json::json!({ "country": country, "continent": continent });
            request = request.header(CF_BLOB_HEADER, cf.to_string());
        }
        request
    }
}

/// One buyer at the edge: the edge's URL, a connection pool and the buyer's [`Identity`].
/// Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct EdgeClient {
    http: reqwest::Client,
    edge: String,
    identity: Identity,
}

impl EdgeClient {
    /// A buyer at `edge_url` (`http://host:port`), seen as `identity`.
    pub fn new(http: reqwest::Client, edge_url: &str, identity: Identity) -> Self {
        EdgeClient {
            http,
            edge: edge_url.trim_end_matches('/').to_owned(),
            identity,
        }
    }

    /// Another buyer at the same edge, over the same connection pool.
    pub fn as_identity(&self, identity: Identity) -> Self {
        EdgeClient {
            identity,
            ..self.clone()
        }
    }

    /// Who this buyer is.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The edge's URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.edge
    }

    fn api(&self, sale: &str, what: &str) -> String {
        format!("{}/api/v1/sales/{sale}/{what}", self.edge)
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Reply> {
        let response = self
            .identity
            .apply(request)
            .send()
            .await
            .with_context(|| format!("{what}: no answer from the edge at {}", self.edge))?;
        read_reply(response).await
    }

    /// The request `request` to `method` `url`, with this buyer's proof presenting `token`.
    fn proven(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        match self.identity.prove(method, url, token) {
            Some(proof) => request.header(PROOF_HEADER, proof),
            None => request,
        }
    }

    /// `POST …/challenge`, with the page's `device` signals if given, proving the device's key.
    pub async fn challenge_reply(&self, sale: &str, device: Option<&Value>) -> Result<Reply> {
        let url = self.api(sale, "challenge");
        let mut request = self.proven(self.http.post(&url), "POST", &url, None);
        if let Some(device) = device {
            request = request.json(&json!({ "device": device }));
        }
        self.send(request, "challenge").await
    }

    /// A proof-of-work challenge (200).
    pub async fn challenge(&self, sale: &str, device: Option<&Value>) -> Result<ChallengeResponse> {
        let body = body_if(
            self.challenge_reply(sale, device).await?,
            &[200],
            "challenge",
        )?;
        serde_json::from_value(body).context("reading a challenge")
    }

    /// `POST …/join` with `challenge` and `nonce`, solved or not.
    pub async fn join_reply(&self, sale: &str, challenge: &str, nonce: u64) -> Result<Reply> {
        let url = self.api(sale, "join");
        let request = self.proven(self.http.post(&url), "POST", &url, Some(challenge));
        let request = request.json(&JoinRequest {
            challenge: challenge.to_owned(),
            nonce,
        });
        self.send(request, "join").await
    }

    /// Joins the queue with a solved challenge: the ticket (201).
    pub async fn join(&self, sale: &str, challenge: &str, nonce: u64) -> Result<JoinResponse> {
        let body = body_if(
            self.join_reply(sale, challenge, nonce).await?,
            &[201],
            "join",
        )?;
        serde_json::from_value(body).context("reading a join")
    }

    /// Gets a challenge, solves it and joins with it, however the join is answered. A join
    /// answered `more_work_required` (this device joined or failed before) is made again with
    /// the harder challenge that answer carries, as the page does, up to [`MORE_WORK_ROUNDS`]
    /// times.
    pub async fn solve_and_join_reply(&self, sale: &str, device: Option<&Value>) -> Result<Reply> {
        let mut challenge = self.challenge(sale, device).await?;
        let mut rounds = 0;
        loop {
            let nonce = solve(&challenge).await?;
            let reply = self.join_reply(sale, &challenge.challenge, nonce).await?;
            match more_work(&reply) {
                Some(harder) if rounds < MORE_WORK_ROUNDS => {
                    challenge = harder;
                    rounds += 1;
                }
                _ => return Ok(reply),
            }
        }
    }

    /// Gets a challenge, solves it and joins: the ticket (201).
    pub async fn solve_and_join(&self, sale: &str, device: Option<&Value>) -> Result<JoinResponse> {
        let reply = self.solve_and_join_reply(sale, device).await?;
        serde_json::from_value(body_if(reply, &[201], "join")?).context("reading a join")
    }

    /// `GET …/status` with `ticket` (and a proof, which the edge checks when it answers with
    /// a pass).
    pub async fn status_reply(&self, sale: &str, ticket: &str) -> Result<Reply> {
        let url = self.api(sale, "status");
        let request = self.http.get(&url).bearer_auth(ticket);
        let request = self.proven(request, "GET", &url, Some(ticket));
        self.send(request, "status").await
    }

    /// Where `ticket` stands (200).
    pub async fn status(&self, sale: &str, ticket: &str) -> Result<QueueStatus> {
        let body = body_if(self.status_reply(sale, ticket).await?, &[200], "status")?;
        serde_json::from_value(body).context("reading a status")
    }

    /// `POST …/hold` with `ticket` and `body` (a `payment_method` or `card`).
    pub async fn hold_reply(&self, sale: &str, ticket: &str, body: &Value) -> Result<Reply> {
        let url = self.api(sale, "hold");
        let request = self.http.post(&url).bearer_auth(ticket).json(body);
        let request = self.proven(request, "POST", &url, Some(ticket));
        self.send(request, "hold").await
    }

    /// Puts a card on hold for `ticket`: the hold and the ticket that carries it (201).
    pub async fn hold(&self, sale: &str, ticket: &str, body: &Value) -> Result<HoldResponse> {
        let body = body_if(self.hold_reply(sale, ticket, body).await?, &[201], "hold")?;
        serde_json::from_value(body).context("reading a hold")
    }

    /// `GET …/hold` with `ticket`: where its hold stands.
    pub async fn hold_state_reply(&self, sale: &str, ticket: &str) -> Result<Reply> {
        let request = self.http.get(self.api(sale, "hold")).bearer_auth(ticket);
        self.send(request, "hold state").await
    }

    /// `POST …/purchase` with `pass` (if any) and a JSON `body`.
    pub async fn purchase_reply(
        &self,
        sale: &str,
        pass: Option<&str>,
        body: &Value,
    ) -> Result<Reply> {
        let url = self.api(sale, "purchase");
        let mut request = self.http.post(&url).json(body);
        if let Some(pass) = pass {
            request = self.proven(request.bearer_auth(pass), "POST", &url, Some(pass));
        }
        self.send(request, "purchase").await
    }

    /// Buys with `pass`: the order, new (201) or the same again (200).
    pub async fn purchase(&self, sale: &str, pass: &str, body: &Value) -> Result<PurchaseResponse> {
        let reply = self.purchase_reply(sale, Some(pass), body).await?;
        serde_json::from_value(body_if(reply, &[200, 201], "purchase")?)
            .context("reading a purchase")
    }

    /// `GET …/seats` with `pass`: a seated sale's seats by section, or one section's rows
    /// (`section`).
    pub async fn seats_reply(
        &self,
        sale: &str,
        pass: &str,
        section: Option<&str>,
    ) -> Result<Reply> {
        let mut request = self.http.get(self.api(sale, "seats")).bearer_auth(pass);
        if let Some(section) = section {
            request = request.query(&[("section", section)]);
        }
        self.send(request, "seats").await
    }

    /// `POST …/seat-holds` with `pass` and a JSON `body` (`{"seats": [...]}` or
    /// `{"best": {"count": n, ...}}`).
    pub async fn seat_hold_reply(&self, sale: &str, pass: &str, body: &Value) -> Result<Reply> {
        let url = self.api(sale, "seat-holds");
        let request = self.http.post(&url).json(body).bearer_auth(pass);
        let request = self.proven(request, "POST", &url, Some(pass));
        self.send(request, "seat hold").await
    }

    /// `POST …/seat-holds/{hold}/confirm` with `pass`: buys the held seats.
    pub async fn seat_confirm_reply(&self, sale: &str, pass: &str, hold: &str) -> Result<Reply> {
        let url = self.api(sale, &format!("seat-holds/{hold}/confirm"));
        let request = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .bearer_auth(pass);
        let request = self.proven(request, "POST", &url, Some(pass));
        self.send(request, "seat confirmation").await
    }

    /// `DELETE …/seat-holds/{hold}` with `pass`: gives the held seats back.
    pub async fn seat_release_reply(&self, sale: &str, pass: &str, hold: &str) -> Result<Reply> {
        let url = self.api(sale, &format!("seat-holds/{hold}"));
        let request = self.http.delete(&url).bearer_auth(pass);
        let request = self.proven(request, "DELETE", &url, Some(pass));
        self.send(request, "seat release").await
    }

    /// `GET /api/v1/sales/{sale}`: the sale as this edge sees it (admission included).
    pub async fn sale_reply(&self, sale: &str) -> Result<Reply> {
        let request = self.http.get(format!("{}/api/v1/sales/{sale}", self.edge));
        self.send(request, "sale").await
    }

    /// `GET` (without `request`) or `POST` (with it) `/admin/v1/sales/{sale}/control`: the
    /// operator reads or changes the sale's admission at the edge.
    pub async fn control_reply(
        &self,
        sale: &str,
        admin_token: &str,
        request: Option<&Value>,
    ) -> Result<Reply> {
        let url = format!("{}/admin/v1/sales/{sale}/control", self.edge);
        let request = match request {
            Some(body) => self.http.post(url).json(body),
            None => self.http.get(url),
        };
        self.send(request.bearer_auth(admin_token), "control").await
    }
}

impl EdgeClient {
    /// `GET /admin/v1/sales/{sale}/storage`: what the sale's objects store, with the admin
    /// token.
    pub async fn storage_reply(&self, sale: &str, admin_token: &str) -> Result<Reply> {
        let url = format!("{}/admin/v1/sales/{sale}/storage", self.edge);
        self.send(self.http.get(url).bearer_auth(admin_token), "storage")
            .await
    }

    /// `GET /admin/v1/sales/{sale}/counters`: what the edge counted for the sale, with the
    /// admin token.
    pub async fn counters_reply(&self, sale: &str, admin_token: &str) -> Result<Reply> {
        let url = format!("{}/admin/v1/sales/{sale}/counters", self.edge);
        self.send(self.http.get(url).bearer_auth(admin_token), "counters")
            .await
    }
}

/// Joins made again with a harder challenge before [`EdgeClient::solve_and_join_reply`] gives
/// the answer back as it is.
pub const MORE_WORK_ROUNDS: u32 = 3;

/// The harder challenge of a join answered `more_work_required`, if that is the answer.
pub fn more_work(reply: &Reply) -> Option<ChallengeResponse> {
    if reply.0 != 403 || reply.1["error"]["code"] != "more_work_required" {
        return None;
    }
    serde_json::from_value::<MoreWorkBody>(reply.1.clone())
        .ok()
        .map(|b| b.challenge)
}

/// A nonce that solves `challenge`, found off the runtime's reactor threads (solving is CPU
/// work).
pub async fn solve(challenge: &ChallengeResponse) -> Result<u64> {
    let (token, bits) = (challenge.challenge.clone(), challenge.bits);
    tokio::task::spawn_blocking(move || pow::solve(&token, bits, 0..u64::MAX))
        .await?
        .context("no nonce solves the challenge")
}

/// An operator at the origin: its URL, the admin token and a connection pool. Cheap to clone.
/// Its `Debug` leaves the token out.
#[derive(Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    origin: String,
    token: String,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("origin", &self.origin)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl AdminClient {
    /// An operator of the origin at `origin_url` (`http://host:port`) with `admin_token`.
    pub fn new(http: reqwest::Client, origin_url: &str, admin_token: &str) -> Self {
        AdminClient {
            http,
            origin: origin_url.trim_end_matches('/').to_owned(),
            token: admin_token.to_owned(),
        }
    }

    fn sale_url(&self, sale: &str) -> String {
        format!("{}/admin/v1/sales/{sale}", self.origin)
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Reply> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("{what}: no answer from the origin at {}", self.origin))?;
        read_reply(response).await
    }

    /// `PUT /admin/v1/sales/{sale}` with any JSON, valid or not.
    pub async fn put_sale_reply(&self, sale: &str, config: &Value) -> Result<Reply> {
        let request = self.http.put(self.sale_url(sale)).json(config);
        self.send(request, "creating the sale").await
    }

    /// Creates (201) or updates (200) a sale: everything the origin then knows about it.
    pub async fn put_sale(&self, sale: &str, config: &SaleConfig) -> Result<AdminSaleState> {
        let request = self.http.put(self.sale_url(sale)).json(config);
        let reply = self.send(request, "creating the sale").await?;
        let what = format!("creating the sale {sale}");
        serde_json::from_value(body_if(reply, &[200, 201], &what)?).context("reading a sale")
    }

    /// `GET /admin/v1/sales/{sale}`.
    pub async fn sale_reply(&self, sale: &str) -> Result<Reply> {
        self.send(self.http.get(self.sale_url(sale)), "reading the sale")
            .await
    }

    /// `GET /admin/v1/sales`: every sale, by id.
    pub async fn sales_reply(&self) -> Result<Reply> {
        let url = format!("{}/admin/v1/sales", self.origin);
        self.send(self.http.get(url), "listing the sales").await
    }

    /// Everything the origin knows about a sale (200).
    pub async fn sale(&self, sale: &str) -> Result<AdminSaleState> {
        let what = format!("reading the sale {sale}");
        let body = body_if(self.sale_reply(sale).await?, &[200], &what)?;
        serde_json::from_value(body).context("reading a sale")
    }

    /// `POST /admin/v1/sales/{sale}/audit` with `request` (`{"apply": true}` cancels the
    /// flagged orders; `{}` is a dry run).
    pub async fn audit_reply(&self, sale: &str, request: &Value) -> Result<Reply> {
        let request = self
            .http
            .post(format!("{}/audit", self.sale_url(sale)))
            .json(request);
        self.send(request, "audit").await
    }

    /// `POST /admin/v1/sales/{sale}/control` at the origin with `request` (`{"action":
    /// "pause"}`, `{"action": "resume"}`, `{"action": "set_rate", "rate": 800}`).
    pub async fn control_reply(&self, sale: &str, request: &Value) -> Result<Reply> {
        let request = self
            .http
            .post(format!("{}/control", self.sale_url(sale)))
            .json(request);
        self.send(request, "control").await
    }

    /// The audit's JSON report (200).
    pub async fn audit(&self, sale: &str, request: &Value) -> Result<Value> {
        body_if(self.audit_reply(sale, request).await?, &[200], "audit")
    }

    /// The origin's Prometheus metrics (`GET /metrics`, 200), in the text exposition format.
    pub async fn metrics_text(&self) -> Result<String> {
        let url = format!("{}/metrics", self.origin);
        match self.send(self.http.get(url), "metrics").await? {
            (200, Value::String(text)) => Ok(text),
            (status, body) => bail!("metrics: {status} {body}"),
        }
    }

    /// The audit's report as text for people (200).
    pub async fn audit_text(&self, sale: &str, request: &Value) -> Result<String> {
        let request = self
            .http
            .post(format!("{}/audit?format=text", self.sale_url(sale)))
            .json(request);
        match self.send(request, "audit").await? {
            (200, Value::String(text)) => Ok(text),
            (status, body) => bail!("audit: {status} {body}"),
        }
    }
}
