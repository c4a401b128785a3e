//! `QueueShard`: one of K Durable Objects per sale that hand out queue positions and remember
//! what must happen only once.
//!
//! Shard `k` of `K` hands out positions `k, k+K, k+2K, …`, so joins spread over K objects and
//! no single object is the bottleneck, and every position is unique. The same shard:
//!
//! - records each challenge id it admitted with the position it took, so a challenge joins at
//!   most once, and a join sent again (its answer was lost) gets the same position back (a
//!   challenge is always sent to the shard its id hashes to);
//! - keeps the **pass ledger** of the positions it issued: a pass (of position `p`, at shard
//!   `p mod K`) is claimed before its purchase is forwarded to the origin, and the origin's
//!   answer is stored if it is final, so a replayed pass gets the stored answer without
//!   reaching the origin and two concurrent uses cannot both go through; a refusal that is
//!   not final only gives the claim up, and a stored order is asked for again once the
//!   audit has cancelled orders since; a purchase whose answer was lost (no answer in time, a
//!   5xx) leaves a mark, so that a retry after a sell-out still asks the origin;
//! - counts each position's **card attempts** (`HOLD_ATTEMPTS_PER_TICKET`) and meters new
//!   holds to its share of `HOLD_CREATE_RATE` (a token bucket in memory), before any reaches
//!   the processor;
//! - keeps the **card holds** of its positions (placed by `api/hold.rs`) and releases every hold
//!   that does not buy, from its alarm: when the sale sells out (it asks the origin every
//!   `HOLD_SWEEP_SECS` while it has holds open), when the ticket and the last pass it could earn
//!   have expired, or when the hold reaches `HOLD_MAX_AGE_SECS`, whichever comes first. A
//!   hold whose pass is being used to buy is left alone until that purchase is answered. It
//!   releases at most `HOLD_RELEASE_RATE / QUEUE_SHARD_COUNT` holds per second, so the
//!   processor's rate limit is respected; a release the processor does not answer is tried
//!   again on the next round. The buyer's tab need not be open for any of this;
//! - for a sale with a pre-queue, keeps its entries (digest and arrival time) in arrival order
//!   and their hash chain until the draw's close, then seals them (`herdgate_core::draw`);
//!   the `j`-th join here is entry `j` of this shard;
//! - deletes all of that once the sale has been over for `CLEANUP_AFTER_SECS` and no hold is
//!   left to release (`objects/janitor.rs`), keeping only its count of positions handed out
//!   (so positions stay unique if the operator restocks) and its part of the draw (the public
//!   record anyone may check).
//!
//! The worker talks to it with small JSON messages (see [`ShardRequest`]), through [`call`].
//! This file holds the messages and the client; `object.rs` the object, its storage and its
//! release schedule.

use herdgate_core::wire::HoldState;
use herdgate_core::SaleId;
use serde::{Deserialize, Serialize};
use worker::Env;

use crate::config::Config;
use crate::http::{internal, Refusal};
use crate::objects::{call_object, shard_of_hex};

// `#[durable_object]` generates public bindings without doc comments.
#[allow(missing_docs)]
mod object;

pub use object::QueueShard;

/// What the worker asks a shard.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ShardRequest {
    /// Spend `challenge` (expiring at `expires_at`, unix s) and take the next position.
    Join {
        /// The sale (its objects clean up once it is over, see `objects/janitor.rs`).
        #[serde(default)]
        sale: String,
        /// The challenge id.
        challenge: String,
        /// When the challenge expires; the record of it may be dropped after.
        expires_at: u64,
        /// This shard's index.
        shard: u32,
        /// Shards of the sale.
        shards: u32,
        /// The sale's pre-queue, if it has one: the join is an entry of the draw if it comes
        /// before the close and the shard is not sealed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        draw: Option<DrawJoin>,
    },
    /// Seal this shard's pre-queue (if it is not yet) and tell its tally.
    Seal {
        /// The sale.
        sale: String,
        /// This shard's index.
        shard: u32,
    },
    /// Up to `limit` entries of the pre-queue from index `from`, in arrival order.
    Entries {
        /// The first entry's index at this shard.
        from: u64,
        /// The most to return.
        limit: u32,
    },
    /// The position `challenge` took, if it joined here before.
    Place {
        /// The challenge id.
        challenge: String,
    },
    /// Claim pass `pass` for a purchase.
    Claim {
        /// The pass id.
        pass: String,
        /// The pass's position: its card hold is not released while the claim stands.
        #[serde(default)]
        position: Option<u64>,
        /// Orders of the sale the audit has cancelled, as the worker last saw: a stored order
        /// older than a cancellation is asked for again.
        #[serde(default)]
        cancelled: u64,
    },
    /// The final answer stored for pass `pass`, if any (nothing is claimed).
    Answer {
        /// The pass id.
        pass: String,
        /// As in [`ShardRequest::Claim`].
        #[serde(default)]
        cancelled: u64,
    },
    /// Store the origin's final answer to pass `pass`'s purchase.
    Complete {
        /// The pass id.
        pass: String,
        /// The origin's status.
        status: u16,
        /// The origin's body.
        body: String,
        /// The pass's position: a 2xx marks its card hold charged.
        #[serde(default)]
        position: Option<u64>,
        /// Orders of the sale the audit had cancelled when the answer was given.
        #[serde(default)]
        cancelled: u64,
    },
    /// Register the card hold of `position` (replacing an earlier one, which is released).
    Hold {
        /// The sale (the shard asks the origin whether it sold out).
        sale: String,
        /// The queue position.
        position: u64,
        /// The hold.
        record: HoldRecord,
    },
    /// Where the card hold of `position` stands.
    HoldState {
        /// The queue position.
        position: u64,
    },
    /// Give up a claim (the origin's answer was not final, or did not come): the pass may try
    /// again.
    Release {
        /// The pass id.
        pass: String,
        /// The purchase reached the origin and its answer was lost (no answer in time, or a
        /// 5xx): the origin may have taken it. The ledger remembers that, so that a retry
        /// after a sell-out is asked of the origin instead of being told `sold_out`.
        #[serde(default)]
        unsettled: bool,
    },
    /// How much the shard stores.
    Census,
    /// How many have joined at this shard (the positions it handed out): the sale's control
    /// counts the positions nobody holds (`herdgate_core::gate::odds::cap_position`).
    Joins,
    /// Count one card attempt of `position` if its limit and the shard's share of the
    /// sale's hold budget allow it.
    HoldAttempt {
        /// The queue position.
        position: u64,
        /// Attempts allowed per position (0 = no limit).
        per_ticket: u32,
        /// New holds per second this shard may start.
        per_second: f64,
    },
    /// Give back a card attempt of `position` that a later limit refused (the device's or
    /// the network's): its count and its token of the hold budget.
    HoldAttemptBack {
        /// The queue position.
        position: u64,
        /// As in [`ShardRequest::HoldAttempt`].
        per_second: f64,
    },
}

