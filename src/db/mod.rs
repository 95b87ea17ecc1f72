//! Storage. One `Db` value serves SQLite and PostgreSQL, picked from `DATABASE_URL`
//! at run time. Each use case is one method written once: the SQL text is shared
//! (SQLite accepts `$1` placeholders) and the `read!`/`write_tx!` macros compile the
//! same body against each backend's pool, so there is no per-backend copy of a rule
//! and no sqlx `Any` driver. Where the dialects differ (search, row locks) the method
//! says so next to the SQL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub mod auth;
mod bulk;
pub mod emails;
mod group_commit;
pub mod links;
pub mod merchants;
pub mod notifications;
pub mod payments;
pub mod query;
mod readers;
pub mod refunds;
pub mod sessions;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported DATABASE_URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A group commit's task ended without answering (it panicked).
    #[error("the transaction inserting the link ended without an answer")]
    Lost,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl DbError {
    /// True when an insert hit a UNIQUE or PRIMARY KEY constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// SQLite allows one writer at a time. All writes go through a pool of exactly one
/// connection and begin with `BEGIN IMMEDIATE`, so concurrent requests queue in
/// the pool instead of failing with SQLITE_BUSY; reads use eight connections of
/// their own (`readers`) and, thanks to WAL, never wait for the writer.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    read: std::sync::Arc<readers::Readers<sqlx::SqliteConnection>>,
    pub(crate) write: SqlitePool,
    local: std::sync::Arc<ProcessState>,
}

#[derive(Clone, Debug)]
pub struct PgDb {
    read: std::sync::Arc<readers::Readers<sqlx::PgConnection>>,
    pub(crate) pool: PgPool,
    local: std::sync::Arc<ProcessState>,
}

/// What this process keeps beside the database, the same for both backends and
/// shared by every clone of a `Db`: the dispatchers' wake-up signals, the queue
/// of links waiting for their group commit, and the caches.
#[derive(Debug)]
struct ProcessState {
    outbox: OutboxSignal,
    /// The email outbox's own signal: the email dispatcher is not woken by
    /// notification events, nor the notification dispatcher by emails.
    mail: OutboxSignal,
    /// How common each trigram is, from a sample of links (see `Db::search_plan`).
    trigrams: std::sync::RwLock<Option<std::sync::Arc<links::TrigramSample>>>,
    links: group_commit::LinkQueue,
    tokens: auth::TokenCache,
}

impl ProcessState {
    fn new() -> std::sync::Arc<ProcessState> {
        std::sync::Arc::new(ProcessState {
            outbox: OutboxSignal::new(),
            mail: OutboxSignal::new(),
            trigrams: Default::default(),
            links: Default::default(),
            tokens: Default::default(),
        })
    }
}

/// Tells this process's notification dispatcher that outbox events were
/// committed (or its email dispatcher that emails were), so that it sends them
/// at once instead of at its next poll. A counter in a watch channel: a signal
/// sent while the dispatcher is busy is seen when it next waits, never lost.
/// Other instances find the rows by polling.
#[derive(Clone, Debug)]
pub struct OutboxSignal(std::sync::Arc<tokio::sync::watch::Sender<u64>>);

impl OutboxSignal {
    fn new() -> OutboxSignal {
        OutboxSignal(std::sync::Arc::new(tokio::sync::watch::channel(0).0))
    }
}

/// Runs `$body` with `$pool` bound to a read connection of the backend (see
/// `readers`); the body is compiled once per backend.
macro_rules! read {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(s) => $crate::db::read!(@on s.read, |$pool| $body),
            $crate::db::Db::Postgres(p) => $crate::db::read!(@on p.read, |$pool| $body),
        }
    };
    (@on $readers:expr, |$pool:ident| $body:expr) => {{
        let mut reader = $readers.acquire().await?;
        let out = {
            let $pool = reader.conn();
            $body
        };
        // Not reached when `$body` returned early with an error: the connection
        // is then closed, not reused (see `readers`).
        reader.finished();
        out
    }};
}

/// Runs `$body` (an expression of type `DbResult<T>`) inside a write transaction
/// bound to `$tx`; commits on `Ok`, rolls back on `Err` (dropping the transaction).
macro_rules! write_tx {
    ($db:expr, |$tx:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(s) => {
                let mut $tx = s.write.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
            $crate::db::Db::Postgres(p) => {
                let mut $tx = p.pool.begin().await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
        }
    };
}

pub(crate) use {read, write_tx};

impl Db {
    pub async fn connect(url: &str) -> DbResult<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "memory");
            // No test query before each use (sqlx's default): it doubled the round
            // trips of every statement, and a broken connection fails its own
            // statement anyway.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await?;
            let read = std::sync::Arc::new(readers::Readers::open(options, 8).await?);
            Ok(Db::Sqlite(SqliteDb {
                read,
                write,
                local: ProcessState::new(),
            }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // Sixteen connections per instance, as before reads had their own:
            // eight for reads, eight for transactions.
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await?;
            let read = std::sync::Arc::new(readers::Readers::open(options, 8).await?);
            Ok(Db::Postgres(PgDb {
                read,
                pool,
                local: ProcessState::new(),
            }))
        } else {
            Err(DbError::UnsupportedUrl(url.to_string()))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Applies the migrations embedded in the binary for this backend.
    pub async fn migrate(&self) -> DbResult<()> {
        match self {
            Db::Sqlite(s) => sqlx::migrate!("./migrations/sqlite").run(&s.write).await?,
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(&p.pool).await?,
        }
        Ok(())
    }

    fn local(&self) -> &ProcessState {
        match self {
            Db::Sqlite(s) => &s.local,
            Db::Postgres(p) => &p.local,
        }
    }

    /// Called after a transaction that wrote outbox events has committed.
    pub(crate) fn outbox_committed(&self) {
        self.local()
            .outbox
            .0
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes each time outbox events are committed through this `Db`.
    pub fn outbox_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.local().outbox.0.subscribe()
    }

    /// Called after a transaction that queued emails has committed.
    pub(crate) fn emails_committed(&self) {
        self.local().mail.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes each time emails are queued through this `Db`.
    pub fn mail_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.local().mail.0.subscribe()
    }

    /// A round trip to the database, for `/healthz`.
    pub async fn ping(&self) -> DbResult<()> {
        read!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(s) => {
                s.read.close();
                s.write.close().await;
            }
            Db::Postgres(p) => {
                p.read.close();
                p.pool.close().await;
            }
        }
    }

    pub async fn setting(&self, key: &str) -> DbResult<Option<String>> {
        let value = read!(self, |pool| {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(value)
    }

    /// Stores `value` under `key` unless a value is there already; returns the value
    /// that is kept, so two instances starting at once agree on one.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> DbResult<String> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            let kept: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
            Ok::<_, DbError>(kept)
        })
    }

    pub async fn put_setting(&self, key: &str, value: &str) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>(())
        })
    }
}

/// Milliseconds since the Unix epoch, the stored form of every time.
pub fn to_millis(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
