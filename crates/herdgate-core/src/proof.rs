//! Proof of possession: a place in line bound to a key the device holds, the way DPoP
//! (RFC 9449) binds OAuth tokens.
//!
//! The client makes an ECDSA P-256 key pair (the page with WebCrypto, non-extractable; an app
//! in its platform keystore) and signs a short-lived **proof** for each request that uses its
//! place. The first proof, on the challenge request, introduces the key: the edge writes the
//! key's thumbprint (RFC 7638) into the challenge as `jkt`, and from there into the ticket and
//! the pass. A later request must carry a proof signed by that key, over its own method and
//! address, the time, and a hash of the token it presents. So a copied ticket or pass is worth
//! nothing without the key, a captured proof is worth nothing for another request or token,
//! and after [`PROOF_MAX_AGE_SECS`] it is worth nothing at all. The network is no longer part
//! of the binding: a phone that leaves Wi-Fi keeps its place.
//!
//! # Wire form
//!
//! A compact JWS in the `DPoP` request header, as RFC 9449 §4.2 defines it:
//!
//! ```text
//! header:    {"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"…","y":"…"}}
//! payload:   {"jti":"…","htm":"POST","htu":"https://shop.example/api/v1/sales/s1/join","iat":1764460800,"ath":"…"}
//! signature: ECDSA P-256 with SHA-256 over `<header>.<payload>`, as raw r‖s (64 bytes)
//! ```
//!
//! `ath` is base64url(SHA-256(token)) of the token the request presents ([`token_hash`]); it is
//! absent on the challenge request, which presents none. Only `ES256` is accepted: it is the
//! one algorithm every browser's WebCrypto and every platform keystore can make.
//!
//! # What is not checked
//!
//! The `jti` is not remembered. A proof replayed within its window, for the same request and
//! the same token, gets what the original got, and every answer of a proven request is itself
//! bound to the key (a ticket, a pass) or single-use (a challenge spent once, a pass that buys
//! once), so the replay gains nothing the key's holder did not already have.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::EncodedPoint;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::refusal::ErrorCode;

/// The request header a proof is sent in.
pub const PROOF_HEADER: &str = "DPoP";

/// How long after its `iat` a proof is accepted, in seconds.
pub const PROOF_MAX_AGE_SECS: u64 = 30;

/// How far in the future (by the verifier's clock) a proof's `iat` may lie, in seconds.
pub const PROOF_FUTURE_SECS: u64 = crate::token::CLOCK_LEEWAY_SECS;

/// Proofs longer than this are refused before any work is done on them. A P-256 proof with a
/// long URL and an `ath` is about 600 bytes.
pub const MAX_PROOF_LEN: usize = 1536;

/// The longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 64;

/// The length of a thumbprint ([`thumbprint`]): 32 bytes of SHA-256 in base64url.
pub const THUMBPRINT_LEN: usize = 43;

/// Why a proof was refused. Each maps to a refusal code ([`ErrorCode::for_proof`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// Not a compact JWS of the expected shape, too long, or with a part that does not decode.
    #[error("proof is malformed")]
    Malformed,
    /// Another `typ` or `alg` than `dpop+jwt` / `ES256`, or a key that is not a P-256 point.
    #[error("proof uses an unsupported type, algorithm or key")]
    Unsupported,
    /// The signature does not verify with the key in the proof's header.
    #[error("proof signature is invalid")]
    BadSignature,
    /// The proof was made for another method or address.
    #[error("proof was made for another request")]
    WrongRequest,
    /// The proof's `ath` is not the hash of the token presented (or is missing).
    #[error("proof was made for another token")]
    WrongToken,
    /// The proof's `iat` is older than [`PROOF_MAX_AGE_SECS`].
    #[error("proof is too old")]
    Expired,
    /// The proof's `iat` lies more than [`PROOF_FUTURE_SECS`] in the future.
    #[error("proof is dated in the future")]
    NotYetValid,
    /// The proof is good, but signed by another key than the token is bound to.
    #[error("proof is signed by another key than the token's")]
    KeyMismatch,
}

impl ErrorCode {
    /// The refusal for a proof that failed verification.
    pub fn for_proof(e: &ProofError) -> ErrorCode {
        match e {
            ProofError::Expired | ProofError::NotYetValid => ErrorCode::ProofExpired,
            ProofError::KeyMismatch => ErrorCode::ProofKeyMismatch,
            ProofError::Malformed
            | ProofError::Unsupported
            | ProofError::BadSignature
            | ProofError::WrongRequest
            | ProofError::WrongToken => ErrorCode::ProofInvalid,
        }
    }
}

