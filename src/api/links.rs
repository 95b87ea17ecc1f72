//! `/api/v1/pay-by-link`: create, read, update, cancel and list links.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, Caller, ErrorEntry};
use crate::links::{
    self, AdditionalInput, Created, DisplayOn, FieldError, Idempotency, Language, Link, LinkInput,
    ListQuery, Status, TaxInput,
};
use crate::startup::AppState;

/// The body of create and update. Each field is kept as the JSON the client sent
/// so that a value of the wrong type is reported against its own field, together
/// with every other mistake, instead of failing the whole body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    /// Only on update: must equal the id in the path.
    #[schema(value_type = Option<String>)]
    id: Option<Value>,
    /// Greater than 0, with at most the currency's minor-unit digits.
    #[schema(value_type = f64, example = 32.99)]
    amount: Option<Value>,
    /// ISO 4217 alpha-3 code in use.
    #[schema(value_type = String, example = "EUR")]
    currency: Option<Value>,
    /// ISO 3166-1 alpha-2 code.
    #[schema(value_type = String, example = "GB")]
    country: Option<Value>,
    /// Must be the merchant of the calling client.
    #[schema(value_type = i64, example = 10450)]
    merchant_id: Option<Value>,
    /// A product of that merchant.
    #[schema(value_type = i64, example = 104500001)]
    product_id: Option<Value>,
    /// 1 to 45 characters.
    #[schema(value_type = String, example = "1234abcd567efg")]
    merchant_transaction_id: Option<Value>,
    /// Up to 1,000 characters.
    #[schema(value_type = Option<String>)]
    description: Option<Value>,
    /// Up to 100 characters; `PBL.<uuid>` when absent.
    #[schema(value_type = Option<String>)]
    customer_id: Option<Value>,
    /// ISO 8601 date-time with offset, in the future; 30 days ahead when absent.
    #[schema(value_type = Option<String>, format = DateTime)]
    due_date: Option<Value>,
    /// Hosted page language.
    #[schema(value_type = Option<Language>)]
    language: Option<Value>,
    /// Up to 250 characters matching `^([a-zA-Z0-9-]+:[a-zA-Z0-9-]+;?)+$`.
    #[schema(value_type = Option<String>)]
    merchant_params: Option<Value>,
    /// `^[0-9]{4}[a-zA-Z0-9]{0,8}$`; copied from merchantTransactionId when absent and it matches.
    #[schema(value_type = Option<String>)]
    reference_id: Option<Value>,
    /// Deprecated; up to 12 characters, stored and echoed.
    #[schema(value_type = Option<String>, deprecated)]
    code: Option<Value>,
    /// Approved payments the link takes, 1 to 10,000, or `null` for unlimited; 1 when absent.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 10000)]
    payments_allowed: Option<Value>,
    /// 1 to 525,600: the due date is this many minutes after now. Not with `dueDate`.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 525600)]
    expiration_in_minute: Option<Value>,
    /// This link's notifications go here instead of the merchant's URL.
    #[schema(value_type = Option<String>)]
    notification_url: Option<Value>,
    /// The shopper's email address.
    #[schema(value_type = Option<String>, format = Email)]
    customer_email: Option<Value>,
    /// Send the link to `customerEmail` (required then) and `receiverEmails` at creation.
    #[schema(value_type = Option<bool>)]
    send_by_email: Option<Value>,
    /// Up to 10 further addresses that receive the link.
    #[schema(value_type = Option<Vec<String>>)]
    receiver_emails: Option<Value>,
    /// Up to 10 taxes included in the amount, in its currency; they add up to at most the amount.
    #[schema(value_type = Option<Vec<TaxView>>)]
    taxes: Option<Value>,
    /// Card brands accepted (`visa`, `master`, `amex`); absent or empty: all.
    #[schema(value_type = Option<Vec<String>>)]
    allowed_payment_methods: Option<Value>,
    /// Up to 20 fields of the merchant's own, keywords unique.
    #[schema(value_type = Option<Vec<AdditionalView>>)]
    additional: Option<Value>,
}

/// Keeps an explicit `null` apart from an absent field (`paymentsAllowed: null`
/// means unlimited, absent means one payment).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Number,
    Boolean,
}

