//! JSON types exchanged over HTTP, and the body every refusal is sent in.
//!
//! Every refusal is an [`ErrorBody`]: a stable machine-readable [`ErrorCode`], the HTTP status
//! that fits it ([`ErrorCode::status`]) and a sentence for people ([`ErrorCode::message`]).
//! Clients branch on the code; the sentence may change. The codes themselves are the refusal
//! table in [`crate::refusal`], re-exported here so `wire::ErrorCode` keeps naming it.

use serde::{Deserialize, Serialize};

use crate::ids::{SaleId, VisitorId};
pub use crate::refusal::ErrorCode;

/// A sale's settings, as an operator creates or updates them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleConfig {
    /// Items on sale in total (sold + remaining). Updating it never drops below what was sold.
    pub stock: u64,
    /// The most items one visitor may buy (in their one order).
    pub per_visitor_limit: u32,
    /// When the sale opens, unix milliseconds.
    pub starts_at_ms: u64,
    /// Buyers admitted from the queue per second.
    pub admission_rate: u32,
    /// The price of one item, when buyers' cards are held while they queue (see
    /// `herdgate-pay`). Without it the sale takes no card holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Whether admission is paused: nobody new is admitted until it is resumed; positions
    /// already admitted stay admitted. Left out of an update, it stays as it was (a restock
    /// does not resume a paused sale); a new sale is not paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// A pre-queue with a draw before the sale opens (see [`crate::draw`]). Without it the
    /// line is first come, first served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prequeue: Option<Prequeue>,
    /// How many stock shards the sale's stock is split over (1 to [`MAX_STOCK_SHARDS`]), for
    /// one sale hotter than one Redis primary can serve: each shard is a hash tag of its own,
    /// placed on another primary of a Redis Cluster, and each visitor buys at one of them
    /// (by visitor id); stock moves between them as they run dry. Set when the sale is
    /// created and never changed; left out, a new sale has 1 (one place, no shards) and an
    /// existing one keeps its own. A seated sale has 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_shards: Option<u32>,
    /// The countries the sale is sold to (ISO 3166-1 alpha-2 codes, at most
    /// [`MAX_COUNTRIES`]); empty, every country. The edge refuses a visitor from elsewhere,
    /// or from nowhere it can tell, `not_sold_here` (see [`crate::region`]). Like the other
    /// settings, an update replaces it: left out, the sale is sold everywhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
}

/// The most countries a sale's geofence names ([`SaleConfig::countries`]).
pub const MAX_COUNTRIES: usize = 250;

/// The most stock shards one sale may have ([`SaleConfig::stock_shards`]).
pub const MAX_STOCK_SHARDS: u32 = 16;

/// A sale's pre-queue: everyone who joins from `opens_at_ms` until the sale's start plus
/// `draw_window_ms` gets a random place among that group ([`crate::draw`]); later arrivals
/// queue behind them in arrival order. Admission starts at the close (places, once the seed
/// is revealed). It is set when the sale is created; once open, it and its opening stay; once
/// closed, so does the close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prequeue {
    /// When the pre-queue opens, unix ms; at or before the sale's start.
    pub opens_at_ms: u64,
    /// How long after the sale's start the draw closes, ms (at most
    /// [`Prequeue::MAX_DRAW_WINDOW_MS`]): who arrives in the sale's first moments has the
    /// same chance as who waited.
    #[serde(default)]
    pub draw_window_ms: u64,
}

impl Prequeue {
    /// The longest draw window: ten minutes.
    pub const MAX_DRAW_WINDOW_MS: u64 = 600_000;
    /// The longest a pre-queue may be open before the sale starts: a week.
    pub const MAX_OPEN_MS: u64 = 7 * 24 * 3_600_000;

    /// When the draw closes for a sale starting at `starts_at_ms`.
    pub fn closes_at_ms(&self, starts_at_ms: u64) -> u64 {
        starts_at_ms.saturating_add(self.draw_window_ms)
    }

    /// Whether it fits a sale starting at `starts_at_ms`.
    pub fn is_valid(&self, starts_at_ms: u64) -> bool {
        self.opens_at_ms <= starts_at_ms
            && starts_at_ms - self.opens_at_ms <= Self::MAX_OPEN_MS
            && self.draw_window_ms <= Self::MAX_DRAW_WINDOW_MS
    }
}

