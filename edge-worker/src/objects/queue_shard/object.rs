//! The `QueueShard` object itself: positions, spent challenges, the pass ledger, the card holds
//! and their release schedule, in its storage (the parent module says what it promises).

use std::cell::{Cell, RefCell};

use herdgate_core::draw::{self, Entry, ShardTally};
use herdgate_core::wire::{HoldState, SaleStatus};
use herdgate_core::SaleId;
use herdgate_pay::{PaymentGateway, Release};
use serde::{Deserialize, Serialize};
use worker::js_sys::{Object, Reflect};
use worker::wasm_bindgen::JsValue;
use worker::{durable_object, DurableObject, Env, ListOptions, Request, Response, Result, State};

use crate::config;
use crate::objects::janitor::{self, Round};
use crate::objects::queue_shard::{DrawJoin, HoldRecord, ShardRequest, ShardResponse};

/// A claim older than this is taken as abandoned (the worker that made it died).
const CLAIM_TIMEOUT_MS: u64 = 30_000;

/// The pre-queue's sealed tally.
const SEALED_KEY: &str = "draw:sealed";
/// The head of the pre-queue's hash chain.
const HEAD_KEY: &str = "draw:head";
/// The pre-queue's entries, `e:` and the index at this shard, zero-padded so they list in
/// arrival order.
const ENTRY_PREFIX: &str = "e:";

/// The storage key of the pre-queue's `index`-th entry at this shard.
fn entry_key(index: u64) -> String {
    format!("{ENTRY_PREFIX}{index:012}")
}

/// What the janitor keeps of a shard: its count of positions (unique after a restock) and its
/// draw (the public record).
const KEPT: &[&str] = &["joined", SEALED_KEY, HEAD_KEY];

/// What a release-schedule entry names.
#[derive(Debug, PartialEq, Eq)]
enum Due {
    /// The current hold of a position.
    Position(u64),
    /// A hold replaced by a newer one of the same position.
    Replaced(String),
}

impl Due {
    /// The schedule key for this entry falling due at unix ms `at`: keys list in the order
    /// they fall due, and name what falls due, so the schedule is read from its keys alone.
    fn key(&self, at: u64) -> String {
        match self {
            Due::Position(p) => format!("d:{at:015}:p{p}"),
            Due::Replaced(intent) => format!("d:{at:015}:x{intent}"),
        }
    }

    /// When and what, from a schedule key.
    fn parse(key: &str) -> Option<(u64, Due)> {
        let at = key.get(2..17)?.parse().ok()?;
        let what = key.get(18..)?;
        let due = match what.split_at_checked(1)? {
            ("p", p) => Due::Position(p.parse().ok()?),
            ("x", intent) => Due::Replaced(intent.to_owned()),
            _ => return None,
        };
        Some((at, due))
    }
}

/// `value` as the JavaScript object storage keeps (what `Storage::put` would store).
fn js_value<T: Serialize>(value: &T) -> Result<JsValue> {
    let text = serde_json::to_string(value).map_err(|e| worker::Error::RustError(e.to_string()))?;
    Ok(worker::js_sys::JSON::parse(&text)?)
}

