//! Link and receipt emails (CONTRACT section 11).
//!
//! An email is rendered when it is queued ([`message`]: subject, plain text and
//! HTML in the link's language, from the shopper page's catalogue) and written
//! into the outbox (the `emails` table) in the transaction of what causes it: a
//! link created with `sendByEmail` (see `links::create`), an approved payment
//! (see `payments::pay`), or staff's "Send by email". One row is one message to
//! one address, so that addresses never see each other and a refused address
//! does not hold up the others. The [`Dispatcher`] sends due emails through the
//! [`Mailer`] (SMTP with lettre), retrying a temporary failure on the
//! [`RetryPolicy`] for a day, so an SMTP outage loses nothing.
//!
//! This module holds the rules: which addresses a link's email goes to, the
//! retry policy, the model, and the use cases of the backoffice.

use chrono::{DateTime, Utc};

use crate::db::{Db, DbError};
use crate::links::{Language, Link, Payment, Status};
use crate::merchants::MerchantId;

pub mod dispatcher;
pub mod mailer;
pub mod message;

pub use dispatcher::Dispatcher;
pub use mailer::{ConfigError, Mailer};
pub use message::Rendered;

/// What an email is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The payment link, for the shopper to pay.
    Link,
    /// The receipt of one approved payment.
    Receipt,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Link => "link",
            Kind::Receipt => "receipt",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "link" => Some(Kind::Link),
            "receipt" => Some(Kind::Receipt),
            _ => None,
        }
    }
}

/// Where an email's delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// The SMTP server took it.
    Sent,
    /// Refused by the server, or still failing a day after it was queued.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "sent" => Some(DeliveryStatus::Sent),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// How one attempt went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server took the message.
    Sent,
    /// No server, a 4xx answer, a timeout, a TLS failure: worth trying again.
    Temporary,
    /// A 5xx answer (an unknown mailbox, a refused sender): trying again would
    /// get the same answer.
    Permanent,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Temporary => "temporary",
            Outcome::Permanent => "permanent",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "sent" => Some(Outcome::Sent),
            "temporary" => Some(Outcome::Temporary),
            "permanent" => Some(Outcome::Permanent),
            _ => None,
        }
    }
}

/// One try at sending an email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: Outcome,
    /// The server's answer when it took the message (its queue id, usually).
    pub reply: Option<String>,
    pub error: Option<String>,
}

/// An email of the outbox with its delivery state (without its bodies).
#[derive(Clone, Debug)]
pub struct Email {
    pub id: String,
    pub merchant_id: MerchantId,
    pub link_id: String,
    pub kind: Kind,
    /// The transaction a receipt is for.
    pub payment_id: Option<String>,
    pub recipient: String,
    pub language: Language,
    pub subject: String,
    pub created_at: DateTime<Utc>,
    pub delivery: DeliveryStatus,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first (also those before it was sent again).
    pub attempts: Vec<Attempt>,
}

/// An email about to be queued.
#[derive(Clone, Debug)]
pub struct NewEmail {
    pub id: String,
    pub kind: Kind,
    pub payment_id: Option<String>,
    pub recipient: String,
    pub language: Language,
    pub message: Rendered,
}

/// What queueing an email needs to know of the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Outbox<'a> {
    /// Whether SMTP is configured; without it nothing is queued.
    pub enabled: bool,
    /// The base of the link and receipt URLs in the emails.
    pub public_url: &'a str,
}

/// When a failed attempt is tried again: first after each of `first` (the
/// notification delays, seconds), then every `every`, until `give_up_after`
/// has passed since the email was queued; then it has failed. An SMTP outage
/// of up to a day therefore loses nothing, and a message that has waited a day
/// is no longer worth sending unasked (staff can send it again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Vec<u64>,
    pub every: chrono::Duration,
    pub give_up_after: chrono::Duration,
}

impl RetryPolicy {
    pub fn new(first: Vec<u64>) -> RetryPolicy {
        RetryPolicy {
            first,
            every: chrono::Duration::minutes(5),
            give_up_after: chrono::Duration::hours(24),
        }
    }

    /// What follows the failure of the `attempts_made`-th attempt (counted
    /// since `queued_at`), made at `failed_at`.
    pub fn after_failure(
        &self,
        attempts_made: u32,
        queued_at: DateTime<Utc>,
        failed_at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let delay = (attempts_made as usize)
            .checked_sub(1)
            .and_then(|i| self.first.get(i))
            .map(|&secs| chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000)))
            .unwrap_or(self.every);
        let next = failed_at + delay;
        (next - queued_at <= self.give_up_after).then_some(next)
    }
}

// ------------------------------------------------------------- the rules

/// The addresses a link's email goes to: `customerEmail` and every
/// `receiverEmails` address, each once (addresses differing only in case are
/// one mailbox in practice).
pub fn link_recipients(link: &Link) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in link
        .customer_email
        .iter()
        .chain(link.receiver_emails.iter())
    {
        let a = a.trim();
        if !a.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
            out.push(a.to_string());
        }
    }
    out
}

