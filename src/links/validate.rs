//! The one validator of link fields, used by the REST API and the backoffice forms
//! alike. Input arrives as text (a form field, or a JSON value turned into text by
//! the API layer); every rule of CONTRACT section 3 is checked and every failure is
//! reported at once, keyed by the field's JSON name.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;
use serde::Deserialize;

use super::Language;
use crate::merchants::{MerchantId, ProductId};
use crate::money::{self, AmountError, Currency};

/// Raw link fields as a user typed or sent them. Form fields deserialize straight
/// into it; the API converts its JSON into it (recording type errors on the way).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LinkInput {
    pub id: Option<String>,
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub country: Option<String>,
    pub merchant_id: Option<String>,
    pub product_id: Option<String>,
    pub merchant_transaction_id: Option<String>,
    pub description: Option<String>,
    pub customer_id: Option<String>,
    pub due_date: Option<String>,
    pub language: Option<String>,
    pub merchant_params: Option<String>,
    pub reference_id: Option<String>,
    pub code: Option<String>,
    /// Errors found before validation, such as a JSON string where a number belongs.
    #[serde(skip)]
    pub type_errors: Vec<FieldError>,
}

impl LinkInput {
    /// Treats empty and blank fields as absent: what an empty form field means.
    pub fn without_blanks(mut self) -> Self {
        for f in [
            &mut self.id,
            &mut self.amount,
            &mut self.currency,
            &mut self.country,
            &mut self.merchant_id,
            &mut self.product_id,
            &mut self.merchant_transaction_id,
            &mut self.description,
            &mut self.customer_id,
            &mut self.due_date,
            &mut self.language,
            &mut self.merchant_params,
            &mut self.reference_id,
            &mut self.code,
        ] {
            if f.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *f = None;
            }
        }
        self
    }
}

/// One invalid field, in the seed's terms: `code` like `NotNull.payByLinkDto.amount`,
/// `field` the JSON name (the API's pointer is `/` + field), `title` for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub title: String,
}

impl FieldError {
    pub fn new(field: &str, rule: &str, title: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            code: format!("{rule}.payByLinkDto.{field}"),
            title: title.into(),
        }
    }
}

/// Link fields that passed every rule, ready to store.
#[derive(Debug, Clone)]
pub struct LinkFields {
    pub product_id: ProductId,
    pub amount_minor: i64,
    pub currency: Currency,
    pub country: String,
    pub merchant_transaction_id: String,
    pub description: Option<String>,
    /// `None`: generate one (`PBL.<uuid>`) on create, keep the old one on update.
    pub customer_id: Option<String>,
    /// `None`: 30 days after creation on create, keep the old one on update.
    pub due_date: Option<DateTime<Utc>>,
    pub language: Language,
    pub merchant_params: Option<String>,
    pub reference_id: Option<String>,
    pub code: Option<String>,
}

#[derive(Debug)]
pub enum Invalid {
    /// The body names another merchant than the caller's: 403, not a field error.
    ForeignMerchant,
    Fields(Vec<FieldError>),
}

pub const DEFAULT_DUE: Duration = Duration::days(30);

static MERCHANT_PARAMS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([a-zA-Z0-9-]+:[a-zA-Z0-9-]+;?)+$").expect("valid regex"));
static REFERENCE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}[a-zA-Z0-9]{0,8}$").expect("valid regex"));