/// A challenge that joined: when it expires (its record may be dropped after) and the
/// position it took.
#[derive(Debug, Serialize, Deserialize)]
struct SpentChallenge {
    exp: u64,
    position: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum LedgerEntry {
    InFlight {
        since_ms: u64,
    },
    /// A purchase reached the origin and its answer was lost: the origin may have taken it.
    Unsettled,
    Done {
        status: u16,
        body: String,
        /// The sale's cancelled-orders count when the answer was given.
        #[serde(default)]
        cancelled: u64,
    },
}

/// The card hold an order's answer (`status`, JSON `body`) says was captured for it.
fn captured_hold(status: u16, body: &str) -> Option<String> {
    if !(200..300).contains(&status) {
        return None;
    }
    let answer: serde_json::Value = serde_json::from_str(body).ok()?;
    answer["charged"]["hold"].as_str().map(str::to_owned)
}

impl LedgerEntry {
    /// The final answer this entry holds, unless it is an order stored before the audit
    /// cancelled orders (the sale's count is now `cancelled`): the origin must say whether
    /// that one still stands.
    fn answer(&self, cancelled: u64) -> Option<(u16, String)> {
        match self {
            LedgerEntry::Done {
                status,
                body,
                cancelled: then,
            } if !((200..300).contains(status) && *then < cancelled) => {
                Some((*status, body.clone()))
            }
            _ => None,
        }
    }
}

/// A queue shard.
#[durable_object]
pub struct QueueShard {
    state: State,
    env: Env,
    /// How many positions this shard has handed out (cached from storage).
    joined: Cell<Option<u64>>,
    /// Whether the pre-queue is sealed (cached from storage once read; only this object
    /// seals it).
    sealed: Cell<Option<bool>>,
    /// The head of the pre-queue's hash chain (cached from storage; only this object
    /// extends it).
    draw_head: RefCell<Option<String>>,
    /// Whether this object's sale and cleanup round are known to be in place.
    adopted: Cell<bool>,
    /// The hold budget's bucket: tokens, and when it was last filled (unix ms).
    hold_budget: Cell<(f64, u64)>,
}

impl DurableObject for QueueShard {
    fn new(state: State, env: Env) -> Self {
        QueueShard {
            state,
            env,
            joined: Cell::new(None),
            sealed: Cell::new(None),
            draw_head: RefCell::new(None),
            adopted: Cell::new(false),
            hold_budget: Cell::new((f64::MAX, 0)),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let storage = self.state.storage();
        let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
        let now = worker::Date::now().as_millis();
        let sweep = self.sweep().await?;
        let next = match janitor::round(&storage, &cfg, now).await? {
            Round::Clean if sweep.is_none() => {
                // Keeps the count of positions handed out: a restock must not hand out a
                // position again.
                janitor::clean(&storage, KEPT, &[ENTRY_PREFIX]).await?;
                self.adopted.set(false);
                return Response::ok("cleaned");
            }
            // Holds are still being released: look again with the sweep.
            Round::Clean | Round::Idle => sweep,
            Round::Again(at) => Some(sweep.map_or(at, |s| s.min(at))),
        };
        if let Some(at) = next {
            storage.set_alarm(janitor::offset(at, now)).await?;
        }
        Response::ok("swept")
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let request: ShardRequest = crate::objects::read_request(&mut req).await?;
        let response = match request {
            ShardRequest::Join {
                sale,
                challenge,
                expires_at,
                shard,
                shards,
                draw,
            } => {
                let entry = draw.as_ref().map(|d| (d, sale.as_str()));
                let joined = self
                    .join(&challenge, expires_at, shard, shards, entry)
                    .await?;
                if let Ok(sale) = SaleId::parse(&sale) {
                    let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
                    let now = worker::Date::now().as_millis();
                    let storage = self.state.storage();
                    janitor::adopt(&storage, &self.adopted, &sale, &cfg, now).await?;
                }
                joined
            }
            ShardRequest::HoldAttempt {
                position,
                per_ticket,
                per_second,
            } => self.hold_attempt(position, per_ticket, per_second).await?,
            ShardRequest::HoldAttemptBack {
                position,
                per_second,
            } => {
                let storage = self.state.storage();
                let key = format!("a:{position}");
                if let Some(used) = storage.get::<u32>(&key).await?.filter(|n| *n > 0) {
                    storage.put(&key, used - 1).await?;
                }
                let (tokens, at) = self.hold_budget.get();
                self.hold_budget
                    .set(((tokens + 1.0).min(per_second.max(1.0)), at));
                ShardResponse::Ok
            }
            ShardRequest::Seal { sale, shard } => {
                let joined = self.joined_count().await?;
                ShardResponse::Sealed(self.seal(&sale, shard, joined).await?)
            }
            ShardRequest::Entries { from, limit } => {
                let listed = self
                    .state
                    .storage()
                    .list_with_options(
                        ListOptions::new()
                            .prefix(ENTRY_PREFIX)
                            .start(&entry_key(from))
                            .limit(limit.clamp(1, 1_000) as usize),
                    )
                    .await?;
                let mut entries = Vec::new();
                for value in listed.values() {
                    let value = value?;
                    let text = worker::js_sys::JSON::stringify(&value)
                        .ok()
                        .and_then(|t| t.as_string())
                        .unwrap_or_default();
                    if let Ok(entry) = serde_json::from_str::<Entry>(&text) {
                        entries.push(entry);
                    }
                }
                ShardResponse::Entries { entries }
            }
            ShardRequest::Census => {
                ShardResponse::Census(janitor::census(&self.state.storage()).await?)
            }
            ShardRequest::Joins => ShardResponse::Joins {
                joined: self.joined_count().await?,
            },
            ShardRequest::Place { challenge } => match self.spent(&challenge).await? {
                Some(Some(position)) => ShardResponse::Joined {
                    position,
                    again: true,
                },
                Some(None) => ShardResponse::ChallengeSpent,
                None => ShardResponse::NotJoined,
            },
            ShardRequest::Claim {
                pass,
                position,
                cancelled,
            } => {
                let answer = self.claim(&pass, cancelled).await?;
                if let (ShardResponse::Claimed, Some(p)) = (&answer, position) {
                    self.hold_claimed(p).await?;
                }
                answer
            }
            ShardRequest::Answer { pass, cancelled } => {
                match self.entry(&pass).await?.map(|e| e.answer(cancelled)) {
                    Some(Some((status, body))) => ShardResponse::Done { status, body },
                    // Claimed, unsettled, or an order stored before a cancellation: whatever
                    // it became, the origin knows.
                    Some(None) => ShardResponse::Unsettled,
                    None => ShardResponse::Ok,
                }
            }
            ShardRequest::Complete {
                pass,
                status,
                body,
                position,
                cancelled,
            } => {
                let captured = captured_hold(status, &body);
                let done = LedgerEntry::Done {
                    status,
                    body,
                    cancelled,
                };
                self.state.storage().put(&format!("p:{pass}"), done).await?;
                if let (Some(hold), Some(p)) = (captured, position) {
                    self.hold_charged(p, &hold).await?;
                }
                ShardResponse::Ok
            }
            ShardRequest::Hold {
                sale,
                position,
                record,
            } => {
                self.register_hold(&sale, position, record).await?;
                ShardResponse::Ok
            }
            ShardRequest::HoldState { position } => ShardResponse::HoldState {
                record: self
                    .state
                    .storage()
                    .get::<HoldRecord>(&format!("h:{position}"))
                    .await?,
            },
            ShardRequest::Release { pass, unsettled } => {
                let key = format!("p:{pass}");
                if unsettled {
                    self.state
                        .storage()
                        .put(&key, LedgerEntry::Unsettled)
                        .await?;
                } else {
                    self.state.storage().delete(&key).await?;
                }
                ShardResponse::Ok
            }
        };
        Response::from_json(&response)
    }
}

impl QueueShard {
    /// Whether `challenge` joined here: `Some(Some(position))`, or `Some(None)` for a record
    /// that does not say where (written before records kept the position).
    async fn spent(&self, challenge: &str) -> Result<Option<Option<u64>>> {
        let record = self
            .state
            .storage()
            .get::<serde_json::Value>(&format!("c:{challenge}"))
            .await?;
        Ok(record.map(|r| {
            serde_json::from_value::<SpentChallenge>(r)
                .ok()
                .map(|s| s.position)
        }))
    }

