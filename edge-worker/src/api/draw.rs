//! The draw, published: `GET /api/v1/sales/{sale}/draw` (the commitment, then the tally and the
//! seed) and `GET /api/v1/sales/{sale}/draw/entries?shard=K&from=J` (one shard's entries in
//! arrival order, with their places once the seed is revealed). Together they are the record
//! `herdgate-draw verify` checks (`herdgate_core::draw`).

use herdgate_core::draw::{EntriesPage, Published};
use herdgate_core::ErrorCode;
use worker::Response;

use crate::api::{Ctx, Outcome};
use crate::cache;
use crate::http::{internal, now_ms, sale_id, Refusal};
use crate::objects::queue_shard::{self, ShardRequest, ShardResponse};
use crate::objects::sale_control;
use crate::origin::known_sale;

/// Entries per page, at most.
const PAGE: u32 = 1_000;

/// `GET /api/v1/sales/{sale}/draw`: what is public of the sale's draw now.
pub(crate) async fn get(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { env, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    let draw = state.draw.clone().ok_or(Refusal(ErrorCode::NoDraw))?;
    let control = sale_control::control(env, cfg, &sale, &state, now).await?;
    let root = control.tally.as_ref().map(|t| t.root(sale.as_str()));
    let done = control.tally.is_some() && draw.seed.is_some();
    let body = Published {
        sale: sale.to_string(),
        opens_at_ms: draw.opens_at_ms,
        closes_at_ms: draw.closes_at_ms,
        commitment: draw.commitment,
        seed: draw.seed,
        tally: control.tally,
        root,
    };
    cacheable(&body, done)
}

/// `GET /api/v1/sales/{sale}/draw/entries?shard=K&from=J&limit=N`: up to `N` (at most 1,000)
/// entries of shard `K` from index `J`, with their places, once the draw is made (sealed, and
/// the seed revealed); from the location's cache after the first time.
pub(crate) async fn entries(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let url = req.url().map_err(internal)?;
    let query = |name: &str| -> Result<Option<u64>, Refusal> {
        match url.query_pairs().find(|(k, _)| k == name) {
            Some((_, v)) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| Refusal(ErrorCode::InvalidQuery)),
            None => Ok(None),
        }
    };
    let shard = query("shard")?.ok_or(Refusal(ErrorCode::InvalidQuery))?;
    let from = query("from")?.unwrap_or(0);
    let limit = query("limit")?
        .unwrap_or(u64::from(PAGE))
        .clamp(1, u64::from(PAGE));
    let shard = u32::try_from(shard)
        .ok()
        .filter(|k| *k < cfg.shards)
        .ok_or(Refusal(ErrorCode::InvalidQuery))?;
    // Once made, a page never changes: every edge location answers it from its cache, so the
    // record costs the shards one read per page and location, however many people check it.
    let key = format!("https://draw.invalid/{sale}/{shard}/{from}/{limit}");
    let cache = worker::Cache::default();
    if let Ok(Some(hit)) = cache.get(key.as_str(), false).await {
        return Ok(hit);
    }
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    if state.draw.is_none() {
        return Err(Refusal(ErrorCode::NoDraw));
    }
    let control = sale_control::control(env, cfg, &sale, &state, now).await?;
    let tally = control.tally.ok_or(Refusal(ErrorCode::DrawNotMade))?;
    // Entries are published with their places, once the seed is out.
    let draw = cache::draw(&state, &tally).ok_or(Refusal(ErrorCode::DrawNotMade))?;
    let count = tally.shards.get(shard as usize).map_or(0, |t| t.count);
    let want = limit.min(count.saturating_sub(from));
    let mut entries = if want == 0 {
        Vec::new()
    } else {
        let op = ShardRequest::Entries {
            from,
            limit: u32::try_from(want).unwrap_or(PAGE),
        };
        match queue_shard::call(env, &sale, shard, &op).await? {
            ShardResponse::Entries { entries } => entries,
            other => return Err(internal(format!("unexpected shard answer {other:?}"))),
        }
    };
    let shards = u64::from(cfg.shards);
    for (i, entry) in entries.iter_mut().enumerate() {
        let j = from + i as u64;
        entry.place = Some(draw.place(u64::from(shard) + j * shards));
    }
    let end = from + entries.len() as u64;
    let body = EntriesPage {
        shard,
        from,
        next: (end < count && !entries.is_empty()).then_some(end),
        entries,
    };
    let mut resp = cacheable(&body, true)?;
    if let Ok(copy) = resp.cloned() {
        if let Err(e) = cache.put(key.as_str(), copy).await {
            worker::console_error!("caching a page of the draw failed: {e}");
        }
    }
    Ok(resp)
}

/// A JSON answer anyone may cache: for an hour once it can no longer change (the draw is made
/// and its seed revealed), for a second before.
fn cacheable<T: serde::Serialize>(body: &T, fixed: bool) -> Outcome {
    let mut resp = Response::from_json(body).map_err(internal)?;
    let cache = if fixed {
        "public, max-age=3600"
    } else {
        "public, max-age=1"
    };
    resp.headers_mut()
        .set("cache-control", cache)
        .map_err(internal)?;
    Ok(resp)
}
