//! The one validator of link fields, used by the REST API and the backoffice forms
//! alike. Input arrives as text (a form field, or a JSON value turned into text by
//! the API layer); every rule of CONTRACT section 3 is checked and every failure is
//! reported at once, keyed by the field's JSON name.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use super::options::{self, Additional, DisplayOn, Tax};
use super::Language;
use crate::merchants::{MerchantId, ProductId};
use crate::money::{self, AmountError, Currency};
use crate::payments::Brand;

/// Raw link fields as a user typed or sent them. The backoffice form and the API
/// both turn what they received into it (the API recording type errors on the way).
#[derive(Debug, Default, Clone)]
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
    /// `"unlimited"` stands for JSON `null`; absent means the default, one payment.
    pub payments_allowed: Option<String>,
    pub expiration_in_minute: Option<String>,
    pub notification_url: Option<String>,
    pub customer_email: Option<String>,
    /// `"true"` or `"false"`.
    pub send_by_email: Option<String>,
    pub receiver_emails: Vec<String>,
    pub taxes: Vec<TaxInput>,
    /// Empty: every brand is accepted.
    pub allowed_payment_methods: Vec<String>,
    pub additional: Vec<AdditionalInput>,
    /// Errors found before validation, such as a JSON string where a number belongs.
    pub type_errors: Vec<FieldError>,
}

/// One tax as typed or sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TaxInput {
    pub kind: Option<String>,
    pub amount: Option<String>,
    pub base: Option<String>,
}

/// One additional field as typed or sent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AdditionalInput {
    pub keyword: Option<String>,
    pub value: Option<String>,
    pub display_on: Option<String>,
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
            &mut self.payments_allowed,
            &mut self.expiration_in_minute,
            &mut self.notification_url,
            &mut self.customer_email,
            &mut self.send_by_email,
        ] {
            blank_as_none(f);
        }
        self.receiver_emails.retain(|e| !e.trim().is_empty());
        self.allowed_payment_methods
            .retain(|m| !m.trim().is_empty());
        for t in &mut self.taxes {
            for f in [&mut t.kind, &mut t.amount, &mut t.base] {
                blank_as_none(f);
            }
        }
        self.taxes.retain(|t| *t != TaxInput::default());
        for a in &mut self.additional {
            for f in [&mut a.keyword, &mut a.value] {
                blank_as_none(f);
            }
        }
        // A row with neither keyword nor value is an unused form row.
        self.additional
            .retain(|a| a.keyword.is_some() || a.value.is_some());
        self
    }
}

