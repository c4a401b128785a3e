// Checks the waiting room's JavaScript proof-of-work against the known-answer vectors that the
// Rust implementation and the independent Python generator agree on.
//   node --test edge-worker/
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(import.meta.url);
const { sha256, leadingZeroBits, powDigest } = require("./page/waiting-room.js");
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
