//! `JoinLimiter`: per-sale join counts by device and by network, spread over
//! `LIMIT_SHARD_COUNT` Durable Objects per sale by the network's digest.
//!
//! One object sees every join of a network and of each device on it, and can enforce both
//! limits in one call without any object that every join touches. A device is its key (a lane
//! visitor: its network and browser digest, which includes the network), counted on the shard
//! of the network it joins from: a key that joins from several networks is counted apart on
//! each. Keys cost a program nothing, so the per-device count is a limit for people's devices,
//! not a defence against bots; the per-network count and the proof of work are (see the
//! README's "Places bound to a key"). The same object counts the device's failed proofs, which,
//! with its joins, raise the work its next join needs: the join's one call here checks its
//! challenge against that history and, if it was too easy, counts nothing and says how many
//! bits it needs (see `herdgate_core::defence::PowPolicy::enough`).
//!
//! Counts live in the object's memory and in its storage, keyed `d:<device>`, `n:<network>`
//! and `f:<device>`, with a mark `j:<challenge>` for each join counted (so the same join sent
//! again is counted once); card attempts (the hold route) apart, keyed `hd:<device>` and
//! `hn:<network>`. Once the sale has been over for `CLEANUP_AFTER_SECS`, they are deleted
//! (`objects/janitor.rs`); a restock after that starts the counts afresh.

use std::cell::RefCell;
use std::collections::HashMap;

use herdgate_core::defence::{History, JoinLimits, Limited, PowPolicy};
use herdgate_core::SaleId;
use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::config::{self, Config};
use crate::http::Refusal;
use crate::objects::janitor::{self, Round};
use crate::objects::{call_object, shard_of_hex};

/// What the worker asks a limiter.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LimitRequest {
    /// Count one join of `device` on `network` if `limits` allow it and, with `pow`, if its
    /// challenge was work enough for the device's history. Once per `challenge`: the same
    /// join again (its answer was lost, or it was sent twice at once) is allowed without
    /// being counted or checked again.
    Join {
        /// The sale (its objects clean up once it is over).
        #[serde(default)]
        sale: String,
        /// The challenge id the join spends.
        #[serde(default)]
        challenge: String,
        /// Client binding.
        device: String,
        /// Network digest.
        network: String,
        /// The limits to enforce.
        limits: JoinLimits,
        /// The difficulty to check against the device's history (adaptive proof of work on).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pow: Option<PowCheck>,
    },
    /// How much the limiter stores.
    Census,
    /// Count one card attempt of `device` on `network` if `limits` allow it (counted apart
    /// from joins).
    HoldAttempt {
        /// The sale.
        #[serde(default)]
        sale: String,
        /// Client binding.
        device: String,
        /// Network digest.
        network: String,
        /// The limits to enforce.
        limits: JoinLimits,
    },
    /// Count a failed proof of `device`.
    Fail {
        /// The sale.
        #[serde(default)]
        sale: String,
        /// Client binding.
        device: String,
    },
}

/// A join's challenge, to check against its device's history
/// ([`herdgate_core::defence::PowPolicy::enough`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PowCheck {
    /// The difficulty policy.
    pub policy: PowPolicy,
    /// The challenge rate of the isolate asking, per second.
    pub rate: f64,
    /// The bits the join's challenge had.
    pub bits: u8,
    /// How many of them a device's history asked for.
    #[serde(default)]
    pub hx: u8,
}

/// A limiter's answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LimitResponse {
    /// The join is counted.
    Allowed,
    /// The join is refused by this limit; nothing was counted.
    Limited {
        /// Which limit.
        limit: Limited,
    },
    /// The device's history asks more work than its challenge had; nothing was counted.
    MoreWork {
        /// The bits it needs.
        bits: u8,
        /// How many of them its history asks for.
        hx: u8,
    },
    /// Counted.
    Ok,
    /// How much the limiter stores.
    Census(crate::objects::janitor::Census),
}

/// Asks the limiter shard of network `net` in `sale`.
pub(crate) async fn call(
    env: &Env,
    cfg: &Config,
    sale: &SaleId,
    net: &str,
    request: &LimitRequest,
) -> std::result::Result<LimitResponse, Refusal> {
    call_shard(env, sale, shard_of_hex(net, cfg.limit_shards), request).await
}

/// Asks limiter shard `shard` of `sale`.
pub(crate) async fn call_shard(
    env: &Env,
    sale: &SaleId,
    shard: u32,
    request: &LimitRequest,
) -> std::result::Result<LimitResponse, Refusal> {
    call_object(env, "JOIN_LIMITS", &format!("{sale}:{shard}"), request).await
}

pub use object::JoinLimiter;

// `#[durable_object]` generates public bindings without doc comments.
#[allow(missing_docs)]
mod object {
    use super::*;

    /// One limiter shard of a sale.
    #[durable_object]
    pub struct JoinLimiter {
        state: State,
        env: Env,
        /// Whether this object's sale and cleanup round are known to be in place.
        adopted: std::cell::Cell<bool>,
        /// Counts above zero read or written so far, by storage key (a device never seen
        /// costs no memory: anyone can ask for a challenge).
        counts: RefCell<HashMap<String, u32>>,
    }

    impl DurableObject for JoinLimiter {
        fn new(state: State, env: Env) -> Self {
            JoinLimiter {
                state,
                env,
                adopted: std::cell::Cell::new(false),
                counts: RefCell::new(HashMap::new()),
            }
        }

        async fn alarm(&self) -> Result<Response> {
            let storage = self.state.storage();
            let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
            let now = worker::Date::now().as_millis();
            match janitor::round(&storage, &cfg, now).await? {
                Round::Clean => {
                    janitor::clean(&storage, &[], &[]).await?;
                    self.counts.borrow_mut().clear();
                    self.adopted.set(false);
                }
                Round::Again(at) => storage.set_alarm(janitor::offset(at, now)).await?,
                Round::Idle => {}
            }
            Response::ok("checked")
        }

