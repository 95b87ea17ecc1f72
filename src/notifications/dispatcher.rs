//! The dispatcher: runs inside `serve`, takes due deliveries from the outbox and
//! makes their attempts.
//!
//! Each attempt is made under a lease: a claim written to the event row
//! (`lease_owner`, `lease_until`) in one transaction that only takes unleased due
//! rows, so that of several dispatchers on one database exactly one makes each
//! attempt. The lease outlasts the longest attempt many times over; its result is
//! written only while the lease is held. A dispatcher that dies mid-attempt
//! leaves a lease that runs out, after which the attempt is made again.
//!
//! It wakes when this process commits events (the `Db`'s outbox signal), when a
//! retry falls due, and otherwise polls every [`POLL`] for events written by
//! other instances and for leases that ran out.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{after_failure, AfterFailure, Attempt, DeliveryStatus, Sender, SigningKeys};
use crate::db::{Db, DbError};
use crate::outbox::{self, Outbox};

/// Attempts made at the same time by one dispatcher.
pub const MAX_IN_FLIGHT: usize = 64;
/// How long a claim holds: far beyond an attempt's 5 s.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often the outbox is looked at when nothing woke the dispatcher.
pub const POLL: Duration = Duration::from_millis(500);
/// The shortest pause when due events were left to another instance's claim.
const MIN_PAUSE: Duration = Duration::from_millis(20);

/// A due event claimed for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub event_id: String,
    /// The claim's token; the attempt is recorded only while it holds.
    pub lease: String,
    pub payload: String,
    /// Attempts made since the event was (re)queued, before this one.
    pub attempts_before: u32,
    /// The merchant's URL as it is now.
    pub url: Option<String>,
    pub keys: SigningKeys,
}

/// An attempt and the delivery state it leads to, to be written down.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub event_id: String,
    pub lease: String,
    pub attempt: Attempt,
    pub delivery: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What the message of an attempt without a URL says.
pub const NO_URL: &str = "no notification URL is configured";

pub struct Dispatcher {
    db: Db,
    sender: Sender,
    retry_delays: Vec<u64>,
}

impl Dispatcher {
    pub fn new(db: Db, sender: Sender, retry_delays: Vec<u64>) -> Dispatcher {
        Dispatcher {
            db,
            sender,
            retry_delays,
        }
    }

    /// One step, for tests and tools: claims the deliveries due now (up to
    /// [`MAX_IN_FLIGHT`]), makes their attempts side by side and records them.
    /// Returns how many attempts were made.
    pub async fn try_execute(&self) -> Result<usize, DbError> {
        outbox::try_execute(self).await
    }

    /// Delivers until the task is dropped (see [`outbox::run_until_stopped`]).
    pub async fn run_until_stopped(self) {
        outbox::run_until_stopped(self).await
    }

    /// How long to sleep when nothing more is due: until the next retry, at most
    /// [`POLL`].
    async fn pause_until_due(&self) -> Duration {
        let now = Utc::now();
        match self.db.next_event_due(now).await {
            Ok(Some(due)) => (due - now)
                .to_std()
                .unwrap_or_default()
                .clamp(MIN_PAUSE, POLL),
            Ok(None) => POLL,
            Err(e) => {
                tracing::warn!(error = %e, "reading the next notification due failed");
                POLL
            }
        }
    }
}

impl Outbox for Dispatcher {
    type Claimed = Claimed;
    type Done = Recorded;
    const WHAT: &'static str = "notification";
    const MAX_IN_FLIGHT: usize = MAX_IN_FLIGHT;
    const POLL: Duration = POLL;

    fn woken(&self) -> tokio::sync::watch::Receiver<u64> {
        self.db.outbox_watch()
    }

    async fn claim(&self, limit: usize) -> Result<(Vec<Claimed>, Duration), DbError> {
        let now = Utc::now();
        let lease = crate::random::hex(32);
        let until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        let claimed = self.db.claim_due_events(now, &lease, until, limit).await?;
        let pause = if claimed.len() == limit {
            // There may be more: look again as soon as an attempt finishes.
            POLL
        } else {
            self.pause_until_due().await
        };
        Ok((claimed, pause))
    }

    /// Makes one attempt and decides what follows from it.
    #[tracing::instrument(skip_all, fields(event = %c.event_id, attempt = c.attempts_before + 1))]
    async fn attempt(&self, c: Claimed) -> Recorded {
        let at = Utc::now();
        let made = c.attempts_before.saturating_add(1);
        let attempt = match &c.url {
            Some(url) => self
                .sender
                .post(url, &c.event_id, &c.keys, &c.payload, at)
                .await
                .into_attempt(at, Some(url.clone())),
            None => Attempt {
                at,
                duration_ms: 0,
                url: None,
                status_code: None,
                error: Some(NO_URL.to_string()),
            },
        };
        let finished = Utc::now();
        let (delivery, next_attempt_at, delivered_at) = if attempt.succeeded() {
            tracing::debug!("notification delivered");
            (DeliveryStatus::Delivered, finished, Some(finished))
        } else if c.url.is_none() {
            // Nothing to retry until a URL is saved; the merchant can resend then.
            (DeliveryStatus::Failed, finished, None)
        } else {
            match after_failure(made, &self.retry_delays, finished) {
                AfterFailure::RetryAt(t) => {
                    tracing::info!(outcome = %attempt.summary(), "notification attempt failed; will retry");
                    (DeliveryStatus::Pending, t, None)
                }
                AfterFailure::GiveUp => {
                    tracing::warn!(outcome = %attempt.summary(), "notification failed after its last attempt");
                    (DeliveryStatus::Failed, finished, None)
                }
            }
        };
        Recorded {
            event_id: c.event_id,
            lease: c.lease,
            attempt,
            delivery,
            attempts: made,
            next_attempt_at,
            delivered_at,
        }
    }

    async fn record(&self, done: &[Recorded]) -> Result<(), DbError> {
        let written = self.db.record_attempts(done).await?;
        if written < done.len() {
            tracing::warn!(
                lost = done.len() - written,
                "notification attempts outlived their lease and were not recorded"
            );
        }
        Ok(())
    }
}