/// What a join of a sale with a pre-queue tells its shard.
#[derive(Debug, Serialize, Deserialize)]
pub struct DrawJoin {
    /// When the draw closes, unix ms.
    pub closes_at_ms: u64,
    /// The entry's public digest ([`herdgate_core::draw::entry_digest`]).
    pub digest: String,
}

/// A shard's answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ShardResponse {
    /// The position taken.
    Joined {
        /// The queue position.
        position: u64,
        /// The challenge had joined before: this is the position it took then.
        #[serde(default)]
        again: bool,
    },
    /// The challenge was spent before (by a record that does not say where).
    ChallengeSpent,
    /// The challenge has not joined here.
    NotJoined,
    /// The claim is ours: forward the purchase.
    Claimed,
    /// Another purchase with this pass is under way.
    InFlight,
    /// No final answer is stored, but a purchase with this pass reached the origin and its
    /// answer is not known here (lost in a fault, or an order to ask for again after a
    /// cancellation): only the origin can say.
    Unsettled,
    /// The purchase was made before; here is the origin's answer.
    Done {
        /// The origin's status.
        status: u16,
        /// The origin's body.
        body: String,
    },
    /// The card hold of a position, if it has one.
    HoldState {
        /// The hold.
        record: Option<HoldRecord>,
    },
    /// How much the shard stores.
    Census(crate::objects::janitor::Census),
    /// How many have joined at this shard.
    Joins {
        /// The joins (this shard's positions handed out).
        joined: u64,
    },
    /// The card attempt is counted: go on to the processor.
    Allowed,
    /// The position has used its card attempts.
    Limited,
    /// The shard's share of the hold budget is spent for now: nothing was counted.
    Busy,
    /// The shard's pre-queue, sealed.
    Sealed(herdgate_core::draw::ShardTally),
    /// Entries of the pre-queue, in arrival order (without places).
    Entries {
        /// The entries.
        entries: Vec<herdgate_core::draw::Entry>,
    },
    /// Done.
    Ok,
}

/// A card hold, as its shard keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HoldRecord {
    /// The PaymentIntent id.
    pub intent: String,
    /// The visitor.
    pub visitor: String,
    /// The amount held, minor units.
    pub amount: u64,
    /// ISO 4217, lower case.
    pub currency: String,
    /// When it was authorised, unix ms.
    pub authorised_ms: u64,
    /// When it is released at the latest if it does not buy, unix ms.
    pub release_by_ms: u64,
    /// Where it stands.
    pub state: HoldState,
    /// A purchase with its pass is under way until then, unix ms: not released before.
    #[serde(default)]
    pub claimed_until_ms: u64,
    /// Its entry in the release schedule (empty once it is charged or released).
    #[serde(default)]
    pub due_key: String,
}

/// Sends `request` to shard `shard` of `sale`.
pub(crate) async fn call(
    env: &Env,
    sale: &SaleId,
    shard: u32,
    request: &ShardRequest,
) -> Result<ShardResponse, Refusal> {
    call_object(env, "QUEUE_SHARDS", &format!("{sale}:{shard}"), request).await
}

/// The queue shard a challenge (or no-JavaScript lane token) is spent at: the one its id
/// hashes to, so it joins at most once.
pub(crate) fn shard_of_challenge(cfg: &Config, id: &str) -> u32 {
    shard_of_hex(id, cfg.shards)
}

/// The queue shard that issued `position` (and keeps its pass ledger and card hold).
pub(crate) fn shard_of_position(cfg: &Config, position: u64) -> Result<u32, Refusal> {
    u32::try_from(position % u64::from(cfg.shards.max(1))).map_err(internal)
}
