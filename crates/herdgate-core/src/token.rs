//! Signed tokens: the proof-of-work challenge, the queue ticket and the admission pass.
//!
//! # Wire form
//!
//! ```text
//! hg1.<kind>.<kid>.<payload>.<tag>
//! ```
//!
//! - `hg1`: the format version. Anything else is refused with [`TokenError::UnsupportedVersion`].
//! - `<kind>`: `chal`, `tkt` or `pass` ([`TokenKind::label`]).
//! - `<kid>`: the id of the key that signed the token, so keys can rotate: a [`Keyring`] signs
//!   with its first key and verifies with any of its keys.
//! - `<payload>`: the claims as JSON, base64url without padding.
//! - `<tag>`: HMAC-SHA256 over the ASCII bytes `hg1.<kind>.<kid>.<payload>`, base64url without
//!   padding.
//!
//! Because the kind and the version are inside the MAC input, a token of one kind can never
//! verify as another kind (domain separation), even though all kinds may share one key. Tags
//! are checked with [`hmac::Mac::verify_slice`], which compares in constant time; claims are
//! parsed only after the tag is good.
//!
//! Times in claims are unix seconds. [`Check::leeway`] absorbs clock skew between the edge and
//! the origin.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{SaleId, VisitorId};

/// The token format version this crate reads and writes.
pub const TOKEN_VERSION: &str = "hg1";

/// Tokens longer than this are refused before any work is done on them.
pub const MAX_TOKEN_LEN: usize = 2048;

/// The shortest secret accepted, in bytes (the HMAC-SHA256 output size).
pub const MIN_SECRET_LEN: usize = 32;

/// Seconds of clock skew tolerated on ticket and pass validity windows, by the edge (between
/// its locations) and by default at the origin (between the edge that signed a pass and it).
pub const CLOCK_LEEWAY_SECS: u64 = 5;

/// The longest key id accepted, in bytes.
pub const MAX_KID_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// The kind of a token. Each kind is signed under its own label, so one kind is never accepted
/// as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// A proof-of-work challenge, handed out before joining the queue.
    Challenge,
    /// A queue ticket: a visitor's position in a sale's queue.
    Ticket,
    /// An admission pass: permission to buy, valid for a short time slice.
    Pass,
}

impl TokenKind {
    /// The label that stands for this kind in the wire form.
    pub const fn label(self) -> &'static str {
        match self {
            TokenKind::Challenge => "chal",
            TokenKind::Ticket => "tkt",
            TokenKind::Pass => "pass",
        }
    }

    fn from_label(label: &str) -> Option<Self> {
        match label {
            "chal" => Some(TokenKind::Challenge),
            "tkt" => Some(TokenKind::Ticket),
            "pass" => Some(TokenKind::Pass),
            _ => None,
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Every way a token can fail verification. Each variant maps to its own refusal code (see
/// [`crate::ErrorCode::for_pass`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not of the form `hg1.<kind>.<kid>.<payload>.<tag>`, is too long, or a part
    /// is not valid base64url.
    #[error("token is malformed")]
    Malformed,
    /// The token is of a format version this build does not know.
    #[error("token version is not supported")]
    UnsupportedVersion,
    /// The token is a well-formed token of another kind (e.g. a ticket offered as a pass).
    #[error("token is a {found}, expected a {expected}")]
    WrongKind {
        /// The kind the verifier asked for.
        expected: TokenKind,
        /// The kind the token says it is.
        found: TokenKind,
    },
    /// The token names a key id the keyring does not hold (forged, or signed by a retired key).
    #[error("token was signed by an unknown key")]
    UnknownKey,
    /// The tag does not match: the token was forged or tampered with.
    #[error("token signature is invalid")]
    BadSignature,
    /// The tag is good but the claims do not parse (a signing bug, or claims of another version).
    #[error("token claims are invalid")]
    InvalidClaims,
    /// The token is for another sale.
    #[error("token is for another sale")]
    WrongSale,
    /// The token's not-before time is still in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// The token's expiry time has passed.
    #[error("token has expired")]
    Expired,
}

/// Why a keyring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// No keys were given.
    #[error("a keyring needs at least one key")]
    Empty,
    /// A key id is empty, too long, or has a character outside `A-Z a-z 0-9 _ -`.
    #[error("key id must be 1 to {MAX_KID_LEN} letters, digits, '_' or '-'")]
    InvalidKid,
    /// Two keys share one key id.
    #[error("key id {0:?} appears twice")]
    DuplicateKid(String),
    /// A secret is shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("a secret must be at least {MIN_SECRET_LEN} bytes")]
    SecretTooShort,
    /// An entry of a keyring spec is not `kid:base64url-secret`.
    #[error("keyring spec entries must look like kid:base64url-secret")]
    InvalidSpec,
}

/// Secret key material. `Debug` is redacted and equality is constant time, so a secret can sit
/// in a config struct without leaking into logs.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps raw key bytes; at least [`MIN_SECRET_LEN`] of them.
    pub fn new(bytes: Vec<u8>) -> Result<Self, KeyringError> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(KeyringError::SecretTooShort);
        }
        Ok(Secret(bytes))
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Secret {}

