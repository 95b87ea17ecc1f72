//! The per-link options of CONTRACT section 11 that are records or lists: taxes,
//! additional fields and accepted card brands. They are stored as JSON text and
//! only ever read and written whole.

use serde::{Deserialize, Serialize};

use crate::payments::Brand;

/// The kinds of tax a link can list (PlacetoPay's names).
pub const TAX_KINDS: [&str; 7] = [
    "valueAddedTax",
    "exciseDuty",
    "municipalTax",
    "stateTax",
    "airportTax",
    "salesTax",
    "other",
];

/// Card brands a link can restrict payment to.
pub const PAYMENT_METHODS: [Brand; 3] = [Brand::Visa, Brand::Mastercard, Brand::Amex];

pub const MAX_TAXES: usize = 10;
pub const MAX_ADDITIONAL: usize = 20;
pub const MAX_RECEIVER_EMAILS: usize = 10;
pub const MAX_PAYMENTS_ALLOWED: i64 = 10_000;
pub const MAX_EXPIRATION_MINUTES: i64 = 525_600;

/// A tax included in the link's amount, in the link's currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tax {
    pub kind: String,
    pub amount_minor: i64,
    /// The amount the tax was computed on, when given.
    pub base_minor: Option<i64>,
}

/// Where the shopper sees an additional field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DisplayOn {
    None,
    Payment,
    Receipt,
    Both,
}

impl DisplayOn {
    pub const ALL: [DisplayOn; 4] = [
        DisplayOn::None,
        DisplayOn::Payment,
        DisplayOn::Receipt,
        DisplayOn::Both,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisplayOn::None => "none",
            DisplayOn::Payment => "payment",
            DisplayOn::Receipt => "receipt",
            DisplayOn::Both => "both",
        }
    }

    pub fn parse(s: &str) -> Option<DisplayOn> {
        DisplayOn::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn on_payment_page(self) -> bool {
        matches!(self, DisplayOn::Payment | DisplayOn::Both)
    }

    pub fn on_receipt(self) -> bool {
        matches!(self, DisplayOn::Receipt | DisplayOn::Both)
    }
}

/// A merchant's own field carried by the link (seed 002's NameValuePair).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Additional {
    pub keyword: String,
    pub value: String,
    pub display_on: DisplayOn,
}

/// Whether a card of `brand` may pay a link that accepts `allowed` (empty: any).
pub fn brand_accepted(allowed: &[Brand], brand: Brand) -> bool {
    allowed.is_empty() || allowed.contains(&brand)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_accepts_every_brand() {
        assert!(brand_accepted(&[], Brand::Discover));
        assert!(brand_accepted(&[Brand::Visa], Brand::Visa));
        assert!(!brand_accepted(&[Brand::Visa], Brand::Amex));
    }

    #[test]
    fn display_on_places() {
        assert!(DisplayOn::Both.on_payment_page() && DisplayOn::Both.on_receipt());
        assert!(!DisplayOn::None.on_payment_page() && !DisplayOn::None.on_receipt());
        assert_eq!(DisplayOn::parse("receipt"), Some(DisplayOn::Receipt));
        assert_eq!(DisplayOn::parse("always"), None);
    }
}
