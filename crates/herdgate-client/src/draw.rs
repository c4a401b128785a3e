//! Fetching a sale's published draw from an edge, whole, for [`DrawRecord::verify`].

use anyhow::{bail, Context as _, Result};
use herdgate_core::draw::{DrawRecord, EntriesPage, Published, ShardRecord};

/// Reads the draw of `sale` from the edge at `edge_url`: its summary, then every shard's
/// entries page by page. Fails if the draw has not been made or its seed not revealed.
pub async fn fetch(http: &reqwest::Client, edge_url: &str, sale: &str) -> Result<DrawRecord> {
    let base = format!(
        "{}/api/v1/sales/{sale}/draw",
        edge_url.trim_end_matches('/')
    );
    let published: Published = get(http, &base).await?;
    if published.sale != sale {
        bail!(
            "asked for the draw of {sale}, the edge answered {}'s",
            published.sale
        );
    }
    let Some(seed) = published.seed else {
        bail!(
            "the draw of {sale} closes at {} (unix ms): its seed is revealed after that",
            published.closes_at_ms
        );
    };
    let Some(tally) = published.tally else {
        bail!("the draw of {sale} has not been sealed yet: try again in a few seconds");
    };
    let mut shards = Vec::with_capacity(tally.shards.len());
    for (k, shard) in tally.shards.into_iter().enumerate() {
        let mut entries = Vec::new();
        let mut from = Some(0u64);
        while let Some(at) = from.filter(|at| *at < shard.count) {
            let page: EntriesPage =
                get(http, &format!("{base}/entries?shard={k}&from={at}")).await?;
            if page.entries.is_empty() || page.shard as usize != k || page.from != at {
                break;
            }
            let end = at + page.entries.len() as u64;
            entries.extend(page.entries);
            // Each page must carry on from the last: an answer that does not is cut short
            // here, and the count check in `verify` reports it.
            from = page.next.filter(|next| *next == end);
        }
        shards.push(ShardRecord {
            tally: shard,
            entries,
        });
    }
    Ok(DrawRecord {
        sale: published.sale,
        commitment: published.commitment,
        seed,
        closes_at_ms: published.closes_at_ms,
        shards,
    })
}

async fn get<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T> {
    let response = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("reading {url}"))
}