/// A set of HMAC keys, each with an id. The first key signs; every key verifies. To rotate,
/// put the new key first and keep the old one until every token it signed has expired.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, HmacSha256)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field(
                "kids",
                &self.keys.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// Builds a keyring from `(kid, secret)` pairs; the first signs.
    pub fn new(keys: Vec<(String, Secret)>) -> Result<Self, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        let mut out: Vec<(String, HmacSha256)> = Vec::with_capacity(keys.len());
        for (kid, secret) in keys {
            if !valid_kid(&kid) {
                return Err(KeyringError::InvalidKid);
            }
            if out.iter().any(|(k, _)| *k == kid) {
                return Err(KeyringError::DuplicateKid(kid));
            }
            // HMAC accepts keys of any length, so this cannot fail.
            let mac = <HmacSha256 as Mac>::new_from_slice(secret.expose())
                .map_err(|_| KeyringError::SecretTooShort)?;
            out.push((kid, mac));
        }
        Ok(Keyring { keys: out })
    }

    /// Parses `kid:secret[,kid:secret...]` where each secret is base64url (padding optional)
    /// of at least [`MIN_SECRET_LEN`] bytes. This is the form of the `HERDGATE_PASS_KEYS`
    /// setting and the worker's secrets.
    pub fn parse(spec: &str) -> Result<Self, KeyringError> {
        let mut keys = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, b64) = entry.split_once(':').ok_or(KeyringError::InvalidSpec)?;
            let bytes = URL_SAFE_NO_PAD
                .decode(b64.trim().trim_end_matches('='))
                .map_err(|_| KeyringError::InvalidSpec)?;
            keys.push((kid.trim().to_owned(), Secret::new(bytes)?));
        }
        Keyring::new(keys)
    }

    /// The id of the key that signs.
    pub fn signing_kid(&self) -> &str {
        &self.keys[0].0
    }

    /// Signs `claims` with the first key.
    pub fn sign<C: Claims>(&self, claims: &C) -> String {
        let (kid, mac) = &self.keys[0];
        // Serializing plain structs of strings and integers cannot fail.
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let mut token = String::with_capacity(64 + json.len() * 4 / 3);
        token.push_str(TOKEN_VERSION);
        token.push('.');
        token.push_str(C::KIND.label());
        token.push('.');
        token.push_str(kid);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        let mut mac = mac.clone();
        mac.update(token.as_bytes());
        let tag = mac.finalize().into_bytes();
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut token);
        token
    }

    /// A MAC over `message` with the signing key, for a use other than a token, as
    /// `<kid>.<tag>` (tag: base64url HMAC-SHA256 over `label`, a zero byte and `message`).
    ///
    /// `label` names the use (such as `herdgate/lane-form/v1`) so a tag of one use never
    /// verifies for another. A label must not start with `hg1.`: token MACs cover bytes that
    /// start so, and only then can neither kind of MAC pass for the other.
    pub fn tag(&self, label: &str, message: &[u8]) -> String {
        let (kid, mac) = &self.keys[0];
        let mut mac = mac.clone();
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        let mut out = String::with_capacity(kid.len() + 44);
        out.push_str(kid);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut out);
        out
    }

    /// Whether `tagged` is [`Self::tag`]`(label, message)` by any key of this ring (so a tag
    /// outlives a rotation as long as its key stays in the ring). The tag is compared in
    /// constant time.
    pub fn verify_tag(&self, label: &str, message: &[u8], tagged: &str) -> bool {
        // A kid, a dot and a 43-character tag; anything much longer is not worth decoding.
        if tagged.len() > MAX_KID_LEN + 1 + 64 {
            return false;
        }
        let Some((kid, tag_b64)) = tagged.split_once('.') else {
            return false;
        };
        let Some((_, mac)) = self.keys.iter().find(|(k, _)| k == kid) else {
            return false;
        };
        let Ok(tag) = URL_SAFE_NO_PAD.decode(tag_b64) else {
            return false;
        };
        let mut mac = mac.clone();
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(message);
        mac.verify_slice(&tag).is_ok()
    }

    /// Verifies `token` as a token of kind `C::KIND` for the sale and instant in `check`, and
    /// returns its claims.
    ///
    /// The checks run in this order, and the first that fails is returned: shape and length,
    /// version, kind, key id, tag (constant time), claims, sale, not-before, expiry.
    pub fn verify<C: Claims>(&self, token: &str, check: &Check<'_>) -> Result<C, TokenError> {
        let parts = Parts::of::<C>(token)?;
        let kid = parts.kid;
        let mac = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, m)| m)
            .ok_or(TokenError::UnknownKey)?;
        let tag = URL_SAFE_NO_PAD
            .decode(parts.tag_b64)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = mac.clone();
        mac.update(parts.signed.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;

        let claims: C = parts.claims()?;
        if claims.sale() != check.sale {
            return Err(TokenError::WrongSale);
        }
        if check.now.saturating_add(check.leeway) < claims.not_before() {
            return Err(TokenError::NotYetValid);
        }
        if check.now >= claims.expires().saturating_add(check.leeway) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// The parts of a token's wire form, split and checked for shape, version and kind.
struct Parts<'a> {
    /// `hg1.<kind>.<kid>.<payload>`: what the tag covers.
    signed: &'a str,
    kid: &'a str,
    payload_b64: &'a str,
    tag_b64: &'a str,
}

