//! `POST /api/v1/pay-by-link/{id}/refunds`: refund an approved payment of a link.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::links::LinkView;
use super::{ApiError, Caller, ErrorEntry};
use crate::links::FieldError;
use crate::payments::refund::{self, field_error, RefundInput};
use crate::startup::AppState;

/// The body of a refund. Each field is kept as the JSON the client sent so that
/// a value of the wrong type is reported against its own field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundBody {
    /// The approved payment to refund; may be left out when the link has
    /// exactly one approved payment.
    #[schema(value_type = Option<String>, example = "Xk2f9QpL0aZ7mN3bV8cR")]
    transaction_id: Option<Value>,
    /// Greater than 0, with at most the currency's minor-unit digits, and at most
    /// what is left of the payment; left out, all that is left.
    #[schema(value_type = Option<f64>, example = 10.5)]
    amount: Option<Value>,
    /// Up to 255 characters, for the merchant's records.
    #[schema(value_type = Option<String>, example = "Returned one pair")]
    reason: Option<Value>,
}

impl RefundBody {
    fn into_input(self) -> RefundInput {
        let mut type_errors = Vec::new();
        let mut text = |value: Option<Value>, name: &str, number: bool| match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            // Decimal text is accepted for amounts too: it is exact where a float is not.
            Some(Value::Number(n)) if number => Some(n.to_string()),
            Some(_) => {
                type_errors.push(type_error(name, number));
                None
            }
        };
        RefundInput {
            transaction_id: text(self.transaction_id, "transactionId", false),
            amount: text(self.amount, "amount", true),
            reason: text(self.reason, "reason", false),
            refund_id: None,
            type_errors,
        }
    }
}

fn type_error(name: &str, number: bool) -> FieldError {
    let title = if number {
        "must be a number"
    } else {
        "must be a string"
    };
    field_error(name, "Type", title)
}

#[utoipa::path(
    post, path = "/api/v1/pay-by-link/{id}/refunds", tag = "Pay By Link",
    description = "Refunds an approved payment of the link through the acquirer, in part or in full. The refunds of a payment never add up to more than it, also under concurrent requests. A PAID link moves to PARTIALLY_REFUNDED, and to REFUNDED once all its approved payments are refunded in full; a link still CREATED keeps its status. Each refund sends a notification with refundedAmount and refundId.",
    params(("id" = String, Path, description = "Pay By Link identifier")),
    request_body = RefundBody,
    responses(
        (status = 200, body = LinkView, description = "The link, whose payment lists the refund"),
        (status = 400, body = super::error::ErrorList, description = "Invalid fields (pointers /transactionId, /amount, /reason), or more than is left of the payment (refund_exceeds_payment)"),
        (status = 401, body = super::error::StatusError),
        (status = 404, body = super::error::StatusError),
        (status = 502, body = super::error::StatusError, description = "The acquirer refused the refund; nothing was refunded"),
        (status = 503, body = super::error::StatusError, description = "The acquirer did not answer; the refund stays PENDING and is retried with the same reference, so it is never made twice"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    Caller(merchant): Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if !body.is_object() {
        return Err(ApiError::BadRequest(vec![ErrorEntry::at_pointer(
            "",
            "MalformedJson",
            "the body must be a JSON object",
        )]));
    }
    let request: RefundBody = serde_json::from_value(body).map_err(|e| {
        ApiError::BadRequest(vec![ErrorEntry::at_pointer(
            "",
            "MalformedJson",
            e.to_string(),
        )])
    })?;
    let refunded = refund::refund(
        &state.db,
        state.acquirer.as_ref(),
        merchant,
        &id,
        &request.into_input(),
        &state.settings.public_url,
    )
    .await?;
    Ok(HttpResponse::Ok().json(LinkView::new(
        &refunded.link,
        &state.settings.public_url,
        Utc::now(),
    )))
}