    /// How many positions this shard has handed out.
    async fn joined_count(&self) -> Result<u64> {
        Ok(match self.joined.get() {
            Some(n) => n,
            None => self
                .state
                .storage()
                .get::<u64>("joined")
                .await?
                .unwrap_or(0),
        })
    }

    /// Seals the pre-queue (its first `joined` joins) unless it is sealed, and returns its
    /// tally. Joins after this are late arrivals, whatever their time.
    async fn seal(&self, sale: &str, shard: u32, joined: u64) -> Result<ShardTally> {
        let storage = self.state.storage();
        if let Some(tally) = storage.get::<ShardTally>(SEALED_KEY).await? {
            return Ok(tally);
        }
        let head = storage
            .get::<String>(HEAD_KEY)
            .await?
            .unwrap_or_else(|| draw::genesis(sale, shard));
        let tally = ShardTally {
            count: joined,
            head,
        };
        storage.put(SEALED_KEY, &tally).await?;
        self.sealed.set(Some(true));
        Ok(tally)
    }

    /// Whether the pre-queue is sealed, from memory once known.
    async fn is_sealed(&self) -> Result<bool> {
        if let Some(sealed) = self.sealed.get() {
            return Ok(sealed);
        }
        let sealed = self
            .state
            .storage()
            .get::<ShardTally>(SEALED_KEY)
            .await?
            .is_some();
        self.sealed.set(Some(sealed));
        Ok(sealed)
    }