/// A sale's draw as the public sees it: the commitment from the start, the seed once the draw
/// has closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawState {
    /// When the pre-queue opens, unix ms.
    pub opens_at_ms: u64,
    /// When the draw closes, unix ms: every entry before then is in it.
    pub closes_at_ms: u64,
    /// The commitment to the seed ([`crate::draw::commitment`]), published before the
    /// pre-queue opens.
    pub commitment: String,
    /// The seed (64 hex digits), revealed [`crate::draw::REVEAL_AFTER_MS`] after the draw
    /// has closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// The price of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// In the currency's minor unit (cents for EUR and USD), at least 1.
    pub amount: u64,
    /// ISO 4217 code, lower case (`eur`).
    pub currency: String,
}

impl Price {
    /// The most a price may be: 10^12 minor units, far above any card limit.
    pub const MAX_AMOUNT: u64 = 1_000_000_000_000;

    /// Whether the amount is 1..=[`Self::MAX_AMOUNT`] and the currency three lower-case
    /// letters.
    pub fn is_valid(&self) -> bool {
        (1..=Self::MAX_AMOUNT).contains(&self.amount)
            && self.currency.len() == 3
            && self.currency.bytes().all(|b| b.is_ascii_lowercase())
    }

    /// The amount held for one visitor: `quantity` items.
    pub fn times(&self, quantity: u32) -> u64 {
        self.amount.saturating_mul(u64::from(quantity))
    }
}

/// Where a sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SaleStatus {
    /// Not open yet.
    Scheduled,
    /// Open, with stock left.
    Open,
    /// No stock left.
    SoldOut,
}

impl SaleStatus {
    /// The status of a sale with `remaining` items that opens at `starts_at_ms`, at `now_ms`.
    pub fn at(remaining: u64, starts_at_ms: u64, now_ms: u64) -> Self {
        Self::settling(remaining, 0, starts_at_ms, now_ms)
    }

    /// Like [`SaleStatus::at`], with `pending` captures under way: a sale with nothing left is
    /// sold out only once none is pending, since a capture that fails gives its items back.
    pub fn settling(remaining: u64, pending: u64, starts_at_ms: u64, now_ms: u64) -> Self {
        if remaining == 0 && pending == 0 {
            SaleStatus::SoldOut
        } else if now_ms < starts_at_ms {
            SaleStatus::Scheduled
        } else {
            SaleStatus::Open
        }
    }
}

/// The public state of a sale: what every edge location polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleState {
    /// The sale.
    pub sale: SaleId,
    /// Where it stands.
    pub status: SaleStatus,
    /// Items left.
    pub remaining: u64,
    /// Items sold.
    pub sold: u64,
    /// When it opens, unix milliseconds.
    pub starts_at_ms: u64,
    /// Buyers admitted per second.
    pub admission_rate: u32,
    /// The most items one visitor may buy.
    #[serde(default = "one")]
    pub per_visitor_limit: u32,
    /// The price of one item, if the sale takes card holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Whether the operator paused admission.
    #[serde(default)]
    pub paused: bool,
    /// Counts the operator's changes to the sale's settings (start, rate, pause, stock,
    /// price): the edge's admission schedule follows the settings of the highest revision it
    /// has seen, so an older copy never undoes a newer change.
    #[serde(default)]
    pub revision: u64,
    /// Orders the audit cancelled so far: an edge that remembers an order asks the origin
    /// again once this grows, so a cancelled order reads as cancelled.
    #[serde(default)]
    pub cancelled: u64,
    /// Orders whose card payment is being captured: while any is, a sale with nothing left is
    /// not sold out (a failed capture gives its items back).
    #[serde(default)]
    pub pending: u64,
    /// The sale's pre-queue draw, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw: Option<DrawState>,
    /// For a seated sale (one with a seat map): how it admits, by the people choosing seats
    /// at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seated: Option<Choosing>,
    /// The countries the sale is sold to; empty, every country ([`SaleConfig::countries`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// Items of this region's stock on their way to another region (debited here, not
    /// settled: README, "Regions"). Over several regions, a sale whose stock is all on its
    /// way is not sold out, and items on their way can still sell ([`SaleState::unsold`]).
    /// Between the credit at the destination and the settle here they are counted in both
    /// regions: what counts them errs, for that moment, towards more stock.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub moving: u64,
    /// Items this region has given to other regions, all told (debited here).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub given: u64,
    /// Items this region has received from other regions, all told (credited here). Over
    /// every region, what was given and not received is on its way: regions read one after
    /// the other can miss an item between them (read at its destination before the credit,
    /// at its source after the settle), and these counts catch it
    /// (`herdgate_core::region::in_flight`).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub received: u64,
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// How a seated sale admits: the next person in line is let in only while fewer than
/// `choosers` are choosing seats (Cloudflare's "total active users"). An admitted person counts
/// as choosing for `choose_ms` and, once they hold seats, until the hold ends (bought,
/// released, or lapsed after `hold_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choosing {
    /// The most people choosing at once.
    pub choosers: u32,
    /// How long an admitted person counts as choosing before they hold seats, ms.
    pub choose_ms: u64,
    /// How long a hold lasts, ms.
    pub hold_ms: u64,
}

