//! The inventory store: Redis, driven only through the scripts in `lua/`.
//!
//! Every key of one sale shares the Redis Cluster hash tag `{<sale>}`:
//!
//! | key | type | what |
//! |---|---|---|
//! | `hg:{<sale>}:sale` | hash | stock, remaining, sold, limit, starts_at_ms, rate, seq |
//! | `hg:{<sale>}:orders` | hash | visitor → order JSON |
//! | `hg:{<sale>}:passes` | hash | spent pass id → order id |
//! | `hg:{<sale>}:log` | stream | one entry per order (and per cancellation), for downstream consumers |
//! | `hg:{<sale>}:facts` | hash | visitor → what the audit needs (client, network, device digests; admission time) |
//! | `hg:{<sale>}:cancelled` | hash | visitor → an order the audit cancelled |
//! | `hg:{<sale>}:payments` | hash | visitor → the order's card payment (hold, amount, pending or captured) |
//! | `hg:{<sale>}:dead_holds` | set | holds whose capture failed: never tried again |
//!
//! Scripts are hashed once at start-up ([`Scripts`]), called with `EVALSHA`, and loaded again
//! when Redis answers `NOSCRIPT` (after a restart or a `SCRIPT FLUSH`). fred multiplexes the
//! commands of all concurrent requests over a few connections and pipelines them, so many
//! purchases share one round trip's worth of syscalls.

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use herdgate_core::defence::OrderFacts;
use herdgate_core::wire::{AdminSaleState, Order, Price, SaleConfig, SaleState, SaleStatus};
use herdgate_core::{SaleId, VisitorId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What the origin records with each order for the audit, from the verified pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFacts {
    /// Client binding.
    #[serde(default)]
    pub client: String,
    /// Network digest.
    #[serde(default)]
    pub net: String,
    /// Device digest.
    #[serde(default)]
    pub dev: String,
    /// When the edge admitted the visitor, unix ms.
    #[serde(default)]
    pub adm: u64,
    /// When the edge received the purchase, unix ms (0: it came straight to the origin).
    #[serde(default)]
    pub rcv: u64,
    /// The pass had been offered from another client before it bought.
    #[serde(default)]
    pub shr: bool,
}

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
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e.kind() {
            ErrorKind::Timeout
            | ErrorKind::IO
            | ErrorKind::Canceled
            | ErrorKind::Backpressure
            | ErrorKind::Routing
            | ErrorKind::Cluster => StoreError::Unavailable(e),
            _ if e.details().starts_with("LOADING") || e.details().starts_with("BUSY") => {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Protocol(e.to_string()),
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
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            purchase: Script::from_lua(include_str!("../../lua/purchase.lua")),
            upsert_sale: Script::from_lua(include_str!("../../lua/upsert_sale.lua")),
            sold_out_snapshot: Script::from_lua(include_str!("../../lua/sold_out_snapshot.lua")),
            cancel_orders: Script::from_lua(include_str!("../../lua/cancel_orders.lua")),
            settle_payment: Script::from_lua(include_str!("../../lua/settle_payment.lua")),
        }
    }

    fn all(&self) -> [&Script; 5] {
        [
            &self.purchase,
            &self.upsert_sale,
            &self.sold_out_snapshot,
            &self.cancel_orders,
            &self.settle_payment,
        ]
    }

    /// The SHA1 of the purchase script, as `EVALSHA` takes it (used by the benchmark).
    pub fn purchase_sha(&self) -> &str {
        self.purchase.sha1()
    }
}

/// The keys of one sale.
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
}

impl SaleKeys {
    /// The keys of `sale`.
    pub fn new(sale: &SaleId) -> Self {
        SaleKeys {
            sale: format!("hg:{{{sale}}}:sale"),
            orders: format!("hg:{{{sale}}}:orders"),
            passes: format!("hg:{{{sale}}}:passes"),
            log: format!("hg:{{{sale}}}:log"),
            facts: format!("hg:{{{sale}}}:facts"),
            cancelled: format!("hg:{{{sale}}}:cancelled"),
            payments: format!("hg:{{{sale}}}:payments"),
            dead_holds: format!("hg:{{{sale}}}:dead_holds"),
        }
    }
}

