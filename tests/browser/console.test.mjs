// The operator's console in real headless Chromium during a herd: the login, the numbers
// moving while the crowd buys and ending equal to what the herd counted, a control with its
// confirmation, axe-core on every state and no Content-Security-Policy violation.
//
// Started by tests/it/browser.rs (`console_in_chromium`), which runs the stack and the herd:
//   HERDGATE_ORIGIN_URL, HERDGATE_ADMIN_TOKEN, HERDGATE_SALE   (required)
//   HERDGATE_READY    file this script writes once the console is open (the herd then starts)
//   HERDGATE_TRUTH    file the Rust side writes when the herd is done: what the herd counted
//   HERDGATE_RESULT   file this script writes: what the page showed, for the Rust side to check
//   HERDGATE_SCREENSHOTS   directory for the README's screenshots (optional)
//   HERDGATE_CHROMIUM      browser executable (default /usr/bin/chromium)
import test from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const ORIGIN = process.env.HERDGATE_ORIGIN_URL.replace(/\/$/, "");
const ADMIN = process.env.HERDGATE_ADMIN_TOKEN;
const SALE = process.env.HERDGATE_SALE;
const SHOTS = process.env.HERDGATE_SCREENSHOTS;
const result = { seen: [], final: null, paused: null };

let browser;
test.before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.HERDGATE_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
});
test.after(async () => {
  await browser?.close();
  if (process.env.HERDGATE_RESULT) writeFileSync(process.env.HERDGATE_RESULT, JSON.stringify(result));
});

async function accessible(page, label) {
  await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const bad = found.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${label}: accessibility violations ${JSON.stringify(bad)}`);
}

async function check(page, name) {
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], `${name}: CSP violations`);
  await accessible(page, name);
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  }
}

/// The numbers the console shows, as numbers (null for "–").
function readNumbers(page) {
  return page.evaluate(() => {
    const n = (id) => {
      const t = document.getElementById(id).textContent.replace(/,/g, "").trim();
      return t === "–" || t === "" ? null : Number(t);
    };
    return {
      t: Date.now(),
      joined: n("joined"),
      admitted: n("admitted"),
      orders: n("orders"),
      sold: n("sold"),
      remaining: n("remaining"),
      in_line: n("in-line"),
      frontier: n("frontier"),
      holds: n("holds"),
      refusals: Object.fromEntries(
        [...document.querySelectorAll("#refusals tr[data-code]")].map((tr) => [tr.dataset.code, Number(tr.cells[1].textContent.replace(/,/g, ""))]),
      ),
    };
  });
}

const close = (shown, truth) => shown !== null && Math.abs(shown - truth) <= Math.max(1, Math.ceil(truth * 0.01));

test("the console shows the sale live, equal to what the herd counted", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US" });
  await ctx.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await ctx.newPage();

  // The login form; a wrong token is refused with the server's sentence.
  await page.goto(`${ORIGIN}/admin/`);
  await check(page, "console-login");
  await page.fill("#token", "not-the-admin-token-at-all");
  await page.click("button[type=submit]");
  await page.waitForSelector('.error[data-code="unauthorized"]');
  await accessible(page, "console-login-refused");
  await page.fill("#token", ADMIN);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
  assert.equal(new URL(page.url()).pathname, "/admin/");
  // The token is nowhere in the page, its URL or its cookies' values.
  assert.ok(!(await page.content()).includes(ADMIN) && !page.url().includes(ADMIN));
  const cookies = await ctx.cookies();
  assert.ok(cookies.every((c) => !c.value.includes(ADMIN)));
  assert.ok(cookies.find((c) => c.name === "herdgate_console")?.httpOnly);

  await page.goto(`${ORIGIN}/admin/#${SALE}`);
  await page.waitForSelector("#updated");
  if (process.env.HERDGATE_READY) writeFileSync(process.env.HERDGATE_READY, "ready");

  // While the herd runs: the numbers as they move, until the truth comes and the page agrees.
  let truth = null;
  let truthAt = 0;
  let shotLive = false;
  for (;;) {
    const n = await readNumbers(page);
    result.seen.push(n);
    if (!shotLive && n.orders > 0 && n.remaining > 0) {
      shotLive = true;
      await check(page, "console-live");
    }
    if (!truth && process.env.HERDGATE_TRUTH && existsSync(process.env.HERDGATE_TRUTH)) {
      truth = JSON.parse(readFileSync(process.env.HERDGATE_TRUTH, "utf8"));
      truthAt = Date.now();
    }
    if (truth) {
      const agrees = n.orders === truth.orders && n.sold === truth.sold && close(n.joined, truth.joined) && close(n.admitted, truth.admitted);
      if (agrees || Date.now() - truthAt > 30000) break;
    }
    await page.waitForTimeout(250);
  }
  // The page's own clock moved on: take the final reading after one more refresh.
  await page.waitForTimeout(1500);
  result.final = await readNumbers(page);
  await check(page, "console-sold-out");

  // A control asks first: cancelled, nothing changes; confirmed, admission pauses.
  await page.click("#pause");
  await page.waitForSelector("#confirm[open]");
  await accessible(page, "console-confirm");
  await page.click('#confirm button[value="cancel"]');
  await page.waitForTimeout(500);
  const before = await (await fetch(`${ORIGIN}/admin/v1/sales/${SALE}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
  assert.equal(before.state.paused, false);
  await page.click("#pause");
  await page.waitForSelector("#confirm[open]");
  await page.click("#confirm-ok");
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("paused"));
  const after = await (await fetch(`${ORIGIN}/admin/v1/sales/${SALE}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
  result.paused = after.state.paused;
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  await ctx.close();
});