impl<'a> Parts<'a> {
    fn of<C: Claims>(token: &'a str) -> Result<Self, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (signed, tag_b64) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let mut parts = signed.splitn(4, '.');
        let (Some(version), Some(kind), Some(kid), Some(payload_b64)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if payload_b64.contains('.') {
            return Err(TokenError::Malformed);
        }
        if version != TOKEN_VERSION {
            return Err(TokenError::UnsupportedVersion);
        }
        let found = TokenKind::from_label(kind).ok_or(TokenError::Malformed)?;
        if found != C::KIND {
            return Err(TokenError::WrongKind {
                expected: C::KIND,
                found,
            });
        }
        Ok(Parts {
            signed,
            kid,
            payload_b64,
            tag_b64,
        })
    }

    fn claims<C: Claims>(&self) -> Result<C, TokenError> {
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload_b64)
            .map_err(|_| TokenError::InvalidClaims)?;
        serde_json::from_slice(&payload).map_err(|_| TokenError::InvalidClaims)
    }
}

/// Reads the claims of a token of kind `C::KIND` **without verifying its tag**.
///
/// For the holder of a token, who cannot verify it (only the edge and the origin hold the
/// keys) but may read what it says: an app showing its position, a simulator reading the
/// moment the edge stamped on its pass. Nothing read this way may be trusted by a server.
pub fn read_unverified<C: Claims>(token: &str) -> Result<C, TokenError> {
    Parts::of::<C>(token)?.claims()
}

/// What a verifier expects of a token besides a good signature.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The sale the request is about; a token for another sale is refused.
    pub sale: &'a SaleId,
    /// The verifier's clock, unix seconds.
    pub now: u64,
    /// Seconds of clock skew tolerated on both ends of the validity window.
    pub leeway: u64,
}