/// Turns one JSON value into the text the validator reads, or a type error.
fn field(
    value: &Option<Value>,
    name: &str,
    kind: Kind,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let v = value.as_ref()?;
    let text = match (kind, v) {
        (_, Value::Null) => return None,
        (Kind::Text, Value::String(s)) => Some(s.clone()),
        (Kind::Integer, Value::Number(n)) if n.is_i64() => Some(n.to_string()),
        (Kind::Integer, Value::String(s))
            if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() =>
        {
            Some(s.clone())
        }
        // Decimal text is accepted for amounts too: it is exact where a float is not.
        (Kind::Number, Value::Number(n)) => Some(n.to_string()),
        (Kind::Number, Value::String(s)) => Some(s.clone()),
        (Kind::Boolean, Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    };
    if text.is_none() {
        let title = match kind {
            Kind::Text => "must be a string",
            Kind::Integer => "must be an integer",
            Kind::Number => "must be a number",
            Kind::Boolean => "must be true or false",
        };
        errors.push(FieldError::new(name, "Type", title));
    }
    text
}

/// The elements of a JSON array, or a type error against the field; `null` and
/// absent are an empty list.
fn json_list<'a>(
    value: &'a Option<Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> &'a [Value] {
    match value {
        None | Some(Value::Null) => &[],
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.push(FieldError::new(name, "Type", "must be an array"));
            &[]
        }
    }
}

/// An array of strings, each checked like [`field`] at `name/index`.
fn texts(value: &Option<Value>, name: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    let items = json_list(value, name, errors).to_vec();
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            field(&Some(v.clone()), &format!("{name}/{i}"), Kind::Text, errors).unwrap_or_default()
        })
        .collect()
}

/// An array of objects; each element's members are read by `read` with the
/// element's pointer prefix.
fn records<T>(
    value: &Option<Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
    read: impl Fn(&serde_json::Map<String, Value>, &str, &mut Vec<FieldError>) -> T,
) -> Vec<T>
where
    T: Default,
{
    let items = json_list(value, name, errors).to_vec();
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(map) => read(map, &format!("{name}/{i}"), errors),
            _ => {
                errors.push(FieldError::new(
                    &format!("{name}/{i}"),
                    "Type",
                    "must be an object",
                ));
                T::default()
            }
        })
        .collect()
}

fn member(
    map: &serde_json::Map<String, Value>,
    at: &str,
    key: &str,
    kind: Kind,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    field(&map.get(key).cloned(), &format!("{at}/{key}"), kind, errors)
}

impl LinkRequest {
    fn into_input(self) -> LinkInput {
        let mut e = Vec::new();
        let payments_allowed = match &self.payments_allowed {
            Some(Value::Null) => Some("unlimited".to_string()),
            other => field(other, "paymentsAllowed", Kind::Integer, &mut e),
        };
        let receiver_emails = texts(&self.receiver_emails, "receiverEmails", &mut e);
        let allowed_payment_methods = texts(
            &self.allowed_payment_methods,
            "allowedPaymentMethods",
            &mut e,
        );
        let taxes = records(&self.taxes, "taxes", &mut e, |m, at, e| TaxInput {
            kind: member(m, at, "kind", Kind::Text, e),
            amount: member(m, at, "amount", Kind::Number, e),
            base: member(m, at, "base", Kind::Number, e),
        });
        let additional = records(&self.additional, "additional", &mut e, |m, at, e| {
            AdditionalInput {
                keyword: member(m, at, "keyword", Kind::Text, e),
                value: member(m, at, "value", Kind::Text, e),
                display_on: member(m, at, "displayOn", Kind::Text, e),
            }
        });
        LinkInput {
            payments_allowed,
            expiration_in_minute: field(
                &self.expiration_in_minute,
                "expirationInMinute",
                Kind::Integer,
                &mut e,
            ),
            notification_url: field(
                &self.notification_url,
                "notificationUrl",
                Kind::Text,
                &mut e,
            ),
            customer_email: field(&self.customer_email, "customerEmail", Kind::Text, &mut e),
            send_by_email: field(&self.send_by_email, "sendByEmail", Kind::Boolean, &mut e),
            receiver_emails,
            taxes,
            allowed_payment_methods,
            additional,
            id: field(&self.id, "id", Kind::Text, &mut e),
            amount: field(&self.amount, "amount", Kind::Number, &mut e),
            currency: field(&self.currency, "currency", Kind::Text, &mut e),
            country: field(&self.country, "country", Kind::Text, &mut e),
            merchant_id: field(&self.merchant_id, "merchantId", Kind::Integer, &mut e),
            product_id: field(&self.product_id, "productId", Kind::Integer, &mut e),
            merchant_transaction_id: field(
                &self.merchant_transaction_id,
                "merchantTransactionId",
                Kind::Text,
                &mut e,
            ),
            description: field(&self.description, "description", Kind::Text, &mut e),
            customer_id: field(&self.customer_id, "customerId", Kind::Text, &mut e),
            due_date: field(&self.due_date, "dueDate", Kind::Text, &mut e),
            language: field(&self.language, "language", Kind::Text, &mut e),
            merchant_params: field(&self.merchant_params, "merchantParams", Kind::Text, &mut e),
            reference_id: field(&self.reference_id, "referenceId", Kind::Text, &mut e),
            code: field(&self.code, "code", Kind::Text, &mut e),
            type_errors: e,
        }
    }
}

