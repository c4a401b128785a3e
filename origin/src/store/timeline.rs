//! The console's reads and writes beside the scripts: a sale's timeline (samples the
//! recorder takes, `timeline.rs`), the card payments' counts it samples, and the console's
//! login sessions. None of these touch stock, orders or passes, so plain commands do.
//!
//! | key | type | what |
//! |---|---|---|
//! | `hg:{<sale>}:timeline` | stream | one entry per sample, its id the sample's moment (`<ms>-0`), field `s` the sample's JSON; kept 30 days after its last sample |
//! | `hg:console:session:<hex>` | string | a console session (its CSRF token), under the SHA-256 of the cookie's value, expiring with it |

use fred::prelude::*;
use fred::types::streams::{XCapKind, XCapTrim, XID};
use fred::types::Expiration;
use herdgate_core::wire::{PaymentCounts, TimelineSample};
use herdgate_core::SaleId;

use super::{Store, StoreError};

/// The most samples a sale's timeline keeps (about 28 hours at one a second, 50 to 100 MB);
/// older ones are trimmed as new ones come.
pub const MAX_SAMPLES: u64 = 100_000;

/// How long a timeline is kept after its last sample: 30 days.
pub const KEEP_MS: i64 = 30 * 24 * 3600 * 1000;

/// The key of `sale`'s timeline.
fn timeline_key(sale: &SaleId) -> String {
    format!("hg:{{{sale}}}:timeline")
}

/// The key of the session whose cookie hashes to `digest_hex`.
fn session_key(digest_hex: &str) -> String {
    format!("hg:console:session:{digest_hex}")
}

impl Store {
    /// Appends `sample` to its sale's timeline, under the id `<at_ms>-0`. Returns `false`,
    /// changing nothing, when the timeline already holds a sample that late: another origin
    /// took this moment's sample first.
    pub async fn record_sample(
        &self,
        sale: &SaleId,
        sample: &TimelineSample,
    ) -> Result<bool, StoreError> {
        let json =
            serde_json::to_string(sample).map_err(|e| StoreError::Protocol(e.to_string()))?;
        let id = XID::Manual(format!("{}-0", sample.at_ms).into());
        let added: Result<Value, Error> = self
            .pool
            .next()
            .xadd(
                timeline_key(sale),
                false,
                (XCapKind::MaxLen, XCapTrim::AlmostExact, MAX_SAMPLES as i64),
                id,
                vec![("s", json)],
            )
            .await;
        match added {
            Ok(_) => {
                // A sale's timeline outlives the sale by a month, then goes.
                let _: Value = self
                    .pool
                    .next()
                    .pexpire(timeline_key(sale), KEEP_MS, None)
                    .await?;
                Ok(true)
            }
            Err(e) if e.details().contains("equal or smaller") => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Up to `limit` samples of `sale`'s timeline taken at or after `from_ms`, oldest first;
    /// `true` when more follow.
    pub async fn timeline(
        &self,
        sale: &SaleId,
        from_ms: u64,
        limit: usize,
    ) -> Result<(Vec<TimelineSample>, bool), StoreError> {
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .pool
            .next()
            .xrange(
                timeline_key(sale),
                format!("{from_ms}-0"),
                "+",
                Some(limit as u64 + 1),
            )
            .await?;
        let more = entries.len() > limit;
        let mut samples = Vec::with_capacity(entries.len().min(limit));
        for (_, fields) in entries.into_iter().take(limit) {
            let json = fields
                .into_iter()
                .find(|(k, _)| k == "s")
                .map(|(_, v)| v)
                .ok_or_else(|| StoreError::Protocol("a timeline entry without a sample".into()))?;
            samples.push(
                serde_json::from_str(&json).map_err(|e| StoreError::Protocol(e.to_string()))?,
            );
        }
        Ok((samples, more))
    }

    /// The card payments of `sale`'s orders: captured, pending (`pending` as the sale counts
    /// them) and failed.
    pub async fn payment_counts(
        &self,
        sale: &SaleId,
        pending: u64,
    ) -> Result<PaymentCounts, StoreError> {
        let client = self.pool.next();
        let (mut recorded, mut failed) = (0u64, 0u64);
        // Every place that takes orders: the sale, or each of its stock shards.
        for k in self.order_places(sale).await? {
            // A released payment leaves the payments hash; what stays is captured or pending.
            let n: u64 = client.hlen(k.payments).await?;
            let f: u64 = client.scard(k.dead_holds).await?;
            recorded += n;
            failed += f;
        }
        Ok(PaymentCounts {
            captured: recorded.saturating_sub(pending),
            pending,
            failed,
        })
    }

    /// Keeps a console session for `ttl_ms`: the SHA-256 (hex) of its cookie's value, and the
    /// CSRF token its pages send back.
    pub async fn put_session(
        &self,
        digest_hex: &str,
        csrf: &str,
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        let _: Value = self
            .pool
            .next()
            .set(
                session_key(digest_hex),
                csrf,
                Some(Expiration::PX(ttl_ms.max(1) as i64)),
                None,
                false,
            )
            .await?;
        Ok(())
    }

    /// The CSRF token of the session whose cookie hashes to `digest_hex`, if it is live.
    pub async fn session(&self, digest_hex: &str) -> Result<Option<String>, StoreError> {
        Ok(self.pool.next().get(session_key(digest_hex)).await?)
    }

    /// Ends the session whose cookie hashes to `digest_hex`.
    pub async fn drop_session(&self, digest_hex: &str) -> Result<(), StoreError> {
        let _: u64 = self.pool.next().del(session_key(digest_hex)).await?;
        Ok(())
    }
}