fn blank_as_none(f: &mut Option<String>) {
    if f.as_deref().is_some_and(|s| s.trim().is_empty()) {
        *f = None;
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
    /// `field` is a JSON pointer without its leading `/`: `amount`, or
    /// `taxes/1/amount` inside a list (whose code names `taxes.amount`).
    pub fn new(field: &str, rule: &str, title: impl Into<String>) -> FieldError {
        let name: Vec<&str> = field
            .split('/')
            .filter(|part| !part.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        FieldError {
            field: field.to_string(),
            code: format!("{rule}.payByLinkDto.{}", name.join(".")),
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
    /// `None`: unlimited.
    pub payments_allowed: Option<i64>,
    /// Checked for its form here; where it points is checked by the caller (DNS).
    pub notification_url: Option<String>,
    pub customer_email: Option<String>,
    pub send_by_email: bool,
    pub receiver_emails: Vec<String>,
    pub taxes: Vec<Tax>,
    pub allowed_payment_methods: Vec<Brand>,
    pub additional: Vec<Additional>,
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
        Some(text) => amount_in(&mut errors, "amount", text, currency),
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

    let due_date = match input.expiration_in_minute.as_deref() {
        _ if failed(&errors, "expirationInMinute") => due_date,
        None => due_date,
        Some(_) if input.due_date.is_some() => {
            errors.push(FieldError::new(
                "expirationInMinute",
                "Exclusive",
                "must not be given together with dueDate",
            ));
            due_date
        }
        Some(text) => match text.trim().parse::<i64>() {
            Ok(m) if (1..=options::MAX_EXPIRATION_MINUTES).contains(&m) => {
                Some(now + Duration::minutes(m))
            }
            _ => {
                errors.push(FieldError::new(
                    "expirationInMinute",
                    "Range",
                    format!(
                        "must be an integer between 1 and {}",
                        options::MAX_EXPIRATION_MINUTES
                    ),
                ));
                None
            }
        },
    };

    let payments_allowed = match input.payments_allowed.as_deref().map(str::trim) {
        _ if failed(&errors, "paymentsAllowed") => Some(1),
        None => Some(1),
        Some("unlimited") => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=options::MAX_PAYMENTS_ALLOWED).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "paymentsAllowed",
                    "Range",
                    format!(
                        "must be an integer between 1 and {}, or null for unlimited",
                        options::MAX_PAYMENTS_ALLOWED
                    ),
                ));
                Some(1)
            }
        },
    };

    let notification_url = match input.notification_url.as_deref().map(str::trim) {
        _ if failed(&errors, "notificationUrl") => None,
        None => None,
        Some(text) => match crate::notifications::parse_url(text) {
            Ok(url) => Some(url.to_string()),
            Err(why) => {
                errors.push(FieldError::new("notificationUrl", "Url", why.to_string()));
                None
            }
        },
    };

    let customer_email = match input.customer_email.as_deref() {
        _ if failed(&errors, "customerEmail") => None,
        None => None,
        Some(text) => email_in(&mut errors, "customerEmail", text),
    };

    let send_by_email = match input.send_by_email.as_deref().map(str::trim) {
        _ if failed(&errors, "sendByEmail") => false,
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push(FieldError::new(
                "sendByEmail",
                "Type",
                "must be true or false",
            ));
            false
        }
    };
    if send_by_email && input.customer_email.is_none() && !failed(&errors, "customerEmail") {
        errors.push(FieldError::new(
            "customerEmail",
            "NotNull",
            "must not be null when sendByEmail is true",
        ));
    }

    let receiver_emails = if failed(&errors, "receiverEmails") {
        Vec::new()
    } else if input.receiver_emails.len() > options::MAX_RECEIVER_EMAILS {
        errors.push(FieldError::new(
            "receiverEmails",
            "Size",
            format!(
                "must hold at most {} addresses",
                options::MAX_RECEIVER_EMAILS
            ),
        ));
        Vec::new()
    } else {
        let mut list: Vec<String> = Vec::new();
        for (i, text) in input.receiver_emails.iter().enumerate() {
            let field = format!("receiverEmails/{i}");
            if failed(&errors, &field) {
                continue;
            }
            if let Some(address) = email_in(&mut errors, &field, text) {
                if !list.contains(&address) {
                    list.push(address);
                }
            }
        }
        list
    };

    let taxes = taxes_in(&mut errors, &input.taxes, currency, amount_minor);
    let allowed_payment_methods = payment_methods_in(&mut errors, &input.allowed_payment_methods);
    let additional = additional_in(&mut errors, &input.additional);

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
                payments_allowed,
                notification_url,
                customer_email,
                send_by_email,
                receiver_emails,
                taxes,
                allowed_payment_methods,
                additional,
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

/// An amount in `currency` (any precision up to 3 digits when the currency is
/// itself invalid, so that the other mistakes still show).
fn amount_in(
    errors: &mut Vec<FieldError>,
    field: &str,
    text: &str,
    currency: Option<Currency>,
) -> Option<i64> {
    match money::parse_amount(text, currency.map_or(3, Currency::minor_digits)) {
        Ok(minor) => Some(minor),
        Err(e) => {
            errors.push(match e {
                AmountError::Malformed => FieldError::new(field, "Type", "must be a number"),
                AmountError::NotPositive => {
                    FieldError::new(field, "Positive", "must be greater than 0")
                }
                AmountError::TooPrecise(d) => FieldError::new(
                    field,
                    "Digits",
                    format!("must have at most {d} decimal places for this currency"),
                ),
                AmountError::TooLarge => FieldError::new(field, "Max", "is too large"),
            });
            None
        }
    }
}

