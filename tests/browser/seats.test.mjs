// A seated sale's waiting room as people use it: real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) against the worker under workerd, the real
// origin and Redis.
//
// Started by tests/it/browser.rs (`seats_in_chromium`), which runs the stack, creates the sale
// and loads its seat map (sections A and B, rows 1 to 4 of 8 seats, rows 1 and 2 "front" at
// 90.00, rows 3 and 4 "back" at 40.00), and passes them in:
//   HERDGATE_EDGE_URL, HERDGATE_SALE  (required)
//   HERDGATE_PAID_SALE     the same map in a sale that takes card holds, 90.00 a seat at most
//                          (required)
//   HERDGATE_RESULT        file to write {order, seats} to, and HERDGATE_RESULT + ".paid" the
//                          paid sale's {order}, for the Rust side to check
//   HERDGATE_SCREENSHOTS   directory to write seats-map.png and seats-hold.png to (optional)
//   HERDGATE_CHROMIUM      browser executable (default /usr/bin/chromium)
//
// The chooser is checked with axe-core (no serious or critical violation) with the map and
// its list shown, and again once seats are held; the pages run under the policy the edge
// sends, and must cause no CSP violation.
import test from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const EDGE = process.env.HERDGATE_EDGE_URL.replace(/\/$/, "");
const SALE = process.env.HERDGATE_SALE;
const PAID = process.env.HERDGATE_PAID_SALE;
const SHOTS = process.env.HERDGATE_SCREENSHOTS;

let browser;
test.before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.HERDGATE_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
});
test.after(async () => {
  await browser?.close();
});

/// A browser context: one buyer, phone-sized, recording CSP violations as
/// tests/browser/waiting-room.test.mjs does.
async function buyer() {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 720 }, locale: "en-US" });
  await ctx.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return ctx;
}

const state = (page) => page.locator("main").getAttribute("data-state");

/// Waits until the page's <main data-state> is `name`.
async function until(page, name, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const now = await state(page).catch(() => null);
    if (now === name) return;
    if (now === "refused" && name !== "refused") {
      throw new Error(`refused: ${await page.locator("main").innerText()}`);
    }
    if (Date.now() > deadline) throw new Error(`still '${now}' after ${timeout} ms, waiting for '${name}'`);
    await page.waitForTimeout(50);
  }
}

/// No CSP violation, and no serious or critical axe violation. axe is evaluated through the
/// DevTools protocol: the page's policy allows no script but its own.
async function accessible(page, label) {
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), [], `${label}: CSP violations`);
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")), help: v.help }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${label}: accessibility violations ${JSON.stringify(bad)}`);
}

/// A screenshot of the page, or of `target` (a locator) alone.
async function shot(page, name, target) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await (target || page).screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/// The seat ids of the elements `selector` matches, in document order.
const seatsOf = (page, selector) => page.locator(selector).evaluateAll((els) => els.map((e) => e.dataset.seat));

/// Whether seat ids `a` and `b` are side by side in one row.
function besides(a, b) {
  const [sa, ra, na] = a.split("/");
  const [sb, rb, nb] = b.split("/");
  return sa === sb && ra === rb && Math.abs(Number(na) - Number(nb)) === 1;
}

