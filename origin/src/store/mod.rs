//! The inventory store: Redis, driven only through the scripts in `lua/`.
//!
//! Every key of one sale shares the Redis Cluster hash tag `{<sale>}`:
//!
//! | key | type | what |
//! |---|---|---|
//! | `hg:{<sale>}:sale` | hash | stock, remaining, sold, limit, starts_at_ms, rate, seq, price, paused, revision (of the settings), cancelled (orders), replays (answers given again: a write, for the wait for replicas) |
//! | `hg:{<sale>}:orders` | hash | visitor → order JSON |
//! | `hg:{<sale>}:passes` | hash | spent pass id → order id |
//! | `hg:{<sale>}:log` | stream | one entry per order (and per cancellation), for downstream consumers |
//! | `hg:{<sale>}:facts` | hash | visitor → what the audit needs (client, network, device digests; admission time) |
//! | `hg:{<sale>}:cancelled` | hash | visitor → an order the audit cancelled |
//! | `hg:{<sale>}:payments` | hash | visitor → the order's card payment (hold, amount, pending or captured) |
//! | `hg:{<sale>}:dead_holds` | set | holds whose capture failed: never tried again |
//! | `hg:{<sale>}:seat_rows`, `seat_tiers`, `seat_access` | hash | a seated sale's rows: `<section>/<row>` → one character per seat (state, tier, access); the tiers' prices and ids |
//! | `hg:{<sale>}:seat_sections` | string | the map's sections and their rows, best first (JSON) |
//! | `hg:{<sale>}:holds`, `visitor_hold`, `hold_expiry`, `lapsed_holds` | hash, hash, sorted set, hash | seat holds by id, each visitor's live hold, holds by expiry, holds whose time ran out |
//! | `hg:{<sale>}:timeline` | stream | the timeline recorder's samples (see [`timeline`]) |
//! | `hg:{<sale>}:xfer_open`, `xfer_done`, `xfer_recv` | hash | a place of a sale with stock shards, or a region's reserve: transfers it started and has not settled, settled, and received (see [`stock_shards`] and `regions.rs`) |
//! | `hg:{<sale>.<k>.<j>}:…` | | stock shard `k` of a sharded sale: its own `sale` hash (stock, a copy of the settings), `orders`, `passes`, `log`, `facts`, `payments`, … as above |
//! | `hg:sharded_sales` | set | the ids of the sales with stock shards, for their keeper |
//!
//! Scripts are hashed once at start-up ([`Scripts`]), called with `EVALSHA`, and loaded again
//! when Redis answers `NOSCRIPT` (after a restart or a `SCRIPT FLUSH`). fred multiplexes the
//! commands of all concurrent requests over a few connections and pipelines them, so many
//! purchases share one round trip's worth of syscalls.
//!
//! This file holds the connection, the scripts' cache and the keys. Each script has its own
//! file, as mini-redis has one per command: its call (the script's `KEYS` and `ARGV`), its
//! reply, the [`Store`] method that runs it, and the plain reads of what it writes.
//!
//! | script | file | reads beside it |
//! |---|---|---|
//! | `lua/purchase.lua` | [`purchase`] | — |
//! | `lua/settle_payment.lua` | [`settle_payment`] | pending payments, for the reconciler; a refund's record |
//! | `lua/cancel_orders.lua` | [`cancel_orders`] | the orders and their facts, for the audit |
//! | `lua/sold_out_snapshot.lua` | [`sold_out_snapshot`] | — |
//! | `lua/upsert_sale.lua` | [`upsert_sale`] | the sale's public and admin state |
//! | `lua/control_sale.lua` | [`control_sale`] | — |
//! | `lua/seats.lua` | [`seats`] | the seats as they stand, for the availability route |
//! | `lua/stock_shard.lua` | [`stock_shards`] | every place's counts, for the sold-out check |
//!
//! And one file, [`timeline`], for what is no script's: the timeline the recorder keeps, the
//! payment counts it samples, and the console's sessions; and one, [`replication`], for the
//! wait for replicas that follows every script.

