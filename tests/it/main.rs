//! One integration-test binary for every end-to-end concern.
//!
//! Each test starts its own redis-server on a free loopback port and its own origin on
//! 127.0.0.1:0, bounds its own time, and stops what it started.

#![allow(clippy::unwrap_used)]

mod edge_support;
mod independent;
mod support;

mod admin;
mod binding;
mod browser;
mod burst;
mod cluster;
mod console;
mod counters;
mod defences;
mod draw;
mod durability;
mod edge;
mod faults;
mod herd;
mod layout;
mod openapi;
mod overload;
mod payments;
mod purchase;
mod refusals;
mod regions;
mod seams;
mod seats;
mod sold_out;
mod stock_shards;
mod tls;
mod web;
mod wrangler;
