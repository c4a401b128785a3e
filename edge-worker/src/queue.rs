//! `QueueShard`: one of K Durable Objects per sale that hand out queue positions and remember
//! what must happen only once.
//!
//! Shard `k` of `K` hands out positions `k, k+K, k+2K, …`, so joins spread over K objects and
//! no single object is the bottleneck, and every position is unique. The same shard:
//!
//! - records each challenge id it admitted, so a challenge joins at most once (a challenge is
//!   always sent to the shard its id hashes to);
//! - keeps the **pass ledger** of the positions it issued: a pass (of position `p`, at shard
//!   `p mod K`) is claimed before its purchase is forwarded to the origin, and the origin's
//!   answer is stored, so a replayed pass gets the stored answer without reaching the origin
//!   and two concurrent uses cannot both go through.
//!
//! The worker talks to it with small JSON messages (see [`ShardRequest`]).

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// A claim older than this is taken as abandoned (the worker that made it died).
const CLAIM_TIMEOUT_MS: u64 = 30_000;

/// What the worker asks a shard.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ShardRequest {
    /// Spend `challenge` (expiring at `expires_at`, unix s) and take the next position.
    Join {
        /// The challenge id.
        challenge: String,
        /// When the challenge expires; the record of it may be dropped after.
        expires_at: u64,
        /// This shard's index.
        shard: u32,
        /// Shards of the sale.
        shards: u32,
    },
    /// Claim pass `pass` for a purchase.
    Claim {
        /// The pass id.
        pass: String,
    },
    /// Store the origin's answer to pass `pass`'s purchase.
    Complete {
        /// The pass id.
        pass: String,
        /// The origin's status.
        status: u16,
        /// The origin's body.
        body: String,
    },
    /// Remember that pass `pass` was offered from a client it was not issued to.
    Taint {
        /// The pass id.
        pass: String,
    },
    /// Give up a claim (the origin did not answer): the pass may try again.
    Release {
        /// The pass id.
        pass: String,
    },
}

/// A shard's answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ShardResponse {
    /// The position taken.
    Joined {
        /// The queue position.
        position: u64,
    },
    /// The challenge was spent before.
    ChallengeSpent,
    /// The claim is ours: forward the purchase. `shared`: the pass was offered from another
    /// client before.
    Claimed {
        /// See [`ShardRequest::Taint`].
        shared: bool,
    },
    /// Another purchase with this pass is under way.
    InFlight,
    /// The purchase was made before; here is the origin's answer.
    Done {
        /// The origin's status.
        status: u16,
        /// The origin's body.
        body: String,
    },
    /// Done.
    Ok,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum LedgerEntry {
    InFlight { since_ms: u64 },
    Done { status: u16, body: String },
}

pub use object::QueueShard;

// `#[durable_object]` generates public bindings without doc comments.
#[allow(missing_docs)]
mod object {
    use super::*;

    /// A queue shard.
    #[durable_object]
    pub struct QueueShard {
        state: State,
        /// How many positions this shard has handed out (cached from storage).
        joined: Cell<Option<u64>>,
    }

    impl DurableObject for QueueShard {
        fn new(state: State, _env: Env) -> Self {
            QueueShard {
                state,
                joined: Cell::new(None),
            }
        }

        async fn fetch(&self, mut req: Request) -> Result<Response> {
            let request: ShardRequest = req.json().await?;
            let response = match request {
                ShardRequest::Join {
                    challenge,
                    expires_at,
                    shard,
                    shards,
                } => self.join(&challenge, expires_at, shard, shards).await?,
                ShardRequest::Claim { pass } => self.claim(&pass).await?,
                ShardRequest::Complete { pass, status, body } => {
                    self.state
                        .storage()
                        .put(&format!("p:{pass}"), LedgerEntry::Done { status, body })
                        .await?;
                    ShardResponse::Ok
                }
                ShardRequest::Taint { pass } => {
                    self.state.storage().put(&format!("t:{pass}"), true).await?;
                    ShardResponse::Ok
                }
                ShardRequest::Release { pass } => {
                    self.state.storage().delete(&format!("p:{pass}")).await?;
                    ShardResponse::Ok
                }
            };
            Response::from_json(&response)
        }
    }

    impl QueueShard {
        async fn join(
            &self,
            challenge: &str,
            expires_at: u64,
            shard: u32,
            shards: u32,
        ) -> Result<ShardResponse> {
            let storage = self.state.storage();
            let key = format!("c:{challenge}");
            // Storage calls hold the object's input gate: no other request interleaves between
            // this read and the writes below, so a challenge cannot be spent twice.
            if storage.get::<u64>(&key).await?.is_some() {
                return Ok(ShardResponse::ChallengeSpent);
            }
            let joined = match self.joined.get() {
                Some(n) => n,
                None => storage.get::<u64>("joined").await?.unwrap_or(0),
            };
            storage.put(&key, expires_at).await?;
            storage.put("joined", joined + 1).await?;
            self.joined.set(Some(joined + 1));
            let position = u64::from(shard) + joined * u64::from(shards.max(1));
            Ok(ShardResponse::Joined { position })
        }

        async fn claim(&self, pass: &str) -> Result<ShardResponse> {
            let storage = self.state.storage();
            let key = format!("p:{pass}");
            let now = worker::Date::now().as_millis();
            match storage.get::<LedgerEntry>(&key).await? {
                Some(LedgerEntry::Done { status, body }) => {
                    Ok(ShardResponse::Done { status, body })
                }
                Some(LedgerEntry::InFlight { since_ms }) if now < since_ms + CLAIM_TIMEOUT_MS => {
                    Ok(ShardResponse::InFlight)
                }
                _ => {
                    storage
                        .put(&key, LedgerEntry::InFlight { since_ms: now })
                        .await?;
                    let shared = storage
                        .get::<bool>(&format!("t:{pass}"))
                        .await?
                        .unwrap_or(false);
                    Ok(ShardResponse::Claimed { shared })
                }
            }
        }
    }
}