pub mod cancel_orders;
pub mod control_sale;
pub mod purchase;
pub mod replication;
pub mod seats;
pub mod settle_payment;
pub mod sold_out_snapshot;
pub mod stock_shards;
pub mod timeline;
pub mod upsert_sale;

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use herdgate_core::wire::Order;
use herdgate_core::{ErrorCode, SaleId};

use crate::error::Refusal;

pub use cancel_orders::{CancelOrdersCall, CancelOrdersReply, ToRefund};
pub use control_sale::{ControlSaleCall, ControlSaleReply};
pub use purchase::{PurchaseCall, PurchaseReply, RecordedFacts};
pub use replication::WaitReplicas;
pub use settle_payment::{Payment, PaymentState, SettlePaymentCall, SettlePaymentReply};
pub use sold_out_snapshot::{SoldOutSnapshotCall, SoldOutSnapshotReply};
pub use stock_shards::{Place, ShardLayout, StockCounts};
pub use upsert_sale::{UpsertSaleCall, UpsertSaleReply, MAX_STOCK};

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis is unreachable, too slow, or restarting. The operation may or may not have been
    /// applied; every write here is idempotent, so retrying is safe.
    #[error("redis unavailable: {0}")]
    Unavailable(#[source] Error),
    /// Redis answered something the scripts never return: a bug or a foreign key layout.
    #[error("unexpected reply from redis: {0}")]
    Protocol(String),
    /// The write is done on the primary, but fewer replicas than wanted acknowledged it in
    /// time (see [`replication`]): a failover now could lose it, so it is not answered.
    #[error("{acked} of {wanted} replicas acknowledged the write in time")]
    NotReplicated {
        /// Replicas that acknowledged it.
        acked: u32,
        /// Replicas wanted.
        wanted: u32,
    },
}

/// What a client sees when the store fails: `store_unavailable` (503, retry) or `internal`;
/// the cause goes to the log only.
impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "inventory store unavailable");
                Refusal(ErrorCode::StoreUnavailable)
            }
            StoreError::Protocol(detail) => {
                tracing::error!(%detail, "unexpected answer from the inventory store");
                Refusal(ErrorCode::Internal)
            }
            e @ StoreError::NotReplicated { .. } => {
                tracing::warn!(error = %e, "a write was not replicated in time; answered 503");
                Refusal(ErrorCode::StoreUnavailable)
            }
        }
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e.kind() {
            ErrorKind::Timeout
            | ErrorKind::IO
            | ErrorKind::Canceled
            | ErrorKind::Backpressure
            | ErrorKind::Routing
            | ErrorKind::Cluster
            | ErrorKind::Tls => StoreError::Unavailable(e),
            _ if RETRYABLE.iter().any(|p| e.details().starts_with(p)) => StoreError::Unavailable(e),
            _ => StoreError::Protocol(e.to_string()),
        }
    }
}

