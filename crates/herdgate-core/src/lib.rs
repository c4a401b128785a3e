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
//! - [`proof`]: proof of possession (DPoP, RFC 9449): the key a place in line is bound to,
//!   its thumbprint, and the short-lived proofs signed by it ([`proof::verify`],
//!   [`proof::ProofKey`]).
//! - [`admission`]: the admission frontier (how many queue positions are admitted at an instant).
//! - [`defence`]: bot-defence policy: adaptive proof-of-work difficulty, join limits, the
//!   post-purchase audit.
//! - [`gate`]: the edge's decisions, one file per step of the buyer's path: the device signals
//!   a challenge request may carry, where a queue position stands and how soon to poll, the
//!   pass an admitted ticket gets and its id, what a purchase's answer says, when a
//!   no-JavaScript lane token becomes valid, and which browser requests came from another
//!   site (with the lane forms' tokens against cross-site request forgery).
//! - [`region`]: regions: a visitor's home region, the geofence, and a sale's state merged
//!   over the regions that sell it.
//! - [`refusal`]: the refusal table: every [`ErrorCode`] with its HTTP status and sentence.
//! - [`wire`]: JSON types exchanged over HTTP, and the body a refusal is sent in.
//!
//! Known-answer vectors for tokens, proof-of-work and pass ids live in `vectors.json` next to
//! this crate's `Cargo.toml`; the tests of every implementation (this one, and the page's
//! JavaScript for proof-of-work) check against them.

pub mod admission;
pub mod defence;
pub mod draw;
pub mod gate;
pub mod ids;
pub mod pow;
pub mod proof;
pub mod refusal;
pub mod region;
pub mod seats;
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