/// Checks every field. `caller` is the merchant the request is authenticated as.
pub fn validate(
    input: &LinkInput,
    caller: MerchantId,
    now: DateTime<Utc>,
) -> Result<LinkFields, Invalid> {
    let mut errors = input.type_errors.clone();
    let failed = |errors: &Vec<FieldError>, field: &str| errors.iter().any(|e| e.field == field);

    if !failed(&errors, "merchantId") {
        match input.merchant_id.as_deref().map(str::trim) {
            None => errors.push(FieldError::new("merchantId", "NotNull", "must not be null")),
            Some(text) => match text.parse::<i64>() {
                Ok(id) if id == caller.0 => {}
                Ok(_) => return Err(Invalid::ForeignMerchant),
                Err(_) => errors.push(FieldError::new("merchantId", "Type", "must be an integer")),
            },
        }
    }

    let product_id = match input.product_id.as_deref().map(str::trim) {
        _ if failed(&errors, "productId") => None,
        None => {
            errors.push(FieldError::new("productId", "NotNull", "must not be null"));
            None
        }
        Some(text) => match text.parse::<i64>() {
            Ok(id) if id > 0 => Some(ProductId(id)),
            _ => {
                errors.push(FieldError::new(
                    "productId",
                    "Type",
                    "must be a positive integer",
                ));
                None
            }
        },
    };

    let currency = match input.currency.as_deref() {
        _ if failed(&errors, "currency") => None,
        None => {
            errors.push(FieldError::new("currency", "NotNull", "must not be null"));
            None
        }
        Some(code) => {
            let c = Currency::parse(code.trim());
            if c.is_none() {
                errors.push(FieldError::new(
                    "currency",
                    "Invalid",
                    "must be an ISO 4217 alpha-3 currency code in use",
                ));
            }
            c
        }
    };

    let amount_minor = match input.amount.as_deref() {
        _ if failed(&errors, "amount") => None,
        None => {
            errors.push(FieldError::new("amount", "NotNull", "must not be null"));
            None
        }
        // Without a valid currency the digits rule cannot be judged; check the rest
        // with the most permissive precision so the other mistakes still show.
        Some(text) => match money::parse_amount(text, currency.map_or(3, Currency::minor_digits)) {
            Ok(minor) => Some(minor),
            Err(e) => {
                errors.push(match e {
                    AmountError::Malformed => FieldError::new("amount", "Type", "must be a number"),
                    AmountError::NotPositive => {
                        FieldError::new("amount", "Positive", "must be greater than 0")
                    }
                    AmountError::TooPrecise(d) => FieldError::new(
                        "amount",
                        "Digits",
                        format!("must have at most {d} decimal places for this currency"),
                    ),
                    AmountError::TooLarge => FieldError::new("amount", "Max", "is too large"),
                });
                None
            }
        },
    };

    let country = match input.country.as_deref() {
        _ if failed(&errors, "country") => None,
        None => {
            errors.push(FieldError::new("country", "NotNull", "must not be null"));
            None
        }
        Some(code) => {
            let code = code.trim();
            let known = code.len() == 2
                && code.bytes().all(|b| b.is_ascii_uppercase())
                && isocountry::CountryCode::for_alpha2(code).is_ok();
            if !known {
                errors.push(FieldError::new(
                    "country",
                    "Invalid",
                    "must be an ISO 3166-1 alpha-2 country code",
                ));
            }
            known.then(|| code.to_string())
        }
    };

    let merchant_transaction_id = match input.merchant_transaction_id.as_deref() {
        _ if failed(&errors, "merchantTransactionId") => None,
        None => {
            errors.push(FieldError::new(
                "merchantTransactionId",
                "NotNull",
                "must not be null",
            ));
            None
        }
        Some(text) => check_length(&mut errors, "merchantTransactionId", text, 1, 45),
    };

    let description = optional_length(
        &mut errors,
        "description",
        input.description.as_deref(),
        0,
        1000,
    );
    let customer_id = optional_length(
        &mut errors,
        "customerId",
        input.customer_id.as_deref(),
        1,
        100,
    );
    let code = optional_length(&mut errors, "code", input.code.as_deref(), 1, 12);

    let due_date = match input.due_date.as_deref() {
        _ if failed(&errors, "dueDate") => None,
        None => None,
        Some(text) => match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) if t.with_timezone(&Utc) > now => Some(t.with_timezone(&Utc)),
            Ok(_) => {
                errors.push(FieldError::new(
                    "dueDate",
                    "Future",
                    "must be a date in the future",
                ));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "dueDate",
                    "Pattern",
                    "must be an ISO 8601 date-time with offset, like 2025-01-31T08:00:00.000Z",
                ));
                None
            }
        },
    };

    let language = match input.language.as_deref() {
        _ if failed(&errors, "language") => Language::En,
        None => Language::En,
        Some(text) => Language::parse(text.trim()).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "language",
                "Pattern",
                "must be one of EN, ES",
            ));
            Language::En
        }),
    };

    let merchant_params = match input.merchant_params.as_deref() {
        _ if failed(&errors, "merchantParams") => None,
        None => None,
        Some(text) if text.chars().count() > 250 => {
            errors.push(FieldError::new(
                "merchantParams",
                "Size",
                "size must be between 0 and 250",
            ));
            None
        }
        Some(text) if !MERCHANT_PARAMS.is_match(text) => {
            errors.push(FieldError::new(
                "merchantParams",
                "Pattern",
                r#"must match "^([a-zA-Z0-9-]+:[a-zA-Z0-9-]+;?)+$""#,
            ));
            None
        }
        Some(text) => Some(text.to_string()),
    };

    let reference_id = match input.reference_id.as_deref() {
        _ if failed(&errors, "referenceId") => None,
        Some(text) if !REFERENCE_ID.is_match(text) => {
            errors.push(FieldError::new(
                "referenceId",
                "Pattern",
                r#"must match "^[0-9]{4}[a-zA-Z0-9]{0,8}$""#,
            ));
            None
        }
        Some(text) => Some(text.to_string()),
        // The seed's rule: an absent referenceId is taken from a merchantTransactionId
        // that would itself be a valid referenceId.
        None => merchant_transaction_id
            .as_deref()
            .filter(|m| REFERENCE_ID.is_match(m))
            .map(str::to_string),
    };

    if !errors.is_empty() {
        return Err(Invalid::Fields(errors));
    }
    match (
        product_id,
        amount_minor,
        currency,
        country,
        merchant_transaction_id,
    ) {
        (Some(product_id), Some(amount_minor), Some(currency), Some(country), Some(mtid)) => {
            Ok(LinkFields {
                product_id,
                amount_minor,
                currency,
                country,
                merchant_transaction_id: mtid,
                description,
                customer_id,
                due_date,
                language,
                merchant_params,
                reference_id,
                code,
            })
        }
        // Every None above pushed an error, so this arm is unreachable in practice;
        // answer with a field error rather than panic all the same.
        _ => Err(Invalid::Fields(vec![FieldError::new(
            "",
            "Invalid",
            "invalid link",
        )])),
    }
}