impl SaleState {
    /// The items that can still sell: in stock, or on their way to a region's stock
    /// ([`SaleState::moving`]). What the admission's hold on the frontier and the waiters' odds
    /// count (`gate::odds`): an item between two regions at the moment they are counted is
    /// not gone.
    pub fn unsold(&self) -> u64 {
        self.remaining.saturating_add(self.moving)
    }

    /// The admission settings this state carries. A sale with a draw admits from the close.
    pub fn admission(&self) -> AdmissionSettings {
        let closes = self.draw.as_ref().map(|d| d.closes_at_ms);
        AdmissionSettings {
            starts_at_ms: self.starts_at_ms.max(closes.unwrap_or(0)),
            rate: self.admission_rate,
            paused: self.paused,
            revision: self.revision,
            draw_closes_at_ms: closes,
            choosing: self.seated,
        }
    }

    /// The revealed seed of the sale's draw, if it has closed and the seed matches its
    /// commitment.
    pub fn draw_seed(&self) -> Option<[u8; crate::draw::SEED_BYTES]> {
        let d = self.draw.as_ref()?;
        let seed = crate::draw::parse_seed(d.seed.as_deref()?)?;
        (crate::draw::commitment(&seed) == d.commitment).then_some(seed)
    }
}

/// The operator's admission settings of a sale, as the origin holds them: the one source of
/// truth the edge's [`ControlState`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionSettings {
    /// When the sale opens, unix ms.
    pub starts_at_ms: u64,
    /// Buyers admitted per second while not paused.
    pub rate: u32,
    /// Whether admission is paused.
    pub paused: bool,
    /// The settings' revision (see [`SaleState::revision`]).
    pub revision: u64,
    /// When the sale's draw closes, unix ms, if it has one: the edge seals its pre-queue then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_closes_at_ms: Option<u64>,
    /// How a seated sale admits by concurrency; `None` for a sale of items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choosing: Option<Choosing>,
}

/// Everything the origin knows about a sale, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSaleState {
    /// The sale's settings.
    pub config: SaleConfig,
    /// Its public state.
    pub state: SaleState,
    /// Orders recorded (one per visitor).
    pub orders: u64,
    /// Entries in the sale's order stream (for downstream consumers).
    pub stream_length: u64,
    /// A sale with stock shards: the reserve (`"r"`), then each shard (`"0"`, `"1"`, …), as
    /// read one after another (not one moment's). Left out for a sale without shards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stock_places: Vec<StockPlace>,
}

/// One place of a sale's stock split over shards, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockPlace {
    /// `"r"`: the reserve (stock not given to a shard yet); else the shard's number.
    pub place: String,
    /// Items it may still sell (or, the reserve, give).
    pub remaining: u64,
    /// Items sold there.
    pub sold: u64,
    /// Card captures under way there.
    pub pending: u64,
    /// Items it received from other places.
    pub received: u64,
    /// Items it gave to other places.
    pub given: u64,
    /// Transfers it started that are not finished (a moment's, or cut off: the keeper
    /// finishes them within a second or two).
    pub transfers_open: u64,
}

