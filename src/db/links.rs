//! Link storage: inserts, conditional state changes with their outbox events, and
//! the filtered keyset listing.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::query::{like_escape, query_as_built, Sql};
use super::{from_millis, read, to_millis, write_tx, Db, DbError, DbResult};
use crate::links::{
    Link, LinkFields, ListQuery, Payment, SortKey, SortValue, Status, Transition, WithPayments,
};
use crate::merchants::{MerchantId, ProductId};
use crate::money::Currency;

/// Inserts a pending link (`group_commit::PendingLink`) in `$tx`: with an
/// idempotency key, the key and the answer too, so that a retry finds either both
/// or neither; and the link's queued emails, so that none is sent for a link that
/// was not made and none is lost for one that was. Evaluates to `DbResult<()>`.
macro_rules! insert_link_rows {
    ($tx:ident, $p:expr) => {
        async {
            if let Some((key, hash, response)) = &$p.idempotency {
                sqlx::query(
                    "INSERT INTO idempotency_keys (merchant_id, key, request_hash, response, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind($p.link.merchant_id.0)
                .bind(key)
                .bind(hash)
                .bind(response)
                .bind($crate::db::to_millis($p.link.created_at))
                .execute(&mut *$tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO links (id, merchant_id, product_id, url_code, status, amount_minor, currency,
                    country, merchant_transaction_id, description, customer_id, due_date, language,
                    merchant_params, reference_id, code, created_at, updated_at, paid_at, amount_scaled,
                    payments_allowed, notification_url, customer_email, send_by_email,
                    receiver_emails, taxes, allowed_payment_methods, additional)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                    $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)",
            )
            .bind(&$p.link.id)
            .bind($p.link.merchant_id.0)
            .bind($p.link.product_id.0)
            .bind(&$p.link.url_code)
            .bind($p.link.stored_status.as_str())
            .bind($p.link.amount_minor)
            .bind($p.link.currency.code())
            .bind(&$p.link.country)
            .bind(&$p.link.merchant_transaction_id)
            .bind(&$p.link.description)
            .bind(&$p.link.customer_id)
            .bind($crate::db::to_millis($p.link.due_date))
            .bind($p.link.language.as_str())
            .bind(&$p.link.merchant_params)
            .bind(&$p.link.reference_id)
            .bind(&$p.link.code)
            .bind($crate::db::to_millis($p.link.created_at))
            .bind($crate::db::to_millis($p.link.updated_at))
            .bind($p.link.paid_at.map($crate::db::to_millis))
            .bind(crate::money::to_scaled($p.link.amount_minor, $p.link.currency))
            .bind($p.link.payments_allowed)
            .bind(&$p.link.notification_url)
            .bind(&$p.link.customer_email)
            .bind(i64::from($p.link.send_by_email))
            .bind($crate::db::links::list_to_json(&$p.link.receiver_emails))
            .bind($crate::db::links::list_to_json(&$p.link.taxes))
            .bind($crate::db::links::brands_to_json(&$p.link.allowed_payment_methods))
            .bind($crate::db::links::list_to_json(&$p.link.additional))
            .execute(&mut *$tx)
            .await?;
            for email in &$p.emails {
                $crate::db::emails::insert_email!($tx, $p.link, email, $p.link.created_at)?;
            }
            Ok::<_, $crate::db::DbError>(())
        }
        .await
    };
}
pub(super) use insert_link_rows;

/// How common trigrams are in `search_text`, from a random sample of links.
#[derive(Debug)]
pub struct TrigramSample {
    taken: std::time::Instant,
    rows: usize,
    /// In how many sampled rows each trigram occurs.
    counts: HashMap<String, u32>,
}

impl TrigramSample {
    const SIZE: i64 = 1000;
    const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

    fn of(texts: &[String]) -> TrigramSample {
        let mut counts: HashMap<String, u32> = HashMap::new();
        for text in texts {
            let chars: Vec<char> = text.chars().collect();
            let mut seen: Vec<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
            seen.sort();
            seen.dedup();
            for t in seen {
                *counts.entry(t).or_default() += 1;
            }
        }
        TrigramSample {
            taken: std::time::Instant::now(),
            rows: texts.len(),
            counts,
        }
    }

    /// In more than one link in twenty: its posting list is long enough that a
    /// phrase query over a million links spends most of its time reading it.
    fn is_common(&self, trigram: &str) -> bool {
        let n = self.counts.get(trigram).copied().unwrap_or(0) as usize;
        self.rows >= 100 && n * 20 > self.rows
    }
}

/// A text search, as `Db::search_plan` chose to run it.
enum Search {
    /// The links the FTS5 `query` over `links_search` finds, tested with the
    /// `LIKE` `pattern`.
    Trigram { query: String, pattern: String },
    /// Every row tested with the `LIKE` pattern over `search_text`.
    Like(String),
    /// PostgreSQL: the rows the GIN index finds for `pattern` (a part of the
    /// needle), tested for the whole `needle` by a condition it cannot serve.
    LikeThenContains { pattern: String, needle: String },
    /// Every row tested for the needle (under three characters, which no
    /// trigram index serves). Not a LIKE: PostgreSQL's planner takes a short
    /// LIKE pattern for a rare one and scans the whole table in parallel, where
    /// walking the merchant's rows in page order finds a page of matches first.
    Contains(String),
}

pub(super) const LINK_COLUMNS: &str =
    "id, merchant_id, product_id, url_code, status, amount_minor, currency, \
    country, merchant_transaction_id, description, customer_id, due_date, language, \
    merchant_params, reference_id, code, created_at, updated_at, paid_at, \
    payments_allowed, payments_approved, notification_url, customer_email, send_by_email, \
    receiver_emails, taxes, allowed_payment_methods, additional";

#[derive(sqlx::FromRow)]
pub(super) struct LinkRow {
    id: String,
    merchant_id: i64,
    product_id: i64,
    url_code: String,
    status: String,
    amount_minor: i64,
    currency: String,
    country: String,
    merchant_transaction_id: String,
    description: Option<String>,
    customer_id: String,
    due_date: i64,
    language: String,
    merchant_params: Option<String>,
    reference_id: Option<String>,
    code: Option<String>,
    created_at: i64,
    updated_at: i64,
    paid_at: Option<i64>,
    payments_allowed: Option<i64>,
    payments_approved: i64,
    notification_url: Option<String>,
    customer_email: Option<String>,
    send_by_email: i64,
    receiver_emails: Option<String>,
    taxes: Option<String>,
    allowed_payment_methods: Option<String>,
    additional: Option<String>,
}

/// A list column: JSON text, NULL when the list is empty.
pub(super) fn list_to_json<T: serde::Serialize>(list: &[T]) -> Option<String> {
    if list.is_empty() {
        None
    } else {
        serde_json::to_string(list).ok()
    }
}

fn list_from_json<T: serde::de::DeserializeOwned>(
    text: Option<&str>,
    corrupt: impl Fn() -> DbError,
) -> DbResult<Vec<T>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(t).map_err(|_| corrupt()),
    }
}

