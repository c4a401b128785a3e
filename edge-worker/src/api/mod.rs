//! The JSON API of the buyer's path, one file per step, and the operator's route.
//!
//! | step | file | route |
//! |---|---|---|
//! | 2. prove work | `challenge.rs` | `POST /api/v1/sales/{sale}/challenge` |
//! | 3. join | `join.rs` | `POST /api/v1/sales/{sale}/join` |
//! | 4–5. wait, admitted | `status.rs` | `GET /api/v1/sales/{sale}/status` |
//! | card hold while waiting | `hold.rs` | `POST`, `GET /api/v1/sales/{sale}/hold` |
//! | 6. buy | `purchase.rs` | `POST /api/v1/sales/{sale}/purchase` |
//! | the sale as this edge sees it | `sale.rs` | `GET /api/v1/sales/{sale}` |
//! | operator | `admin.rs` | `GET`, `POST /admin/v1/sales/{sale}/control` |
//!
//! The steps the pages take too ([`join::enqueue`], [`status::queue_status`],
//! [`hold::hold_for`], [`purchase::settle`]) are `pub(crate)` so `pages/` renders them without
//! doing them again; nothing here uses `pages/`.

use worker::Response;

use crate::http::Refusal;

pub mod admin;
pub mod challenge;
pub mod hold;
pub mod join;
pub mod purchase;
pub mod sale;
pub mod status;

/// A handler's answer.
pub(crate) type Outcome = Result<Response, Refusal>;

/// A request body, read by `routes::handle` before routing.
pub(crate) type Body = Result<Vec<u8>, Refusal>;
