//! `SaleControl`: one Durable Object per sale holding its admission schedule at the edge.
//!
//! The origin holds the operator's settings (start time, rate, paused) and is their one source
//! of truth; this object holds the schedule that follows them: the frontier is continuous, so
//! every change of the settings re-bases it at the moment the object sees the change
//! ([`ControlState::follow`]). Every isolate passes its copy of the sale's state along when
//! its copy of the control is stale (see `cache.rs`), so the object sees about one request per
//! isolate per `STATE_CACHE_MS`, never one per waiter, and follows the newest settings any
//! isolate has seen; an older copy never undoes a newer one (settings carry a revision).
//!
//! For a sale with a pre-queue, the first request after the draw's close seals every queue
//! shard's pre-queue and keeps their tally in the control (`herdgate_core::draw::Tally`), so
//! every isolate learns it with the schedule: `K` object calls once per sale, none per poll.

use herdgate_core::draw::Tally;
use herdgate_core::wire::{AdmissionSettings, ControlState, SaleState};
use herdgate_core::SaleId;
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::cache;
use crate::config;
use crate::config::Config;
use crate::http::Refusal;
use crate::objects::call_object;
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};

/// What the worker asks the control object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ControlOp {
    /// Read the schedule, following `settings` first if they are newer than the ones it
    /// follows (or creating it from them if the sale has none yet).
    Get {
        /// The origin's settings, as the calling isolate last read them.
        settings: AdmissionSettings,
        /// The sale (to seal its pre-queue's shards at the draw's close).
        #[serde(default)]
        sale: String,
    },
}

/// Asks the sale's control object.
pub async fn call(
    env: &Env,
    sale: &SaleId,
    op: &ControlOp,
) -> std::result::Result<ControlState, Refusal> {
    call_object(env, "SALE_CONTROL", sale.as_str(), op).await
}

/// The sale's admission control, at most `STATE_CACHE_MS` old, and never older than the
/// settings in `state`: a copy that follows an older revision is refreshed at once.
pub async fn control(
    env: &Env,
    cfg: &Config,
    sale: &SaleId,
    state: &SaleState,
    now: u64,
) -> std::result::Result<ControlState, Refusal> {
    let settings = state.admission();
    let op = ControlOp::Get {
        settings,
        sale: sale.to_string(),
    };
    cache::control(
        sale,
        now,
        cfg.state_cache_ms,
        settings.revision,
        call(env, sale, &op),
    )
    .await
}

pub use object::SaleControl;

// `#[durable_object]` generates public bindings without doc comments.
#[allow(missing_docs)]
mod object {
    use super::*;

    /// A sale's control object.
    #[durable_object]
    pub struct SaleControl {
        state: State,
        env: Env,
    }

    impl DurableObject for SaleControl {
        fn new(state: State, env: Env) -> Self {
            SaleControl { state, env }
        }

        async fn fetch(&self, mut req: Request) -> Result<Response> {
            let ControlOp::Get { settings, sale } = req.json().await?;
            let storage = self.state.storage();
            let current = storage.get::<ControlState>("control").await?;
            let now = worker::Date::now().as_millis();
            let mut next = match &current {
                Some(c) => c.follow(&settings, now),
                None => ControlState::following(&settings),
            };
            if next.tally.is_none() && settings.draw_closes_at_ms.is_some_and(|c| now >= c) {
                if let Ok(sale) = SaleId::parse(&sale) {
                    next.tally = Some(self.seal(&sale).await?);
                }
            }
            if current.as_ref() != Some(&next) {
                storage.put("control", &next).await?;
            }
            Response::from_json(&next)
        }
    }

    impl SaleControl {
        /// Seals every queue shard's pre-queue and gathers the tally (once per sale; a
        /// shard sealed already answers the same tally again).
        async fn seal(&self, sale: &SaleId) -> Result<Tally> {
            let cfg = config::get(&self.env).map_err(worker::Error::RustError)?;
            let mut shards = Vec::with_capacity(cfg.shards as usize);
            for shard in 0..cfg.shards {
                let op = ShardRequest::Seal {
                    sale: sale.to_string(),
                    shard,
                };
                match queue_shard::call(&self.env, sale, shard, &op).await {
                    Ok(ShardResponse::Sealed(tally)) => shards.push(tally),
                    other => {
                        return Err(worker::Error::RustError(format!(
                            "sealing shard {shard}: {other:?}"
                        )))
                    }
                }
            }
            Ok(Tally { shards })
        }
    }
}