/// The sales an origin holds, for operators (`GET /admin/v1/sales`), by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleList {
    /// Each sale's settings and state.
    pub sales: Vec<AdminSaleState>,
    /// There were more sales than one answer lists.
    #[serde(default)]
    pub truncated: bool,
}

/// One moment of a sale, as the origin's recorder saw it (`GET /admin/v1/sales/{sale}/timeline`):
/// the origin's books, the card payments, and, when the origin knows the edge's address, the
/// edge's counts and admission frontier at that moment. Counts are totals since the sale
/// began, so any two samples give the rate between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineSample {
    /// When it was taken, unix ms (the origin's clock).
    pub at_ms: u64,
    /// The sale's status then.
    pub status: SaleStatus,
    /// Items sold (orders the audit cancelled are not counted).
    pub sold: u64,
    /// Items left.
    pub remaining: u64,
    /// Items whose orders the audit cancelled.
    pub cancelled: u64,
    /// Orders recorded.
    pub orders: u64,
    /// Whether admission was paused.
    pub paused: bool,
    /// The admission rate configured, places per second.
    pub rate: u32,
    /// Card payments of the sale's orders.
    pub payments: PaymentCounts,
    /// The edge's numbers, if the origin could read them then (`--edge-url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeSample>,
    /// Purchase latency at the origin that took the sample, over the purchases it answered
    /// since its previous sample (all sales), if it answered any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySample>,
}

/// How long a visitor whose turn came has to take their pass before [`Timeline::gave_up`]
/// counts them as gone: the edge's longest poll interval (30 s) and a margin.
pub const GAVE_UP_GRACE_MS: u64 = 35_000;

impl TimelineSample {
    /// People in line at this moment, by the edge's numbers: places taken that the frontier
    /// had not reached. Exact with one queue shard; with K shards the frontier passes numbers
    /// a shard never gave out, so it is an estimate that errs low by at most K − 1.
    pub fn in_line(&self) -> Option<u64> {
        let edge = self.edge.as_ref()?;
        let joined = edge.counts.joins;
        Some(joined - edge.frontier.min(joined))
    }
}

impl Timeline {
    /// Visitors who gave up, at least: the places the frontier had reached [`GAVE_UP_GRACE_MS`]
    /// before the last sample, less every pass issued by the last sample. It is a lower bound:
    /// passes issued since to later places are subtracted too (and a pass issued twice to one
    /// place counts twice), so while admission runs it reads low; once the frontier has
    /// stopped for the grace, it is the places whose holders never came for their pass.
    pub fn gave_up(&self) -> Option<u64> {
        let last = self.samples.last()?;
        let passes = last.edge.as_ref()?.counts.passes;
        let then = self
            .samples
            .iter()
            .rev()
            .filter(|s| last.at_ms.saturating_sub(s.at_ms) >= GAVE_UP_GRACE_MS)
            .find_map(|s| s.edge.as_ref());
        Some(then.map_or(0, |e| e.frontier.min(e.counts.joins).saturating_sub(passes)))
    }
}

/// Card payments of a sale's orders, from the origin's books.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCounts {
    /// Orders whose card hold is captured.
    pub captured: u64,
    /// Orders whose capture is under way (or waits for the reconciler).
    pub pending: u64,
    /// Holds whose capture failed; their orders were undone and their items went back.
    pub failed: u64,
}

/// The edge's side of a [`TimelineSample`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeSample {
    /// What the edge counted, in all (see [`EdgeCounts`]).
    pub counts: EdgeCounts,
    /// Places in line the admission frontier had reached: every place below it may take a
    /// pass.
    pub frontier: u64,
}

/// Purchase latency over an interval, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySample {
    /// Purchases answered in the interval.
    pub purchases: u64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// A sale's recorded timeline, oldest sample first (`GET /admin/v1/sales/{sale}/timeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The sale.
    pub sale: SaleId,
    /// Milliseconds between samples.
    pub every_ms: u64,
    /// The samples asked for, oldest first.
    pub samples: Vec<TimelineSample>,
    /// More samples follow the last one listed (ask again from its `at_ms` + 1).
    #[serde(default)]
    pub truncated: bool,
}

