//! Merchants, products and their settings.

use super::{read, to_millis, write_tx, Db, DbError, DbResult};
use crate::merchants::{product_id_for, Merchant, MerchantId, Product};

#[derive(sqlx::FromRow)]
struct MerchantRow {
    id: i64,
    name: String,
    notification_uri: Option<String>,
    webhook_secret: String,
}

impl From<MerchantRow> for Merchant {
    fn from(r: MerchantRow) -> Self {
        Merchant {
            id: MerchantId(r.id),
            name: r.name,
            notification_uri: r.notification_uri,
            webhook_secret: r.webhook_secret,
        }
    }
}

impl Db {
    /// Creates a merchant and its first product in one transaction.
    pub async fn create_merchant(
        &self,
        name: &str,
        webhook_secret: &str,
        product_name: &str,
    ) -> DbResult<(Merchant, Product)> {
        let now = to_millis(chrono::Utc::now());
        write_tx!(self, |tx| {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO merchants (name, webhook_secret, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(name)
            .bind(webhook_secret)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let merchant = MerchantId(id);
            let product = product_id_for(merchant, 1);
            sqlx::query(
                "INSERT INTO products (id, merchant_id, name, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(product.0)
            .bind(id)
            .bind(product_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            Ok::<_, DbError>((
                Merchant {
                    id: merchant,
                    name: name.to_string(),
                    notification_uri: None,
                    webhook_secret: webhook_secret.to_string(),
                },
                Product {
                    id: product,
                    merchant_id: merchant,
                    name: product_name.to_string(),
                },
            ))
        })
    }

    pub async fn merchant(&self, id: MerchantId) -> DbResult<Option<Merchant>> {
        let row = read!(self, |pool| {
            sqlx::query_as::<_, MerchantRow>(
                "SELECT id, name, notification_uri, webhook_secret FROM merchants WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(Merchant::from))
    }

    pub async fn products(&self, merchant: MerchantId) -> DbResult<Vec<Product>> {
        let rows: Vec<(i64, String)> = read!(self, |pool| {
            sqlx::query_as("SELECT id, name FROM products WHERE merchant_id = $1 ORDER BY id")
                .bind(merchant.0)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name)| Product {
                id: crate::merchants::ProductId(id),
                merchant_id: merchant,
                name,
            })
            .collect())
    }

    pub async fn set_notification_uri(
        &self,
        merchant: MerchantId,
        uri: Option<&str>,
    ) -> DbResult<()> {
        write_tx!(self, |tx| {
            sqlx::query("UPDATE merchants SET notification_uri = $2 WHERE id = $1")
                .bind(merchant.0)
                .bind(uri)
                .execute(&mut *tx)
                .await?;
            Ok::<_, DbError>(())
        })
    }
}
