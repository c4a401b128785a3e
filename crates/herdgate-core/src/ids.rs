//! Validated identifiers.
//!
//! Sale and visitor ids end up inside Redis keys (between the `{}` of a Cluster hash tag),
//! inside tokens and inside URLs, so they are restricted to a small, unambiguous alphabet.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is the empty string.
    #[error("id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`] bytes.
    #[error("id is longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// The id contains a byte outside `A-Z a-z 0-9 _ -`.
    #[error("id may contain only letters, digits, '_' and '-'")]
    InvalidCharacter,
}

fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError::InvalidCharacter);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `s` and wraps it.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                validate(s)?;
                Ok(Self(s.to_owned()))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                validate(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// The id of one sale (one SKU on sale at one time), e.g. `sneaker-drop-42`.
    SaleId
);
id_type!(
    /// The id of one visitor (one buyer in the queue), chosen by the edge at join time.
    VisitorId
);

/// Whether `id` is a token id as the edge mints them: 1 to 64 lower-case hex digits. Pass ids
/// are written into Redis and into order JSON, so both services refuse anything else.
pub fn is_hex_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids() {
        assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert!(is_hex_id("00ff"));
        assert!(!is_hex_id(""));
        assert!(!is_hex_id("00FF"));
        assert!(!is_hex_id("x\"}"));
        assert!(!is_hex_id(&"a".repeat(65)));
    }

    #[test]
    fn accepts_the_documented_alphabet() {
        assert_eq!(
            SaleId::parse("Drop_2026-11").unwrap().as_str(),
            "Drop_2026-11"
        );
        assert!(SaleId::parse(&"a".repeat(MAX_ID_LEN)).is_ok());
    }

    #[test]
    fn refuses_what_would_break_a_redis_hash_tag() {
        assert_eq!(SaleId::parse(""), Err(IdError::Empty));
        assert_eq!(SaleId::parse("a}b"), Err(IdError::InvalidCharacter));
        assert_eq!(SaleId::parse("a b"), Err(IdError::InvalidCharacter));
        assert_eq!(SaleId::parse("é"), Err(IdError::InvalidCharacter));
        assert_eq!(
            SaleId::parse(&"a".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong)
        );
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<VisitorId>("\"v-1\"").is_ok());
        assert!(serde_json::from_str::<VisitorId>("\"v{1}\"").is_err());
    }
}