/// What the edge counted for a sale, where it happened (`GET /admin/v1/sales/{sale}/counters`
/// at the edge): every isolate counts in memory and adds its counts to the sale's control
/// object with the call it makes anyway about once per `STATE_CACHE_MS`, so counting adds no
/// Durable Object call to any request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeCounts {
    /// Requests answered, by route: `challenge`, `join`, `status`, `hold`, `purchase`, `sale`,
    /// `draw`, `page` (the waiting room and the pages below it) and `lane` (the no-JavaScript
    /// lane).
    #[serde(default)]
    pub requests: std::collections::BTreeMap<String, u64>,
    /// Refusals, by code ([`ErrorCode::as_str`]).
    #[serde(default)]
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Joins that took a place (the page's and the lane's).
    #[serde(default)]
    pub joins: u64,
    /// Admission passes issued.
    #[serde(default)]
    pub passes: u64,
    /// Purchases forwarded to the origin.
    #[serde(default)]
    pub purchases_forwarded: u64,
    /// Card holds placed.
    #[serde(default)]
    pub holds: u64,
}

impl EdgeCounts {
    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == EdgeCounts::default()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &EdgeCounts) {
        for (k, v) in &other.requests {
            *self.requests.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.refusals {
            *self.refusals.entry(k.clone()).or_default() += v;
        }
        self.joins += other.joins;
        self.passes += other.passes;
        self.purchases_forwarded += other.purchases_forwarded;
        self.holds += other.holds;
    }
}

/// The body of a purchase request. An empty body means one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    /// Items to buy, 1 up to the sale's per-visitor limit.
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

impl Default for PurchaseRequest {
    fn default() -> Self {
        PurchaseRequest { quantity: 1 }
    }
}

/// An order: proof that a visitor bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Unique within the sale, in the order they were taken (`<sale>-<n>`).
    pub order_id: String,
    /// The sale.
    pub sale: SaleId,
    /// The buyer.
    pub visitor: VisitorId,
    /// Items bought.
    pub quantity: u32,
    /// The id of the pass that bought it.
    pub pass_id: String,
    /// When it was taken, unix milliseconds (origin clock).
    pub created_at_ms: u64,
}

/// Where a buyer's card hold stands, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    /// Authorised and held: "card on hold".
    OnHold,
    /// Captured for an order: "charged".
    Charged,
    /// Cancelled at the processor: "hold released".
    Released,
}

/// A buyer's card hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldView {
    /// Where it stands.
    pub state: HoldState,
    /// The hold (a PaymentIntent id).
    pub hold: String,
    /// The amount held, in the currency's minor unit.
    pub amount: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// When it was authorised, unix ms.
    pub authorised_at_ms: u64,
    /// By when it is released at the latest if it does not buy, unix ms (see the README's
    /// "Card holds" for the bound).
    pub release_by_ms: u64,
}

/// The answer to placing a card hold: the hold, the queue ticket re-signed to carry it (also
/// set as the ticket cookie), and where the ticket stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldResponse {
    /// The hold.
    pub hold: HoldView,
    /// The new queue ticket.
    pub ticket: String,
    /// Where it stands (with a pass that carries the hold, once admitted).
    pub status: QueueStatus,
}

/// The card payment of an order: its hold, captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// The amount taken, in the currency's minor unit.
    pub amount: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// The hold that was captured (a PaymentIntent id).
    pub hold: String,
}

/// The answer to a purchase: 201 with `created: true`, or 200 with the same order again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseResponse {
    /// Whether this request created the order (false: it already existed).
    pub created: bool,
    /// The order.
    pub order: Order,
    /// Items left after it. Of a sale with stock shards, a lower bound: those of the buyer's
    /// shard, or, once it ran dry, the whole sale's; 0 only when the whole sale is sold out.
    pub remaining: u64,
    /// The card payment taken for it, when the sale takes card holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged: Option<Charge>,
}

/// A proof-of-work challenge, as the edge hands it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The challenge token: solve it with [`crate::pow`], then join with it.
    pub challenge: String,
    /// Required leading zero bits.
    pub bits: u8,
    /// When the challenge expires, unix seconds.
    pub expires_at: u64,
}

