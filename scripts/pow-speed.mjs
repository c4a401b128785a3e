// Measures the waiting room's proof-of-work solver (edge-worker/page/waiting-room.js, the same
// code the page runs in its Web Worker) in Debian's headless Chromium: hashes per second on
// this machine ("desktop-class"), and with Chromium's CPU throttling at 4x, the setting
// Lighthouse uses to stand for a mid-range phone ("phone-class"). Prints JSON with the
// expected solve time for each difficulty.
//
//   node_modules/.bin/node scripts/pow-speed.mjs [--seconds 3]
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const source = readFileSync(path.join(here, "../edge-worker/page/waiting-room.js"), "utf8");
const seconds = Number(process.argv[process.argv.indexOf("--seconds") + 1]) || 3;

const browser = await chromium.launch({
  executablePath: process.env.HERDGATE_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
async function rate(throttle) {
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
  // Loaded as a CommonJS module so it only defines the hashing functions.
  await page.setContent("<html><body></body></html>");
  const hashes = await page.evaluate(
    ({ source, ms }) => {
      const module = { exports: {} };
      new Function("module", "exports", source)(module, module.exports);
      const { powDigest, leadingZeroBits } = module.exports;
      const bytes = new TextEncoder().encode("hg1.chal.e1.eyJzYWxlIjoiZHJvcC0xIn0.speed-test-challenge-tag");
      let n = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        for (let i = 0; i < 1024; i++) leadingZeroBits(powDigest(bytes, n++));
      }
      return n;
    },
    { source, ms: seconds * 1000 },
  );
  await page.close();
  return hashes / seconds;
}
const desktop = await rate(1);
const phone = await rate(4);
await browser.close();
const table = {};
for (const bits of [16, 17, 18, 20, 22, 24, 26]) {
  const expected = 2 ** bits;
  table[bits] = { desktop_s: +(expected / desktop).toFixed(2), phone_s: +(expected / phone).toFixed(2) };
}
console.log(JSON.stringify({ desktop_hashes_per_s: Math.round(desktop), phone_hashes_per_s: Math.round(phone), expected_solve_seconds: table }, null, 2));