/// An email address (RFC 5322 addr-spec), as typed but trimmed.
fn email_in(errors: &mut Vec<FieldError>, field: &str, text: &str) -> Option<String> {
    let text = text.trim();
    // 254 characters: the most an address can have in a forward path (RFC 5321).
    if text.len() <= 254 && email_address::EmailAddress::is_valid(text) {
        Some(text.to_string())
    } else {
        errors.push(FieldError::new(
            field,
            "Email",
            "must be a well-formed email address",
        ));
        None
    }
}

fn taxes_in(
    errors: &mut Vec<FieldError>,
    input: &[TaxInput],
    currency: Option<Currency>,
    amount_minor: Option<i64>,
) -> Vec<Tax> {
    if errors.iter().any(|e| e.field == "taxes") {
        return Vec::new();
    }
    if input.len() > options::MAX_TAXES {
        errors.push(FieldError::new(
            "taxes",
            "Size",
            format!("must hold at most {} taxes", options::MAX_TAXES),
        ));
        return Vec::new();
    }
    let mut taxes = Vec::new();
    let mut complete = true;
    for (i, tax) in input.iter().enumerate() {
        let at = |name: &str| format!("taxes/{i}/{name}");
        let failed = |errors: &Vec<FieldError>, f: &str| errors.iter().any(|e| e.field == f);
        // Not even an object: reported as such, nothing more to say about it.
        if failed(errors, &format!("taxes/{i}")) {
            complete = false;
            continue;
        }
        let kind = match tax.kind.as_deref().map(str::trim) {
            _ if failed(errors, &at("kind")) => None,
            None => {
                errors.push(FieldError::new(&at("kind"), "NotNull", "must not be null"));
                None
            }
            Some(k) if options::TAX_KINDS.contains(&k) => Some(k.to_string()),
            Some(_) => {
                errors.push(FieldError::new(
                    &at("kind"),
                    "Pattern",
                    format!("must be one of {}", options::TAX_KINDS.join(", ")),
                ));
                None
            }
        };
        let amount = match tax.amount.as_deref() {
            _ if failed(errors, &at("amount")) => None,
            None => {
                errors.push(FieldError::new(
                    &at("amount"),
                    "NotNull",
                    "must not be null",
                ));
                None
            }
            Some(text) => amount_in(errors, &at("amount"), text, currency),
        };
        let base = match tax.base.as_deref() {
            _ if failed(errors, &at("base")) => None,
            None => Some(None),
            Some(text) => amount_in(errors, &at("base"), text, currency).map(Some),
        };
        match (kind, amount, base) {
            (Some(kind), Some(amount_minor), Some(base_minor)) => taxes.push(Tax {
                kind,
                amount_minor,
                base_minor,
            }),
            _ => complete = false,
        }
    }
    let total = taxes
        .iter()
        .try_fold(0i64, |sum, t| sum.checked_add(t.amount_minor));
    if let (true, Some(amount)) = (complete, amount_minor) {
        if total.is_none_or(|total| total > amount) {
            errors.push(FieldError::new(
                "taxes",
                "Max",
                "the taxes must not add up to more than the amount",
            ));
        }
    }
    taxes
}

fn payment_methods_in(errors: &mut Vec<FieldError>, input: &[String]) -> Vec<Brand> {
    let mut brands = Vec::new();
    for (i, text) in input.iter().enumerate() {
        let field = format!("allowedPaymentMethods/{i}");
        if errors.iter().any(|e| e.field == field) {
            continue;
        }
        match Brand::parse(text.trim()).filter(|b| options::PAYMENT_METHODS.contains(b)) {
            Some(b) if brands.contains(&b) => {}
            Some(b) => brands.push(b),
            None => errors.push(FieldError::new(
                &field,
                "Pattern",
                "must be one of visa, master, amex",
            )),
        }
    }
    brands
}