    /// The `joined`-th join, of `digest`, as an entry of the pre-queue if it comes before the
    /// close and the shard is not sealed: the chain's new head and the entry, to be written
    /// with the join. A join after the close seals the shard instead.
    async fn draw_entry(
        &self,
        (join, sale): (&DrawJoin, &str),
        shard: u32,
        joined: u64,
    ) -> Result<Option<(String, Entry)>> {
        if self.is_sealed().await? {
            return Ok(None);
        }
        let now = worker::Date::now().as_millis();
        if now >= join.closes_at_ms {
            self.seal(sale, shard, joined).await?;
            return Ok(None);
        }
        let cached = self.draw_head.borrow().clone();
        let head = match cached {
            Some(head) => head,
            None => self
                .state
                .storage()
                .get::<String>(HEAD_KEY)
                .await?
                .unwrap_or_else(|| draw::genesis(sale, shard)),
        };
        let entry = Entry {
            digest: join.digest.clone(),
            at_ms: now,
            place: None,
        };
        Ok(Some((draw::chain(&head, &entry.digest, now), entry)))
    }

    async fn join(
        &self,
        challenge: &str,
        expires_at: u64,
        shard: u32,
        shards: u32,
        entry: Option<(&DrawJoin, &str)>,
    ) -> Result<ShardResponse> {
        let storage = self.state.storage();
        let key = format!("c:{challenge}");
        // Storage calls hold the object's input gate: no other request interleaves between
        // this read and the write below, so a challenge cannot be spent twice.
        match self.spent(challenge).await? {
            Some(Some(position)) => {
                return Ok(ShardResponse::Joined {
                    position,
                    again: true,
                })
            }
            Some(None) => return Ok(ShardResponse::ChallengeSpent),
            None => {}
        }
        let joined = self.joined_count().await?;
        let entry = match entry {
            Some(entry) => self.draw_entry(entry, shard, joined).await?,
            None => None,
        };
        let position = u64::from(shard) + joined * u64::from(shards.max(1));
        let record = SpentChallenge {
            exp: expires_at,
            position,
        };
        // Everything the join changes, in one write.
        let writes = Object::new();
        let put = |k: &str, v: &JsValue| Reflect::set(&writes, &JsValue::from_str(k), v);
        put(&key, &js_value(&record)?)?;
        put("joined", &JsValue::from_f64((joined + 1) as f64))?;
        if let Some((head, entry)) = &entry {
            put(HEAD_KEY, &JsValue::from_str(head))?;
            put(&entry_key(joined), &js_value(entry)?)?;
        }
        storage.put_multiple_raw(writes).await?;
        self.joined.set(Some(joined + 1));
        if let Some((head, _)) = entry {
            *self.draw_head.borrow_mut() = Some(head);
        }
        Ok(ShardResponse::Joined {
            position,
            again: false,
        })
    }

    async fn register_hold(&self, sale: &str, position: u64, mut record: HoldRecord) -> Result<()> {
        let storage = self.state.storage();
        let key = format!("h:{position}");
        let now = worker::Date::now().as_millis();
        if let Some(old) = storage.get::<HoldRecord>(&key).await? {
            if old.intent == record.intent {
                return Ok(());
            }
            if !old.due_key.is_empty() {
                storage.delete(&old.due_key).await?;
            }
            if old.state == HoldState::OnHold {
                // Replaced by a new card: released on the next round.
                storage.put(&Due::Replaced(old.intent).key(now), 1).await?;
            }
        }
        record.due_key = Due::Position(position).key(record.release_by_ms);
        storage.put(&record.due_key, 1).await?;
        storage.put(&key, &record).await?;
        storage.put(janitor::SALE_KEY, sale).await?;
        let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
        let next = now + cfg.hold_sweep_secs * 1000;
        match storage.get_alarm().await? {
            Some(at) if (at as u64) <= next => {}
            _ => storage.set_alarm(janitor::offset(next, now)).await?,
        }
        Ok(())
    }

