//! The pages' HTML and CSS: one response each, no external assets.
//!
//! Both lanes share one layout (this file) and one table of sentences
//! ([`crate::pages::i18n`]); `room.rs` renders the page with its script, `lane.rs` the
//! no-JavaScript pages. Branding comes from `vars` (`BRAND_NAME`, `BRAND_COLOR`,
//! `BRAND_LOGO_URL`, `BRAND_CSS`), so a deployer restyles the page without rebuilding the wasm.
//!
//! Every page comes with its Content-Security-Policy ([`Page::csp`]): nothing runs or loads
//! but the page's own inline style and script, each allowed by its SHA-256, so markup that
//! slipped in (through a brand setting, say) could neither run a script nor send a form
//! elsewhere, and no other site may frame the page.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::config::Brand;
use crate::pages::i18n::Strings;

mod lane;
mod room;

pub use lane::{lane, money, Lane, LanePayment, FORM_TOKEN_FIELD};
pub use room::{room, SCRIPT};

/// A page as the edge serves it: its HTML, and the Content-Security-Policy that lets exactly
/// its own inline style and script (if any) run.
#[derive(Debug, Clone)]
pub struct Page {
    /// The document.
    pub html: String,
    /// The `Content-Security-Policy` header's value.
    pub csp: String,
}

/// A CSP source expression for inline `content`: `'sha256-<base64>'`.
pub(crate) fn csp_hash(content: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(content.as_bytes()))
    )
}