/// A P-256 public key as a JSON Web Key (only the members RFC 7638 hashes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `EC`.
    pub kty: String,
    /// Curve: `P-256`.
    pub crv: String,
    /// The x coordinate, base64url, 32 bytes.
    pub x: String,
    /// The y coordinate, base64url, 32 bytes.
    pub y: String,
}

/// The JOSE header of a proof.
#[derive(Debug, Serialize, Deserialize)]
struct ProofHeader {
    typ: String,
    alg: String,
    jwk: PublicJwk,
}

/// The claims of a proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofClaims {
    /// A unique id of the proof (random; at most [`MAX_JTI_LEN`] characters).
    pub jti: String,
    /// The request's method, e.g. `POST`.
    pub htm: String,
    /// The request's address without query and fragment.
    pub htu: String,
    /// When the proof was made, unix seconds.
    pub iat: u64,
    /// base64url(SHA-256(token)) of the token the request presents, if it presents one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ath: Option<String>,
}

/// The address a proof must have been made for.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The whole address as the verifier received it (scheme, authority and path): the edge,
    /// which sees the address the client used.
    Exact(&'a str),
    /// An address whose path ends with this: the origin, which is reached at another address
    /// than the one the client signed, but for the same route (`/sales/{sale}/purchase`).
    PathEndsWith(&'a str),
}

/// What a verifier expects of a proof besides a good signature.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's address.
    pub target: Target<'a>,
    /// The hash ([`token_hash`]) the proof's `ath` must equal; `None` when the request
    /// presents no token, and then the proof must have no `ath`.
    pub ath: Option<&'a str>,
    /// The thumbprint of the key the token is bound to; `None` when the proof introduces it.
    pub key: Option<&'a str>,
    /// The verifier's clock, unix seconds.
    pub now: u64,
}

/// A proof that verified: the thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    /// The key's thumbprint ([`thumbprint`]).
    pub jkt: String,
}

/// base64url(SHA-256(token)): the `ath` of a proof that presents `token`.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The RFC 7638 thumbprint of a P-256 key: base64url(SHA-256) of its required members in
/// lexicographic order, without whitespace.
pub fn thumbprint(jwk: &PublicJwk) -> String {
    // The members are checked to be base64url before this is called on a client's key, so
    // nothing in them needs escaping; serde_json would write the same bytes.
    let canonical = format!(
        r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
        jwk.crv, jwk.kty, jwk.x, jwk.y
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Whether `s` has the shape of a thumbprint: 43 base64url characters.
pub fn is_thumbprint(s: &str) -> bool {
    s.len() == THUMBPRINT_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The device a key stands for in the join limits and the audit: a digest of its thumbprint,
/// 32 hex digits, the same shape as the network-and-browser digest tokens without a key carry
/// (see [`crate::token::client_binding`]), so the limits and the audit count both alike.
pub fn key_client(jkt: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"herdgate/key/v1\0");
    h.update(jkt.as_bytes());
    crate::ids::to_hex(&h.finalize()[..16])
}

/// `htu` without query and fragment, with its scheme and authority in lower case.
fn normalized(htu: &str) -> String {
    let end = htu.find(['?', '#']).unwrap_or(htu.len());
    let htu = &htu[..end];
    let path_at = htu
        .find("://")
        .map(|i| i + 3)
        .and_then(|from| htu[from..].find('/').map(|j| from + j))
        .unwrap_or(htu.len());
    let mut out = htu[..path_at].to_ascii_lowercase();
    out.push_str(&htu[path_at..]);
    out
}

/// The path of a normalized `htu` (empty if it has none).
fn path_of(htu: &str) -> &str {
    htu.find("://")
        .map(|i| i + 3)
        .and_then(|from| htu[from..].find('/').map(|j| &htu[from + j..]))
        .unwrap_or("")
}

fn b64_part(part: &str) -> Result<Vec<u8>, ProofError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ProofError::Malformed)
}

fn coordinate(b64: &str) -> Result<[u8; 32], ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| ProofError::Unsupported)?;
    bytes.try_into().map_err(|_| ProofError::Unsupported)
}

/// A proof taken apart, its shape, type, algorithm and key checked, before its signature and
/// its claims are: for a verifier that checks the signature elsewhere (the runtime's WebCrypto)
/// and then the claims here, in the same order as [`verify`].
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// The public key in the proof's header.
    pub jwk: PublicJwk,
    /// The bytes the signature covers: `<header>.<payload>` as sent.
    pub signed: &'a str,
    /// The signature, raw r‖s (64 bytes).
    pub signature: Vec<u8>,
    payload_b64: &'a str,
}

