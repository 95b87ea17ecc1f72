//! Email outbox storage: queueing emails (also inside the transactions of
//! `db::links` and `db::payments`), claiming due ones with a lease, recording
//! attempts, re-queueing, and a link's emails with their attempts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::query::{query_as_built, Sql};
use super::{from_millis, read, to_millis, write_tx, Db, DbError, DbResult};
use crate::email::dispatcher::{Claimed, Recorded};
use crate::email::{Attempt, DeliveryStatus, Email, Kind, NewEmail, Outcome, Rendered};
use crate::links::{Language, Link};
use crate::merchants::MerchantId;

const EMAIL_COLUMNS: &str = "id, merchant_id, link_id, kind, payment_id, recipient, language, \
    subject, created_at, delivery_status, next_attempt_at, sent_at";

/// Inserts one email of `$link` into the outbox inside the caller's
/// transaction, pending and due at `$now`. After the commit the caller calls
/// `emails_committed` to wake the dispatcher.
macro_rules! insert_email {
    ($tx:expr, $link:expr, $email:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO emails (id, merchant_id, link_id, kind, payment_id, recipient, language,
                subject, body_text, body_html, created_at, queued_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11)",
        )
        .bind(&$email.id)
        .bind($link.merchant_id.0)
        .bind(&$link.id)
        .bind($email.kind.as_str())
        .bind($email.payment_id.as_deref())
        .bind(&$email.recipient)
        .bind($email.language.as_str())
        .bind(&$email.message.subject)
        .bind(&$email.message.text)
        .bind(&$email.message.html)
        .bind($crate::db::to_millis($now))
        .execute(&mut *$tx)
        .await
    };
}
pub(crate) use insert_email;

#[derive(sqlx::FromRow)]
struct EmailRow {
    id: String,
    merchant_id: i64,
    link_id: String,
    kind: String,
    payment_id: Option<String>,
    recipient: String,
    language: String,
    subject: String,
    created_at: i64,
    delivery_status: String,
    next_attempt_at: i64,
    sent_at: Option<i64>,
}