/// A request to join a sale's queue with a solved challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The challenge token.
    pub challenge: String,
    /// A nonce that solves it.
    pub nonce: u64,
}

/// The answer to a join: a queue ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The signed queue ticket (also set as a cookie).
    pub ticket: String,
    /// The visitor id the ticket is for.
    pub visitor: VisitorId,
    /// 0-based queue position.
    pub position: u64,
    /// The status right after joining.
    pub status: QueueStatus,
}

/// Where a queued visitor stands, as the status endpoint and the waiting room report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum QueueStatus {
    /// Waiting: not admitted yet.
    Queued {
        /// The visitor's queue position.
        position: u64,
        /// Positions admitted before this one that are not yet admitted.
        ahead: u64,
        /// Estimated milliseconds until admission.
        eta_ms: u64,
        /// Poll again after this many milliseconds.
        poll_after_ms: u64,
        /// Items left in the sale.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remaining: Option<u64>,
        /// The chance, in whole percent (0 = under 1 %), that stock remains at this visitor's
        /// turn, from the conversion of those admitted so far ([`crate::gate::odds`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chance_pct: Option<u8>,
        /// The passes already out are expected to buy every remaining item: admission waits
        /// until items come back (the visitor keeps their place).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        stock_covered: bool,
    },
    /// Admission is paused by the operator.
    Paused {
        /// The visitor's queue position.
        position: u64,
        /// Poll again after this many milliseconds.
        poll_after_ms: u64,
    },
    /// Admitted: buy with the pass before it expires.
    Admitted {
        /// The visitor's queue position.
        position: u64,
        /// The admission pass (also set as a cookie).
        pass: String,
        /// When the pass expires, unix seconds.
        pass_expires_at: u64,
    },
    /// In the pre-queue: the draw has not been made yet. Everyone in it by the close has the
    /// same chance.
    Entered {
        /// The entry's public digest ([`crate::draw::entry_digest`] of the visitor id), as it
        /// is listed in the published draw.
        entry: String,
        /// When the draw closes, unix ms.
        draw_at_ms: u64,
        /// The commitment to the draw's seed, published before the pre-queue opened.
        commitment: String,
        /// Poll again after this many milliseconds.
        poll_after_ms: u64,
    },
    /// Nothing left to buy.
    SoldOut,
}

/// An operator's change to a sale's admission (`POST /admin/v1/sales/{sale}/control`, at the
/// origin or through the edge). It changes the sale's settings at the origin; every edge
/// follows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ControlRequest {
    /// Stop admitting; positions already admitted stay admitted.
    Pause,
    /// Admit again at the configured rate.
    Resume,
    /// Admit at a new rate (per second) from now on; 0 pauses and keeps the configured rate.
    SetRate {
        /// Positions admitted per second.
        rate: u32,
    },
}

impl ControlRequest {
    /// The action's name as it is spelled in JSON, and the rate it sets (0 for the others).
    pub fn action(&self) -> (&'static str, u32) {
        match *self {
            ControlRequest::Pause => ("pause", 0),
            ControlRequest::Resume => ("resume", 0),
            ControlRequest::SetRate { rate } => ("set_rate", rate),
        }
    }
}

/// A sale's admission control at the edge: the schedule in force, derived from the origin's
/// [`AdmissionSettings`] of the highest revision seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlState {
    /// The admission schedule in force.
    pub schedule: crate::admission::Schedule,
    /// Whether admission is paused.
    pub paused: bool,
    /// The configured rate (what resume restores).
    pub rate: u32,
    /// The revision of the settings the schedule follows.
    #[serde(default)]
    pub revision: u64,
    /// The sale's pre-queue as sealed at the draw's close, once it is (see [`crate::draw`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<crate::draw::Tally>,
    /// Items sold per place admitted, parts per million, as last measured
    /// ([`crate::gate::odds::conversion_ppm`]).
    #[serde(default = "full_conversion")]
    pub conversion_ppm: u32,
    /// A seated sale: how many places count as choosing seats, as the control object last
    /// counted them (see [`Choosing`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choosing: Option<u64>,
}

fn full_conversion() -> u32 {
    crate::gate::odds::PPM
}