/// One call of `lua/purchase.lua`: its `ARGV`, one for one, and the sale whose keys it takes.
/// The benchmark's baseline builds its `EVALSHA` from this too, so both run the same call.
#[derive(Debug, Clone, Copy)]
pub struct PurchaseCall<'a> {
    /// The sale (its keys, and `ARGV[5]`).
    pub sale: &'a SaleId,
    /// `ARGV[1]`: the buyer.
    pub visitor: &'a VisitorId,
    /// `ARGV[2]`: the pass id (hex, checked by the caller).
    pub pass_id: &'a str,
    /// `ARGV[3]`: items wanted.
    pub quantity: u32,
    /// `ARGV[4]`: now, unix ms.
    pub now_ms: u64,
    /// `ARGV[6]`: the events channel.
    pub channel: &'a str,
    /// `ARGV[7]`: the audit facts, JSON ([`RecordedFacts`]).
    pub facts: &'a str,
    /// `ARGV[8]`: the pass's card hold, or empty.
    pub hold: &'a str,
}

impl PurchaseCall<'_> {
    /// The script's `KEYS` and `ARGV`, in its order.
    pub fn keys_and_args(&self) -> (Vec<String>, Vec<String>) {
        let k = SaleKeys::new(self.sale);
        let keys = vec![
            k.sale,
            k.orders,
            k.passes,
            k.log,
            k.facts,
            k.cancelled,
            k.payments,
            k.dead_holds,
        ];
        let args = vec![
            self.visitor.to_string(),
            self.pass_id.to_owned(),
            self.quantity.to_string(),
            self.now_ms.to_string(),
            self.sale.to_string(),
            self.channel.to_owned(),
            self.facts.to_owned(),
            self.hold.to_owned(),
        ];
        (keys, args)
    }
}

/// What the purchase script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseOutcome {
    /// A new order; `remaining` items are left.
    Created {
        /// The order.
        order: Order,
        /// Items left.
        remaining: u64,
        /// Its card payment (pending), if the sale has a price.
        payment: Option<Payment>,
    },
    /// The visitor already had this order.
    Existing {
        /// The order.
        order: Order,
        /// Items left.
        remaining: u64,
        /// Its card payment, if the sale has a price.
        payment: Option<Payment>,
    },
    /// The sale has a price and the pass carries no card hold.
    HoldRequired,
    /// The pass's hold failed to capture before.
    HoldDead,
    /// No such sale.
    UnknownSale,
    /// The pass bought before and that order no longer exists.
    PassSpent,
    /// The audit cancelled this visitor's order; the visitor may not buy again.
    Cancelled,
    /// The sale opens at this unix ms.
    NotOpen,
    /// The quantity is outside 1..=limit.
    OverLimit,
    /// Not enough stock; nothing changed.
    SoldOut,
}

/// An order's card payment, as `lua/purchase.lua` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The hold (PaymentIntent id).
    pub intent: String,
    /// The amount to capture, minor units.
    pub amount: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Pending (held, not captured yet) or captured.
    pub state: PaymentState,
    /// When it reached this state, unix ms.
    pub at: u64,
}

/// Where an order's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// The order is taken and its hold not captured yet.
    Pending,
    /// The money is taken.
    Captured,
    /// The audit cancelled the paid order; the refund is being made.
    Refunding,
    /// The audit cancelled the paid order and the money went back.
    Refunded,
}

/// A cancelled order whose captured payment is to be refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToRefund {
    /// The buyer.
    pub visitor: VisitorId,
    /// The captured intent.
    pub intent: String,
    /// The amount captured, minor units.
    pub amount: u64,
    /// Its currency.
    pub currency: String,
}

/// What `lua/settle_payment.lua` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The payment is recorded as captured.
    Captured(Payment),
    /// The order is undone; `remaining` items are left now.
    Released {
        /// Items left.
        remaining: u64,
    },
    /// Nothing pending with this hold.
    Nothing,
}

