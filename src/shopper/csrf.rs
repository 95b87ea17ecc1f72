//! CSRF protection for the payment form, for visitors without a session: the page
//! carries a token signed with the service's secret key (HMAC-SHA256), bound to
//! the link's code and valid for a limited time. A form posted from anywhere but
//! a recently served payment page of that very link is refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a served payment form may be submitted.
pub const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::hours(2);

/// Separates this use of the key from every other (session cookies, …).
const PURPOSE: &[u8] = b"paybylink/shopper-pay/v1";

fn mac(key: &str, code: &str, expires_ms: i64) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(PURPOSE);
    mac.update(b"\n");
    mac.update(code.as_bytes());
    mac.update(b"\n");
    mac.update(expires_ms.to_string().as_bytes());
    mac
}

/// A token for the payment form of the link with `code`: `{expiry}.{signature}`.
pub fn issue(key: &str, code: &str, now: DateTime<Utc>) -> String {
    let expires_ms = (now + TOKEN_LIFETIME).timestamp_millis();
    let signature = mac(key, code, expires_ms).finalize().into_bytes();
    format!("{expires_ms}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Missing, malformed, forged, or for another link.
    Invalid,
    /// Genuine but too old: the shopper should reload the page.
    Expired,
}

/// Checks a token for the link with `code` at `now`, in constant time.
pub fn verify(key: &str, code: &str, token: &str, now: DateTime<Utc>) -> Result<(), Rejected> {
    let (expires, signature) = token.split_once('.').ok_or(Rejected::Invalid)?;
    let expires_ms: i64 = expires.parse().map_err(|_| Rejected::Invalid)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejected::Invalid)?;
    mac(key, code, expires_ms)
        .verify_slice(&signature)
        .map_err(|_| Rejected::Invalid)?;
    if expires_ms <= now.timestamp_millis() {
        return Err(Rejected::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a secret key of the service";

    #[test]
    fn a_token_is_valid_for_its_link_and_lifetime_only() {
        let now = Utc::now();
        let token = issue(KEY, "Abc123", now);
        assert_eq!(verify(KEY, "Abc123", &token, now), Ok(()));
        assert_eq!(
            verify(
                KEY,
                "Abc123",
                &token,
                now + TOKEN_LIFETIME - chrono::Duration::seconds(1)
            ),
            Ok(())
        );
        assert_eq!(
            verify(KEY, "Abc123", &token, now + TOKEN_LIFETIME),
            Err(Rejected::Expired)
        );
        assert_eq!(
            verify(KEY, "Other1", &token, now),
            Err(Rejected::Invalid),
            "bound to the link"
        );
        assert_eq!(
            verify("another key", "Abc123", &token, now),
            Err(Rejected::Invalid)
        );
    }

    #[test]
    fn forged_and_malformed_tokens_are_rejected() {
        let now = Utc::now();
        let token = issue(KEY, "Abc123", now);
        let (_, signature) = token.split_once('.').unwrap();
        // A later expiry with the old signature.
        let extended = format!("{}.{signature}", now.timestamp_millis() + 10 * 3_600_000);
        for bad in ["", ".", "abc", "123.", "123.!!!", extended.as_str()] {
            assert_eq!(
                verify(KEY, "Abc123", bad, now),
                Err(Rejected::Invalid),
                "{bad}"
            );
        }
    }
}
