//! The REST API of CONTRACT section 5, compatible with the seed's Pay By Link API.
//! Handlers parse the request, call the `links`/`auth` use cases and render; the
//! rules live in those modules.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::{middleware, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::merchants::MerchantId;
use crate::startup::AppState;

pub mod error;
pub mod links;
pub mod notifications;
pub mod oauth;
pub mod openapi;
pub mod refunds;
pub mod settings;

pub use error::{ApiError, ErrorEntry};

/// Request bodies above this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The merchant an API request acts for, from its bearer token.
pub struct Caller(pub MerchantId);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string());
        Box::pin(async move {
            let (Some(state), Some(token)) = (state, token) else {
                return Err(ApiError::Unauthorized);
            };
            match crate::auth::merchant_for_token(&state.db, &token, chrono::Utc::now()).await? {
                Some(merchant) => Ok(Caller(merchant)),
                None => Err(ApiError::Unauthorized),
            }
        })
    }
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    match err {
        JsonPayloadError::Overflow { .. }
        | JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::TooLarge.into(),
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(vec![ErrorEntry::at_pointer(
            "",
            "MalformedJson",
            format!("malformed JSON: {e}"),
        )])
        .into(),
        other => ApiError::BadRequest(vec![ErrorEntry::at_pointer(
            "",
            "MalformedJson",
            other.to_string(),
        )])
        .into(),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/token").route(web::post().to(oauth::token)))
        .service(
            web::scope("/api/v1")
                .wrap(middleware::from_fn(error::fill_error_path))
                .app_data(
                    web::JsonConfig::default()
                        .limit(BODY_LIMIT)
                        .content_type_required(false)
                        .error_handler(json_error),
                )
                .route("/openapi.json", web::get().to(openapi::document))
                .service(
                    web::resource("/pay-by-link")
                        .route(web::post().to(links::create))
                        .route(web::get().to(links::list)),
                )
                .service(
                    web::resource("/pay-by-link/{id}")
                        .route(web::get().to(links::get))
                        .route(web::post().to(links::update))
                        .route(web::put().to(links::update)),
                )
                .route("/pay-by-link/{id}/cancel", web::post().to(links::cancel))
                .route("/pay-by-link/{id}/refunds", web::post().to(refunds::create))
                .service(
                    web::resource("/notification-settings")
                        .route(web::get().to(settings::get_notification_settings))
                        .route(web::post().to(settings::save_notification_settings)),
                )
                .route("/notifications", web::get().to(notifications::list))
                .route(
                    "/notifications/{id}/resend",
                    web::post().to(notifications::resend),
                )
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::NotFound)
                })),
        );
}