/// The policy of a page whose inline style has CSP hash `style` and whose inline script, if
/// any, has `script`.
///
/// Nothing is allowed by default. The style and the script only by hash (no
/// `'unsafe-inline'`); the script may call its own origin (`connect-src`) and start its proof
/// of work solver from a `blob:` URL (`worker-src`). Images and fonts (the brand's logo and
/// `BRAND_CSS`) may come from this origin, any https origin or `data:`. Forms post only here,
/// no page may frame this one, `<base>` and plugins are off.
fn policy(style: &str, script: Option<&str>) -> String {
    let script = match script {
        Some(hash) => format!("script-src {hash}; connect-src 'self'; worker-src blob:"),
        None => "script-src 'none'".to_owned(),
    };
    format!(
        "default-src 'none'; {script}; style-src {style}; img-src 'self' https: data:; \
         font-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'; object-src 'none'"
    )
}

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
pub(crate) fn script_json(value: &serde_json::Value) -> String {
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
  .entry { overflow-wrap: anywhere; }
  .odds { margin: 0 0 1rem; }
  .hold { font-weight: 600; margin: 0 0 1rem; }
  .card fieldset { border: 1px solid #d0d4da; border-radius: .6rem; margin: 1rem 0 0; padding: .75rem 1rem 1rem; }
  .card legend { font-weight: 600; padding: 0 .3rem; }
  .card label { display: block; font-size: .95rem; color: #4a4f57; margin-top: .5rem; }
  .card input { width: 100%; font-size: 1.05rem; padding: .5rem .6rem; border: 1px solid #6b7079; border-radius: .4rem; }
  .card .row { display: grid; grid-template-columns: 1fr 1fr; gap: .75rem; }
  .card .buy { margin-top: .75rem; }
  .seats h3 { font-size: 1.1rem; margin: 1.5rem 0 .25rem; }
  .seats label { display: block; font-size: .95rem; color: #4a4f57; margin-top: .5rem; }
  .seats select { width: 100%; font-size: 1.05rem; padding: .45rem .5rem; border: 1px solid #6b7079; border-radius: .4rem; background: #fff; color: #1a1a1a; }
  .seats .check { display: flex; align-items: center; gap: .5rem; color: #1a1a1a; margin-top: .75rem; }
  .seats .check input { width: 1.2rem; height: 1.2rem; margin: 0; }
  .seats .buy { margin-top: .75rem; }
  .secondary { display: block; width: 100%; font-size: 1.05rem; font-weight: 600; padding: .7rem 1rem; border-radius: .6rem; border: 2px solid #1a1a1a; background: #fff; color: #1a1a1a; cursor: pointer; margin-top: .75rem; }
  .secondary:focus-visible { outline: 3px solid #1a1a1a; outline-offset: 2px; }
  .legend { list-style: none; padding: 0; margin: .75rem 0 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .9rem; }
  .legend li { display: flex; align-items: center; gap: .35rem; }
  .map { overflow-x: auto; margin: .5rem 0 0; }
  .map svg { display: block; }
  .seat { cursor: pointer; }
  .seat:focus { outline: none; }
  .seat .shape { fill: #fff; stroke: #1a1a1a; stroke-width: 1.5; }
  .seat .mark { font-size: 11px; font-weight: 600; fill: #1a1a1a; text-anchor: middle; dominant-baseline: central; pointer-events: none; }
  .seat .cross { stroke: #fff; stroke-width: 2; display: none; }
  .seat .ring { fill: none; stroke: none; stroke-width: 2.5; }
  .seat:focus .ring { stroke: #1a1a1a; }
  .seat.picked .shape { fill: #0b4aa8; stroke: #0b4aa8; }
  .seat.picked .mark { fill: #fff; }
  .seat.held .shape { stroke: #6b7079; stroke-dasharray: 3 2; }
  .seat.sold .shape { fill: #4a4f57; stroke: #4a4f57; }
  .seat.sold .cross { display: inline; }
  .seat.held .mark, .seat.sold .mark { display: none; }
  .seat.held, .seat.sold, .legend .seat { cursor: default; }
  .row-label { font-size: 11px; fill: #4a4f57; text-anchor: end; dominant-baseline: central; }
  .seat-list { margin: .5rem 0; }
  .seat-list summary { cursor: pointer; color: #0b4aa8; }
  .seat-list fieldset { border: 0; padding: 0; margin: .5rem 0 0; }
  .seat-list legend { font-weight: 600; padding: 0; }
  .seat-list label { display: flex; align-items: center; gap: .5rem; margin: .25rem 0 0; color: #1a1a1a; }
  .picked { margin: .75rem 0 0; }
  .held { margin: .25rem 0 .5rem; padding-left: 1.25rem; }
  .countdown { font-size: 1.1rem; font-weight: 600; font-variant-numeric: tabular-nums; margin: 0; }
  .error { color: #b3261e; margin: .5rem 0 0; }
  .error:empty { display: none; }
  a { color: #0b4aa8; }
  .sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden; clip: rect(0,0,0,0); white-space: nowrap; border: 0; }
  [hidden] { display: none !important; }
  @media (min-width: 40rem) { .wrap { padding-top: 3rem; } }
"#;

/// The page skeleton around `main`: language, title, branding, optional extra `<head>` lines;
/// `script` is the CSP hash of the inline script `main` carries, if it carries one.
pub(crate) fn layout(
    t: &Strings,
    brand: &Brand,
    sale: &str,
    head: &str,
    main: &str,
    script: Option<&str>,
) -> Page {
    let logo = brand
        .logo_url
        .as_deref()
        .map(|url| format!(r#"<img src="{}" alt="">"#, escape(url)))
        .unwrap_or_default();
    let style = format!("{}{}", STYLE.replace("ACCENT", &brand.color), brand.css);
    let html = format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
{head}<title>{title}{sale} · {brand_name}</title>
<style>{style}</style>
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
        style = style,
        logo = logo,
        head = head,
        main = main,
        sale = if sale.is_empty() {
            String::new()
        } else {
            format!(" · {}", escape(sale))
        },
    );
    Page {
        html,
        csp: policy(&csp_hash(&style), script),
    }
}

pub(crate) fn sale_line(t: &Strings, sale: &str) -> String {
    format!(
        r#"<p class="sale">{}</p>"#,
        escape(&t.sale_line.replace("{sale}", sale))
    )
}

/// A brand with every character that needs escaping, for the pages' tests.
#[cfg(test)]
pub(crate) fn test_brand() -> Brand {
    Brand {
        name: "Shop <&>".into(),
        color: "#0b57d0".into(),
        logo_url: Some("https://cdn.example/logo.svg?a=1&b=\"2\"".into()),
        css: String::new(),
    }
}