fn parse_body(body: Value) -> Result<LinkInput, ApiError> {
    if !body.is_object() {
        return Err(ApiError::BadRequest(vec![ErrorEntry::at_pointer(
            "",
            "MalformedJson",
            "the body must be a JSON object",
        )]));
    }
    let req: LinkRequest = serde_json::from_value(body).map_err(|e| {
        ApiError::BadRequest(vec![ErrorEntry::at_pointer(
            "",
            "MalformedJson",
            e.to_string(),
        )])
    })?;
    Ok(req.into_input())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// At most 20 characters.
    transaction_id: String,
    /// PENDING (waiting for the acquirer), APPROVED (it paid the link; refunds do
    /// not change it), DECLINED, VOIDED (authorised after the link closed; the hold
    /// was released) or FAILED.
    #[schema(example = "APPROVED")]
    status: String,
    #[schema(value_type = f64)]
    amount: serde_json::Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    brand: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last4: Option<String>,
    created_at: String,
    /// What the acquirer has refunded of this payment so far.
    #[schema(value_type = f64, example = 10.5)]
    refunded_amount: serde_json::Number,
    /// Its refunds, oldest first.
    refunds: Vec<RefundView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    id: String,
    #[schema(value_type = f64, example = 10.5)]
    amount: serde_json::Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// PENDING (waiting for the acquirer; its amount is held), SUCCEEDED or
    /// FAILED (refused; nothing was refunded).
    #[schema(example = "SUCCEEDED")]
    status: &'static str,
    created_at: String,
}

/// A link as the API returns it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    id: String,
    merchant_id: i64,
    product_id: i64,
    #[schema(value_type = f64, example = 32.99)]
    amount: serde_json::Number,
    currency: &'static str,
    country: String,
    status: Status,
    /// Where the shopper pays.
    url: String,
    /// The API address that cancels this link (as IXOPAY returns it).
    cancel_url: String,
    merchant_transaction_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    customer_id: String,
    due_date: String,
    language: Language,
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_params: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    paid_at: Option<String>,
    /// Approved payments the link takes; `null`: unlimited.
    payments_allowed: Option<i64>,
    /// Approved payments it still takes; `null`: unlimited.
    available_payments: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_email: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    send_by_email: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    receiver_emails: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    taxes: Vec<TaxView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    allowed_payment_methods: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    additional: Vec<AdditionalView>,
    payments: Vec<PaymentView>,
}

/// A tax included in the link's amount.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaxView {
    /// valueAddedTax, exciseDuty, municipalTax, stateTax, airportTax, salesTax or other.
    #[schema(example = "valueAddedTax")]
    kind: String,
    #[schema(value_type = f64)]
    amount: serde_json::Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    base: Option<serde_json::Number>,
}

/// A field of the merchant's own, shown to the shopper where `displayOn` says.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalView {
    keyword: String,
    value: String,
    display_on: DisplayOn,
}

