//! `POST /p/{code}/pay`: the card form. A valid form token first, then the pay use
//! case; an approved payment redirects to its receipt, anything else shows the
//! page again with the reason, keeping the name and expiry but never the card
//! number or the security code.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use super::i18n::Tr;
use super::views::{FormState, Kept, MessagePage, PaymentPage};
use super::{csrf, html, not_found, requested_language, valid_code};
use crate::links::{Language, Status};
use crate::money::Currency;
use crate::payments::{self, CardInput, PayError, PayRequest};
use crate::startup::AppState;
use crate::web::PageError;

/// The posted form. Deliberately without `Debug`: it holds the card number.
#[derive(Deserialize)]
pub struct PayForm {
    #[serde(rename = "cardNumber")]
    card_number: Option<String>,
    expiry: Option<String>,
    cvc: Option<String>,
    cardholder: Option<String>,
    csrf: Option<String>,
    /// `"{minor units} {currency}"` as the page showed it.
    #[serde(rename = "shownAmount")]
    shown_amount: Option<String>,
}

fn parse_shown_amount(text: &str) -> Option<(i64, Currency)> {
    let (minor, currency) = text.trim().split_once(' ')?;
    Some((minor.parse().ok()?, Currency::parse(currency)?))
}

#[tracing::instrument(skip_all)]
pub async fn submit(
    req: HttpRequest,
    code: web::Path<String>,
    form: web::Form<PayForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let code = code.into_inner();
    let lang = requested_language(&req);
    let form = form.into_inner();
    if !valid_code(&code) {
        return not_found(Tr::choose(lang.as_deref(), Language::En));
    }
    let token = form.csrf.as_deref().unwrap_or_default();
    if let Err(rejected) = csrf::verify(&state.secret_key, &code, token, Utc::now()) {
        tracing::warn!(?rejected, "payment form refused: bad or expired form token");
        let tr = Tr::choose(lang.as_deref(), Language::En);
        let page = MessagePage {
            status: 403,
            heading: tr.t("expired-form-title"),
            text: tr.t("expired-form-text"),
            back: Some(format!("/p/{code}?lang={}", tr.code())),
            tr,
        };
        return html(StatusCode::FORBIDDEN, &page);
    }

    let input = CardInput {
        number: form.card_number.unwrap_or_default(),
        expiry: form.expiry.unwrap_or_default(),
        cvc: form.cvc.unwrap_or_default(),
        holder: form.cardholder.unwrap_or_default(),
    };
    let request = PayRequest {
        code: &code,
        card: &input,
        shown_amount: form.shown_amount.as_deref().and_then(parse_shown_amount),
    };
    let result = payments::pay(
        &state.db,
        state.acquirer.as_ref(),
        &request,
        &state.settings.public_url,
        state.outbox(),
    )
    .await;

    let mut form_state = FormState {
        kept: Kept::new(&input.holder, &input.expiry),
        ..FormState::default()
    };
    let status = match result {
        Ok(paid) => {
            let tr = Tr::choose(lang.as_deref(), paid.link.language);
            let receipt = format!(
                "/p/{}/receipt/{}?lang={}",
                paid.link.url_code,
                paid.payment.id,
                tr.code()
            );
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, receipt))
                .finish());
        }
        Err(PayError::NotFound) => return not_found(Tr::choose(lang.as_deref(), Language::En)),
        Err(PayError::Db(e)) => return Err(PageError::internal(e)),
        Err(PayError::Invalid(errors)) => {
            form_state.errors = errors;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(PayError::Declined) => {
            form_state.message = Some("declined");
            StatusCode::PAYMENT_REQUIRED
        }
        Err(PayError::TooManyDeclines) => {
            form_state.message = Some("locked");
            StatusCode::TOO_MANY_REQUESTS
        }
        Err(PayError::Busy) => {
            form_state.message = Some("busy");
            StatusCode::TOO_MANY_REQUESTS
        }
        Err(PayError::AmountChanged) => {
            form_state.message = Some("amount-changed");
            StatusCode::CONFLICT
        }
        Err(PayError::Acquirer(_)) => {
            form_state.message = Some("acquirer-unavailable");
            StatusCode::SERVICE_UNAVAILABLE
        }
        // Shown below from the link's current state.
        Err(PayError::Closed(_)) => StatusCode::CONFLICT,
    };

    // The page again, as the link is now.
    let Some(checkout) = payments::checkout(&state.db, &code)
        .await
        .map_err(PageError::internal)?
    else {
        return not_found(Tr::choose(lang.as_deref(), Language::En));
    };
    let tr = Tr::choose(lang.as_deref(), checkout.link.language);
    let now = Utc::now();
    match checkout.link.status_at(now) {
        Status::Created => {
            let token = csrf::issue(&state.secret_key, &checkout.link.url_code, now);
            html(
                status,
                &PaymentPage::payable(tr, &checkout, token, form_state),
            )
        }
        closed => html(
            StatusCode::CONFLICT,
            &PaymentPage::closed(tr, &checkout, closed, true),
        ),
    }
}

/// Any other method on the form's address goes back to the payment page.
pub async fn back_to_page(req: HttpRequest, code: web::Path<String>) -> HttpResponse {
    let query = match req.query_string() {
        "" => String::new(),
        q => format!("?{q}"),
    };
    let location = if valid_code(&code) {
        format!("/p/{code}{query}")
    } else {
        "/".to_string()
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
