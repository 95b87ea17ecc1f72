//! The shopper's pages: one template struct each, filled from the domain values
//! and the catalogue. No rule is decided here, only what to show.

use askama::Template;
use chrono::{DateTime, Utc};

use super::i18n::Tr;
use crate::links::{DisplayOn, Link, Payment, Status};
use crate::payments::{Brand, CardError, CardField, CardProblem, Checkout};

/// What the shopper pays and to whom.
pub struct Summary {
    pub merchant: String,
    pub description: Option<String>,
    pub amount: String,
    /// Shown while the link can still be paid.
    pub due: Option<String>,
    /// The taxes included in the amount: (label, amount).
    pub taxes: Vec<(String, String)>,
    /// The merchant's additional fields meant for this page: (keyword, value).
    pub details: Vec<(String, String)>,
}

impl Summary {
    fn new(tr: &Tr, checkout: &Checkout, status: Status) -> Summary {
        let link = &checkout.link;
        Summary {
            merchant: checkout.merchant_name.clone(),
            description: link.description.clone().filter(|d| !d.trim().is_empty()),
            amount: tr.money(link.amount_minor, link.currency),
            due: (status == Status::Created)
                .then(|| tr.t_with("due-label", &[("date", &tr.date_time(link.due_date))])),
            taxes: taxes_of(tr, link),
            details: details_of(link, DisplayOn::on_payment_page),
        }
    }
}

/// The taxes of a link as the shopper reads them: "VAT (on €80.00)", "€20.00".
pub(crate) fn taxes_of(tr: &Tr, link: &Link) -> Vec<(String, String)> {
    link.taxes
        .iter()
        .map(|t| {
            let kind = tr.t(&format!("tax-{}", t.kind));
            let label = match t.base_minor {
                Some(base) => tr.t_with(
                    "tax-with-base",
                    &[("kind", &kind), ("base", &tr.money(base, link.currency))],
                ),
                None => kind,
            };
            (label, tr.money(t.amount_minor, link.currency))
        })
        .collect()
}

/// The date a receipt shows for `payment` of `link` (the page's and the email's).
pub(crate) fn receipt_date(link: &Link, payment: &Payment) -> DateTime<Utc> {
    // A multi-use link has many payments; its paid_at is the last one's.
    link.paid_at
        .filter(|_| !link.is_multi_use())
        .unwrap_or(payment.created_at)
}

/// The additional fields to show where `shown_here` says.
pub(crate) fn details_of(link: &Link, shown_here: fn(DisplayOn) -> bool) -> Vec<(String, String)> {
    link.additional
        .iter()
        .filter(|a| shown_here(a.display_on))
        .map(|a| (a.keyword.clone(), a.value.clone()))
        .collect()
}

/// One input of the card form: the value to show again and its error.
#[derive(Default)]
pub struct FieldView {
    pub value: String,
    pub error: Option<String>,
}

/// What the shopper typed that may be shown again. The card number and the CVC
/// are never among it.
#[derive(Default)]
pub struct Kept {
    pub holder: String,
    pub expiry: String,
}

impl Kept {
    pub fn new(holder: &str, expiry: &str) -> Kept {
        // A name with digits in it may be a card number typed in the wrong box.
        let holder = if holder.chars().any(|c| c.is_ascii_digit()) {
            String::new()
        } else {
            holder.trim().to_string()
        };
        Kept {
            holder,
            expiry: expiry.trim().chars().take(7).collect(),
        }
    }
}

pub struct FormView {
    pub action: String,
    pub csrf: String,
    pub shown_amount: String,
    pub pay_label: String,
    /// The card brands accepted, when the link restricts them.
    pub accepted: Option<String>,
    /// Why the last submission did not go through, above the fields.
    pub message: Option<String>,
    pub holder: FieldView,
    pub number: FieldView,
    pub expiry: FieldView,
    pub cvc: FieldView,
}

pub struct ClosedView {
    pub status_label: String,
    pub heading: String,
    pub text: String,
    /// After a submission that lost to a payment, a cancellation or expiry.
    pub not_charged: bool,
}

