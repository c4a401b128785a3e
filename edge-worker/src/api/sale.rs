//! `GET /api/v1/sales/{sale}`: the sale's public state and its admission (frontier, paused,
//! rate) as this edge sees it, cacheable for a second.

use worker::Response;

use crate::api::{Ctx, Outcome};
use crate::http::{internal, now_ms, sale_id};
use crate::objects::sale_control;
use crate::origin::known_sale;

/// `GET /api/v1/sales/{sale}`: the sale's public state and admission, as this edge sees it.
pub(crate) async fn get(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { env, cfg, .. } = cx;
    let sale = sale_id(raw)?;
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    let control = sale_control::control(env, cfg, &sale, &state, now).await?;
    let mut body = serde_json::json!({
        "sale": state,
        "admission": {
            // The edge's clock when it read the frontier (unix ms): a sampler that reads it
            // over time gets the rate the edge kept, whatever the answer's delay.
            "at_ms": now,
            "frontier": control.schedule.frontier(now),
            "paused": control.paused,
            "rate": control.rate,
            // Where the frontier waits while the passes out cover the stock, and whether it
            // waits there now.
            "cap": control.schedule.cap,
            "stock_covered": control.schedule.capped(now),
        },
    });
    // A seated sale: the places choosing seats, as the control last counted them.
    if let Some(choosing) = control.choosing {
        body["admission"]["choosing"] = choosing.into();
    }
    let mut resp = Response::from_json(&body).map_err(internal)?;
    resp.headers_mut()
        .set("cache-control", "public, max-age=1")
        .map_err(internal)?;
    Ok(resp)
}
