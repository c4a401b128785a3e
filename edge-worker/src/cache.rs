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
//! A refresh that hangs or whose request was cancelled does not freeze the copy: after
//! [`REFRESH_ABANDONED_MS`] the next request refreshes. A refresh that fails is not tried
//! again by every request: the stale copy (or the failure) stands for
//! [`RETRY_AFTER_FAILURE_MS`].
//!
//! An isolate remembers at most [`MAX_SALES`] sales: ids that name no sale (anyone can ask
//! for any id) are dropped first, so a crowd of made-up ids cannot grow its memory.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use std::rc::Rc;

use herdgate_core::draw::{Draw, Tally};
use herdgate_core::wire::{ControlState, SaleState, SaleStatus};
use herdgate_core::SaleId;

use crate::http::Refusal;

struct Slot<T> {
    value: Option<T>,
    fetched_at: u64,
    /// When a request of this isolate started refreshing the copy, if one is under way.
    refreshing_since: Option<u64>,
    /// The last refresh failed: until then, its refusal stands (or the stale copy is used).
    failed: Option<(u64, Refusal)>,
}

impl<T> Slot<T> {
    fn empty() -> Self {
        Slot {
            value: None,
            fetched_at: 0,
            refreshing_since: None,
            failed: None,
        }
    }
}

/// A refresh under way for longer than this is taken as abandoned (its request was cancelled
/// or hangs), and the next request refreshes: longer than the origin's and an object's time
/// limits, so a live refresh is never doubled.
pub const REFRESH_ABANDONED_MS: u64 = 15_000;

/// After a failed refresh, how long the isolate keeps answering from its stale copy (or with
/// the failure) before it asks again, at most: so an origin that is down or overloaded gets
/// about one request per isolate per this, not one per waiter.
pub const RETRY_AFTER_FAILURE_MS: u64 = 1_000;

/// The most sales an isolate keeps copies of.
pub const MAX_SALES: usize = 256;

thread_local! {
    static SALES: RefCell<HashMap<SaleId, Slot<Option<SaleState>>>> = RefCell::new(HashMap::new());
    static CONTROLS: RefCell<HashMap<SaleId, Slot<ControlState>>> = RefCell::new(HashMap::new());
}

type Map<T> = &'static std::thread::LocalKey<RefCell<HashMap<SaleId, Slot<T>>>>;

enum Lookup<T> {
    Use(T),
    Refresh(Option<T>),
    Failed(Refusal),
}

/// Makes room for one more sale in `m`: drops the sales that turned out not to exist, then
/// the copies that are stale, then everything but the refreshes under way.
fn make_room<T>(m: &mut HashMap<SaleId, Slot<T>>, now: u64, ttl: u64, exists: impl Fn(&T) -> bool) {
    if m.len() < MAX_SALES {
        return;
    }
    m.retain(|_, s| s.refreshing_since.is_some() || s.value.as_ref().is_some_and(&exists));
    if m.len() >= MAX_SALES {
        m.retain(|_, s| s.refreshing_since.is_some() || now < s.fetched_at + ttl);
    }
    if m.len() >= MAX_SALES {
        m.clear();
    }
}

fn lookup<T: Clone>(
    map: Map<T>,
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
            m.insert(sale.clone(), Slot::empty());
        }
        let Some(slot) = m.get_mut(sale) else {
            return Lookup::Refresh(None);
        };
        let usable = slot.value.as_ref().filter(|v| fresh(v));
        if let Some(v) = usable {
            if now < slot.fetched_at + ttl {
                return Lookup::Use(v.clone());
            }
        }
        let refreshing = slot
            .refreshing_since
            .is_some_and(|since| now < since + REFRESH_ABANDONED_MS);
        let failed = slot.failed.filter(|(until, _)| now < *until);
        match (&slot.value, refreshing, failed) {
            (Some(v), true, _) | (Some(v), _, Some(_)) => Lookup::Use(v.clone()),
            (None, _, Some((_, refusal))) => Lookup::Failed(refusal),
            (stale, _, None) => {
                slot.refreshing_since = Some(now);
                Lookup::Refresh(stale.clone())
            }
        }
    })
}

fn store<T>(map: Map<T>, sale: &SaleId, fetched: Result<T, Refusal>, now: u64) {
    map.with(|m| {
        let mut m = m.borrow_mut();
        let slot = m.entry(sale.clone()).or_insert_with(Slot::empty);
        slot.refreshing_since = None;
        match fetched {
            Ok(v) => {
                slot.value = Some(v);
                slot.fetched_at = now;
                slot.failed = None;
            }
            Err(refusal) => slot.failed = Some((now + RETRY_AFTER_FAILURE_MS, refusal)),
        }
    });
}

