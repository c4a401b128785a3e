//! `SaleControl`: one Durable Object per sale holding its admission schedule at the edge.
//!
//! Operators pause, resume and change the admission rate live through the admin route; every
//! isolate caches the state for about a second (see `cache.rs`), so the object sees about one
//! read per isolate per second, never one per waiter. On first use the schedule is initialised
//! from the origin's sale (start time and admission rate), which the worker passes along.

use herdgate_core::wire::{ControlRequest, ControlState, SaleState};
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
    /// Read the state, creating it from these defaults if the sale has none yet.
    Get {
        /// The origin's start time, unix ms.
        starts_at_ms: u64,
        /// The origin's admission rate.
        rate: u32,
    },
    /// Apply an operator's change (creating the state from the defaults first if needed).
    Apply {
        /// The origin's start time, unix ms.
        starts_at_ms: u64,
        /// The origin's admission rate.
        rate: u32,
        /// The change.
        request: ControlRequest,
    },
}

/// Asks the sale's control object, creating its state from the origin's settings if needed.
pub async fn call(
    env: &Env,
    sale: &SaleId,
    op: &ControlOp,
) -> std::result::Result<ControlState, Refusal> {
    call_object(env, "SALE_CONTROL", sale.as_str(), op).await
}

/// The sale's admission control, at most `STATE_CACHE_MS` old.
pub async fn control(
    env: &Env,
    cfg: &Config,
    sale: &SaleId,
    state: &SaleState,
    now: u64,
) -> std::result::Result<ControlState, Refusal> {
    let op = ControlOp::Get {
        starts_at_ms: state.starts_at_ms,
        rate: state.admission_rate,
    };
    cache::control(sale, now, cfg.state_cache_ms, call(env, sale, &op)).await
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
            let op: ControlOp = req.json().await?;
            let storage = self.state.storage();
            let (starts_at_ms, rate) = match &op {
                ControlOp::Get { starts_at_ms, rate }
                | ControlOp::Apply {
                    starts_at_ms, rate, ..
                } => (*starts_at_ms, *rate),
            };
            let current = match storage.get::<ControlState>("control").await? {
                Some(c) => c,
                None => {
                    let c = ControlState::starting(starts_at_ms, rate.max(1));
                    storage.put("control", &c).await?;
                    c
                }
            };
            let next = match op {
                ControlOp::Get { .. } => current,
                ControlOp::Apply { request, .. } => {
                    let next = current.apply(&request, worker::Date::now().as_millis());
                    storage.put("control", &next).await?;
                    next
                }
            };
            Response::from_json(&next)
        }
    }
}
