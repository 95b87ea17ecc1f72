//! `/api/v1/notification-settings`: the merchant's notification URL.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::Value;

use super::{ApiError, Caller, ErrorEntry};
use crate::notifications;
use crate::startup::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationSettings {
    notification_uri: Option<String>,
}

#[utoipa::path(
    get, path = "/api/v1/notification-settings", tag = "Notification",
    responses((status = 200, body = NotificationSettings), (status = 401, body = super::error::StatusError)),
    security(("bearer" = []))
)]
pub async fn get_notification_settings(
    Caller(merchant): Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let m = crate::merchants::get(&state.db, merchant)
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(NotificationSettings {
        notification_uri: m.notification_uri,
    }))
}

const FIELD: &str = "merchantNotificationConfigurationDto.notificationUri";

#[utoipa::path(
    post, path = "/api/v1/notification-settings", tag = "Notification",
    description = "Saves the URL every later notification goes to, also for links created before. It must be http or https and, unless PAYBYLINK_ALLOW_PRIVATE_WEBHOOKS is set, resolve only to public addresses.",
    request_body = NotificationSettings,
    responses(
        (status = 200, body = NotificationSettings),
        (status = 400, body = super::error::ErrorList),
        (status = 401, body = super::error::StatusError),
    ),
    security(("bearer" = []))
)]
pub async fn save_notification_settings(
    Caller(merchant): Caller,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let uri = match body.get("notificationUri") {
        None | Some(Value::Null) => {
            return Err(ApiError::BadRequest(vec![ErrorEntry::at_pointer(
                "/notificationUri",
                &format!("NotNull.{FIELD}"),
                "must not be null",
            )]))
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ApiError::BadRequest(vec![ErrorEntry::at_pointer(
                "/notificationUri",
                &format!("Type.{FIELD}"),
                "must be a string",
            )]))
        }
    };
    let url = notifications::check_url(&uri, state.settings.allow_private_webhooks)
        .await
        .map_err(|e| {
            ApiError::BadRequest(vec![ErrorEntry::at_pointer(
                "/notificationUri",
                &format!("Invalid.{FIELD}"),
                e.to_string(),
            )])
        })?;
    state
        .db
        .set_notification_uri(merchant, Some(url.as_str()))
        .await?;
    Ok(HttpResponse::Ok().json(NotificationSettings {
        notification_uri: Some(url.to_string()),
    }))
}
