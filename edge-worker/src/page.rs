//! The waiting-room page: HTML, CSS and JavaScript in one response, no external assets.
//!
//! The script asks for a challenge, solves the proof-of-work in a Web Worker (so the page stays
//! responsive, with visible progress), joins, then polls the status endpoint as often as the
//! edge says, and shows position, people ahead and an ETA. When admitted it offers the buy
//! button; the pass travels as a cookie. The page's JavaScript SHA-256 is checked against the
//! known-answer vectors by `edge-worker/page.test.mjs`.

use herdgate_core::wire::SaleState;

/// The page's script, also loaded by the page's tests.
pub const SCRIPT: &str = include_str!("../page/waiting-room.js");

/// The waiting room for `state`'s sale.
pub fn render(state: &SaleState) -> String {
    let boot = serde_json::json!({
        "sale": state.sale,
        "api": format!("/api/v1/sales/{}", state.sale),
    });
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Waiting room · {sale}</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; color: #1a1a1a; }}
  h1 {{ font-size: 1.4rem; }}
  .card {{ border: 1px solid #ccc; border-radius: .75rem; padding: 1rem 1.25rem; }}
  progress {{ width: 100%; height: 1rem; }}
  dl {{ display: grid; grid-template-columns: auto 1fr; gap: .25rem 1rem; }}
  dt {{ color: #555; }}
  button {{ font-size: 1.1rem; padding: .6rem 1.4rem; border-radius: .5rem; border: 0; background: #0b57d0; color: white; cursor: pointer; }}
  button[disabled] {{ background: #999; cursor: default; }}
</style>
</head>
<body>
<main>
  <h1>You are in line for <span id="sale">{sale}</span></h1>
  <div class="card">
    <p id="message" role="status" aria-live="polite">Getting you a place in line…</p>
    <progress id="work" max="100" value="0" hidden></progress>
    <dl id="numbers" hidden>
      <dt>Your position</dt><dd id="position">–</dd>
      <dt>People ahead</dt><dd id="ahead">–</dd>
      <dt>Estimated wait</dt><dd id="eta">–</dd>
    </dl>
    <p><button id="buy" hidden>Buy now</button></p>
  </div>
  <noscript><p>This waiting room needs JavaScript.</p></noscript>
</main>
<script id="boot" type="application/json">{boot}</script>
<script>{script}</script>
</body>
</html>"#,
        sale = state.sale,
        boot = boot,
        script = SCRIPT,
    )
}