#[derive(Template)]
#[template(path = "shopper/page.html")]
pub struct PaymentPage {
    pub tr: Tr,
    pub title: String,
    pub status: &'static str,
    pub summary: Summary,
    pub form: Option<FormView>,
    pub closed: Option<ClosedView>,
}

/// The form's state after a submission.
#[derive(Default)]
pub struct FormState {
    pub kept: Kept,
    pub errors: Vec<CardError>,
    /// A catalogue key for the message above the form.
    pub message: Option<&'static str>,
}

impl PaymentPage {
    /// The page of a CREATED link: its card form, with `state` from a previous
    /// submission.
    pub fn payable(tr: Tr, checkout: &Checkout, csrf: String, state: FormState) -> PaymentPage {
        let link = &checkout.link;
        let summary = Summary::new(&tr, checkout, Status::Created);
        let error_of = |field: CardField| {
            state
                .errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| tr.t(error_key(*e)))
        };
        let form = FormView {
            action: format!("/p/{}/pay?lang={}", link.url_code, tr.code()),
            csrf,
            shown_amount: format!("{} {}", link.amount_minor, link.currency.code()),
            pay_label: tr.t_with("pay-button", &[("amount", &summary.amount)]),
            accepted: (!link.allowed_payment_methods.is_empty()).then(|| {
                let names: Vec<String> = link
                    .allowed_payment_methods
                    .iter()
                    .map(|b| tr.t(&format!("brand-{}", b.as_str())))
                    .collect();
                tr.t_with("accepted-cards", &[("brands", &names.join(", "))])
            }),
            message: state
                .message
                .or((!state.errors.is_empty()).then_some("form-errors"))
                .map(|key| tr.t(key)),
            holder: FieldView {
                value: state.kept.holder.clone(),
                error: error_of(CardField::Holder),
            },
            number: FieldView {
                value: String::new(),
                error: error_of(CardField::Number),
            },
            expiry: FieldView {
                value: state.kept.expiry.clone(),
                error: error_of(CardField::Expiry),
            },
            cvc: FieldView {
                value: String::new(),
                error: error_of(CardField::Cvc),
            },
        };
        PaymentPage {
            title: tr.t_with("page-title", &[("merchant", &checkout.merchant_name)]),
            status: Status::Created.as_str(),
            summary,
            form: Some(form),
            closed: None,
            tr,
        }
    }

    /// The page of a link that cannot be paid (PAID, refunded, CANCELLED or
    /// EXPIRED): what happened, no form.
    pub fn closed(tr: Tr, checkout: &Checkout, status: Status, not_charged: bool) -> PaymentPage {
        let link = &checkout.link;
        let merchant = checkout.merchant_name.as_str();
        let due = tr.date_time(link.due_date);
        let closed = ClosedView {
            status_label: tr.t(&format!("status-{}", status.as_str())),
            heading: tr.t(&format!("closed-{}-heading", status.as_str())),
            text: tr.t_with(
                &format!("closed-{}-text", status.as_str()),
                &[("merchant", merchant), ("date", &due)],
            ),
            not_charged,
        };
        PaymentPage {
            title: tr.t_with("page-title", &[("merchant", merchant)]),
            status: status.as_str(),
            summary: Summary::new(&tr, checkout, status),
            form: None,
            closed: Some(closed),
            tr,
        }
    }
}

/// The catalogue key of a field error.
fn error_key(e: CardError) -> &'static str {
    use CardField as F;
    use CardProblem as P;
    match (e.field, e.problem) {
        (F::Number, P::Missing) => "error-cardNumber-missing",
        (F::Number, P::NotDigits) => "error-cardNumber-not-digits",
        (F::Number, P::Length) => "error-cardNumber-length",
        (F::Number, P::Luhn) => "error-cardNumber-luhn",
        (F::Number, P::BrandNotAccepted) => "error-cardNumber-brand",
        (F::Expiry, P::Missing) => "error-expiry-missing",
        (F::Expiry, P::ExpiryFormat) => "error-expiry-format",
        (F::Expiry, P::ExpiryPast) => "error-expiry-past",
        (F::Expiry, P::ExpiryTooFar) => "error-expiry-too-far",
        (F::Cvc, P::Missing) => "error-cvc-missing",
        (F::Cvc, P::NotDigits) => "error-cvc-not-digits",
        (F::Cvc, P::CvcLength) => "error-cvc-length",
        (F::Holder, P::Missing) => "error-cardholder-missing",
        (F::Holder, P::HolderInvalid) => "error-cardholder-invalid",
        (F::Holder, P::TooLong) => "error-cardholder-too-long",
        _ => "error-generic",
    }
}