test("a buyer picks two seats with the keyboard, holds and buys them; another takes the best two", async () => {
  const ctx = await buyer();
  const page = await ctx.newPage();
  await page.goto(`${EDGE}/sales/${SALE}`);
  await until(page, "admitted");
  // A seated sale: the seat chooser, not the buy button.
  await page.locator("#seats").waitFor();
  assert.equal(await page.locator("#buy").isVisible(), false);
  assert.equal(await page.locator("h1").innerText(), "Choose your seats");
  // The map of the first section with free seats, every seat a cell of the grid, and the
  // tiers' letters explained in words.
  const first = page.locator('#seat-map [role="gridcell"][tabindex="0"]');
  await first.waitFor();
  assert.equal(await page.locator("#seat-map").getAttribute("aria-label"), "Seats of section A");
  assert.equal(await page.locator('#seat-map [role="gridcell"]').count(), 32);
  assert.equal(await page.locator('#seat-map [tabindex="0"]').count(), 1, "one tab stop in the map");
  const tiers = await page.locator("#map-tiers").innerText();
  assert.match(tiers, /F: front, 90\.00/);
  assert.match(tiers, /B: back, 40\.00/);
  assert.equal(await page.locator('#best-tier option[value="front"]').textContent(), "front — 90.00");
  await page.locator(".pick").scrollIntoViewIfNeeded();
  await shot(page, "seats-map", page.locator(".pick"));
  // axe with the list of free seats open too: it is the map's other way in.
  await page.locator(".seat-list summary").click();
  await accessible(page, "seats-map");

  // Two seats side by side with the keyboard alone: the map's tab stop, Space, right, Space.
  const a = await first.getAttribute("data-seat");
  assert.equal(a, "A/1/1");
  assert.equal(await first.getAttribute("aria-label"), "Section A, row 1, seat 1, front 90.00, free");
  await first.focus();
  await page.keyboard.press("Space");
  await page.keyboard.press("ArrowRight");
  const b = await page.evaluate(() => document.activeElement.getAttribute("data-seat"));
  assert.ok(besides(a, b), `${a} and ${b}`);
  await page.keyboard.press("Space");
  assert.deepEqual(await seatsOf(page, '#seat-map [aria-selected="true"]'), [a, b]);
  // The list shows the same choice.
  assert.deepEqual(await seatsOf(page, "#seat-list input:checked"), [a, b]);
  assert.match(await page.locator("#picked").innerText(), /Selected: Section A, row 1, seat 1; Section A, row 1, seat 2\./);
  await page.locator("#hold-picked").focus();
  await page.keyboard.press("Enter");
  await until(page, "holding");

  // The hold: the seats, their total, and a countdown that moves.
  assert.deepEqual((await seatsOf(page, "#held-seats li")).sort(), [a, b].sort());
  assert.equal(await page.locator("#held-amount").innerText(), "Total: 180.00");
  const left = await page.locator("#countdown").innerText();
  assert.match(left, /^Time left to buy: 0:\d\d$/);
  await page.waitForFunction((before) => document.getElementById("countdown").textContent !== before, left, { timeout: 3_000 });
  await accessible(page, "seats-hold");
  await shot(page, "seats-hold");
  // A reload loses the page's hold; asking for seats again takes it up, not new ones.
  await page.reload();
  await until(page, "admitted");
  await page.locator('#best-section option[value="B"]').waitFor({ state: "attached" });
  await page.selectOption("#best-section", "B");
  await page.locator("#best-find").click();
  await until(page, "holding");
  assert.deepEqual((await seatsOf(page, "#held-seats li")).sort(), [a, b].sort());
  await page.locator("#confirm-seats").click();
  await until(page, "bought");
  const order = await page.locator("#order").innerText();
  assert.ok(order.startsWith(SALE), order);
  assert.ok((await page.locator("#message").innerText()).includes(order));
  assert.equal(await page.locator("#seats").isVisible(), false);

  // Another buyer: the first one's seats show sold, in words as well as by shape.
  const other = await buyer();
  const second = await other.newPage();
  await second.goto(`${EDGE}/sales/${SALE}`);
  await until(second, "admitted");
  for (const id of [a, b]) {
    await second.locator(`#seat-map [data-seat="${id}"][aria-label$=", sold"]`).waitFor({ timeout: 10_000 });
  }
  // Best available: two together in section A, which are not the first buyer's.
  await second.locator('#best-section option[value="A"]').waitFor({ state: "attached" });
  await second.selectOption("#best-count", "2");
  await second.selectOption("#best-section", "A");
  await second.locator("#best-find").click();
  await until(second, "holding");
  const best = await seatsOf(second, "#held-seats li");
  assert.equal(best.length, 2, JSON.stringify(best));
  assert.ok(best.every((id) => id.startsWith("A/") && ![a, b].includes(id)), JSON.stringify(best));
  assert.ok(besides(best[0], best[1]), JSON.stringify(best));
  await accessible(second, "seats-hold-best");
  // Given back: choosing again, and the seats free again on the map.
  await second.locator("#release-seats").click();
  await until(second, "admitted");
  assert.match(await second.locator("#message").innerText(), /You gave the seats back/);
  for (const id of best) {
    await second.locator(`#seat-map [data-seat="${id}"][aria-label$=", free"]`).waitFor({ timeout: 10_000 });
  }

  if (process.env.HERDGATE_RESULT) {
    writeFileSync(process.env.HERDGATE_RESULT, JSON.stringify({ order, seats: [a, b] }));
  }
  await ctx.close();
  await other.close();
});

/// Types a card into the page's card form and submits it.
async function holdCard(page, number) {
  await page.locator("#cc-number").fill(number);
  await page.locator("#cc-exp").fill("12/30");
  await page.locator("#cc-csc").fill("123");
  await page.locator("#hold-card").click();
}

test("in a sale with card holds, seats are held only with a card on hold, and buying charges their price", async () => {
  assert.ok(PAID, "HERDGATE_PAID_SALE");
  const ctx = await buyer();
  const page = await ctx.newPage();
  await page.goto(`${EDGE}/sales/${PAID}`);
  await until(page, "admitted");
  await page.locator("#seats").waitFor();
  // Choosing without a card on hold: the card form shows, and "hold" asks for a card first.
  assert.equal(await page.locator("#card").isVisible(), true);
  await page.locator('#best-section option[value="A"]').waitFor({ state: "attached" });
  await page.selectOption("#best-count", "2");
  await page.selectOption("#best-section", "A");
  await page.locator("#best-find").click();
  assert.match(await page.locator("#card-error").innerText(), /Put your card on hold/);
  assert.equal(await state(page), "admitted");
  // With the card on hold (4 seats at 90.00 at most), the best two are held and bought, and
  // the card is charged their price only.
  await holdCard(page, "4242424242424242");
  await page.waitForFunction(() => /Card on hold/.test(document.getElementById("hold").textContent), null, { timeout: 15_000 });
  assert.match(await page.locator("#hold").innerText(), /Card on hold: €360\.00/);
  assert.equal(await page.locator("#card").isVisible(), false);
  await accessible(page, "seats-paid-choosing");
  await page.locator("#best-find").click();
  await until(page, "holding");
  assert.equal(await page.locator("#held-amount").innerText(), "Total: 180.00");
  await page.locator("#confirm-seats").click();
  await until(page, "bought");
  assert.match(await page.locator("#hold").innerText(), /Charged: €180\.00/);
  await accessible(page, "seats-paid-bought");
  const order = await page.locator("#order").innerText();
  assert.ok(order.startsWith(PAID), order);
  if (process.env.HERDGATE_RESULT) {
    writeFileSync(`${process.env.HERDGATE_RESULT}.paid`, JSON.stringify({ order }));
  }
  await ctx.close();
});
