//! `herd`: the crowd of a flash sale, simulated against a real herdgate deployment.
//!
//! N buyers arrive (all within a second, over a ramp, or before the sale starts); each honest
//! buyer fetches a challenge, solves the proof-of-work natively, joins, polls as the edge tells
//! it, and buys when admitted. Bots run beside them with the strategies of [`bots::Strategy`].
//! Every request is timed; at the end the [`report::Report`] says what sold, whether anything
//! was oversold or bought twice, how many requests reached the edge and the origin, the
//! configured and observed admission rates, latency per endpoint, what the bots got, and when
//! the sale sold out, as JSON and as SVG plots.
//!
//! # Layout
//!
//! - [`plan`]: what to simulate ([`plan::HerdConfig`], [`plan::Arrival`]).
//! - [`client`]: the HTTP side of one simulated client, with timing of every request.
//! - [`buyer`]: an honest buyer's journey.
//! - [`bots`]: the bot strategies.
//! - [`run`]: runs the crowd, shows progress, samples stock, gathers the outcome.
//! - [`report`]: figures from the outcome; [`svg`]: the plots.
//! - [`faults`]: one fault of the local stack in the middle of a crowd, and the promises
//!   checked afterwards from the system's own records.
//! - [`regions`]: one sale sold in several regions on this machine (`herd local --regions`),
//!   and the regions' books afterwards.

pub mod bots;
pub mod buyer;
pub mod client;
pub mod faults;
pub mod plan;
pub mod regions;
pub mod report;
pub mod run;
pub mod seats;
pub mod svg;