/// Claims that can be carried by a token. Implemented by the three token kinds.
pub trait Claims: Serialize + DeserializeOwned {
    /// The kind these claims are signed as.
    const KIND: TokenKind;
    /// The sale the token is for.
    fn sale(&self) -> &SaleId;
    /// Unix seconds before which the token is not valid.
    fn not_before(&self) -> u64;
    /// Unix seconds from which the token is no longer valid.
    fn expires(&self) -> u64;
    /// The client binding (see [`client_binding`]) of the client the token was issued to, or,
    /// for a token bound to a key, [`crate::proof::key_client`] of the key's thumbprint.
    fn client(&self) -> &str;
    /// The thumbprint of the key the token is bound to (see [`crate::proof`]); empty for a
    /// token bound by `client` alone (the no-JavaScript lane's).
    fn jkt(&self) -> &str;
}

/// A proof-of-work challenge: find a nonce for this token (see [`crate::pow`]) within its
/// validity window, then spend it once to join the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeClaims {
    /// The sale the challenge admits to.
    pub sale: SaleId,
    /// A random id (hex), used to spend the challenge exactly once.
    pub id: String,
    /// The client binding (see [`client_binding`]) of the client the challenge was issued to.
    pub client: String,
    /// Required leading zero bits of the proof-of-work digest.
    pub bits: u8,
    /// Not valid before (unix seconds).
    pub nbf: u64,
    /// Expires at (unix seconds).
    pub exp: u64,
    /// A digest of the client's network (its IP prefix), for per-network limits and the
    /// audit; empty if not recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
    /// A digest of the device signals the page reported, for the audit; empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dev: String,
    /// The thumbprint ([`crate::proof::thumbprint`]) of the key the token is bound to: a
    /// request that uses it must carry a proof signed by that key. Empty for a token of the
    /// no-JavaScript lane, which is bound by `client` alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jkt: String,
    /// How many of `bits` a device's history asked for: 0 for a challenge as issued, more for
    /// the harder one a join hands back (`more_work_required`), so that the rest of `bits` is
    /// known to be what the challenge rate asked when it was issued
    /// ([`crate::defence::PowPolicy::enough`]).
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub hx: u8,
    /// The visitor's home region (see [`crate::region`]), chosen by the edge from where the
    /// request came from; empty where the deployment has one region. A region's origin
    /// refuses a pass of another region.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reg: String,
}

fn is_zero_u8(v: &u8) -> bool {
    *v == 0
}

/// A queue ticket: the visitor's place in a sale's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClaims {
    /// The sale queued for.
    pub sale: SaleId,
    /// The visitor the ticket belongs to.
    pub visitor: VisitorId,
    /// 0-based position in the sale's queue; admitted once the frontier passes it.
    pub position: u64,
    /// The client binding of the client that joined.
    pub client: String,
    /// Issued at (unix seconds); also the not-before time.
    pub iat: u64,
    /// Expires at (unix seconds).
    pub exp: u64,
    /// A digest of the client's network (its IP prefix), for per-network limits and the
    /// audit; empty if not recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
    /// A digest of the device signals the page reported, for the audit; empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dev: String,
    /// The thumbprint ([`crate::proof::thumbprint`]) of the key the token is bound to: a
    /// request that uses it must carry a proof signed by that key. Empty for a token of the
    /// no-JavaScript lane, which is bound by `client` alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jkt: String,
    /// The card hold (a PaymentIntent id) taken for this place in line; empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hold: String,
    /// When the hold was authorised (unix seconds); 0 without a hold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hat: u64,
    /// The visitor's home region (see [`crate::region`]), chosen by the edge from where the
    /// request came from; empty where the deployment has one region. A region's origin
    /// refuses a pass of another region.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reg: String,
}