/// Redis's answers that mean "not now" rather than "no": a server loading its data or busy
/// with a script, a replica that cannot take writes (during a failover), a cluster reshaping
/// (a slot moving, a primary down, the cluster not covering every slot), or not enough
/// replicas to acknowledge. The request is safe to retry (every script is idempotent), so the
/// client gets 503 `store_unavailable` with `Retry-After`, not a 500. (`CROSSSLOT` is not
/// here: every key of a sale shares its hash tag, so it would be a bug, not a moment.)
pub const RETRYABLE: &[&str] = &[
    "LOADING",
    "BUSY",
    "TRYAGAIN",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "READONLY",
    "NOREPLICAS",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str, tls_ca_pem: Option<&[u8]>) -> StoreConfig {
        StoreConfig {
            url: url.to_owned(),
            pool_size: 1,
            command_timeout: Duration::from_millis(100),
            wait_replicas: WaitReplicas::Auto,
            wait_timeout: Duration::from_millis(100),
            tls_ca_pem: tls_ca_pem.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn a_tls_authority_needs_a_tls_url_and_a_certificate() {
        let not_pem = b"not a certificate".as_slice();
        assert!(builder(&settings("redis://127.0.0.1:6379", Some(not_pem))).is_err());
        assert!(builder(&settings("rediss://127.0.0.1:6379", Some(not_pem))).is_err());
        assert!(builder(&settings("rediss://127.0.0.1:6379", None)).is_ok());
        assert!(builder(&settings("redis://127.0.0.1:6379", None)).is_ok());
    }

    #[test]
    fn moments_of_redis_are_503_and_the_rest_500() {
        for reply in [
            "LOADING Redis is loading the dataset in memory",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            "CLUSTERDOWN The cluster is down",
            "READONLY You can't write against a read only replica.",
            "NOREPLICAS Not enough good replicas to write.",
            "BUSY Redis is busy running a script.",
        ] {
            let e = Error::new(ErrorKind::Unknown, reply);
            assert!(
                matches!(StoreError::from(e), StoreError::Unavailable(_)),
                "{reply}"
            );
        }
        for reply in [
            "CROSSSLOT Keys in request don't hash to the same slot",
            "ERR unknown command",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ] {
            let e = Error::new(ErrorKind::Unknown, reply);
            assert!(
                matches!(StoreError::from(e), StoreError::Protocol(_)),
                "{reply}"
            );
        }
    }
}

/// The Lua scripts, embedded at build time and hashed once.
pub struct Scripts {
    purchase: Script,
    upsert_sale: Script,
    sold_out_snapshot: Script,
    cancel_orders: Script,
    settle_payment: Script,
    control_sale: Script,
    seats: Script,
    stock_shard: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            purchase: Script::from_lua(purchase::LUA),
            upsert_sale: Script::from_lua(upsert_sale::LUA),
            sold_out_snapshot: Script::from_lua(sold_out_snapshot::LUA),
            cancel_orders: Script::from_lua(cancel_orders::LUA),
            settle_payment: Script::from_lua(settle_payment::LUA),
            control_sale: Script::from_lua(control_sale::LUA),
            seats: Script::from_lua(seats::LUA),
            stock_shard: Script::from_lua(stock_shards::LUA),
        }
    }

    fn all(&self) -> [&Script; 8] {
        [
            &self.purchase,
            &self.upsert_sale,
            &self.sold_out_snapshot,
            &self.cancel_orders,
            &self.settle_payment,
            &self.control_sale,
            &self.seats,
            &self.stock_shard,
        ]
    }

    /// The SHA1 of the purchase script, as `EVALSHA` takes it (used by the benchmark).
    pub fn purchase_sha(&self) -> &str {
        self.purchase.sha1()
    }
}

/// The keys of one sale (or of one of its stock shards: [`SaleKeys::at`]).
#[derive(Debug, Clone)]
pub struct SaleKeys {
    /// `hg:{<sale>}:sale`
    pub sale: String,
    /// `hg:{<sale>}:orders`
    pub orders: String,
    /// `hg:{<sale>}:passes`
    pub passes: String,
    /// `hg:{<sale>}:log`
    pub log: String,
    /// `hg:{<sale>}:facts`
    pub facts: String,
    /// `hg:{<sale>}:cancelled`
    pub cancelled: String,
    /// `hg:{<sale>}:payments`
    pub payments: String,
    /// `hg:{<sale>}:dead_holds`
    pub dead_holds: String,
    /// `hg:{<sale>}:seat_rows` (a seated sale's seats, row by row: `lua/seats.lua`)
    pub seat_rows: String,
    /// `hg:{<sale>}:seat_tiers` (a seated sale's tiers and their prices)
    pub seat_tiers: String,
    /// `hg:{<sale>}:xfer_open` (stock transfers this place started, not settled)
    pub xfer_open: String,
    /// `hg:{<sale>}:xfer_done` (stock transfers this place started and settled)
    pub xfer_done: String,
    /// `hg:{<sale>}:xfer_recv` (stock transfers this place received)
    pub xfer_recv: String,
}

