//! Payment storage: links by their shopper code, payment attempts, and the one
//! transaction that marks a link PAID together with its payment and outbox event.
//! Card numbers and CVCs never come here: a payment row holds the brand and the
//! last four digits only.

use chrono::{DateTime, Utc};

use super::emails::insert_email;
use super::links::{insert_event, LinkRow, LINK_COLUMNS};
use super::refunds::status_after_refunds;
use super::{read, to_millis, write_tx, Db, DbError, DbResult};
use crate::email::NewEmail;
use crate::links::{Link, Status};
use crate::payments::PaymentStatus;

/// A payment attempt about to be sent to the acquirer.
#[derive(Debug)]
pub struct NewAttempt<'a> {
    /// The transaction id (at most 20 characters).
    pub id: &'a str,
    pub link: &'a Link,
    pub brand: &'a str,
    pub last4: &'a str,
}

/// How many earlier attempts on a link allow a new one.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimit {
    /// Declined attempts made after this time count.
    pub declined_since: DateTime<Utc>,
    /// Attempts still waiting for the acquirer, made after this time, count
    /// (older ones are left over from a crash and no longer hold a place).
    pub pending_since: DateTime<Utc>,
    /// A new attempt is refused once the counted ones reach this number.
    pub max: i64,
    /// Whether attempts in flight count towards `max` beside declined ones.
    pub pending_count_towards_max: bool,
    /// A new attempt is refused once this many are in flight.
    pub max_pending: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AttemptRecorded {
    Recorded,
    /// The link is no longer CREATED, is past its due date, or its amount has
    /// changed since it was read.
    NotPayable,
    /// Too many recent attempts; `declined` of them were declined.
    Limited {
        declined: i64,
    },
}

