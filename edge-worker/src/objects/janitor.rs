//! Storage that ends: the rounds in which a sale's objects notice that the sale is over and
//! then delete what it left behind.
//!
//! A queue shard and a join limiter each keep one record per buyer (spent challenges, the pass
//! ledger, card holds; join and failure counts). Once the sale is over, nothing reads them:
//! joins and purchases are refused at the edge, a winner who asks again is answered by the
//! origin (which keeps every order), and a challenge or a ticket cannot outlive its own expiry.
//! So each object asks the origin every `CLEANUP_CHECK_SECS` whether the sale is over (sold
//! out, or gone), and once it has been over for `CLEANUP_AFTER_SECS` without a break, it
//! deletes everything but the few keys that keep positions unique if the operator restocks
//! (see each object). A restock before that only delays it.

use herdgate_core::wire::SaleStatus;
use herdgate_core::SaleId;
use serde::{Deserialize, Serialize};
use worker::{Result, Storage};

use crate::config::Config;

/// The storage key naming the sale the object belongs to.
pub(crate) const SALE_KEY: &str = "sale";
/// The storage key of the moment the object first saw the sale over (unix ms).
const OVER_SINCE_KEY: &str = "over_since";

/// What a round decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// Look again at this moment (unix ms).
    Again(u64),
    /// The sale has been over long enough: clean up.
    Clean,
    /// The object does not know its sale yet: nothing to do until it does.
    Idle,
}

/// The storage an object keeps, as an operator reads it (`GET /admin/v1/sales/{sale}/storage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    /// Keys stored.
    pub keys: u64,
    /// Bytes of keys and (JSON) values, about what the platform bills.
    pub bytes: u64,
}

/// Remembers, once, which sale the object belongs to, and makes sure a round is scheduled.
/// Cheap after the first call of an object's life (`known` is the object's own flag).
pub(crate) async fn adopt(
    storage: &Storage,
    known: &std::cell::Cell<bool>,
    sale: &SaleId,
    cfg: &Config,
    now: u64,
) -> Result<()> {
    if known.get() {
        return Ok(());
    }
    if storage.get::<String>(SALE_KEY).await?.is_none() {
        storage.put(SALE_KEY, sale.as_str()).await?;
    }
    if storage.get_alarm().await?.is_none() {
        storage
            .set_alarm(offset(now + cfg.cleanup_check_secs * 1000, now))
            .await?;
    }
    known.set(true);
    Ok(())
}

/// One round: asks the origin whether the object's sale is over, and keeps the moment it was
/// first seen over. An origin that does not answer counts as "not over" for this round.
pub(crate) async fn round(storage: &Storage, cfg: &Config, now: u64) -> Result<Round> {
    let Some(sale) = storage.get::<String>(SALE_KEY).await? else {
        return Ok(Round::Idle);
    };
    let check = now + cfg.cleanup_check_secs * 1000;
    let over = match SaleId::parse(&sale) {
        Ok(sale) => match crate::origin::sale(cfg, &sale, now).await {
            Ok(Some(state)) => state.status == SaleStatus::SoldOut,
            Ok(None) => true,
            Err(_) => false,
        },
        // Not a sale id: nothing of it can be read again.
        Err(_) => true,
    };
    if !over {
        storage.delete(OVER_SINCE_KEY).await?;
        return Ok(Round::Again(check));
    }
    let since = match storage.get::<u64>(OVER_SINCE_KEY).await? {
        Some(since) => since,
        None => {
            storage.put(OVER_SINCE_KEY, now).await?;
            now
        }
    };
    // Never before every challenge issued while the sale was open has expired: a spent one
    // whose record is gone must not join a restocked sale again.
    let due = since + cfg.cleanup_after_secs.max(cfg.challenge_ttl_secs) * 1000;
    Ok(if now >= due {
        Round::Clean
    } else {
        Round::Again(due.min(check))
    })
}

/// Deletes everything the object stores but the keys in `keep` and those starting with one of
/// `keep_prefixes`, and its alarm.
pub(crate) async fn clean(storage: &Storage, keep: &[&str], keep_prefixes: &[&str]) -> Result<()> {
    let mut kept: Vec<(String, serde_json::Value)> = Vec::new();
    for key in keep {
        if let Some(value) = storage.get::<serde_json::Value>(key).await? {
            kept.push(((*key).to_owned(), value));
        }
    }
    let mut doomed = Vec::new();
    let all = storage.list().await?;
    for key in all.keys() {
        let Some(key) = key?.as_string() else {
            continue;
        };
        if !keep.contains(&key.as_str()) && !keep_prefixes.iter().any(|p| key.starts_with(p)) {
            doomed.push(key);
        }
    }
    if keep_prefixes.is_empty() {
        storage.delete_all().await?;
    } else {
        // Storage deletes at most 128 keys per call.
        for chunk in doomed.chunks(128) {
            storage.delete_multiple(chunk.to_vec()).await?;
        }
    }
    storage.delete_alarm().await?;
    for (key, value) in kept {
        storage.put(&key, value).await?;
    }
    Ok(())
}

/// How much the object stores.
pub(crate) async fn census(storage: &Storage) -> Result<Census> {
    let all = storage.list().await?;
    let mut census = Census::default();
    for entry in all.entries() {
        let entry = entry?;
        let pair = worker::js_sys::Array::from(&entry);
        let key = pair.get(0).as_string().unwrap_or_default();
        let value = worker::js_sys::JSON::stringify(&pair.get(1))
            .map(|s| s.length())
            .unwrap_or(0);
        census.keys += 1;
        census.bytes += key.len() as u64 + u64::from(value);
    }
    Ok(census)
}

/// An alarm for unix ms `at`, as an offset from `now`.
pub(crate) fn offset(at: u64, now: u64) -> i64 {
    i64::try_from(at.saturating_sub(now)).unwrap_or(i64::MAX)
}