impl SaleKeys {
    /// The keys of `sale`.
    pub fn new(sale: &SaleId) -> Self {
        Self::at(sale.as_str())
    }

    /// The keys under the hash tag `{tag}`: a sale's own, or one of its stock shards'.
    pub fn at(tag: &str) -> Self {
        SaleKeys {
            sale: format!("hg:{{{tag}}}:sale"),
            orders: format!("hg:{{{tag}}}:orders"),
            passes: format!("hg:{{{tag}}}:passes"),
            log: format!("hg:{{{tag}}}:log"),
            facts: format!("hg:{{{tag}}}:facts"),
            cancelled: format!("hg:{{{tag}}}:cancelled"),
            payments: format!("hg:{{{tag}}}:payments"),
            dead_holds: format!("hg:{{{tag}}}:dead_holds"),
            seat_rows: format!("hg:{{{tag}}}:seat_rows"),
            seat_tiers: format!("hg:{{{tag}}}:seat_tiers"),
            xfer_open: format!("hg:{{{tag}}}:xfer_open"),
            xfer_done: format!("hg:{{{tag}}}:xfer_done"),
            xfer_recv: format!("hg:{{{tag}}}:xfer_recv"),
        }
    }

    /// The sale of a key's hash tag: `hg:{<sale>}:…` or a stock shard's `hg:{<sale>.<k>.<j>}:…`.
    pub fn sale_of_key(key: &str) -> Option<SaleId> {
        let tag = key.strip_prefix("hg:{")?.split_once('}')?.0;
        SaleId::parse(tag.split('.').next()?).ok()
    }
}

/// Settings for the Redis connections.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `redis://host:port[/db]`, with optional user and password.
    pub url: String,
    /// Connections, each multiplexing many requests.
    pub pool_size: usize,
    /// A command that takes longer fails with [`StoreError::Unavailable`].
    pub command_timeout: Duration,
    /// Replicas that must acknowledge a script's writes before it is answered.
    pub wait_replicas: WaitReplicas,
    /// How long a write waits for them; then it is [`StoreError::NotReplicated`].
    pub wait_timeout: Duration,
    /// For a `rediss://` URL: the certificate authorities (PEM) Redis's certificate must
    /// chain to; `None`: the system's.
    pub tls_ca_pem: Option<Vec<u8>>,
}

/// The inventory store.
pub struct Store {
    pool: Pool,
    scripts: Scripts,
    config: StoreConfig,
    /// Redis Cluster (`redis-cluster://`): scripts go to every primary, scans cover them all.
    clustered: bool,
    /// With [`WaitReplicas::Auto`]: each primary's connected replicas (`host:port`; `""` for a
    /// lone Redis), as last read (see [`replication`]).
    replicas: std::sync::RwLock<std::collections::HashMap<String, u32>>,
    /// Each sale's stock shards, as read once (they never change): `None` for none.
    layouts:
        std::sync::RwLock<std::collections::HashMap<SaleId, Option<std::sync::Arc<ShardLayout>>>>,
    /// One refill at a time per stock shard (see [`stock_shards`]).
    refills: RefillLocks,
    /// Redis Cluster: a pool of its own for each primary (`host:port`), where scripts go
    /// straight to the primary of their slot (see [`Store::route`]).
    node_pools: std::sync::RwLock<std::collections::HashMap<String, Pool>>,
}

type RefillLocks = std::sync::Mutex<
    std::collections::HashMap<(SaleId, u32), std::sync::Arc<tokio::sync::Mutex<()>>>,
>;

fn builder(config: &StoreConfig) -> Result<Builder, Error> {
    builder_for(Config::from_url(&config.url)?, config)
}

