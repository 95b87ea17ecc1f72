//! The API's one error type and the one place it becomes an HTTP answer, in the
//! two shapes of seed 001: a 400 with an `errors` list, and for other statuses
//! `{"timestamp","path","status","error","message"}`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth::AuthError;
use crate::links::{FieldError, LinkError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorEntry {
    pub code: String,
    pub source: ErrorSource,
    pub title: String,
}

/// Where an error is: a JSON pointer into the body, or a query parameter.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct ErrorSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorList {
    pub errors: Vec<ErrorEntry>,
}

/// The body of every non-400 error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusError {
    pub timestamp: String,
    pub path: String,
    pub status: u16,
    pub error: String,
    pub message: Option<String>,
}

impl ErrorEntry {
    pub fn at_pointer(pointer: &str, code: &str, title: impl Into<String>) -> ErrorEntry {
        ErrorEntry {
            code: code.to_string(),
            source: ErrorSource {
                pointer: Some(pointer.to_string()),
                parameter: None,
            },
            title: title.into(),
        }
    }

    pub fn at_parameter(parameter: &str, code: &str, title: impl Into<String>) -> ErrorEntry {
        ErrorEntry {
            code: code.to_string(),
            source: ErrorSource {
                pointer: None,
                parameter: Some(parameter.to_string()),
            },
            title: title.into(),
        }
    }

    /// A rule that is about the request as a whole (a refused transition).
    pub fn rule(code: &str, title: impl Into<String>) -> ErrorEntry {
        ErrorEntry {
            code: code.to_string(),
            source: ErrorSource::default(),
            title: title.into(),
        }
    }
}

impl From<&FieldError> for ErrorEntry {
    fn from(e: &FieldError) -> Self {
        ErrorEntry::at_pointer(&format!("/{}", e.field), &e.code, e.title.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    BadRequest(Vec<ErrorEntry>),
    #[error("unauthorized")]
    Unauthorized,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("conflict")]
    Conflict(ErrorEntry),
    #[error("payload too large")]
    TooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The payment processor refused the operation.
    #[error("bad gateway: {0}")]
    BadGateway(String),
    /// The payment processor did not answer.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Invalid(fields) => {
                ApiError::BadRequest(fields.iter().map(ErrorEntry::from).collect())
            }
            LinkError::ForeignMerchant => {
                ApiError::Forbidden("merchantId is not the merchant of this client".into())
            }
            LinkError::NotFound => ApiError::NotFound,
            LinkError::NotCancellable(s) => ApiError::BadRequest(vec![ErrorEntry::rule(
                "status_not_cancellable",
                format!(
                    "Current status {} does not allow the link to be cancelled",
                    s.as_str()
                ),
            )]),
            LinkError::NotUpdatable(s) => ApiError::BadRequest(vec![ErrorEntry::rule(
                "status_not_updatable",
                format!(
                    "Current status {} does not allow the link to be updated",
                    s.as_str()
                ),
            )]),
            LinkError::IdMismatch => ApiError::BadRequest(vec![ErrorEntry::at_pointer(
                "/id",
                "id_mismatch",
                "must match the id in the path",
            )]),
            LinkError::IdempotencyConflict => ApiError::Conflict(ErrorEntry::rule(
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request",
            )),
            LinkError::Db(e) => ApiError::internal(e),
        }
    }
}

impl From<crate::notifications::NotifyError> for ApiError {
    fn from(e: crate::notifications::NotifyError) -> Self {
        use crate::notifications::NotifyError;
        match e {
            NotifyError::NotFound => ApiError::NotFound,
            NotifyError::NoUrl => ApiError::BadRequest(vec![ErrorEntry::rule(
                "notification_uri_missing",
                "No notification URL is configured",
            )]),
            NotifyError::Db(e) => ApiError::internal(e),
        }
    }
}

impl From<crate::payments::RefundError> for ApiError {
    fn from(e: crate::payments::RefundError) -> Self {
        use crate::payments::RefundError;
        match e {
            RefundError::NotFound => ApiError::NotFound,
            RefundError::Invalid(fields) => {
                ApiError::BadRequest(fields.iter().map(ErrorEntry::from).collect())
            }
            RefundError::Exceeds {
                remaining_minor,
                currency,
            } => ApiError::BadRequest(vec![ErrorEntry::rule(
                "refund_exceeds_payment",
                format!(
                    "The refunds of a payment cannot add up to more than it: {} {} is left to refund",
                    crate::money::format_decimal(remaining_minor, currency),
                    currency.code()
                ),
            )]),
            RefundError::Refused(_) => ApiError::BadGateway(
                "The acquirer refused the refund; nothing was refunded".into(),
            ),
            RefundError::Pending { refund_id, .. } => ApiError::Unavailable(format!(
                "The acquirer did not answer. Refund {refund_id} is pending and will be retried; do not send it again"
            )),
            // The API chooses no refund id beforehand, so this is not expected.
            RefundError::Repeated(id) => ApiError::BadRequest(vec![ErrorEntry::rule(
                "refund_repeated",
                format!("Refund {id} was requested already"),
            )]),
            RefundError::Db(e) => ApiError::internal(e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::internal(e)
    }
}

/// Left in a response's extensions by [`ApiError`]; [`fill_error_path`] turns it
/// into the body once the request path is at hand.
#[derive(Clone)]
struct PendingStatusError(Option<String>);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::BadRequest(errors) => HttpResponse::build(status).json(ErrorList {
                errors: errors.clone(),
            }),
            ApiError::Conflict(entry) => HttpResponse::build(status).json(ErrorList {
                errors: vec![entry.clone()],
            }),
            other => {
                let message = match other {
                    ApiError::Forbidden(m) | ApiError::BadGateway(m) | ApiError::Unavailable(m) => {
                        Some(m.clone())
                    }
                    ApiError::TooLarge => Some("The request body is larger than 64 KiB".into()),
                    ApiError::Unauthorized => Some("A valid bearer token is required".into()),
                    ApiError::Internal(detail) => {
                        // The cause goes to the log, never to the client.
                        tracing::error!(error = %detail, "internal error");
                        None
                    }
                    _ => None,
                };
                let mut res = HttpResponse::build(status);
                if matches!(other, ApiError::Unauthorized) {
                    res.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
                }
                let mut res = res.finish();
                res.extensions_mut().insert(PendingStatusError(message));
                res
            }
        }
    }
}

/// Middleware on the API scope: writes the body of non-400 errors, which needs
/// the request path.
pub async fn fill_error_path(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?.map_into_boxed_body();
    let pending = res
        .response()
        .extensions()
        .get::<PendingStatusError>()
        .cloned();
    let Some(PendingStatusError(message)) = pending else {
        return Ok(res);
    };
    let status = res.status();
    let body = StatusError {
        timestamp: crate::links::format_time(chrono::Utc::now()),
        path: res.request().path().to_string(),
        status: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error").to_string(),
        message,
    };
    Ok(res.map_body(|head, _| {
        head.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        BoxBody::new(serde_json::to_string(&body).unwrap_or_default())
    }))
}