/// The copy of `sale` in `map`, refreshed with `fetch` when it is stale (older than `ttl`, or
/// not `fresh`) and no other request of the isolate is refreshing it. A refresh that fails
/// leaves the stale copy in use (or the failure standing, without one) for
/// [`RETRY_AFTER_FAILURE_MS`].
async fn through<T: Clone>(
    map: Map<T>,
    sale: &SaleId,
    now: u64,
    ttl: u64,
    fresh: impl Fn(&T) -> bool,
    exists: impl Fn(&T) -> bool,
    fetch: impl Future<Output = Result<T, Refusal>>,
) -> Result<T, Refusal> {
    match lookup(map, sale, now, ttl, fresh, exists) {
        Lookup::Use(v) => Ok(v),
        Lookup::Failed(refusal) => Err(refusal),
        Lookup::Refresh(stale) => {
            let fetched = fetch.await;
            store(map, sale, fetched.clone(), now);
            match (fetched, stale) {
                (Ok(v), _) => Ok(v),
                (Err(_), Some(v)) => Ok(v),
                (Err(e), None) => Err(e),
            }
        }
    }
}

/// The sale's public state (`None`: the origin has no such sale), at most `ttl_ms` old unless
/// a refresh failed and an older copy exists. `fetch` (the origin's answer) runs only when
/// this isolate's copy is stale, no other request of the isolate is refreshing it (or that
/// refresh was abandoned, [`REFRESH_ABANDONED_MS`]) and no refresh failed in the last
/// [`RETRY_AFTER_FAILURE_MS`].
pub async fn sale(
    sale: &SaleId,
    now: u64,
    ttl_ms: u64,
    fetch: impl Future<Output = Result<Option<SaleState>, Refusal>>,
) -> Result<Option<SaleState>, Refusal> {
    through(&SALES, sale, now, ttl_ms, |_| true, Option::is_some, fetch).await
}

