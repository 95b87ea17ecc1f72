//! Notifications to the merchant's system (CONTRACT section 7).
//!
//! Each status change writes an event into the outbox (the `events` table) in the
//! transaction of the change (see `db::links`). The [`Dispatcher`] sends each event
//! to the merchant's URL, signed the Standard Webhooks way ([`signing`]), through a
//! [`Sender`] that checks the address it connects to; attempts are retried after
//! the configured delays, then the delivery is failed and can be re-sent.
//!
//! This module holds the rules: where a notification may go, the retry policy,
//! the event model, and the use cases of the API and the backoffice (list, resend,
//! rotate the secret, send a test).

use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};
use crate::merchants::MerchantId;

pub mod dispatcher;
pub mod sender;
pub mod signing;

pub use dispatcher::Dispatcher;
pub use sender::{Outcome, Sender};
pub use signing::SigningKeys;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("must be an absolute http or https URL")]
    Malformed,
    #[error("must not be longer than 2000 characters")]
    TooLong,
    #[error("must not contain credentials")]
    Credentials,
    #[error("host {0} could not be resolved")]
    Unresolvable(String),
    #[error("host resolves to a non-public address ({0})")]
    NonPublic(IpAddr),
}

/// Checks a notification URL before it is saved; returns it normalised.
/// With `allow_private`, only the syntax is checked (local development and tests).
pub async fn check_url(text: &str, allow_private: bool) -> Result<url::Url, UrlError> {
    let url = parse_url(text)?;
    if !allow_private {
        check_addresses(&resolve(&url).await?)?;
    }
    Ok(url)
}

/// The syntax rules of a notification URL: absolute http(s), a host, no
/// credentials, at most 2,000 characters.
pub fn parse_url(text: &str) -> Result<url::Url, UrlError> {
    let text = text.trim();
    if text.len() > 2000 {
        return Err(UrlError::TooLong);
    }
    // The WHATWG parser also turns decimal, octal and hex IPv4 spellings
    // (`2130706433`, `0177.0.0.1`, `0x7f.1`) into the address they mean.
    let url = url::Url::parse(text).map_err(|_| UrlError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(UrlError::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    Ok(url)
}

/// Refuses a host unless every address it stands for is public.
pub fn check_addresses(addrs: &[IpAddr]) -> Result<(), UrlError> {
    match addrs.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(UrlError::NonPublic(*ip)),
        None => Ok(()),
    }
}

/// Every address the URL's host stands for.
pub async fn resolve(url: &url::Url) -> Result<Vec<IpAddr>, UrlError> {
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![IpAddr::V4(ip)]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![IpAddr::V6(ip)]),
        Some(url::Host::Domain(name)) => {
            let addrs: Vec<IpAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| UrlError::Unresolvable(name.to_string()))?
                .map(|a| a.ip())
                .collect();
            if addrs.is_empty() {
                Err(UrlError::Unresolvable(name.to_string()))
            } else {
                Ok(addrs)
            }
        }
        None => Err(UrlError::Malformed),
    }
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (seg0 == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 64:ff9b::/96
                || (seg0 == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0 // "this network" 0.0.0.0/8
        || (a == 100 && (64..128).contains(&b)) // shared CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || a >= 240) // reserved 240.0.0.0/4
}

// ------------------------------------------------------------------ events

/// Where an event's delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// A URL answered 200.
    Delivered,
    /// Every attempt of the schedule failed, or there was no URL to send to.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
    }
}

/// One try at sending an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub duration_ms: i64,
    /// Where it went; `None` when no URL was configured.
    pub url: Option<String>,
    /// The receiver's answer, when there was one.
    pub status_code: Option<u16>,
    /// Why there was no answer, or why the answer does not count.
    pub error: Option<String>,
}

impl Attempt {
    /// Only an HTTP 200 delivers.
    pub fn succeeded(&self) -> bool {
        self.status_code == Some(200)
    }

