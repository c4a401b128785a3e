//! The waiting room's pages: the handlers of the two lanes, their HTML and their sentences.
//!
//! Two lanes share one layout and one table of sentences ([`i18n`]):
//!
//! - **The page** ([`room`]): its script asks for a challenge, solves the proof of work in a
//!   Web Worker with visible progress (the page stays responsive), joins, then polls the status
//!   endpoint as often as the edge says and shows position, people ahead and an estimated wait.
//!   When admitted it offers the buy button. Every change of state is announced through a
//!   polite live region and reflected in `<main data-state>`. The script's SHA-256 is checked
//!   against the known-answer vectors by `edge-worker/page.test.mjs`.
//! - **The no-JavaScript lane** ([`lane`]): server-rendered pages that refresh themselves with
//!   `<meta http-equiv="refresh">`, for feed readers and browsers without JavaScript. They join
//!   the line later than the page does (see [`lane::lane`]), so the lane cannot jump the queue.
//!
//! The lanes take the same steps as the JSON API, through `api/` (`enqueue`, `queue_status`,
//! `hold_for`, `settle`), and only render them; nothing in `api/` uses this module. [`render`]
//! is the HTML and CSS.

use herdgate_core::SaleId;
use worker::{Request, Response};

use crate::api::Outcome;
use crate::config::Config;
use crate::http::{internal, Refusal};
use crate::pages::i18n::Strings;
use crate::pages::render::{Lane, LanePayment, Page};

pub mod i18n;
pub mod lane;
pub mod render;
pub mod room;

/// Whether the request asks for a page rather than JSON.
pub(crate) fn wants_html(req: &Request) -> bool {
    let accept = req
        .headers()
        .get("accept")
        .ok()
        .flatten()
        .unwrap_or_default();
    !accept.contains("application/json")
}

/// The `?lang=` of the request's URL, if any.
pub(crate) fn query_lang(req: &Request) -> Option<String> {
    let url = req.url().ok()?;
    let lang = url
        .query_pairs()
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.into_owned());
    lang
}

/// The language of the request's pages.
pub(crate) fn language(req: &Request) -> &'static Strings {
    let accept = req
        .headers()
        .get("accept-language")
        .ok()
        .flatten()
        .unwrap_or_default();
    i18n::choose(query_lang(req).as_deref(), &accept)
}

/// The no-JavaScript lane of `sale`, keeping an explicit `?lang=` choice.
pub(crate) fn lane_url(req: &Request, sale: &SaleId) -> String {
    match query_lang(req).and_then(|l| i18n::LANGUAGES.iter().find(|s| s.lang == l)) {
        Some(s) => format!("/queue/{sale}?lang={}", s.lang),
        None => format!("/queue/{sale}"),
    }
}

/// The headers every page carries besides its Content-Security-Policy: never cached, never
/// sniffed as anything but HTML, never framed (for browsers that predate `frame-ancestors`),
/// and a referrer only to this origin. `same-origin` rather than `no-referrer`: with
/// `no-referrer` a browser sends `Origin: null` on the page's own form posts, which
/// [`crate::http::same_origin`] would then have to take on trust.
const PAGE_HEADERS: [(&str, &str); 4] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
];

/// An HTML response with the page's Content-Security-Policy and [`PAGE_HEADERS`].
pub(crate) fn html(page: Page, status: u16) -> Outcome {
    let mut resp = Response::from_html(page.html)
        .map_err(internal)?
        .with_status(status);
    let headers = resp.headers_mut();
    headers
        .set("content-security-policy", &page.csp)
        .map_err(internal)?;
    for (name, value) in PAGE_HEADERS {
        headers.set(name, value).map_err(internal)?;
    }
    Ok(resp)
}

/// A refusal of a page request as a page in state `refused` (with the refusal's status), so a
/// person sees a sentence in their language rather than JSON.
pub(crate) fn html_refusal(
    answer: Outcome,
    html_wanted: bool,
    t: &Strings,
    cfg: &Config,
    raw: &str,
) -> Outcome {
    match answer {
        Err(Refusal(code)) if html_wanted => {
            let sale = if SaleId::parse(raw).is_ok() { raw } else { "" };
            let view = Lane::Refused(code);
            let mut resp = html(
                render::lane(t, &cfg.brand, sale, &view, None, "", &LanePayment::None),
                code.status(),
            )?;
            if code.status() == 503 {
                resp.headers_mut()
                    .set("retry-after", "1")
                    .map_err(internal)?;
            }
            Ok(resp)
        }
        other => other,
    }
}
