//! `SaleControl`: one Durable Object per sale holding its admission schedule at the edge.
//!
//! The origin holds the operator's settings (start time, rate, paused) and is their one source
//! of truth; this object holds the schedule that follows them: the frontier is continuous, so
//! every change of the settings re-bases it at the moment the object sees the change
//! ([`ControlState::follow`]). Every isolate passes its copy of the sale's state along when
//! its copy of the control is stale (see `cache.rs`), so the object sees about one request per
//! isolate per `STATE_CACHE_MS`, never one per waiter, and follows the newest settings any
//! isolate has seen; an older copy never undoes a newer one (settings carry a revision).

use herdgate_core::wire::{AdmissionSettings, ControlState, SaleState};
use herdgate_core::SaleId;
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::cache;
use crate::config::Config;
use crate::http::Refusal;
use crate::objects::call_object;

/// What the worker asks the control object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ControlOp {
    /// Read the schedule, following `settings` first if they are newer than the ones it
    /// follows (or creating it from them if the sale has none yet).
    Get {
        /// The origin's settings, as the calling isolate last read them.
        settings: AdmissionSettings,
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
    let op = ControlOp::Get { settings };
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
    }

    impl DurableObject for SaleControl {
        fn new(state: State, _env: Env) -> Self {
            SaleControl { state }
        }

        async fn fetch(&self, mut req: Request) -> Result<Response> {
            let ControlOp::Get { settings } = req.json().await?;
            let storage = self.state.storage();
            let current = storage.get::<ControlState>("control").await?;
            let next = match &current {
                Some(c) => c.follow(&settings, worker::Date::now().as_millis()),
                None => ControlState::following(&settings),
            };
            if current.as_ref() != Some(&next) {
                storage.put("control", &next).await?;
            }
            Response::from_json(&next)
        }
    }
}