    /// The outcome in a few words, for people.
    pub fn summary(&self) -> String {
        match (self.status_code, &self.error) {
            (Some(code), _) => format!("HTTP {code}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        }
    }
}

/// A notification event of the outbox with its delivery state.
#[derive(Clone, Debug)]
pub struct Event {
    /// Also the `webhook-id` of every attempt.
    pub id: String,
    pub merchant_id: MerchantId,
    pub link_id: String,
    /// The link status the event announces (PAID, CANCELLED, EXPIRED, …).
    pub link_status: String,
    /// The JSON body, exactly as sent.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub delivery: DeliveryStatus,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first (also those before a resend).
    pub attempts: Vec<Attempt>,
}

/// What happens after a failed attempt, given how many attempts the delivery
/// has made (this one included) and the configured retry delays in seconds:
/// the n-th failure is retried `delays[n-1]` seconds later, and once the delays
/// are used up the delivery has failed. With 1, 2, 4, 8, 16 that is at most six
/// attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

pub fn after_failure(attempts_made: u32, delays: &[u64], failed_at: DateTime<Utc>) -> AfterFailure {
    let delay = (attempts_made as usize)
        .checked_sub(1)
        .and_then(|i| delays.get(i));
    match delay {
        Some(&secs) => AfterFailure::RetryAt(
            failed_at + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000)),
        ),
        None => AfterFailure::GiveUp,
    }
}

// ------------------------------------------------------------- use cases

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notification not found")]
    NotFound,
    #[error("no notification URL is configured")]
    NoUrl,
    #[error(transparent)]
    Db(#[from] DbError),
}

pub const MAX_PAGE: u32 = 200;
pub const DEFAULT_PAGE: u32 = 50;

/// Filters, order and position for listing a merchant's events.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub status: Option<DeliveryStatus>,
    /// Events created at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Events created at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Newest first (the backoffice log) instead of oldest first (the API, for
    /// catching up from `since`).
    pub newest_first: bool,
    pub limit: u32,
    pub after: Option<EventCursor>,
}

/// A position in a listing of events: the creation time and id of the last row
/// of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCursor {
    pub created_at: i64,
    pub id: String,
}

impl EventCursor {
    pub fn of(event: &Event) -> EventCursor {
        EventCursor {
            created_at: crate::db::to_millis(event.created_at),
            id: event.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("e{}.{}", self.created_at, self.id))
    }

    pub fn decode(s: &str) -> Option<EventCursor> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (time, id) = text.strip_prefix('e')?.split_once('.')?;
        Some(EventCursor {
            created_at: time.parse().ok()?,
            id: id.to_string(),
        })
    }
}

pub struct EventPage {
    pub items: Vec<Event>,
    pub next: Option<EventCursor>,
}

/// One page of a merchant's events with their delivery state and attempts.
pub async fn list(
    db: &Db,
    merchant: MerchantId,
    query: &EventQuery,
) -> Result<EventPage, NotifyError> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let mut items = db.list_events(merchant, query, limit + 1).await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(EventCursor::of)
    } else {
        None
    };
    Ok(EventPage { items, next })
}

/// The events of one link, oldest first.
pub async fn of_link(
    db: &Db,
    merchant: MerchantId,
    link_id: &str,
) -> Result<Vec<Event>, NotifyError> {
    Ok(db.link_events(merchant, link_id).await?)
}

