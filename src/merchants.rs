//! Merchants and their products. A merchant is the tenant: every other record
//! belongs to exactly one, and every read and write names it.

use serde::Serialize;

use crate::db::{Db, DbError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct MerchantId(pub i64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ProductId(pub i64);

impl std::fmt::Display for MerchantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for ProductId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Debug)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    pub notification_uri: Option<String>,
    pub webhook_secret: String,
}

#[derive(Clone, Debug)]
pub struct Product {
    pub id: ProductId,
    pub merchant_id: MerchantId,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("merchant name must be 1 to 100 characters")]
    InvalidName,
    #[error("merchant {0} does not exist")]
    UnknownMerchant(i64),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Product ids read like the seed's: the merchant id followed by a four-digit
/// counter (merchant 10450 → product 104500001).
pub fn product_id_for(merchant: MerchantId, n: i64) -> ProductId {
    ProductId(merchant.0 * 10_000 + n)
}

/// A fresh notification signing secret in the Standard Webhooks format.
pub fn new_webhook_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 24];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Creates a merchant with its default product and a fresh webhook signing secret.
pub async fn create(db: &Db, name: &str) -> Result<(Merchant, Product), MerchantError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(MerchantError::InvalidName);
    }
    Ok(db
        .create_merchant(name, &new_webhook_secret(), "Default")
        .await?)
}

pub async fn get(db: &Db, id: MerchantId) -> Result<Merchant, MerchantError> {
    db.merchant(id)
        .await?
        .ok_or(MerchantError::UnknownMerchant(id.0))
}
