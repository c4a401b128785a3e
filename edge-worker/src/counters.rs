//! What this isolate counted for each sale since it last handed its counts on
//! (`herdgate_core::wire::EdgeCounts`): requests by route, refusals by code, joins, passes,
//! purchases forwarded, card holds. Counting is a map update in memory; the counts travel to
//! the sale's control object with the call the isolate makes anyway when its copy of the
//! control is stale (`objects/sale_control.rs`), so no request makes an object call for them.
//!
//! When they travel: with the isolate's next refresh of the sale's control, which a status
//! poll (or a `sale` or `draw` read) of a sale that is not sold out makes at most once per
//! `STATE_CACHE_MS`; or when the operator reads the totals through this isolate. An isolate
//! that serves only challenges, joins and purchases, or only polls of a sale already sold out,
//! keeps its counts until then, and loses them if the runtime evicts it first. A request is
//! counted once its isolate knows the sale (holds a copy of its state), so requests refused
//! before the sale was ever read here (a forged ticket on a cold isolate) are not counted. In
//! production, where the totals feed dashboards, Workers Analytics Engine is the place to send
//! each count as it happens (README, "The edge's numbers").

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use herdgate_core::wire::EdgeCounts;
use herdgate_core::{ErrorCode, SaleId};

/// The most sales an isolate counts for at once (as many as it keeps copies of).
pub const MAX_SALES: usize = 256;

thread_local! {
    static PENDING: RefCell<HashMap<SaleId, EdgeCounts>> = RefCell::new(HashMap::new());
    static ON: Cell<bool> = const { Cell::new(true) };
}

/// Counts from now on, or not (`EDGE_COUNTERS`; the router sets it from the configuration).
pub fn switch(on: bool) {
    ON.with(|c| c.set(on));
}

/// Whether this isolate counts.
pub fn on() -> bool {
    ON.with(Cell::get)
}

/// Counts into `sale`'s pending counts with `f` (not once `MAX_SALES` other sales have some).
fn with(sale: &SaleId, f: impl FnOnce(&mut EdgeCounts)) {
    if !on() {
        return;
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        // The hot path finds the sale's counts without allocating a key.
        if let Some(counts) = p.get_mut(sale) {
            return f(counts);
        }
        if p.len() < MAX_SALES {
            f(p.entry(sale.clone()).or_default());
        }
    });
}

/// Adds one to `key` in `map`, allocating the key only the first time.
fn bump(map: &mut std::collections::BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// A request answered on `route` (`challenge`, `join`, `status`, …), refused with `refusal`
/// if it was.
pub fn request(sale: &SaleId, route: &'static str, refusal: Option<ErrorCode>) {
    with(sale, |c| {
        bump(&mut c.requests, route);
        if let Some(code) = refusal {
            bump(&mut c.refusals, code.as_str());
        }
    });
}

/// A refusal answered as a response of its own (a join asked for more work).
pub fn refused(sale: &SaleId, code: ErrorCode) {
    with(sale, |c| bump(&mut c.refusals, code.as_str()));
}

/// A join that took a place.
pub fn joined(sale: &SaleId) {
    with(sale, |c| c.joins += 1);
}

/// An admission pass issued.
pub fn pass(sale: &SaleId) {
    with(sale, |c| c.passes += 1);
}

/// A purchase forwarded to the origin.
pub fn forwarded(sale: &SaleId) {
    with(sale, |c| c.purchases_forwarded += 1);
}

/// A card hold placed (a retried hold with the same card is counted again).
pub fn hold(sale: &SaleId) {
    with(sale, |c| c.holds += 1);
}

/// Takes `sale`'s pending counts, to hand them on (`None` when there are none).
pub fn take(sale: &SaleId) -> Option<EdgeCounts> {
    PENDING
        .with(|p| p.borrow_mut().remove(sale))
        .filter(|c| !c.is_empty())
}

/// Puts back counts that could not be handed on.
pub fn give_back(sale: &SaleId, counts: &EdgeCounts) {
    with(sale, |c| c.add(counts));
}