fn additional_in(errors: &mut Vec<FieldError>, input: &[AdditionalInput]) -> Vec<Additional> {
    if errors.iter().any(|e| e.field == "additional") {
        return Vec::new();
    }
    if input.len() > options::MAX_ADDITIONAL {
        errors.push(FieldError::new(
            "additional",
            "Size",
            format!("must hold at most {} fields", options::MAX_ADDITIONAL),
        ));
        return Vec::new();
    }
    let mut fields: Vec<Additional> = Vec::new();
    for (i, item) in input.iter().enumerate() {
        let at = |name: &str| format!("additional/{i}/{name}");
        let failed = |errors: &Vec<FieldError>, f: &str| errors.iter().any(|e| e.field == f);
        if failed(errors, &format!("additional/{i}")) {
            continue;
        }
        let keyword = match item.keyword.as_deref().map(str::trim) {
            _ if failed(errors, &at("keyword")) => None,
            None => {
                errors.push(FieldError::new(
                    &at("keyword"),
                    "NotNull",
                    "must not be null",
                ));
                None
            }
            Some(k) if fields.iter().any(|f| f.keyword == k) => {
                errors.push(FieldError::new(
                    &at("keyword"),
                    "Unique",
                    "must be unique within the link",
                ));
                None
            }
            Some(k) => check_length(errors, &at("keyword"), k, 1, 50),
        };
        let value = match item.value.as_deref() {
            _ if failed(errors, &at("value")) => None,
            None => {
                errors.push(FieldError::new(&at("value"), "NotNull", "must not be null"));
                None
            }
            Some(v) => check_length(errors, &at("value"), v, 1, 250),
        };
        let display_on = match item.display_on.as_deref().map(str::trim) {
            _ if failed(errors, &at("displayOn")) => None,
            None | Some("") => Some(DisplayOn::None),
            Some(text) => {
                let d = DisplayOn::parse(text);
                if d.is_none() {
                    errors.push(FieldError::new(
                        &at("displayOn"),
                        "Pattern",
                        "must be one of none, payment, receipt, both",
                    ));
                }
                d
            }
        };
        if let (Some(keyword), Some(value), Some(display_on)) = (keyword, value, display_on) {
            fields.push(Additional {
                keyword,
                value,
                display_on,
            });
        }
    }
    fields
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
    fn options_have_their_rules_and_defaults() {
        let ok = validate(&valid(), MerchantId(10450), Utc::now()).unwrap();
        assert_eq!(ok.payments_allowed, Some(1), "one payment by default");
        let mut input = valid();
        input.payments_allowed = Some("unlimited".into());
        input.allowed_payment_methods = vec!["visa".into(), "visa".into(), "amex".into()];
        let ok = validate(&input, MerchantId(10450), Utc::now()).unwrap();
        assert_eq!(ok.payments_allowed, None);
        assert_eq!(ok.allowed_payment_methods, vec![Brand::Visa, Brand::Amex]);

        let now = Utc::now();
        let mut input = valid();
        input.expiration_in_minute = Some("15".into());
        let ok = validate(&input, MerchantId(10450), now).unwrap();
        assert_eq!(ok.due_date, Some(now + Duration::minutes(15)));

        // Taxes in minor units of the link's currency, up to the amount.
        let tax = |amount: &str| TaxInput {
            kind: Some("valueAddedTax".into()),
            amount: Some(amount.into()),
            base: None,
        };
        let mut input = valid();
        input.taxes = vec![tax("30.00"), tax("2.99")];
        let ok = validate(&input, MerchantId(10450), now).unwrap();
        assert_eq!(ok.taxes[1].amount_minor, 299);
        input.taxes.push(tax("0.01"));
        assert_eq!(fields_of(&input), vec!["taxes"]);
    }

    #[test]
    fn list_errors_point_into_the_list() {
        let mut input = valid();
        input.receiver_emails = vec!["a@shop.example".into(), "nope".into()];
        input.additional = vec![AdditionalInput {
            keyword: Some("k".into()),
            value: None,
            display_on: None,
        }];
        assert_eq!(
            fields_of(&input),
            vec!["receiverEmails/1", "additional/0/value"]
        );
        let e = FieldError::new("taxes/3/amount", "Positive", "x");
        assert_eq!(e.code, "Positive.payByLinkDto.taxes.amount");
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
