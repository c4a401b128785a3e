//! Proof signatures (ECDSA P-256, `herdgate_core::proof`) verified by the runtime's own
//! WebCrypto: workerd's native implementation, reached through `crypto.subtle`.
//!
//! Measured side by side in `herdgate-bench edge` (BENCHMARKS.md, "Edge"): verifying in wasm
//! with the `p256` crate added about 2 ms of this machine's time to each request that checks a
//! proof, WebCrypto about 0.2 ms (key import and verify, with the glue of two async calls).
//! Everything but the signature (the shape, the claims, the thumbprint) stays in
//! `herdgate_core::proof`, shared with the origin, which verifies natively.

use std::cell::RefCell;
use std::collections::HashMap;

use herdgate_core::proof::{Parsed, ProofError, PublicJwk};
use worker::js_sys::{self, Array, Function, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

/// `{name: value, …}` as a JavaScript object.
fn object(members: &[(&str, &JsValue)]) -> Result<Object, JsValue> {
    let obj = Object::new();
    for (name, value) in members {
        Reflect::set(&obj, &JsValue::from_str(name), value)?;
    }
    Ok(obj)
}

/// Calls `crypto.subtle[method](...args)` and awaits its promise.
async fn subtle(method: &str, args: &Array) -> Result<JsValue, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))?;
    let subtle = Reflect::get(&crypto, &JsValue::from_str("subtle"))?;
    let call: Function = Reflect::get(&subtle, &JsValue::from_str(method))?.dyn_into()?;
    let promise: Promise = call.apply(&subtle, args)?.dyn_into()?;
    JsFuture::from(promise).await
}

/// Keys this isolate imported lately, by their JWK's `x` and `y`: a buyer proves with one key
/// several times (join, the poll that brings the pass, the purchase), and an isolate that
/// serves them again skips the import.
const KEY_CACHE: usize = 4096;

thread_local! {
    static KEYS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
}

/// Verifies the signature of a parsed proof with the key in its header: `Unsupported` for a
/// key WebCrypto will not import (not a point of the curve), `BadSignature` otherwise.
pub async fn verify(parsed: &Parsed<'_>) -> Result<(), ProofError> {
    let jwk = &parsed.jwk;
    let id = format!("{}.{}", jwk.x, jwk.y);
    let key = match KEYS.with(|k| k.borrow().get(&id).cloned()) {
        Some(key) => key,
        None => {
            let key = import(jwk).await?;
            KEYS.with(|k| {
                let mut keys = k.borrow_mut();
                // A crude bound: a full cache starts again (no order is kept to evict by).
                if keys.len() >= KEY_CACHE {
                    keys.clear();
                }
                keys.insert(id, key.clone());
            });
            key
        }
    };
    let s = |v: &str| JsValue::from_str(v);
    let verify_alg = object(&[("name", &s("ECDSA")), ("hash", &s("SHA-256"))])
        .map_err(|_| ProofError::BadSignature)?;
    let signature = Uint8Array::from(parsed.signature.as_slice());
    let data = Uint8Array::from(parsed.signed.as_bytes());
    let good = subtle("verify", &Array::of4(&verify_alg, &key, &signature, &data))
        .await
        .map_err(|_| ProofError::BadSignature)?;
    if good.as_bool() == Some(true) {
        Ok(())
    } else {
        Err(ProofError::BadSignature)
    }
}

/// The key of `jwk` as a WebCrypto `CryptoKey` that verifies.
async fn import(jwk: &PublicJwk) -> Result<JsValue, ProofError> {
    let s = |v: &str| JsValue::from_str(v);
    let key_data = object(&[
        ("kty", &s(&jwk.kty)),
        ("crv", &s(&jwk.crv)),
        ("x", &s(&jwk.x)),
        ("y", &s(&jwk.y)),
    ])
    .map_err(|_| ProofError::Unsupported)?;
    let import_alg = object(&[("name", &s("ECDSA")), ("namedCurve", &s("P-256"))])
        .map_err(|_| ProofError::Unsupported)?;
    let usages = Array::of1(&s("verify"));
    subtle(
        "importKey",
        &Array::of5(&s("jwk"), &key_data, &import_alg, &JsValue::FALSE, &usages),
    )
    .await
    .map_err(|_| ProofError::Unsupported)
}
