//! `GET`, `POST /admin/v1/sales/{sale}/control`: the operator reads the sale's admission
//! control, pauses, resumes or sets the rate, with the admin token. The change is made at the
//! sale's `SaleControl` object and replaces this isolate's copy at once; other isolates see it
//! within `STATE_CACHE_MS`.

use herdgate_core::wire::ControlRequest;
use herdgate_core::ErrorCode;
use worker::Method;

use crate::api::{Ctx, Outcome};
use crate::cache;
use crate::http::{self, internal, now_ms, sale_id, Refusal};
use crate::objects::sale_control::{self, ControlOp};
use crate::origin::known_sale;

/// `GET`, `POST /admin/v1/sales/{sale}/control`: read, pause, resume or set the admission
/// rate (admin token).
pub(crate) async fn control(cx: &Ctx, raw: &str) -> Outcome {
    let Ctx { req, env, cfg, .. } = cx;
    let body = cx.body()?;
    match http::bearer(req) {
        Some(token) if cfg.is_admin(&token) => {}
        _ => return Err(Refusal(ErrorCode::Unauthorized)),
    }
    let sale = sale_id(raw)?;
    let now = now_ms();
    let state = known_sale(cfg, &sale, now).await?;
    let (starts_at_ms, rate) = (state.starts_at_ms, state.admission_rate);
    let op = if req.method() == Method::Post {
        let request: ControlRequest = http::parse(body)?;
        ControlOp::Apply {
            starts_at_ms,
            rate,
            request,
        }
    } else {
        ControlOp::Get { starts_at_ms, rate }
    };
    let control = sale_control::call(env, &sale, &op).await?;
    cache::put_control(&sale, control.clone(), now);
    http::json(&control, 200).map_err(internal)
}
