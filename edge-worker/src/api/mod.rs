//! The JSON API of the buyer's path, one file per step, and the operator's route.
//!
//! | step | file | route |
//! |---|---|---|
//! | 2. prove work | `challenge.rs` | `POST /api/v1/sales/{sale}/challenge` |
//! | 3. join | `join.rs` | `POST /api/v1/sales/{sale}/join` |
//! | 4–5. wait, admitted | `status.rs` | `GET /api/v1/sales/{sale}/status` |
//! | card hold while waiting | `hold.rs` | `POST`, `GET /api/v1/sales/{sale}/hold` |
//! | 6. buy | `purchase.rs` | `POST /api/v1/sales/{sale}/purchase` |
//! | 6. choose and buy seats (seated sales) | `seats.rs` | `GET /api/v1/sales/{sale}/seats`, `POST /api/v1/sales/{sale}/seat-holds`, `…/seat-holds/{hold}/confirm`, `DELETE …/seat-holds/{hold}` |
//! | the sale as this edge sees it | `sale.rs` | `GET /api/v1/sales/{sale}` |
//! | the draw, published | `draw.rs` | `GET /api/v1/sales/{sale}/draw`, `…/draw/entries` |
//! | operator | `admin.rs` | `GET`, `POST /admin/v1/sales/{sale}/control` |
//!
//! The steps the pages take too ([`join::enqueue`], [`status::queue_status`],
//! [`hold::hold_for`], [`purchase::settle`]) are `pub(crate)` so `pages/` renders them without
//! doing them again; nothing here uses `pages/`.

use std::rc::Rc;

use worker::{Env, Request, Response};

use crate::config::Config;
use crate::http::Refusal;

pub mod admin;
pub mod challenge;
pub mod draw;
pub mod hold;
pub mod join;
pub mod purchase;
pub mod sale;
pub mod seats;
pub mod status;

/// A handler's answer.
pub(crate) type Outcome = Result<Response, Refusal>;

/// An answer of the origin (`status`, JSON `body`) passed on as it is: never cached, and a
/// 503 with `Retry-After`.
pub(crate) fn origin_response(status: u16, body: String) -> Outcome {
    let mut resp = Response::ok(body)
        .map_err(crate::http::internal)?
        .with_status(status);
    let h = resp.headers_mut();
    h.set("content-type", "application/json")
        .map_err(crate::http::internal)?;
    h.set("cache-control", "no-store")
        .map_err(crate::http::internal)?;
    if status == 503 {
        h.set("retry-after", "1").map_err(crate::http::internal)?;
    }
    Ok(resp)
}

/// One request as every handler sees it, built once by `routes::handle`.
pub(crate) struct Ctx {
    /// The request.
    pub(crate) req: Request,
    /// The worker's bindings: the Durable Objects.
    pub(crate) env: Env,
    /// The isolate's configuration.
    pub(crate) cfg: Rc<Config>,
    body: Result<Vec<u8>, Refusal>,
}

impl Ctx {
    /// A request with its `body`, read before routing (see `routes::handle`).
    pub(crate) fn new(
        req: Request,
        body: Result<Vec<u8>, Refusal>,
        env: Env,
        cfg: Rc<Config>,
    ) -> Self {
        Ctx {
            req,
            env,
            cfg,
            body,
        }
    }

    /// The request's body, or why it could not be read (too large, unreadable): a handler
    /// that reads a body refuses with that, one that does not never sees it.
    pub(crate) fn body(&self) -> Result<&[u8], Refusal> {
        self.body.as_deref().map_err(|r| *r)
    }
}
