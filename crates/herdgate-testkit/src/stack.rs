//! [`Stack`]: the three pieces of herdgate on this machine, wired together: a Redis, an origin
//! on it, and the edge worker under workerd in front of the origin.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use herdgate_core::Keyring;
use serde_json::{json, Map, Value};

use crate::client::{AdminClient, Devices, EdgeClient, Identity};
use crate::keyring_spec;
#[cfg(feature = "in-process-origin")]
use crate::TestOrigin;
use crate::{EdgeWorker, Localstripe, OriginOptions, OriginProcess, RedisServer, TestKeys};

/// The origin of a [`Stack`], of either kind.
pub enum StackOrigin {
    /// Served by this process.
    #[cfg(feature = "in-process-origin")]
    InProcess(TestOrigin),
    /// The `herdgate-origin` binary, as a child process.
    Process(OriginProcess),
}

impl StackOrigin {
    /// The origin's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            #[cfg(feature = "in-process-origin")]
            StackOrigin::InProcess(o) => o.addr(),
            StackOrigin::Process(o) => o.addr(),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The origin's process, to kill, restart or freeze it: `None` when it shares this
    /// process.
    pub fn process_mut(&mut self) -> Option<&mut OriginProcess> {
        match self {
            #[cfg(feature = "in-process-origin")]
            StackOrigin::InProcess(_) => None,
            StackOrigin::Process(o) => Some(o),
        }
    }

    /// The origin's own process id: `None` when it shares this process.
    pub fn pid(&self) -> Option<u32> {
        match self {
            #[cfg(feature = "in-process-origin")]
            StackOrigin::InProcess(_) => None,
            StackOrigin::Process(o) => Some(o.pid()),
        }
    }
}

/// Redis, an origin on it and the edge worker in front of it, with their keys; each stopped
/// when the stack is dropped, the edge first and Redis last.
pub struct Stack {
    /// The edge worker under workerd.
    pub edge: EdgeWorker,
    /// The origin.
    pub origin: StackOrigin,
    /// The Redis the origin sells from.
    pub redis: RedisServer,
    /// The pass keyring (shared by the edge and the origin) and the admin token.
    pub keys: TestKeys,
    /// The keyring of challenges and tickets, which only the edge holds.
    pub ticket_keys: Keyring,
    /// A connection pool for the clients the stack hands out.
    pub http: reqwest::Client,
    /// The bindings the edge was started with (vars and secrets), to start another edge of
    /// the same deployment with a setting changed.
    pub edge_bindings: Value,
    /// The device key of each user agent [`Stack::buyer`] handed out.
    devices: Devices,
}

impl Stack {
    /// A stack whose origin is served in this process ([`TestOrigin`]).
    #[cfg(feature = "in-process-origin")]
    pub fn in_process() -> StackBuilder {
        StackBuilder::new(OriginKind::InProcess)
    }

    /// A stack whose origin is the `herdgate-origin` binary at `binary`, as a child process
    /// (for load, where the origin must not share a runtime with the clients).
    pub fn with_origin_binary(binary: impl Into<PathBuf>) -> StackBuilder {
        StackBuilder::new(OriginKind::Process(binary.into()))
    }

    /// A buyer at the edge, known by its user agent alone: the same user agent is the same
    /// device, with the same key, for the stack's whole life (another user agent, another
    /// device).
    pub fn buyer(&self, user_agent: &str) -> EdgeClient {
        self.client(Identity::of_device(
            user_agent,
            self.devices.key(user_agent),
        ))
    }

    /// A client at the edge, seen as `identity`.
    pub fn client(&self, identity: Identity) -> EdgeClient {
        EdgeClient::new(self.http.clone(), self.edge.url(), identity)
    }

    /// The operator at the origin, with the stack's admin token.
    pub fn admin(&self) -> AdminClient {
        AdminClient::new(
            self.http.clone(),
            &self.origin.url(),
            &self.keys.admin_token,
        )
    }
}

enum OriginKind {
    #[cfg(feature = "in-process-origin")]
    InProcess,
    Process(PathBuf),
}

/// How to start a [`Stack`]: the kind of origin (chosen by [`Stack::with_origin_binary`] or,
/// with the `in-process-origin` feature, `Stack::in_process`), its options, and the edge
/// worker's bindings.
#[must_use = "a builder starts nothing until `start`"]
pub struct StackBuilder {
    origin: OriginKind,
    options: OriginOptions,
    vars: Map<String, Value>,
    persist_edge: bool,
    edge_numbers: bool,
}