/// An admission pass: permission for one visitor to buy in one sale, for a short time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassClaims {
    /// The sale the pass buys in.
    pub sale: SaleId,
    /// The visitor the pass was issued to; orders are keyed by it.
    pub visitor: VisitorId,
    /// An id (hex) so the pass can be spent exactly once; the edge derives it from the sale
    /// and the visitor ([`crate::gate::pass::pass_id`]).
    pub id: String,
    /// The queue position the pass was earned with.
    pub position: u64,
    /// The client binding of the client the pass was issued to.
    pub client: String,
    /// The admission time slice the pass belongs to (see [`crate::admission::slice_of`]).
    pub slice: u64,
    /// Not valid before (unix seconds): the start of its time slice.
    pub nbf: u64,
    /// Expires at (unix seconds).
    pub exp: u64,
    /// A digest of the client's network (its IP prefix), for per-network limits and the
    /// audit; empty if not recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub net: String,
    /// A digest of the device signals the page reported, for the audit; empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dev: String,
    /// The thumbprint ([`crate::proof::thumbprint`]) of the key the token is bound to: a
    /// request that uses it must carry a proof signed by that key. Empty for a token of the
    /// no-JavaScript lane, which is bound by `client` alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jkt: String,
    /// When the edge admitted the visitor (unix ms), for the audit's timing signal; 0 if
    /// not recorded.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub adm: u64,
    /// When the edge received the purchase this pass is forwarded with (unix ms). Only the
    /// edge sets it, re-signing the pass as it forwards it, so the audit measures a buyer's
    /// time from admission to purchase on one clock and without the edge's own delays; 0
    /// when the pass comes straight from a client.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rcv: u64,
    /// The hash ([`crate::proof::token_hash`]) of the pass as the client presented it, set by
    /// the edge with `rcv` when it re-signs the pass to forward it: the client's proof, which
    /// the origin verifies again, was made over that token, not over the re-signed one.
    /// Empty when the pass comes straight from a client.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ath: String,
    /// A shared pass, for the audit: set by edges before 2026-11-29 when the pass had also
    /// been offered from another client (and refused there). No edge sets it now: that
    /// refusal records nothing, because a phone that changed networks, or someone who copied
    /// the pass, must not get the owner's order flagged. Kept so passes and recorded orders
    /// of those edges still read.
    #[serde(default, skip_serializing_if = "is_false")]
    pub shr: bool,
    /// The card hold the ticket carried (a PaymentIntent id), captured when this pass buys;
    /// empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hold: String,
    /// When the hold was authorised (unix seconds); 0 without a hold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hat: u64,
    /// The visitor's home region (see [`crate::region`]), chosen by the edge from where the
    /// request came from; empty where the deployment has one region. A region's origin
    /// refuses a pass of another region.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reg: String,
}

