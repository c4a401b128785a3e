//! The proof-of-work puzzle.
//!
//! A client holding challenge token `c` must find a nonce `n` (a `u64`) such that
//! `SHA-256(c ‖ be64(n))` starts with at least `bits` zero bits, where `c` is the UTF-8 bytes
//! of the challenge token and `be64(n)` the nonce as 8 big-endian bytes. Finding one takes
//! about `2^bits` hashes; checking one takes one.
//!
//! The solver is bounded (it searches a given nonce range) so a caller can run it in chunks,
//! report progress between chunks, and stay responsive.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// The highest difficulty the verifier accepts; anything above is a configuration error.
pub const MAX_BITS: u8 = 32;

/// Why a proof of work was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PowError {
    /// The digest does not start with enough zero bits.
    #[error("proof of work has {found} leading zero bits, {required} required")]
    InsufficientWork {
        /// Bits the challenge asks for.
        required: u8,
        /// Bits the offered nonce achieves.
        found: u32,
    },
    /// The challenge asks for more than [`MAX_BITS`].
    #[error("difficulty {0} is above the maximum of {MAX_BITS}")]
    DifficultyOutOfRange(u8),
}

/// `SHA-256(challenge ‖ be64(nonce))`.
pub fn digest(challenge: &str, nonce: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(challenge.as_bytes());
    h.update(nonce.to_be_bytes());
    h.finalize().into()
}

/// The number of leading zero bits of `digest`.
pub fn leading_zero_bits(digest: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for &byte in digest {
        if byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Checks that `nonce` solves `challenge` at difficulty `bits`.
pub fn verify(challenge: &str, nonce: u64, bits: u8) -> Result<(), PowError> {
    if bits > MAX_BITS {
        return Err(PowError::DifficultyOutOfRange(bits));
    }
    let found = leading_zero_bits(&digest(challenge, nonce));
    if found >= u32::from(bits) {
        Ok(())
    } else {
        Err(PowError::InsufficientWork {
            required: bits,
            found,
        })
    }
}

/// Searches `nonces` in order for the first nonce that solves `challenge` at difficulty
/// `bits`. Returns `None` if the range holds none. The hash state after the challenge bytes is
/// computed once and cloned per attempt.
pub fn solve(challenge: &str, bits: u8, nonces: Range<u64>) -> Option<u64> {
    let mut prefix = Sha256::new();
    prefix.update(challenge.as_bytes());
    let want = u32::from(bits);
    for nonce in nonces {
        let mut h = prefix.clone();
        h.update(nonce.to_be_bytes());
        let d: [u8; 32] = h.finalize().into();
        if leading_zero_bits(&d) >= want {
            return Some(nonce);
        }
    }
    None
}

/// The expected number of hashes to solve a puzzle of `bits` bits: `2^bits`.
pub fn expected_attempts(bits: u8) -> f64 {
    2f64.powi(i32::from(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leading_zero_bits() {
        let mut d = [0u8; 32];
        assert_eq!(leading_zero_bits(&d), 256);
        d[0] = 0x80;
        assert_eq!(leading_zero_bits(&d), 0);
        d[0] = 0x01;
        assert_eq!(leading_zero_bits(&d), 7);
        d[0] = 0;
        d[1] = 0x10;
        assert_eq!(leading_zero_bits(&d), 11);
    }

    #[test]
    fn solve_finds_a_nonce_that_verifies_and_is_the_first() {
        let c = "hg1.chal.k1.payload.tag";
        let n = solve(c, 10, 0..1 << 20).unwrap();
        assert!(verify(c, n, 10).is_ok());
        for earlier in 0..n {
            assert!(verify(c, earlier, 10).is_err());
        }
    }

    #[test]
    fn refuses_wrong_nonces_and_absurd_difficulty() {
        let c = "challenge";
        let n = solve(c, 12, 0..1 << 22).unwrap();
        assert_eq!(verify(c, n, 40), Err(PowError::DifficultyOutOfRange(40)));
        // The first nonce that fails, found the slow way, is refused with its real count.
        let bad = (0..)
            .find(|&m| leading_zero_bits(&digest(c, m)) < 12)
            .unwrap();
        let found = leading_zero_bits(&digest(c, bad));
        assert_eq!(
            verify(c, bad, 12),
            Err(PowError::InsufficientWork {
                required: 12,
                found
            })
        );
        // The work is bound to the challenge: the same nonce under another challenge is
        // almost never a solution (checked over many challenges).
        let reused = (0..64)
            .filter(|i| verify(&format!("{c}{i}"), n, 12).is_ok())
            .count();
        assert!(
            reused <= 1,
            "{reused} of 64 other challenges accepted the nonce"
        );
    }

    #[test]
    fn zero_bits_accepts_any_nonce() {
        assert!(verify("x", 0, 0).is_ok());
        assert_eq!(solve("x", 0, 5..10), Some(5));
    }

    #[test]
    fn solve_respects_the_range() {
        assert_eq!(solve("x", 32, 0..10), None);
        assert_eq!(solve("x", 1, 0..0), None);
    }
}
