//! One simulated client: its identity (user agent and IP as the edge sees them) and timed
//! requests to the edge's API.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use herdgate_testkit::client::Devices;
use herdgate_testkit::Identity;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

/// The edge endpoints the herd calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST …/challenge`
    Challenge,
    /// `POST …/join`
    Join,
    /// `GET …/status`
    Status,
    /// `POST …/purchase`
    Purchase,
    /// `POST …/hold` (card holds)
    Hold,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Challenge,
        Endpoint::Join,
        Endpoint::Status,
        Endpoint::Purchase,
        Endpoint::Hold,
    ];

    fn path(self) -> &'static str {
        match self {
            Endpoint::Challenge => "challenge",
            Endpoint::Join => "join",
            Endpoint::Status => "status",
            Endpoint::Purchase => "purchase",
            Endpoint::Hold => "hold",
        }
    }
}

/// One timed request.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// When it was sent, ms since the herd started.
    pub at_ms: u32,
    /// How long the answer took, µs.
    pub latency_us: u32,
    /// The HTTP status, or 0 if no answer came.
    pub status: u16,
}

/// An answer: the status (0 when the request failed) and the JSON body (`Null` if none).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status, 0 for no answer.
    pub status: u16,
    /// Parsed body.
    pub body: Value,
}

impl Reply {
    /// The refusal code, if the body is a refusal.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// Live counts of the crowd, for the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    /// Joined the queue (tickets handed out).
    pub joined: AtomicU64,
    /// Holding a ticket, not admitted yet.
    pub waiting: AtomicI64,
    /// Admitted (saw a pass).
    pub admitted: AtomicU64,
    /// Bought an item.
    pub bought: AtomicU64,
    /// Told the sale sold out.
    pub sold_out: AtomicU64,
    /// Refused, or no answer.
    pub refused: AtomicU64,
}

/// One admission: when the edge issued the pass, by its own stamp, and when the buyer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Admitted {
    /// When the edge issued the pass (its `adm` claim), unix ms; 0 if the pass had none.
    pub edge_ms: u64,
    /// When the buyer saw "admitted", ms since the herd started.
    pub seen_ms: u32,
    /// The queue position the pass was earned with.
    pub position: u64,
    /// The pass came with the join: the position was already admitted when the buyer joined,
    /// so its moment measures the join, not the admission rate.
    pub on_join: bool,
}

/// A "queued" answer: when the request that got it was sent, and for which position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Waited {
    /// When the request was sent, ms since the herd started (the edge answered later).
    pub sent_ms: u32,
    /// The position the edge said was still queued.
    pub position: u64,
}

/// What every client of the herd shares.
#[derive(Clone)]
pub struct Shared {
    /// Live counts.
    pub counters: Arc<Counters>,
    /// Every admission of the crowd.
    pub admissions: Arc<Mutex<Vec<Admitted>>>,
    /// Every "queued" answer the crowd got.
    pub waits: Arc<Mutex<Vec<Waited>>>,
    /// The HTTP client (connection pool).
    pub http: reqwest::Client,
    /// Bounds the honest buyers' requests in flight across the herd.
    pub gate: Arc<Semaphore>,
    /// Bots' proof-of-work solving runs one at a time: a bot's compute is its own, and on
    /// this machine it would otherwise starve the edge under test of CPU.
    pub bot_solver: Arc<Semaphore>,
    /// `<edge>/api/v1/sales/<sale>/`
    pub api: Arc<str>,
    /// When the herd started.
    pub t0: Instant,
    /// Each client's device key, by user agent (one per simulated person or program): a
    /// client made again for the same person (the fault suite's buyers who ask again) is the
    /// same device, as a page that is still open is.
    pub devices: Devices,
}

