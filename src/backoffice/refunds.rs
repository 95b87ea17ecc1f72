//! Refunding a payment from the link's page (admins only): a confirmation page
//! with the amount (the rest of the payment unless changed) and a reason, whose
//! form refunds through the same use case as the API and goes back to the link.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::forms::{display_time, FieldErrors};
use super::links::{amount_text, urlencode};
use super::{see_other, set_flash, Chrome, Flash, Form, SignedIn};
use crate::links::{self, FieldError, Link, LinkError, Payment};
use crate::money;
use crate::payments::refund::{self, field_error, RefundError, RefundInput};
use crate::startup::AppState;
use crate::web::PageError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/links/{id}/payments/{transaction_id}/refund",
        web::get().to(confirm),
    )
    .route(
        "/links/{id}/payments/{transaction_id}/refund",
        web::post().to(submit),
    );
}

fn html(status: StatusCode, page: impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(PageError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// The address of a payment's refund page.
pub fn refund_path(link_id: &str, transaction_id: &str) -> String {
    format!(
        "/links/{}/payments/{}/refund",
        urlencode(link_id),
        urlencode(transaction_id)
    )
}

#[derive(Template)]
#[template(path = "backoffice/links/refund.html")]
struct RefundPage {
    chrome: Chrome,
    link_id: String,
    description: String,
    transaction_id: String,
    action: String,
    card: String,
    paid_on: String,
    paid: String,
    refunded: String,
    remaining: String,
    currency: &'static str,
    /// What the form shows: the rest of the payment at first, then as typed.
    amount: String,
    reason: String,
    /// Chosen now and sent with the form, so that a form sent twice refunds once.
    refund_id: String,
    errors: FieldErrors,
    reason_max: usize,
}

impl RefundPage {
    fn new(
        user: &SignedIn,
        link: &Link,
        payment: &Payment,
        values: RefundForm,
        errors: FieldErrors,
    ) -> RefundPage {
        let tz = user.user.time_zone;
        RefundPage {
            chrome: user.chrome("links"),
            link_id: link.id.clone(),
            description: link.description.clone().unwrap_or_default(),
            transaction_id: payment.id.clone(),
            action: refund_path(&link.id, &payment.id),
            card: match (&payment.brand, &payment.last4) {
                (Some(b), Some(l)) => format!("{b} •••• {l}"),
                _ => String::new(),
            },
            paid_on: display_time(payment.created_at, tz),
            paid: amount_text(payment.amount_minor, link.currency),
            refunded: amount_text(payment.refunded_minor(), link.currency),
            remaining: amount_text(payment.refundable_minor(), link.currency),
            currency: link.currency.code(),
            amount: values.amount.unwrap_or_default(),
            reason: values.reason.unwrap_or_default(),
            refund_id: values
                .refund_id
                .filter(|id| refund::is_refund_id(id))
                .unwrap_or_else(refund::new_refund_id),
            errors,
            reason_max: refund::REASON_MAX,
        }
    }
}

/// The confirmation form: fields named as the API's JSON fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundForm {
    amount: Option<String>,
    reason: Option<String>,
    refund_id: Option<String>,
}

/// The caller's link and its approved payment `transaction_id`, or 404.
async fn payment_of(
    user: &SignedIn,
    state: &AppState,
    link_id: &str,
    transaction_id: &str,
) -> Result<(Link, Payment), PageError> {
    let link = links::get(&state.db, user.merchant(), link_id)
        .await
        .map_err(|e| match e {
            LinkError::NotFound => PageError::NotFound,
            other => PageError::internal(other),
        })?;
    let payment = link
        .payments
        .iter()
        .find(|p| p.id == transaction_id && p.is_approved())
        .cloned()
        .ok_or(PageError::NotFound)?;
    Ok((link, payment))
}

fn back_to(user: &SignedIn, link_id: &str, flash: Flash) -> HttpResponse {
    set_flash(&user.session, flash);
    see_other(&format!("/links/{}", urlencode(link_id)))
}

const NOTHING_LEFT: &str = "Nothing is left to refund of this payment.";

async fn confirm(
    user: SignedIn,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    let (link_id, transaction_id) = path.into_inner();
    let (link, payment) = payment_of(&user, &state, &link_id, &transaction_id).await?;
    let remaining = payment.refundable_minor();
    if remaining == 0 {
        return Ok(back_to(&user, &link.id, Flash::error(NOTHING_LEFT)));
    }
    let values = RefundForm {
        amount: Some(money::format_decimal(remaining, link.currency)),
        ..Default::default()
    };
    let page = RefundPage::new(&user, &link, &payment, values, FieldErrors::default());
    html(StatusCode::OK, page)
}

async fn submit(
    user: SignedIn,
    path: web::Path<(String, String)>,
    Form(form): Form<RefundForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    let (link_id, transaction_id) = path.into_inner();
    let input = RefundInput {
        transaction_id: Some(transaction_id.clone()),
        // A blank amount is a mistake here, not "the rest": the form shows the rest.
        amount: Some(form.amount.clone().unwrap_or_default()),
        reason: form.reason.clone(),
        refund_id: form.refund_id.clone(),
        type_errors: Vec::new(),
    };
    let outcome = refund::refund(
        &state.db,
        state.acquirer.as_ref(),
        user.merchant(),
        &link_id,
        &input,
        &state.settings.public_url,
    )
    .await;
    let errors: Vec<FieldError> = match outcome {
        Ok(done) => {
            let text = format!(
                "Refunded {}. The link is {}.",
                amount_text(done.amount_minor, done.link.currency),
                done.link.stored_status.as_str()
            );
            return Ok(back_to(&user, &done.link.id, Flash::ok(text)));
        }
        Err(RefundError::NotFound) => return Err(PageError::NotFound),
        Err(RefundError::Invalid(errors)) => {
            if errors.iter().any(|e| e.field == "transactionId") {
                return Err(PageError::NotFound);
            }
            if errors.iter().any(|e| e.field == "refundId") {
                return Err(PageError::BadRequest("The form is not valid.".into()));
            }
            errors
        }
        Err(RefundError::Exceeds {
            remaining_minor: 0, ..
        }) => return Ok(back_to(&user, &link_id, Flash::error(NOTHING_LEFT))),
        Err(RefundError::Exceeds {
            remaining_minor,
            currency,
        }) => vec![field_error(
            "amount",
            "Max",
            format!(
                "At most {} is left to refund.",
                amount_text(remaining_minor, currency)
            ),
        )],
        Err(RefundError::Repeated(_)) => {
            return Ok(back_to(
                &user,
                &link_id,
                Flash::error(
                    "This refund form was sent already; nothing more was refunded. \
                     Open Refund again for another refund.",
                ),
            ))
        }
        Err(RefundError::Refused(_)) => {
            return Ok(back_to(
                &user,
                &link_id,
                Flash::error("The acquirer refused the refund. Nothing was refunded."),
            ))
        }
        Err(RefundError::Pending { .. }) => {
            return Ok(back_to(
                &user,
                &link_id,
                Flash::error(
                    "The acquirer did not answer. The refund is pending and will be retried \
                     automatically; do not send it again.",
                ),
            ))
        }
        Err(RefundError::Db(e)) => return Err(PageError::internal(e)),
    };
    // Show the form again with what was typed and why it was refused.
    let (link, payment) = payment_of(&user, &state, &link_id, &transaction_id).await?;
    let page = RefundPage::new(
        &user,
        &link,
        &payment,
        form,
        FieldErrors::from_list(&errors),
    );
    html(StatusCode::BAD_REQUEST, page)
}
