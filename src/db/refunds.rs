//! Refund storage: the reservation that keeps the refunds of a payment within it,
//! the transaction that records the acquirer's confirmation together with the
//! link's new status and its outbox event, the release of a refused refund, and
//! the queue of refunds the acquirer has not confirmed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::links::{insert_event, LinkRow, LINK_COLUMNS};
use super::query::{query_as_built, Sql};
use super::{from_millis, read, to_millis, write_tx, Db, DbError, DbResult};
use crate::links::{Link, Status};
use crate::merchants::MerchantId;
use crate::money::Currency;
use crate::payments::{Refund, RefundStatus};

/// A refund about to be reserved.
#[derive(Debug)]
pub struct NewRefund<'a> {
    pub id: String,
    pub link: &'a Link,
    pub transaction_id: &'a str,
    pub amount_minor: i64,
    pub reason: Option<&'a str>,
}

/// A refund whose amount is reserved and whose answer from the acquirer is
/// awaited: all that is needed to ask (again).
#[derive(Debug, Clone)]
pub struct PendingRefund {
    pub id: String,
    pub link_id: String,
    pub merchant_id: MerchantId,
    pub payment_id: String,
    /// The captured authorisation to refund.
    pub authorisation: String,
    pub amount_minor: i64,
    pub currency: Currency,
}

#[derive(Debug)]
pub enum Reserved {
    Held(PendingRefund),
    /// Not reserved: only `remaining_minor` is left of the payment (or it is
    /// not an approved payment of the link, and nothing is left).
    Exceeds {
        remaining_minor: i64,
    },
}

