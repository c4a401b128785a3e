//! What each isolate remembers for about a second: a sale's public state (from the origin) and
//! its admission control (from its `SaleControl` object).
//!
//! This is what keeps the hot path off every shared object: a status poll verifies its ticket
//! and reads these two copies. While a copy is stale, one request of the isolate refreshes it
//! and the others keep using the stale copy, so the origin and the control object each see at
//! most about one request per isolate per `STATE_CACHE_MS`, however many waiters poll.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use herdgate_core::wire::{ControlState, SaleState, SaleStatus};
use herdgate_core::{ErrorCode, SaleId};
use worker::{Env, Method, Request, RequestInit};

use crate::config::Config;
use crate::control::ControlOp;
use crate::http::Refusal;

struct Slot<T> {
    value: Option<T>,
    fetched_at: u64,
    refreshing: bool,
}

thread_local! {
    static SALES: RefCell<HashMap<SaleId, Slot<Option<SaleState>>>> = RefCell::new(HashMap::new());
    static CONTROLS: RefCell<HashMap<SaleId, Slot<ControlState>>> = RefCell::new(HashMap::new());
}

enum Lookup<T> {
    Use(T),
    Refresh(Option<T>),
}

fn lookup<T: Clone>(
    map: &'static std::thread::LocalKey<RefCell<HashMap<SaleId, Slot<T>>>>,
    sale: &SaleId,
    now: u64,
    ttl: u64,
) -> Lookup<T> {
    map.with(|m| {
        let mut m = m.borrow_mut();
        // The hot path finds the slot without allocating a key.
        if !m.contains_key(sale) {
            m.insert(
                sale.clone(),
                Slot {
                    value: None,
                    fetched_at: 0,
                    refreshing: false,
                },
            );
        }
        let Some(slot) = m.get_mut(sale) else {
            return Lookup::Refresh(None);
        };
        match &slot.value {
            Some(v) if now < slot.fetched_at + ttl => Lookup::Use(v.clone()),
            Some(v) if slot.refreshing => Lookup::Use(v.clone()),
            stale => {
                slot.refreshing = true;
                Lookup::Refresh(stale.clone())
            }
        }
    })
}

fn store<T>(
    map: &'static std::thread::LocalKey<RefCell<HashMap<SaleId, Slot<T>>>>,
    sale: &SaleId,
    value: Option<T>,
    now: u64,
) {
    map.with(|m| {
        let mut m = m.borrow_mut();
        let slot = m.entry(sale.clone()).or_insert(Slot {
            value: None,
            fetched_at: 0,
            refreshing: false,
        });
        slot.refreshing = false;
        if let Some(v) = value {
            slot.value = Some(v);
            slot.fetched_at = now;
        }
    });
}

/// The sale's public state (`None`: the origin has no such sale), at most `ttl_ms` old unless
/// `fetch` fails and an older copy exists. `fetch` (the origin's answer) runs only when this
/// isolate's copy is stale and no other request of the isolate is refreshing it.
pub async fn sale(
    sale: &SaleId,
    now: u64,
    ttl_ms: u64,
    fetch: impl Future<Output = Result<Option<SaleState>, Refusal>>,
) -> Result<Option<SaleState>, Refusal> {
    match lookup(&SALES, sale, now, ttl_ms) {
        Lookup::Use(v) => Ok(v),
        Lookup::Refresh(stale) => match fetch.await {
            Ok(v) => {
                store(&SALES, sale, Some(v.clone()), now);
                Ok(v)
            }
            Err(e) => {
                store(&SALES, sale, None, now);
                stale.ok_or(e)
            }
        },
    }
}

/// Notes, for this isolate, that the sale is sold out (the origin said so to a purchase).
pub fn mark_sold_out(sale: &SaleId, now: u64) {
    SALES.with(|m| {
        if let Some(slot) = m.borrow_mut().get_mut(sale) {
            if let Some(Some(state)) = slot.value.as_mut() {
                state.status = SaleStatus::SoldOut;
                state.remaining = 0;
                slot.fetched_at = now;
            }
        }
    });
}

/// Sends `request` as JSON to the Durable Object `name` of namespace `binding` and reads its
/// JSON answer. Any failure is logged and becomes an `internal` refusal.
pub async fn call_object<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    request: &Q,
) -> Result<A, Refusal> {
    fn internal<E: std::fmt::Display>(e: E) -> Refusal {
        worker::console_error!("durable object call failed: {e}");
        Refusal(ErrorCode::Internal)
    }
    let namespace = env.durable_object(binding).map_err(internal)?;
    let stub = namespace
        .id_from_name(name)
        .and_then(|id| id.get_stub())
        .map_err(internal)?;
    let body = serde_json::to_string(request).map_err(internal)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://object/", &init).map_err(internal)?;
    let mut resp = stub.fetch_with_request(req).await.map_err(internal)?;
    resp.json::<A>().await.map_err(internal)
}

/// Asks the sale's control object, creating its state from the origin's settings if needed.
pub async fn control_op(env: &Env, sale: &SaleId, op: &ControlOp) -> Result<ControlState, Refusal> {
    call_object(env, "SALE_CONTROL", sale.as_str(), op).await
}

/// The sale's admission control, at most `STATE_CACHE_MS` old.
pub async fn control(
    env: &Env,
    cfg: &Config,
    sale: &SaleId,
    state: &SaleState,
    now: u64,
) -> Result<ControlState, Refusal> {
    match lookup(&CONTROLS, sale, now, cfg.state_cache_ms) {
        Lookup::Use(v) => Ok(v),
        Lookup::Refresh(stale) => {
            let op = ControlOp::Get {
                starts_at_ms: state.starts_at_ms,
                rate: state.admission_rate,
            };
            match control_op(env, sale, &op).await {
                Ok(v) => {
                    store(&CONTROLS, sale, Some(v.clone()), now);
                    Ok(v)
                }
                Err(e) => {
                    store(&CONTROLS, sale, None, now);
                    stale.ok_or(e)
                }
            }
        }
    }
}

/// Replaces this isolate's copy of the sale's control (after an operator changed it here).
pub fn put_control(sale: &SaleId, control: ControlState, now: u64) {
    store(&CONTROLS, sale, Some(control), now);
}
