//! The email dispatcher: runs inside `serve` when SMTP is configured, takes due
//! emails from the outbox and sends them, the way the notification dispatcher
//! does with events.
//!
//! Each attempt is made under a lease written to the email row in the one
//! transaction that claims it (PostgreSQL skips rows another instance is
//! claiming; SQLite's single writer makes the claim atomic), so that of several
//! instances on one database exactly one makes each attempt; its result is
//! written only while the lease is held. A dispatcher that dies mid-send leaves
//! a lease that runs out, after which the email is sent again with the same
//! Message-Id.
//!
//! It wakes when this process commits emails (the `Db`'s mail signal), when a
//! retry falls due, and otherwise looks every [`POLL`] for emails queued by
//! other instances. Looking is a read; only a due email leads to the claim's
//! write, so an idle dispatcher never takes SQLite's writer.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Attempt, DeliveryStatus, Mailer, Outcome, Rendered, RetryPolicy};
use crate::db::{Db, DbError};
use crate::outbox::{self, Outbox};

/// Emails sent at the same time by one dispatcher.
pub const MAX_IN_FLIGHT: usize = 16;
/// How long a claim holds: far beyond a send's [`super::mailer::SEND_TIMEOUT`].
pub const LEASE: Duration = Duration::from_secs(300);
/// How often the outbox is looked at when nothing woke the dispatcher.
pub const POLL: Duration = Duration::from_secs(1);
/// The shortest pause when due emails were left to another instance's claim.
const MIN_PAUSE: Duration = Duration::from_millis(20);

/// A due email claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub email_id: String,
    /// The claim's token; the attempt is recorded only while it holds.
    pub lease: String,
    pub recipient: String,
    pub message: Rendered,
    /// Attempts made since the email was (re)queued, before this one.
    pub attempts_before: u32,
    pub queued_at: DateTime<Utc>,
}

/// An attempt and the delivery state it leads to, to be written down.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub email_id: String,
    pub lease: String,
    pub attempt: Attempt,
    pub delivery: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

pub struct Dispatcher {
    db: Db,
    mailer: Mailer,
    retry: RetryPolicy,
}

impl Dispatcher {
    pub fn new(db: Db, mailer: Mailer, retry: RetryPolicy) -> Dispatcher {
        Dispatcher { db, mailer, retry }
    }

    /// One step, for tests and tools: claims the emails due now (up to
    /// [`MAX_IN_FLIGHT`]), sends them side by side and records the attempts.
    /// Returns how many attempts were made.
    pub async fn try_execute(&self) -> Result<usize, DbError> {
        outbox::try_execute(self).await
    }

    /// Sends until the task is dropped (see [`outbox::run_until_stopped`]).
    pub async fn run_until_stopped(self) {
        outbox::run_until_stopped(self).await
    }

    async fn lease_due(&self, limit: usize) -> Result<Vec<Claimed>, DbError> {
        let now = Utc::now();
        let lease = crate::random::hex(32);
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        self.db.claim_due_emails(now, &lease, until, limit).await
    }
}

impl Outbox for Dispatcher {
    type Claimed = Claimed;
    type Done = Recorded;
    const WHAT: &'static str = "email";
    const MAX_IN_FLIGHT: usize = MAX_IN_FLIGHT;
    const POLL: Duration = POLL;

    fn woken(&self) -> tokio::sync::watch::Receiver<u64> {
        self.db.mail_watch()
    }

    /// Claims up to `limit` emails if any is due, and tells how long to wait
    /// before looking again: until the next one falls due, at most [`POLL`].
    async fn claim(&self, limit: usize) -> Result<(Vec<Claimed>, Duration), DbError> {
        let now = Utc::now();
        let claimed = match self.db.next_email_due(now).await? {
            Some(due) if due <= now => self.lease_due(limit).await?,
            _ => Vec::new(),
        };
        if claimed.len() == limit {
            // There may be more: look again as soon as a send finishes.
            return Ok((claimed, POLL));
        }
        let now = Utc::now();
        let pause = match self.db.next_email_due(now).await? {
            Some(due) => (due - now)
                .to_std()
                .unwrap_or_default()
                .clamp(MIN_PAUSE, POLL),
            None => POLL,
        };
        Ok((claimed, pause))
    }

    /// Makes one attempt and decides what follows from it.
    #[tracing::instrument(skip_all, fields(email = %c.email_id, attempt = c.attempts_before + 1))]
    async fn attempt(&self, c: Claimed) -> Recorded {
        let made = c.attempts_before.saturating_add(1);
        let attempt = self
            .mailer
            .send(&c.email_id, &c.recipient, &c.message)
            .await;
        let finished = Utc::now();
        let (delivery, next_attempt_at, sent_at) = match attempt.outcome {
            Outcome::Sent => {
                tracing::debug!("email sent");
                (DeliveryStatus::Sent, finished, Some(finished))
            }
            Outcome::Permanent => {
                tracing::warn!(
                    error = attempt.error.as_deref(),
                    "email refused by the SMTP server"
                );
                (DeliveryStatus::Failed, finished, None)
            }
            Outcome::Temporary => match self.retry.after_failure(made, c.queued_at, finished) {
                Some(t) => {
                    tracing::info!(
                        error = attempt.error.as_deref(),
                        "email attempt failed; will retry"
                    );
                    (DeliveryStatus::Pending, t, None)
                }
                None => {
                    tracing::warn!(
                        error = attempt.error.as_deref(),
                        "email failed after a day of retries"
                    );
                    (DeliveryStatus::Failed, finished, None)
                }
            },
        };
        Recorded {
            email_id: c.email_id,
            lease: c.lease,
            attempt,
            delivery,
            attempts: made,
            next_attempt_at,
            sent_at,
        }
    }

    async fn record(&self, done: &[Recorded]) -> Result<(), DbError> {
        let written = self.db.record_email_attempts(done).await?;
        if written < done.len() {
            tracing::warn!(
                lost = done.len() - written,
                "email attempts outlived their lease and were not recorded"
            );
        }
        Ok(())
    }
}