#[derive(sqlx::FromRow)]
pub(super) struct RefundRow {
    pub id: String,
    pub payment_id: String,
    pub amount_minor: i64,
    pub reason: Option<String>,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl RefundRow {
    /// The refund, and the id of the payment it refunds.
    pub(super) fn into_refund(self) -> DbResult<(String, Refund)> {
        let status = RefundStatus::parse(&self.status)
            .ok_or_else(|| DbError::Corrupt(format!("refund {}: bad status", self.id)))?;
        Ok((
            self.payment_id,
            Refund {
                id: self.id,
                amount_minor: self.amount_minor,
                reason: self.reason,
                status,
                created_at: from_millis(self.created_at),
                updated_at: from_millis(self.updated_at),
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: String,
    link_id: String,
    merchant_id: i64,
    payment_id: String,
    authorisation: Option<String>,
    amount_minor: i64,
    currency: String,
}

/// Inside the caller's transaction, after its own changes: the status the link
/// `$link` (as just read or written) has by [`Status::after_refunds`] over the
/// confirmed refunds of its approved payments. Reads with a fresh statement, so
/// on PostgreSQL, once the caller holds the link's row lock, it sees every
/// refund and payment committed before.
macro_rules! status_after_refunds {
    ($tx:expr, $link:expr) => {{
        let totals: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT p.amount_minor, CAST(coalesce((SELECT SUM(r.amount_minor) FROM refunds r
                WHERE r.payment_id = p.id AND r.status = 'SUCCEEDED'), 0) AS BIGINT)
             FROM payments p WHERE p.link_id = $1 AND p.status = 'APPROVED'",
        )
        .bind(&$link.id)
        .fetch_all(&mut *$tx)
        .await?;
        let totals: Vec<$crate::links::PaymentTotals> = totals
            .into_iter()
            .map(
                |(amount_minor, refunded_minor)| $crate::links::PaymentTotals {
                    amount_minor,
                    refunded_minor,
                },
            )
            .collect();
        $link.stored_status.after_refunds(&totals)
    }};
}
pub(super) use status_after_refunds;

impl Db {
    /// Reserves the refund's amount on its payment and records it PENDING, in one
    /// transaction. The reservation is one conditional UPDATE: on PostgreSQL a
    /// concurrent one (from any instance) waits for the row and is checked again
    /// against what the first left, and SQLite has a single writer; so the
    /// refunds of a payment never add up to more than it.
    pub async fn reserve_refund(
        &self,
        new: &NewRefund<'_>,
        now: DateTime<Utc>,
    ) -> DbResult<Reserved> {
        let link = new.link;
        write_tx!(self, |tx| {
            let authorisation: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE payments SET refunded_minor = refunded_minor + $4, updated_at = $5
                 WHERE id = $1 AND link_id = $2 AND merchant_id = $3 AND status = 'APPROVED'
                   AND refunded_minor + $4 <= amount_minor
                 RETURNING authorisation",
            )
            .bind(new.transaction_id)
            .bind(&link.id)
            .bind(link.merchant_id.0)
            .bind(new.amount_minor)
            .bind(to_millis(now))
            .fetch_optional(&mut *tx)
            .await?;
            // No early `return` in here: it would leave without the commit.
            let outcome = match authorisation {
                Some(authorisation) => {
                    // Returning an error rolls the reservation back.
                    let authorisation = authorisation.ok_or_else(|| {
                        DbError::Corrupt(format!(
                            "approved payment {} has no authorisation",
                            new.transaction_id
                        ))
                    })?;
                    sqlx::query(
                        "INSERT INTO refunds (id, payment_id, link_id, merchant_id, amount_minor,
                            reason, status, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', $7, $7)",
                    )
                    .bind(&new.id)
                    .bind(new.transaction_id)
                    .bind(&link.id)
                    .bind(link.merchant_id.0)
                    .bind(new.amount_minor)
                    .bind(new.reason)
                    .bind(to_millis(now))
                    .execute(&mut *tx)
                    .await?;
                    Reserved::Held(PendingRefund {
                        id: new.id.clone(),
                        link_id: link.id.clone(),
                        merchant_id: link.merchant_id,
                        payment_id: new.transaction_id.to_string(),
                        authorisation,
                        amount_minor: new.amount_minor,
                        currency: link.currency,
                    })
                }
                None => {
                    let remaining: Option<i64> = sqlx::query_scalar(
                        "SELECT amount_minor - refunded_minor FROM payments
                         WHERE id = $1 AND link_id = $2 AND status = 'APPROVED'",
                    )
                    .bind(new.transaction_id)
                    .bind(&link.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    Reserved::Exceeds {
                        remaining_minor: remaining.unwrap_or(0),
                    }
                }
            };
            Ok::<_, DbError>(outcome)
        })
    }

    /// Records the acquirer's confirmation of a PENDING refund: SUCCEEDED, the
    /// link's status after it ([`Status::after_refunds`] over the confirmed
    /// refunds of its approved payments) and the outbox event, in one
    /// transaction. `None` when the refund was no longer PENDING (settled by a
    /// concurrent request or reconciliation): nothing is written. The link row is
    /// locked first on PostgreSQL so that refunds and payments of one link decide
    /// its status one after the other; SQLite's single writer does that already.
    pub async fn complete_refund(
        &self,
        refund_id: &str,
        acquirer_reference: &str,
        now: DateTime<Utc>,
        event: &(dyn Fn(&Link, Status) -> String + Sync),
    ) -> DbResult<Option<Link>> {
        let lock = match self {
            Db::Postgres(_) => {
                Some("SELECT 1 FROM links WHERE id = (SELECT link_id FROM refunds WHERE id = $1) FOR UPDATE")
            }
            Db::Sqlite(_) => None,
        };
        let select_link = format!("SELECT {LINK_COLUMNS} FROM links WHERE id = $1");
        let update_link = format!(
            "UPDATE links SET status = $2, updated_at = $3 WHERE id = $1 RETURNING {LINK_COLUMNS}"
        );
        let link: Option<Link> = write_tx!(self, |tx| {
            if let Some(lock) = lock {
                sqlx::query(lock).bind(refund_id).execute(&mut *tx).await?;
            }
            let link_id: Option<String> = sqlx::query_scalar(
                "UPDATE refunds SET status = 'SUCCEEDED', acquirer_reference = $2, updated_at = $3
                 WHERE id = $1 AND status = 'PENDING'
                 RETURNING link_id",
            )
            .bind(refund_id)
            .bind(acquirer_reference)
            .bind(to_millis(now))
            .fetch_optional(&mut *tx)
            .await?;
            match link_id {
                None => Ok::<_, DbError>(None),
                Some(link_id) => {
                    let before = sqlx::query_as::<_, LinkRow>(&select_link)
                        .bind(&link_id)
                        .fetch_one(&mut *tx)
                        .await?
                        .into_link()?;
                    let status = status_after_refunds!(tx, before);
                    let after = sqlx::query_as::<_, LinkRow>(&update_link)
                        .bind(&link_id)
                        .bind(status.as_str())
                        .bind(to_millis(now))
                        .fetch_one(&mut *tx)
                        .await?
                        .into_link()?;
                    insert_event!(tx, after, event(&after, before.stored_status), now)?;
                    Ok(Some(after))
                }
            }
        })?;
        let Some(mut link) = link else {
            return Ok(None);
        };
        self.outbox_committed();
        self.attach_payments(std::slice::from_mut(&mut link))
            .await?;
        Ok(Some(link))
    }

    /// Marks a PENDING refund FAILED and gives its amount back to the payment;
    /// false when it was not PENDING.
    pub async fn fail_refund(&self, refund_id: &str, now: DateTime<Utc>) -> DbResult<bool> {
        write_tx!(self, |tx| {
            let failed: Option<(String, i64)> = sqlx::query_as(
                "UPDATE refunds SET status = 'FAILED', updated_at = $2
                 WHERE id = $1 AND status = 'PENDING'
                 RETURNING payment_id, amount_minor",
            )
            .bind(refund_id)
            .bind(to_millis(now))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((payment_id, amount_minor)) = &failed {
                sqlx::query(
                    "UPDATE payments SET refunded_minor = refunded_minor - $2, updated_at = $3
                     WHERE id = $1",
                )
                .bind(payment_id)
                .bind(amount_minor)
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
            }
            Ok::<_, DbError>(failed.is_some())
        })
    }

    /// Refunds still PENDING that were made before `before`, oldest first.
    pub async fn pending_refunds(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> DbResult<Vec<PendingRefund>> {
        let rows: Vec<PendingRow> = read!(self, |pool| {
            sqlx::query_as::<_, PendingRow>(
                "SELECT r.id, r.link_id, r.merchant_id, r.payment_id, p.authorisation,
                    r.amount_minor, l.currency
                 FROM refunds r
                 JOIN payments p ON p.id = r.payment_id
                 JOIN links l ON l.id = r.link_id
                 WHERE r.status = 'PENDING' AND r.created_at < $1
                 ORDER BY r.created_at LIMIT $2",
            )
            .bind(to_millis(before))
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                let corrupt = |what: &str| DbError::Corrupt(format!("refund {}: {what}", r.id));
                Ok(PendingRefund {
                    authorisation: r
                        .authorisation
                        .clone()
                        .ok_or_else(|| corrupt("its payment has no authorisation"))?,
                    currency: Currency::parse(&r.currency)
                        .ok_or_else(|| corrupt("bad currency"))?,
                    merchant_id: MerchantId(r.merchant_id),
                    id: r.id,
                    link_id: r.link_id,
                    payment_id: r.payment_id,
                    amount_minor: r.amount_minor,
                })
            })
            .collect()
    }

    /// The refunds of the given links' payments in one query, by payment id,
    /// oldest first.
    pub(super) async fn refunds_by_payment(
        &self,
        link_ids: &[&str],
    ) -> DbResult<HashMap<String, Vec<Refund>>> {
        let mut by_payment: HashMap<String, Vec<Refund>> = HashMap::new();
        if link_ids.is_empty() {
            return Ok(by_payment);
        }
        let mut sql = Sql::new(
            "SELECT id, payment_id, amount_minor, reason, status, created_at, updated_at
             FROM refunds WHERE link_id IN (",
        );
        for (i, id) in link_ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(id.to_string());
        }
        sql.push(") ORDER BY created_at, id");
        let rows: Vec<RefundRow> = read!(self, |pool| query_as_built!(RefundRow, sql)
            .fetch_all(pool)
            .await?);
        for r in rows {
            let (payment_id, refund) = r.into_refund()?;
            by_payment.entry(payment_id).or_default().push(refund);
        }
        Ok(by_payment)
    }
}