    /// A card attempt of `position`: refused when the shard's bucket (`per_second`, one
    /// second's worth of burst) is empty, without counting; otherwise counted against the
    /// position's limit.
    async fn hold_attempt(
        &self,
        position: u64,
        per_ticket: u32,
        per_second: f64,
    ) -> Result<ShardResponse> {
        let now = worker::Date::now().as_millis();
        let capacity = per_second.max(1.0);
        let (tokens, at) = self.hold_budget.get();
        let tokens = (tokens + (now.saturating_sub(at) as f64) * per_second / 1000.0).min(capacity);
        if tokens < 1.0 {
            self.hold_budget.set((tokens, now));
            return Ok(ShardResponse::Busy);
        }
        let storage = self.state.storage();
        let key = format!("a:{position}");
        let used = storage.get::<u32>(&key).await?.unwrap_or(0);
        if per_ticket > 0 && used >= per_ticket {
            self.hold_budget.set((tokens, now));
            return Ok(ShardResponse::Limited);
        }
        storage.put(&key, used + 1).await?;
        self.hold_budget.set((tokens - 1.0, now));
        Ok(ShardResponse::Allowed)
    }

    async fn hold_claimed(&self, position: u64) -> Result<()> {
        let storage = self.state.storage();
        let key = format!("h:{position}");
        if let Some(mut rec) = storage.get::<HoldRecord>(&key).await? {
            rec.claimed_until_ms = worker::Date::now().as_millis() + CLAIM_TIMEOUT_MS;
            storage.put(&key, &rec).await?;
        }
        Ok(())
    }

    /// Marks the hold of `position` charged if it is the one the order captured (`hold`); a
    /// hold the order did not capture (it was paid with an earlier one) stays scheduled for
    /// release.
    async fn hold_charged(&self, position: u64, hold: &str) -> Result<()> {
        let storage = self.state.storage();
        let key = format!("h:{position}");
        if let Some(mut rec) = storage
            .get::<HoldRecord>(&key)
            .await?
            .filter(|r| r.intent == hold)
        {
            if !rec.due_key.is_empty() {
                storage.delete(&rec.due_key).await?;
            }
            rec.due_key = String::new();
            rec.state = HoldState::Charged;
            storage.put(&key, &rec).await?;
        }
        Ok(())
    }

    /// One round of releasing holds (see the module documentation).
    /// Returns when the next round is due, `None` when no hold is left to release.
    async fn sweep(&self) -> Result<Option<u64>> {
        let storage = self.state.storage();
        let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
        let Some(gateway) = crate::payments::gateway(&cfg) else {
            return Ok(None);
        };
        let now = worker::Date::now().as_millis();
        let sale_over = match storage.get::<String>(janitor::SALE_KEY).await? {
            Some(sale) => match SaleId::parse(&sale) {
                Ok(sale) => match crate::origin::sale(&cfg, &sale, now).await {
                    Ok(Some(state)) => state.status == SaleStatus::SoldOut,
                    Ok(None) => true,
                    Err(_) => false,
                },
                Err(_) => false,
            },
            None => false,
        };
        let per_round = (cfg.hold_release_rate / cfg.shards.max(1)).clamp(1, 100) as usize;
        let listed = storage
            .list_with_options(ListOptions::new().prefix("d:").limit(per_round + 1))
            .await?;
        let mut attempted = 0usize;
        let mut more = false;
        let mut next_due: Option<u64> = None;
        for key in listed.keys() {
            let Some(key) = key?.as_string() else {
                continue;
            };
            let Some((at, due)) = Due::parse(&key) else {
                storage.delete(&key).await?;
                continue;
            };
            if !sale_over && at > now {
                next_due = Some(at);
                break;
            }
            if attempted == per_round {
                more = true;
                break;
            }
            attempted += 1;
            match due {
                Due::Replaced(intent) => {
                    let key_id = format!("hg-release-{intent}");
                    match gateway.release(&intent, &key_id).await {
                        Ok(_) => {
                            storage.delete(&key).await?;
                        }
                        Err(e) => worker::console_error!("releasing a hold failed: {e}"),
                    }
                }
                Due::Position(position) => {
                    let hkey = format!("h:{position}");
                    let Some(mut rec) = storage.get::<HoldRecord>(&hkey).await? else {
                        storage.delete(&key).await?;
                        continue;
                    };
                    if rec.claimed_until_ms > now {
                        // A purchase is under way: look again when its claim lapses.
                        storage.delete(&key).await?;
                        rec.due_key = Due::Position(position).key(rec.claimed_until_ms);
                        storage.put(&rec.due_key, 1).await?;
                        storage.put(&hkey, &rec).await?;
                        let at = rec.claimed_until_ms;
                        next_due = Some(next_due.map_or(at, |d| d.min(at)));
                        continue;
                    }
                    let key_id = format!("hg-release-{}", rec.intent);
                    match gateway.release(&rec.intent, &key_id).await {
                        Ok(outcome) => {
                            rec.state = match outcome {
                                Release::Released => HoldState::Released,
                                Release::Captured => HoldState::Charged,
                            };
                            rec.due_key = String::new();
                            storage.delete(&key).await?;
                            storage.put(&hkey, &rec).await?;
                        }
                        Err(e) => worker::console_error!("releasing a hold failed: {e}"),
                    }
                }
            }
        }
        let next = if more {
            Some(now + 1000)
        } else if sale_over && attempted > 0 {
            // Failed releases stay scheduled; try again in a second.
            Some(now + 1000)
        } else if attempted > 0 || next_due.is_some() {
            let poll = now + cfg.hold_sweep_secs * 1000;
            Some(next_due.map_or(poll, |d| d.min(poll)))
        } else {
            None
        };
        Ok(next)
    }

