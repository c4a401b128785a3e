//! The waiting-room pages: HTML and CSS in one response, no external assets.
//!
//! Two lanes share one layout and one table of sentences ([`crate::i18n`]):
//!
//! - **The page** ([`room`]): its script asks for a challenge, solves the proof of work in a
//!   Web Worker with visible progress (the page stays responsive), joins, then polls the status
//!   endpoint as often as the edge says and shows position, people ahead and an estimated wait.
//!   When admitted it offers the buy button. Every change of state is announced through a
//!   polite live region and reflected in `<main data-state>`. The script's SHA-256 is checked
//!   against the known-answer vectors by `edge-worker/page.test.mjs`.
//! - **The no-JavaScript lane** ([`lane`]): server-rendered pages that refresh themselves with
//!   `<meta http-equiv="refresh">`, for feed readers and browsers without JavaScript. They join
//!   the line later than the page does (see `routes::lane`), so the lane cannot jump the queue.
//!
//! Branding comes from `vars` (`BRAND_NAME`, `BRAND_COLOR`, `BRAND_LOGO_URL`, `BRAND_CSS`), so a
//! deployer restyles the page without rebuilding the wasm.

use herdgate_core::{ErrorCode, SaleId};

use crate::config::Brand;
use crate::i18n::Strings;