impl Db {
    /// The link behind a shopper URL, with its payments.
    pub async fn link_by_code(&self, code: &str) -> DbResult<Option<Link>> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM links WHERE url_code = $1");
        let row = read!(self, |pool| {
            sqlx::query_as::<_, LinkRow>(&sql)
                .bind(code)
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else { return Ok(None) };
        let mut link = row.into_link()?;
        self.attach_payments(std::slice::from_mut(&mut link))
            .await?;
        Ok(Some(link))
    }

    /// Records a PENDING attempt if the link is payable at `now` and the attempt
    /// limit allows it, as one conditional INSERT. On PostgreSQL the link row is
    /// locked first so that concurrent attempts on one link (from any instance)
    /// are counted one after the other; SQLite's single writer already does that.
    pub async fn record_attempt(
        &self,
        attempt: &NewAttempt<'_>,
        limit: AttemptLimit,
        now: DateTime<Utc>,
    ) -> DbResult<AttemptRecorded> {
        let lock = match self {
            Db::Postgres(_) => Some("SELECT 1 FROM links WHERE id = $1 FOR UPDATE"),
            Db::Sqlite(_) => None,
        };
        let declined = "(SELECT COUNT(*) FROM payments p WHERE p.link_id = $1
                AND p.status = 'DECLINED' AND p.created_at > $2)";
        let pending = "(SELECT COUNT(*) FROM payments p WHERE p.link_id = $1
                AND p.status = 'PENDING' AND p.created_at > $3)";
        let insert = format!(
            "INSERT INTO payments (id, link_id, merchant_id, status, amount_minor, brand, last4,
                created_at, updated_at)
             SELECT $4, l.id, l.merchant_id, 'PENDING', l.amount_minor, $5, $6, $7, $7
             FROM links l
             WHERE l.id = $1 AND l.status = 'CREATED' AND l.due_date > $7
               AND l.amount_minor = $9 AND l.currency = $10
               AND {declined} + $11 * {pending} < $8 AND {pending} < $12"
        );
        write_tx!(self, |tx| {
            if let Some(lock) = lock {
                sqlx::query(lock)
                    .bind(&attempt.link.id)
                    .execute(&mut *tx)
                    .await?;
            }
            let inserted = sqlx::query(&insert)
                .bind(&attempt.link.id)
                .bind(to_millis(limit.declined_since))
                .bind(to_millis(limit.pending_since))
                .bind(attempt.id)
                .bind(attempt.brand)
                .bind(attempt.last4)
                .bind(to_millis(now))
                .bind(limit.max)
                .bind(attempt.link.amount_minor)
                .bind(attempt.link.currency.code())
                .bind(i64::from(limit.pending_count_towards_max))
                .bind(limit.max_pending)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // No early `return` in here: it would leave without the commit.
            let outcome = if inserted == 1 {
                AttemptRecorded::Recorded
            } else {
                // Nothing written: say why, from the same transaction.
                let payable: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM links WHERE id = $1 AND status = 'CREATED' AND due_date > $2
                        AND amount_minor = $3 AND currency = $4",
                )
                .bind(&attempt.link.id)
                .bind(to_millis(now))
                .bind(attempt.link.amount_minor)
                .bind(attempt.link.currency.code())
                .fetch_optional(&mut *tx)
                .await?;
                if payable.is_none() {
                    AttemptRecorded::NotPayable
                } else {
                    let declined: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM payments
                         WHERE link_id = $1 AND status = 'DECLINED' AND created_at > $2",
                    )
                    .bind(&attempt.link.id)
                    .bind(to_millis(limit.declined_since))
                    .fetch_one(&mut *tx)
                    .await?;
                    AttemptRecorded::Limited { declined }
                }
            };
            Ok::<_, DbError>(outcome)
        })
    }

    /// Moves a PENDING attempt to a final status other than APPROVED (declined,
    /// failed, voided); false when it was not PENDING.
    pub async fn settle_attempt(
        &self,
        payment_id: &str,
        status: PaymentStatus,
        authorisation: Option<&str>,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE payments SET status = $2, authorisation = coalesce($3, authorisation),
                    updated_at = $4
                 WHERE id = $1 AND status = 'PENDING'",
            )
            .bind(payment_id)
            .bind(status.as_str())
            .bind(authorisation)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            Ok::<_, DbError>(n == 1)
        })
    }

    /// The race-free heart of a payment: the link takes one place of its allowance
    /// as one conditional UPDATE (still CREATED, before its due date, at the amount
    /// that was authorised, with a place left), becoming PAID when that was the
    /// last place; in the same transaction as the payment's capture record
    /// (PENDING → APPROVED with its authorisation), the outbox event and the
    /// receipt email `receipt` makes of the link, if any. `None`
    /// when the link could not take the payment: nothing is written and the caller
    /// voids the authorisation. The link comes without its payments.
    pub async fn complete_payment(
        &self,
        link: &Link,
        payment_id: &str,
        authorisation: &str,
        now: DateTime<Utc>,
        event: &(dyn Fn(&Link) -> String + Sync),
        receipt: &(dyn Fn(&Link) -> Option<NewEmail> + Sync),
    ) -> DbResult<Option<Link>> {
        let sql = format!(
            "UPDATE links SET payments_approved = payments_approved + 1,
                status = CASE WHEN payments_approved + 1 >= payments_allowed
                    THEN 'PAID' ELSE 'CREATED' END,
                paid_at = CASE WHEN payments_approved + 1 >= payments_allowed
                    THEN $2 ELSE paid_at END,
                updated_at = $2
             WHERE id = $1 AND status = 'CREATED' AND due_date > $2
                AND amount_minor = $3 AND currency = $4
                AND (payments_allowed IS NULL OR payments_approved < payments_allowed)
             RETURNING {LINK_COLUMNS}"
        );
        let paid: Option<(Link, bool)> = write_tx!(self, |tx| {
            let row = sqlx::query_as::<_, LinkRow>(&sql)
                .bind(&link.id)
                .bind(to_millis(now))
                .bind(link.amount_minor)
                .bind(link.currency.code())
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                None => Ok::<_, DbError>(None),
                Some(row) => {
                    let paid = row.into_link()?;
                    let captured = sqlx::query(
                        "UPDATE payments SET status = 'APPROVED', authorisation = $3, updated_at = $4
                         WHERE id = $1 AND link_id = $2 AND status = 'PENDING'",
                    )
                    .bind(payment_id)
                    .bind(&link.id)
                    .bind(authorisation)
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if captured != 1 {
                        // Returning an error rolls the PAID update back too.
                        return Err(DbError::Corrupt(format!(
                            "payment {payment_id} was not pending when its link was paid"
                        )));
                    }
                    // A multi-use link whose earlier payments were refunded while
                    // it was open is, once paid up, PARTIALLY_REFUNDED.
                    let mut paid = paid;
                    if paid.stored_status == Status::Paid {
                        let status = status_after_refunds!(tx, paid);
                        if status != Status::Paid {
                            sqlx::query("UPDATE links SET status = $2 WHERE id = $1")
                                .bind(&paid.id)
                                .bind(status.as_str())
                                .execute(&mut *tx)
                                .await?;
                            paid.stored_status = status;
                        }
                    }
                    insert_event!(tx, paid, event(&paid), now)?;
                    let email = receipt(&paid);
                    if let Some(email) = &email {
                        insert_email!(tx, paid, email, now)?;
                    }
                    Ok(Some((paid, email.is_some())))
                }
            }
        })?;
        let Some((paid, emailed)) = paid else {
            return Ok(None);
        };
        self.outbox_committed();
        if emailed {
            self.emails_committed();
        }
        Ok(Some(paid))
    }

    /// Notes that the acquirer confirmed the capture of an approved payment.
    pub async fn mark_captured(&self, payment_id: &str, now: DateTime<Utc>) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "UPDATE payments SET captured_at = $2, updated_at = $2
                 WHERE id = $1 AND status = 'APPROVED' AND captured_at IS NULL",
            )
            .bind(payment_id)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>(())
        })
    }

    /// APPROVED payments whose capture was not confirmed, last touched before
    /// `before` (so a capture still in flight is left alone): (id, authorisation).
    pub async fn uncaptured_payments(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<Vec<(String, String)>> {
        let rows = read!(self, |pool| {
            sqlx::query_as::<_, (String, String)>(
                "SELECT id, authorisation FROM payments
                 WHERE status = 'APPROVED' AND captured_at IS NULL AND authorisation IS NOT NULL
                   AND coalesce(updated_at, created_at) < $1
                 ORDER BY created_at LIMIT $2",
            )
            .bind(to_millis(before))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// Marks attempts still PENDING since before `before` as FAILED: the process
    /// that made them stopped while the acquirer was deciding.
    pub async fn fail_stale_attempts(
        &self,
        before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<u64> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE payments SET status = 'FAILED', updated_at = $2
                 WHERE status = 'PENDING' AND created_at < $1",
            )
            .bind(to_millis(before))
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            Ok::<_, DbError>(n)
        })
    }
}
