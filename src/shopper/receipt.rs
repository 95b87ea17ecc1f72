//! `GET /p/{code}/receipt/{transaction_id}`: the receipt of an approved payment.
//! The transaction id is random (about 119 bits), so the address is known only
//! to whoever paid and to the merchant.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::i18n::Tr;
use super::views::ReceiptPage;
use super::{html, not_found, requested_language, valid_code};
use crate::links::Language;
use crate::payments;
use crate::startup::AppState;
use crate::web::PageError;

#[tracing::instrument(skip_all)]
pub async fn show(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (code, transaction_id) = path.into_inner();
    let lang = requested_language(&req);
    if !valid_code(&code) || !valid_code(&transaction_id) {
        return not_found(Tr::choose(lang.as_deref(), Language::En));
    }
    match payments::receipt(&state.db, &code, &transaction_id)
        .await
        .map_err(PageError::internal)?
    {
        Some((checkout, payment)) => {
            let tr = Tr::choose(lang.as_deref(), checkout.link.language);
            html(StatusCode::OK, &ReceiptPage::new(tr, &checkout, &payment))
        }
        None => not_found(Tr::choose(lang.as_deref(), Language::En)),
    }
}
