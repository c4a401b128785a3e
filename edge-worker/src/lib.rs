//! herdgate's edge: a Cloudflare Worker that absorbs the crowd of a flash sale so the origin
//! sees only admitted buyers.
//!
//! The buyer's path: fetch a proof-of-work challenge bound to the client, solve it, join the queue
//! (one of K [`objects::queue_shard::QueueShard`] Durable Objects hands out the position), poll the
//! status (answered from the signed queue ticket and the isolate's cached sale state and admission
//! control: no Durable Object on the hot path), receive a short-lived admission pass when the
//! admission frontier passes the position, and buy. A purchase reaches the origin only with a valid
//! pass for that sale, bound to the client, not replayed, while the sale is not sold out.
//!
//! # Layout
//!
//! [`routes`] is the routing table: it reads the request's body once, builds the per-request
//! context (`api::Ctx`: request, body, bindings, configuration) and dispatches on method and
//! path. The buyer's path, file by file, top to bottom:
//!
//! 1. **Arrive.** `pages/room.rs`: the waiting room for `/sales/{sale}`, as a page or JSON;
//!    with a valid pass the page comes from the origin instead (`origin.rs`).
//! 2. **Prove work.** `api/challenge.rs` signs a challenge; its difficulty comes from the
//!    device's history at its `JoinLimiter` (`objects/join_limiter.rs`).
//! 3. **Join.** `api/join.rs`: `tokens.rs` checks the solved challenge, the join limits are
//!    counted, a `QueueShard` (`objects/queue_shard/`) spends the challenge and hands out the
//!    position, and the queue ticket is signed.
//! 4. **Wait.** `api/status.rs` answers from the ticket, the sale's state (`origin.rs`) and its
//!    admission control (`objects/sale_control.rs`), both copies kept by `cache.rs`. A card hold
//!    taken while waiting goes through `api/hold.rs` and `payments.rs`; the ticket's queue shard
//!    releases it if it does not buy (`objects/queue_shard/object.rs`).
//! 5. **Admitted.** `api/status.rs` issues the pass (`tokens.rs`).
//! 6. **Buy.** `api/purchase.rs`: `tokens.rs` checks the pass, its queue shard claims it,
//!    `origin.rs` forwards the purchase.
//! 7. **Sold out.** `cache.rs` remembers it for the isolate; status polls answer it from there.
//!
//! Along the way `counters.rs` counts, per sale, what the edge answered (requests by route,
//! refusals by code, joins, passes, purchases forwarded, card holds); the counts travel with
//! the control call an isolate makes anyway, and `api/admin.rs` reads the totals.
//!
//! The no-JavaScript lane (`pages/lane.rs`) takes the same steps through the same `api/`
//! functions and renders them with `pages/render/` in the language `pages/i18n.rs` picks.
//! `api/sale.rs` is the sale's public state, `api/admin.rs` the operator's control route.
//!
//! Against other sites: `routes.rs` refuses a browser's `POST` that came from elsewhere (and,
//! where a cookie may authenticate it, one whose body is not declared JSON) before any handler
//! runs; the lane's forms carry a token bound to the visitor (`pages/lane.rs`); the cookies are
//! `__Host-` cookies (`http.rs`); every page carries its Content-Security-Policy
//! (`pages/render/mod.rs`).
//!
//! The modules form layers; a module names (with a `crate::` path) only modules of the layers
//! below its own, so there is no circle:
//!
//! | layer | modules | names |
//! |---|---|---|
//! | 1 | [`routes`] | pages, api, cache, counters, http, config |
//! | 2 | [`pages`] | api, tokens, origin, http, config |
//! | 3 | [`api`] | objects, tokens, origin, payments, cache, counters, http, config |
//! | 4 | [`objects`] | origin, payments, cache, counters, http, config |
//! | 5 | [`tokens`], [`origin`], [`payments`] | cache (origin only), webcrypto (tokens only), http, config |
//! | 6 | [`cache`] | http |
//! | 7 | [`http`], [`config`], [`webcrypto`], [`counters`] | nothing of this crate |
//!
//! Inside a layer: `api/join.rs` and `api/hold.rs` use `api/status.rs`, which uses no other
//! handler; `pages/render/` uses only `pages/i18n.rs`; the queue shard's object uses its own
//! messages in `objects/queue_shard/mod.rs`. `cache.rs` takes the refresh of each copy as an
//! argument, so it names neither the origin client nor the `SaleControl` client. `fetch_within`
//! is in `http.rs` because the origin client and the payments transport both use it.
//!
//! To check, run from `edge-worker/src`; every line must print nothing:
//!
//! ```sh
//! L7="http.rs config.rs webcrypto.rs counters.rs"; L6="cache.rs $L7"; L5="tokens.rs origin.rs payments.rs $L6"
//! L4="objects $L5"; L3="api $L4"; L2="pages $L3"
//! grep -rn 'crate::routes' $L2
//! grep -rn 'crate::pages' $L3
//! grep -rn 'crate::api' $L4
//! grep -rn 'crate::objects' $L5
//! grep -rnE 'crate::(tokens|origin|payments)' $L6
//! grep -nE 'crate::(tokens|origin|payments)' tokens.rs origin.rs payments.rs
//! grep -rn 'crate::' $L7
//! grep -rnE 'crate::api::(challenge|join|hold|purchase|sale|admin)' api
//! grep -rnE 'crate::pages::(room|lane|html|language|lane_url|wants_html)' pages/render
//! ```
//!
//! The token formats, the proof-of-work and the admission math are in `herdgate-core`, shared
//! with the origin. The edge's own pure decisions are there too, one file per step in
//! `herdgate_core::gate`, so they are tested natively and not only through workerd: where a
//! position stands and how soon to poll (for `api/status.rs`), the pass an admitted ticket gets
//! and its id (`tokens.rs`), the device signals a challenge request may carry
//! (`api/challenge.rs`), what a purchase's answer says and how it is replayed
//! (`api/purchase.rs`), and when a lane token becomes valid (`pages/lane.rs`). The files here
//! do the reading, the signing and the answering around them.

pub mod api;
pub mod cache;
pub mod config;
pub mod counters;
pub mod http;
pub mod objects;
pub mod origin;
pub mod pages;
pub mod payments;
pub mod routes;
pub mod tokens;
pub mod webcrypto;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    routes::handle(req, env).await
}