impl ControlState {
    /// The control of a sale that opens at `starts_at_ms` and admits `rate` per second.
    pub fn starting(starts_at_ms: u64, rate: u32) -> Self {
        ControlState {
            schedule: crate::admission::Schedule::starting(starts_at_ms, rate),
            paused: false,
            rate,
            revision: 0,
            tally: None,
            conversion_ppm: crate::gate::odds::PPM,
            choosing: None,
        }
    }

    /// The control of a sale first seen with `settings`: admission from its start.
    pub fn following(settings: &AdmissionSettings) -> Self {
        let live_rate = if settings.paused { 0 } else { settings.rate };
        ControlState {
            schedule: crate::admission::Schedule::starting(settings.starts_at_ms, live_rate),
            paused: settings.paused,
            rate: settings.rate,
            revision: settings.revision,
            tally: None,
            conversion_ppm: crate::gate::odds::PPM,
            choosing: None,
        }
    }

    /// Follows `settings` from `now_ms` if they are newer than the ones in force (an older or
    /// the same revision changes nothing). Positions already admitted stay admitted and the
    /// frontier never moves back; from then on it grows at the new rate (0 while paused),
    /// starting at the new start time or now, whichever is later. So a postponed sale admits
    /// nobody new before its new start, a sale started early admits from the moment the
    /// change is seen (never a burst for the time it was not yet open), and a new rate counts
    /// from the change.
    pub fn follow(&self, settings: &AdmissionSettings, now_ms: u64) -> ControlState {
        if settings.revision <= self.revision {
            return self.clone();
        }
        let live_rate = if settings.paused { 0 } else { settings.rate };
        ControlState {
            schedule: self
                .schedule
                .rebased(now_ms, settings.starts_at_ms, live_rate),
            paused: settings.paused,
            rate: settings.rate,
            revision: settings.revision,
            tally: self.tally.clone(),
            conversion_ppm: self.conversion_ppm,
            choosing: self.choosing,
        }
    }
}

/// The JSON body of every refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The refusal.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    pub code: ErrorCode,
    /// For people; may change between versions.
    pub message: String,
}

/// The answer to a join whose device must do more work (`more_work_required`): the refusal and
/// the harder challenge to solve and join with. Nothing was counted and no place was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoreWorkBody {
    /// The refusal, `more_work_required`.
    pub error: ErrorDetail,
    /// The challenge to solve.
    pub challenge: ChallengeResponse,
}

