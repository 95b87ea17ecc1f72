//! The emails' words: subject, plain text and HTML, in the link's language from
//! the shopper page's catalogue (`locales/<lang>/email.ftl` beside
//! `shopper.ftl`), amounts and dates written the way the payment page writes
//! them. Rendered once, when the email is queued; askama escapes every value in
//! the HTML part.

use askama::Template;

use crate::links::{DisplayOn, Link, Payment};
use crate::payments::Brand;
use crate::shopper::i18n::Tr;
use crate::shopper::views;

/// One email, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What the link email says.
struct LinkView {
    lang: String,
    subject: String,
    merchant: String,
    amount: String,
    greeting: String,
    intro: String,
    description_label: String,
    description: Option<String>,
    due: String,
    button: String,
    url: String,
    fallback: String,
    footer: String,
}

#[derive(Template)]
#[template(path = "email/link.txt")]
struct LinkText<'a> {
    v: &'a LinkView,
}

#[derive(Template)]
#[template(path = "email/link.html")]
struct LinkHtml<'a> {
    v: &'a LinkView,
}

/// The link email: who asks for how much, what for, until when, and the link.
pub fn link(link: &Link, merchant: &str, public_url: &str) -> Rendered {
    let tr = Tr::of_link(link.language);
    let amount = tr.money(link.amount_minor, link.currency);
    let v = LinkView {
        lang: tr.code(),
        subject: tr.t_with(
            "email-link-subject",
            &[("merchant", merchant), ("amount", &amount)],
        ),
        merchant: merchant.to_string(),
        greeting: tr.t("email-greeting"),
        intro: tr.t_with(
            "email-link-intro",
            &[("merchant", merchant), ("amount", &amount)],
        ),
        description_label: tr.t("receipt-description"),
        description: description(link),
        due: tr.t_with("due-label", &[("date", &tr.date_time(link.due_date))]),
        button: tr.t_with("pay-button", &[("amount", &amount)]),
        url: link.url(public_url),
        fallback: tr.t("email-link-fallback"),
        footer: tr.t_with("email-footer", &[("merchant", merchant)]),
        amount,
    };
    render(&v.subject, LinkText { v: &v }, LinkHtml { v: &v })
}

/// What the receipt email says.
struct ReceiptView {
    lang: String,
    subject: String,
    merchant: String,
    greeting: String,
    heading: String,
    thanks: String,
    /// Label and value of each line of the receipt.
    rows: Vec<(String, String)>,
    online: String,
    url: String,
    keep: String,
    footer: String,
}

#[derive(Template)]
#[template(path = "email/receipt.txt")]
struct ReceiptText<'a> {
    v: &'a ReceiptView,
}

#[derive(Template)]
#[template(path = "email/receipt.html")]
struct ReceiptHtml<'a> {
    v: &'a ReceiptView,
}

/// The receipt of one approved payment: the lines of the receipt page (amount,
/// taxes, the additional fields shown on receipts, date, transaction id, card
/// brand and last four digits) and its address.
pub fn receipt(link: &Link, payment: &Payment, merchant: &str, public_url: &str) -> Rendered {
    let tr = Tr::of_link(link.language);
    let amount = tr.money(payment.amount_minor, link.currency);
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
    // The lines of the receipt page, in its order.
    let mut rows = vec![(tr.t("receipt-merchant"), merchant.to_string())];
    if let Some(d) = description(link) {
        rows.push((tr.t("receipt-description"), d));
    }
    rows.push((tr.t("receipt-amount"), amount.clone()));
    rows.extend(views::taxes_of(&tr, link));
    rows.extend(views::details_of(link, DisplayOn::on_receipt));
    rows.extend([
        (
            tr.t("receipt-date"),
            tr.date_time(views::receipt_date(link, payment)),
        ),
        (tr.t("receipt-transaction"), payment.id.clone()),
        (tr.t("receipt-card"), card),
    ]);
    let v = ReceiptView {
        lang: tr.code(),
        subject: tr.t_with(
            "email-receipt-subject",
            &[("merchant", merchant), ("amount", &amount)],
        ),
        merchant: merchant.to_string(),
        greeting: tr.t("email-greeting"),
        heading: tr.t("receipt-heading"),
        thanks: tr.t_with("receipt-thanks", &[("merchant", merchant)]),
        rows,
        online: tr.t("email-receipt-online"),
        url: format!(
            "{}/p/{}/receipt/{}",
            public_url.trim_end_matches('/'),
            link.url_code,
            payment.id
        ),
        keep: tr.t("receipt-keep"),
        footer: tr.t_with("email-footer", &[("merchant", merchant)]),
    };
    render(&v.subject, ReceiptText { v: &v }, ReceiptHtml { v: &v })
}

fn description(link: &Link) -> Option<String> {
    link.description.clone().filter(|d| !d.trim().is_empty())
}

/// Renders both parts. The templates are compiled with the binary and their
/// values are plain strings, so rendering cannot fail in practice; should it,
/// the message says so rather than going out empty.
fn render(subject: &str, text: impl Template, html: impl Template) -> Rendered {
    let or_note = |r: askama::Result<String>| {
        r.unwrap_or_else(|e| {
            tracing::error!(error = %e, "an email template failed to render");
            subject.to_string()
        })
    };
    Rendered {
        subject: subject.to_string(),
        text: or_note(text.render()),
        html: or_note(html.render()),
    }
}
