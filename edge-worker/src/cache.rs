//! What each isolate remembers for about a second: a sale's public state (from the origin) and
//! its admission control (from its `SaleControl` object). The callers hand in the refresh
//! (`origin.rs` asks the origin, `objects/sale_control.rs` the object), so this module names no
//! client and sits below them both.
//!
//! This is what keeps the hot path off every shared object: a status poll verifies its ticket
//! and reads these two copies. While a copy is stale, one request of the isolate refreshes it
//! and the others keep using the stale copy, so the origin and the control object each see at
//! most about one request per isolate per `STATE_CACHE_MS`, however many waiters poll. A copy
//! of the control that follows older settings than the isolate's copy of the sale's state is
//! stale whatever its age, so an operator's change reaches the schedule within
//! `STATE_CACHE_MS` and one object round trip.
//!
//! An isolate remembers at most [`MAX_SALES`] sales: ids that name no sale (anyone can ask
//! for any id) are dropped first, so a crowd of made-up ids cannot grow its memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use herdgate_core::wire::{ControlState, SaleState, SaleStatus};
use herdgate_core::SaleId;

use crate::http::Refusal;

struct Slot<T> {
    value: Option<T>,
    fetched_at: u64,
    refreshing: bool,
}

/// The most sales an isolate keeps copies of.
pub const MAX_SALES: usize = 256;

thread_local! {
    static SALES: RefCell<HashMap<SaleId, Slot<Option<SaleState>>>> = RefCell::new(HashMap::new());
    static CONTROLS: RefCell<HashMap<SaleId, Slot<ControlState>>> = RefCell::new(HashMap::new());
}

enum Lookup<T> {
    Use(T),
    Refresh(Option<T>),
}

/// Makes room for one more sale in `m`: drops the sales that turned out not to exist, then
/// the copies that are stale, then everything.
fn make_room<T>(m: &mut HashMap<SaleId, Slot<T>>, now: u64, ttl: u64, exists: impl Fn(&T) -> bool) {
    if m.len() < MAX_SALES {
        return;
    }
    m.retain(|_, s| s.refreshing || s.value.as_ref().is_some_and(&exists));
    if m.len() >= MAX_SALES {
        m.retain(|_, s| s.refreshing || now < s.fetched_at + ttl);
    }
    if m.len() >= MAX_SALES {
        m.clear();
    }
}

fn lookup<T: Clone>(
    map: &'static std::thread::LocalKey<RefCell<HashMap<SaleId, Slot<T>>>>,
    sale: &SaleId,
    now: u64,
    ttl: u64,
    fresh: impl Fn(&T) -> bool,
    exists: impl Fn(&T) -> bool,
) -> Lookup<T> {
    map.with(|m| {
        let mut m = m.borrow_mut();
        // The hot path finds the slot without allocating a key.
        if !m.contains_key(sale) {
            make_room(&mut m, now, ttl, exists);
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
            Some(v) if now < slot.fetched_at + ttl && fresh(v) => Lookup::Use(v.clone()),
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
    match lookup(&SALES, sale, now, ttl_ms, |_| true, Option::is_some) {
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

/// The sale's admission control, at most `ttl_ms` old and following settings of at least
/// `revision`, unless `fetch` fails and an older copy exists. `fetch` (the `SaleControl`
/// object's answer) runs only when this isolate's copy is stale and no other request of the
/// isolate is refreshing it.
pub async fn control(
    sale: &SaleId,
    now: u64,
    ttl_ms: u64,
    revision: u64,
    fetch: impl Future<Output = Result<ControlState, Refusal>>,
) -> Result<ControlState, Refusal> {
    let fresh = |c: &ControlState| c.revision >= revision;
    match lookup(&CONTROLS, sale, now, ttl_ms, fresh, |_| true) {
        Lookup::Use(v) => Ok(v),
        Lookup::Refresh(stale) => match fetch.await {
            Ok(v) => {
                store(&CONTROLS, sale, Some(v.clone()), now);
                Ok(v)
            }
            Err(e) => {
                store(&CONTROLS, sale, None, now);
                stale.ok_or(e)
            }
        },
    }
}

/// Replaces this isolate's copy of the sale's control (after an operator changed it here).
pub fn put_control(sale: &SaleId, control: ControlState, now: u64) {
    store(&CONTROLS, sale, Some(control), now);
}

/// Replaces this isolate's copy of the sale's state (after an operator changed it here).
pub fn put_sale(sale: &SaleId, state: SaleState, now: u64) {
    store(&SALES, sale, Some(Some(state)), now);
}
