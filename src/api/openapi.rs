//! The OpenAPI 3 document, generated from the handlers' annotations and the
//! request and response types themselves.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "paybylink API", description = "Pay By Link: create payment links, follow their status, configure notifications. Compatible with the Addon Payments Pay By Link API."),
    paths(
        super::oauth::token,
        super::links::create,
        super::links::get,
        super::links::update,
        super::links::cancel,
        super::links::list,
        super::refunds::create,
        super::settings::get_notification_settings,
        super::settings::save_notification_settings,
        super::notifications::list,
        super::notifications::resend,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