impl PassClaims {
    /// A pass for `visitor` in `sale` with id `id` (hex), valid from `nbf` until `exp` (unix
    /// seconds), for position 0, bound to no client, with no audit facts and no card hold.
    ///
    /// The passes the edge issues come from [`crate::gate::pass::issue`]; this is for tools
    /// that mint their own: tests and benchmarks that hold the keys, and simulated forgers
    /// that do not. Set other fields with struct update syntax.
    pub fn bare(sale: SaleId, visitor: VisitorId, id: String, nbf: u64, exp: u64) -> Self {
        PassClaims {
            sale,
            visitor,
            id,
            position: 0,
            client: String::new(),
            slice: 0,
            nbf,
            exp,
            net: String::new(),
            dev: String::new(),
            jkt: String::new(),
            adm: 0,
            rcv: 0,
            ath: String::new(),
            shr: false,
            hold: String::new(),
            hat: 0,
            reg: String::new(),
        }
    }
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

macro_rules! impl_claims {
    ($ty:ty, $kind:expr, $nbf:ident, $exp:ident) => {
        impl Claims for $ty {
            const KIND: TokenKind = $kind;
            fn sale(&self) -> &SaleId {
                &self.sale
            }
            fn not_before(&self) -> u64 {
                self.$nbf
            }
            fn expires(&self) -> u64 {
                self.$exp
            }
            fn client(&self) -> &str {
                &self.client
            }
            fn jkt(&self) -> &str {
                &self.jkt
            }
        }
    };
}

impl_claims!(ChallengeClaims, TokenKind::Challenge, nbf, exp);
impl_claims!(TicketClaims, TokenKind::Ticket, iat, exp);
impl_claims!(PassClaims, TokenKind::Pass, nbf, exp);

/// The client binding: a short digest of request facts that stay the same for one client
/// (the IP prefix and the user agent), carried by challenges, tickets and passes so that a
/// token copied to another client can be told apart. Hex, 32 characters.
pub fn client_binding(ip_prefix: &str, user_agent: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"herdgate/client/v1\0");
    h.update(ip_prefix.as_bytes());
    h.update(b"\0");
    h.update(user_agent.as_bytes());
    crate::ids::to_hex(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(kid: &str, byte: u8) -> Keyring {
        Keyring::new(vec![(kid.into(), Secret::new(vec![byte; 32]).unwrap())]).unwrap()
    }

    fn sale(s: &str) -> SaleId {
        SaleId::parse(s).unwrap()
    }

    fn pass(sale_id: &str) -> PassClaims {
        PassClaims {
            position: 7,
            client: client_binding("203.0.113.0/24", "test"),
            slice: 100,
            ..PassClaims::bare(
                sale(sale_id),
                VisitorId::parse("v1").unwrap(),
                "00ff".into(),
                1_000,
                1_300,
            )
        }
    }

    fn check(s: &SaleId, now: u64) -> Check<'_> {
        Check {
            sale: s,
            now,
            leeway: 0,
        }
    }

    #[test]
    fn round_trip() {
        let r = ring("k1", 1);
        let s = sale("s1");
        let t = r.sign(&pass("s1"));
        assert!(t.starts_with("hg1.pass.k1."));
        assert_eq!(
            r.verify::<PassClaims>(&t, &check(&s, 1_000)).unwrap(),
            pass("s1")
        );
    }

    #[test]
    fn a_holder_reads_its_claims_without_the_key_and_only_for_the_kind_asked() {
        let t = ring("k1", 1).sign(&pass("s1"));
        assert_eq!(read_unverified::<PassClaims>(&t).unwrap(), pass("s1"));
        assert_eq!(
            read_unverified::<TicketClaims>(&t),
            Err(TokenError::WrongKind {
                expected: TokenKind::Ticket,
                found: TokenKind::Pass
            })
        );
        assert_eq!(
            read_unverified::<PassClaims>("hg1.pass.k1.!!.x"),
            Err(TokenError::InvalidClaims)
        );
        assert_eq!(
            read_unverified::<PassClaims>("hg2.pass.k1.e30.x"),
            Err(TokenError::UnsupportedVersion)
        );
    }

    #[test]
    fn validity_window_is_half_open() {
        let r = ring("k1", 1);
        let s = sale("s1");
        let t = r.sign(&pass("s1"));
        assert_eq!(
            r.verify::<PassClaims>(&t, &check(&s, 999)),
            Err(TokenError::NotYetValid)
        );
        assert!(r.verify::<PassClaims>(&t, &check(&s, 1_299)).is_ok());
        assert_eq!(
            r.verify::<PassClaims>(&t, &check(&s, 1_300)),
            Err(TokenError::Expired)
        );
        let lenient = Check {
            sale: &s,
            now: 1_304,
            leeway: 5,
        };
        assert!(r.verify::<PassClaims>(&t, &lenient).is_ok());
    }

    #[test]
    fn every_byte_of_the_tag_and_payload_matters() {
        let r = ring("k1", 1);
        let s = sale("s1");
        let t = r.sign(&pass("s1"));
        let prefix = "hg1.pass.k1.".len();
        for i in prefix..t.len() {
            let mut bytes = t.clone().into_bytes();
            if bytes[i] == b'.' {
                continue;
            }
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            let err = r
                .verify::<PassClaims>(&tampered, &check(&s, 1_000))
                .unwrap_err();
            assert!(
                matches!(err, TokenError::BadSignature | TokenError::Malformed),
                "byte {i}: {err:?}"
            );
        }
    }

