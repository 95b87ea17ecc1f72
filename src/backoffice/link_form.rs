//! The create and edit form of a link: what its fields are called, how what was
//! typed becomes the validator's [`LinkInput`], and how a link's values fill the
//! form again. Lists (taxes, additional fields) are rows of inputs named
//! `taxes.kind`, `taxes.amount`, … so that the form works without JavaScript.

use chrono_tz::Tz;
use serde::Deserialize;

use super::forms::{self, FieldErrors};
use crate::links::options::{PAYMENT_METHODS, TAX_KINDS};
use crate::links::{AdditionalInput, DisplayOn, Link, LinkInput, TaxInput};
use crate::money;

/// Empty rows offered beyond the filled ones, for adding taxes and fields.
const SPARE_ROWS: usize = 2;

/// The form as posted: fields named as the API's JSON fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LinkForm {
    pub amount: Option<String>,
    pub currency: Option<String>,
    pub country: Option<String>,
    pub product_id: Option<String>,
    pub merchant_transaction_id: Option<String>,
    pub description: Option<String>,
    pub customer_id: Option<String>,
    pub due_date: Option<String>,
    pub language: Option<String>,
    pub merchant_params: Option<String>,
    pub reference_id: Option<String>,
    pub code: Option<String>,
    pub payments_allowed: Option<String>,
    /// A checkbox: the link takes any number of payments.
    pub payments_unlimited: Option<String>,
    pub expiration_in_minute: Option<String>,
    pub notification_url: Option<String>,
    pub customer_email: Option<String>,
    pub send_by_email: Option<String>,
    /// One address per line (commas and semicolons also separate).
    pub receiver_emails: Option<String>,
    pub allowed_payment_methods: Vec<String>,
    #[serde(rename = "taxes.kind")]
    pub tax_kind: Vec<String>,
    #[serde(rename = "taxes.amount")]
    pub tax_amount: Vec<String>,
    #[serde(rename = "taxes.base")]
    pub tax_base: Vec<String>,
    #[serde(rename = "additional.keyword")]
    pub additional_keyword: Vec<String>,
    #[serde(rename = "additional.value")]
    pub additional_value: Vec<String>,
    #[serde(rename = "additional.displayOn")]
    pub additional_display_on: Vec<String>,
    pub form_token: Option<String>,
}

/// The `i`th value of a column of rows, if sent.
fn cell(column: &[String], i: usize) -> Option<String> {
    column.get(i).cloned()
}

impl LinkForm {
    /// What was typed, as the validator reads it (blank fields still present:
    /// the caller decides what a blank means).
    pub fn input(&self) -> LinkInput {
        let taxes = (0..self.tax_kind.len().max(self.tax_amount.len()))
            .map(|i| TaxInput {
                kind: cell(&self.tax_kind, i),
                amount: cell(&self.tax_amount, i),
                base: cell(&self.tax_base, i),
            })
            .collect();
        let additional = (0..self
            .additional_keyword
            .len()
            .max(self.additional_value.len()))
            .map(|i| AdditionalInput {
                keyword: cell(&self.additional_keyword, i),
                value: cell(&self.additional_value, i),
                display_on: cell(&self.additional_display_on, i),
            })
            .collect();
        let unlimited = self.payments_unlimited.as_deref() == Some("true");
        LinkInput {
            amount: self.amount.clone(),
            currency: self.currency.clone(),
            country: self.country.clone(),
            product_id: self.product_id.clone(),
            merchant_transaction_id: self.merchant_transaction_id.clone(),
            description: self.description.clone(),
            customer_id: self.customer_id.clone(),
            due_date: self.due_date.clone(),
            language: self.language.clone(),
            merchant_params: self.merchant_params.clone(),
            reference_id: self.reference_id.clone(),
            code: self.code.clone(),
            payments_allowed: if unlimited {
                Some("unlimited".into())
            } else {
                self.payments_allowed.clone()
            },
            expiration_in_minute: self.expiration_in_minute.clone(),
            notification_url: self.notification_url.clone(),
            customer_email: self.customer_email.clone(),
            // An unticked checkbox is not sent at all.
            send_by_email: Some((self.send_by_email.as_deref() == Some("true")).to_string()),
            receiver_emails: self
                .receiver_emails
                .as_deref()
                .unwrap_or_default()
                .split(['\n', ',', ';'])
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            taxes,
            allowed_payment_methods: self.allowed_payment_methods.clone(),
            additional,
            ..Default::default()
        }
    }
}

/// A link's stored values as the form shows them.
pub fn values_of(link: &Link, tz: Tz) -> LinkInput {
    let amount = |minor| money::format_decimal(minor, link.currency);
    LinkInput {
        amount: Some(amount(link.amount_minor)),
        currency: Some(link.currency.code().into()),
        country: Some(link.country.clone()),
        product_id: Some(link.product_id.to_string()),
        merchant_transaction_id: Some(link.merchant_transaction_id.clone()),
        description: link.description.clone(),
        customer_id: Some(link.customer_id.clone()),
        due_date: Some(forms::utc_to_local_input(link.due_date, tz)),
        language: Some(link.language.as_str().into()),
        merchant_params: link.merchant_params.clone(),
        reference_id: link.reference_id.clone(),
        code: link.code.clone(),
        payments_allowed: Some(
            link.payments_allowed
                .map_or_else(|| "unlimited".into(), |n| n.to_string()),
        ),
        notification_url: link.notification_url.clone(),
        customer_email: link.customer_email.clone(),
        send_by_email: Some(link.send_by_email.to_string()),
        receiver_emails: link.receiver_emails.clone(),
        taxes: link
            .taxes
            .iter()
            .map(|t| TaxInput {
                kind: Some(t.kind.clone()),
                amount: Some(amount(t.amount_minor)),
                base: t.base_minor.map(amount),
            })
            .collect(),
        allowed_payment_methods: link
            .allowed_payment_methods
            .iter()
            .map(|b| b.as_str().to_string())
            .collect(),
        additional: link
            .additional
            .iter()
            .map(|a| AdditionalInput {
                keyword: Some(a.keyword.clone()),
                value: Some(a.value.clone()),
                display_on: Some(a.display_on.as_str().into()),
            })
            .collect(),
        ..Default::default()
    }
}

pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

pub struct TaxRow {
    pub kind: String,
    pub amount: String,
    pub base: String,
    pub error: Option<String>,
}

pub struct AdditionalRow {
    pub keyword: String,
    pub value: String,
    pub display_on: String,
    pub error: Option<String>,
}

/// The section-11 options of the form, ready to show.
pub struct OptionsView {
    pub payments_allowed: String,
    pub unlimited: bool,
    pub expiration_in_minute: String,
    pub notification_url: String,
    pub customer_email: String,
    pub send_by_email: bool,
    pub receiver_emails: String,
    pub receiver_emails_error: Option<String>,
    pub methods: Vec<Choice>,
    pub methods_error: Option<String>,
    pub tax_kinds: Vec<(&'static str, &'static str)>,
    pub taxes: Vec<TaxRow>,
    pub taxes_error: Option<String>,
    pub display_on: Vec<&'static str>,
    pub additional: Vec<AdditionalRow>,
    pub additional_error: Option<String>,
    /// Whether the options section starts open (something is set or wrong).
    pub open: bool,
}

const TAX_LABELS: [&str; 7] = [
    "Value added tax (VAT)",
    "Excise duty",
    "Municipal tax",
    "State tax",
    "Airport tax",
    "Sales tax",
    "Other",
];

/// A tax kind's name for people.
pub fn tax_label(kind: &str) -> &'static str {
    TAX_KINDS
        .iter()
        .zip(TAX_LABELS)
        .find(|(k, _)| **k == kind)
        .map_or("Tax", |(_, label)| label)
}

impl OptionsView {
    pub fn new(values: &LinkInput, errors: &FieldErrors) -> OptionsView {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let unlimited = values.payments_allowed.as_deref() == Some("unlimited");
        let mut taxes: Vec<TaxRow> = values
            .taxes
            .iter()
            .enumerate()
            .map(|(i, t)| TaxRow {
                kind: text(&t.kind),
                amount: text(&t.amount),
                base: text(&t.base),
                error: errors
                    .first_under(&format!("taxes/{i}"))
                    .map(str::to_string),
            })
            .collect();
        taxes.extend((0..SPARE_ROWS).map(|_| TaxRow {
            kind: String::new(),
            amount: String::new(),
            base: String::new(),
            error: None,
        }));
        let mut additional: Vec<AdditionalRow> = values
            .additional
            .iter()
            .enumerate()
            .map(|(i, a)| AdditionalRow {
                keyword: text(&a.keyword),
                value: text(&a.value),
                display_on: a.display_on.clone().unwrap_or_else(|| "none".into()),
                error: errors
                    .first_under(&format!("additional/{i}"))
                    .map(str::to_string),
            })
            .collect();
        additional.extend((0..SPARE_ROWS).map(|_| AdditionalRow {
            keyword: String::new(),
            value: String::new(),
            display_on: "none".into(),
            error: None,
        }));
        let send_by_email = values.send_by_email.as_deref() == Some("true");
        let set = values.payments_allowed.as_deref().is_some_and(|p| p != "1")
            || values.expiration_in_minute.is_some()
            || values.notification_url.is_some()
            || values.customer_email.is_some()
            || send_by_email
            || !values.receiver_emails.is_empty()
            || !values.allowed_payment_methods.is_empty()
            || !values.taxes.is_empty()
            || !values.additional.is_empty();
        let options_wrong = [
            "paymentsAllowed",
            "expirationInMinute",
            "notificationUrl",
            "customerEmail",
            "sendByEmail",
            "receiverEmails",
            "allowedPaymentMethods",
            "taxes",
            "additional",
        ]
        .iter()
        .any(|f| errors.first_under(f).is_some());
        OptionsView {
            payments_allowed: if unlimited {
                String::new()
            } else {
                text(&values.payments_allowed)
            },
            unlimited,
            expiration_in_minute: text(&values.expiration_in_minute),
            notification_url: text(&values.notification_url),
            customer_email: text(&values.customer_email),
            send_by_email,
            receiver_emails: values.receiver_emails.join("\n"),
            receiver_emails_error: errors.first_under("receiverEmails").map(str::to_string),
            methods: PAYMENT_METHODS
                .iter()
                .map(|b| Choice {
                    value: b.as_str(),
                    label: b.display_name(),
                    checked: values
                        .allowed_payment_methods
                        .iter()
                        .any(|m| m == b.as_str()),
                })
                .collect(),
            methods_error: errors
                .first_under("allowedPaymentMethods")
                .map(str::to_string),
            tax_kinds: TAX_KINDS.into_iter().zip(TAX_LABELS).collect(),
            taxes,
            taxes_error: errors.get("taxes").map(str::to_string),
            display_on: DisplayOn::ALL.iter().map(|d| d.as_str()).collect(),
            additional,
            additional_error: errors.get("additional").map(str::to_string),
            open: set || options_wrong,
        }
    }
}
