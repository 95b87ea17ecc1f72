//! Bulk loading of links with their payments (`paybylink seed`): many rows per
//! statement and many statements per transaction, because one INSERT per row
//! would spend its time in round trips, not in the database.

use super::query::{query_built, Sql};
use super::{to_millis, write_tx, Db, DbError, DbResult};
use crate::links::Link;

/// Rows per INSERT: 20 binds each stays under SQLite's 32,766 and PostgreSQL's
/// 65,535 placeholders per statement.
const ROWS_PER_STATEMENT: usize = 500;

impl Db {
    /// Inserts `links` and their `payments` in one transaction. The rows go in as
    /// given: no outbox event, no email, no idempotency key; they describe the past.
    pub async fn insert_links_bulk(&self, links: &[Link]) -> DbResult<()> {
        let sqlite = matches!(self, Db::Sqlite(_));
        let link_statements: Vec<Sql> = links
            .chunks(ROWS_PER_STATEMENT)
            .map(|c| links_insert(sqlite, c))
            .collect();
        let payments: Vec<(&Link, &crate::links::Payment)> = links
            .iter()
            .flat_map(|l| l.payments.iter().map(move |p| (l, p)))
            .collect();
        let payment_statements: Vec<Sql> = payments
            .chunks(ROWS_PER_STATEMENT)
            .map(|c| payments_insert(sqlite, c))
            .collect();
        write_tx!(self, |tx| {
            if sqlite {
                // The unique indexes on random ids take inserts all over; a page
                // cache that holds them (256 MB, this connection only) keeps a
                // million-row load from waiting on the disk.
                sqlx::query("PRAGMA cache_size = -262144")
                    .execute(&mut *tx)
                    .await?;
            }
            for sql in link_statements.iter().chain(&payment_statements) {
                query_built!(sql).execute(&mut *tx).await?;
            }
            Ok::<_, DbError>(())
        })
    }
}

/// A statement for SQLite or PostgreSQL (placeholders differ; see `Sql::new_anonymous`).
fn statement(sqlite: bool, text: &str) -> Sql {
    if sqlite {
        Sql::new_anonymous(text)
    } else {
        Sql::new(text)
    }
}

impl Db {
    /// Leaves the database after a bulk load as steady use would have left it.
    ///
    /// - SQLite: FTS5 writes the rows of each transaction to the search index as a
    ///   new segment and merges segments a little at every later commit. A bulk
    ///   load leaves large unmerged segments behind, and the creates that came
    ///   next paid for merging them: 940 to 1,400 creates/s on a freshly seeded
    ///   million links, 2,500 to 3,200 once merged (same binary, wrk -c64). So
    ///   the load ends by merging them all ('optimize', 8 s on a million links).
    /// - PostgreSQL plans from statistics, and until autovacuum comes round it
    ///   would plan a million new rows as an empty table; ANALYZE now. (SQLite
    ///   keeps no statistics unless asked, and plans from its rules.)
    pub async fn settle_after_bulk_load(&self) -> DbResult<()> {
        match self {
            Db::Sqlite(_) => write_tx!(self, |tx| {
                sqlx::query("INSERT INTO links_search (links_search) VALUES ('optimize')")
                    .execute(&mut *tx)
                    .await?;
                Ok::<_, DbError>(())
            }),
            Db::Postgres(p) => {
                sqlx::query("ANALYZE links, payments")
                    .execute(&p.pool)
                    .await?;
                Ok(())
            }
        }
    }
}

fn links_insert(sqlite: bool, links: &[Link]) -> Sql {
    let mut sql = statement(
        sqlite,
        "INSERT INTO links (id, merchant_id, product_id, url_code, status, amount_minor, currency,
            country, merchant_transaction_id, description, customer_id, due_date, language,
            reference_id, created_at, updated_at, paid_at, amount_scaled, payments_approved,
            customer_email) VALUES ",
    );
    for (i, l) in links.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.text(l.id.clone())
            .push(", ")
            .int(l.merchant_id.0)
            .push(", ")
            .int(l.product_id.0)
            .push(", ")
            .text(l.url_code.clone())
            .push(", ")
            .text(l.stored_status.as_str())
            .push(", ")
            .int(l.amount_minor)
            .push(", ")
            .text(l.currency.code())
            .push(", ")
            .text(l.country.clone())
            .push(", ")
            .text(l.merchant_transaction_id.clone())
            .push(", ")
            .opt_text(l.description.clone())
            .push(", ")
            .text(l.customer_id.clone())
            .push(", ")
            .int(to_millis(l.due_date))
            .push(", ")
            .text(l.language.as_str())
            .push(", ")
            .opt_text(l.reference_id.clone())
            .push(", ")
            .int(to_millis(l.created_at))
            .push(", ")
            .int(to_millis(l.updated_at))
            .push(", ")
            .opt_int(l.paid_at.map(to_millis))
            .push(", ")
            .int(crate::money::to_scaled(l.amount_minor, l.currency))
            .push(", ")
            .int(l.payments_approved)
            .push(", ")
            .opt_text(l.customer_email.clone())
            .push(")");
    }
    sql
}

fn payments_insert(sqlite: bool, payments: &[(&Link, &crate::links::Payment)]) -> Sql {
    let mut sql = statement(
        sqlite,
        "INSERT INTO payments (id, link_id, merchant_id, status, amount_minor, brand, last4,
            created_at, updated_at, captured_at) VALUES ",
    );
    for (i, (link, p)) in payments.iter().enumerate() {
        let at = to_millis(p.created_at);
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.text(p.id.clone())
            .push(", ")
            .text(link.id.clone())
            .push(", ")
            .int(link.merchant_id.0)
            .push(", ")
            .text(p.status.clone())
            .push(", ")
            .int(p.amount_minor)
            .push(", ")
            .opt_text(p.brand.clone())
            .push(", ")
            .opt_text(p.last4.clone())
            .push(", ")
            .int(at)
            .push(", ")
            .int(at)
            .push(", ")
            .opt_int((p.status == "APPROVED").then_some(at))
            .push(")");
    }
    sql
}