        async fn fetch(&self, mut req: Request) -> Result<Response> {
            let request: LimitRequest = crate::objects::read_request(&mut req).await?;
            let response = match request {
                LimitRequest::Census => {
                    LimitResponse::Census(janitor::census(&self.state.storage()).await?)
                }
                LimitRequest::Join {
                    sale,
                    challenge,
                    device,
                    network,
                    limits,
                    pow,
                } => {
                    self.adopt(&sale).await?;
                    let keys = [
                        format!("d:{device}"),
                        format!("n:{network}"),
                        format!("f:{device}"),
                        format!("j:{challenge}"),
                    ];
                    // One storage read for the counts, one write for what grows.
                    let [d, n, f, again] = self.counts(&keys).await?;
                    let more = pow.and_then(|check| {
                        let history = History {
                            joins: d,
                            failures: f,
                        };
                        check
                            .policy
                            .enough(check.bits, check.hx, check.rate, history)
                            .err()
                    });
                    // The same join again was counted once: its own count is no history, and
                    // no limit refuses it. A limit refuses before more work is asked: no work
                    // would help.
                    match (again > 0, limits.check(d, n), more) {
                        (true, _, _) => LimitResponse::Allowed,
                        (false, Err(limit), _) => LimitResponse::Limited { limit },
                        (false, Ok(()), Some((bits, hx))) => LimitResponse::MoreWork { bits, hx },
                        (false, Ok(()), None) => {
                            let [dk, nk, _, jk] = keys;
                            let mut counted = vec![(dk, d + 1), (nk, n + 1)];
                            if !challenge.is_empty() {
                                counted.push((jk, 1));
                            }
                            self.set_all(counted).await?;
                            LimitResponse::Allowed
                        }
                    }
                }
                LimitRequest::HoldAttempt {
                    sale,
                    device,
                    network,
                    limits,
                } => {
                    self.adopt(&sale).await?;
                    let keys = (format!("hd:{device}"), format!("hn:{network}"));
                    self.count_within(keys, limits).await?
                }
                LimitRequest::Fail { sale, device } => {
                    self.adopt(&sale).await?;
                    let key = format!("f:{device}");
                    let f = self.count(&key).await?;
                    self.set(key, f.saturating_add(1)).await?;
                    LimitResponse::Ok
                }
            };
            Response::from_json(&response)
        }
    }

    impl JoinLimiter {
        /// Counts one more at the device key and the network key of `keys` if `limits` allow
        /// it; a refusal counts nothing.
        async fn count_within(
            &self,
            (device, network): (String, String),
            limits: JoinLimits,
        ) -> Result<LimitResponse> {
            let (d, n) = (self.count(&device).await?, self.count(&network).await?);
            Ok(match limits.check(d, n) {
                Err(limit) => LimitResponse::Limited { limit },
                Ok(()) => {
                    self.set(device, d + 1).await?;
                    self.set(network, n + 1).await?;
                    LimitResponse::Allowed
                }
            })
        }

        async fn adopt(&self, sale: &str) -> Result<()> {
            let Ok(sale) = SaleId::parse(sale) else {
                return Ok(());
            };
            let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
            let now = worker::Date::now().as_millis();
            janitor::adopt(&self.state.storage(), &self.adopted, &sale, &cfg, now).await
        }

        async fn count(&self, key: &str) -> Result<u32> {
            if let Some(n) = self.counts.borrow().get(key) {
                return Ok(*n);
            }
            let n = self.state.storage().get::<u32>(key).await?.unwrap_or(0);
            if n > 0 {
                self.counts.borrow_mut().insert(key.to_owned(), n);
            }
            Ok(n)
        }

        /// The counts at `keys`, from memory, else from storage in one read.
        async fn counts<const N: usize>(&self, keys: &[String; N]) -> Result<[u32; N]> {
            let mut out = [0u32; N];
            let mut missing = Vec::new();
            {
                let known = self.counts.borrow();
                for (i, key) in keys.iter().enumerate() {
                    match known.get(key) {
                        Some(n) => out[i] = *n,
                        None => missing.push(i),
                    }
                }
            }
            if missing.is_empty() {
                return Ok(out);
            }
            let read = self
                .state
                .storage()
                .get_multiple(missing.iter().map(|&i| keys[i].as_str()).collect())
                .await?;
            let mut known = self.counts.borrow_mut();
            for i in missing {
                let n = read
                    .get(&JsValue::from_str(&keys[i]))
                    .as_f64()
                    .map_or(0, |v| v as u32);
                if n > 0 {
                    known.insert(keys[i].clone(), n);
                }
                out[i] = n;
            }
            Ok(out)
        }

        /// Writes the counts `values` in one storage call.
        async fn set_all(&self, values: Vec<(String, u32)>) -> Result<()> {
            let object = worker::js_sys::Object::new();
            for (key, n) in &values {
                worker::js_sys::Reflect::set(
                    &object,
                    &JsValue::from_str(key),
                    &JsValue::from_f64(f64::from(*n)),
                )?;
            }
            self.state.storage().put_multiple_raw(object).await?;
            self.counts.borrow_mut().extend(values);
            Ok(())
        }

        // Storage calls hold the object's input gate: no other request interleaves between a
        // read and the write that follows it, so two joins cannot both take the last slot.
        async fn set(&self, key: String, n: u32) -> Result<()> {
            self.state.storage().put(&key, n).await?;
            self.counts.borrow_mut().insert(key, n);
            Ok(())
        }
    }
}