impl From<ErrorCode> for ErrorBody {
    fn from(code: ErrorCode) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: code.message().to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_request_defaults_to_one_item_and_refuses_unknown_fields() {
        let r: PurchaseRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r.quantity, 1);
        assert!(serde_json::from_str::<PurchaseRequest>("{\"qty\":2}").is_err());
        assert!(serde_json::from_str::<PurchaseRequest>("{\"quantity\":-1}").is_err());
    }

    #[test]
    fn edge_counts_add_up_key_by_key() {
        let mut a: EdgeCounts =
            serde_json::from_str(r#"{"requests":{"join":2},"refusals":{"sold_out":1},"passes":1}"#)
                .unwrap();
        let b: EdgeCounts = serde_json::from_str(
            r#"{"requests":{"join":1,"status":5},"refusals":{"sold_out":2},"joins":3,"holds":1}"#,
        )
        .unwrap();
        assert!(!a.is_empty() && EdgeCounts::default().is_empty());
        a.add(&b);
        assert_eq!(a.requests["join"], 3);
        assert_eq!(a.requests["status"], 5);
        assert_eq!(a.refusals["sold_out"], 3);
        assert_eq!(
            (a.joins, a.passes, a.holds, a.purchases_forwarded),
            (3, 1, 1, 0)
        );
    }

    fn settings(starts_at_ms: u64, rate: u32, paused: bool, revision: u64) -> AdmissionSettings {
        AdmissionSettings {
            starts_at_ms,
            rate,
            paused,
            revision,
            draw_closes_at_ms: None,
            choosing: None,
        }
    }

    #[test]
    fn control_follows_pause_resume_and_rate_without_moving_the_frontier_back() {
        let c = ControlState::following(&settings(0, 100, false, 1));
        let paused = c.follow(&settings(0, 100, true, 2), 10_000);
        assert!(paused.paused);
        assert_eq!(paused.schedule.frontier(10_000), 1_000);
        assert_eq!(paused.schedule.frontier(50_000), 1_000);
        // A new rate while paused is remembered, not applied.
        let rated = paused.follow(&settings(0, 200, true, 3), 30_000);
        assert!(rated.paused);
        assert_eq!(rated.rate, 200);
        assert_eq!(rated.schedule.frontier(40_000), 1_000);
        let resumed = rated.follow(&settings(0, 200, false, 4), 60_000);
        assert!(!resumed.paused);
        assert_eq!(resumed.schedule.frontier(61_000), 1_200);
        // An older or the same revision changes nothing, whatever it says.
        assert_eq!(resumed.follow(&settings(0, 5, true, 3), 62_000), resumed);
        assert_eq!(resumed.follow(&settings(0, 5, true, 4), 62_000), resumed);
    }

    #[test]
    fn control_follows_a_start_moved_later_or_earlier() {
        // Opens at 100 s; first seen at 10 s.
        let c = ControlState::following(&settings(100_000, 10, false, 1));
        // Postponed to 200 s before it opened: nobody is admitted before 200 s.
        let later = c.follow(&settings(200_000, 10, false, 2), 20_000);
        assert_eq!(later.schedule.frontier(150_000), 0);
        assert_eq!(later.schedule.frontier(201_000), 10);
        // Brought forward to 50 s, seen at 60 s: admission counts from 60 s, not 50 s.
        let early = later.follow(&settings(50_000, 10, false, 3), 60_000);
        assert_eq!(early.schedule.frontier(60_000), 0);
        assert_eq!(early.schedule.frontier(61_000), 10);
        // Postponed again after it opened: who was admitted stays admitted, nobody new
        // before the new start.
        let again = early.follow(&settings(300_000, 10, false, 4), 70_000);
        assert_eq!(again.schedule.frontier(70_000), 100);
        assert_eq!(again.schedule.frontier(299_000), 100);
        assert_eq!(again.schedule.frontier(301_000), 110);
    }

    #[test]
    fn queue_status_and_control_requests_serialize_as_documented() {
        let s = QueueStatus::Queued {
            position: 5,
            ahead: 3,
            eta_ms: 100,
            poll_after_ms: 1000,
            remaining: None,
            chance_pct: None,
            stock_covered: false,
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"state":"queued","position":5,"ahead":3,"eta_ms":100,"poll_after_ms":1000}"#
        );
        let odds = QueueStatus::Queued {
            position: 5,
            ahead: 3,
            eta_ms: 100,
            poll_after_ms: 1000,
            remaining: Some(7),
            chance_pct: Some(42),
            stock_covered: true,
        };
        let json = serde_json::to_string(&odds).unwrap();
        assert!(
            json.ends_with(r#""remaining":7,"chance_pct":42,"stock_covered":true}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<QueueStatus>(&json).unwrap(), odds);
        assert_eq!(
            serde_json::to_string(&QueueStatus::SoldOut).unwrap(),
            r#"{"state":"sold_out"}"#
        );
        let r: ControlRequest = serde_json::from_str(r#"{"action":"set_rate","rate":7}"#).unwrap();
        assert_eq!(r, ControlRequest::SetRate { rate: 7 });
        assert!(serde_json::from_str::<ControlRequest>(r#"{"action":"explode"}"#).is_err());
    }

    #[test]
    fn status_follows_stock_and_start() {
        assert_eq!(SaleStatus::at(0, 10, 0), SaleStatus::SoldOut);
        assert_eq!(SaleStatus::at(1, 10, 9), SaleStatus::Scheduled);
        assert_eq!(SaleStatus::at(1, 10, 10), SaleStatus::Open);
        // Nothing left, but a capture under way may give an item back.
        assert_eq!(SaleStatus::settling(0, 1, 10, 10), SaleStatus::Open);
        assert_eq!(SaleStatus::settling(0, 1, 10, 9), SaleStatus::Scheduled);
        assert_eq!(SaleStatus::settling(0, 0, 10, 10), SaleStatus::SoldOut);
    }
}