/// A sold-out sale, read atomically with all of its orders.
#[derive(Debug, Clone)]
pub enum Snapshot {
    /// No such sale.
    Missing,
    /// The sale has stock again.
    NotSoldOut,
    /// Sold out: the public state and every order.
    SoldOut {
        /// The public state.
        state: SaleState,
        /// Every order, by visitor.
        orders: Vec<(VisitorId, Order)>,
    },
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
}

/// The inventory store.
pub struct Store {
    pool: Pool,
    scripts: Scripts,
    config: StoreConfig,
}

fn builder(config: &StoreConfig) -> Result<Builder, Error> {
    let mut redis = Config::from_url(&config.url)?;
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

impl Store {
    /// Connects (in the background: the store is usable at once and fails fast while Redis is
    /// unreachable) and loads the scripts once Redis answers.
    pub async fn connect(config: StoreConfig) -> Result<Self, StoreError> {
        let pool = builder(&config)?.build_pool(config.pool_size.max(1))?;
        let _handles = pool.connect_pool();
        let store = Store {
            pool,
            scripts: Scripts::new(),
            config,
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

    /// Loads every script into Redis's script cache.
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        for s in self.scripts.all() {
            if let Some(lua) = s.lua() {
                let _: String = self.pool.next().script_load(lua.clone()).await?;
            }
        }
        Ok(())
    }

    /// Whether Redis answers and holds every script.
    pub async fn ready(&self) -> Result<bool, StoreError> {
        let shas: Vec<String> = self
            .scripts
            .all()
            .iter()
            .map(|s| s.sha1().to_string())
            .collect();
        let present: Vec<bool> = self.pool.next().script_exists(shas).await?;
        Ok(present.iter().all(|p| *p))
    }

    async fn evalsha(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Vec<Value>, StoreError> {
        // Converted once: fred's keys and values hold `Bytes`, so the copy kept for a retry
        // after NOSCRIPT costs reference counts, not string copies, on every purchase.
        let keys = fred::types::MultipleKeys::from(keys);
        let args = Value::Array(args.into_iter().map(Value::from).collect());
        let client = self.pool.next();
        match client
            .evalsha::<Vec<Value>, _, _, _>(script.sha1().clone(), keys.clone(), args.clone())
            .await
        {
            Err(e) if e.details().starts_with("NOSCRIPT") => {
                tracing::info!("redis lost its script cache; loading scripts again");
                self.load_scripts().await?;
                Ok(client.evalsha(script.sha1().clone(), keys, args).await?)
            }
            other => Ok(other?),
        }
    }

    /// Runs the purchase script (see `lua/purchase.lua`) for `call`.
    pub async fn purchase(&self, call: &PurchaseCall<'_>) -> Result<PurchaseOutcome, StoreError> {
        let (keys, args) = call.keys_and_args();
        let reply = self.evalsha(&self.scripts.purchase, keys, args).await?;
        let tag = text(&reply, 0)?;
        Ok(match tag.as_str() {
            "created" => PurchaseOutcome::Created {
                order: parse_order(&text(&reply, 1)?)?,
                remaining: int(&reply, 2)?,
                payment: parse_payment(&text(&reply, 3)?)?,
            },
            "existing" => PurchaseOutcome::Existing {
                order: parse_order(&text(&reply, 1)?)?,
                remaining: int(&reply, 2)?,
                payment: parse_payment(&text(&reply, 3)?)?,
            },
            "hold_required" => PurchaseOutcome::HoldRequired,
            "hold_dead" => PurchaseOutcome::HoldDead,
            "unknown_sale" => PurchaseOutcome::UnknownSale,
            "pass_spent" => PurchaseOutcome::PassSpent,
            "cancelled" => PurchaseOutcome::Cancelled,
            "not_open" => PurchaseOutcome::NotOpen,
            "over_limit" => PurchaseOutcome::OverLimit,
            "sold_out" => PurchaseOutcome::SoldOut,
            other => return Err(StoreError::Protocol(format!("purchase returned {other:?}"))),
        })
    }

    /// Records what capturing `visitor`'s hold came to (see `lua/settle_payment.lua`):
    /// `captured`, or not (the order is undone and its items go back to stock).
    pub async fn settle_payment(
        &self,
        sale: &SaleId,
        visitor: &VisitorId,
        hold: &str,
        captured: bool,
        now_ms: u64,
        channel: &str,
    ) -> Result<Settled, StoreError> {
        let k = SaleKeys::new(sale);
        let reply = self
            .evalsha(
                &self.scripts.settle_payment,
                vec![
                    k.sale,
                    k.orders,
                    k.passes,
                    k.log,
                    k.payments,
                    k.dead_holds,
                    k.facts,
                ],
                vec![
                    visitor.to_string(),
                    hold.to_owned(),
                    if captured { "captured" } else { "released" }.to_owned(),
                    now_ms.to_string(),
                    sale.to_string(),
                    channel.to_owned(),
                ],
            )
            .await?;
        Ok(match text(&reply, 0)?.as_str() {
            "captured" => match parse_payment(&text(&reply, 1)?)? {
                Some(p) => Settled::Captured(p),
                None => return Err(StoreError::Protocol("empty captured payment".into())),
            },
            "released" => Settled::Released {
                remaining: int(&reply, 1)?,
            },
            "none" => Settled::Nothing,
            other => return Err(StoreError::Protocol(format!("settle returned {other:?}"))),
        })
    }

    /// Every payment still pending or refunding, of every sale: `(sale, visitor, payment)`.
    /// Read with `SCAN`, for the reconciler that settles what a crashed origin left.
    pub async fn pending_payments(&self) -> Result<Vec<(SaleId, VisitorId, Payment)>, StoreError> {
        use futures_util::TryStreamExt;
        let client = self.pool.next();
        let mut keys: Vec<String> = Vec::new();
        let mut pages = client.scan_buffered("hg:{*}:payments", Some(200), None);
        while let Some(key) = pages.try_next().await? {
            if let Some(k) = key.as_str() {
                keys.push(k.to_owned());
            }
        }
        let mut out = Vec::new();
        for key in keys {
            let Some(sale) = key
                .strip_prefix("hg:{")
                .and_then(|r| r.strip_suffix("}:payments"))
                .and_then(|s| SaleId::parse(s).ok())
            else {
                continue;
            };
            let all: HashMap<String, String> = client.hgetall(&key).await?;
            for (visitor, json) in all {
                let (Ok(visitor), Some(payment)) =
                    (VisitorId::parse(&visitor), parse_payment(&json)?)
                else {
                    continue;
                };
                if matches!(
                    payment.state,
                    PaymentState::Pending | PaymentState::Refunding
                ) {
                    out.push((sale.clone(), visitor, payment));
                }
            }
        }
        Ok(out)
    }

    /// Creates or updates a sale (see `lua/upsert_sale.lua`). `Ok(None)` when the new stock is
    /// below what was sold; otherwise whether the sale was created.
    pub async fn upsert_sale(
        &self,
        sale: &SaleId,
        config: &SaleConfig,
        channel: &str,
    ) -> Result<Option<bool>, StoreError> {
        let k = SaleKeys::new(sale);
        let reply = self
            .evalsha(
                &self.scripts.upsert_sale,
                vec![k.sale],
                vec![
                    config.stock.to_string(),
                    config.per_visitor_limit.to_string(),
                    config.starts_at_ms.to_string(),
                    config.admission_rate.to_string(),
                    sale.to_string(),
                    channel.to_owned(),
                    config
                        .price
                        .as_ref()
                        .map(|p| p.amount.to_string())
                        .unwrap_or_default(),
                    config
                        .price
                        .as_ref()
                        .map(|p| p.currency.clone())
                        .unwrap_or_default(),
                ],
            )
            .await?;
        match text(&reply, 0)?.as_str() {
            "created" => Ok(Some(true)),
            "updated" => Ok(Some(false)),
            "stock_below_sold" => Ok(None),
            other => Err(StoreError::Protocol(format!("upsert returned {other:?}"))),
        }
    }

    /// The public state of a sale (one `HMGET`), or `None` if there is no such sale.
    pub async fn sale_state(
        &self,
        sale: &SaleId,
        now_ms: u64,
    ) -> Result<Option<(SaleState, SaleConfig)>, StoreError> {
        let k = SaleKeys::new(sale);
        let f: Vec<Option<String>> = self
            .pool
            .next()
            .hmget(
                k.sale,
                vec![
                    "stock",
                    "remaining",
                    "sold",
                    "limit",
                    "starts_at_ms",
                    "rate",
                    "price_amount",
                    "price_currency",
                ],
            )
            .await?;
        let n = |i: usize| {
            f.get(i)
                .cloned()
                .flatten()
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (Some(stock), Some(remaining), Some(sold), Some(limit), Some(starts_at_ms), Some(rate)) =
            (n(0), n(1), n(2), n(3), n(4), n(5))
        else {
            return Ok(None);
        };
        let price = match (n(6), f.get(7).cloned().flatten()) {
            (Some(amount), Some(currency)) => Some(Price { amount, currency }),
            _ => None,
        };
        let per_visitor_limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let admission_rate = u32::try_from(rate).unwrap_or(u32::MAX);
        let state = SaleState {
            sale: sale.clone(),
            status: SaleStatus::at(remaining, starts_at_ms, now_ms),
            remaining,
            sold,
            starts_at_ms,
            admission_rate,
            per_visitor_limit,
            price: price.clone(),
        };
        let config = SaleConfig {
            stock,
            per_visitor_limit,
            starts_at_ms,
            admission_rate,
            price,
        };
        Ok(Some((state, config)))
    }

    /// Everything about a sale, for operators.
    pub async fn admin_state(
        &self,
        sale: &SaleId,
        now_ms: u64,
    ) -> Result<Option<AdminSaleState>, StoreError> {
        let Some((state, config)) = self.sale_state(sale, now_ms).await? else {
            return Ok(None);
        };
        let k = SaleKeys::new(sale);
        let client = self.pool.next();
        let orders: u64 = client.hlen(k.orders).await?;
        let stream_length: u64 = client.xlen(k.log).await?;
        Ok(Some(AdminSaleState {
            config,
            state,
            orders,
            stream_length,
        }))
    }

    /// Every order of `sale` with the facts recorded at purchase, for the audit.
    pub async fn audit_facts(&self, sale: &SaleId) -> Result<Vec<OrderFacts>, StoreError> {
        let k = SaleKeys::new(sale);
        let client = self.pool.next();
        let orders: HashMap<String, String> = client.hgetall(k.orders).await?;
        let facts: HashMap<String, String> = client.hgetall(k.facts).await?;
        let mut out = Vec::with_capacity(orders.len());
        for (visitor, json) in orders {
            let order = parse_order(&json)?;
            let f: RecordedFacts = facts
                .get(&visitor)
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default();
            out.push(OrderFacts {
                order_id: order.order_id,
                visitor,
                quantity: u64::from(order.quantity),
                client: f.client,
                net: f.net,
                dev: f.dev,
                admitted_ms: f.adm,
                created_ms: if f.rcv > 0 {
                    f.rcv
                } else {
                    order.created_at_ms
                },
                shared_pass: f.shr,
            });
        }
        out.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        Ok(out)
    }

    /// Cancels the orders of `visitors` and returns their items to stock, atomically (see
    /// `lua/cancel_orders.lua`). Returns how many were cancelled and the stock left.
    pub async fn cancel_orders(
        &self,
        sale: &SaleId,
        visitors: &[String],
        now_ms: u64,
        channel: &str,
    ) -> Result<(u64, u64, Vec<ToRefund>), StoreError> {
        let k = SaleKeys::new(sale);
        let mut args = vec![sale.to_string(), channel.to_owned(), now_ms.to_string()];
        args.extend(visitors.iter().cloned());
        let reply = self
            .evalsha(
                &self.scripts.cancel_orders,
                vec![k.sale, k.orders, k.cancelled, k.log, k.payments],
                args,
            )
            .await?;
        let mut refunds = Vec::new();
        for t in reply.get(2..).unwrap_or_default().chunks(4) {
            let [v, i, a, c] = t else {
                return Err(StoreError::Protocol("cancel_orders refunds".into()));
            };
            let visitor = v.as_str().and_then(|s| VisitorId::parse(&s).ok());
            let amount = a.as_str().and_then(|s| s.parse::<u64>().ok());
            match (visitor, i.as_str(), amount, c.as_str()) {
                (Some(visitor), Some(intent), Some(amount), Some(currency)) => {
                    refunds.push(ToRefund {
                        visitor,
                        intent: intent.into_owned(),
                        amount,
                        currency: currency.into_owned(),
                    })
                }
                _ => return Err(StoreError::Protocol("cancel_orders refund triple".into())),
            }
        }
        Ok((int(&reply, 0)?, int(&reply, 1)?, refunds))
    }

    /// Records that `visitor`'s refund of `payment` went through.
    pub async fn mark_refunded(
        &self,
        sale: &SaleId,
        visitor: &VisitorId,
        payment: &Payment,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let k = SaleKeys::new(sale);
        let json = serde_json::to_string(&Payment {
            state: PaymentState::Refunded,
            at: now_ms,
            ..payment.clone()
        })
        .map_err(|e| StoreError::Protocol(e.to_string()))?;
        let _: () = self
            .pool
            .next()
            .hset(k.payments, (visitor.to_string(), json))
            .await?;
        Ok(())
    }

    /// Reads a sold-out sale and all its orders in one atomic step
    /// (see `lua/sold_out_snapshot.lua`).
    pub async fn sold_out_snapshot(&self, sale: &SaleId) -> Result<Snapshot, StoreError> {
        let k = SaleKeys::new(sale);
        let reply = self
            .evalsha(
                &self.scripts.sold_out_snapshot,
                vec![k.sale, k.orders],
                Vec::new(),
            )
            .await?;
        if reply.is_empty() {
            return Ok(Snapshot::Missing);
        }
        if int(&reply, 0)? > 0 {
            return Ok(Snapshot::NotSoldOut);
        }
        let sold = int(&reply, 1)?;
        let starts_at_ms = int(&reply, 2)?;
        let rate = int(&reply, 3)?;
        let limit = int(&reply, 4)?;
        let price = match (text(&reply, 5)?.parse::<u64>(), text(&reply, 6)?) {
            (Ok(amount), currency) if !currency.is_empty() => Some(Price { amount, currency }),
            _ => None,
        };
        let mut orders = Vec::with_capacity(reply.len().saturating_sub(7) / 2);
        for pair in reply.get(7..).unwrap_or_default().chunks(2) {
            let [v, o] = pair else {
                return Err(StoreError::Protocol("odd orders hash".into()));
            };
            let visitor = v
                .as_str()
                .and_then(|s| VisitorId::parse(&s).ok())
                .ok_or_else(|| StoreError::Protocol("bad visitor in orders".into()))?;
            let order = parse_order(&o.as_str().unwrap_or_default())?;
            orders.push((visitor, order));
        }
        Ok(Snapshot::SoldOut {
            state: SaleState {
                sale: sale.clone(),
                status: SaleStatus::SoldOut,
                remaining: 0,
                sold,
                starts_at_ms,
                admission_rate: u32::try_from(rate).unwrap_or(u32::MAX),
                per_visitor_limit: u32::try_from(limit).unwrap_or(u32::MAX),
                price,
            },
            orders,
        })
    }

    /// Closes the connections.
    pub async fn quit(&self) {
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

fn parse_payment(json: &str) -> Result<Option<Payment>, StoreError> {
    if json.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(json)
        .map(Some)
        .map_err(|e| StoreError::Protocol(format!("unreadable payment: {e}")))
}

fn parse_order(json: &str) -> Result<Order, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Protocol(format!("bad order JSON: {e}")))
}
