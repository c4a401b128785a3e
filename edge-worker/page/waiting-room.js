// herdgate waiting room: challenge → proof-of-work (Web Worker) → join → poll → buy.
// The requests that take or use a place carry a proof of possession of this browser's key (see
// `makeProof`), kept in IndexedDB with the place so that a reload keeps both.
// Also loaded by node (page.test.mjs), where only the hashing and proof functions are used.
"use strict";

// SHA-256 (FIPS 180-4) over a Uint8Array, returning a Uint8Array of 32 bytes.
function sha256(bytes) {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const bitLen = bytes.length * 8;
  const padded = new Uint8Array((((bytes.length + 9) >> 6) + 1) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) ov.setUint32(i * 4, h[i]);
  return out;
}

function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) { bits += 8; continue; }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

// SHA-256(challenge ‖ be64(nonce)), as crates/herdgate-core/src/pow.rs defines it.
function powDigest(challengeBytes, nonce) {
  const input = new Uint8Array(challengeBytes.length + 8);
  input.set(challengeBytes);
  const v = new DataView(input.buffer);
  v.setUint32(challengeBytes.length, Math.floor(nonce / 0x100000000));
  v.setUint32(challengeBytes.length + 4, nonce >>> 0);
  return sha256(input);
}

// The solver, run inside a Web Worker: reports progress every 4096 attempts.
function solverMain() {
  self.onmessage = (event) => {
    const { challenge, bits } = event.data;
    const bytes = new TextEncoder().encode(challenge);
    const expected = Math.pow(2, bits);
    for (let nonce = 0; ; nonce++) {
      if (leadingZeroBits(powDigest(bytes, nonce)) >= bits) {
        self.postMessage({ done: true, nonce });
        return;
      }
      // Progress is the chance that a solver would have finished after this many attempts.
      if ((nonce & 4095) === 4095) self.postMessage({ tried: nonce + 1, progress: 1 - Math.exp(-(nonce + 1) / expected) });
    }
  };
}

