//! The edge's decisions: what the waiting room answers at each step of the buyer's path, as
//! pure functions of what the edge has read (the ticket, the sale's state and admission
//! control, the request's body) and `now`.
//!
//! The edge worker keeps the I/O around them (cookies, Durable Objects, the origin, signing,
//! the clock) and calls these to decide, so the decisions are tested here, natively, rather
//! than only through workerd. One file per step of the buyer's path, numbered as in the edge's
//! `lib.rs`:
//!
//! | step | file | decides | called from the edge's |
//! |---|---|---|---|
//! | 2. prove work | [`challenge`] | which device signals a challenge request may carry | `api/challenge.rs` |
//! | 3. join | [`join`] | the visitor a challenge becomes (the same on a join sent again) | `api/join.rs` |
//! | 4. wait | [`status`] | where a position stands and how soon to poll again | `api/status.rs` |
//! | 5. admitted | [`pass`] | the pass an admitted ticket gets, and its id | `tokens.rs` |
//! | 6. buy | [`purchase`] | the position a claim names, whether an answer sold the last item, the replay of a stored answer | `api/purchase.rs` |
//! | 4. wait | [`odds`] | the chance of stock at a waiter's turn; whether the passes out cover the stock (the frontier waits) | `api/status.rs`, `objects/sale_control.rs` |
//! | no-JavaScript lane | [`lane`] | when a lane token becomes valid | `pages/lane.rs` |
//! | every browser write | [`csrf`] | whether a request came from another site; the lane forms' tokens | `routes.rs`, `pages/lane.rs` |

pub mod challenge;
pub mod csrf;
pub mod join;
pub mod lane;
pub mod odds;
pub mod pass;
pub mod purchase;
pub mod status;
