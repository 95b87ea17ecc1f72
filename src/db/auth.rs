//! Users, API clients and access tokens. Secrets are stored only as hashes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{from_millis, read, to_millis, write_tx, Db, DbError, DbResult};
use crate::merchants::MerchantId;

/// Access tokens this process found live a moment ago, so that an API request
/// does not spend a database round trip on its token (a quarter of the time of
/// a GET of one link). A revocation made through this process removes its
/// client's tokens at once. One made elsewhere (another instance on the same
/// PostgreSQL database) is seen by the next lookup after `TOKEN_CHECK_EVERY`.
/// Only live tokens are kept: a wrong token always asks the database.
#[derive(Debug, Default)]
pub(crate) struct TokenCache(Mutex<KnownTokens>);

#[derive(Debug, Default)]
struct KnownTokens {
    by_hash: HashMap<String, KnownToken>,
    /// Counts revocations, so that a lookup that read the database before one
    /// does not put back a token that the revocation has just removed.
    revocations: u64,
}

#[derive(Debug)]
struct KnownToken {
    merchant: MerchantId,
    client: String,
    expires_at: DateTime<Utc>,
    checked: Instant,
}

/// How long a token found live is believed live without asking the database.
const TOKEN_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Entries kept at most; beyond it the cache starts again empty, which costs a
/// query per live token and bounds memory whatever the number of tokens.
const TOKEN_CACHE_SIZE: usize = 10_000;

impl TokenCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, KnownTokens> {
        // Only held for a lookup or an insert; a panic there leaves a valid map.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A user to insert; the password is already hashed.
#[derive(Clone, Copy)]
pub struct NewUserRow<'a> {
    pub id: &'a str,
    pub merchant: MerchantId,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub time_zone: &'a str,
}

macro_rules! insert_user {
    ($tx:expr, $u:expr) => {
        sqlx::query(
            "INSERT INTO users (id, merchant_id, email, password_hash, role, active, created_at, time_zone)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7)",
        )
        .bind($u.id)
        .bind($u.merchant.0)
        .bind($u.email)
        .bind($u.password_hash)
        .bind($u.role)
        .bind(to_millis(chrono::Utc::now()))
        .bind($u.time_zone)
        .execute(&mut *$tx)
        .await
    };
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub merchant_id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub active: i64,
    pub time_zone: String,
}

