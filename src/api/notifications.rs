//! `/api/v1/notifications`: the caller's notification events with their payloads
//! and delivery state, for catching up after an outage, and re-sending one.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{ApiError, Caller, ErrorEntry};
use crate::links::format_time;
use crate::notifications::{self, Attempt, DeliveryStatus, Event, EventCursor, EventQuery};
use crate::startup::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    attempted_at: String,
    duration_ms: i64,
    /// The URL it was sent to; null when no URL was configured.
    url: Option<String>,
    /// The receiver's HTTP status, when it answered.
    status_code: Option<u16>,
    /// Why it failed, when it did.
    error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    status: DeliveryStatus,
    /// While pending: when the next attempt is made.
    next_attempt_at: Option<String>,
    delivered_at: Option<String>,
    /// Every attempt, oldest first.
    attempts: Vec<AttemptView>,
}

/// A notification event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// The event id, sent as `webhook-id` with every attempt.
    id: String,
    /// The Pay By Link identifier.
    link_id: String,
    /// The link status the notification announces.
    status: String,
    created_at: String,
    /// The notification body, as sent.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
    delivery: DeliveryView,
}

fn attempt_view(a: &Attempt) -> AttemptView {
    AttemptView {
        attempted_at: format_time(a.at),
        duration_ms: a.duration_ms,
        url: a.url.clone(),
        status_code: a.status_code,
        error: a.error.clone(),
    }
}

impl NotificationView {
    fn new(e: &Event) -> NotificationView {
        NotificationView {
            id: e.id.clone(),
            link_id: e.link_id.clone(),
            status: e.link_status.clone(),
            created_at: format_time(e.created_at),
            payload: serde_json::from_str(&e.payload)
                .unwrap_or_else(|_| serde_json::Value::String(e.payload.clone())),
            delivery: DeliveryView {
                status: e.delivery,
                next_attempt_at: e.next_attempt_at.map(format_time),
                delivered_at: e.delivered_at.map(format_time),
                attempts: e.attempts.iter().map(attempt_view).collect(),
            },
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPage {
    items: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

fn parse_query(query: &str) -> Result<EventQuery, ApiError> {
    let mut q = EventQuery {
        limit: notifications::DEFAULT_PAGE,
        ..Default::default()
    };
    let mut errors = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "status" => match DeliveryStatus::parse(&v) {
                Some(s) => q.status = Some(s),
                None => errors.push(ErrorEntry::at_parameter(
                    "status",
                    "Invalid",
                    "must be pending, delivered or failed",
                )),
            },
            "since" => match DateTime::parse_from_rfc3339(&v) {
                Ok(t) => q.since = Some(t.with_timezone(&Utc)),
                Err(_) => errors.push(ErrorEntry::at_parameter(
                    "since",
                    "Pattern",
                    "must be an ISO 8601 date-time with offset",
                )),
            },
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=notifications::MAX_PAGE).contains(&n) => q.limit = n,
                _ => errors.push(ErrorEntry::at_parameter(
                    "limit",
                    "Range",
                    format!("must be between 1 and {}", notifications::MAX_PAGE),
                )),
            },
            "cursor" => match EventCursor::decode(&v) {
                Some(c) => q.after = Some(c),
                None => errors.push(ErrorEntry::at_parameter(
                    "cursor",
                    "Invalid",
                    "is not a cursor from this API",
                )),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(q)
    } else {
        Err(ApiError::BadRequest(errors))
    }
}

#[utoipa::path(
    get, path = "/api/v1/notifications", tag = "Notification",
    description = "The caller's notification events, oldest first, with their payloads and delivery state, a page at a time by cursor. After an outage longer than the retry schedule, list `status=failed` events `since` the outage began and process their payloads, or re-send them.",
    params(
        ("status" = Option<DeliveryStatus>, Query, description = "pending, delivered or failed"),
        ("since" = Option<String>, Query, format = DateTime, description = "Only events created at or after this time"),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page"),
    ),
    responses(
        (status = 200, body = NotificationPage),
        (status = 400, body = super::error::ErrorList),
        (status = 401, body = super::error::StatusError),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    req: HttpRequest,
    Caller(merchant): Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = parse_query(req.query_string())?;
    let page = notifications::list(&state.db, merchant, &query).await?;
    Ok(HttpResponse::Ok().json(NotificationPage {
        items: page.items.iter().map(NotificationView::new).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

#[utoipa::path(
    post, path = "/api/v1/notifications/{id}/resend", tag = "Notification",
    description = "Queues a failed or delivered notification again: it is sent at once, to the URL configured now, with a fresh retry schedule. A pending one is left as it is.",
    params(("id" = String, Path, description = "Notification event id (its webhook-id)")),
    responses(
        (status = 200, body = NotificationView),
        (status = 401, body = super::error::StatusError),
        (status = 404, body = super::error::StatusError),
    ),
    security(("bearer" = []))
)]
pub async fn resend(
    Caller(merchant): Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let event = notifications::resend(&state.db, merchant, &id, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(NotificationView::new(&event)))
}
