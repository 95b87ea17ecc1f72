//! Users, API clients and access tokens. Secrets are stored only as hashes.

use super::{read, to_millis, write_tx, Db, DbError, DbResult};
use crate::merchants::MerchantId;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    pub merchant_id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub active: i64,
}

impl Db {
    pub async fn insert_user(
        &self,
        id: &str,
        merchant: MerchantId,
        email: &str,
        password_hash: &str,
        role: &str,
    ) -> DbResult<()> {
        let now = to_millis(chrono::Utc::now());
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO users (id, merchant_id, email, password_hash, role, active, created_at)
                 VALUES ($1, $2, $3, $4, $5, 1, $6)",
            )
            .bind(id)
            .bind(merchant.0)
            .bind(email)
            .bind(password_hash)
            .bind(role)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>(())
        })
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
        let row = read!(self, |pool| {
            sqlx::query_as::<_, UserRow>(
                "SELECT id, merchant_id, email, password_hash, role, active FROM users WHERE email = $1",
            )
            .bind(email)
            .fetch_optional(pool)
            .await?
        });
        Ok(row)
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
        write_tx!(self, |tx| {
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
        })
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

    /// The merchant and client of a live token whose client is not revoked.
    pub async fn token_owner(
        &self,
        token_hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> DbResult<Option<(MerchantId, String)>> {
        let row: Option<(i64, String)> = read!(self, |pool| {
            sqlx::query_as(
                "SELECT t.merchant_id, t.client_id FROM access_tokens t
                 JOIN api_clients c ON c.id = t.client_id AND c.revoked_at IS NULL
                 WHERE t.token_hash = $1 AND t.expires_at > $2",
            )
            .bind(token_hash)
            .bind(to_millis(now))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(m, c)| (MerchantId(m), c)))
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