impl Shared {
    /// What a herd of `cfg` shares, over the client `http`, counting time from `t0`: empty
    /// records, at most `cfg.connections` buyers' requests at once, one bot solving at a time.
    pub fn new(cfg: &crate::plan::HerdConfig, http: reqwest::Client, t0: Instant) -> Self {
        Shared {
            counters: Arc::new(Counters::default()),
            admissions: Arc::new(Mutex::new(Vec::new())),
            waits: Arc::new(Mutex::new(Vec::new())),
            http,
            gate: Arc::new(Semaphore::new(cfg.connections.max(1))),
            bot_solver: Arc::new(Semaphore::new(1)),
            devices: Devices::default(),
            api: format!(
                "{}/api/v1/sales/{}/",
                cfg.edge.trim_end_matches('/'),
                cfg.sale
            )
            .into(),
            t0,
        }
    }
}

/// How a person (rather than a program) behaves: the browser solves the proof of work at a
/// browser's speed, and the person takes a moment to press "buy".
#[derive(Debug, Clone, Copy)]
pub struct Human {
    /// The browser's proof-of-work speed, hashes per second.
    pub hashes_per_sec: f64,
    /// Shortest and longest time to press "buy" once admitted, ms.
    pub think_ms: (u64, u64),
}

/// Desktop-class browser speed of the page's solver, measured by `scripts/pow-speed.mjs` in
/// Debian's Chromium on the benchmark machine (see BENCHMARKS.md).
pub const DESKTOP_HASHES_PER_SEC: f64 = 147_000.0;
/// How long the herd's people take to press "buy" once admitted, shortest and longest, ms.
pub const PEOPLE_THINK_MS: (u64, u64) = (800, 3_000);
/// Phone-class speed: the same measurement with Chromium's CPU throttling at 4x.
pub const PHONE_HASHES_PER_SEC: f64 = 34_000.0;

/// One simulated client.
pub struct SimClient {
    shared: Shared,
    identity: Identity,
    /// Device signals sent with the challenge request, as the page sends them.
    pub device: Option<Value>,
    /// Set for people; `None` for programs.
    pub human: Option<Human>,
    /// Puts a card on hold (Stripe's test card `pm_card_visa`) right after joining.
    pub preauth: bool,
    /// Every request this client made.
    pub events: Vec<Event>,
    /// The place in line the edge last told (the drawn place, for a sale with a pre-queue).
    place: Option<u64>,
}

impl SimClient {
    /// A client with its own user agent and IP address (sent as `CF-Connecting-IP`, which the
    /// edge reads as Cloudflare would set it), and the device key of its user agent (see
    /// [`Shared::devices`]).
    pub fn new(shared: Shared, user_agent: String, ip: String) -> Self {
        let key = shared.devices.key(&user_agent);
        SimClient {
            shared,
            identity: Identity::of_device(user_agent, key).with_ip(ip),
            device: None,
            human: None,
            preauth: false,
            events: Vec::new(),
            place: None,
        }
    }

    /// The same client, placed by Cloudflare in `country` on `continent` (`request.cf`).
    pub fn in_country(mut self, country: &str, continent: &str) -> Self {
        self.identity = self.identity.in_country(country, continent);
        self
    }

    /// The same client with an `Accept-Language` header on every request.
    pub fn with_language(mut self, accept_language: &str) -> Self {
        self.identity = self.identity.with_language(accept_language);
        self
    }

    /// The same client, reporting `device` signals with its challenge requests.
    pub fn with_device(mut self, device: Value) -> Self {
        self.device = Some(device);
        self
    }

    /// The same client, behaving like a person.
    pub fn as_human(mut self, human: Human) -> Self {
        self.human = Some(human);
        self
    }

    /// Another connection of the same client (same identity, as a second tab).
    pub fn twin(&self) -> SimClient {
        SimClient {
            shared: self.shared.clone(),
            identity: self.identity.clone(),
            device: self.device.clone(),
            human: self.human,
            preauth: self.preauth,
            events: Vec::new(),
            place: None,
        }
    }

