//! Backoffice sessions and sign-in failures.

use super::{read, to_millis, write_tx, Db, DbError, DbResult};

impl Db {
    pub async fn session_state(
        &self,
        key_hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<Option<String>> {
        let state = read!(self, |pool| {
            sqlx::query_scalar("SELECT state FROM sessions WHERE key_hash = $1 AND expires_at > $2")
                .bind(key_hash)
                .bind(to_millis(now))
                .fetch_optional(pool)
                .await?
        });
        Ok(state)
    }

    /// Inserts or replaces a session's state.
    pub async fn put_session(
        &self,
        key_hash: &str,
        user_id: Option<&str>,
        state: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO sessions (key_hash, user_id, state, expires_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key_hash) DO UPDATE SET user_id = excluded.user_id, state = excluded.state,
                     expires_at = excluded.expires_at",
            )
            .bind(key_hash)
            .bind(user_id)
            .bind(state)
            .bind(to_millis(expires_at))
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>(())
        })
    }

    /// Replaces the state of a live session; false when the session is gone.
    pub async fn update_session(
        &self,
        key_hash: &str,
        user_id: Option<&str>,
        state: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE sessions SET user_id = $2, state = $3, expires_at = $4 WHERE key_hash = $1",
            )
            .bind(key_hash)
            .bind(user_id)
            .bind(state)
            .bind(to_millis(expires_at))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            Ok::<_, DbError>(n == 1)
        })
    }

    pub async fn touch_session(
        &self,
        key_hash: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query("UPDATE sessions SET expires_at = $2 WHERE key_hash = $1")
                .bind(key_hash)
                .bind(to_millis(expires_at))
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(())
        })
    }

    pub async fn delete_session(&self, key_hash: &str) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query("DELETE FROM sessions WHERE key_hash = $1")
                .bind(key_hash)
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(())
        })
    }

    pub async fn prune_sessions(&self, now: chrono::DateTime<chrono::Utc>) -> DbResult<u64> {
        write_tx!(self, |tx| {
            let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM login_failures WHERE at <= $1")
                .bind(to_millis(now - chrono::Duration::days(1)))
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(r.rows_affected())
        })
    }

    pub async fn record_login_failure(
        &self,
        account: &str,
        address: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query("INSERT INTO login_failures (account, address, at) VALUES ($1, $2, $3)")
                .bind(account)
                .bind(address)
                .bind(to_millis(at))
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(())
        })
    }

    /// Failures since `since` for the account and for the address.
    pub async fn login_failures_since(
        &self,
        account: &str,
        address: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<(i64, i64)> {
        let since = to_millis(since);
        let counts = read!(self, |pool| {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT (SELECT COUNT(*) FROM login_failures WHERE account = $1 AND at > $3),
                        (SELECT COUNT(*) FROM login_failures WHERE address = $2 AND at > $3)",
            )
            .bind(account)
            .bind(address)
            .bind(since)
            .fetch_one(pool)
            .await?
        });
        Ok(counts)
    }
}