/// Takes `proof` apart (see [`Parsed`]): its shape and length, type, algorithm and key.
pub fn parse(proof: &str) -> Result<Parsed<'_>, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let header: ProofHeader =
        serde_json::from_slice(&b64_part(header_b64)?).map_err(|_| ProofError::Malformed)?;
    if header.typ != "dpop+jwt"
        || header.alg != "ES256"
        || header.jwk.kty != "EC"
        || header.jwk.crv != "P-256"
    {
        return Err(ProofError::Unsupported);
    }
    coordinate(&header.jwk.x)?;
    coordinate(&header.jwk.y)?;
    let signature = b64_part(sig_b64)?;
    if signature.len() != 64 {
        return Err(ProofError::BadSignature);
    }
    Ok(Parsed {
        jwk: header.jwk,
        signed: &proof[..header_b64.len() + 1 + payload_b64.len()],
        signature,
        payload_b64,
    })
}

impl Parsed<'_> {
    /// Checks the signature with this crate's P-256 (the `p256` crate, in wasm at the edge).
    pub fn verify_signature(&self) -> Result<(), ProofError> {
        let (x, y) = (coordinate(&self.jwk.x)?, coordinate(&self.jwk.y)?);
        let point = EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
        let key = VerifyingKey::from_encoded_point(&point).map_err(|_| ProofError::Unsupported)?;
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| ProofError::BadSignature)?;
        key.verify(self.signed.as_bytes(), &signature)
            .map_err(|_| ProofError::BadSignature)
    }

    /// Checks the claims against `expect` (call it once the signature is good) and returns
    /// the key's thumbprint. In this order: claims, method and address, time, token, key.
    pub fn check(&self, expect: &Expect<'_>) -> Result<Proven, ProofError> {
        let claims: ProofClaims = serde_json::from_slice(&b64_part(self.payload_b64)?)
            .map_err(|_| ProofError::Malformed)?;
        if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
            return Err(ProofError::Malformed);
        }
        let htu = normalized(&claims.htu);
        let same_target = match expect.target {
            Target::Exact(url) => htu == normalized(url),
            Target::PathEndsWith(suffix) => path_of(&htu).ends_with(suffix),
        };
        if claims.htm != expect.method || !same_target {
            return Err(ProofError::WrongRequest);
        }
        if claims.iat.saturating_add(PROOF_MAX_AGE_SECS) < expect.now {
            return Err(ProofError::Expired);
        }
        if claims.iat > expect.now.saturating_add(PROOF_FUTURE_SECS) {
            return Err(ProofError::NotYetValid);
        }
        if claims.ath.as_deref() != expect.ath {
            return Err(ProofError::WrongToken);
        }
        let jkt = thumbprint(&self.jwk);
        if expect.key.is_some_and(|k| k != jkt) {
            return Err(ProofError::KeyMismatch);
        }
        Ok(Proven { jkt })
    }
}

/// Verifies `proof` for the request described by `expect` and returns its key's thumbprint.
///
/// The checks run in this order, and the first that fails is returned: shape and length,
/// type, algorithm and key, signature, claims, method and address, time, token, key.
pub fn verify(proof: &str, expect: &Expect<'_>) -> Result<Proven, ProofError> {
    let parsed = parse(proof)?;
    parsed.verify_signature()?;
    parsed.check(expect)
}

/// What signs a proof with a device's private key: ECDSA P-256 with SHA-256 over `message`,
/// as raw r‖s. This crate's own is the `p256` crate ([`ProofKey::from_secret`]); a native
/// client can bring a faster one ([`ProofKey::with_signer`]).
pub trait Es256Signer: Send + Sync {
    /// The signature of `message`.
    fn sign_es256(&self, message: &[u8]) -> [u8; 64];
}

/// The `p256` crate's signer.
struct P256Signer(SigningKey);

impl Es256Signer for P256Signer {
    fn sign_es256(&self, message: &[u8]) -> [u8; 64] {
        let signature: Signature = self.0.sign(message);
        signature.to_bytes().into()
    }
}

/// A device's key, for clients that prove in Rust (the test client, the simulator, an app's
/// harness): signs proofs the way the page does with WebCrypto. Cheap to clone.
#[derive(Clone)]
pub struct ProofKey {
    signer: Arc<dyn Es256Signer>,
    jwk: PublicJwk,
    jkt: String,
    header_b64: String,
}

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofKey")
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

/// The secret given to [`ProofKey::from_secret`] is not a valid P-256 scalar (zero, or not
/// below the group order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid P-256 secret key")]
pub struct InvalidSecret;