    /// Another connection of the same client with a key of its own: the same browser and
    /// network, another device as far as the edge can tell.
    pub fn with_new_key(&self) -> SimClient {
        let mut twin = self.twin();
        let key = Arc::new(herdgate_testkit::client::new_key());
        twin.identity = twin.identity.with_key(Some(key));
        twin
    }

    /// The bots' solver permit.
    pub fn bot_solver(&self) -> Arc<Semaphore> {
        Arc::clone(&self.shared.bot_solver)
    }

    /// The live counts.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// Adds one to a counter.
    pub fn count(&self, counter: fn(&Counters) -> &AtomicU64) {
        counter(&self.shared.counters).fetch_add(1, Ordering::Relaxed);
    }

    /// Moves one waiter out of the waiting count.
    pub fn stop_waiting(&self) {
        self.shared.counters.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records that this client saw "admitted" now, with `pass`; `on_join` when the pass came
    /// with the join. The moment that counts is the one the edge stamped on the pass: the
    /// crowd's own clock also measures how long its polls queued.
    pub fn saw_admission(&self, pass: &str, on_join: bool) {
        let claims = herdgate_core::read_unverified::<herdgate_core::PassClaims>(pass).ok();
        let admitted = Admitted {
            edge_ms: claims.as_ref().map_or(0, |c| c.adm),
            seen_ms: self.now_ms(),
            // The place the status told (a pass names its queue number, which a draw maps).
            position: self
                .place
                .unwrap_or_else(|| claims.as_ref().map_or(0, |c| c.position)),
            on_join,
        };
        self.shared
            .admissions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(admitted);
        self.count(|c| &c.admitted);
    }

    /// Records the place in line an answer told.
    pub fn saw_place(&mut self, position: u64) {
        self.place = Some(position);
    }

    /// Records that the edge answered "queued" for `position` to this client's last request.
    pub fn saw_queued(&self, position: u64) {
        let Some(sent_ms) = self.events.last().map(|e| e.at_ms) else {
            return;
        };
        self.shared
            .waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Waited { sent_ms, position });
    }

    /// Milliseconds since the herd started.
    pub fn now_ms(&self) -> u32 {
        u32::try_from(self.shared.t0.elapsed().as_millis()).unwrap_or(u32::MAX)
    }

    /// Sends one request to `endpoint` with an optional bearer token and JSON body, and the
    /// proof of this client's key, as the page sends it: over the bearer token, or over the
    /// challenge a join presents in its body.
    pub async fn call(
        &mut self,
        endpoint: Endpoint,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let url = format!("{}{}", self.shared.api, endpoint.path());
        let http = &self.shared.http;
        let method = match endpoint {
            Endpoint::Status => "GET",
            _ => "POST",
        };
        let presented = match endpoint {
            Endpoint::Join => body.as_ref().and_then(|b| b["challenge"].as_str()),
            _ => bearer,
        };
        let request = match endpoint {
            Endpoint::Status => http.get(&url),
            _ => http.post(&url),
        };
        // People share the herd's connection budget (it keeps this machine from drowning the
        // edge under test); a bot is a program on a machine of its own and waits for nobody.
        // The proof is signed once the request may go, as a page signs it when it sends: one
        // signed before a wait in the herd's own queue could outlive its 30 s.
        let _permit = match self.human {
            Some(_) => match self.shared.gate.acquire().await {
                Ok(p) => Some(p),
                Err(_) => {
                    return Reply {
                        status: 0,
                        body: Value::Null,
                    }
                }
            },
            None => None,
        };
        let mut req = self.identity.apply_proven(request, method, &url, presented);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let at_ms = self.now_ms();
        let started = Instant::now();
        let reply = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.json::<Value>().await.unwrap_or(Value::Null);
                Reply { status, body }
            }
            Err(_) => Reply {
                status: 0,
                body: Value::Null,
            },
        };
        self.events.push(Event {
            endpoint,
            at_ms,
            latency_us: u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX),
            status: reply.status,
        });
        reply
    }
}
