// Checks the waiting room's JavaScript proof-of-work against the known-answer vectors that the
// Rust implementation and the independent Python generator agree on, and its proofs of
// possession against node's own crypto.
//   node --test edge-worker/
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { sha256, leadingZeroBits, powDigest, b64url, publicJwk, thumbprint, makeProof } =
  require("./page/waiting-room.js");
const vectors = JSON.parse(
  readFileSync(new URL("../crates/herdgate-core/vectors/vectors.json", import.meta.url)),
);
const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("sha256 matches FIPS 180-4 examples", () => {
  const enc = new TextEncoder();
  assert.equal(hex(sha256(enc.encode("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(hex(sha256(enc.encode(""))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const long = enc.encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  assert.equal(hex(sha256(long)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const million = new Uint8Array(1_000_000).fill(0x61);
  assert.equal(hex(sha256(million)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
});

test("proof-of-work digests and zero bits match the vectors", () => {
  assert.ok(vectors.pow.length >= 3);
  for (const v of vectors.pow) {
    const bytes = new TextEncoder().encode(v.challenge);
    const digest = powDigest(bytes, v.first_nonce);
    assert.equal(hex(digest), v.digest_hex);
    assert.equal(leadingZeroBits(digest), v.zero_bits);
    assert.ok(v.zero_bits >= v.bits);
    // The first nonce is the first: every earlier one falls short.
    for (let n = Math.max(0, v.first_nonce - 50); n < v.first_nonce; n++) {
      assert.ok(leadingZeroBits(powDigest(bytes, n)) < v.bits, `nonce ${n}`);
    }
  }
});

test("nonces above 2^32 are encoded as 8 big-endian bytes", () => {
  const bytes = new TextEncoder().encode("x");
  const d = powDigest(bytes, 2 ** 32 + 5);
  const expected = sha256(Uint8Array.from([0x78, 0, 0, 0, 1, 0, 0, 0, 5]));
  assert.equal(hex(d), hex(expected));
});

// What the proofs are checked against is computed here with node:crypto, not with the page's
// own functions.
const subtle = globalThis.crypto.subtle;
const nodeB64url = (bytes) => Buffer.from(bytes).toString("base64url");
const nodeSha256 = (text) => createHash("sha256").update(text, "utf8").digest("base64url");
const decode = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

/// A key pair as the page makes it (non-extractable, signing only) and its public JWK.
async function pageKey() {
  const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  return { pair, jwk: await subtle.exportKey("jwk", pair.publicKey) };
}

test("base64url has no padding and uses the URL-safe alphabet", () => {
  for (const bytes of [[], [0xfb], [0xfb, 0xff], [0xfb, 0xff, 0xbf], [0, 1, 2, 3, 250, 251, 252, 253]]) {
    assert.equal(b64url(Uint8Array.from(bytes)), nodeB64url(bytes));
  }
  assert.equal(b64url(Uint8Array.from([0xfb, 0xff]).buffer), "-_8");
  assert.equal(b64url("ä€"), nodeB64url(Buffer.from("ä€", "utf8")));
});

test("a proof's header and payload carry the spec's fields", async () => {
  const { pair, jwk } = await pageKey();
  const url = "https://shop.example:8443/api/v1/sales/drop-1/status?lang=de#top";
  const jws = await makeProof(pair, jwk, "get", url, "", 1_700_000_000);
  const parts = jws.split(".");
  assert.equal(parts.length, 3);
  for (const part of parts) assert.match(part, /^[A-Za-z0-9_-]+$/);
  const header = decode(parts[0]);
  assert.deepEqual(header, {
    typ: "dpop+jwt",
    alg: "ES256",
    jwk: { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y },
  });
  // Only the four members of the public key, whatever else the exported JWK had.
  assert.deepEqual(Object.keys(header.jwk).sort(), ["crv", "kty", "x", "y"]);
  assert.deepEqual(publicJwk({ ...jwk, ext: true, key_ops: [] }), header.jwk);
  const payload = decode(parts[1]);
  assert.deepEqual(Object.keys(payload).sort(), ["htm", "htu", "iat", "jti"]);
  assert.equal(payload.htm, "GET");
  // No query and no fragment; the port stays.
  assert.equal(payload.htu, "https://shop.example:8443/api/v1/sales/drop-1/status");
  assert.equal(payload.iat, 1_700_000_000);
  // 16 random bytes: 22 characters, and never the same twice.
  assert.match(payload.jti, /^[A-Za-z0-9_-]{22}$/);
  const again = decode((await makeProof(pair, jwk, "GET", url, "", 1_700_000_000)).split(".")[1]);
  assert.notEqual(again.jti, payload.jti);
  // A default port is not written.
  const plain = decode((await makeProof(pair, jwk, "POST", "https://shop.example:443/a/b", "", 1)).split(".")[1]);
  assert.equal(plain.htu, "https://shop.example/a/b");
  assert.equal(plain.htm, "POST");
});

test("a proof's signature verifies with its public key, and only over what was signed", async () => {
  const { pair, jwk } = await pageKey();
  const jws = await makeProof(pair, jwk, "POST", "http://127.0.0.1:8787/api/v1/sales/s/purchase", "pass.token", 42);
  const [h, p, s] = jws.split(".");
  // The verifier takes the key from the proof's own header, as the edge does.
  const key = await subtle.importKey("jwk", decode(h).jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  const signature = Buffer.from(s, "base64url");
  // Raw r‖s, as JWS ES256 wants, not DER.
  assert.equal(signature.length, 64);
  const verify = (input, sig = signature) =>
    subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, sig, Buffer.from(input, "ascii"));
  assert.equal(await verify(`${h}.${p}`), true);
  const forged = b64url(JSON.stringify({ ...decode(p), htm: "GET" }));
  assert.equal(await verify(`${h}.${forged}`), false);
  const flipped = Buffer.from(signature);
  flipped[10] ^= 1;
  assert.equal(await verify(`${h}.${p}`, flipped), false);
  // Another key's proof does not verify with this one.
  const other = await pageKey();
  const [h2, p2, s2] = (await makeProof(other.pair, other.jwk, "POST", "http://x/y", "", 1)).split(".");
  assert.equal(await verify(`${h2}.${p2}`, Buffer.from(s2, "base64url")), false);
});

test("ath is the base64url SHA-256 of the token presented", async () => {
  const { pair, jwk } = await pageKey();
  const token = "v1.eyJzYWxlIjoiZHJvcC0xIn0.c2lnbmF0dXJl";
  const payload = decode((await makeProof(pair, jwk, "GET", "https://a.example/s", token, 1)).split(".")[1]);
  assert.equal(payload.ath, nodeSha256(token));
  assert.match(payload.ath, /^[A-Za-z0-9_-]{43}$/);
  const other = decode((await makeProof(pair, jwk, "GET", "https://a.example/s", token + "x", 1)).split(".")[1]);
  assert.notEqual(other.ath, payload.ath);
});

test("the thumbprint is RFC 7638's: the required members in order, without spaces", async () => {
  // The P-256 public key of RFC 7517, Appendix A.1, with members a thumbprint leaves out.
  const jwk = {
    kid: "1",
    use: "enc",
    y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    x: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
    crv: "P-256",
    kty: "EC",
  };
  const members =
    '{"crv":"P-256","kty":"EC","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}';
  assert.equal(thumbprint(jwk), nodeSha256(members));
  // And for a key made as the page makes it.
  const { jwk: made } = await pageKey();
  assert.equal(
    thumbprint(made),
    nodeSha256(`{"crv":"P-256","kty":"EC","x":"${made.x}","y":"${made.y}"}`),
  );
});
