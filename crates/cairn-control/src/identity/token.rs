//! The API token format: `cairn_` + 43 base62 characters of secret + 6 base62 characters of
//! checksum (CRC-32 of everything before it).
//!
//! - 43 characters drawn uniformly from 62 carry 256.03 bits, all from the OS random source.
//! - Only `[A-Za-z0-9_]`: safe in a URL, a shell word and a header, and one double-click selects it.
//! - The fixed prefix lets secret scanners find leaked tokens; the checksum lets the server reject
//!   a mistyped token without a database look-up.

use std::fmt;

pub const TOKEN_PREFIX: &str = "cairn_";
const SECRET_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + SECRET_CHARS + CHECKSUM_CHARS;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly made token. Its secret text exists only until it is shown to its owner once.
pub struct NewTokenSecret(String);

impl fmt::Debug for NewTokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NewTokenSecret({})", hint(&self.0))
    }
}

impl NewTokenSecret {
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = format!("{TOKEN_PREFIX}{}", random_base62(SECRET_CHARS)?);
        let sum = checksum(&secret);
        secret.push_str(&sum);
        Ok(NewTokenSecret(secret))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `len` characters drawn uniformly from base62 with bytes from the OS random source.
pub(crate) fn random_base62(len: usize) -> Result<String, getrandom::Error> {
    let mut out = String::with_capacity(len);
    let mut pool = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut pool)?;
        // Rejection sampling: 248 = 4 * 62, so every kept byte maps uniformly.
        for &b in pool.iter().filter(|b| **b < 248).take(len - out.len()) {
            out.push(BASE62[usize::from(b % 62)] as char);
        }
    }
    Ok(out)
}

/// Why a string is not a well-formed token (checked without any look-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    /// Not even trying to be a Cairn token (no prefix): perhaps a password.
    Foreign,
    /// Has the prefix but a wrong length, alphabet or checksum: mistyped or truncated.
    Damaged,
    WellFormed,
}

pub fn shape(candidate: &str) -> TokenShape {
    let Some(rest) = candidate.strip_prefix(TOKEN_PREFIX) else {
        return TokenShape::Foreign;
    };
    if candidate.len() != TOKEN_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return TokenShape::Damaged;
    }
    let (body, sum) = candidate.split_at(TOKEN_LEN - CHECKSUM_CHARS);
    if checksum(body) == sum {
        TokenShape::WellFormed
    } else {
        TokenShape::Damaged
    }
}

fn checksum(body: &str) -> String {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The non-secret reminder shown in lists: the prefix and the last four characters.
pub fn hint(token: &str) -> String {
    let tail: String = token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{TOKEN_PREFIX}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = NewTokenSecret::generate().unwrap();
        let b = NewTokenSecret::generate().unwrap();
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert_eq!(shape(a.expose()), TokenShape::WellFormed);
        assert_ne!(a.expose(), b.expose());
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_')
        );
        assert!(
            !format!("{a:?}").contains(&a.expose()[6..40]),
            "Debug must not print the secret"
        );
    }

    #[test]
    fn one_changed_character_is_caught_by_the_checksum() {
        let t = NewTokenSecret::generate().unwrap();
        let mut bytes = t.expose().as_bytes().to_vec();
        for i in TOKEN_PREFIX.len()..bytes.len() {
            let original = bytes[i];
            bytes[i] = if original == b'a' { b'b' } else { b'a' };
            assert_eq!(
                shape(std::str::from_utf8(&bytes).unwrap()),
                TokenShape::Damaged,
                "position {i}"
            );
            bytes[i] = original;
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(shape("hunter2"), TokenShape::Foreign);
        assert_eq!(shape("cairn_short"), TokenShape::Damaged);
        assert_eq!(shape(""), TokenShape::Foreign);
        let t = NewTokenSecret::generate().unwrap();
        assert_eq!(shape(&format!("{}\n", t.expose())), TokenShape::Damaged);
        assert_eq!(
            hint(t.expose()),
            format!("cairn_…{}", &t.expose()[TOKEN_LEN - 4..])
        );
    }

    proptest! {
        #[test]
        fn shape_never_panics_and_random_strings_are_not_tokens(s in "\\PC*") {
            prop_assert_ne!(shape(&s), TokenShape::WellFormed);
        }

        #[test]
        fn prefixed_random_bodies_are_rejected(body in "[A-Za-z0-9]{49}") {
            let candidate = format!("{TOKEN_PREFIX}{body}");
            // 1 in 62^6 bodies would carry a valid checksum by chance; proptest won't find one.
            prop_assert_eq!(shape(&candidate), TokenShape::Damaged);
        }
    }
}