/// The same settings, to one node of a cluster only: no redirections followed, no view of the
/// cluster to keep in sync.
fn node_builder(
    config: &StoreConfig,
    node: &fred::types::config::Server,
) -> Result<Builder, Error> {
    let mut redis = Config::from_url(&config.url)?;
    redis.server = ServerConfig::Centralized {
        server: node.clone(),
    };
    builder_for(redis, config)
}

fn builder_for(mut redis: Config, config: &StoreConfig) -> Result<Builder, Error> {
    if let Some(pem) = &config.tls_ca_pem {
        if redis.tls.is_none() {
            return Err(Error::new(
                ErrorKind::Config,
                "--redis-tls-ca is for a rediss:// URL",
            ));
        }
        redis.tls = Some(tls_trusting(pem)?.into());
    }
    // Start even if Redis is down (readiness says so); reconnect for ever, quickly.
    redis.fail_fast = false;
    let mut b = Builder::from_config(redis);
    b.set_policy(ReconnectPolicy::new_constant(0, 100));
    b.with_performance_config(|p| {
        p.default_command_timeout = config.command_timeout;
    });
    b.with_connection_config(|c| {
        c.connection_timeout = config.command_timeout;
        c.internal_command_timeout = config.command_timeout;
        // A command retried after a dropped connection may run twice: every script here is
        // idempotent, so that is safe; more attempts only delay the 503.
        c.max_command_attempts = 2;
        c.unresponsive.max_timeout = Some(config.command_timeout * 2);
        c.unresponsive.interval = Duration::from_millis(250);
        c.tcp.nodelay = Some(true);
    });
    Ok(b)
}

/// Each primary of the cluster as `client` knows it (`host:port`), with one slot it serves: a
/// command sent with that slot as its hash goes to that primary. (A keyless command such as
/// `SCRIPT EXISTS` or `INFO` is otherwise routed by its first argument, as if it were a key.)
fn primary_slots(client: &Client) -> Vec<(String, u16)> {
    let Some(state) = client.cached_cluster_state() else {
        return Vec::new();
    };
    let mut out: Vec<(String, u16)> = Vec::new();
    for range in state.slots() {
        let name = format!("{}:{}", range.primary.host, range.primary.port);
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, range.start));
        }
    }
    out
}

