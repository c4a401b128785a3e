#!/usr/bin/env python3
"""Writes vectors.json: known-answer vectors for herdgate tokens, proof-of-work and pass ids.

This is an independent implementation of the formats documented in
crates/herdgate-core/src/token.rs, pow.rs and gate/pass.rs, using only Python's standard library,
so the vectors check the Rust code (and the page's JavaScript) against something they did not
produce.
Run: python3 crates/herdgate-core/vectors/generate.py
"""
import base64
import hashlib
import hmac
import json
import os


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(kind: str, kid: str, secret: bytes, claims: dict) -> str:
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    signed = f"hg1.{kind}.{kid}.{b64(payload)}"
    tag = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64(tag)}"


def pow_digest(challenge: str, nonce: int) -> bytes:
    return hashlib.sha256(challenge.encode() + nonce.to_bytes(8, "big")).digest()


def zero_bits(d: bytes) -> int:
    n = 0
    for byte in d:
        if byte == 0:
            n += 8
            continue
        return n + 8 - byte.bit_length()
    return n


def first_solution(challenge: str, bits: int) -> int:
    nonce = 0
    while zero_bits(pow_digest(challenge, nonce)) < bits:
        nonce += 1
    return nonce


def client_binding(ip_prefix: str, user_agent: str) -> str:
    h = hashlib.sha256(b"herdgate/client/v1\0" + ip_prefix.encode() + b"\0" + user_agent.encode())
    return h.hexdigest()[:32]


def pass_id(sale: str, visitor: str) -> str:
    """The id every pass of a ticket shares: herdgate_core::gate::pass::pass_id."""
    h = hashlib.sha256(b"herdgate/pass-id/v2\0" + f"{sale}/{visitor}".encode())
    return h.hexdigest()[:32]


K1 = bytes(range(32))
K2 = bytes(range(100, 132))
KEYRING = f"k1:{b64(K1)},k0:{b64(K2)}"
client = client_binding("203.0.113.0/24", "Mozilla/5.0 (vectors)")

challenge = {"sale": "drop-1", "id": "9f86d081884c7d65", "client": client, "bits": 12,
             "nbf": 1_790_000_000, "exp": 1_790_000_120}
ticket = {"sale": "drop-1", "visitor": "v-0001", "position": 41, "client": client,
          "iat": 1_790_000_010, "exp": 1_790_003_610}
pass_ = {"sale": "drop-1", "visitor": "v-0001", "id": "c0ffee00c0ffee00", "position": 41,
         "client": client, "slice": 179_000_001, "nbf": 1_790_000_010, "exp": 1_790_000_310}

good = [
    {"name": "challenge", "kind": "chal", "claims": challenge,
     "token": sign("chal", "k1", K1, challenge)},
    {"name": "ticket", "kind": "tkt", "claims": ticket, "token": sign("tkt", "k1", K1, ticket)},
    {"name": "pass", "kind": "pass", "claims": pass_, "token": sign("pass", "k1", K1, pass_)},
    {"name": "pass signed by the older key k0", "kind": "pass", "claims": pass_,
     "token": sign("pass", "k0", K2, pass_), "signed_by_older_key": True},
]

P = sign("pass", "k1", K1, pass_)
head, tag = P.rsplit(".", 1)
flipped = head[:-1] + ("A" if head[-1] != "A" else "B")
bad = [
    {"name": "forged with another secret", "token": sign("pass", "k1", bytes(32), pass_),
     "sale": "drop-1", "now": 1_790_000_100, "error": "pass_forged"},
    {"name": "payload tampered", "token": f"{flipped}.{tag}", "sale": "drop-1",
     "now": 1_790_000_100, "error": "pass_forged"},
    {"name": "unknown kid", "token": sign("pass", "k9", K1, pass_), "sale": "drop-1",
     "now": 1_790_000_100, "error": "pass_unknown_key"},
    {"name": "ticket offered as pass", "token": sign("tkt", "k1", K1, ticket), "sale": "drop-1",
     "now": 1_790_000_100, "error": "pass_wrong_kind"},
    {"name": "kind label swapped", "token": sign("tkt", "k1", K1, pass_).replace(".tkt.", ".pass.", 1),
     "sale": "drop-1", "now": 1_790_000_100, "error": "pass_forged"},
    {"name": "other sale", "token": P, "sale": "drop-2", "now": 1_790_000_100,
     "error": "pass_wrong_sale"},
    {"name": "not yet valid", "token": P, "sale": "drop-1", "now": 1_790_000_009,
     "error": "pass_not_yet_valid"},
    {"name": "expired", "token": P, "sale": "drop-1", "now": 1_790_000_310,
     "error": "pass_expired"},
    {"name": "unsupported version", "token": "hg2" + P[3:], "sale": "drop-1",
     "now": 1_790_000_100, "error": "pass_unsupported_version"},
    {"name": "four parts", "token": head, "sale": "drop-1", "now": 1_790_000_100,
     "error": "pass_malformed"},
]

pow_vectors = []
for c, bits in [("hg1.chal.k1.e30.AAAA", 8), (good[0]["token"], 12), ("herdgate", 16)]:
    n = first_solution(c, bits)
    pow_vectors.append({"challenge": c, "bits": bits, "first_nonce": n,
                        "digest_hex": pow_digest(c, n).hex(),
                        "zero_bits": zero_bits(pow_digest(c, n))})

# The pass id: the edge's queue shards claim passes by it. Visitors the edge issues look like
# the third; ids may be up to 64 bytes.
pass_ids = [{"sale": s, "visitor": v, "pass_id": pass_id(s, v)} for s, v in [
    ("drop-1", "v-0001"),
    ("drop-2", "v-0001"),
    ("drop-1", "v0123456789abcdef01234567"),
    ("A_b-9", "Z"),
    ("s" * 64, "v" * 64),
]]

out = {
    "about": "Known-answer vectors for herdgate tokens (hg1) and proof-of-work; "
             "generated by vectors/generate.py from Python's standard library.",
    "keyring": KEYRING,
    "client_binding": {"ip_prefix": "203.0.113.0/24", "user_agent": "Mozilla/5.0 (vectors)",
                       "binding": client},
    "tokens": good,
    "refusals": bad,
    "pow": pow_vectors,
    "pass_ids": pass_ids,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
with open(path, "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
print(f"wrote {path}")
