//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): the
//! `webhook-signature` header is `v1,` followed by the base64 HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the bytes that the part
//! of the `whsec_` secret after the prefix decodes to. Several signatures are
//! separated by spaces; a receiver accepts the message when any one verifies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long the previous secret keeps signing after a rotation, so that
/// receivers can switch to the new one without missing a notification.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

const PREFIX: &str = "whsec_";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the signing secret is not a whsec_ secret")]
pub struct MalformedSecret;

/// The key bytes of a `whsec_…` secret.
fn key_of(secret: &str) -> Result<Vec<u8>, MalformedSecret> {
    let encoded = secret.strip_prefix(PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).map_err(|_| MalformedSecret)
}

/// One signature, `v1,<base64>`.
pub fn sign(
    secret: &str,
    webhook_id: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, MalformedSecret> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key_of(secret)?).map_err(|_| MalformedSecret)?;
    mac.update(webhook_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// A merchant's signing secrets: the current one, and the one it replaced with
/// the time of that rotation.
#[derive(Clone, Debug)]
pub struct SigningKeys {
    pub current: String,
    pub previous: Option<String>,
    pub rotated_at: Option<DateTime<Utc>>,
}

impl SigningKeys {
    /// The previous secret while it still signs, with the time it stops.
    pub fn previous_until(&self, now: DateTime<Utc>) -> Option<(&str, DateTime<Utc>)> {
        match (&self.previous, self.rotated_at) {
            (Some(p), Some(at)) if now < at + ROTATION_OVERLAP => {
                Some((p.as_str(), at + ROTATION_OVERLAP))
            }
            _ => None,
        }
    }

    /// The `webhook-signature` value: the current secret's signature, and during
    /// the overlap after a rotation the previous secret's too.
    pub fn header(
        &self,
        webhook_id: &str,
        timestamp: i64,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<String, MalformedSecret> {
        let mut header = sign(&self.current, webhook_id, timestamp, body)?;
        if let Some((previous, _)) = self.previous_until(now) {
            header.push(' ');
            header.push_str(&sign(previous, webhook_id, timestamp, body)?);
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification and its reference
    /// libraries.
    #[test]
    fn matches_the_specification_example() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_previous_secret_signs_for_a_day_after_a_rotation() {
        let rotated = Utc::now();
        let keys = SigningKeys {
            current: crate::merchants::new_webhook_secret(),
            previous: Some(crate::merchants::new_webhook_secret()),
            rotated_at: Some(rotated),
        };
        let during = keys.header("msg_1", 1, "{}", rotated).unwrap();
        let parts: Vec<&str> = during.split(' ').collect();
        assert_eq!(parts.len(), 2, "{during}");
        assert_eq!(parts[0], sign(&keys.current, "msg_1", 1, "{}").unwrap());
        assert_eq!(
            parts[1],
            sign(keys.previous.as_deref().unwrap(), "msg_1", 1, "{}").unwrap()
        );
        let after = keys
            .header("msg_1", 1, "{}", rotated + ROTATION_OVERLAP)
            .unwrap();
        assert_eq!(after, parts[0]);
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        assert_eq!(sign("whsec_***", "m", 1, ""), Err(MalformedSecret));
    }
}
