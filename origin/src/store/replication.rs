//! Waiting for replicas: an answer the origin gives (an order, a seat hold) outlives the
//! failover of the primary that wrote it only if a replica had it first.
//!
//! Redis replicates asynchronously: a primary acknowledges a script as soon as it has run,
//! and a primary killed a moment later takes that write with it when its replica is promoted.
//! So after every script the origin sends `WAIT n timeout` on the same connection (on a
//! cluster, to the primary of the sale's slot): Redis answers once `n` replicas acknowledged
//! every write of the connection so far, or at the timeout with how many did. Fewer than `n`
//! is [`StoreError::NotReplicated`], which the buyer gets as 503 `store_unavailable`: the
//! write is on the primary, and every script is idempotent, so their retry answers the same
//! order rather than a second one. `WAIT` covers the writes of its own connection only, so a
//! script that answers something written before (an order asked for again, a live seat hold,
//! the sold-out snapshot) writes a counter of its own (the sale's `replays`): its wait then
//! covers everything the primary had written before it, on any connection.
//!
//! [`WaitReplicas::Auto`], the default, waits for one replica on a primary that has one
//! connected (each primary's read with `INFO replication` at start and every
//! [`REFRESH_EVERY`]), and for none on one that has none: a lone Redis, or a shard whose
//! replica is gone (or was just promoted), keeps selling, with the durability it has. A number
//! waits for that many, always: a sale then stops (503) while fewer replicas answer, rather
//! than acknowledge what a failover could lose. (With `auto`, a replica that dropped out stops
//! the waiting on its primary; if it is promoted stale within the cluster's validity window,
//! orders answered meanwhile are lost. A number closes that window.)
//!
//! The cost is one round trip to the replica per write (well under a millisecond on a LAN),
//! paid on the connection that carries it: `WAIT` blocks that connection's later commands
//! until it answers. With a dead replica still counted as connected, every write waits the
//! whole timeout until Redis notices (`repl-timeout`, 60 s by default).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use fred::types::{CustomCommand, InfoKind};

use super::{Store, StoreError};

/// How often [`WaitReplicas::Auto`] reads the replicas again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// How many replicas must acknowledge a write before the origin answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReplicas {
    /// One on a primary that has a replica connected, none on one that has none (`auto`).
    Auto,
    /// Exactly this many (`0`: never wait).
    Exactly(u32),
}

/// The replicas an `INFO replication` answer lists as `online`: connected and past their
/// first sync, so able to acknowledge writes (one still loading the primary's snapshot could
/// not, and would make every write wait the whole timeout). `None` for an answer that is not
/// a primary's (no `connected_slaves` line).
fn connected_replicas(info: &str) -> Option<u32> {
    info.lines()
        .find(|line| line.trim().starts_with("connected_slaves:"))?;
    let online = info
        .lines()
        .filter(|line| {
            // `slave<N>:ip=…,port=…,state=online,…`
            line.trim().split_once(':').is_some_and(|(name, fields)| {
                name.strip_prefix("slave")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    && fields.split(',').any(|f| f == "state=online")
            })
        })
        .count();
    Some(online as u32)
}

impl Store {
    /// How many replicas a write to `slot` waits for now, on the clustered client's view of
    /// the cluster.
    pub(super) fn replicas_wanted(&self, slot: u16) -> u32 {
        match self.config.wait_replicas {
            WaitReplicas::Exactly(n) => n,
            WaitReplicas::Auto => {
                let node = if self.clustered {
                    match self
                        .pool
                        .next()
                        .cached_cluster_state()
                        .and_then(|state| state.get_server(slot).map(node_name))
                    {
                        Some(node) => node,
                        None => return 0,
                    }
                } else {
                    String::new()
                };
                let known = self.replicas.read().unwrap_or_else(|e| e.into_inner());
                u32::from(known.get(&node).is_some_and(|n| *n > 0))
            }
        }
    }

    /// Reads how many replicas every primary has connected, for [`WaitReplicas::Auto`].
    /// Returns the fewest a primary has.
    pub async fn refresh_replication(&self) -> Result<u32, StoreError> {
        let client = self.pool.next();
        let mut counts: HashMap<String, u32> = HashMap::new();
        if self.clustered {
            for (node, slot) in super::primary_slots(client) {
                let info = CustomCommand::new_static("INFO", slot, false);
                let info: String = client.custom(info, vec!["replication"]).await?;
                counts.insert(node, replicas_of(&info)?);
            }
        } else {
            let info: String = client.info(Some(InfoKind::Replication)).await?;
            counts.insert(String::new(), replicas_of(&info)?);
        }
        let fewest = counts.values().copied().min().unwrap_or(0);
        let mut known = self.replicas.write().unwrap_or_else(|e| e.into_inner());
        if *known != counts {
            tracing::info!(
                ?counts,
                "replicas per primary: writes wait for one where there is one"
            );
            *known = counts;
        }
        Ok(fewest)
    }

    /// Waits until `wanted` replicas acknowledged every write `client` sent so far, on the
    /// primary of `slot`.
    pub(super) async fn replicated(
        &self,
        client: &Client,
        slot: u16,
        wanted: u32,
    ) -> Result<(), StoreError> {
        let timeout_ms = self.config.wait_timeout.as_millis().max(1) as i64;
        let wait = CustomCommand::new_static("WAIT", slot, false);
        let acked: i64 = client
            .custom(wait, vec![i64::from(wanted), timeout_ms])
            .await?;
        if acked < i64::from(wanted) {
            return Err(StoreError::NotReplicated {
                acked: acked.max(0) as u32,
                wanted,
            });
        }
        Ok(())
    }
}

/// `host:port` of a node, as [`super::primary_slots`] names it.
fn node_name(server: &fred::types::config::Server) -> String {
    format!("{}:{}", server.host, server.port)
}

fn replicas_of(info: &str) -> Result<u32, StoreError> {
    connected_replicas(info)
        .ok_or_else(|| StoreError::Protocol("INFO replication: no connected_slaves".into()))
}

/// With [`WaitReplicas::Auto`], reads the replicas every [`REFRESH_EVERY`] (see
/// [`Store::refresh_replication`]). Runs until the task is dropped.
pub async fn watch(store: Arc<Store>) {
    if store.config.wait_replicas != WaitReplicas::Auto {
        return;
    }
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = store.refresh_replication().await {
            tracing::debug!(error = %e, "could not read the replicas; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_replicas_in_sync_count() {
        let info = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
            slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\n\
            slave1:ip=127.0.0.1,port=7002,state=wait_bgsave,offset=0,lag=0\r\n\
            master_repl_offset:42\r\n";
        assert_eq!(connected_replicas(info), Some(1));
        let none = "role:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n";
        assert_eq!(connected_replicas(none), Some(0));
        assert_eq!(connected_replicas("role:slave\r\n"), None);
    }
}