impl ProofKey {
    /// The key whose secret scalar is `secret` (32 random bytes from the caller's CSPRNG: this
    /// crate draws no randomness).
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self, InvalidSecret> {
        let key = SigningKey::from_slice(secret).map_err(|_| InvalidSecret)?;
        let point = key.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(InvalidSecret);
        };
        let (x, y): ([u8; 32], [u8; 32]) = (
            x.as_slice().try_into().map_err(|_| InvalidSecret)?,
            y.as_slice().try_into().map_err(|_| InvalidSecret)?,
        );
        Ok(Self::with_signer(&x, &y, Arc::new(P256Signer(key))))
    }

    /// The key whose public point is (`x`, `y`) and whose private half `signer` holds. Nothing
    /// checks that they belong together: a proof from a signer of another key fails to verify.
    pub fn with_signer(x: &[u8; 32], y: &[u8; 32], signer: Arc<dyn Es256Signer>) -> Self {
        let jwk = PublicJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: URL_SAFE_NO_PAD.encode(x),
            y: URL_SAFE_NO_PAD.encode(y),
        };
        let header = ProofHeader {
            typ: "dpop+jwt".into(),
            alg: "ES256".into(),
            jwk: jwk.clone(),
        };
        // Serializing a struct of strings cannot fail.
        let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
        ProofKey {
            jkt: thumbprint(&jwk),
            signer,
            jwk,
            header_b64,
        }
    }

    /// The public key.
    pub fn jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// The public key's thumbprint: what tokens bound to this key carry as `jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    /// A proof for a `method` request to `htu` made at `iat` (unix seconds), presenting
    /// `token` (if any), with the unique id `jti`.
    pub fn prove(
        &self,
        method: &str,
        htu: &str,
        iat: u64,
        token: Option<&str>,
        jti: &str,
    ) -> String {
        let claims = ProofClaims {
            jti: jti.to_owned(),
            htm: method.to_owned(),
            htu: htu.to_owned(),
            iat,
            ath: token.map(token_hash),
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let mut out = String::with_capacity(self.header_b64.len() + payload.len() * 2 + 90);
        out.push_str(&self.header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
        let signature = self.signer.sign_es256(out.as_bytes());
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://shop.example/api/v1/sales/s1/purchase";
    const NOW: u64 = 1_764_460_800;

    fn key(byte: u8) -> ProofKey {
        ProofKey::from_secret(&[byte; 32]).unwrap()
    }

    fn expect<'a>(ath: Option<&'a str>, jkt: Option<&'a str>) -> Expect<'a> {
        Expect {
            method: "POST",
            target: Target::Exact(URL),
            ath,
            key: jkt,
            now: NOW,
        }
    }

    #[test]
    fn a_proof_verifies_for_its_request_token_and_key() {
        let k = key(7);
        let ath = token_hash("hg1.pass.k1.x.y");
        let proof = k.prove("POST", URL, NOW, Some("hg1.pass.k1.x.y"), "j1");
        let proven = verify(&proof, &expect(Some(&ath), Some(k.thumbprint()))).unwrap();
        assert_eq!(proven.jkt, k.thumbprint());
        assert!(is_thumbprint(&proven.jkt));
    }

    #[test]
    fn a_proof_for_another_request_token_time_or_key_is_refused() {
        let k = key(7);
        let ath = token_hash("t");
        let proof = k.prove("POST", URL, NOW, Some("t"), "j1");
        let other_ath = token_hash("u");
        assert_eq!(
            verify(&proof, &expect(Some(&other_ath), None)),
            Err(ProofError::WrongToken)
        );
        assert_eq!(
            verify(&proof, &expect(None, None)),
            Err(ProofError::WrongToken)
        );
        let mut get = expect(Some(&ath), None);
        get.method = "GET";
        assert_eq!(verify(&proof, &get), Err(ProofError::WrongRequest));
        let mut join = expect(Some(&ath), None);
        join.target = Target::Exact("https://shop.example/api/v1/sales/s1/join");
        assert_eq!(verify(&proof, &join), Err(ProofError::WrongRequest));
        let mut later = expect(Some(&ath), None);
        later.now = NOW + PROOF_MAX_AGE_SECS + 1;
        assert_eq!(verify(&proof, &later), Err(ProofError::Expired));
        let mut earlier = expect(Some(&ath), None);
        earlier.now = NOW - PROOF_FUTURE_SECS - 1;
        assert_eq!(verify(&proof, &earlier), Err(ProofError::NotYetValid));
        let other = key(8);
        assert_eq!(
            verify(&proof, &expect(Some(&ath), Some(other.thumbprint()))),
            Err(ProofError::KeyMismatch)
        );
        // At the edges of the window it holds.
        let mut edge = expect(Some(&ath), None);
        edge.now = NOW + PROOF_MAX_AGE_SECS;
        assert!(verify(&proof, &edge).is_ok());
    }

    #[test]
    fn the_origin_checks_the_route_not_the_host() {
        let k = key(3);
        let proof = k.prove("POST", URL, NOW, None, "j");
        let mut at_origin = expect(None, None);
        at_origin.target = Target::PathEndsWith("/sales/s1/purchase");
        assert!(verify(&proof, &at_origin).is_ok());
        at_origin.target = Target::PathEndsWith("/sales/s2/purchase");
        assert_eq!(verify(&proof, &at_origin), Err(ProofError::WrongRequest));
    }

    #[test]
    fn query_fragment_and_the_case_of_the_host_do_not_matter() {
        let k = key(3);
        let proof = k.prove(
            "POST",
            "HTTPS://Shop.Example/api/v1/sales/s1/purchase?x=1#f",
            NOW,
            None,
            "j",
        );
        assert!(verify(&proof, &expect(None, None)).is_ok());
        // The path's case does.
        let proof = k.prove(
            "POST",
            "https://shop.example/API/v1/sales/s1/purchase",
            NOW,
            None,
            "j",
        );
        assert_eq!(
            verify(&proof, &expect(None, None)),
            Err(ProofError::WrongRequest)
        );
    }

    #[test]
    fn a_tampered_or_foreign_proof_is_invalid() {
        let k = key(5);
        let proof = k.prove("POST", URL, NOW, None, "j");
        let (head, rest) = proof.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        // The payload swapped for another request's, under the same signature.
        let other = k.prove("POST", "https://evil.example/x", NOW, None, "j");
        let other_payload = other.split('.').nth(1).unwrap();
        let forged = format!("{head}.{other_payload}.{sig}");
        assert_eq!(
            verify(&forged, &expect(None, None)),
            Err(ProofError::BadSignature)
        );
        // Another key's header over this signature.
        let other_head = key(6).prove("POST", URL, NOW, None, "j");
        let other_head = other_head.split('.').next().unwrap();
        let forged = format!("{other_head}.{rest}");
        assert_eq!(
            verify(&forged, &expect(None, None)),
            Err(ProofError::BadSignature)
        );
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.b.c",
            &"a".repeat(MAX_PROOF_LEN + 1),
        ] {
            assert_eq!(
                verify(bad, &expect(None, None)),
                Err(ProofError::Malformed),
                "{bad:.20}"
            );
        }
    }

    #[test]
    fn only_es256_on_p256_is_accepted() {
        let k = key(5);
        let proof = k.prove("POST", URL, NOW, None, "j");
        let rest = proof.split_once('.').unwrap().1;
        for header in [
            serde_json::json!({"typ":"dpop+jwt","alg":"none","jwk":k.jwk()}),
            serde_json::json!({"typ":"dpop+jwt","alg":"HS256","jwk":k.jwk()}),
            serde_json::json!({"typ":"JWT","alg":"ES256","jwk":k.jwk()}),
            serde_json::json!({"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-384","x":k.jwk().x,"y":k.jwk().y}}),
            // A point that is not on the curve.
            serde_json::json!({"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":k.jwk().x,"y":k.jwk().x}}),
        ] {
            let h = URL_SAFE_NO_PAD.encode(header.to_string());
            assert_eq!(
                verify(&format!("{h}.{rest}"), &expect(None, None)),
                Err(ProofError::Unsupported),
                "{header}"
            );
        }
    }

    #[test]
    fn the_thumbprint_follows_rfc_7638() {
        let k = key(9);
        let jwk = k.jwk();
        // The canonical form written out by hand, hashed independently.
        let canonical = serde_json::json!({"crv": jwk.crv, "kty": jwk.kty, "x": jwk.x, "y": jwk.y});
        // serde_json's map keeps keys sorted, as RFC 7638 asks.
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string().as_bytes()));
        assert_eq!(thumbprint(jwk), expected);
        assert_ne!(key(10).thumbprint(), k.thumbprint());
        assert_eq!(key_client(k.thumbprint()).len(), 32);
    }

    #[test]
    fn an_invalid_secret_is_refused() {
        assert_eq!(ProofKey::from_secret(&[0; 32]).unwrap_err(), InvalidSecret);
        assert!(ProofKey::from_secret(&[0xff; 32]).is_err());
    }
}
