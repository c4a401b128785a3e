//! Step 3, join: the visitor a challenge becomes.
//!
//! A join is idempotent per challenge: the edge's queue shard remembers the position each
//! challenge took, and the visitor id is derived from the challenge id, so a join sent again
//! (its answer was lost) gets the very same ticket's place and visitor.

use sha2::{Digest, Sha256};

use crate::ids::{IdError, VisitorId};

/// The label hashed before a challenge id to make its visitor id.
pub const VISITOR_ID_LABEL: &str = "herdgate/visitor-id/v1";

/// The visitor id of the challenge `challenge_id`: `v` and the first 12 bytes, as hex, of
/// SHA-256 over [`VISITOR_ID_LABEL`], a zero byte and the id. The challenge id is random and
/// known only to the challenge's holder, so the visitor id says nothing about it.
pub fn visitor_of(challenge_id: &str) -> Result<VisitorId, IdError> {
    let mut h = Sha256::new();
    h.update(VISITOR_ID_LABEL.as_bytes());
    h.update([0]);
    h.update(challenge_id.as_bytes());
    VisitorId::parse(&format!("v{}", crate::ids::to_hex(&h.finalize()[..12])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_always_becomes_the_same_visitor_and_two_challenges_two() {
        let a = visitor_of("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(a, visitor_of("0123456789abcdef0123456789abcdef").unwrap());
        assert_ne!(a, visitor_of("0123456789abcdef0123456789abcdee").unwrap());
        assert_eq!(a.as_str().len(), 25);
        assert!(a.as_str().starts_with('v'));
    }
}
