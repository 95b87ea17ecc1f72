//! `GET /p/{code}`: the payment page.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;

use super::i18n::Tr;
use super::views::{FormState, PaymentPage};
use super::{csrf, html, not_found, requested_language, valid_code};
use crate::links::{Language, Status};
use crate::payments;
use crate::startup::AppState;
use crate::web::PageError;

#[tracing::instrument(skip_all)]
pub async fn show(
    req: HttpRequest,
    code: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let lang = requested_language(&req);
    if !valid_code(&code) {
        return not_found(Tr::choose(lang.as_deref(), Language::En));
    }
    let Some(checkout) = payments::checkout(&state.db, &code)
        .await
        .map_err(PageError::internal)?
    else {
        return not_found(Tr::choose(lang.as_deref(), Language::En));
    };
    let tr = Tr::choose(lang.as_deref(), checkout.link.language);
    let now = Utc::now();
    let page = match checkout.link.status_at(now) {
        Status::Created => {
            let token = csrf::issue(&state.secret_key, &checkout.link.url_code, now);
            PaymentPage::payable(tr, &checkout, token, FormState::default())
        }
        closed => PaymentPage::closed(tr, &checkout, closed, false),
    };
    html(StatusCode::OK, &page)
}
