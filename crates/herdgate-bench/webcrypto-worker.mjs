// The edge benchmark's measure of the runtime's own WebCrypto: the trivial worker's answer, after
// verifying the request's DPoP proof signature with crypto.subtle (workerd's native ECDSA
// P-256), as the Rust worker does in wasm with the p256 crate. Only the signature: the claims
// checks are the same small work in either place. A proof that does not verify gets 401, so
// the run fails rather than measuring nothing.
const body = JSON.stringify({ state: "queued", position: 41, ahead: 12, eta_ms: 2400, poll_after_ms: 1200 });

function b64url(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export default {
  async fetch(request) {
    const proof = request.headers.get("dpop") || "";
    const [head, payload, sig] = proof.split(".");
    let ok = false;
    try {
      const { jwk } = JSON.parse(new TextDecoder().decode(b64url(head)));
      const key = await crypto.subtle.importKey(
        "jwk",
        { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
        { name: "ECDSA", namedCurve: "P-256" },
        false,
        ["verify"],
      );
      ok = await crypto.subtle.verify(
        { name: "ECDSA", hash: "SHA-256" },
        key,
        b64url(sig),
        new TextEncoder().encode(`${head}.${payload}`),
      );
    } catch (e) {
      ok = false;
    }
    return new Response(body, {
      status: ok ? 200 : 401,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    });
  },
};