const USER_COLUMNS: &str = "id, merchant_id, email, password_hash, role, active, time_zone";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl Db {
    pub async fn insert_user(&self, user: &NewUserRow<'_>) -> DbResult<()> {
        write_tx!(self, |tx| {
            insert_user!(tx, user)?;
            Ok::<_, DbError>(())
        })
    }

    /// The first run: if `token_hash` is still the setup token, creates the merchant,
    /// its product and the admin, and retires the token, all in one transaction.
    /// Returns `None` when the token is wrong or already used.
    pub async fn complete_setup(
        &self,
        token_hash: &str,
        merchant_name: &str,
        webhook_secret: &str,
        user: &NewUserRow<'_>,
    ) -> DbResult<Option<MerchantId>> {
        let now = to_millis(chrono::Utc::now());
        write_tx!(self, |tx| {
            let retired =
                sqlx::query("DELETE FROM settings WHERE key = 'setup_token_hash' AND value = $1")
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *tx)
                .await?;
            if retired != 1 || users > 0 {
                return Ok(None);
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO merchants (name, webhook_secret, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(merchant_name)
            .bind(webhook_secret)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let merchant = MerchantId(id);
            sqlx::query(
                "INSERT INTO products (id, merchant_id, name, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(crate::merchants::product_id_for(merchant, 1).0)
            .bind(id)
            .bind("Default")
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let user = NewUserRow { merchant, ..*user };
            insert_user!(tx, user)?;
            Ok::<_, DbError>(Some(merchant))
        })
    }

    pub async fn users_of(&self, merchant: MerchantId) -> DbResult<Vec<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE merchant_id = $1 ORDER BY email");
        let rows = read!(self, |pool| {
            sqlx::query_as::<_, UserRow>(&sql)
                .bind(merchant.0)
                .fetch_all(pool)
                .await?
        });
        Ok(rows)
    }

    pub async fn user_by_id(&self, id: &str) -> DbResult<Option<UserRow>> {
        self.user_where("id", id).await
    }

    /// The user whose `column` (a unique one: `id` or `email`) equals `value`.
    async fn user_where(&self, column: &'static str, value: &str) -> DbResult<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
        let row = read!(self, |pool| {
            sqlx::query_as::<_, UserRow>(&sql)
                .bind(value)
                .fetch_optional(pool)
                .await?
        });
        Ok(row)
    }

    /// Deactivates a user of `merchant` and ends all of that user's sessions.
    pub async fn deactivate_user(&self, merchant: MerchantId, id: &str) -> DbResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query("UPDATE users SET active = 0 WHERE id = $1 AND merchant_id = $2")
                .bind(id)
                .bind(merchant.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, DbError>(n == 1)
        })
    }

    /// Sets a new password hash for a user of `merchant` and ends the user's sessions.
    pub async fn set_password(
        &self,
        merchant: MerchantId,
        id: &str,
        password_hash: &str,
    ) -> DbResult<bool> {
        write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE users SET password_hash = $3 WHERE id = $1 AND merchant_id = $2",
            )
            .bind(id)
            .bind(merchant.0)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok::<_, DbError>(n == 1)
        })
    }

    pub async fn api_clients_of(&self, merchant: MerchantId) -> DbResult<Vec<ClientRow>> {
        let rows = read!(self, |pool| {
            sqlx::query_as::<_, ClientRow>(
                "SELECT id, name, created_at, revoked_at FROM api_clients WHERE merchant_id = $1
                 ORDER BY created_at DESC, id",
            )
            .bind(merchant.0)
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    pub async fn user_count(&self) -> DbResult<i64> {
        let n = read!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    pub async fn user_by_email(&self, email: &str) -> DbResult<Option<UserRow>> {
        self.user_where("email", email).await
    }

    pub async fn insert_api_client(
        &self,
        id: &str,
        merchant: MerchantId,
        name: &str,
        secret_hash: &str,
    ) -> DbResult<()> {
        let now = to_millis(chrono::Utc::now());
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO api_clients (id, merchant_id, name, secret_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(merchant.0)
            .bind(name)
            .bind(secret_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>(())
        })
    }

    /// The merchant and secret hash of an active (not revoked) client.
    pub async fn active_api_client(&self, id: &str) -> DbResult<Option<(MerchantId, String)>> {
        let row: Option<(i64, String)> = read!(self, |pool| {
            sqlx::query_as(
                "SELECT merchant_id, secret_hash FROM api_clients WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(m, h)| (MerchantId(m), h)))
    }

    pub async fn revoke_api_client(&self, merchant: MerchantId, id: &str) -> DbResult<bool> {
        let now = to_millis(chrono::Utc::now());
        let revoked = write_tx!(self, |tx| {
            let n = sqlx::query(
                "UPDATE api_clients SET revoked_at = $3 WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(merchant.0)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM access_tokens WHERE client_id = $1 AND merchant_id = $2")
                .bind(id)
                .bind(merchant.0)
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(n == 1)
        })?;
        // After the commit, so that a lookup from now on finds the client revoked;
        // one that read the database before sees the count change and keeps
        // nothing.
        let mut known = self.local().tokens.entries();
        known.revocations += 1;
        known
            .by_hash
            .retain(|_, t| t.client != id || t.merchant != merchant);
        Ok(revoked)
    }

    pub async fn insert_access_token(
        &self,
        token_hash: &str,
        client_id: &str,
        merchant: MerchantId,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO access_tokens (token_hash, client_id, merchant_id, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(client_id)
            .bind(merchant.0)
            .bind(to_millis(expires_at))
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>(())
        })
    }

    /// The merchant and client of a live token whose client is not revoked
    /// (from `TokenCache` when it was checked a moment ago).
    pub async fn token_owner(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> DbResult<Option<(MerchantId, String)>> {
        let cache = &self.local().tokens;
        let revocations = {
            let known = cache.entries();
            match known.by_hash.get(token_hash) {
                Some(t) if t.checked.elapsed() < TOKEN_CHECK_EVERY && t.expires_at > now => {
                    return Ok(Some((t.merchant, t.client.clone())));
                }
                _ => known.revocations,
            }
        };
        let row: Option<(i64, String, i64)> = read!(self, |pool| {
            sqlx::query_as(
                "SELECT t.merchant_id, t.client_id, t.expires_at FROM access_tokens t
                 JOIN api_clients c ON c.id = t.client_id AND c.revoked_at IS NULL
                 WHERE t.token_hash = $1 AND t.expires_at > $2",
            )
            .bind(token_hash)
            .bind(to_millis(now))
            .fetch_optional(pool)
            .await?
        });
        let mut known = cache.entries();
        let Some((merchant, client, expires_at)) = row else {
            known.by_hash.remove(token_hash);
            return Ok(None);
        };
        if known.revocations == revocations {
            if known.by_hash.len() >= TOKEN_CACHE_SIZE {
                known.by_hash.clear();
            }
            known.by_hash.insert(
                token_hash.to_string(),
                KnownToken {
                    merchant: MerchantId(merchant),
                    client: client.clone(),
                    expires_at: from_millis(expires_at),
                    checked: Instant::now(),
                },
            );
        }
        Ok(Some((MerchantId(merchant), client)))
    }

    pub async fn prune_access_tokens(&self, now: chrono::DateTime<chrono::Utc>) -> DbResult<u64> {
        write_tx!(self, |tx| {
            let r = sqlx::query("DELETE FROM access_tokens WHERE expires_at <= $1")
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(r.rows_affected())
        })
    }
}
