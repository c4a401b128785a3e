//! The pure core of herdgate, shared by the edge worker (wasm32) and the origin (native).
//!
//! Nothing in this crate performs I/O, reads a clock or draws randomness: callers pass `now`
//! (unix seconds or milliseconds, as each function says) and random bytes in. That keeps every
//! function deterministic, testable against known-answer vectors, and safe to run inside a
//! Cloudflare Worker isolate.
//!
//! # Layout
//!
//! - [`ids`]: validated identifiers ([`SaleId`], [`VisitorId`]) that are safe to embed in
//!   Redis keys and tokens.
//! - [`token`]: signed, versioned, key-rotating tokens: the proof-of-work challenge, the
//!   queue ticket and the admission pass ([`Keyring`], [`Claims`], [`TokenError`]).
//! - [`pow`]: the proof-of-work puzzle (solve and verify).
//! - [`admission`]: the admission frontier (how many queue positions are admitted at an instant).
//! - [`defence`]: bot-defence policy: adaptive proof-of-work difficulty, join limits, the
//!   post-purchase audit.
//! - [`gate`]: the edge's decisions at each step of the buyer's path (where a ticket
//!   stands, the pass it gets, ...), pure so they are tested natively.
//! - [`refusal`]: the refusal table: every [`ErrorCode`] with its HTTP status and sentence.
//! - [`wire`]: JSON types exchanged over HTTP, and the body a refusal is sent in.
//!
//! Known-answer vectors for tokens and proof-of-work live in `vectors.json` next to this
//! crate's `Cargo.toml`; the tests of every implementation (this one, and the page's
//! JavaScript) check against them.

pub mod admission;
pub mod defence;
pub mod gate;
pub mod ids;
pub mod pow;
pub mod refusal;
pub mod token;
pub mod wire;

pub use admission::Schedule;
pub use ids::{IdError, SaleId, VisitorId};
pub use refusal::ErrorCode;
pub use token::{read_unverified, CLOCK_LEEWAY_SECS};
pub use token::{
    ChallengeClaims, Check, Claims, Keyring, KeyringError, PassClaims, Secret, TicketClaims,
    TokenError, TokenKind,
};
