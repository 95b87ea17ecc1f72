//! The shopper's side (CONTRACT section 6): the hosted payment page of a link,
//! its card form and the receipt. Handlers parse the request, call the
//! `payments` use cases and render a page in the shopper's language.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::web::{with_page_headers, PageError};

pub mod csrf;
pub mod i18n;
mod page;
mod pay;
mod receipt;
pub(crate) mod views;

use i18n::Tr;

/// The card form is small; anything larger is not a payment form.
const FORM_LIMIT: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/p/{code}", web::get().to(page::show))
        .service(
            web::resource("/p/{code}/pay")
                .app_data(
                    web::FormConfig::default()
                        .limit(FORM_LIMIT)
                        // A fixed message: the parser's error is not shown or logged.
                        .error_handler(|_, _| {
                            PageError::BadRequest("The payment form could not be read.".into())
                                .into()
                        }),
                )
                .route(web::post().to(pay::submit))
                // A reload or a typed address: back to the payment page.
                .default_service(web::to(pay::back_to_page)),
        )
        .route(
            "/p/{code}/receipt/{transaction_id}",
            web::get().to(receipt::show),
        );
}

/// Link codes are letters and digits (see `links::create`); anything else is
/// answered as an unknown link without asking the database.
fn valid_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `?lang=` of the request, if given.
fn requested_language(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.into_owned())
}

/// A rendered page with the page security headers. Payment pages carry a form
/// token or a receipt, so no cache may keep them.
fn html(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(PageError::internal)?;
    Ok(with_page_headers(
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
    ))
}

/// The 404 page of an unknown link: it says nothing about which links exist.
fn not_found(tr: Tr) -> Result<HttpResponse, PageError> {
    let page = views::MessagePage {
        status: 404,
        heading: tr.t("not-found-title"),
        text: tr.t("not-found-text"),
        back: None,
        tr,
    };
    html(StatusCode::NOT_FOUND, &page)
}
