//! The waiting room with its script: the page that solves the proof of work off the main
//! thread, joins, polls and buys. The script's SHA-256 is checked against the known-answer
//! vectors by `edge-worker/page.test.mjs`.

use std::sync::OnceLock;

use herdgate_core::SaleId;

use crate::config::Brand;
use crate::pages::i18n::Strings;
use crate::pages::render::{csp_hash, escape, layout, sale_line, script_json, Page};

/// The page's script, also loaded by the page's tests.
pub const SCRIPT: &str = include_str!("../../../page/waiting-room.js");

/// The script's CSP hash, worked out once per isolate (it is the same for every page).
fn script_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| csp_hash(SCRIPT))
}

/// The waiting room with its script, in state `joining`; the script takes it from there.
/// `lane_url` is the no-JavaScript lane, linked from a `<noscript>` block.
/// With `payments`, the page offers to put the buyer's card on hold while they wait. With
/// `seated` (a sale with a seat map), an admitted buyer chooses seats instead of buying an
/// item: the chooser is rendered here, hidden, and the script fills it from the seat routes.
pub fn room(
    t: &Strings,
    brand: &Brand,
    sale: &SaleId,
    lane_url: &str,
    payments: bool,
    seated: bool,
) -> Page {
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
        "seated": seated,
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
<p id="odds" class="odds" hidden></p>
<p id="entry" class="note entry" hidden></p>
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
{seats}
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
        seats = if seated {
            seat_chooser(t)
        } else {
            String::new()
        },
        lane = escape(lane_url),
        lane_link = escape(t.lane_link),
        boot = script_json(&boot),
        script = SCRIPT,
    );
    layout(t, brand, sale.as_str(), &head, &main, Some(script_hash()))
}