/// A TLS client that trusts the certificate authorities in `pem` (and no other).
fn tls_trusting(pem: &[u8]) -> Result<rustls::ClientConfig, Error> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| Error::new(ErrorKind::Tls, format!("--redis-tls-ca: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::new(ErrorKind::Tls, format!("--redis-tls-ca: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::new(
            ErrorKind::Tls,
            "--redis-tls-ca holds no certificate",
        ));
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Store {
    /// Connects (in the background: the store is usable at once and fails fast while Redis is
    /// unreachable) and loads the scripts once Redis answers.
    pub async fn connect(config: StoreConfig) -> Result<Self, StoreError> {
        let clustered = Config::from_url(&config.url)?.server.is_clustered();
        let pool = builder(&config)?.build_pool(config.pool_size.max(1))?;
        let _handles = pool.connect_pool();
        let store = Store {
            pool,
            scripts: Scripts::new(),
            config,
            clustered,
            replicas: Default::default(),
            layouts: Default::default(),
            refills: Default::default(),
            node_pools: Default::default(),
        };
        match tokio::time::timeout(
            store.config.command_timeout * 3,
            store.pool.wait_for_connect(),
        )
        .await
        {
            Ok(Ok(())) => {
                if let Err(e) = store.load_scripts().await {
                    tracing::warn!(error = %e, "could not load scripts yet; will retry on demand");
                }
                if store.config.wait_replicas == WaitReplicas::Auto {
                    if let Err(e) = store.refresh_replication().await {
                        tracing::warn!(error = %e, "could not read the replicas yet");
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "redis not reachable yet"),
            Err(_) => tracing::warn!("redis not reachable yet; retrying in the background"),
        }
        Ok(store)
    }

    /// A client for pub/sub on the same server, with the same settings.
    pub fn subscriber(&self) -> Result<fred::clients::SubscriberClient, StoreError> {
        Ok(builder(&self.config)?.build_subscriber_client()?)
    }

    /// The scripts (their hashes).
    pub fn scripts(&self) -> &Scripts {
        &self.scripts
    }

    /// Loads every script into Redis's script cache: on a cluster, into every primary's (a
    /// script is run by the primary of its keys' slot, which may be any of them).
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        for s in self.scripts.all() {
            if let Some(lua) = s.lua() {
                let client = self.pool.next();
                if self.clustered {
                    let _: String = client.script_load_cluster(lua.clone()).await?;
                } else {
                    let _: String = client.script_load(lua.clone()).await?;
                }
            }
        }
        Ok(())
    }

    /// Whether Redis answers and holds every script: on a cluster, every primary.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        let shas: Vec<String> = self
            .scripts
            .all()
            .iter()
            .map(|s| s.sha1().to_string())
            .collect();
        let client = self.pool.next();
        if !self.clustered {
            let present: Vec<bool> = client.script_exists(shas).await?;
            return Ok(present.iter().all(|p| *p));
        }
        let primaries = primary_slots(client);
        if primaries.is_empty() {
            return Ok(false);
        }
        let mut args = vec!["EXISTS".to_owned()];
        args.extend(shas);
        for (_, slot) in primaries {
            let exists = fred::types::CustomCommand::new_static("SCRIPT", slot, false);
            let present: Vec<bool> = client.custom(exists, args.clone()).await?;
            if !present.iter().all(|p| *p) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Every key matching `pattern`, by `SCAN` (on a cluster, every primary's): possibly with
    /// duplicates, as `SCAN` may return a key twice.
    pub(crate) async fn scan_keys(&self, pattern: String) -> Result<Vec<String>, StoreError> {
        use futures_util::TryStreamExt;
        let client = self.pool.next();
        let mut pages: std::pin::Pin<Box<dyn futures_util::Stream<Item = _> + Send>> =
            if self.clustered {
                Box::pin(client.scan_cluster_buffered(pattern, Some(200), None))
            } else {
                Box::pin(client.scan_buffered(pattern, Some(200), None))
            };
        let mut keys = Vec::new();
        while let Some(key) = pages.try_next().await? {
            if let Some(k) = key.as_str() {
                keys.push(k.to_owned());
            }
        }
        Ok(keys)
    }

    async fn evalsha(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Vec<Value>, StoreError> {
        // Converted once: fred's keys and values hold `Bytes`, so the copy kept for a retry
        // after NOSCRIPT costs reference counts, not string copies, on every purchase.
        let slot = keys
            .first()
            .map(|k| fred::util::redis_keyslot(k.as_bytes()))
            .unwrap_or(0);
        let keys = fred::types::MultipleKeys::from(keys);
        let args = Value::Array(args.into_iter().map(Value::from).collect());
        let (client, direct) = self.route(slot);
        let (client, reply) = match self
            .run_script(&client, direct, script, keys.clone(), args.clone())
            .await
        {
            // The slot moved (a failover or a reshard this view has not seen yet): the
            // clustered client follows the redirection and learns the new owner. (`ASK`, a slot
            // being migrated, is a 503: the `WAIT` after the script would not reach the node
            // that ran it.)
            Err(StoreError::Unavailable(e)) if direct && e.is_moved() => {
                let clustered = self.pool.next().clone();
                let reply = self
                    .run_script(&clustered, false, script, keys, args)
                    .await?;
                (clustered, reply)
            }
            other => (client, other?),
        };
        // Answered only once enough replicas have it (see `replication`), asked on the same
        // connection.
        let wanted = self.replicas_wanted(slot);
        if wanted > 0 {
            self.replicated(&client, slot, wanted).await?;
        }
        Ok(reply)
    }

    /// The client a command for `slot` goes through, and whether it is a primary's own
    /// (`true`) or the clustered pool's. On a cluster, each primary has a pool of its own, and
    /// a command for a slot goes to the primary the cluster's last known view names for it.
    /// So while one primary is down (until its replica is promoted), the others keep
    /// answering: fred's clustered client holds every node's new commands while it cannot
    /// resync its view of the cluster (it cannot while a node it lists is unreachable).
    pub(crate) fn route(&self, slot: u16) -> (Client, bool) {
        let clustered = self.pool.next();
        if !self.clustered {
            return (clustered.clone(), false);
        }
        let Some(node) = clustered
            .cached_cluster_state()
            .and_then(|state| state.get_server(slot).cloned())
        else {
            return (clustered.clone(), false);
        };
        let name = format!("{}:{}", node.host, node.port);
        if let Some(pool) = self
            .node_pools
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&name)
        {
            return (pool.next().clone(), true);
        }
        let pool = match node_builder(&self.config, &node)
            .and_then(|b| b.build_pool(self.config.pool_size.max(1)))
        {
            Ok(pool) => pool,
            Err(e) => {
                tracing::warn!(error = %e, %name, "no pool of its own for a primary");
                return (clustered.clone(), false);
            }
        };
        let mut pools = self
            .node_pools
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pool = pools.entry(name).or_insert_with(|| {
            let _handles = pool.connect_pool();
            pool
        });
        (pool.next().clone(), true)
    }

    /// `HMGET key fields`, sent as [`Store::route`] routes it (through the clustered client
    /// when the slot moved).
    pub(crate) async fn hmget_routed<T: FromValue>(
        &self,
        key: &str,
        fields: Vec<&'static str>,
    ) -> Result<T, StoreError> {
        let (client, direct) = self.route(fred::util::redis_keyslot(key.as_bytes()));
        match client.hmget(key, fields.clone()).await {
            Err(e) if direct && e.is_moved() => Ok(self.pool.next().hmget(key, fields).await?),
            other => Ok(other?),
        }
    }

    /// `EVALSHA` on `client`; on `NOSCRIPT`, loads the scripts (into `client`'s one node for a
    /// primary's own pool, `direct`: a primary promoted from a replica, which has no script
    /// cache; else into every primary) and runs it once more.
    async fn run_script(
        &self,
        client: &Client,
        direct: bool,
        script: &Script,
        keys: fred::types::MultipleKeys,
        args: Value,
    ) -> Result<Vec<Value>, StoreError> {
        match client
            .evalsha::<Vec<Value>, _, _, _>(script.sha1().clone(), keys.clone(), args.clone())
            .await
        {
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                tracing::info!("redis lost its script cache; loading scripts again");
                if direct {
                    self.load_scripts_on(client).await?;
                } else {
                    self.load_scripts().await?;
                }
                Ok(client.evalsha(script.sha1().clone(), keys, args).await?)
            }
            other => Ok(other?),
        }
    }

    /// Loads every script into the script cache of `client`'s one node.
    async fn load_scripts_on(&self, client: &Client) -> Result<(), StoreError> {
        for s in self.scripts.all() {
            if let Some(lua) = s.lua() {
                let _: String = client.script_load(lua.clone()).await?;
            }
        }
        Ok(())
    }

    /// Closes the connections.
    pub async fn quit(&self) {
        let pools: Vec<Pool> = self
            .node_pools
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for pool in pools {
            let _ = pool.quit().await;
        }
        let _ = self.pool.quit().await;
    }
}

fn text(reply: &[Value], i: usize) -> Result<String, StoreError> {
    reply
        .get(i)
        .and_then(|v| v.as_str().map(|s| s.into_owned()))
        .ok_or_else(|| StoreError::Protocol(format!("missing text at {i}")))
}

fn int(reply: &[Value], i: usize) -> Result<u64, StoreError> {
    reply
        .get(i)
        .and_then(Value::as_u64)
        .ok_or_else(|| StoreError::Protocol(format!("missing integer at {i}")))
}

fn parse_order(json: &str) -> Result<Order, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Protocol(format!("bad order JSON: {e}")))
}
