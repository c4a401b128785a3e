//! The sweeper of seated sales: once a second, every seated sale's holds whose time ran out
//! are released (`lua/seats.lua`'s `sweep`), so their seats go back on sale with nobody
//! asking: no buyer, page or cron job. Every call of the script sweeps too, so correctness
//! never waits for this loop; it only keeps a quiet sale's seats from staying held past their
//! time on the map a buyer reads.

use std::sync::Arc;
use std::time::Duration;

use herdgate_core::SaleId;

use crate::clock;
use crate::store::seats::SeatsReply;
use crate::store::Store;

/// The most holds one sweep releases (`lua/seats.lua`'s `sweep`).
pub const SWEEP_BATCH: u64 = 1_000;

/// How often expired holds are released.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// How often the sweeper lists the sales again to find seated ones.
pub const RESCAN_EVERY: Duration = Duration::from_secs(10);

/// The most sales the sweeper looks at.
pub const MAX_SALES: usize = 1_000;

/// Sweeps every seated sale every [`SWEEP_EVERY`], for ever (the caller aborts the task);
/// `changed` (a map loaded here) makes it list the seated sales again at once.
pub async fn sweep(store: Arc<Store>, changed: Arc<tokio::sync::Notify>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seated: Vec<SaleId> = Vec::new();
    let mut listed: Option<tokio::time::Instant> = None;
    loop {
        let now_changed = tokio::select! {
            _ = tick.tick() => false,
            () = changed.notified() => true,
        };
        if now_changed || listed.is_none_or(|t| t.elapsed() >= RESCAN_EVERY) {
            match store.seated_sale_ids(MAX_SALES).await {
                Ok((ids, _)) => {
                    seated = ids;
                    listed = Some(tokio::time::Instant::now());
                }
                Err(e) => tracing::warn!(error = %e, "seat sweeper: cannot list sales"),
            }
        }
        for sale in &seated {
            // A full batch (holds made together lapse together) is swept again at once, within
            // half a tick, so the seats come back now rather than a thousand a second.
            let started = tokio::time::Instant::now();
            loop {
                match store.sweep_seats(sale, clock::now_ms()).await {
                    Ok(SeatsReply::Swept(n)) if n >= SWEEP_BATCH => {
                        if started.elapsed() >= SWEEP_EVERY / 2 {
                            break;
                        }
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(sale = %sale, error = %e, "seat sweeper: no sweep");
                        break;
                    }
                }
            }
        }
    }
}
