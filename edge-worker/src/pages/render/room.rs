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
/// With `payments`, the page offers to put the buyer's card on hold while they wait.
pub fn room(t: &Strings, brand: &Brand, sale: &SaleId, lane_url: &str, payments: bool) -> Page {
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
    layout(t, brand, sale.as_str(), &head, &main, Some(script_hash()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::i18n::EN;

    use crate::pages::render::test_brand as brand;

    #[test]
    fn room_escapes_branding_and_keeps_the_boot_json_inside_its_script() {
        let sale = SaleId::parse("drop-1").unwrap();
        let html = room(&EN, &brand(), &sale, "/queue/drop-1", true).html;
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
    fn the_policy_allows_the_page_s_own_script_and_style_by_hash_only() {
        let sale = SaleId::parse("drop-1").unwrap();
        let page = room(&EN, &brand(), &sale, "/queue/drop-1", false);
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