/// Queues a failed or delivered event again: its next attempt is made at once
/// and the retry schedule starts over. A pending event is left as it is (it is
/// queued already).
#[tracing::instrument(skip(db, now))]
pub async fn resend(
    db: &Db,
    merchant: MerchantId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Event, NotifyError> {
    db.requeue_event(merchant, id, now).await?;
    db.event(merchant, id).await?.ok_or(NotifyError::NotFound)
}

/// The merchant's signing secrets.
pub async fn signing_keys(db: &Db, merchant: MerchantId) -> Result<SigningKeys, NotifyError> {
    db.signing_keys(merchant)
        .await?
        .ok_or(NotifyError::NotFound)
}

/// Replaces the signing secret with a new one; the old one keeps signing
/// alongside for [`signing::ROTATION_OVERLAP`].
#[tracing::instrument(skip(db, now))]
pub async fn rotate_secret(
    db: &Db,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<SigningKeys, NotifyError> {
    db.rotate_webhook_secret(merchant, &crate::merchants::new_webhook_secret(), now)
        .await?;
    signing_keys(db, merchant).await
}

/// Sends a test notification to the merchant's URL now, signed and checked like
/// every other, and tells how it went. Nothing is queued or retried. The body
/// has the fields of a real notification, with `"test": true` and ids that
/// match no link.
#[tracing::instrument(skip(db, sender, public_url, now))]
pub async fn send_test(
    db: &Db,
    sender: &Sender,
    merchant: MerchantId,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<Attempt, NotifyError> {
    let m = db.merchant(merchant).await?.ok_or(NotifyError::NotFound)?;
    let url = m.notification_uri.ok_or(NotifyError::NoUrl)?;
    let keys = signing_keys(db, merchant).await?;
    let id = format!("msg_test_{}", crate::random::hex(24));
    let body = test_payload(merchant, public_url, now);
    let outcome = sender.post(&url, &id, &keys, &body, now).await;
    Ok(outcome.into_attempt(now, Some(url)))
}

fn test_payload(merchant: MerchantId, public_url: &str, now: DateTime<Utc>) -> String {
    let due = now + chrono::Duration::days(30);
    serde_json::json!({
        "test": true,
        "id": "test",
        "merchantId": merchant,
        "productId": crate::merchants::product_id_for(merchant, 1),
        "amount": 1.00,
        "currency": "EUR",
        "country": "ES",
        "customerId": "test",
        "description": "Test notification",
        "dueDate": crate::links::format_time(due),
        "language": "EN",
        "merchantTransactionId": "test",
        "referenceId": null,
        "url": format!("{}/p/test", public_url.trim_end_matches('/')),
        "status": "PAID",
        "previousStatus": "CREATED",
        "transactionId": "test",
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as private");
        }
    }

    #[tokio::test]
    async fn odd_spellings_of_loopback_are_refused() {
        for url in [
            "http://127.0.0.1/hook",
            "http://2130706433/hook",
            "http://0177.0.0.1/hook",
            "http://0x7f.0.0.1/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://localhost/hook",
            "http://169.254.169.254/latest",
        ] {
            assert!(
                matches!(check_url(url, false).await, Err(UrlError::NonPublic(_))),
                "{url} accepted"
            );
        }
    }

    #[test]
    fn the_seed_schedule_makes_six_attempts() {
        let delays = [1, 2, 4, 8, 16];
        let t = Utc::now();
        for (made, secs) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)] {
            assert_eq!(
                after_failure(made, &delays, t),
                AfterFailure::RetryAt(t + chrono::Duration::seconds(secs)),
                "after attempt {made}"
            );
        }
        assert_eq!(after_failure(6, &delays, t), AfterFailure::GiveUp);
        assert_eq!(after_failure(1, &[], t), AfterFailure::GiveUp);
    }

    #[test]
    fn event_cursors_round_trip_and_reject_garbage() {
        let c = EventCursor {
            created_at: 1_700_000_000_123,
            id: "evt_abc".into(),
        };
        assert_eq!(EventCursor::decode(&c.encode()), Some(c));
        assert_eq!(EventCursor::decode("not a cursor"), None);
        assert_eq!(EventCursor::decode(""), None);
    }

    #[test]
    fn delivery_statuses_parse() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            DeliveryStatus::parse("FAILED"),
            Some(DeliveryStatus::Failed)
        );
        assert_eq!(DeliveryStatus::parse("lost"), None);
    }

    #[tokio::test]
    async fn syntax() {
        assert_eq!(
            check_url("ftp://example.com/", true).await,
            Err(UrlError::Malformed)
        );
        assert_eq!(check_url("not a url", true).await, Err(UrlError::Malformed));
        assert_eq!(
            check_url("https://u:p@example.com/", true).await,
            Err(UrlError::Credentials)
        );
        assert!(check_url("http://127.0.0.1:9/x", true).await.is_ok());
        assert!(check_url("https://93.184.216.34/hook", false).await.is_ok());
    }
}