/// The page's script, also loaded by the page's tests.
pub const SCRIPT: &str = include_str!("../page/waiting-room.js");

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` block: `<` is escaped so no string in it can
/// close the element.
fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

const STYLE: &str = r#"
  :root { --accent: ACCENT; }
  * { box-sizing: border-box; }
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; line-height: 1.5; color: #1a1a1a; background: #f6f7f9; }
  .wrap { max-width: 34rem; margin: 0 auto; padding: 1rem; }
  header { display: flex; align-items: center; gap: .6rem; padding: .5rem 0 1rem; font-weight: 600; font-size: 1.05rem; }
  header img { height: 2rem; width: auto; }
  main { background: #fff; border: 1px solid #d0d4da; border-radius: .9rem; padding: 1.25rem 1.25rem 1.5rem; }
  .sale { margin: 0; color: #4a4f57; font-size: .95rem; }
  h1 { font-size: 1.45rem; line-height: 1.25; margin: .25rem 0 .5rem; }
  h1:focus { outline: none; }
  .message { margin: 0 0 1rem; }
  .progress label { display: block; font-size: .95rem; color: #4a4f57; }
  progress { width: 100%; height: 1.1rem; accent-color: var(--accent); }
  dl { display: grid; grid-template-columns: 1fr auto; gap: .35rem 1rem; margin: 0 0 1rem; font-size: 1.05rem; }
  dt { color: #4a4f57; }
  dd { margin: 0; font-weight: 600; text-align: right; font-variant-numeric: tabular-nums; }
  .buy { display: block; width: 100%; font-size: 1.15rem; font-weight: 600; padding: .8rem 1rem; border-radius: .6rem; border: 0; background: var(--accent); color: #fff; cursor: pointer; }
  .buy:focus-visible { outline: 3px solid #1a1a1a; outline-offset: 2px; }
  .buy[disabled] { background: #6b7079; cursor: progress; }
  .order { font-size: 1.1rem; font-weight: 600; word-break: break-all; }
  .note { font-size: .9rem; color: #4a4f57; margin: 1rem 0 0; }
  .hold { font-weight: 600; margin: 0 0 1rem; }
  .card fieldset { border: 1px solid #d0d4da; border-radius: .6rem; margin: 1rem 0 0; padding: .75rem 1rem 1rem; }
  .card legend { font-weight: 600; padding: 0 .3rem; }
  .card label { display: block; font-size: .95rem; color: #4a4f57; margin-top: .5rem; }
  .card input { width: 100%; font-size: 1.05rem; padding: .5rem .6rem; border: 1px solid #6b7079; border-radius: .4rem; }
  .card .row { display: grid; grid-template-columns: 1fr 1fr; gap: .75rem; }
  .card .buy { margin-top: .75rem; }
  .error { color: #b3261e; margin: .5rem 0 0; }
  .error:empty { display: none; }
  a { color: #0b4aa8; }
  .sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0,0,0,0); white-space: nowrap; border: 0; }
  [hidden] { display: none !important; }
  @media (min-width: 40rem) { .wrap { padding-top: 3rem; } }
"#;

/// The page skeleton around `main`: language, title, branding, optional extra `<head>` lines.
fn layout(t: &Strings, brand: &Brand, sale: &str, head: &str, main: &str) -> String {
    let logo = brand
        .logo_url
        .as_deref()
        .map(|url| format!(r#"<img src="{}" alt="">"#, escape(url)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
{head}<title>{title}{sale} · {brand_name}</title>
<style>{style}{custom}</style>
</head>
<body>
<div class="wrap">
<header>{logo}<span>{brand_name}</span></header>
{main}
</div>
</body>
</html>"#,
        lang = t.lang,
        title = escape(t.title),
        brand_name = escape(&brand.name),
        style = STYLE.replace("ACCENT", &brand.color),
        custom = brand.css,
        logo = logo,
        head = head,
        main = main,
        sale = if sale.is_empty() {
            String::new()
        } else {
            format!(" · {}", escape(sale))
        },
    )
}

fn sale_line(t: &Strings, sale: &str) -> String {
    format!(
        r#"<p class="sale">{}</p>"#,
        escape(&t.sale_line.replace("{sale}", sale))
    )
}

/// The waiting room with its script, in state `joining`; the script takes it from there.
/// `lane_url` is the no-JavaScript lane, linked from a `<noscript>` block.
/// With `payments`, the page offers to put the buyer's card on hold while they wait.
pub fn room(t: &Strings, brand: &Brand, sale: &SaleId, lane_url: &str, payments: bool) -> String {
    let strings = serde_json::to_value(t).unwrap_or_default();
    let mut errors = serde_json::Map::new();
    for (code, text) in t.errors {
        errors.insert((*code).to_owned(), serde_json::Value::from(*text));
    }
    let boot = serde_json::json!({
        "sale": sale.as_str(),
        "api": format!("/api/v1/sales/{sale}"),
        "t": strings,
        "errors": errors,
        "payments": payments,
    });
    let head = format!(
        "<noscript><meta http-equiv=\"refresh\" content=\"0; url={}\"></noscript>\n",
        escape(lane_url)
    );
    let main = format!(
        r#"<main id="room" data-state="joining" aria-labelledby="headline">
{sale_line}
<h1 id="headline" tabindex="-1">{h}</h1>
<p id="message" class="message">{m}</p>
<div id="solving" class="progress" hidden>
  <label for="work">{progress}</label>
  <progress id="work" max="100" value="0"></progress>
</div>
<dl id="numbers" hidden>
  <dt>{n0}</dt><dd id="position">–</dd>
  <dt>{n1}</dt><dd id="ahead">–</dd>
  <dt>{n2}</dt><dd id="eta">–</dd>
</dl>
<p id="order" class="order" hidden></p>
<p id="hold" class="hold" hidden></p>
<button id="buy" class="buy" type="button" hidden>{buy}</button>
<form id="card" class="card" hidden novalidate>
  <fieldset>
    <legend>{c0}</legend>
    <label for="cc-number">{c1}</label>
    <input id="cc-number" name="cc-number" autocomplete="cc-number" inputmode="numeric" required>
    <div class="row">
      <span><label for="cc-exp">{c2}</label><input id="cc-exp" name="cc-exp" autocomplete="cc-exp" inputmode="numeric" required></span>
      <span><label for="cc-csc">{c3}</label><input id="cc-csc" name="cc-csc" autocomplete="cc-csc" inputmode="numeric" required></span>
    </div>
    <p id="card-error" class="error" role="alert"></p>
    <button id="hold-card" class="buy" type="submit">{c4}</button>
    <p class="note">{c5}</p>
  </fieldset>
</form>
<div id="live" class="sr-only" role="status" aria-live="polite" aria-atomic="true"></div>
<noscript><p class="note"><a href="{lane}">{lane_link}</a></p></noscript>
</main>
<script id="boot" type="application/json">{boot}</script>
<script>{script}</script>"#,
        sale_line = sale_line(t, sale.as_str()),
        h = escape(t.joining[0]),
        m = escape(t.joining[1]),
        progress = escape(t.progress),
        n0 = escape(t.numbers[0]),
        n1 = escape(t.numbers[1]),
        n2 = escape(t.numbers[2]),
        buy = escape(t.buy),
        c0 = escape(t.card[0]),
        c1 = escape(t.card[1]),
        c2 = escape(t.card[2]),
        c3 = escape(t.card[3]),
        c4 = escape(t.card[4]),
        c5 = escape(t.card[5]),
        lane = escape(lane_url),
        lane_link = escape(t.lane_link),
        boot = script_json(&boot),
        script = SCRIPT,
    );
    layout(t, brand, sale.as_str(), &head, &main)
}

/// What a no-JavaScript lane page shows.
#[derive(Debug, Clone)]
pub enum Lane {
    /// The visitor joins the line in `in_secs` seconds.
    Joining {
        /// Seconds until the visitor's lane token becomes valid.
        in_secs: u64,
    },
    /// In line.
    Waiting {
        /// 0-based queue position.
        position: u64,
        /// Positions ahead that are not admitted yet.
        ahead: u64,
        /// Estimated wait, ms.
        eta_ms: u64,
    },
    /// Admission is paused.
    Paused {
        /// 0-based queue position.
        position: u64,
    },
    /// Admitted: a form posts to `buy_url`.
    Admitted {
        /// Where the buy form posts.
        buy_url: String,
    },
    /// Bought.
    Bought {
        /// The order's id.
        order_id: String,
    },
    /// Nothing left.
    SoldOut,
    /// Refused, with the reason.
    Refused(ErrorCode),
    /// The card form (a page of its own, which does not refresh while the buyer types); it
    /// posts to `action`. `error`: why the last card was not put on hold.
    Card {
        /// Where the form posts.
        action: String,
        /// The refusal of the previous attempt.
        error: Option<ErrorCode>,
    },
}

/// What a no-JavaScript page says about the buyer's card, in a sale that takes card holds.
#[derive(Debug, Clone, Default)]
pub enum LanePayment {
    /// The sale takes no card holds.
    #[default]
    None,
    /// No card on hold yet: a link to the card form at this URL.
    Offer {
        /// The card form.
        card_url: String,
    },
    /// A card is on hold for this amount (already formatted).
    Held {
        /// E.g. `15.00 EUR`.
        amount: String,
    },
}

/// `amount` minor units of `currency` as `15.00 EUR` (no decimals for Stripe's zero-decimal
/// currencies).
pub fn money(amount: u64, currency: &str) -> String {
    const ZERO_DECIMAL: [&str; 16] = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency) {
        format!("{amount} {code}")
    } else {
        format!("{}.{:02} {code}", amount / 100, amount % 100)
    }
}

impl Lane {
    /// The state name, as `data-state` (the same names the script uses).
    pub fn state(&self) -> &'static str {
        match self {
            Lane::Joining { .. } => "joining",
            Lane::Waiting { .. } => "waiting",
            Lane::Paused { .. } => "paused",
            Lane::Admitted { .. } => "admitted",
            Lane::Bought { .. } => "bought",
            Lane::SoldOut => "sold_out",
            Lane::Refused(_) => "refused",
            Lane::Card { .. } => "card",
        }
    }
}

/// A no-JavaScript page in state `view`. With `refresh_secs`, the page reloads `self_url`
/// after that many seconds.
pub fn lane(
    t: &Strings,
    brand: &Brand,
    sale: &str,
    view: &Lane,
    refresh_secs: Option<u64>,
    self_url: &str,
    payment: &LanePayment,
) -> String {
    let (h, m) = match view {
        Lane::Joining { in_secs } => (
            t.lane_joining[0].to_owned(),
            t.lane_joining[1].replace("{n}", &in_secs.to_string()),
        ),
        Lane::Waiting { .. } => (t.waiting[0].to_owned(), t.waiting[1].to_owned()),
        Lane::Paused { .. } => (t.paused[0].to_owned(), t.paused[1].to_owned()),
        Lane::Admitted { .. } => (t.admitted[0].to_owned(), t.admitted[1].to_owned()),
        Lane::Bought { order_id } => (
            t.bought[0].to_owned(),
            t.bought[1].replace("{order}", order_id),
        ),
        Lane::SoldOut => (t.sold_out[0].to_owned(), t.sold_out[1].to_owned()),
        Lane::Refused(code) => (
            t.refused[0].to_owned(),
            format!(
                "{} {}",
                t.error(code.as_str(), code.message()),
                t.refused[1]
            ),
        ),
        Lane::Card { .. } => (t.card[0].to_owned(), t.card[5].to_owned()),
    };
    let numbers = |position: u64, ahead: Option<u64>, eta: Option<u64>| {
        let dash = "–".to_owned();
        format!(
            "<dl>\n  <dt>{}</dt><dd>{}</dd>\n  <dt>{}</dt><dd>{}</dd>\n  <dt>{}</dt><dd>{}</dd>\n</dl>",
            escape(t.numbers[0]),
            position + 1,
            escape(t.numbers[1]),
            ahead.map_or(dash.clone(), |a| a.to_string()),
            escape(t.numbers[2]),
            eta.map_or(dash, |e| escape(&t.eta_words(e))),
        )
    };
    let body = match view {
        Lane::Waiting {
            position,
            ahead,
            eta_ms,
        } => numbers(*position, Some(*ahead), Some(*eta_ms)),
        Lane::Paused { position } => numbers(*position, None, None),
        Lane::Admitted { buy_url } => format!(
            r#"<form method="post" action="{}"><button class="buy" type="submit">{}</button></form>"#,
            escape(buy_url),
            escape(t.buy)
        ),
        Lane::Card { action, error } => {
            let error = error
                .map(|code| {
                    format!(
                        r#"<p class="error" role="alert">{}</p>"#,
                        escape(t.error(code.as_str(), code.message()))
                    )
                })
                .unwrap_or_default();
            format!(
                r#"<form class="card" method="post" action="{action}">
  {error}
  <label for="cc-number">{c1}</label>
  <input id="cc-number" name="number" autocomplete="cc-number" inputmode="numeric" required>
  <div class="row">
    <span><label for="cc-exp">{c2}</label><input id="cc-exp" name="exp" autocomplete="cc-exp" inputmode="numeric" required></span>
    <span><label for="cc-csc">{c3}</label><input id="cc-csc" name="cvc" autocomplete="cc-csc" inputmode="numeric" required></span>
  </div>
  <button class="buy" type="submit">{c4}</button>
</form>"#,
                action = escape(action),
                c1 = escape(t.card[1]),
                c2 = escape(t.card[2]),
                c3 = escape(t.card[3]),
                c4 = escape(t.card[4]),
            )
        }
        _ => String::new(),
    };
    let shows_payment = matches!(
        view,
        Lane::Waiting { .. } | Lane::Paused { .. } | Lane::Admitted { .. }
    );
    let body = match payment {
        LanePayment::Offer { card_url } if shows_payment => format!(
            r#"{body}<p class="hold"><a href="{}">{}</a></p>"#,
            escape(card_url),
            escape(t.card[4])
        ),
        LanePayment::Held { amount } if shows_payment => format!(
            r#"{body}<p class="hold" data-hold="on_hold">{}</p>"#,
            escape(&t.hold[0].replace("{amount}", amount))
        ),
        _ => body,
    };
    let (head, note) = match refresh_secs {
        Some(secs) => (
            format!(
                "<meta http-equiv=\"refresh\" content=\"{secs}; url={}\">\n",
                escape(self_url)
            ),
            format!(
                r#"<p class="note">{} <a href="{}">{}</a></p>"#,
                escape(&t.lane_refresh[0].replace("{n}", &secs.to_string())),
                escape(self_url),
                escape(t.lane_refresh[1]),
            ),
        ),
        None => (String::new(), String::new()),
    };
    let main = format!(
        r#"<main id="room" data-state="{state}" aria-labelledby="headline">
{sale_line}
<h1 id="headline">{h}</h1>
<p class="message">{m}</p>
{body}
{note}
</main>"#,
        state = view.state(),
        sale_line = sale_line(t, sale),
        h = escape(&h),
        m = escape(&m),
    );
    layout(t, brand, sale, &head, &main)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{DE, EN};

    fn brand() -> Brand {
        Brand {
            name: "Shop <&>".into(),
            color: "#0b57d0".into(),
            logo_url: Some("https://cdn.example/logo.svg?a=1&b=\"2\"".into()),
            css: String::new(),
        }
    }

    #[test]
    fn room_escapes_branding_and_keeps_the_boot_json_inside_its_script() {
        let sale = SaleId::parse("drop-1").unwrap();
        let html = room(&EN, &brand(), &sale, "/queue/drop-1", true);
        assert!(html.contains("Shop &lt;&amp;&gt;"));
        assert!(html.contains("logo.svg?a=1&amp;b=&quot;2&quot;"));
        assert!(html.contains(r#"<html lang="en">"#));
        assert!(html.contains("url=/queue/drop-1"));
        let boot_start = html.find(r#"<script id="boot""#).unwrap();
        let boot_end = boot_start + html[boot_start..].find("</script>").unwrap();
        let boot = &html[boot_start..boot_end];
        assert!(!boot[1..].contains('<'), "a '<' inside the boot JSON");
    }

    #[test]
    fn lane_pages_refresh_and_speak_the_language() {
        let waiting = Lane::Waiting {
            position: 41,
            ahead: 12,
            eta_ms: 30_000,
        };
        let html = lane(
            &DE,
            &brand(),
            "drop-1",
            &waiting,
            Some(5),
            "/queue/drop-1",
            &LanePayment::None,
        );
        assert!(html.contains(r#"content="5; url=/queue/drop-1""#));
        assert!(html.contains(r#"data-state="waiting""#));
        assert!(html.contains("<dd>42</dd>") && html.contains("<dd>12</dd>"));
        assert!(html.contains("Sie stehen in der Warteschlange"));
        let admitted = Lane::Admitted {
            buy_url: "/queue/drop-1/buy".into(),
        };
        let html = lane(
            &EN,
            &brand(),
            "drop-1",
            &admitted,
            None,
            "/queue/drop-1",
            &LanePayment::None,
        );
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(html.contains(r#"<form method="post" action="/queue/drop-1/buy">"#));
        let refused = lane(
            &EN,
            &brand(),
            "x",
            &Lane::Refused(ErrorCode::UnknownSale),
            None,
            "/queue/x",
            &LanePayment::None,
        );
        assert!(refused.contains("There is no sale at this address"));
    }

    #[test]
    fn lane_pages_offer_and_show_the_card_hold() {
        let waiting = Lane::Waiting {
            position: 0,
            ahead: 0,
            eta_ms: 0,
        };
        let offer = LanePayment::Offer {
            card_url: "/queue/drop-1/card".into(),
        };
        let html = lane(&EN, &brand(), "drop-1", &waiting, Some(5), "/q", &offer);
        assert!(html.contains(r#"<a href="/queue/drop-1/card">Put card on hold</a>"#));
        let held = LanePayment::Held {
            amount: money(1500, "eur"),
        };
        let html = lane(&EN, &brand(), "drop-1", &waiting, Some(5), "/q", &held);
        assert!(html.contains("Card on hold: 15.00 EUR."), "{html}");
        let card = Lane::Card {
            action: "/queue/drop-1/hold".into(),
            error: Some(ErrorCode::CardDeclined),
        };
        let html = lane(&DE, &brand(), "drop-1", &card, None, "/q", &held);
        assert!(!html.contains("http-equiv=\"refresh\""));
        assert!(html.contains(r#"action="/queue/drop-1/hold""#));
        assert!(html.contains("Ihre Karte wurde abgelehnt"));
        assert!(
            !html.contains("reserviert: 15.00"),
            "the form page shows no hold line"
        );
        assert_eq!(money(500, "jpy"), "500 JPY");
    }
}