/// The link email of `link` to each of its addresses.
pub fn link_emails(link: &Link, merchant_name: &str, public_url: &str) -> Vec<NewEmail> {
    let message = message::link(link, merchant_name, public_url);
    link_recipients(link)
        .into_iter()
        .map(|recipient| NewEmail {
            id: new_id(),
            kind: Kind::Link,
            payment_id: None,
            recipient,
            language: link.language,
            message: message.clone(),
        })
        .collect()
}

/// The receipt of `payment` to the link's `customerEmail`, if it has one.
pub fn receipt_email(
    link: &Link,
    payment: &Payment,
    merchant_name: &str,
    public_url: &str,
) -> Option<NewEmail> {
    let recipient = link
        .customer_email
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())?;
    Some(NewEmail {
        id: new_id(),
        kind: Kind::Receipt,
        payment_id: Some(payment.id.clone()),
        recipient: recipient.to_string(),
        language: link.language,
        message: message::receipt(link, payment, merchant_name, public_url),
    })
}

fn new_id() -> String {
    format!("eml_{}", crate::random::hex(24))
}

// ------------------------------------------------------------- use cases

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("email is not configured on this server")]
    NotConfigured,
    #[error("link not found")]
    LinkNotFound,
    #[error("email not found")]
    NotFound,
    #[error("the link has no email address")]
    NoAddress,
    /// Only a link that can still be paid is worth sending.
    #[error("a link in status {0:?} cannot be sent")]
    NotSendable(Status),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Queues the link email of a CREATED link to each of its addresses (staff's
/// "Send by email"); returns the queued emails.
#[tracing::instrument(skip(db, outbox, now))]
pub async fn send_link(
    db: &Db,
    outbox: Outbox<'_>,
    merchant: MerchantId,
    link_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<NewEmail>, EmailError> {
    if !outbox.enabled {
        return Err(EmailError::NotConfigured);
    }
    let link = db
        .link(merchant, link_id)
        .await?
        .ok_or(EmailError::LinkNotFound)?;
    let status = link.status_at(now);
    if status != Status::Created {
        return Err(EmailError::NotSendable(status));
    }
    if link_recipients(&link).is_empty() {
        return Err(EmailError::NoAddress);
    }
    let name = merchant_name(db, merchant).await?;
    let emails = link_emails(&link, &name, outbox.public_url);
    db.queue_emails(&link, &emails, now).await?;
    Ok(emails)
}

/// The name the emails of `merchant` go out under.
pub async fn merchant_name(db: &Db, merchant: MerchantId) -> Result<String, DbError> {
    db.merchant(merchant)
        .await?
        .map(|m| m.name)
        .ok_or_else(|| DbError::Corrupt(format!("merchant {merchant} is missing")))
}

/// The emails of one link, oldest first, with their attempts.
pub async fn of_link(
    db: &Db,
    merchant: MerchantId,
    link_id: &str,
) -> Result<Vec<Email>, EmailError> {
    Ok(db.link_emails(merchant, link_id).await?)
}

/// Queues a sent or failed email of a link again, due at once with a fresh
/// retry schedule; a pending one is left as it is (it is queued already).
#[tracing::instrument(skip(db, outbox, now))]
pub async fn resend(
    db: &Db,
    outbox: Outbox<'_>,
    merchant: MerchantId,
    link_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Email, EmailError> {
    if !outbox.enabled {
        return Err(EmailError::NotConfigured);
    }
    match db.email(merchant, id).await? {
        Some(e) if e.link_id == link_id => {}
        _ => return Err(EmailError::NotFound),
    }
    db.requeue_email(merchant, id, now).await?;
    db.email(merchant, id).await?.ok_or(EmailError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_delays_then_every_five_minutes_for_a_day() {
        let policy = RetryPolicy::new(vec![1, 2, 4]);
        let queued = Utc::now();
        let at = |secs: i64| queued + chrono::Duration::seconds(secs);
        assert_eq!(policy.after_failure(1, queued, at(0)), Some(at(1)));
        assert_eq!(policy.after_failure(2, queued, at(1)), Some(at(3)));
        assert_eq!(policy.after_failure(3, queued, at(3)), Some(at(7)));
        assert_eq!(policy.after_failure(4, queued, at(7)), Some(at(307)));
        assert_eq!(policy.after_failure(5, queued, at(307)), Some(at(607)));
        let day = 24 * 3600;
        assert_eq!(
            policy.after_failure(200, queued, at(day - 300)),
            Some(at(day))
        );
        assert_eq!(policy.after_failure(201, queued, at(day - 299)), None);
    }

    #[test]
    fn names_round_trip() {
        for k in [Kind::Link, Kind::Receipt] {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
        for d in [
            DeliveryStatus::Pending,
            DeliveryStatus::Sent,
            DeliveryStatus::Failed,
        ] {
            assert_eq!(DeliveryStatus::parse(d.as_str()), Some(d));
        }
        for o in [Outcome::Sent, Outcome::Temporary, Outcome::Permanent] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
    }
}