/// Card brands are stored by their API names (`visa`, `master`, `amex`).
pub(super) fn brands_to_json(brands: &[crate::payments::Brand]) -> Option<String> {
    list_to_json(&brands.iter().map(|b| b.as_str()).collect::<Vec<_>>())
}

impl LinkRow {
    pub(super) fn into_link(self) -> DbResult<Link> {
        let corrupt = |what: &str| DbError::Corrupt(format!("link {}: bad {what}", self.id));
        Ok(Link {
            stored_status: Status::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            currency: Currency::parse(&self.currency).ok_or_else(|| corrupt("currency"))?,
            language: crate::links::Language::parse(&self.language)
                .ok_or_else(|| corrupt("language"))?,
            merchant_id: MerchantId(self.merchant_id),
            product_id: ProductId(self.product_id),
            url_code: self.url_code,
            amount_minor: self.amount_minor,
            country: self.country,
            merchant_transaction_id: self.merchant_transaction_id,
            description: self.description,
            customer_id: self.customer_id,
            due_date: from_millis(self.due_date),
            merchant_params: self.merchant_params,
            reference_id: self.reference_id,
            code: self.code,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
            paid_at: self.paid_at.map(from_millis),
            payments_allowed: self.payments_allowed,
            payments_approved: self.payments_approved,
            notification_url: self.notification_url,
            customer_email: self.customer_email,
            send_by_email: self.send_by_email != 0,
            receiver_emails: list_from_json(self.receiver_emails.as_deref(), || {
                corrupt("receiver_emails")
            })?,
            taxes: list_from_json(self.taxes.as_deref(), || corrupt("taxes"))?,
            allowed_payment_methods: list_from_json::<String>(
                self.allowed_payment_methods.as_deref(),
                || corrupt("allowed_payment_methods"),
            )?
            .iter()
            .map(|b| crate::payments::Brand::parse(b).ok_or_else(|| corrupt("brand")))
            .collect::<DbResult<_>>()?,
            additional: list_from_json(self.additional.as_deref(), || corrupt("additional"))?,
            payments: Vec::new(),
            id: self.id,
        })
    }
}

