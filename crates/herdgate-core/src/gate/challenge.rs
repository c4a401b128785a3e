//! Step 2, prove work: the device signals a page may send with its challenge request.
//!
//! The signals only feed a digest the audit groups by, so the edge takes them in a shape
//! that keeps that digest cheap and the body small: a flat object of a few short values.

use serde_json::{Map, Value};

use crate::refusal::ErrorCode;

/// Device signals as a page reports them: names to short strings, numbers or booleans.
pub type DeviceSignals = Map<String, Value>;

/// The most signals one request may carry.
pub const MAX_SIGNALS: usize = 16;

/// The longest signal name, in bytes.
pub const MAX_SIGNAL_NAME_BYTES: usize = 32;

/// The longest string a signal may hold, in bytes.
pub const MAX_SIGNAL_TEXT_BYTES: usize = 128;

/// Why a challenge request's body was refused. Every cause is the refusal
/// [`ErrorCode::InvalidBody`] (`ErrorCode::from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceSignalsError {
    /// The body is neither empty nor JSON.
    #[error("the body is not JSON")]
    NotJson,
    /// `device` is not a JSON object.
    #[error("the device signals are not an object")]
    NotAnObject,
    /// `device` has more than [`MAX_SIGNALS`] entries.
    #[error("more than {MAX_SIGNALS} device signals")]
    TooMany,
    /// A name is longer than [`MAX_SIGNAL_NAME_BYTES`], or a value is not a string of at most
    /// [`MAX_SIGNAL_TEXT_BYTES`], a number or a boolean.
    #[error("a device signal is not a short name with a short string, a number or a boolean")]
    NotFlat,
}

impl From<DeviceSignalsError> for ErrorCode {
    fn from(_: DeviceSignalsError) -> ErrorCode {
        ErrorCode::InvalidBody
    }
}

/// The device signals in a challenge request's `body`: `None` for an empty (all-whitespace)
/// body, or JSON without a `device` member; the `device` object when it is flat and small.
pub fn device_signals(body: &[u8]) -> Result<Option<DeviceSignals>, DeviceSignalsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| DeviceSignalsError::NotJson)?;
    let Value::Object(mut fields) = v else {
        return Ok(None);
    };
    let Some(device) = fields.remove("device") else {
        return Ok(None);
    };
    let Value::Object(signals) = device else {
        return Err(DeviceSignalsError::NotAnObject);
    };
    if signals.len() > MAX_SIGNALS {
        return Err(DeviceSignalsError::TooMany);
    }
    let flat = signals.iter().all(|(name, value)| {
        name.len() <= MAX_SIGNAL_NAME_BYTES
            && match value {
                Value::String(s) => s.len() <= MAX_SIGNAL_TEXT_BYTES,
                Value::Number(_) | Value::Bool(_) => true,
                _ => false,
            }
    });
    if !flat {
        return Err(DeviceSignalsError::NotFlat);
    }
    Ok(Some(signals))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signals_of(body: &Value) -> Result<Option<DeviceSignals>, DeviceSignalsError> {
        device_signals(body.to_string().as_bytes())
    }

    #[test]
    fn no_body_or_no_device_member_means_no_signals() {
        assert_eq!(device_signals(b""), Ok(None));
        assert_eq!(device_signals(b" \r\n\t"), Ok(None));
        assert_eq!(device_signals(b"{}"), Ok(None));
        assert_eq!(device_signals(br#"{"other":{"a":[1]}}"#), Ok(None));
        // JSON that is not an object has no `device` member either.
        assert_eq!(device_signals(b"[]"), Ok(None));
        assert_eq!(device_signals(b"null"), Ok(None));
        assert_eq!(device_signals(b"7"), Ok(None));
    }

    #[test]
    fn a_flat_small_device_object_is_taken_as_it_is() {
        let device = json!({
            "tz": "Europe/Paris",
            "screen": 1080,
            "ratio": 1.5,
            "touch": false,
            "lang": "",
        });
        let got = signals_of(&json!({ "device": device })).unwrap().unwrap();
        assert_eq!(Value::Object(got), device);
        assert_eq!(signals_of(&json!({ "device": {} })), Ok(Some(Map::new())));
    }

    #[test]
    fn malformed_bodies_are_refused_as_invalid_bodies() {
        use DeviceSignalsError::{NotAnObject, NotFlat, NotJson};
        let refused: &[(&[u8], DeviceSignalsError)] = &[
            (br#"{"device":"#, NotJson),
            (b"device=1", NotJson),
            (br#"{"device":null}"#, NotAnObject),
            (br#"{"device":"x"}"#, NotAnObject),
            (br#"{"device":[1,2]}"#, NotAnObject),
            (br#"{"device":{"a":{"b":1}}}"#, NotFlat),
            (br#"{"device":{"a":[1]}}"#, NotFlat),
            (br#"{"device":{"a":null}}"#, NotFlat),
        ];
        for &(body, want) in refused {
            let shown = String::from_utf8_lossy(body);
            assert_eq!(device_signals(body), Err(want), "{shown}");
            assert_eq!(ErrorCode::from(want), ErrorCode::InvalidBody);
        }
    }

    #[test]
    fn limits_are_inclusive_and_counted_in_bytes() {
        let body = |signals: &[(String, Value)]| {
            let device: DeviceSignals = signals.iter().cloned().collect();
            json!({ "device": device })
        };
        let many = |n: usize| {
            body(
                &(0..n)
                    .map(|i| (format!("s{i}"), json!(i)))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(signals_of(&many(16)).unwrap().unwrap().len(), 16);
        assert_eq!(signals_of(&many(17)), Err(DeviceSignalsError::TooMany));

        let named = |name: String| body(&[(name, json!(true))]);
        assert!(signals_of(&named("n".repeat(32))).is_ok());
        assert_eq!(
            signals_of(&named("n".repeat(33))),
            Err(DeviceSignalsError::NotFlat)
        );

        // "é" is two bytes: 64 of them fill a value, 65 (fewer than 128 characters) do not fit.
        let text = |value: String| body(&[("t".to_owned(), json!(value))]);
        assert!(signals_of(&text("é".repeat(64))).is_ok());
        assert_eq!(
            signals_of(&text("é".repeat(64) + "x")),
            Err(DeviceSignalsError::NotFlat)
        );
        assert_eq!(
            signals_of(&text("é".repeat(65))),
            Err(DeviceSignalsError::NotFlat)
        );
    }
}