impl StackBuilder {
    fn new(origin: OriginKind) -> Self {
        StackBuilder {
            origin,
            options: OriginOptions::default(),
            vars: Map::new(),
            persist_edge: false,
            edge_numbers: false,
        }
    }

    /// Worker bindings (vars and secrets) from a JSON object, over those set before: a later
    /// value of a name wins. [`Self::start`] sets the wiring (`ORIGIN_URL`, `TICKET_KEYS`,
    /// `PASS_KEYS`, `ADMIN_TOKEN`) unless it is set here (a test may point the worker
    /// elsewhere); everything else is the worker's default unless set here.
    pub fn vars(mut self, vars: Value) -> Self {
        if let Value::Object(vars) = vars {
            self.vars.extend(vars);
        }
        self
    }

    /// One worker binding, over any set before.
    pub fn var(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars
            .insert(name.to_owned(), Value::String(value.into()));
        self
    }

    /// The origin's options.
    pub fn origin_options(mut self, options: OriginOptions) -> Self {
        self.options = options;
        self
    }

    /// The edge's Durable Objects keep their state on disk ([`EdgeWorker::start_persisted`]),
    /// so the edge can be restarted with it.
    pub fn persist_edge(mut self) -> Self {
        self.persist_edge = true;
        self
    }

    /// The origin reads the edge's numbers for its timelines (`--edge-url`, sampled every
    /// `every_ms`): the console and the report then show the line, not only the books.
    pub fn edge_numbers(mut self, every_ms: u64) -> Self {
        self.edge_numbers = true;
        self.options.timeline_every_ms = Some(every_ms);
        self
    }

    /// Card holds on, at `localstripe`: the edge takes holds there and the origin captures
    /// them, both with [`Localstripe::SECRET_KEY`].
    pub fn localstripe(mut self, localstripe: &Localstripe) -> Self {
        self.options.stripe_api_base = Some(localstripe.url().to_owned());
        self.var("STRIPE_SECRET_KEY", Localstripe::SECRET_KEY)
            .var("STRIPE_API_BASE", localstripe.url())
    }

    /// Starts Redis, then the origin on it, then the edge worker in front of the origin, with
    /// fresh keys; waits until each is ready.
    pub async fn start(mut self) -> Result<Stack> {
        let redis = RedisServer::start()
            .await
            .context("starting redis-server")?;
        let keys = TestKeys::generate();
        // The origin is told the edge's address before the edge starts, on a port chosen now.
        let edge_port = match self.edge_numbers {
            true => Some(crate::free_port()?),
            false => None,
        };
        if let Some(port) = edge_port {
            self.options.edge_url = Some(format!("http://127.0.0.1:{port}"));
        }
        let origin = match &self.origin {
            #[cfg(feature = "in-process-origin")]
            OriginKind::InProcess => StackOrigin::InProcess(
                TestOrigin::start(&redis.url(), &keys, self.options.clone())
                    .await
                    .context("starting the origin in-process")?,
            ),
            OriginKind::Process(binary) => StackOrigin::Process(
                OriginProcess::start_with(binary, &redis.url(), &keys, &self.options)
                    .await
                    .with_context(|| {
                        format!(
                            "starting the origin {} (cargo build --release -p herdgate-origin)",
                            binary.display()
                        )
                    })?,
            ),
        };
        let ticket_spec = keyring_spec("e1");
        let mut bindings = json!({
            "ORIGIN_URL": origin.url(),
            "TICKET_KEYS": ticket_spec,
            "PASS_KEYS": keys.spec,
            "ADMIN_TOKEN": keys.admin_token,
        });
        if let Value::Object(b) = &mut bindings {
            b.extend(self.vars);
        }
        let edge = match (edge_port, self.persist_edge) {
            (Some(port), persist) => EdgeWorker::start_on(&bindings, port, persist).await,
            (None, true) => EdgeWorker::start_persisted(&bindings).await,
            (None, false) => EdgeWorker::start(&bindings).await,
        }
        .context("starting the edge worker (scripts/build-worker.sh builds it)")?;
        Ok(Stack {
            edge,
            origin,
            redis,
            keys,
            ticket_keys: Keyring::parse(&ticket_spec)?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .pool_max_idle_per_host(512)
                .build()?,
            devices: Devices::default(),
            edge_bindings: bindings,
        })
    }
}