/// One link with its payments and their refunds in one query (`Db::link`): the
/// detail page and the API's GET read a single link, and every query is a round
/// trip to the database's thread (SQLite) or server (PostgreSQL); three of them
/// were most of the time of those requests. One row per refund, or per payment
/// without one, or one row for a link without payments.
static LINK_WITH_PAYMENTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let link_columns: Vec<String> = LINK_COLUMNS.split(", ").map(|c| format!("l.{c}")).collect();
    format!(
        "SELECT {}, p.id AS p_id, p.status AS p_status, p.amount_minor AS p_amount_minor,
            p.brand AS p_brand, p.last4 AS p_last4, p.created_at AS p_created_at,
            r.id AS r_id, r.amount_minor AS r_amount_minor, r.reason AS r_reason,
            r.status AS r_status, r.created_at AS r_created_at, r.updated_at AS r_updated_at
         FROM links l
         LEFT JOIN payments p ON p.link_id = l.id
         LEFT JOIN refunds r ON r.payment_id = p.id
         WHERE l.merchant_id = $1 AND l.id = $2
         ORDER BY p.created_at, p.id, r.created_at, r.id",
        link_columns.join(", ")
    )
});

/// A row of `LINK_WITH_PAYMENTS`: the payment and refund columns are NULL where
/// there is none.
#[derive(sqlx::FromRow)]
struct LinkPaymentRefundRow {
    #[sqlx(flatten)]
    link: LinkRow,
    p_id: Option<String>,
    p_status: Option<String>,
    p_amount_minor: Option<i64>,
    p_brand: Option<String>,
    p_last4: Option<String>,
    p_created_at: Option<i64>,
    r_id: Option<String>,
    r_amount_minor: Option<i64>,
    r_reason: Option<String>,
    r_status: Option<String>,
    r_created_at: Option<i64>,
    r_updated_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: String,
    link_id: String,
    status: String,
    amount_minor: i64,
    brand: Option<String>,
    last4: Option<String>,
    created_at: i64,
}

