//! Unguessable identifiers and secrets, all from the operating system's CSPRNG
//! (`rand`'s thread RNG is a CSPRNG reseeded from the OS).

use base64::Engine;
use rand::Rng;

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters of `[0-9A-Za-z]`; each carries log2(62) ≈ 5.95 bits.
pub fn alphanumeric(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHANUMERIC[rng.random_range(0..ALPHANUMERIC.len())] as char)
        .collect()
}

/// `len` lowercase hex characters (4 bits each).
pub fn hex(len: usize) -> String {
    let mut bytes = vec![0u8; len.div_ceil(2)];
    rand::rng().fill(&mut bytes[..]);
    let mut s = hex::encode(bytes);
    s.truncate(len);
    s
}

/// A link id: 24 lowercase hex characters, the first 8 the second `at` (Unix time,
/// good until 2106), the other 16 random (64 bits, unique in any one second).
/// Ids made this way grow with time, so a new link's key lands at the right edge
/// of the primary-key index, a page that is in cache, rather than on a random
/// page of it: with a million links a random key meant a page read per insert.
/// The id is not a secret (every read of it is scoped to its merchant; shoppers
/// see the url code), so giving away its second costs nothing.
pub fn time_ordered_id(at: chrono::DateTime<chrono::Utc>) -> String {
    let second = u32::try_from(at.timestamp().max(0)).unwrap_or(u32::MAX);
    format!("{second:08x}{}", hex(16))
}

/// `n` random bytes as unpadded URL-safe base64.
pub fn base64_bytes(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a high-entropy secret, hex encoded: how tokens and client secrets
/// are stored. (Argon2 is for low-entropy passwords; these need only a one-way map.)
pub fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(alphanumeric(16).len(), 16);
        assert_eq!(hex(24).len(), 24);
        let early = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let id = time_ordered_id(early);
        assert_eq!(id.len(), 24);
        assert!(id.starts_with("6553f100"));
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(time_ordered_id(early + chrono::Duration::seconds(1)) > id);
        assert_ne!(alphanumeric(16), alphanumeric(16));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