/// The seat chooser of a seated sale, hidden until the buyer is admitted: best available (a
/// form), the map of one section (an SVG grid the script draws into `#map`, with a list of
/// the free seats beside it for screen readers and keyboards), and the seats once held. The
/// legend's symbols are the map's own (the same classes), so what the legend says is what
/// the map shows; none of them tells a state by colour alone.
fn seat_chooser(t: &Strings) -> String {
    let count: String = (1..=4)
        .map(|n| {
            let selected = if n == 2 { " selected" } else { "" };
            format!("<option{selected}>{n}</option>")
        })
        .collect();
    let symbol = |class: &str, shape: &str, text: &str| {
        format!(
            r#"<li><svg width="24" height="24" viewBox="-12 -12 24 24" aria-hidden="true" focusable="false"><g class="seat {class}">{shape}<path class="cross" d="M-5 -5L5 5M5 -5L-5 5"/></g></svg>{}</li>"#,
            escape(text)
        )
    };
    let circle = r#"<circle class="shape" r="10"/>"#;
    let square = r#"<rect class="shape" x="-10" y="-10" width="20" height="20" rx="3"/>"#;
    let legend = [
        symbol("free", circle, t.seat_legend[0]),
        symbol("free picked", circle, t.seat_legend[1]),
        symbol("held", circle, t.seat_legend[2]),
        symbol("sold", circle, t.seat_legend[3]),
        symbol("free", square, t.seat_legend[4]),
    ]
    .concat();
    format!(
        r#"<section id="seats" class="seats" hidden aria-labelledby="seats-title">
  <h2 id="seats-title" class="sr-only">{s0}</h2>
  <p id="seat-error" class="error" role="alert"></p>
  <div id="seat-offer" hidden><button id="seat-offer-hold" class="buy" type="button">{o1}</button></div>
  <div id="seat-choose">
    <form id="seat-best" class="card" novalidate>
      <fieldset>
        <legend>{s1}</legend>
        <label for="best-count">{s2}</label>
        <select id="best-count">{count}</select>
        <label for="best-section">{s3}</label>
        <select id="best-section"><option value="">{s4}</option></select>
        <label for="best-tier">{s5}</label>
        <select id="best-tier"><option value="">{s6}</option></select>
        <label class="check"><input id="best-wheelchair" type="checkbox"> {s7}</label>
        <button id="best-find" class="buy" type="submit">{s8}</button>
      </fieldset>
    </form>
    <div class="pick">
      <h3 id="map-title">{m0}</h3>
      <label for="map-section">{s3}</label>
      <select id="map-section"></select>
      <ul class="legend">{legend}</ul>
      <p id="map-tiers" class="note"></p>
      <div id="map" class="map"></div>
      <p id="map-help" class="note">{m2}</p>
      <details class="seat-list"><summary>{m3}</summary><div id="seat-list"></div></details>
      <p id="picked" class="picked">{m7}</p>
      <button id="hold-picked" class="buy" type="button" disabled>{m8}</button>
    </div>
  </div>
  <div id="seat-hold" hidden>
    <h3>{h0}</h3>
    <ul id="held-seats" class="held"></ul>
    <p id="held-amount" class="hold"></p>
    <p id="countdown" class="countdown"></p>
    <button id="confirm-seats" class="buy" type="button">{h4}</button>
    <button id="release-seats" class="secondary" type="button">{h5}</button>
  </div>
</section>"#,
        s0 = escape(t.seats[0]),
        s1 = escape(t.seats[1]),
        s2 = escape(t.seats[2]),
        s3 = escape(t.seats[3]),
        s4 = escape(t.seats[4]),
        s5 = escape(t.seats[5]),
        s6 = escape(t.seats[6]),
        s7 = escape(t.seats[7]),
        s8 = escape(t.seats[8]),
        m0 = escape(t.seat_map[0]),
        m2 = escape(t.seat_map[2]),
        m3 = escape(t.seat_map[3]),
        m7 = escape(t.seat_map[7]),
        m8 = escape(t.seat_map[8]),
        h0 = escape(t.seat_hold[0]),
        h4 = escape(t.seat_hold[4]),
        h5 = escape(t.seat_hold[5]),
        o1 = escape(t.seat_offer[1]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::i18n::EN;

    use crate::pages::render::test_brand as brand;

    #[test]
    fn room_escapes_branding_and_keeps_the_boot_json_inside_its_script() {
        let sale = SaleId::parse("drop-1").unwrap();
        let html = room(&EN, &brand(), &sale, "/queue/drop-1", true, false).html;
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
    fn a_seated_sale_s_room_carries_the_hidden_seat_chooser() {
        let sale = SaleId::parse("gig").unwrap();
        let seated = room(&EN, &brand(), &sale, "/queue/gig", false, true).html;
        assert!(seated.contains(r#""seated":true"#));
        assert!(seated.contains(r#"<section id="seats" class="seats" hidden"#));
        assert!(seated.contains("Hold selected seats"));
        // The page's policy forbids inline styles: the chooser has none.
        assert!(!seated.contains(" style="));
        let items = room(&EN, &brand(), &sale, "/queue/gig", false, false).html;
        assert!(items.contains(r#""seated":false"#));
        assert!(!items.contains(r#"id="seats""#));
    }

    #[test]
    fn the_policy_allows_the_page_s_own_script_and_style_by_hash_only() {
        let sale = SaleId::parse("drop-1").unwrap();
        let page = room(&EN, &brand(), &sale, "/queue/drop-1", false, true);
        let inline = |open: &str, close: &str| {
            let start = page.html.find(open).unwrap() + open.len();
            let end = start + page.html[start..].find(close).unwrap();
            page.html[start..end].to_owned()
        };
        let script = inline("<script>", "</script>");
        assert_eq!(script, SCRIPT);
        let style = inline("<style>", "</style>");
        assert!(
            page.csp
                .contains(&format!("script-src {};", csp_hash(&script))),
            "{}",
            page.csp
        );
        assert!(
            page.csp
                .contains(&format!("style-src {};", csp_hash(&style))),
            "{}",
            page.csp
        );
        assert!(!page.csp.contains("unsafe"), "{}", page.csp);
        assert!(page.csp.contains("worker-src blob:"), "{}", page.csp);
        // A known SHA-256 in CSP's form: base64 with padding.
        assert_eq!(
            csp_hash("abc"),
            "'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='"
        );
    }
}