impl EmailRow {
    fn into_email(self) -> DbResult<Email> {
        let corrupt = |what: &str| DbError::Corrupt(format!("email {}: bad {what}", self.id));
        let delivery =
            DeliveryStatus::parse(&self.delivery_status).ok_or_else(|| corrupt("status"))?;
        Ok(Email {
            kind: Kind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            language: Language::parse(&self.language).ok_or_else(|| corrupt("language"))?,
            merchant_id: MerchantId(self.merchant_id),
            link_id: self.link_id,
            payment_id: self.payment_id,
            recipient: self.recipient,
            subject: self.subject,
            created_at: from_millis(self.created_at),
            next_attempt_at: (delivery == DeliveryStatus::Pending)
                .then(|| from_millis(self.next_attempt_at)),
            sent_at: self.sent_at.map(from_millis),
            delivery,
            attempts: Vec::new(),
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    email_id: String,
    attempted_at: i64,
    duration_ms: i64,
    outcome: String,
    reply: Option<String>,
    error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: String,
    recipient: String,
    subject: String,
    body_text: String,
    body_html: String,
    attempts: i64,
    queued_at: i64,
}

impl Db {
    /// Queues `emails` of `link` in a transaction of their own.
    pub async fn queue_emails(
        &self,
        link: &Link,
        emails: &[NewEmail],
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        if emails.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx| {
            for email in emails {
                insert_email!(tx, link, email, now)?;
            }
            Ok::<_, DbError>(())
        })?;
        self.emails_committed();
        Ok(())
    }

    /// When the earliest pending email that nobody holds is due.
    pub async fn next_email_due(&self, now: DateTime<Utc>) -> DbResult<Option<DateTime<Utc>>> {
        let due: Option<i64> = read!(self, |pool| {
            sqlx::query_scalar(
                "SELECT MIN(next_attempt_at) FROM emails
                 WHERE delivery_status = 'pending' AND (lease_until IS NULL OR lease_until < $1)",
            )
            .bind(to_millis(now))
            .fetch_one(pool)
            .await?
        });
        Ok(due.map(from_millis))
    }

    /// Leases up to `limit` pending emails due at `now` and held by nobody, to
    /// `lease` until `lease_until`, and returns them. PostgreSQL: rows another
    /// instance is claiming at this moment are skipped, not waited for. SQLite:
    /// the single writer makes the claim atomic.
    pub async fn claim_due_emails(
        &self,
        now: DateTime<Utc>,
        lease: &str,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> DbResult<Vec<Claimed>> {
        let lock = match self {
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Db::Sqlite(_) => "",
        };
        let claim = format!(
            "UPDATE emails SET lease_owner = $1, lease_until = $2
             WHERE id IN (
                 SELECT id FROM emails
                 WHERE delivery_status = 'pending' AND next_attempt_at <= $3
                   AND (lease_until IS NULL OR lease_until < $3)
                 ORDER BY next_attempt_at
                 LIMIT $4{lock})
             RETURNING id, recipient, subject, body_text, body_html, attempts, queued_at"
        );
        let rows: Vec<ClaimedRow> = write_tx!(self, |tx| {
            let rows = sqlx::query_as::<_, ClaimedRow>(&claim)
                .bind(lease)
                .bind(to_millis(lease_until))
                .bind(to_millis(now))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&mut *tx)
                .await?;
            Ok::<_, DbError>(rows)
        })?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                email_id: r.id,
                lease: lease.to_string(),
                recipient: r.recipient,
                message: Rendered {
                    subject: r.subject,
                    text: r.body_text,
                    html: r.body_html,
                },
                attempts_before: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                queued_at: from_millis(r.queued_at),
            })
            .collect())
    }

    /// Writes down attempts and the delivery state they lead to, in one
    /// transaction, each only while its lease is held (a lease that ran out may
    /// have gone to another dispatcher, whose record counts instead). Returns
    /// how many were written.
    pub async fn record_email_attempts(&self, done: &[Recorded]) -> DbResult<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        write_tx!(self, |tx| {
            let mut written = 0;
            for d in done {
                let updated = sqlx::query(
                    "UPDATE emails SET delivery_status = $3, attempts = $4, next_attempt_at = $5,
                        sent_at = $6, lease_owner = NULL, lease_until = NULL
                     WHERE id = $1 AND lease_owner = $2",
                )
                .bind(&d.email_id)
                .bind(&d.lease)
                .bind(d.delivery.as_str())
                .bind(i64::from(d.attempts))
                .bind(to_millis(d.next_attempt_at))
                .bind(d.sent_at.map(to_millis))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 1 {
                    let a = &d.attempt;
                    sqlx::query(
                        "INSERT INTO email_attempts
                            (email_id, attempted_at, duration_ms, outcome, reply, error)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&d.email_id)
                    .bind(to_millis(a.at))
                    .bind(a.duration_ms)
                    .bind(a.outcome.as_str())
                    .bind(a.reply.as_deref())
                    .bind(a.error.as_deref())
                    .execute(&mut *tx)
                    .await?;
                    written += 1;
                }
            }
            Ok::<_, DbError>(written)
        })
    }

    /// Makes a sent or failed email of `merchant` pending and due at `now` with
    /// a fresh retry schedule; false when there is no such email.
    pub async fn requeue_email(
        &self,
        merchant: MerchantId,
        id: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let n = write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE emails SET delivery_status = 'pending', attempts = 0, queued_at = $3,
                    next_attempt_at = $3, sent_at = NULL, lease_owner = NULL, lease_until = NULL
                 WHERE id = $1 AND merchant_id = $2 AND delivery_status <> 'pending'",
            )
            .bind(id)
            .bind(merchant.0)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            Ok::<_, DbError>(n)
        })?;
        if n == 1 {
            self.emails_committed();
        }
        Ok(n == 1)
    }

    pub async fn email(&self, merchant: MerchantId, id: &str) -> DbResult<Option<Email>> {
        let sql = format!("SELECT {EMAIL_COLUMNS} FROM emails WHERE id = $1 AND merchant_id = $2");
        let row: Option<EmailRow> = read!(self, |pool| {
            sqlx::query_as::<_, EmailRow>(&sql)
                .bind(id)
                .bind(merchant.0)
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else { return Ok(None) };
        let mut emails = vec![row.into_email()?];
        self.attach_email_attempts(&mut emails).await?;
        Ok(emails.pop())
    }

    /// The emails of one link of `merchant`, oldest first.
    pub async fn link_emails(&self, merchant: MerchantId, link_id: &str) -> DbResult<Vec<Email>> {
        let sql = format!(
            "SELECT {EMAIL_COLUMNS} FROM emails WHERE merchant_id = $1 AND link_id = $2
             ORDER BY created_at, id"
        );
        let rows: Vec<EmailRow> = read!(self, |pool| {
            sqlx::query_as::<_, EmailRow>(&sql)
                .bind(merchant.0)
                .bind(link_id)
                .fetch_all(pool)
                .await?
        });
        let mut emails = rows
            .into_iter()
            .map(EmailRow::into_email)
            .collect::<DbResult<Vec<_>>>()?;
        self.attach_email_attempts(&mut emails).await?;
        Ok(emails)
    }

    /// Loads the attempts of all `emails` in one query.
    async fn attach_email_attempts(&self, emails: &mut [Email]) -> DbResult<()> {
        if emails.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(
            "SELECT email_id, attempted_at, duration_ms, outcome, reply, error
             FROM email_attempts WHERE email_id IN (",
        );
        for (i, e) in emails.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(e.id.clone());
        }
        sql.push(") ORDER BY seq");
        let rows: Vec<AttemptRow> = read!(self, |pool| query_as_built!(AttemptRow, sql)
            .fetch_all(pool)
            .await?);
        let mut by_email: HashMap<String, Vec<Attempt>> = HashMap::new();
        for r in rows {
            let outcome = Outcome::parse(&r.outcome).ok_or_else(|| {
                DbError::Corrupt(format!("email {}: bad attempt outcome", r.email_id))
            })?;
            by_email.entry(r.email_id).or_default().push(Attempt {
                at: from_millis(r.attempted_at),
                duration_ms: r.duration_ms,
                outcome,
                reply: r.reply,
                error: r.error,
            });
        }
        for e in emails.iter_mut() {
            e.attempts = by_email.remove(&e.id).unwrap_or_default();
        }
        Ok(())
    }
}