/// Whether this isolate holds a copy of `sale`'s state, that is, knows the sale exists.
pub fn exists(sale: &SaleId) -> bool {
    SALES.with(|m| {
        m.borrow()
            .get(sale)
            .is_some_and(|slot| matches!(slot.value, Some(Some(_))))
    })
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
/// `revision` (see [`sale`] for when `fetch`, the `SaleControl` object's answer, runs).
pub async fn control(
    sale: &SaleId,
    now: u64,
    ttl_ms: u64,
    revision: u64,
    fetch: impl Future<Output = Result<ControlState, Refusal>>,
) -> Result<ControlState, Refusal> {
    let fresh = |c: &ControlState| c.revision >= revision;
    through(&CONTROLS, sale, now, ttl_ms, fresh, |_| true, fetch).await
}

/// Replaces this isolate's copy of the sale's control (after an operator changed it here).
pub fn put_control(sale: &SaleId, control: ControlState, now: u64) {
    store(&CONTROLS, sale, Ok(control), now);
}

/// Replaces this isolate's copy of the sale's state (after an operator changed it here).
pub fn put_sale(sale: &SaleId, state: SaleState, now: u64) {
    store(&SALES, sale, Ok(Some(state)), now);
}

/// A seated sale's seats as this isolate answers them: the summary by section and each
/// section's rows, as JSON ready to send.
pub(crate) struct SeatView {
    /// The [`herdgate_core::seats::SeatSummary`].
    pub(crate) summary: String,
    /// Each section's [`herdgate_core::seats::Availability`], by section id.
    pub(crate) sections: HashMap<String, String>,
}

thread_local! {
    static SEATS: RefCell<HashMap<SaleId, Slot<Rc<SeatView>>>> = RefCell::new(HashMap::new());
}

/// A seated sale's seats, at most `ttl_ms` old (see [`sale`] for when `fetch`, the origin's
/// answer, runs): a crowd looking at the map costs the origin about one read per isolate per
/// `ttl_ms`.
pub(crate) async fn seats(
    sale: &SaleId,
    now: u64,
    ttl_ms: u64,
    fetch: impl Future<Output = Result<Rc<SeatView>, Refusal>>,
) -> Result<Rc<SeatView>, Refusal> {
    through(&SEATS, sale, now, ttl_ms, |_| true, |_| true, fetch).await
}

/// A draw this isolate made, with the seed (hex) and the tally it was made from.
type MadeDraw = (String, Tally, Rc<Draw>);

thread_local! {
    /// The draws this isolate made, by sale.
    static DRAWS: RefCell<HashMap<SaleId, MadeDraw>> = RefCell::new(HashMap::new());
}

/// The draw of `state`'s sale from its revealed seed and `tally`, made once per isolate (the
/// seed's check against its commitment, the tally's root and the key are three hashes a poll
/// need not pay again); `None` until the seed is out and matches its commitment. At most
/// [`MAX_SALES`] draws are kept.
pub(crate) fn draw(state: &SaleState, tally: &Tally) -> Option<Rc<Draw>> {
    let seed_hex = state.draw.as_ref()?.seed.as_deref()?;
    DRAWS.with(|m| {
        let mut m = m.borrow_mut();
        if let Some((seed, made_from, draw)) = m.get(&state.sale) {
            if seed == seed_hex && made_from == tally {
                return Some(Rc::clone(draw));
            }
        }
        let seed = state.draw_seed()?;
        let draw = Rc::new(Draw::new(&seed, state.sale.as_str(), tally));
        if m.len() >= MAX_SALES {
            m.clear();
        }
        m.insert(
            state.sale.clone(),
            (seed_hex.to_owned(), tally.clone(), Rc::clone(&draw)),
        );
        Some(draw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use herdgate_core::ErrorCode;

    const TTL: u64 = 1_000;

    fn id(n: usize) -> SaleId {
        SaleId::parse(&format!("sale-{n}")).unwrap()
    }

    thread_local! {
        static SALE_LIKE: RefCell<HashMap<SaleId, Slot<Option<u32>>>> =
            RefCell::new(HashMap::new());
    }

    fn look(sale: &SaleId, now: u64) -> Lookup<Option<u32>> {
        lookup(&SALE_LIKE, sale, now, TTL, |_| true, Option::is_some)
    }

    fn put(sale: &SaleId, value: Result<Option<u32>, Refusal>, now: u64) {
        store(&SALE_LIKE, sale, value, now);
    }

    #[test]
    fn a_refresh_that_never_ends_is_taken_over_after_the_abandon_time() {
        thread_local! {
            static M: RefCell<HashMap<SaleId, Slot<u32>>> = RefCell::new(HashMap::new());
        }
        let s = id(1);
        let look = |now| lookup(&M, &s, now, TTL, |_| true, |_| true);
        assert!(matches!(look(0), Lookup::Refresh(None)));
        store(&M, &s, Ok(7), 0);
        assert!(matches!(look(500), Lookup::Use(7)));
        // Stale: this request refreshes, and is then cancelled (never stores).
        assert!(matches!(look(TTL), Lookup::Refresh(Some(7))));
        assert!(matches!(look(TTL + 1), Lookup::Use(7)));
        assert!(matches!(
            look(TTL + REFRESH_ABANDONED_MS - 1),
            Lookup::Use(7)
        ));
        assert!(matches!(
            look(TTL + REFRESH_ABANDONED_MS),
            Lookup::Refresh(Some(7))
        ));
    }

    #[test]
    fn a_failed_refresh_is_not_tried_again_by_every_request() {
        thread_local! {
            static M: RefCell<HashMap<SaleId, Slot<u32>>> = RefCell::new(HashMap::new());
        }
        let down = Refusal(ErrorCode::OriginUnavailable);
        let (with_copy, without) = (id(1), id(2));
        let look = |s: &SaleId, now| lookup(&M, s, now, TTL, |_| true, |_| true);
        store(&M, &with_copy, Ok(7), 0);
        assert!(matches!(look(&with_copy, TTL), Lookup::Refresh(Some(7))));
        store(&M, &with_copy, Err(down), TTL);
        assert!(matches!(look(&with_copy, TTL + 1), Lookup::Use(7)));
        assert!(matches!(
            look(&with_copy, TTL + RETRY_AFTER_FAILURE_MS),
            Lookup::Refresh(Some(7))
        ));
        // Without a copy, the failure stands for everyone meanwhile.
        assert!(matches!(look(&without, 0), Lookup::Refresh(None)));
        store(&M, &without, Err(down), 0);
        assert!(matches!(look(&without, 1), Lookup::Failed(r) if r == down));
        assert!(matches!(
            look(&without, RETRY_AFTER_FAILURE_MS),
            Lookup::Refresh(None)
        ));
    }

    #[test]
    fn a_copy_older_than_what_is_asked_for_is_refreshed_however_young() {
        thread_local! {
            static M: RefCell<HashMap<SaleId, Slot<u64>>> = RefCell::new(HashMap::new());
        }
        let s = id(1);
        store(&M, &s, Ok(1), 0);
        let at_least = |r: u64| move |v: &u64| *v >= r;
        assert!(matches!(
            lookup(&M, &s, 10, TTL, at_least(1), |_| true),
            Lookup::Use(1)
        ));
        assert!(matches!(
            lookup(&M, &s, 10, TTL, at_least(2), |_| true),
            Lookup::Refresh(Some(1))
        ));
    }

    #[test]
    fn made_up_sale_ids_cannot_grow_the_memory_and_known_sales_stay() {
        let known = id(0);
        assert!(matches!(look(&known, 0), Lookup::Refresh(None)));
        put(&known, Ok(Some(1)), 0);
        for n in 1..=(3 * MAX_SALES) {
            let made_up = id(n);
            assert!(matches!(look(&made_up, 1), Lookup::Refresh(None)));
            put(&made_up, Ok(None), 1);
        }
        assert!(SALE_LIKE.with(|m| m.borrow().len()) <= MAX_SALES);
        assert!(matches!(look(&known, 2), Lookup::Use(Some(1))));
    }
}