#[derive(Template)]
#[template(path = "shopper/receipt.html")]
pub struct ReceiptPage {
    pub tr: Tr,
    pub thanks: String,
    pub merchant: String,
    pub description: Option<String>,
    pub amount: String,
    pub date: String,
    pub transaction_id: String,
    pub card: String,
    pub taxes: Vec<(String, String)>,
    /// The merchant's additional fields meant for the receipt.
    pub details: Vec<(String, String)>,
}

impl ReceiptPage {
    pub fn new(tr: Tr, checkout: &Checkout, payment: &Payment) -> ReceiptPage {
        let link: &Link = &checkout.link;
        let brand = payment
            .brand
            .as_deref()
            .and_then(Brand::parse)
            .unwrap_or(Brand::Other);
        let card = tr.t_with(
            "receipt-card-value",
            &[
                ("brand", &tr.t(&format!("brand-{}", brand.as_str()))),
                ("last4", payment.last4.as_deref().unwrap_or("")),
            ],
        );
        let paid_at = receipt_date(link, payment);
        ReceiptPage {
            thanks: tr.t_with("receipt-thanks", &[("merchant", &checkout.merchant_name)]),
            merchant: checkout.merchant_name.clone(),
            description: link.description.clone().filter(|d| !d.trim().is_empty()),
            amount: tr.money(payment.amount_minor, link.currency),
            date: tr.date_time(paid_at),
            transaction_id: payment.id.clone(),
            card,
            taxes: taxes_of(&tr, link),
            details: details_of(link, DisplayOn::on_receipt),
            tr,
        }
    }
}

/// A page with a message only: an unknown link, an expired form.
#[derive(Template)]
#[template(path = "shopper/message.html")]
pub struct MessagePage {
    pub tr: Tr,
    pub status: u16,
    pub heading: String,
    pub text: String,
    /// Where to go on (the payment page), if anywhere.
    pub back: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_own_message() {
        let fields = [
            CardField::Number,
            CardField::Expiry,
            CardField::Cvc,
            CardField::Holder,
        ];
        let problems = [
            CardProblem::Missing,
            CardProblem::NotDigits,
            CardProblem::Length,
            CardProblem::Luhn,
            CardProblem::ExpiryFormat,
            CardProblem::ExpiryPast,
            CardProblem::ExpiryTooFar,
            CardProblem::CvcLength,
            CardProblem::HolderInvalid,
            CardProblem::TooLong,
            CardProblem::BrandNotAccepted,
        ];
        let tr = Tr::fallback();
        for field in fields {
            for problem in problems {
                let key = error_key(CardError { field, problem });
                assert!(!tr.t(key).starts_with("Unknown localization key"), "{key}");
            }
        }
    }

    #[test]
    fn every_status_but_created_has_its_closed_message() {
        for code in ["en", "es"] {
            let tr = Tr::available(code).unwrap();
            for status in Status::ALL {
                let mut keys = vec![format!("status-{}", status.as_str())];
                if status != Status::Created {
                    keys.push(format!("closed-{}-heading", status.as_str()));
                    keys.push(format!("closed-{}-text", status.as_str()));
                }
                for key in keys {
                    let text = tr.t_with(&key, &[("merchant", "Shoe Shop"), ("date", "today")]);
                    assert!(
                        !text.starts_with("Unknown localization key") && text != key,
                        "{code}: {key}: {text}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_name_is_kept_unless_it_holds_digits() {
        assert_eq!(Kept::new(" Ana López ", "12/30").holder, "Ana López");
        assert_eq!(Kept::new("4242 4242 4242 4242", "12/30").holder, "");
    }
}