    #[test]
    fn kinds_are_domain_separated() {
        let r = ring("k1", 1);
        let s = sale("s1");
        let ticket = TicketClaims {
            sale: s.clone(),
            visitor: VisitorId::parse("v1").unwrap(),
            position: 1,
            client: String::new(),
            iat: 1_000,
            exp: 2_000,
            net: String::new(),
            dev: String::new(),
            jkt: String::new(),
            hold: String::new(),
            hat: 0,
            reg: String::new(),
        };
        let t = r.sign(&ticket);
        assert_eq!(
            r.verify::<PassClaims>(&t, &check(&s, 1_000)),
            Err(TokenError::WrongKind {
                expected: TokenKind::Pass,
                found: TokenKind::Ticket
            })
        );
        // Relabelling the kind breaks the tag.
        let relabelled = t.replacen(".tkt.", ".pass.", 1);
        assert_eq!(
            r.verify::<PassClaims>(&relabelled, &check(&s, 1_000)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn keys_rotate_by_kid() {
        let old = ring("old", 1);
        let s = sale("s1");
        let t = old.sign(&pass("s1"));
        let rotated = Keyring::new(vec![
            ("new".into(), Secret::new(vec![2; 32]).unwrap()),
            ("old".into(), Secret::new(vec![1; 32]).unwrap()),
        ])
        .unwrap();
        assert!(rotated.verify::<PassClaims>(&t, &check(&s, 1_000)).is_ok());
        assert!(rotated.sign(&pass("s1")).starts_with("hg1.pass.new."));
        let retired = ring("new", 2);
        assert_eq!(
            retired.verify::<PassClaims>(&t, &check(&s, 1_000)),
            Err(TokenError::UnknownKey)
        );
        // Same kid, different secret: a forgery.
        let forger = ring("old", 9);
        assert_eq!(
            old.verify::<PassClaims>(&forger.sign(&pass("s1")), &check(&s, 1_000)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn refuses_other_sales_versions_and_garbage() {
        let r = ring("k1", 1);
        let s = sale("s2");
        let t = r.sign(&pass("s1"));
        assert_eq!(
            r.verify::<PassClaims>(&t, &check(&s, 1_000)),
            Err(TokenError::WrongSale)
        );
        let s1 = sale("s1");
        let v2 = t.replacen("hg1.", "hg2.", 1);
        assert_eq!(
            r.verify::<PassClaims>(&v2, &check(&s1, 1_000)),
            Err(TokenError::UnsupportedVersion)
        );
        for garbage in [
            "",
            ".",
            "hg1",
            "hg1.pass.k1.e30",
            "hg1.pass.k1.e30.!!",
            "a.b.c.d.e.f",
        ] {
            assert!(
                r.verify::<PassClaims>(garbage, &check(&s1, 1_000)).is_err(),
                "{garbage:?}"
            );
        }
        let long = format!("{t}{}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            r.verify::<PassClaims>(&long, &check(&s1, 1_000)),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn keyring_spec_parsing() {
        let secret = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let r = Keyring::parse(&format!("a:{secret}, b:{secret}=")).unwrap();
        assert_eq!(r.signing_kid(), "a");
        assert_eq!(Keyring::parse("").unwrap_err(), KeyringError::Empty);
        assert_eq!(Keyring::parse("a").unwrap_err(), KeyringError::InvalidSpec);
        assert_eq!(
            Keyring::parse("a:AAAA").unwrap_err(),
            KeyringError::SecretTooShort
        );
        assert_eq!(
            Keyring::parse(&format!("a:{secret},a:{secret}")).unwrap_err(),
            KeyringError::DuplicateKid("a".into())
        );
        assert_eq!(
            Keyring::parse(&format!("a.b:{secret}")).unwrap_err(),
            KeyringError::InvalidKid
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret::new(vec![0x41; 32]).unwrap();
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s, Secret::new(vec![0x41; 32]).unwrap());
        assert_ne!(s, Secret::new(vec![0x42; 32]).unwrap());
        let r = ring("k1", 0x41);
        assert!(!format!("{r:?}").contains("AAAA"));
    }
}