// Base64url without padding (RFC 7515) of bytes, or of a string's UTF-8 bytes.
function b64url(data) {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
  let binary = "";
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// The public key as a proof carries it: the four members of an EC public key and no others
// (an exported JWK also has `ext` and `key_ops`, which the edge does not expect).
function publicJwk(jwk) {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

// The key's RFC 7638 thumbprint, which challenges, tickets and passes carry as `jkt`: the
// SHA-256 of the required members in lexicographic order, without spaces.
function thumbprint(jwk) {
  const members = `{"crv":${JSON.stringify(jwk.crv)},"kty":${JSON.stringify(jwk.kty)},` +
    `"x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`;
  return b64url(sha256(new TextEncoder().encode(members)));
}

// The proof of possession (a DPoP-style compact JWS, ES256) of a request: `method` to `url`
// (absolute; its query and fragment are left out, as the edge compares only scheme, host and
// path), made at `iatSecs` by the server's clock, presenting `token` when there is one (its
// SHA-256 goes in as `ath`, so a proof cannot be replayed with another token). WebCrypto signs
// ECDSA as raw r‖s, which is the JWS form already.
async function makeProof(keyPair, jwk, method, url, token, iatSecs) {
  const target = new URL(url);
  target.search = "";
  target.hash = "";
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: publicJwk(jwk) };
  const payload = {
    jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
    htm: method.toUpperCase(),
    htu: target.href,
    iat: iatSecs,
  };
  if (token) payload.ath = b64url(sha256(new TextEncoder().encode(token)));
  const input = b64url(JSON.stringify(header)) + "." + b64url(JSON.stringify(payload));
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" }, keyPair.privateKey, new TextEncoder().encode(input));
  return input + "." + b64url(signature);
}

if (typeof module !== "undefined") {
  module.exports = { sha256, leadingZeroBits, powDigest, b64url, publicJwk, thumbprint, makeProof };
} else {
  (async () => {
    const boot = JSON.parse(document.getElementById("boot").textContent);
    const t = boot.t;
    const $ = (id) => document.getElementById(id);
    const api = async (path, init) => {
      const res = await fetch(boot.api + path, { credentials: "same-origin", ...init });
      clock(res);
      return res;
    };
    const fill = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? values[k] : m));
    let current = "";
    let lastPolite = "";
    // The buyer's card hold (the edge's HoldView), once there is one.
    let hold = null;
    let watchingHold = false;

    // The server's clock minus this device's, in ms, from the last API answer's Date header:
    // a proof is accepted only within seconds of the server's time, and phone clocks drift.
    let offsetMs = 0;
    function clock(res) {
      const date = res && res.headers.get("date");
      const at = date ? Date.parse(date) : NaN;
      if (!Number.isNaN(at)) offsetMs = at - Date.now();
    }

    // The page's IndexedDB database "herdgate": store "keys" keeps the proof key pair (the
    // CryptoKeyPair itself, whose private key cannot be exported, not even by this page), store
    // "places" the ticket and pass of each sale, so a reload or another tab keeps the buyer's
    // place. Where there is no IndexedDB (some private modes) or it fails, the key and the place
    // live in this page only (`memory`), for its life.
    let db = null;
    const memory = { place: null };
    // The proof key pair, its public JWK and thumbprint, or null where this browser cannot sign
    // (no WebCrypto outside a secure context): the page then goes without proofs, as an app
    // that holds no key does.
    let keys = null;

    function openDb() {
      return new Promise((resolve) => {
        let settled = false;
        const settle = (value) => {
          if (settled) { if (value) value.close(); return; }
          settled = true;
          resolve(value);
        };
        // A database that does not answer (blocked by an old tab, a browser bug) is not
        // waited for: the page works without it.
        setTimeout(() => settle(null), 3000);
        let req;
        try { req = indexedDB.open("herdgate", 1); } catch (e) { return settle(null); }
        req.onupgradeneeded = () => {
          for (const name of ["keys", "places"]) {
            if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name);
          }
        };
        req.onsuccess = () => {
          req.result.onversionchange = () => req.result.close();
          settle(req.result);
        };
        req.onerror = () => settle(null);
      });
    }

    // Runs `work(store, done)` in one transaction on store `name`; resolves with what was given
    // to `done` once the transaction has committed, and rejects if it aborts.
    function inStore(name, mode, work) {
      return new Promise((resolve, reject) => {
        const tx = db.transaction(name, mode);
        let result;
        tx.oncomplete = () => resolve(result);
        tx.onerror = tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
        work(tx.objectStore(name), (value) => { result = value; });
      });
    }

    // The stored proof key pair, or a new one, stored for the next page of this browser. Two
    // tabs that start at once may both make one: the transaction that stores it keeps the one
    // stored first, and both use that one. A key that cannot be stored (a browser that will not
    // keep CryptoKeys) is kept in memory, and so are places: a place shared with another tab or
    // page would be bound to a key they do not have.
    async function loadKeys() {
      try {
        const get = (os, done) => { const r = os.get("es256"); r.onsuccess = () => done(r.result); };
        let pair = db ? await inStore("keys", "readonly", get).catch(() => null) : null;
        if (!pair || !pair.privateKey || !pair.publicKey) {
          const fresh = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
          pair = fresh;
          if (db) {
            pair = await inStore("keys", "readwrite", (os, done) => {
              const r = os.get("es256");
              r.onsuccess = () => {
                if (r.result && r.result.privateKey && r.result.publicKey) return done(r.result);
                os.put(fresh, "es256");
                done(fresh);
              };
            }).catch(() => { db = null; return fresh; });
          }
        }
        // A public key is always exportable, whatever its pair was made with.
        const jwk = publicJwk(await crypto.subtle.exportKey("jwk", pair.publicKey));
        return { pair, jwk, jkt: thumbprint(jwk) };
      } catch (e) {
        return null;
      }
    }

    // This sale's place, {ticket, pass, jkt} (`jkt`: the key its tokens are bound to), or null.
    async function loadPlace() {
      if (db) {
        try {
          memory.place = (await inStore("places", "readonly", (os, done) => {
            const r = os.get(boot.sale);
            r.onsuccess = () => done(r.result);
          })) || null;
        } catch (e) {
          db = null;
        }
      }
      return memory.place;
    }

    // Stores the place's ticket with the pass it brought, together (a pass belongs to the
    // ticket it was earned with), when they changed. A status answer (`renewing`) only updates
    // the pass of the ticket it was for, and only while that is the stored one: a poll that was
    // under way while another tab joined or put a card on hold (which re-signs the ticket) must
    // not put the older ticket back. The copy in memory takes over if the database fails.
    async function savePlace(ticket, pass, renewing) {
      const place = { ticket, pass: pass || "", jkt: keys ? keys.jkt : "" };
      const fits = (old) => !renewing || Boolean(old && old.ticket === ticket);
      if (fits(memory.place)) memory.place = place;
      if (!db) return;
      try {
        await inStore("places", "readwrite", (os) => {
          const r = os.get(boot.sale);
          r.onsuccess = () => {
            const old = r.result;
            if (!fits(old)) return;
            if (!old || old.ticket !== place.ticket || old.pass !== place.pass || old.jkt !== place.jkt) {
              os.put(place, boot.sale);
            }
          };
        });
      } catch (e) {
        db = null;
      }
    }

    // Forgets the place whose ticket was refused; a place another tab has taken since stays.
    async function dropPlace(ticket) {
      if (memory.place && memory.place.ticket === ticket) memory.place = null;
      if (!db) return;
      try {
        await inStore("places", "readwrite", (os) => {
          const r = os.get(boot.sale);
          r.onsuccess = () => { if (r.result && r.result.ticket === ticket) os.delete(boot.sale); };
        });
      } catch (e) {
        db = null;
      }
    }

    // Keeps the ticket an answer brought (join, hold), or was for (a status: `renewing`), with
    // the pass of an admitted status.
    function keep(ticket, status, renewing = false) {
      const pass = status && status.state === "admitted" ? status.pass : "";
      return savePlace(ticket, pass, renewing);
    }

    // The proof for `method` to `path` (a URL of this page's origin) presenting `token`, by the
    // server's clock; null when this browser cannot sign.
    async function proof(method, path, token) {
      if (!keys) return null;
      try {
        const url = new URL(path, location.href).href;
        const iat = Math.floor((Date.now() + offsetMs) / 1000);
        return await makeProof(keys.pair, keys.jwk, method, url, token, iat);
      } catch (e) {
        return null;
      }
    }

    // The error code of a refusal, leaving its body to be read again.
    const codeOf = (res) =>
      res.clone().json().then((b) => (b && b.error ? b.error.code : ""), () => "");

    // An API request with its proof: `token` (the ticket or the pass) is hashed into the proof
    // and presented in `Authorization: Bearer`, the same token, so that the edge checks the one
    // that was hashed and not whichever cookie the browser holds. The join's challenge travels in
    // its body, so with `bearer` false it is hashed but not put in a header. A proof refused as
    // expired means this device's clock is off: the refusal's Date has corrected it (see `api`),
    // so a fresh proof is sent once.
    async function signed(path, init = {}, token = "", bearer = true) {
      const method = init.method || "GET";
      for (let attempt = 0; ; attempt++) {
        const headers = { ...(init.headers || {}) };
        const dpop = await proof(method, boot.api + path, token);
        if (dpop) headers.dpop = dpop;
        if (token && bearer) headers.authorization = "Bearer " + token;
        const res = await api(path, { ...init, headers });
        if (attempt > 0 || res.status !== 401 || (await codeOf(res)) !== "proof_expired") return res;
      }
    }

    // Asks for the place's status once and keeps the pass it brings: a pass that ran out is
    // renewed this way while the place stays admitted.
    async function renewPass() {
      const place = await loadPlace();
      const ticket = place ? place.ticket : "";
      const res = await signed("/status", {}, ticket).catch(() => null);
      const status = res && res.ok ? await res.json().catch(() => null) : null;
      if (status) await keep(ticket, status, true);
    }

    // Shows state `name` (one of the Strings headline pairs), with an optional message, and
    // announces it through the live region. Focus moves to the headline on a new state so a
    // screen reader starts reading there; the numbers update in place without moving focus.
    function enter(name, message, values = {}) {
      // Admitted to a seated sale, the buyer chooses seats rather than buying an item.
      const pair = name === "admitted" && boot.seated ? t.choose : t[name];
      const text = message !== undefined ? message : fill(pair[1], values);
      $("room").dataset.state = name;
      $("headline").textContent = pair[0];
      $("message").textContent = text;
      $("solving").hidden = name !== "solving";
      $("numbers").hidden = !["waiting", "paused"].includes(name);
      $("odds").hidden = name !== "waiting" || !$("odds").textContent;
      $("entry").hidden = !["entered", "waiting", "paused", "admitted"].includes(name) || !$("entry").textContent;
      $("buy").hidden = boot.seated || !["admitted", "buying"].includes(name);
      $("buy").disabled = name === "buying";
      $("order").hidden = name !== "bought";
      if (name !== current) {
        current = name;
        announce(pair[0] + ". " + text);
        if (name !== "joining" && name !== "buying") $("headline").focus();
        if (name === "sold_out") watchHold();
      }
      if (boot.seated) showSeats(name);
      syncCard();
    }

    // Minor units in the page's language, e.g. 1500 eur → "€15.00".
    function money(amount, currency) {
      try {
        const f = new Intl.NumberFormat(t.lang, { style: "currency", currency: currency.toUpperCase() });
        return f.format(amount / Math.pow(10, f.resolvedOptions().maximumFractionDigits));
      } catch (e) {
        return amount + " " + currency;
      }
    }

    // The card form shows while the buyer waits or may buy, until a card is on hold.
    function syncCard() {
      const wanted = boot.payments && ["waiting", "paused", "admitted"].includes(current) &&
        (!hold || hold.state === "released");
      $("card").hidden = !wanted;
      $("buy").disabled = current === "buying" || (boot.payments && !(hold && hold.state === "on_hold") && current === "admitted");
    }

    // Shows the hold; `releasing` is a hold on a sold-out or spent place that its queue shard
    // has not released yet.
    function showHold(releasing) {
      const el = $("hold");
      if (!hold) { el.hidden = true; syncCard(); return; }
      const state = hold.state === "on_hold" && releasing ? "releasing" : hold.state;
      const index = { on_hold: 0, charged: 1, released: 2, releasing: 3 }[state];
      const text = fill(t.hold[index], { amount: money(hold.amount, hold.currency) });
      el.hidden = false;
      el.dataset.hold = state;
      if (el.textContent !== text) { el.textContent = text; announce(text); }
      syncCard();
    }

    // After a sell-out, asks where the hold stands until its shard has released it.
    async function watchHold() {
      if (!hold || hold.state !== "on_hold" || watchingHold) return;
      watchingHold = true;
      showHold(true);
      for (let i = 0; i < 120 && hold.state === "on_hold"; i++) {
        await new Promise((r) => setTimeout(r, 3000));
        const res = await api("/hold").catch(() => null);
        const body = res && res.ok ? await res.json().catch(() => null) : null;
        if (body && body.state) { hold = body; showHold(true); }
      }
      watchingHold = false;
    }

    $("card").addEventListener("submit", async (event) => {
      event.preventDefault();
      const [month, year] = $("cc-exp").value.split("/").map((v) => parseInt(v.trim(), 10));
      const card = {
        number: $("cc-number").value.replace(/[^0-9]/g, ""),
        exp_month: month || 0,
        exp_year: year || 0,
        cvc: $("cc-csc").value.trim(),
      };
      $("hold-card").disabled = true;
      $("card-error").textContent = "";
      let res = null;
      let body = null;
      // The sale's budget of new holds is spent for this second (`holds_busy`, nothing was
      // counted): ask again after its Retry-After, a few times, before telling the buyer.
      for (let attempt = 0; attempt < 10; attempt++) {
        const place = await loadPlace();
        res = await signed("/hold", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ card }),
        }, place ? place.ticket : "").catch(() => null);
        body = res ? await res.json().catch(() => null) : null;
        if (!(res && res.status === 503 && body && body.error && body.error.code === "holds_busy")) break;
        const after = parseInt(res.headers.get("retry-after") || "1", 10);
        await new Promise((r) => setTimeout(r, 1000 * Math.min(Math.max(after, 1), 5)));
      }
      $("hold-card").disabled = false;
      if (res && res.status === 201 && body) {
        hold = body.hold;
        $("cc-number").value = ""; $("cc-csc").value = "";
        showHold(false);
        // The ticket now carries the hold; once admitted, so does the new pass. Both replace
        // the stored ones, so the purchase (and the other tabs) present them.
        await keep(body.ticket, body.status);
        if (body.status && body.status.state === "admitted") show(body.status);
        return;
      }
      const code = body && body.error ? body.error.code : "";
      if (code === "sold_out") return enter("sold_out");
      $("card-error").textContent = boot.errors[code] || (body && body.error ? body.error.message : t.refused[1]);
    });

    function announce(text) {
      if (text === lastPolite) return;
      lastPolite = text;
      $("live").textContent = text;
    }

    function eta(ms) {
      const secs = Math.ceil(ms / 1000);
      if (secs <= 1) return t.eta[0];
      if (secs < 90) return fill(t.eta[1], { n: secs });
      return fill(t.eta[2], { n: Math.ceil(secs / 60) });
    }

    function refuse(body) {
      const code = body && body.error ? body.error.code : "";
      const base = boot.errors[code] || (body && body.error ? body.error.message : "");
      enter("refused", (base ? base + " " : "") + t.refused[1]);
    }

    function solve(challenge, bits) {
      const source = [sha256, leadingZeroBits, powDigest, solverMain].map(String).join("\n") + "\nsolverMain();";
      const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
      return new Promise((resolve) => {
        worker.onmessage = ({ data }) => {
          if (data.progress !== undefined) {
            $("work").value = Math.min(99, data.progress * 100);
            $("work").dataset.tried = String(data.tried);
          }
          if (data.done) { $("work").value = 100; worker.terminate(); resolve(data.nonce); }
        };
        worker.postMessage({ challenge, bits });
      });
    }

    // A time of day in the page's language and the device's time zone, e.g. "10:00".
    function timeOfDay(ms) {
      try {
        return new Intl.DateTimeFormat(t.lang, { hour: "2-digit", minute: "2-digit" }).format(new Date(ms));
      } catch (e) {
        return new Date(ms).toISOString().slice(11, 16) + " UTC";
      }
    }

    // The honest odds of a queued status: items left, people ahead, and the chance that an
    // item is left at this buyer's turn (or that the passes out cover what is left).
    function odds(status) {
      if (status.remaining === undefined || status.chance_pct === undefined) return "";
      const first = fill(t.odds[0], { remaining: status.remaining, ahead: status.ahead });
      const second = status.stock_covered ? t.odds[3]
        : status.chance_pct === 0 ? t.odds[2]
        : fill(t.odds[1], { pct: status.chance_pct });
      return first + " " + second;
    }

    // Shows a queue status; returns the milliseconds until the next poll, or null to stop.
    function show(status) {
      if (status.position !== undefined) $("position").textContent = String(status.position + 1);
      if (status.state === "entered") {
        // In the pre-queue: the same chance for everyone here by the draw. The entry is how
        // the buyer finds themselves in the published draw.
        $("entry").textContent = fill(t.entry[0], { entry: status.entry }) + " " + t.entry[1];
        enter("entered", undefined, { time: timeOfDay(status.draw_at_ms) });
        return status.poll_after_ms || 5000;
      }
      if (status.state === "queued") {
        $("ahead").textContent = String(status.ahead);
        // An estimate of 2^50 ms or more means "not known" (behind the cap, or paused).
        $("eta").textContent = status.stock_covered || status.eta_ms >= 2 ** 50 ? "–" : eta(status.eta_ms);
        $("odds").textContent = odds(status);
        enter("waiting");
        // Position changes are announced at most when the number of people ahead changes a lot,
        // so a screen reader is not interrupted on every poll.
        const said = Number($("live").dataset.ahead || Infinity);
        if (status.ahead <= said / 2 || status.ahead === 0) {
          $("live").dataset.ahead = String(status.ahead);
          announce(t.numbers[1] + ": " + status.ahead + ". " + t.numbers[2] + ": " + eta(status.eta_ms) + ".");
        }
        return status.poll_after_ms || 2000;
      }
      if (status.state === "paused") {
        $("ahead").textContent = "–";
        $("eta").textContent = "–";
        enter("paused");
        return status.poll_after_ms || 5000;
      }
      if (status.state === "admitted") {
        $("ahead").textContent = "0";
        $("eta").textContent = t.eta[0];
        if (current !== "buying" && current !== "holding") enter("admitted");
        return null;
      }
      if (status.state === "sold_out") { enter("sold_out"); return null; }
      return 2000;
    }

    // Once admitted, the page keeps the pass it has (a new poll would sign a new one) and
    // watches the sale's public state instead, so a sell-out shows here too. A seated sale's
    // buyer comes back to "admitted" after a hold ends, and the page watches again then: one
    // watch at a time.
    let watching = false;
    async function watchSale() {
      if (watching) return;
      watching = true;
      while (current === "admitted") {
        await new Promise((r) => setTimeout(r, 2000));
        const res = await api("").catch(() => null);
        const body = res && res.ok ? await res.json().catch(() => null) : null;
        if (body && body.sale && boot.seated) limitSeats(body.sale.per_visitor_limit);
        if (body && body.sale && body.sale.status === "sold_out" && current === "admitted") enter("sold_out");
      }
      watching = false;
    }

    let polling = false;
    async function poll() {
      if (polling) return;
      polling = true;
      for (;;) {
        if (current === "bought" || current === "sold_out" || current === "refused") break;
        // The ticket is read afresh each time: another tab may have replaced it (a card hold
        // re-signs it), as it would have replaced the cookie.
        const place = await loadPlace();
        const ticket = place ? place.ticket : "";
        let res;
        try { res = await signed("/status", {}, ticket); } catch (e) { res = null; }
        if (res && (res.status === 401 || res.status === 403)) {
          const body = await res.json().catch(() => null);
          // A proof still refused as expired after its retry is this device's clock settling,
          // not a refusal of the buyer: ask again. Anything else (an expired ticket, a copied
          // one) is the end of this place.
          if (!(body && body.error && body.error.code === "proof_expired")) {
            await dropPlace(ticket);
            refuse(body);
            break;
          }
        }
        let wait = 2000;
        const status = res && res.ok ? await res.json().catch(() => null) : null;
        if (status) {
          await keep(ticket, status, true);
          const next = show(status);
          if (next === null) { if (current === "admitted") watchSale(); break; }
          wait = next;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
      polling = false;
    }

    $("buy").addEventListener("click", async () => {
      if (current === "buying") return;
      enter("buying");
      for (let attempt = 0; ; attempt++) {
        let res = null;
        let body = null;
        try {
          // A place whose ticket another tab replaced (a card hold) has no pass of it yet:
          // the ticket's status brings one.
          let place = await loadPlace();
          if (place && !place.pass) { await renewPass(); place = await loadPlace(); }
          res = await signed("/purchase", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: "{}",
          }, place ? place.pass : "");
          body = await res.json();
        } catch (e) { res = null; }
        if (res && res.ok) {
          $("order").textContent = body.order.order_id;
          if (body.charged) {
            hold = { ...(hold || {}), state: "charged", amount: body.charged.amount, currency: body.charged.currency };
          }
          enter("bought", undefined, { order: body.order.order_id });
          showHold(false);
          return;
        }
        const code = body && body.error ? body.error.code : "";
        // The hold could not be used: nothing was charged; the buyer puts a card on hold again
        // and keeps their turn.
        if (["hold_required", "hold_expired", "payment_failed"].includes(code)) {
          if (hold) hold.state = "released";
          enter("admitted");
          showHold(false);
          $("card-error").textContent = boot.errors[code] || body.error.message;
          return;
        }
        // The pass ran out while the buyer looked at the button (or typed a card): the place
        // stays admitted, so the ticket's next status brings a new pass. Not the buyer's fault:
        // renew it and buy.
        if ((code === "pass_expired" || code === "pass_not_yet_valid") && attempt < 10) {
          await renewPass();
          if (code === "pass_not_yet_valid") await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        // Another tab of this buyer is buying with the same pass, or the shop is busy: the
        // pass buys at most once, so asking again is safe and returns that purchase.
        const transient = !res || code === "purchase_in_progress" || res.status === 503;
        // The buyer's region sold what it held and stock is on its way from another region
        // (README, "Regions"): say so and keep asking, for about two minutes.
        if (code === "stock_moving" && attempt < 60) {
          $("message").textContent = boot.errors.stock_moving || body.error.message;
          await new Promise((r) => setTimeout(r, 2000));
          continue;
        }
        if (transient && attempt < 10) { await new Promise((r) => setTimeout(r, 500 + attempt * 250)); continue; }
        if (code === "sold_out") { enter("sold_out"); return; }
        refuse(body);
        return;
      }
    });

    // A seated sale: once admitted, the buyer chooses seats, by "best available" or on a map of
    // one section, holds them for a few minutes and buys them (or gives them back). The seats
    // are read with the pass alone (a look changes nothing); a hold, its confirmation and its
    // release carry the pass and its proof, as a purchase does. The no-JavaScript lane offers
    // best available only (`pages/lane.rs`).
    const SVG = "http://www.w3.org/2000/svg";
    // The map's grid, in SVG units (CSS pixels): one seat every STEP, row labels on the left.
    const STEP = 30;
    const LEFT = 36;
    // The seats held for this buyer (the edge's SeatHold), while they are.
    let seatHold = null;
    let countdown = null;
    // The last time left that the live region said, in seconds (see `tick`).
    let saidLeft = Infinity;
    // The section the map shows, its shape (rebuilt only when that changes), each seat drawn
    // (id → {cell, box, item, name, r, i, n, state}), the map's rows of them, and the list's
    // group of each row (row id → fieldset).
    let mapSection = "";
    let mapShape = "";
    let cells = new Map();
    let mapRows = [];
    let rowSets = new Map();
    // The seat that takes the map's one tab stop (a roving tabindex).
    let activeSeat = "";
    // The seats chosen on the map or in the list, by id; seats offered for taken ones.
    const picked = new Set();
    let offered = [];
    // The letter each price tier shows on the map, by tier code.
    let marks = new Map();
    // The most seats one buyer chooses: the sale's per-visitor limit, at most 4.
    let seatLimit = 4;
    let choosing = false;
    let seatBusy = false;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    // The chooser is on the page of a seated sale only.
    const onSeats = (id, type, handler) => { if (boot.seated) $(id).addEventListener(type, handler); };

    // Which part of the chooser shows in page state `name`: choosing once admitted, the held
    // seats while they are held and while they are being bought.
    function showSeats(name) {
      $("seats").hidden = !(name === "admitted" || (["holding", "buying"].includes(name) && seatHold));
      $("seat-choose").hidden = name !== "admitted";
      $("seat-hold").hidden = !["holding", "buying"].includes(name);
      $("confirm-seats").disabled = name === "buying";
      $("release-seats").disabled = name === "buying";
      if (name !== "admitted") $("seat-offer").hidden = true;
      if (name === "admitted") choose();
    }

    // A seat request with the place's pass: with `prove`, signed (a proof over the pass, as a
    // purchase carries), else the pass alone. A pass that ran out while the buyer chose is not
    // their fault: the place's status brings a new one, and the request goes again.
    async function withPass(path, init = {}, prove = false) {
      for (let attempt = 0; ; attempt++) {
        let place = await loadPlace();
        if (place && !place.pass) { await renewPass(); place = await loadPlace(); }
        const pass = place ? place.pass : "";
        let res = null;
        let body = null;
        try {
          res = prove ? await signed(path, init, pass)
            : await api(path, { ...init, headers: { ...(init.headers || {}), authorization: "Bearer " + pass } });
          body = await res.json().catch(() => null);
        } catch (e) { res = null; }
        const code = body && body.error ? body.error.code : "";
        if ((code === "pass_expired" || code === "pass_not_yet_valid") && attempt < 10) {
          await renewPass();
          if (code === "pass_not_yet_valid") await sleep(1000);
          continue;
        }
        return { res, body, code };
      }
    }

    // The sentence for a refused seat request.
    function seatRefusal(res, body, code) {
      if (!res) return boot.errors.origin_unavailable;
      return boot.errors[code] || (body && body.error ? body.error.message : t.refused[1]);
    }

    // A price in minor units, in the page's language ("90.00", "90,00"). A seated sale has no
    // currency of its own (its prices are its map's tiers, in the shop's currency), so none
    // is shown.
    function price(minor) {
      try {
        return new Intl.NumberFormat(t.lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(minor / 100);
      } catch (e) {
        return (minor / 100).toFixed(2);
      }
    }

    // A seat id (`A/3/7`) in words: "Section A, row 3, seat 7".
    function where(id) {
      const [section, row, n] = id.split("/");
      return fill(t.seat_name[0], { section, row, n });
    }

    // The letter each tier shows on the map: its id's first letter where those differ, else
    // its place in the list. The legend says which is which, so a tier is told apart by its
    // letter, not by a colour.
    function tierMarks(tiers) {
      const firsts = tiers.map((tier) => tier.id.charAt(0).toUpperCase());
      const distinct = new Set(firsts).size === firsts.length;
      return new Map(tiers.map((tier, i) => [tier.code, distinct ? firsts[i] : String(i + 1)]));
    }

    function limitSeats(limit) {
      seatLimit = Math.max(1, Math.min(4, limit || 4));
      const count = $("best-count");
      while (count.options.length > seatLimit) count.remove(count.options.length - 1);
    }

    // Fills a select with `items` ([value, text]) after an optional first option (`first`:
    // its text, value ""). A map's sections and tiers do not change once it is on sale, so the
    // options are made once and only their words change after: a list the buyer has open is
    // not rebuilt under them.
    function options(select, first, items) {
      const all = (first === null ? [] : [["", first]]).concat(items);
      if (select.options.length !== all.length) {
        const value = select.value;
        select.replaceChildren(...all.map(([v, text]) => new Option(text, v)));
        if (all.some(([v]) => v === value)) select.value = value;
        return;
      }
      all.forEach(([v, text], i) => {
        const option = select.options[i];
        if (option.value !== v) option.value = v;
        if (option.text !== text) option.text = text;
      });
    }

    // While the buyer chooses (not while they hold), the seats are read again every 2 s.
    async function choose() {
      if (choosing) return;
      choosing = true;
      while (current === "admitted") {
        await refreshSeats();
        await sleep(2000);
      }
      choosing = false;
    }

    // Reads the seats by section, then the rows of the section the map shows.
    async function refreshSeats() {
      const all = await withPass("/seats");
      const summary = all.body && Array.isArray(all.body.sections) ? all.body : null;
      if (!summary) return;
      const sections = summary.sections;
      if (!sections.some((s) => s.id === mapSection)) {
        const first = sections.find((s) => s.free > 0) || sections[0];
        mapSection = first ? first.id : "";
      }
      const words = sections.map((s) => [s.id, fill(t.seats[9], { section: s.id, n: s.free })]);
      options($("best-section"), t.seats[4], words);
      options($("map-section"), null, words);
      $("map-section").value = mapSection;
      options($("best-tier"), t.seats[6], summary.tiers.map((tier) => [tier.id, tier.id + " — " + price(tier.price)]));
      marks = tierMarks(summary.tiers);
      const legend = summary.tiers.map((tier) => `${marks.get(tier.code)}: ${tier.id}, ${price(tier.price)}`).join("; ");
      $("map-tiers").textContent = fill(t.seat_legend[5], { tiers: legend });
      if (!mapSection) return;
      const one = await withPass("/seats?section=" + encodeURIComponent(mapSection));
      const section = one.body && one.body.sections && one.body.sections[0];
      if (section && section.id === mapSection) drawSection(section, one.body.tiers || summary.tiers);
    }

    function svg(name, attrs) {
      const el = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
      return el;
    }

    // Draws a section: the map anew when its shape changed (another section), else each
    // seat's state in place, so the seat that has focus keeps it while the seats refresh.
    function drawSection(section, tiers) {
      const byCode = new Map(tiers.map((tier) => [tier.code, tier]));
      const shape = section.id + "|" + section.rows.map((r) => r.id + ":" + r.state.replace(/[^x]/g, "o") + r.tiers + r.access).join(",");
      if (shape !== mapShape) buildSection(section, byCode, shape);
      for (const row of section.rows) {
        let free = 0;
        for (let i = 0; i < row.state.length; i++) {
          const c = cells.get(`${section.id}/${row.id}/${i + 1}`);
          if (!c) continue;
          const state = { ".": "free", h: "held", s: "sold" }[row.state[i]] || "sold";
          // A chosen seat someone else took meanwhile is chosen no more.
          if (state !== "free") picked.delete(c.id);
          c.state = state;
          paint(c);
          if (state === "free") free++;
        }
        const set = rowSets.get(row.id);
        if (set) set.hidden = free === 0;
      }
      if (!cells.has(activeSeat)) {
        const first = [...cells.values()].find((c) => c.state === "free") || cells.values().next().value;
        if (first) setActive(first.id, false);
      }
      showPicked();
    }

    // The map of a section as an SVG grid, one row per row and one cell per seat (positions
    // without a seat are left empty), and the same seats as a list of checkboxes, grouped by
    // row, for those who do better with a list than a grid.
    function buildSection(section, byCode, shape) {
      mapShape = shape;
      cells = new Map();
      mapRows = [];
      rowSets = new Map();
      activeSeat = "";
      const width = LEFT + STEP * Math.max(1, ...section.rows.map((r) => r.state.length));
      const height = STEP * section.rows.length;
      const grid = svg("svg", {
        id: "seat-map", role: "grid", "aria-multiselectable": "true", "aria-describedby": "map-help",
        "aria-label": fill(t.seat_map[1], { section: section.id }),
        width, height, viewBox: `0 0 ${width} ${height}`,
      });
      const list = document.createDocumentFragment();
      section.rows.forEach((row, r) => {
        const line = svg("g", { role: "row" });
        const label = svg("text", { class: "row-label", x: LEFT - 8, y: r * STEP + STEP / 2, "aria-hidden": "true" });
        label.textContent = row.id;
        line.append(label);
        const set = document.createElement("fieldset");
        const legend = document.createElement("legend");
        legend.textContent = fill(t.seat_map[4], { row: row.id });
        set.append(legend);
        const seats = [];
        for (let i = 0; i < row.state.length; i++) {
          if (row.state[i] === "x") continue;
          const id = `${section.id}/${row.id}/${i + 1}`;
          const tier = byCode.get(row.tiers[i]) || { id: "", price: 0 };
          const access = { w: t.seat_name[4], c: t.seat_name[5] }[row.access[i]];
          const what = `${tier.id} ${price(tier.price)}` + (access ? ", " + access : "");
          const cell = svg("g", {
            role: "gridcell", class: "seat", tabindex: -1, "data-seat": id,
            transform: `translate(${LEFT + i * STEP + STEP / 2} ${r * STEP + STEP / 2})`,
          });
          // A wheelchair space is square, every other seat round: the shape tells it, not a
          // colour.
          cell.append(
            row.access[i] === "w"
              ? svg("rect", { class: "shape", x: -10, y: -10, width: 20, height: 20, rx: 3 })
              : svg("circle", { class: "shape", r: 10 }),
            svg("path", { class: "cross", d: "M-5 -5L5 5M5 -5L-5 5" }),
            svg("circle", { class: "ring", r: 13.5 }),
          );
          const mark = svg("text", { class: "mark", "aria-hidden": "true" });
          mark.textContent = marks.get(row.tiers[i]) || "";
          cell.append(mark);
          line.append(cell);
          const item = document.createElement("label");
          const box = document.createElement("input");
          box.type = "checkbox";
          box.dataset.seat = id;
          item.append(box, " " + fill(t.seat_map[5], { n: i + 1 }) + ", " + what);
          set.append(item);
          const c = { id, cell, box, item, name: where(id) + ", " + what, r: mapRows.length, i: seats.length, n: i + 1, state: "" };
          seats.push(c);
          cells.set(id, c);
        }
        // A row needs a cell to be a row; one with no seat at all is left out (its space
        // stays, so the rows keep their places).
        if (seats.length) {
          grid.append(line);
          mapRows.push(seats);
          list.append(set);
          rowSets.set(row.id, set);
        }
      });
      $("map").replaceChildren(grid);
      $("seat-list").replaceChildren(list);
    }

    // Sets attribute `name` of `el` to `value` (null: removes it), only if that changes it:
    // the seats are painted every 2 s, and an unchanged seat should not look changed to a
    // screen reader.
    function attr(el, name, value) {
      if (el.getAttribute(name) === value) return;
      if (value === null) el.removeAttribute(name);
      else el.setAttribute(name, value);
    }

    // Shows a seat's state on the map (by shape, fill and a cross, see the legend) and in its
    // name, and the list's checkbox likewise. Only a free seat can be chosen.
    function paint(c) {
      const on = picked.has(c.id);
      const free = c.state === "free";
      attr(c.cell, "class", `seat ${c.state}${on ? " picked" : ""}`);
      attr(c.cell, "aria-selected", free ? String(on) : null);
      attr(c.cell, "aria-disabled", free ? null : "true");
      attr(c.cell, "aria-label", c.name + ", " + t.seat_name[{ free: 1, held: 2, sold: 3 }[c.state]]);
      if (c.box.checked !== on) c.box.checked = on;
      if (c.item.hidden === free) c.item.hidden = !free;
    }

    // The seat with the map's tab stop; `focus` moves focus there (the arrow keys do).
    function setActive(id, focus) {
      const next = cells.get(id);
      if (!next) return;
      const before = cells.get(activeSeat);
      if (before && before !== next) before.cell.setAttribute("tabindex", "-1");
      next.cell.setAttribute("tabindex", "0");
      activeSeat = id;
      if (focus) next.cell.focus();
    }

    // Chooses a free seat, or leaves it.
    function toggle(id) {
      const c = cells.get(id);
      if (!c || c.state !== "free") return;
      if (picked.has(id)) {
        picked.delete(id);
      } else if (picked.size >= seatLimit) {
        const text = fill(t.seat_map[9], { n: seatLimit });
        $("picked").textContent = text;
        announce(text);
        paint(c);
        return;
      } else {
        picked.add(id);
      }
      paint(c);
      showPicked();
    }

    function showPicked() {
      const ids = [...picked];
      $("picked").textContent = ids.length ? fill(t.seat_map[6], { seats: ids.map(where).join("; ") }) : t.seat_map[7];
      $("hold-picked").disabled = ids.length === 0 || seatBusy;
    }

    // The arrow keys move between seats: left and right along the row, up and down to the
    // nearest seat of the next row; Home and End to the row's ends. Space or Enter chooses.
    onSeats("map", "keydown", (event) => {
      const cell = event.target.closest ? event.target.closest(".seat") : null;
      const c = cell ? cells.get(cell.dataset.seat) : null;
      if (!c) return;
      if (event.key === " " || event.key === "Enter") {
        event.preventDefault();
        toggle(c.id);
        return;
      }
      const row = mapRows[c.r];
      let next = null;
      if (event.key === "ArrowRight") next = row[c.i + 1];
      else if (event.key === "ArrowLeft") next = row[c.i - 1];
      else if (event.key === "Home") next = row[0];
      else if (event.key === "End") next = row[row.length - 1];
      else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
        const other = mapRows[c.r + (event.key === "ArrowUp" ? -1 : 1)];
        if (other) next = other.reduce((a, b) => (Math.abs(b.n - c.n) < Math.abs(a.n - c.n) ? b : a));
      } else {
        return;
      }
      event.preventDefault();
      if (next) setActive(next.id, true);
    });
    onSeats("map", "click", (event) => {
      const cell = event.target.closest ? event.target.closest(".seat") : null;
      if (!cell) return;
      setActive(cell.dataset.seat, true);
      toggle(cell.dataset.seat);
    });
    onSeats("map", "focusin", (event) => {
      const cell = event.target.closest ? event.target.closest(".seat") : null;
      if (cell) setActive(cell.dataset.seat, false);
    });
    onSeats("seat-list", "change", (event) => {
      if (event.target.dataset && event.target.dataset.seat) toggle(event.target.dataset.seat);
    });
    onSeats("map-section", "change", () => {
      mapSection = $("map-section").value;
      refreshSeats();
    });
    onSeats("hold-picked", "click", () => holdSeats({ seats: [...picked] }));
    onSeats("seat-offer-hold", "click", () => holdSeats({ seats: offered }));
    onSeats("seat-best", "submit", (event) => {
      event.preventDefault();
      const best = { count: Number($("best-count").value) || 1 };
      if ($("best-section").value) best.section = $("best-section").value;
      if ($("best-tier").value) best.tier = $("best-tier").value;
      if ($("best-wheelchair").checked) best.wheelchair = true;
      holdSeats({ best });
    });

    // Holds seats: named ones (all or none) or the best block. A hold is not sent again when
    // its answer is lost: it may have been made, and a second would be refused while the
    // first lasts.
    async function holdSeats(request) {
      if (seatBusy || current !== "admitted") return;
      // A sale with card holds is paid with the card held while queued: seats are held only
      // with it, so that the hold's minutes are not spent typing a card.
      if (boot.payments && !(hold && hold.state === "on_hold")) {
        $("card-error").textContent = boot.errors.hold_required;
        $("cc-number").focus();
        return;
      }
      seatBusy = true;
      $("best-find").disabled = true;
      $("hold-picked").disabled = true;
      $("seat-error").textContent = "";
      $("seat-offer").hidden = true;
      const { res, body, code } = await withPass("/seat-holds", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(request),
      }, true);
      seatBusy = false;
      $("best-find").disabled = false;
      if (res && res.status === 201 && body && body.hold) {
        picked.clear();
        showPicked();
        return held(body);
      }
      // This visitor holds seats already (the page was reloaded, or another tab held them):
      // the refusal names that hold, and the page takes it up again.
      if (code === "seat_hold_exists" && body && body.hold && body.hold.hold) {
        picked.clear();
        showPicked();
        return held(body.hold);
      }
      if (code === "sold_out") return enter("sold_out");
      // The card on hold cannot pay (it failed before, or ran out): a new one is needed.
      if (["hold_required", "hold_expired", "payment_failed"].includes(code)) {
        if (hold) hold.state = "released";
        showHold(false);
        $("card-error").textContent = boot.errors[code] || body.error.message;
        return;
      }
      let text = seatRefusal(res, body, code);
      // Seats taken meanwhile: the edge offers as many free ones side by side in the section.
      if (code === "seats_taken") {
        for (const id of body.taken || []) picked.delete(id);
        offered = Array.isArray(body.alternatives) ? body.alternatives : [];
        if (offered.length) {
          text += " " + fill(t.seat_offer[0], { seats: offered.map(where).join("; ") });
          $("seat-offer").hidden = false;
        }
      }
      $("seat-error").textContent = text;
      $("seat-error").scrollIntoView({ block: "nearest" });
      showPicked();
      refreshSeats();
    }

    // Seats held: the page shows them, their total and the time left, and counts down.
    function held(hold) {
      seatHold = hold;
      $("held-seats").replaceChildren(...hold.seats.map((id) => {
        const li = document.createElement("li");
        li.dataset.seat = id;
        li.textContent = where(id);
        return li;
      }));
      $("held-amount").textContent = fill(t.seat_hold[1], { amount: price(hold.amount) });
      saidLeft = Math.ceil((hold.expires_at_ms - (Date.now() + offsetMs)) / 1000);
      tick();
      clearInterval(countdown);
      countdown = setInterval(tick, 1000);
      enter("holding");
    }

    // The time left, by the server's clock, shown every second. The live region says it only
    // at a few moments (a minute, 30 and 10 seconds left), not every second.
    function tick() {
      if (!seatHold) return;
      const left = Math.max(0, seatHold.expires_at_ms - (Date.now() + offsetMs));
      const secs = Math.ceil(left / 1000);
      const time = Math.floor(secs / 60) + ":" + String(secs % 60).padStart(2, "0");
      $("countdown").textContent = fill(t.seat_hold[2], { time });
      const moment = [10, 30, 60].find((m) => secs <= m);
      if (moment && moment < saidLeft && current === "holding") {
        saidLeft = moment;
        announce(fill(t.seat_hold[3], { n: moment }));
      }
      if (left === 0 && current === "holding") lapsed();
    }

    function dropHold() {
      clearInterval(countdown);
      countdown = null;
      seatHold = null;
    }

    // Back to choosing after a hold ended, saying why.
    function chooseAgain(message) {
      dropHold();
      enter("admitted", message);
      watchSale();
    }

    function lapsed() {
      chooseAgain(t.seat_hold[6]);
    }

    onSeats("confirm-seats", "click", async () => {
      if (!seatHold || current !== "holding") return;
      const seats = seatHold;
      $("seat-error").textContent = "";
      enter("buying");
      let answer = null;
      // A confirmation asked again answers the same order, so a lost answer or a busy shop
      // is asked again.
      for (let attempt = 0; attempt < 5; attempt++) {
        answer = await withPass(`/seat-holds/${seats.hold}/confirm`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{}",
        }, true);
        if (answer.res && answer.res.status < 500) break;
        await sleep(500 + attempt * 250);
      }
      const { res, body, code } = answer;
      if (res && res.ok && body && body.order) {
        dropHold();
        if (body.charged) {
          hold = { ...(hold || {}), state: "charged", amount: body.charged.amount, currency: body.charged.currency };
        }
        $("order").textContent = body.order.order_id;
        enter("bought", undefined, { order: body.order.order_id });
        showHold(false);
        return;
      }
      if (code === "seat_hold_expired" || code === "no_seat_hold") return lapsed();
      // The card hold could not pay: nothing was charged and the origin gave the seats back.
      // The buyer puts a card on hold again, then chooses again.
      if (["hold_required", "hold_expired", "payment_failed"].includes(code)) {
        if (hold) hold.state = "released";
        chooseAgain(t.choose[1]);
        showHold(false);
        $("card-error").textContent = boot.errors[code] || body.error.message;
        return;
      }
      enter("holding");
      $("seat-error").textContent = seatRefusal(res, body, code);
    });

    onSeats("release-seats", "click", async () => {
      if (!seatHold || current !== "holding") return;
      const hold = seatHold;
      $("seat-error").textContent = "";
      $("release-seats").disabled = true;
      const { res, body, code } = await withPass(`/seat-holds/${hold.hold}`, { method: "DELETE" }, true);
      $("release-seats").disabled = false;
      if (seatHold !== hold) return;
      if ((res && res.ok) || code === "no_seat_hold") return chooseAgain(t.seat_hold[7]);
      $("seat-error").textContent = seatRefusal(res, body, code);
    });

    db = await openDb();
    keys = await loadKeys();
    // A place this browser holds already (an earlier page, another tab) is asked for with its
    // ticket. A place bound to a key this browser no longer has, or that the edge refuses (the
    // ticket expired, or its proof does not match), is dropped and the page joins afresh; if
    // the edge does not answer, the page keeps the place and keeps asking.
    const stored = await loadPlace();
    let existing = null;
    if (stored && stored.jkt !== (keys ? keys.jkt : "")) {
      await dropPlace(stored.ticket);
    } else if (stored && stored.ticket) {
      existing = await signed("/status", {}, stored.ticket).catch(() => null);
      if (existing && !existing.ok && existing.status < 500 && (await codeOf(existing)) !== "proof_expired") {
        await dropPlace(stored.ticket);
        existing = null;
      } else if (!existing || !existing.ok) {
        return poll();
      }
    }
    if (existing && existing.ok && boot.payments) {
      const held = await api("/hold").catch(() => null);
      const body = held && held.ok ? await held.json().catch(() => null) : null;
      if (body && body.state) { hold = body; showHold(false); }
    }
    if (existing && existing.ok) {
      const status = await existing.json().catch(() => null);
      if (!status) return poll();
      await keep(stored.ticket, status, true);
      if (show(status) === null) return current === "admitted" ? watchSale() : undefined;
      return poll();
    }
    // Device signals for the shop's audit (never sent anywhere else): a few facts every
    // browser exposes, hashed by the edge.
    const device = {
      screen: `${screen.width}x${screen.height}x${window.devicePixelRatio || 1}`,
      tz: Intl.DateTimeFormat().resolvedOptions().timeZone || "",
      cores: navigator.hardwareConcurrency || 0,
      langs: (navigator.languages || []).join(",").slice(0, 100),
      platform: (navigator.platform || "").slice(0, 60),
      touch: navigator.maxTouchPoints || 0,
    };
    // A challenge that expired while this page solved it, or while the edge was busy, is not
    // the buyer's fault: fetch a new one (a few times). A join whose answer was lost is sent
    // again as it was: a join is idempotent per challenge, so it keeps its place. Before a
    // pre-queue opens, the page says when it opens and joins then.
    return joinLine();

    // Before a pre-queue opens: say when it does, wait, and join then. Everyone who joins
    // before the draw has the same chance, so there is no hurry at the opening either.
    async function notOpen(body) {
      const res = await api("").catch(() => null);
      const sale = res && res.ok ? await res.json().catch(() => null) : null;
      const opens = sale && sale.sale && sale.sale.draw ? sale.sale.draw.opens_at_ms : 0;
      if (!opens) return refuse(body);
      enter("not_open", undefined, { time: timeOfDay(opens) });
      const wait = Math.max(1000, opens - (Date.now() + offsetMs)) + Math.random() * 3000;
      await new Promise((r) => setTimeout(r, Math.min(wait, 2147483647)));
      return joinLine();
    }

    async function joinLine() {
    let joined = null;
    let body = null;
    // A harder challenge handed back by a join (this device joined or failed before).
    let harder = null;
    for (let round = 0; round < 6; round++) {
      let chBody = harder;
      harder = null;
      if (!chBody) {
        // The challenge's proof presents no token: it introduces the key that the challenge,
        // and the ticket and passes after it, are bound to.
        const ch = await signed("/challenge", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ device }),
        }).catch(() => null);
        chBody = ch ? await ch.json().catch(() => null) : null;
        if (!ch || !ch.ok || !chBody || !chBody.challenge) {
          if (chBody && chBody.error && chBody.error.code === "sold_out") return enter("sold_out");
          if (chBody && chBody.error && chBody.error.code === "prequeue_not_open") return notOpen(chBody);
          return refuse(chBody);
        }
      }
      enter("solving");
      const nonce = await solve(chBody.challenge, chBody.bits);
      enter("joining");
      for (let attempt = 0; attempt < 5; attempt++) {
        joined = await signed("/join", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ challenge: chBody.challenge, nonce }),
        }, chBody.challenge, false).catch(() => null);
        body = joined ? await joined.json().catch(() => null) : null;
        if (joined && joined.status < 500) break;
        await new Promise((r) => setTimeout(r, 500 + attempt * 500));
      }
      const code = body && body.error && body.error.code;
      if (code === "more_work_required" && body.challenge && body.challenge.challenge) {
        harder = body.challenge;
        continue;
      }
      if (code !== "challenge_expired") break;
    }
    if (!joined || !joined.ok) {
      if (body && body.error && body.error.code === "sold_out") return enter("sold_out");
      if (body && body.error && body.error.code === "prequeue_not_open") return notOpen(body);
      return refuse(body);
    }
    await keep(body.ticket, body.status);
    if (show(body.status) === null) return current === "admitted" ? watchSale() : undefined;
    return poll();
    }
  })();
}
