//! The edge's decisions: what the waiting room answers at each step of the buyer's path, as
//! pure functions of what the edge has read (the ticket, the sale's state and admission
//! control, the request's body) and `now`.
//!
//! The edge worker keeps the I/O around them (cookies, Durable Objects, the origin, signing,
//! the clock) and calls these to decide, so the decisions are tested here, natively, rather
//! than only through workerd. One file per step, named after the edge's handler that calls it:
//!
//! | step | file | decides |
//! |---|---|---|
//! | 4–5. wait, admitted | [`status`] | where a position stands and how soon to poll again ([`status::standing`]) |

pub mod status;