impl LinkView {
    pub fn new(link: &Link, public_url: &str, now: DateTime<Utc>) -> LinkView {
        LinkView {
            id: link.id.clone(),
            merchant_id: link.merchant_id.0,
            product_id: link.product_id.0,
            amount: crate::money::to_json_number(link.amount_minor, link.currency),
            currency: link.currency.code(),
            country: link.country.clone(),
            status: link.status_at(now),
            url: link.url(public_url),
            cancel_url: format!(
                "{}/api/v1/pay-by-link/{}/cancel",
                public_url.trim_end_matches('/'),
                link.id
            ),
            merchant_transaction_id: link.merchant_transaction_id.clone(),
            description: link.description.clone(),
            customer_id: link.customer_id.clone(),
            due_date: links::format_time(link.due_date),
            language: link.language,
            merchant_params: link.merchant_params.clone(),
            reference_id: link.reference_id.clone(),
            code: link.code.clone(),
            created_at: links::format_time(link.created_at),
            updated_at: links::format_time(link.updated_at),
            paid_at: link.paid_at.map(links::format_time),
            payments_allowed: link.payments_allowed,
            available_payments: link.available_payments(),
            notification_url: link.notification_url.clone(),
            customer_email: link.customer_email.clone(),
            send_by_email: link.send_by_email,
            receiver_emails: link.receiver_emails.clone(),
            taxes: link
                .taxes
                .iter()
                .map(|t| TaxView {
                    kind: t.kind.clone(),
                    amount: crate::money::to_json_number(t.amount_minor, link.currency),
                    base: t
                        .base_minor
                        .map(|b| crate::money::to_json_number(b, link.currency)),
                })
                .collect(),
            allowed_payment_methods: link
                .allowed_payment_methods
                .iter()
                .map(|b| b.as_str())
                .collect(),
            additional: link
                .additional
                .iter()
                .map(|a| AdditionalView {
                    keyword: a.keyword.clone(),
                    value: a.value.clone(),
                    display_on: a.display_on,
                })
                .collect(),
            payments: link
                .payments
                .iter()
                .map(|p| PaymentView {
                    transaction_id: p.id.clone(),
                    status: p.status.clone(),
                    amount: crate::money::to_json_number(p.amount_minor, link.currency),
                    brand: p.brand.clone(),
                    last4: p.last4.clone(),
                    created_at: links::format_time(p.created_at),
                    refunded_amount: crate::money::to_json_number(
                        p.refunded_minor(),
                        link.currency,
                    ),
                    refunds: p
                        .refunds
                        .iter()
                        .map(|r| RefundView {
                            id: r.id.clone(),
                            amount: crate::money::to_json_number(r.amount_minor, link.currency),
                            reason: r.reason.clone(),
                            status: r.status.as_str(),
                            created_at: links::format_time(r.created_at),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

fn ok_link(link: &Link, state: &AppState) -> HttpResponse {
    HttpResponse::Ok().json(LinkView::new(link, &state.settings.public_url, Utc::now()))
}

const MAX_IDEMPOTENCY_KEY: usize = 255;

#[utoipa::path(
    post, path = "/api/v1/pay-by-link", tag = "Pay By Link",
    request_body = LinkRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key and body returns the first answer and creates nothing; another body → 409")),
    responses(
        (status = 200, body = LinkView, description = "The created link"),
        (status = 400, body = super::error::ErrorList, description = "Invalid fields, all of them"),
        (status = 401, body = super::error::StatusError),
        (status = 403, body = super::error::StatusError, description = "merchantId is not the caller's"),
        (status = 409, body = super::error::ErrorList, description = "Idempotency-Key reused with another body"),
        (status = 413, body = super::error::StatusError),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    Caller(merchant): Caller,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Some(k.to_string()),
            _ => {
                return Err(ApiError::BadRequest(vec![ErrorEntry::at_parameter(
                    "Idempotency-Key",
                    "Size.idempotencyKey",
                    format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
                )]))
            }
        },
    };
    // serde_json keeps object keys sorted, so this text is canonical: the same
    // request with its keys in another order is still the same request.
    let request_hash = crate::random::sha256_hex(&body.to_string());
    let input = parse_body(body)?;
    let now = Utc::now();
    let public_url = state.settings.public_url.clone();
    let render = move |link: &Link| {
        serde_json::to_string(&LinkView::new(link, &public_url, link.created_at))
            .unwrap_or_default()
    };
    let idempotency = key.as_deref().map(|key| Idempotency {
        key,
        request_hash: &request_hash,
        render: &render,
    });
    match links::create(
        &state.db,
        merchant,
        &input,
        state.link_rules(),
        state.outbox(),
        idempotency,
        now,
    )
    .await?
    {
        Created::New(link) => Ok(ok_link(&link, &state)),
        Created::Replay(body) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("Idempotent-Replayed", "true"))
            .body(body)),
    }
}

#[utoipa::path(
    get, path = "/api/v1/pay-by-link/{id}", tag = "Pay By Link",
    params(("id" = String, Path, description = "Pay By Link identifier")),
    responses(
        (status = 200, body = LinkView),
        (status = 401, body = super::error::StatusError),
        (status = 404, body = super::error::StatusError),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    Caller(merchant): Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let link = links::get(&state.db, merchant, &id).await?;
    Ok(ok_link(&link, &state))
}

#[utoipa::path(
    post, path = "/api/v1/pay-by-link/{id}", tag = "Pay By Link",
    description = "Replaces the fields of a CREATED link (PUT does the same). Absent customerId and dueDate keep their values; other absent optional fields are cleared.",
    params(("id" = String, Path, description = "Pay By Link identifier")),
    request_body = LinkRequest,
    responses(
        (status = 200, body = LinkView),
        (status = 400, body = super::error::ErrorList, description = "Invalid fields, a body id that differs from the path, or a link that is not CREATED (status_not_updatable)"),
        (status = 401, body = super::error::StatusError),
        (status = 403, body = super::error::StatusError),
        (status = 404, body = super::error::StatusError),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    Caller(merchant): Caller,
    id: web::Path<String>,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let input = parse_body(body.into_inner())?;
    let link = links::update(
        &state.db,
        merchant,
        &id,
        &input,
        state.link_rules(),
        Utc::now(),
    )
    .await?;
    Ok(ok_link(&link, &state))
}

#[utoipa::path(
    post, path = "/api/v1/pay-by-link/{id}/cancel", tag = "Pay By Link",
    params(("id" = String, Path, description = "Pay By Link identifier")),
    responses(
        (status = 200, body = LinkView, description = "The cancelled link, also when it was cancelled already"),
        (status = 400, body = super::error::ErrorList, description = "PAID, PARTIALLY_REFUNDED, REFUNDED or EXPIRED (status_not_cancellable)"),
        (status = 401, body = super::error::StatusError),
        (status = 404, body = super::error::StatusError),
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    Caller(merchant): Caller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let link = links::cancel(
        &state.db,
        merchant,
        &id,
        &state.settings.public_url,
        Utc::now(),
    )
    .await?;
    Ok(ok_link(&link, &state))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkPage {
    items: Vec<LinkView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Reads the list query by hand: `status` may repeat, which serde's query
/// extractor cannot express.
fn parse_list_query(query: &str) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        limit: links::DEFAULT_PAGE,
        ..Default::default()
    };
    let mut errors = Vec::new();
    let time =
        |name: &str, v: &str, errors: &mut Vec<ErrorEntry>| match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                errors.push(ErrorEntry::at_parameter(
                    name,
                    "Pattern",
                    "must be an ISO 8601 date-time with offset",
                ));
                None
            }
        };
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "status" => {
                for s in v.split(',').filter(|s| !s.is_empty()) {
                    match Status::parse(s) {
                        Some(st) if !q.statuses.contains(&st) => q.statuses.push(st),
                        Some(_) => {}
                        None => errors.push(ErrorEntry::at_parameter(
                            "status",
                            "Invalid",
                            format!(
                                "must be one of {}",
                                Status::ALL.map(Status::as_str).join(", ")
                            ),
                        )),
                    }
                }
            }
            "q" => q.q = Some(v.into_owned()),
            "createdFrom" => q.created_from = time("createdFrom", &v, &mut errors),
            "createdTo" => q.created_to = time("createdTo", &v, &mut errors),
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=links::MAX_PAGE).contains(&n) => q.limit = n,
                _ => errors.push(ErrorEntry::at_parameter(
                    "limit",
                    "Range",
                    format!("must be between 1 and {}", links::MAX_PAGE),
                )),
            },
            // The API lists newest first only; a cursor of another order is not its own.
            "cursor" => match links::Cursor::decode(&v) {
                Some(c) if matches!(c.value, links::SortValue::Int(_)) => q.after = Some(c),
                _ => errors.push(ErrorEntry::at_parameter(
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
    get, path = "/api/v1/pay-by-link", tag = "Pay By Link",
    description = "The caller's links, newest first, a page at a time by cursor: rows added while paging never cause a duplicate or a gap.",
    params(
        ("status" = Option<Vec<Status>>, Query, description = "Repeatable"),
        ("q" = Option<String>, Query, description = "Substring of id, merchantTransactionId, description, customerId or referenceId"),
        ("createdFrom" = Option<String>, Query, format = DateTime),
        ("createdTo" = Option<String>, Query, format = DateTime),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page"),
    ),
    responses(
        (status = 200, body = LinkPage),
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
    let query = parse_list_query(req.query_string())?;
    let now = Utc::now();
    let page = links::list(&state.db, merchant, &query, links::WithPayments::Yes, now).await?;
    Ok(HttpResponse::Ok().json(LinkPage {
        items: page
            .items
            .iter()
            .map(|l| LinkView::new(l, &state.settings.public_url, now))
            .collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}
