//! The read connections, pooled here rather than by `sqlx::Pool`.
//!
//! sqlx's pool tests every connection as it comes back (`ping`: on SQLite a round
//! trip to the connection's worker thread, on PostgreSQL one to the server) and
//! returns it from a task of its own, so every read cost two round trips instead
//! of one; with statements of a few microseconds, the second was a large part of
//! the cost of a read. Here a connection goes back to the idle list on the spot, when the
//! statements run with it have finished. One that did not finish (an error, or
//! the request dropped mid-read) is closed rather than trusted, which is what
//! the ping was for.

use std::sync::Mutex;

use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::DbResult;

/// How long a read waits for a free connection before failing.
const WAIT_FOR_CONNECTION: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug)]
pub(super) struct Readers<C: Connection> {
    options: C::Options,
    idle: Mutex<Vec<C>>,
    /// One permit per connection that may be open at once.
    permits: Semaphore,
}

impl<C: Connection> Readers<C> {
    /// Opens one connection at once, so that a bad URL fails at start; the
    /// others open when they are first needed.
    pub(super) async fn open(options: C::Options, size: usize) -> DbResult<Readers<C>> {
        let first = options.connect().await?;
        Ok(Readers {
            options,
            idle: Mutex::new(vec![first]),
            permits: Semaphore::new(size),
        })
    }

    pub(super) async fn acquire(&self) -> DbResult<Reader<'_, C>> {
        // As long as sqlx's pool waited for a connection before giving up.
        let permit = tokio::time::timeout(WAIT_FOR_CONNECTION, self.permits.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .expect("the readers' semaphore is never closed");
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.options.connect().await?,
        };
        Ok(Reader {
            conn: Some(conn),
            finished: false,
            readers: self,
            _permit: permit,
        })
    }

    /// Closes the idle connections (at shutdown).
    pub(super) fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A connection lent by `Readers`; see the module comment for when it goes back.
pub(super) struct Reader<'a, C: Connection> {
    conn: Option<C>,
    finished: bool,
    readers: &'a Readers<C>,
    _permit: SemaphorePermit<'a>,
}

impl<C: Connection> Reader<'_, C> {
    pub(super) fn conn(&mut self) -> &mut C {
        self.conn.as_mut().expect("present until dropped")
    }

    /// The statements run with this connection have all finished.
    pub(super) fn finished(&mut self) {
        self.finished = true;
    }
}

impl<C: Connection> Drop for Reader<'_, C> {
    fn drop(&mut self) {
        if let (true, Some(conn)) = (self.finished, self.conn.take()) {
            self.readers
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        // Otherwise the connection drops here: SQLite's worker thread closes it,
        // PostgreSQL's socket is closed.
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use futures_util::FutureExt;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

    use super::*;

    async fn readers(size: usize) -> (tempfile::TempDir, Readers<SqliteConnection>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let readers = Readers::open(options, size).await.unwrap();
        (dir, readers)
    }

    fn idle(r: &Readers<SqliteConnection>) -> usize {
        r.idle.lock().unwrap().len()
    }

    #[tokio::test]
    async fn a_finished_connection_is_reused_and_an_unfinished_one_closed() {
        let (_dir, readers) = readers(2).await;
        assert_eq!(idle(&readers), 1, "one connection opened at start");

        let mut reader = readers.acquire().await.unwrap();
        let one: i64 = sqlx::query_scalar("SELECT 1")
            .fetch_one(reader.conn())
            .await
            .unwrap();
        assert_eq!(one, 1);
        reader.finished();
        drop(reader);
        assert_eq!(idle(&readers), 1, "back in the idle list");

        // A read that fails (as `read!` leaves it: never marked finished).
        let mut reader = readers.acquire().await.unwrap();
        assert!(sqlx::query("SELECT * FROM no_such_table")
            .execute(reader.conn())
            .await
            .is_err());
        drop(reader);
        assert_eq!(idle(&readers), 0, "closed, not reused");

        // The next read opens a new connection.
        let mut reader = readers.acquire().await.unwrap();
        sqlx::query("SELECT 1")
            .execute(reader.conn())
            .await
            .unwrap();
        reader.finished();
        drop(reader);
        assert_eq!(idle(&readers), 1);
    }

    #[tokio::test]
    async fn no_more_connections_than_the_size_are_lent_at_once() {
        let (_dir, readers) = readers(1).await;
        let mut first = readers.acquire().await.unwrap();
        first.finished();
        assert!(
            readers.acquire().now_or_never().is_none(),
            "the second waits while the only connection is lent"
        );
        drop(first);
        let second = readers.acquire().now_or_never();
        assert!(matches!(second, Some(Ok(_))), "free once the first is back");
    }
}