fn check_length(
    errors: &mut Vec<FieldError>,
    field: &str,
    text: &str,
    min: usize,
    max: usize,
) -> Option<String> {
    let n = text.chars().count();
    if n < min || n > max {
        errors.push(FieldError::new(
            field,
            "Size",
            format!("size must be between {min} and {max}"),
        ));
        None
    } else {
        Some(text.to_string())
    }
}

fn optional_length(
    errors: &mut Vec<FieldError>,
    field: &str,
    text: Option<&str>,
    min: usize,
    max: usize,
) -> Option<String> {
    if errors.iter().any(|e| e.field == field) {
        return None;
    }
    text.and_then(|t| check_length(errors, field, t, min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> LinkInput {
        LinkInput {
            amount: Some("32.99".into()),
            currency: Some("EUR".into()),
            country: Some("GB".into()),
            merchant_id: Some("10450".into()),
            product_id: Some("104500001".into()),
            merchant_transaction_id: Some("1234abcd567efg".into()),
            ..Default::default()
        }
    }

    fn fields_of(input: &LinkInput) -> Vec<String> {
        match validate(input, MerchantId(10450), Utc::now()) {
            Err(Invalid::Fields(e)) => e.into_iter().map(|e| e.field).collect(),
            Err(Invalid::ForeignMerchant) => vec!["403".into()],
            Ok(_) => vec![],
        }
    }

    #[test]
    fn a_minimal_link_is_valid_and_reference_id_is_derived() {
        let ok = validate(&valid(), MerchantId(10450), Utc::now()).unwrap();
        assert_eq!(ok.amount_minor, 3299);
        // 14 characters is too long to be a referenceId, so none is derived.
        assert_eq!(ok.reference_id, None);
        let mut input = valid();
        input.merchant_transaction_id = Some("1234abcd".into());
        let ok = validate(&input, MerchantId(10450), Utc::now()).unwrap();
        assert_eq!(ok.reference_id.as_deref(), Some("1234abcd"));
    }

    #[test]
    fn all_missing_fields_are_reported_at_once() {
        let fields = fields_of(&LinkInput::default());
        for f in [
            "merchantId",
            "productId",
            "currency",
            "amount",
            "country",
            "merchantTransactionId",
        ] {
            assert!(
                fields.contains(&f.to_string()),
                "{f} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn another_merchant_is_forbidden() {
        let mut input = valid();
        input.merchant_id = Some("99".into());
        assert_eq!(fields_of(&input), vec!["403"]);
    }

    #[test]
    fn each_rule() {
        type Change = fn(&mut LinkInput);
        let cases: Vec<(&str, Change)> = vec![
            ("amount", |i| i.amount = Some("0".into())),
            ("amount", |i| i.amount = Some("1.999".into())),
            ("currency", |i| i.currency = Some("EURO".into())),
            ("country", |i| i.country = Some("XX".into())),
            ("merchantTransactionId", |i| {
                i.merchant_transaction_id = Some("x".repeat(46))
            }),
            ("description", |i| i.description = Some("x".repeat(1001))),
            ("customerId", |i| i.customer_id = Some("x".repeat(101))),
            ("dueDate", |i| {
                i.due_date = Some("2001-01-01T00:00:00Z".into())
            }),
            ("dueDate", |i| i.due_date = Some("tomorrow".into())),
            ("language", |i| i.language = Some("FR".into())),
            ("merchantParams", |i| i.merchant_params = Some("a=b".into())),
            ("referenceId", |i| i.reference_id = Some("12a".into())),
            ("code", |i| i.code = Some("x".repeat(13))),
        ];
        for (field, change) in cases {
            let mut input = valid();
            change(&mut input);
            assert_eq!(fields_of(&input), vec![field.to_string()], "{field}");
        }
    }

    #[test]
    fn amount_digits_follow_the_currency() {
        let mut input = valid();
        input.currency = Some("JPY".into());
        input.amount = Some("100.5".into());
        assert_eq!(fields_of(&input), vec!["amount"]);
        input.currency = Some("KWD".into());
        input.amount = Some("100.505".into());
        assert!(fields_of(&input).is_empty());
    }
}
