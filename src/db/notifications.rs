//! Notification delivery storage: claiming due events with a lease, recording
//! attempts, re-queueing, listing events with their attempts, and the signing
//! secrets.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::query::{query_as_built, Sql};
use super::{from_millis, read, to_millis, write_tx, Db, DbError, DbResult};
use crate::merchants::MerchantId;
use crate::notifications::dispatcher::{Claimed, Recorded};
use crate::notifications::{Attempt, DeliveryStatus, Event, EventQuery, SigningKeys};

const EVENT_COLUMNS: &str = "id, merchant_id, link_id, status, payload, created_at, \
    delivery_status, next_attempt_at, delivered_at";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    merchant_id: i64,
    link_id: String,
    status: String,
    payload: String,
    created_at: i64,
    delivery_status: String,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
}

impl EventRow {
    fn into_event(self) -> DbResult<Event> {
        let delivery = DeliveryStatus::parse(&self.delivery_status)
            .ok_or_else(|| DbError::Corrupt(format!("event {}: bad delivery status", self.id)))?;
        Ok(Event {
            merchant_id: MerchantId(self.merchant_id),
            link_id: self.link_id,
            link_status: self.status,
            payload: self.payload,
            created_at: from_millis(self.created_at),
            next_attempt_at: (delivery == DeliveryStatus::Pending)
                .then(|| from_millis(self.next_attempt_at)),
            delivered_at: self.delivered_at.map(from_millis),
            delivery,
            attempts: Vec::new(),
            id: self.id,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    event_id: String,
    attempted_at: i64,
    duration_ms: i64,
    url: Option<String>,
    status_code: Option<i64>,
    error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: String,
    payload: String,
    attempts: i64,
    notification_uri: Option<String>,
    webhook_secret: String,
    previous_webhook_secret: Option<String>,
    webhook_secret_rotated_at: Option<i64>,
}

impl Db {
    /// Leases up to `limit` pending events that are due at `now` and not leased
    /// by anyone, to `lease` until `lease_until`, and returns them with where and
    /// how to send them, read now: a URL changed since the event was written
    /// applies. PostgreSQL: rows another instance is claiming at this moment are
    /// skipped, not waited for, and a row is never claimed twice (its lock makes
    /// the second claim re-read it, leased). SQLite: the single writer makes the
    /// claim atomic.
    pub async fn claim_due_events(
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
            "UPDATE events SET lease_owner = $1, lease_until = $2
             WHERE id IN (
                 SELECT id FROM events
                 WHERE delivery_status = 'pending' AND next_attempt_at <= $3
                   AND (lease_until IS NULL OR lease_until < $3)
                 ORDER BY next_attempt_at
                 LIMIT $4{lock})"
        );
        let rows: Vec<ClaimedRow> = write_tx!(self, |tx| {
            let claimed = sqlx::query(&claim)
                .bind(lease)
                .bind(to_millis(lease_until))
                .bind(to_millis(now))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                Ok::<_, DbError>(Vec::new())
            } else {
                let rows = sqlx::query_as::<_, ClaimedRow>(
                    // A link's own notificationUrl wins over the merchant's; both are
                    // read at each attempt, so a change applies to later attempts.
                    "SELECT e.id, e.payload, e.attempts,
                        coalesce(l.notification_url, m.notification_uri) AS notification_uri,
                        m.webhook_secret, m.previous_webhook_secret, m.webhook_secret_rotated_at
                     FROM events e JOIN merchants m ON m.id = e.merchant_id
                        LEFT JOIN links l ON l.id = e.link_id
                     WHERE e.lease_owner = $1
                     ORDER BY e.next_attempt_at",
                )
                .bind(lease)
                .fetch_all(&mut *tx)
                .await?;
                Ok(rows)
            }
        })?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                event_id: r.id,
                lease: lease.to_string(),
                payload: r.payload,
                attempts_before: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                url: r.notification_uri,
                keys: SigningKeys {
                    current: r.webhook_secret,
                    previous: r.previous_webhook_secret,
                    rotated_at: r.webhook_secret_rotated_at.map(from_millis),
                },
            })
            .collect())
    }

    /// Writes down attempts and the delivery state they lead to, in one
    /// transaction, each only if its lease is still held (a lease that ran out
    /// may have gone to another dispatcher, whose record counts instead).
    /// Returns how many were written.
    pub async fn record_attempts(&self, done: &[Recorded]) -> DbResult<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        write_tx!(self, |tx| {
            let mut written = 0;
            for d in done {
                let updated = sqlx::query(
                    "UPDATE events SET delivery_status = $3, attempts = $4, next_attempt_at = $5,
                        delivered_at = $6, lease_owner = NULL, lease_until = NULL
                     WHERE id = $1 AND lease_owner = $2",
                )
                .bind(&d.event_id)
                .bind(&d.lease)
                .bind(d.delivery.as_str())
                .bind(i64::from(d.attempts))
                .bind(to_millis(d.next_attempt_at))
                .bind(d.delivered_at.map(to_millis))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 1 {
                    let a = &d.attempt;
                    sqlx::query(
                        "INSERT INTO delivery_attempts
                            (event_id, attempted_at, duration_ms, url, status_code, error)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&d.event_id)
                    .bind(to_millis(a.at))
                    .bind(a.duration_ms)
                    .bind(a.url.as_deref())
                    .bind(a.status_code.map(i64::from))
                    .bind(a.error.as_deref())
                    .execute(&mut *tx)
                    .await?;
                    written += 1;
                }
            }
            Ok::<_, DbError>(written)
        })
    }

    /// When the earliest pending event that nobody holds is due.
    pub async fn next_event_due(&self, now: DateTime<Utc>) -> DbResult<Option<DateTime<Utc>>> {
        let due: Option<i64> = read!(self, |pool| {
            sqlx::query_scalar(
                "SELECT MIN(next_attempt_at) FROM events
                 WHERE delivery_status = 'pending' AND (lease_until IS NULL OR lease_until < $1)",
            )
            .bind(to_millis(now))
            .fetch_one(pool)
            .await?
        });
        Ok(due.map(from_millis))
    }

    /// Makes a delivered or failed event of `merchant` pending and due at `now`
    /// with a fresh retry schedule; false when there is no such event.
    pub async fn requeue_event(
        &self,
        merchant: MerchantId,
        id: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let n = write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE events SET delivery_status = 'pending', attempts = 0, next_attempt_at = $3,
                    delivered_at = NULL, lease_owner = NULL, lease_until = NULL
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
            self.outbox_committed();
        }
        Ok(n == 1)
    }

    pub async fn event(&self, merchant: MerchantId, id: &str) -> DbResult<Option<Event>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND merchant_id = $2");
        let row: Option<EventRow> = read!(self, |pool| {
            sqlx::query_as::<_, EventRow>(&sql)
                .bind(id)
                .bind(merchant.0)
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else { return Ok(None) };
        let mut events = vec![row.into_event()?];
        self.attach_attempts(&mut events).await?;
        Ok(events.pop())
    }

    /// The events of one link of `merchant`, oldest first.
    pub async fn link_events(&self, merchant: MerchantId, link_id: &str) -> DbResult<Vec<Event>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE merchant_id = $1 AND link_id = $2
             ORDER BY created_at, id"
        );
        let rows: Vec<EventRow> = read!(self, |pool| {
            sqlx::query_as::<_, EventRow>(&sql)
                .bind(merchant.0)
                .bind(link_id)
                .fetch_all(pool)
                .await?
        });
        let mut events = rows
            .into_iter()
            .map(EventRow::into_event)
            .collect::<DbResult<Vec<_>>>()?;
        self.attach_attempts(&mut events).await?;
        Ok(events)
    }

    /// One page of `merchant`'s events by keyset on (created_at, id), so events
    /// written while paging cause neither duplicates nor gaps.
    pub async fn list_events(
        &self,
        merchant: MerchantId,
        q: &EventQuery,
        limit: u32,
    ) -> DbResult<Vec<Event>> {
        let mut sql = Sql::new(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE merchant_id = "
        ));
        sql.int(merchant.0);
        if let Some(status) = q.status {
            sql.push(" AND delivery_status = ").text(status.as_str());
        }
        if let Some(since) = q.since {
            sql.push(" AND created_at >= ").int(to_millis(since));
        }
        if let Some(until) = q.until {
            sql.push(" AND created_at <= ").int(to_millis(until));
        }
        let (cmp, dir) = if q.newest_first {
            (" < ", " DESC")
        } else {
            (" > ", " ASC")
        };
        if let Some(c) = &q.after {
            sql.push(" AND (created_at")
                .push(cmp)
                .int(c.created_at)
                .push(" OR (created_at = ")
                .int(c.created_at)
                .push(" AND id")
                .push(cmp)
                .text(c.id.clone())
                .push("))");
        }
        sql.push(" ORDER BY created_at")
            .push(dir)
            .push(", id")
            .push(dir)
            .push(" LIMIT ")
            .int(i64::from(limit));
        let rows: Vec<EventRow> = read!(self, |pool| query_as_built!(EventRow, sql)
            .fetch_all(pool)
            .await?);
        let mut events = rows
            .into_iter()
            .map(EventRow::into_event)
            .collect::<DbResult<Vec<_>>>()?;
        self.attach_attempts(&mut events).await?;
        Ok(events)
    }

    /// Loads the attempts of all `events` in one query.
    async fn attach_attempts(&self, events: &mut [Event]) -> DbResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(
            "SELECT event_id, attempted_at, duration_ms, url, status_code, error
             FROM delivery_attempts WHERE event_id IN (",
        );
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(e.id.clone());
        }
        sql.push(") ORDER BY seq");
        let rows: Vec<AttemptRow> = read!(self, |pool| query_as_built!(AttemptRow, sql)
            .fetch_all(pool)
            .await?);
        let mut by_event: HashMap<String, Vec<Attempt>> = HashMap::new();
        for r in rows {
            by_event.entry(r.event_id).or_default().push(Attempt {
                at: from_millis(r.attempted_at),
                duration_ms: r.duration_ms,
                url: r.url,
                status_code: r.status_code.and_then(|c| u16::try_from(c).ok()),
                error: r.error,
            });
        }
        for e in events.iter_mut() {
            e.attempts = by_event.remove(&e.id).unwrap_or_default();
        }
        Ok(())
    }

    pub async fn signing_keys(&self, merchant: MerchantId) -> DbResult<Option<SigningKeys>> {
        let row: Option<(String, Option<String>, Option<i64>)> = read!(self, |pool| {
            sqlx::query_as(
                "SELECT webhook_secret, previous_webhook_secret, webhook_secret_rotated_at
                 FROM merchants WHERE id = $1",
            )
            .bind(merchant.0)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(current, previous, rotated_at)| SigningKeys {
            current,
            previous,
            rotated_at: rotated_at.map(from_millis),
        }))
    }

    /// Makes `secret` the signing secret, keeping the one it replaces as the
    /// previous secret from `now`.
    pub async fn rotate_webhook_secret(
        &self,
        merchant: MerchantId,
        secret: &str,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "UPDATE merchants SET previous_webhook_secret = webhook_secret,
                    webhook_secret = $2, webhook_secret_rotated_at = $3
                 WHERE id = $1",
            )
            .bind(merchant.0)
            .bind(secret)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>(())
        })
    }
}
