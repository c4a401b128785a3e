//! [`TestKeys`]: a fresh pass keyring and admin token per test, and signed passes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use herdgate_core::{Keyring, PassClaims, SaleId, VisitorId};
use rand::RngCore as _;

use crate::now_ms;

/// The spec of a keyring of one random 32-byte key with id `kid`, as `--pass-keys` and the
/// worker's key bindings take it.
pub fn keyring_spec(kid: &str) -> String {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    format!("{kid}:{}", URL_SAFE_NO_PAD.encode(secret))
}

/// A fresh pass keyring and admin token.
#[derive(Clone)]
pub struct TestKeys {
    /// The keyring spec, as `--pass-keys` takes it.
    pub spec: String,
    /// The keyring.
    pub keyring: Keyring,
    /// The admin bearer token.
    pub admin_token: String,
}

impl TestKeys {
    /// Random keys (kid `t1`).
    pub fn generate() -> Self {
        let spec = keyring_spec("t1");
        let mut admin = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut admin);
        TestKeys {
            keyring: Keyring::parse(&spec).expect("a random 32-byte secret makes a valid keyring"),
            spec,
            admin_token: hex::encode(admin),
        }
    }

    /// The claims of a pass for `visitor` in `sale`, valid from a minute ago for five minutes.
    pub fn pass_claims(&self, sale: &SaleId, visitor: &VisitorId) -> PassClaims {
        let now = now_ms() / 1000;
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        PassClaims {
            slice: now / 10,
            ..PassClaims::bare(
                sale.clone(),
                visitor.clone(),
                hex::encode(id),
                now.saturating_sub(60),
                now + 300,
            )
        }
    }

    /// A signed pass for `visitor` in `sale`.
    pub fn pass(&self, sale: &SaleId, visitor: &VisitorId) -> String {
        self.keyring.sign(&self.pass_claims(sale, visitor))
    }
}