/// Inserts an outbox event for a status change, inside the caller's transaction;
/// it starts pending and due at once (the column defaults). After the commit the
/// caller calls `outbox_committed` to wake the dispatcher.
macro_rules! insert_event {
    ($tx:expr, $link:expr, $payload:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO events (id, merchant_id, link_id, status, payload, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(format!("evt_{}", crate::random::hex(24)))
        .bind($link.merchant_id.0)
        .bind(&$link.id)
        .bind($link.stored_status.as_str())
        .bind($payload)
        .bind(to_millis($now))
        .execute(&mut *$tx)
        .await
    };
}
pub(super) use insert_event;

impl Db {
    pub async fn product_belongs_to(
        &self,
        merchant: MerchantId,
        product: ProductId,
    ) -> DbResult<bool> {
        let found: Option<i64> = read!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM products WHERE id = $1 AND merchant_id = $2")
                .bind(product.0)
                .bind(merchant.0)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    pub async fn idempotent_response(
        &self,
        merchant: MerchantId,
        key: &str,
    ) -> DbResult<Option<(String, String)>> {
        let row = read!(self, |pool| {
            sqlx::query_as::<_, (String, String)>(
                "SELECT request_hash, response FROM idempotency_keys WHERE merchant_id = $1 AND key = $2",
            )
            .bind(merchant.0)
            .bind(key)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
    }

    /// Forgets idempotency keys older than `before`.
    pub async fn prune_idempotency_keys(&self, before: DateTime<Utc>) -> DbResult<u64> {
        write_tx!(self, |tx| {
            let r = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(to_millis(before))
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(r.rows_affected())
        })
    }

    pub async fn link(&self, merchant: MerchantId, id: &str) -> DbResult<Option<Link>> {
        let rows: Vec<LinkPaymentRefundRow> = read!(self, |pool| {
            sqlx::query_as(&LINK_WITH_PAYMENTS)
                .bind(merchant.0)
                .bind(id)
                .fetch_all(pool)
                .await?
        });
        let mut link: Option<Link> = None;
        for row in rows {
            let link = match &mut link {
                Some(link) => link,
                None => link.insert(row.link.into_link()?),
            };
            let Some(payment_id) = row.p_id else { continue };
            let corrupt = || DbError::Corrupt(format!("payment {payment_id}: a NULL column"));
            // The rows come by payment, then by refund: a payment's first row adds it.
            if link.payments.last().is_none_or(|p| p.id != payment_id) {
                link.payments.push(Payment {
                    status: row.p_status.ok_or_else(corrupt)?,
                    amount_minor: row.p_amount_minor.ok_or_else(corrupt)?,
                    brand: row.p_brand,
                    last4: row.p_last4,
                    created_at: from_millis(row.p_created_at.ok_or_else(corrupt)?),
                    refunds: Vec::new(),
                    id: payment_id.clone(),
                });
            }
            let Some(refund_id) = row.r_id else { continue };
            let refund = super::refunds::RefundRow {
                amount_minor: row.r_amount_minor.ok_or_else(corrupt)?,
                reason: row.r_reason,
                status: row.r_status.ok_or_else(corrupt)?,
                created_at: row.r_created_at.ok_or_else(corrupt)?,
                updated_at: row.r_updated_at.ok_or_else(corrupt)?,
                id: refund_id,
                payment_id,
            };
            let (_, refund) = refund.into_refund()?;
            if let Some(payment) = link.payments.last_mut() {
                payment.refunds.push(refund);
            }
        }
        Ok(link)
    }

    /// Loads the payments of all `links` and their refunds in two queries (never
    /// one per link).
    pub(super) async fn attach_payments(&self, links: &mut [Link]) -> DbResult<()> {
        if links.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(
            "SELECT id, link_id, status, amount_minor, brand, last4, created_at FROM payments WHERE link_id IN (",
        );
        for (i, link) in links.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(link.id.clone());
        }
        sql.push(") ORDER BY created_at, id");
        let rows: Vec<PaymentRow> = read!(self, |pool| query_as_built!(PaymentRow, sql)
            .fetch_all(pool)
            .await?);
        // Without a payment there is no refund: most links are read unpaid, and
        // this spares them a query.
        let mut refunds = if rows.is_empty() {
            HashMap::new()
        } else {
            let ids: Vec<&str> = links.iter().map(|l| l.id.as_str()).collect();
            self.refunds_by_payment(&ids).await?
        };
        let mut by_link: HashMap<String, Vec<Payment>> = HashMap::new();
        for r in rows {
            by_link.entry(r.link_id).or_default().push(Payment {
                refunds: refunds.remove(&r.id).unwrap_or_default(),
                id: r.id,
                status: r.status,
                amount_minor: r.amount_minor,
                brand: r.brand,
                last4: r.last4,
                created_at: from_millis(r.created_at),
            });
        }
        for link in links.iter_mut() {
            link.payments = by_link.remove(&link.id).unwrap_or_default();
        }
        Ok(())
    }

    /// Tells why a conditional change touched no row: the link is missing, or its
    /// status forbade the change.
    async fn refusal(&self, merchant: MerchantId, id: &str) -> DbResult<Transition> {
        Ok(match self.link(merchant, id).await? {
            Some(link) => Transition::Refused(link),
            None => Transition::NotFound,
        })
    }

    pub async fn update_link(
        &self,
        merchant: MerchantId,
        id: &str,
        f: &LinkFields,
        now: DateTime<Utc>,
    ) -> DbResult<Transition> {
        let sql = format!(
            "UPDATE links SET product_id = $3, amount_minor = $4, currency = $5, country = $6,
                merchant_transaction_id = $7, description = $8, customer_id = coalesce($9, customer_id),
                due_date = coalesce($10, due_date), language = $11, merchant_params = $12,
                reference_id = $13, code = $14, updated_at = $15, amount_scaled = $16,
                payments_allowed = $17, notification_url = $18, customer_email = $19,
                send_by_email = $20, receiver_emails = $21, taxes = $22,
                allowed_payment_methods = $23, additional = $24
             WHERE merchant_id = $1 AND id = $2 AND status = 'CREATED' AND due_date > $15
                AND ($17 IS NULL OR payments_approved < $17)
             RETURNING {LINK_COLUMNS}"
        );
        let row: Option<LinkRow> = write_tx!(self, |tx| {
            let row = sqlx::query_as::<_, LinkRow>(&sql)
                .bind(merchant.0)
                .bind(id)
                .bind(f.product_id.0)
                .bind(f.amount_minor)
                .bind(f.currency.code())
                .bind(&f.country)
                .bind(&f.merchant_transaction_id)
                .bind(&f.description)
                .bind(&f.customer_id)
                .bind(f.due_date.map(to_millis))
                .bind(f.language.as_str())
                .bind(&f.merchant_params)
                .bind(&f.reference_id)
                .bind(&f.code)
                .bind(to_millis(now))
                .bind(crate::money::to_scaled(f.amount_minor, f.currency))
                .bind(f.payments_allowed)
                .bind(&f.notification_url)
                .bind(&f.customer_email)
                .bind(i64::from(f.send_by_email))
                .bind(list_to_json(&f.receiver_emails))
                .bind(list_to_json(&f.taxes))
                .bind(brands_to_json(&f.allowed_payment_methods))
                .bind(list_to_json(&f.additional))
                .fetch_optional(&mut *tx)
                .await?;
            Ok::<_, DbError>(row)
        })?;
        match row {
            Some(row) => {
                let mut links = vec![row.into_link()?];
                self.attach_payments(&mut links).await?;
                Ok(Transition::Done(links.remove(0)))
            }
            None => self.refusal(merchant, id).await,
        }
    }

    /// CREATED → CANCELLED as one conditional UPDATE, with its event.
    pub async fn cancel_link(
        &self,
        merchant: MerchantId,
        id: &str,
        now: DateTime<Utc>,
        event: &(dyn Fn(&Link) -> String + Sync),
    ) -> DbResult<Transition> {
        let sql = format!(
            "UPDATE links SET status = 'CANCELLED', updated_at = $3
             WHERE merchant_id = $1 AND id = $2 AND status = 'CREATED' AND due_date > $3
             RETURNING {LINK_COLUMNS}"
        );
        let link: Option<Link> = write_tx!(self, |tx| {
            let row = sqlx::query_as::<_, LinkRow>(&sql)
                .bind(merchant.0)
                .bind(id)
                .bind(to_millis(now))
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some(row) => {
                    let link = row.into_link()?;
                    insert_event!(tx, link, event(&link), now)?;
                    Ok::<_, DbError>(Some(link))
                }
                None => Ok(None),
            }
        })?;
        match link {
            Some(mut link) => {
                self.outbox_committed();
                self.attach_payments(std::slice::from_mut(&mut link))
                    .await?;
                Ok(Transition::Done(link))
            }
            None => self.refusal(merchant, id).await,
        }
    }

    /// Marks up to `batch` overdue CREATED links EXPIRED, each with its event.
    pub async fn expire_due_links(
        &self,
        now: DateTime<Utc>,
        batch: i64,
        event: &(dyn Fn(&Link) -> String + Sync),
    ) -> DbResult<usize> {
        // PostgreSQL: skip rows another instance (or a concurrent pay or cancel) has
        // locked; they are decided there. SQLite has one writer, so no locks to skip.
        let lock = match self {
            Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
            Db::Sqlite(_) => "",
        };
        let sql = format!(
            "UPDATE links SET status = 'EXPIRED', updated_at = $1
             WHERE status = 'CREATED' AND due_date <= $1 AND seq IN (
                 SELECT seq FROM links WHERE status = 'CREATED' AND due_date <= $1 LIMIT $2{lock})
             RETURNING {LINK_COLUMNS}"
        );
        let n = write_tx!(self, |tx| {
            let rows = sqlx::query_as::<_, LinkRow>(&sql)
                .bind(to_millis(now))
                .bind(batch)
                .fetch_all(&mut *tx)
                .await?;
            let n = rows.len();
            for row in rows {
                let link = row.into_link()?;
                insert_event!(tx, link, event(&link), now)?;
            }
            Ok::<_, DbError>(n)
        })?;
        if n > 0 {
            self.outbox_committed();
        }
        Ok(n)
    }

    pub async fn has_links(&self, merchant: MerchantId) -> DbResult<bool> {
        let found: Option<i64> = read!(self, |pool| {
            sqlx::query_scalar("SELECT merchant_id FROM links WHERE merchant_id = $1 LIMIT 1")
                .bind(merchant.0)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// One page of a merchant's links in the query's order, by keyset: the page
    /// starts strictly after the cursor's (sort value, id), so rows added meanwhile
    /// cause neither duplicates nor gaps.
    pub async fn list_links(
        &self,
        merchant: MerchantId,
        q: &ListQuery,
        limit: u32,
        payments: WithPayments,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<Link>> {
        let sql = self.list_sql(merchant, q, limit, now).await?;
        let rows: Vec<LinkRow> = read!(self, |pool| query_as_built!(LinkRow, sql)
            .fetch_all(pool)
            .await?);
        let mut links = rows
            .into_iter()
            .map(LinkRow::into_link)
            .collect::<DbResult<Vec<_>>>()?;
        if payments == WithPayments::Yes {
            self.attach_payments(&mut links).await?;
        }
        Ok(links)
    }

    /// The plan the database chooses for [`Db::list_links`] with these arguments,
    /// one line per step: SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN ANALYZE
    /// (which runs the query). For `bench/run.sh`, which refuses full table scans.
    pub async fn explain_list_links(
        &self,
        merchant: MerchantId,
        q: &ListQuery,
        limit: u32,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<String>> {
        let mut sql = self.list_sql(merchant, q, limit, now).await?;
        Ok(match self {
            Db::Sqlite(s) => {
                sql.prefix("EXPLAIN QUERY PLAN ");
                let rows: Vec<(i64, i64, i64, String)> = read!(@on s.read, |conn| {
                    query_as_built!((i64, i64, i64, String), sql)
                        .fetch_all(conn)
                        .await?
                });
                rows.into_iter().map(|r| r.3).collect()
            }
            Db::Postgres(p) => {
                sql.prefix("EXPLAIN (ANALYZE, BUFFERS) ");
                let rows: Vec<(String,)> = read!(@on p.read, |conn| {
                    query_as_built!((String,), sql).fetch_all(conn).await?
                });
                rows.into_iter().map(|r| r.0).collect()
            }
        })
    }

    async fn list_sql(
        &self,
        merchant: MerchantId,
        q: &ListQuery,
        limit: u32,
        now: DateTime<Utc>,
    ) -> DbResult<Sql> {
        let now = to_millis(now);
        let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let search = match text {
            Some(text) => Some(self.search_plan(text).await?),
            None => None,
        };
        let mut sql = Sql::new(&format!("SELECT {LINK_COLUMNS} FROM links WHERE "));
        match &search {
            // The few matching rows are the place to start: the `+` keeps SQLite
            // from walking the merchant's index instead and testing every row.
            Some(Search::Trigram { query, .. }) => {
                sql.push("seq IN (SELECT rowid FROM links_search WHERE links_search MATCH ")
                    .text(query.clone())
                    .push(") AND +merchant_id = ");
            }
            _ => {
                sql.push("merchant_id = ");
            }
        }
        sql.int(merchant.0);
        match search {
            Some(Search::Like(pattern) | Search::Trigram { pattern, .. }) => {
                sql.push(" AND search_text LIKE ")
                    .text(pattern)
                    .push(" ESCAPE '\\'");
            }
            Some(Search::LikeThenContains { pattern, needle }) => {
                sql.push(" AND search_text LIKE ")
                    .text(pattern)
                    .push(" ESCAPE '\\'");
                self.push_contains(&mut sql, needle);
            }
            Some(Search::Contains(needle)) => self.push_contains(&mut sql, needle),
            None => {}
        }
        if !q.statuses.is_empty() {
            sql.push(" AND (");
            for (i, status) in q.statuses.iter().enumerate() {
                if i > 0 {
                    sql.push(" OR ");
                }
                // The status a reader sees: CREATED past its due date counts as EXPIRED.
                match status {
                    // `+due_date`: the page is ordered by the status index; the
                    // due-date index would make SQLite sort every open link.
                    Status::Created => sql
                        .push("(status = 'CREATED' AND +due_date > ")
                        .int(now)
                        .push(")"),
                    Status::Expired => sql
                        .push("status = 'EXPIRED' OR (status = 'CREATED' AND due_date <= ")
                        .int(now)
                        .push(")"),
                    other => sql.push("status = ").text(other.as_str()),
                };
            }
            sql.push(")");
        }
        let ranges = [
            ("created_at >= ", q.created_from.map(to_millis)),
            ("created_at <= ", q.created_to.map(to_millis)),
            ("due_date >= ", q.due_from.map(to_millis)),
            ("due_date <= ", q.due_to.map(to_millis)),
            ("amount_scaled >= ", q.amount_min_scaled),
            ("amount_scaled <= ", q.amount_max_scaled),
        ];
        for (condition, bound) in ranges {
            if let Some(v) = bound {
                sql.push(" AND ").push(condition).int(v);
            }
        }
        if let Some(c) = q.currency {
            sql.push(" AND currency = ").text(c.code());
        }
        let column = match q.sort {
            SortKey::Created => "created_at",
            SortKey::Due => "due_date",
            SortKey::Amount => "amount_scaled",
            SortKey::Status => "status",
        };
        let (cmp, cmp_or_eq, dir) = if q.ascending {
            (" > ", " >= ", " ASC")
        } else {
            (" < ", " <= ", " DESC")
        };
        if let Some(c) = &q.after {
            let bind_value = |sql: &mut Sql| {
                match &c.value {
                    SortValue::Int(v) => sql.int(*v),
                    SortValue::Text(v) => sql.text(v.clone()),
                };
            };
            // `column <= v` alone is what both planners turn into an index range,
            // so that a deep page starts where it starts instead of walking every
            // row before it; the OR then drops the cursor's own row and its ties.
            sql.push(" AND ").push(column).push(cmp_or_eq);
            bind_value(&mut sql);
            sql.push(" AND (").push(column).push(cmp);
            bind_value(&mut sql);
            sql.push(" OR id").push(cmp).text(c.id.clone()).push(")");
        }
        sql.push(" ORDER BY ")
            .push(column)
            .push(dir)
            .push(", id")
            .push(dir);
        sql.push(" LIMIT ").int(i64::from(limit));
        Ok(sql)
    }

    /// `AND search_text` contains `needle`, as a plain substring test.
    fn push_contains(&self, sql: &mut Sql, needle: String) {
        let function = match self {
            Db::Sqlite(_) => "instr",
            Db::Postgres(_) => "strpos",
        };
        sql.push(" AND ")
            .push(function)
            .push("(search_text, ")
            .text(needle)
            .push(") > 0");
    }

    /// How to find the links whose id, merchant transaction id, description,
    /// customer id or reference id contain `text`, case-insensitively, from an
    /// index on both backends; a final test over `search_text` makes every
    /// match exact.
    ///
    /// Both backends index trigrams (SQLite: FTS5's trigram table `links_search`;
    /// PostgreSQL: pg_trgm's GIN index on `search_text`), and both read the whole
    /// posting list of every trigram of the needle. Some trigrams are in nearly
    /// every link (those of a customer id prefix such as "cust-"): over a million
    /// links the phrase "cust-086387" takes 110 ms in SQLite, its part "086387"
    /// 8 ms. So the index is asked for the longest part of the needle whose
    /// trigrams are not common (in a sample of links), and the rows it gives are
    /// tested for the whole needle. When every trigram is common, so are the
    /// matches, and walking the page's own index meets a page of them sooner than
    /// reading and sorting every one.
    async fn search_plan(&self, text: &str) -> DbResult<Search> {
        let needle = text.to_lowercase();
        let chars: Vec<char> = needle.chars().collect();
        if chars.len() < 3 {
            return Ok(Search::Contains(needle));
        }
        let pattern = format!("%{}%", like_escape(&needle));
        let sample = self.trigram_sample().await?;
        // The longest run of consecutive uncommon trigrams: trigram i spans chars i..i+3.
        let (mut best, mut run_start) = (None::<(usize, usize)>, None);
        for i in 0..=chars.len() - 3 {
            let trigram: String = chars[i..i + 3].iter().collect();
            if sample.is_common(&trigram) {
                run_start = None;
                continue;
            }
            let start = *run_start.get_or_insert(i);
            if best.is_none_or(|(a, b)| i - start > b - a) {
                best = Some((start, i));
            }
        }
        let Some((first, last)) = best else {
            return Ok(Search::Like(pattern));
        };
        let part: String = chars[first..last + 3].iter().collect();
        Ok(match self {
            Db::Sqlite(_) => Search::Trigram {
                query: near_query(&chars, first, last),
                pattern,
            },
            Db::Postgres(_) if part.len() == needle.len() => Search::Like(pattern),
            Db::Postgres(_) => Search::LikeThenContains {
                pattern: format!("%{}%", like_escape(&part)),
                needle,
            },
        })
    }

    /// The trigram sample, taken again when it is older than `TrigramSample::MAX_AGE`.
    /// Shared, not copied: every text search reads it.
    async fn trigram_sample(&self) -> DbResult<std::sync::Arc<TrigramSample>> {
        let cache = &self.local().trigrams;
        if let Some(sample) = cache.read().expect("not poisoned").as_ref() {
            if sample.taken.elapsed() < TrigramSample::MAX_AGE {
                return Ok(std::sync::Arc::clone(sample));
            }
        }
        // Random rows by key: a thousand lookups, not a scan.
        let random_seqs = match self {
            Db::Sqlite(_) => {
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
                 SELECT abs(random()) % (SELECT coalesce(max(seq), 0) + 1 FROM links) FROM n"
            }
            Db::Postgres(_) => {
                "SELECT (random() * (SELECT coalesce(max(seq), 0) FROM links))::bigint + 1
                 FROM generate_series(1, $1)"
            }
        };
        let sql = format!("SELECT search_text FROM links WHERE seq IN ({random_seqs})");
        let texts: Vec<String> = read!(self, |pool| {
            sqlx::query_scalar(&sql)
                .bind(TrigramSample::SIZE)
                .fetch_all(pool)
                .await?
        });
        let sample = std::sync::Arc::new(TrigramSample::of(&texts));
        *cache.write().expect("not poisoned") = Some(std::sync::Arc::clone(&sample));
        Ok(sample)
    }
}

/// The FTS5 query for the part of a needle whose trigrams start at `first` to
/// `last`: its first and last trigram, at most as far apart as in the needle.
/// FTS5 reads the whole posting list of every trigram it is given, and the
/// phrase of all of them ("762155": four lists of 16,000 to 21,000 links each
/// over a million) cost 2.5 times what these two do; the LIKE that follows
/// tests every link they give for the whole needle anyway.
fn near_query(chars: &[char], first: usize, last: usize) -> String {
    let trigram = |i: usize| {
        let t: String = chars[i..i + 3].iter().collect();
        format!("\"{}\"", t.replace('"', "\"\""))
    };
    if first == last {
        trigram(first)
    } else {
        format!(
            "NEAR({} {}, {})",
            trigram(first),
            trigram(last),
            last - first - 1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::near_query;

    fn near(needle: &str, first: usize, last: usize) -> String {
        near_query(&needle.chars().collect::<Vec<_>>(), first, last)
    }

    #[test]
    fn the_fts_query_names_the_first_and_last_trigram() {
        assert_eq!(near("762155", 0, 3), r#"NEAR("762" "155", 2)"#);
        assert_eq!(near("0762155", 1, 4), r#"NEAR("762" "155", 2)"#);
        assert_eq!(near("abcd", 0, 1), r#"NEAR("abc" "bcd", 0)"#);
        assert_eq!(near("abc", 0, 0), r#""abc""#);
        assert_eq!(near(r#"a"bc"#, 0, 0), r#""a""b""#, "quotes are doubled");
        assert_eq!(near("ñandú", 0, 2), r#"NEAR("ñan" "ndú", 1)"#);
    }
}
