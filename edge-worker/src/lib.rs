//! herdgate's edge: a Cloudflare Worker that absorbs the crowd of a flash sale so the origin
//! sees only admitted buyers.
//!
//! The buyer's path: fetch a proof-of-work challenge bound to the client, solve it, join the
//! queue (one of K [`objects::queue_shard::QueueShard`] Durable Objects hands out the position), poll the
//! status (answered from the signed queue ticket and the isolate's cached sale state and
//! admission control: no Durable Object on the hot path), receive a short-lived admission pass
//! when the admission frontier passes the position, and buy. A purchase reaches the origin only
//! with a valid pass for that sale, bound to the client, not replayed, while the sale is not
//! sold out.
//!
//! # Layout
//!
//! - [`routes`]: routing, and the pages' handlers.
//! - [`api`]: the JSON API, one file per step of the buyer's path (card holds in `api/hold.rs`),
//!   and the admin route.
//! - [`objects`]: the Durable Objects beside their clients: `QueueShard` (positions, spent
//!   challenges, pass ledger, card holds), `JoinLimiter` (joins per device and per network,
//!   failed proofs), `SaleControl` (pause, resume, admission rate).
//! - [`tokens`]: challenges, lane tokens, tickets and passes: verified, issued, and their
//!   cookies.
//! - [`payments`]: the worker's transport for the payments API (herdgate-pay).
//! - [`origin`]: the origin client (sale state, purchases, gated pages).
//! - [`cache`]: what an isolate remembers for about a second.
//! - [`config`]: `vars` and secrets, read once per isolate.
//! - [`http`]: typed refusals, cookies, client binding.
//! - [`page`]: the waiting-room page and the no-JavaScript lane.
//! - [`i18n`]: the pages' sentences, per language.
//!
//! The token formats, the proof-of-work and the admission math are in `herdgate-core`, shared
//! with the origin.

pub mod api;
pub mod cache;
pub mod config;
pub mod http;
pub mod objects;
pub mod origin;
pub mod pages;
pub mod payments;
pub mod routes;
pub mod tokens;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    routes::handle(req, env).await
}