    /// The pass ledger's entry for `pass`, if any.
    async fn entry(&self, pass: &str) -> Result<Option<LedgerEntry>> {
        self.state
            .storage()
            .get::<LedgerEntry>(&format!("p:{pass}"))
            .await
    }

    /// Claims `pass` for a purchase, unless another purchase with it is under way or it has a
    /// final answer ([`LedgerEntry::answer`]). An unsettled entry is claimed like none.
    async fn claim(&self, pass: &str, cancelled: u64) -> Result<ShardResponse> {
        let storage = self.state.storage();
        let key = format!("p:{pass}");
        let now = worker::Date::now().as_millis();
        let entry = storage.get::<LedgerEntry>(&key).await?;
        if let Some((status, body)) = entry.as_ref().and_then(|e| e.answer(cancelled)) {
            return Ok(ShardResponse::Done { status, body });
        }
        match entry {
            Some(LedgerEntry::InFlight { since_ms }) if now < since_ms + CLAIM_TIMEOUT_MS => {
                Ok(ShardResponse::InFlight)
            }
            _ => {
                storage
                    .put(&key, LedgerEntry::InFlight { since_ms: now })
                    .await?;
                Ok(ShardResponse::Claimed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{captured_hold, Due};

    #[test]
    fn only_the_hold_an_order_captured_is_charged() {
        let paid = r#"{"created":true,"charged":{"amount":1500,"currency":"eur","hold":"pi_1"}}"#;
        assert_eq!(captured_hold(201, paid), Some("pi_1".into()));
        assert_eq!(captured_hold(200, paid), Some("pi_1".into()));
        // No capture in the answer (a sale without a price), or no order.
        assert_eq!(captured_hold(201, r#"{"created":true}"#), None);
        assert_eq!(captured_hold(402, paid), None);
        assert_eq!(captured_hold(201, "not json"), None);
    }

    #[test]
    fn schedule_keys_sort_by_time_and_name_what_falls_due() {
        let a = Due::Position(17).key(1_700_000_000_000);
        let b = Due::Replaced("pi_abc_1".into()).key(1_700_000_000_001);
        assert!(a < b);
        assert_eq!(Due::parse(&a), Some((1_700_000_000_000, Due::Position(17))));
        assert_eq!(
            Due::parse(&b),
            Some((1_700_000_000_001, Due::Replaced("pi_abc_1".into())))
        );
        assert_eq!(Due::parse("d:12:p1"), None);
        assert_eq!(Due::parse("d:001700000000000:q1"), None);
    }
}
