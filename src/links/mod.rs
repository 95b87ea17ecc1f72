//! Payment links: the model, the lifecycle of CONTRACT section 4 and the use cases
//! the API and the backoffice call. Every state change is one conditional UPDATE in
//! the database (see `db::links`); nothing here reads a status and then writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};
use crate::merchants::{MerchantId, ProductId};
use crate::money::Currency;
use crate::payments::{PaymentStatus, Refund, RefundStatus};
use crate::random;

pub mod options;
pub mod seed;
pub mod validate;

pub use options::{Additional, DisplayOn, Tax};
pub use validate::{
    validate, AdditionalInput, FieldError, Invalid, LinkFields, LinkInput, TaxInput,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Created,
    Paid,
    /// Paid, and some of it given back (CONTRACT section 11).
    PartiallyRefunded,
    /// Paid, and every approved payment given back in full.
    Refunded,
    Cancelled,
    Expired,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Created,
        Status::Paid,
        Status::PartiallyRefunded,
        Status::Refunded,
        Status::Cancelled,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "CREATED",
            Status::Paid => "PAID",
            Status::PartiallyRefunded => "PARTIALLY_REFUNDED",
            Status::Refunded => "REFUNDED",
            Status::Cancelled => "CANCELLED",
            Status::Expired => "EXPIRED",
        }
    }

    /// The status a refund leaves a link in, given each approved payment's
    /// amount and how much of it has been refunded. A link that was paid (PAID,
    /// or refunded already) is REFUNDED once every approved payment is refunded
    /// in full and PARTIALLY_REFUNDED with any refund. Any other link keeps its
    /// status: a multi-use link still CREATED stays open for its next payment,
    /// and a cancelled or expired one stays closed; its payments show the refunds.
    pub fn after_refunds(self, approved: &[PaymentTotals]) -> Status {
        match self {
            Status::Paid | Status::PartiallyRefunded | Status::Refunded => {
                if approved.iter().all(|p| p.refunded_minor == 0) {
                    Status::Paid
                } else if approved.iter().all(|p| p.refunded_minor >= p.amount_minor) {
                    Status::Refunded
                } else {
                    Status::PartiallyRefunded
                }
            }
            other => other,
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Language {
    #[serde(rename = "EN")]
    En,
    #[serde(rename = "ES")]
    Es,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "EN",
            Language::Es => "ES",
        }
    }

    pub fn parse(s: &str) -> Option<Language> {
        match s.to_ascii_uppercase().as_str() {
            "EN" => Some(Language::En),
            "ES" => Some(Language::Es),
            _ => None,
        }
    }
}

/// An approved payment's amount and how much of it has been refunded, the input
/// of [`Status::after_refunds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaymentTotals {
    pub amount_minor: i64,
    pub refunded_minor: i64,
}

/// A payment attempt on a link. `id` is the transaction id (at most 20 characters).
#[derive(Clone, Debug)]
pub struct Payment {
    pub id: String,
    pub status: String,
    pub amount_minor: i64,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Its refunds, oldest first, whatever their status.
    pub refunds: Vec<Refund>,
}

impl Payment {
    pub fn is_approved(&self) -> bool {
        self.status == PaymentStatus::Approved.as_str()
    }

    /// What the acquirer has given back so far.
    pub fn refunded_minor(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.status == RefundStatus::Succeeded)
            .map(|r| r.amount_minor)
            .sum()
    }

    /// What may still be refunded: the amount of an approved payment less its
    /// refunds that did not fail (a pending one holds its amount).
    pub fn refundable_minor(&self) -> i64 {
        if !self.is_approved() {
            return 0;
        }
        let held: i64 = self
            .refunds
            .iter()
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount_minor)
            .sum();
        (self.amount_minor - held).max(0)
    }
}

#[derive(Clone, Debug)]
pub struct Link {
    pub id: String,
    pub merchant_id: MerchantId,
    pub product_id: ProductId,
    /// The random part of the shopper's URL (`/p/{url_code}`).
    pub url_code: String,
    /// The status as stored; see [`Link::status_at`] for the one to show.
    pub stored_status: Status,
    pub amount_minor: i64,
    pub currency: Currency,
    pub country: String,
    pub merchant_transaction_id: String,
    pub description: Option<String>,
    pub customer_id: String,
    pub due_date: DateTime<Utc>,
    pub language: Language,
    pub merchant_params: Option<String>,
    pub reference_id: Option<String>,
    pub code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    /// How many approved payments the link takes; `None`: unlimited.
    pub payments_allowed: Option<i64>,
    /// How many approved payments it has had.
    pub payments_approved: i64,
    /// Where this link's notifications go instead of the merchant's URL.
    pub notification_url: Option<String>,
    pub customer_email: Option<String>,
    pub send_by_email: bool,
    pub receiver_emails: Vec<String>,
    pub taxes: Vec<Tax>,
    /// Card brands accepted; empty: any.
    pub allowed_payment_methods: Vec<crate::payments::Brand>,
    pub additional: Vec<Additional>,
    pub payments: Vec<Payment>,
}

impl Link {
    /// Payments the link still takes; `None`: unlimited.
    pub fn available_payments(&self) -> Option<i64> {
        self.payments_allowed
            .map(|allowed| (allowed - self.payments_approved).max(0))
    }

    /// Whether the link takes more than one payment.
    pub fn is_multi_use(&self) -> bool {
        self.payments_allowed != Some(1)
    }

    /// The status at `now`: a CREATED link past its due date is EXPIRED everywhere at
    /// once, before the sweep writes it down.
    pub fn status_at(&self, now: DateTime<Utc>) -> Status {
        if self.stored_status == Status::Created && self.due_date <= now {
            Status::Expired
        } else {
            self.stored_status
        }
    }

    pub fn url(&self, public_url: &str) -> String {
        format!("{}/p/{}", public_url.trim_end_matches('/'), self.url_code)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("invalid link fields")]
    Invalid(Vec<FieldError>),
    #[error("the request names another merchant")]
    ForeignMerchant,
    #[error("link not found")]
    NotFound,
    #[error("a link in status {0:?} cannot be cancelled")]
    NotCancellable(Status),
    #[error("a link in status {0:?} cannot be updated")]
    NotUpdatable(Status),
    #[error("the body id does not match the link")]
    IdMismatch,
    #[error("the idempotency key was used with another request")]
    IdempotencyConflict,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<Invalid> for LinkError {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::ForeignMerchant => LinkError::ForeignMerchant,
            Invalid::Fields(f) => LinkError::Invalid(f),
        }
    }
}

/// Makes a create request safe to retry: the same key and request give back the
/// first answer; the same key with another request is refused.
pub struct Idempotency<'a> {
    pub key: &'a str,
    /// A digest of the request, to tell a retry from a different request.
    pub request_hash: &'a str,
    /// Renders the answer stored for retries.
    pub render: &'a (dyn Fn(&Link) -> String + Sync),
}

pub enum Created {
    New(Box<Link>),
    /// A retry: the answer stored with the first request.
    Replay(String),
}

/// What the rules of a link depend on beyond its fields: the service's
/// configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    /// Notification URLs may point at loopback and private addresses.
    pub allow_private_webhooks: bool,
    /// An SMTP server is configured, so links can be sent by email.
    pub mail_configured: bool,
}

/// Checks what needs the database, the network or the configuration (the product
/// belongs to the merchant, the notification URL's host is public, email can be
/// sent) after the rules that need nothing, and reports every failure together.
async fn validate_all(
    db: &Db,
    input: &LinkInput,
    caller: MerchantId,
    rules: Rules,
    now: DateTime<Utc>,
) -> Result<LinkFields, LinkError> {
    let checked = validate(input, caller, now);
    let mut errors = match &checked {
        Ok(_) => Vec::new(),
        Err(Invalid::Fields(errors)) => errors.clone(),
        Err(Invalid::ForeignMerchant) => return Err(LinkError::ForeignMerchant),
    };
    let reported = |errors: &Vec<FieldError>, field: &str| errors.iter().any(|e| e.field == field);

    let product = input
        .product_id
        .as_deref()
        .and_then(|p| p.trim().parse().ok())
        .map(ProductId);
    if let Some(p) = product.filter(|_| !reported(&errors, "productId")) {
        if !db.product_belongs_to(caller, p).await? {
            errors.push(FieldError::new(
                "productId",
                "Invalid",
                "is not a product of this merchant",
            ));
        }
    }
    if let Some(url) = input.notification_url.as_deref() {
        if !reported(&errors, "notificationUrl") {
            if let Err(why) =
                crate::notifications::check_url(url, rules.allow_private_webhooks).await
            {
                errors.push(FieldError::new("notificationUrl", "Url", why.to_string()));
            }
        }
    }
    let send_by_email = input.send_by_email.as_deref().map(str::trim) == Some("true");
    if send_by_email && !rules.mail_configured {
        errors.push(FieldError {
            field: "sendByEmail".into(),
            code: "email_not_configured".into(),
            title: "no SMTP server is configured, so links cannot be sent by email".into(),
        });
    }
    match checked {
        Ok(fields) if errors.is_empty() => Ok(fields),
        _ => Err(LinkError::Invalid(errors)),
    }
}

/// Creates a link; with `sendByEmail`, its email to each of its addresses is
/// queued in the same transaction (`outbox` says where its URL points).
pub async fn create(
    db: &Db,
    caller: MerchantId,
    input: &LinkInput,
    rules: Rules,
    outbox: crate::email::Outbox<'_>,
    idempotency: Option<Idempotency<'_>>,
    now: DateTime<Utc>,
) -> Result<Created, LinkError> {
    if let Some(idem) = &idempotency {
        if let Some(replay) = replay(db, caller, idem).await? {
            return Ok(Created::Replay(replay));
        }
    }
    let fields = validate_all(db, input, caller, rules, now).await?;
    let link = Link {
        id: random::time_ordered_id(now),
        merchant_id: caller,
        product_id: fields.product_id,
        // 16 characters of [0-9A-Za-z]: 95 bits, far beyond enumeration.
        url_code: random::alphanumeric(16),
        stored_status: Status::Created,
        amount_minor: fields.amount_minor,
        currency: fields.currency,
        country: fields.country,
        merchant_transaction_id: fields.merchant_transaction_id,
        description: fields.description,
        customer_id: fields
            .customer_id
            .unwrap_or_else(|| format!("PBL.{}", uuid::Uuid::new_v4())),
        due_date: fields.due_date.unwrap_or(now + validate::DEFAULT_DUE),
        language: fields.language,
        merchant_params: fields.merchant_params,
        reference_id: fields.reference_id,
        code: fields.code,
        created_at: now,
        updated_at: now,
        paid_at: None,
        payments_allowed: fields.payments_allowed,
        payments_approved: 0,
        notification_url: fields.notification_url,
        customer_email: fields.customer_email,
        send_by_email: fields.send_by_email,
        receiver_emails: fields.receiver_emails,
        taxes: fields.taxes,
        allowed_payment_methods: fields.allowed_payment_methods,
        additional: fields.additional,
        payments: Vec::new(),
    };
    let stored_key = idempotency
        .as_ref()
        .map(|i| (i.key, i.request_hash, (i.render)(&link)));
    // The validator refused sendByEmail without SMTP, so `enabled` holds here;
    // it is checked again so that nothing is queued that no one would send.
    let emails = if link.send_by_email && outbox.enabled {
        let name = crate::email::merchant_name(db, caller).await?;
        crate::email::link_emails(&link, &name, outbox.public_url)
    } else {
        Vec::new()
    };
    match db.insert_link(&link, stored_key, &emails).await {
        Ok(()) => Ok(Created::New(Box::new(link))),
        // A concurrent request with the same key committed first: answer as it did.
        Err(e) if e.is_unique_violation() && idempotency.is_some() => {
            let idem = idempotency.as_ref().expect("checked above");
            match replay(db, caller, idem).await? {
                Some(body) => Ok(Created::Replay(body)),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

async fn replay(
    db: &Db,
    caller: MerchantId,
    idem: &Idempotency<'_>,
) -> Result<Option<String>, LinkError> {
    match db.idempotent_response(caller, idem.key).await? {
        Some((hash, body)) if hash == idem.request_hash => Ok(Some(body)),
        Some(_) => Err(LinkError::IdempotencyConflict),
        None => Ok(None),
    }
}

pub async fn get(db: &Db, caller: MerchantId, id: &str) -> Result<Link, LinkError> {
    db.link(caller, id).await?.ok_or(LinkError::NotFound)
}

/// Replaces the fields of a CREATED link. Absent `customerId` and `dueDate` keep
/// their values (they were set by the server); other absent optional fields clear.
pub async fn update(
    db: &Db,
    caller: MerchantId,
    id: &str,
    input: &LinkInput,
    rules: Rules,
    now: DateTime<Utc>,
) -> Result<Link, LinkError> {
    if input.id.as_deref().is_some_and(|body_id| body_id != id) {
        return Err(LinkError::IdMismatch);
    }
    let fields = validate_all(db, input, caller, rules, now).await?;
    match db.update_link(caller, id, &fields, now).await? {
        Transition::Done(link) => Ok(link),
        // Still CREATED, so the allowance was the obstacle: a multi-use link
        // cannot take fewer payments than it already had, plus one to stay open.
        Transition::Refused(link) if link.status_at(now) == Status::Created => {
            Err(LinkError::Invalid(vec![FieldError::new(
                "paymentsAllowed",
                "Min",
                format!(
                    "must be more than the {} payments this link already had",
                    link.payments_approved
                ),
            )]))
        }
        Transition::Refused(link) => Err(LinkError::NotUpdatable(link.status_at(now))),
        Transition::NotFound => Err(LinkError::NotFound),
    }
}

/// Cancels a CREATED link; cancelling a CANCELLED link answers it unchanged.
pub async fn cancel(
    db: &Db,
    caller: MerchantId,
    id: &str,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<Link, LinkError> {
    let event = |link: &Link| event_payload(link, Status::Created, None, public_url);
    match db.cancel_link(caller, id, now, &event).await? {
        Transition::Done(link) => Ok(link),
        Transition::Refused(link) if link.stored_status == Status::Cancelled => Ok(link),
        Transition::Refused(link) => Err(LinkError::NotCancellable(link.status_at(now))),
        Transition::NotFound => Err(LinkError::NotFound),
    }
}

/// Writes EXPIRED down for links past their due date, with their notification
/// events, in batches; returns how many links expired.
pub async fn expire_due(db: &Db, public_url: &str, now: DateTime<Utc>) -> Result<usize, DbError> {
    let event = |link: &Link| event_payload(link, Status::Created, None, public_url);
    let mut total = 0;
    loop {
        let n = db.expire_due_links(now, 500, &event).await?;
        total += n;
        if n < 500 {
            return Ok(total);
        }
    }
}

/// The outcome of a conditional state change.
pub enum Transition {
    Done(Link),
    /// The link exists but its status did not allow the change.
    Refused(Link),
    NotFound,
}

/// The orders a merchant's links can be listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Created,
    Due,
    Amount,
    Status,
}

impl SortKey {
    pub fn parse(s: &str) -> Option<SortKey> {
        match s {
            "created" => Some(SortKey::Created),
            "due" | "dueDate" => Some(SortKey::Due),
            "amount" => Some(SortKey::Amount),
            "status" => Some(SortKey::Status),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Created => "created",
            SortKey::Due => "due",
            SortKey::Amount => "amount",
            SortKey::Status => "status",
        }
    }
}

/// Filters, order and position for listing a merchant's links.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub statuses: Vec<Status>,
    pub q: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    /// Bounds on the amount, on the common scale of [`crate::money::to_scaled`].
    pub amount_min_scaled: Option<i64>,
    pub amount_max_scaled: Option<i64>,
    pub currency: Option<Currency>,
    pub sort: SortKey,
    /// Ascending when true; newest, latest, largest first by default.
    pub ascending: bool,
    pub limit: u32,
    pub after: Option<Cursor>,
}

pub const MAX_PAGE: u32 = 200;
pub const DEFAULT_PAGE: u32 = 50;

/// The value a link is sorted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// A position in a listing: the sort value and id of the last row of the
/// previous page, so the next page starts right after it whatever was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub value: SortValue,
    pub id: String,
}

impl Cursor {
    pub fn of(link: &Link, sort: SortKey) -> Cursor {
        let value = match sort {
            SortKey::Created => SortValue::Int(crate::db::to_millis(link.created_at)),
            SortKey::Due => SortValue::Int(crate::db::to_millis(link.due_date)),
            SortKey::Amount => {
                SortValue::Int(crate::money::to_scaled(link.amount_minor, link.currency))
            }
            SortKey::Status => SortValue::Text(link.stored_status.as_str().to_string()),
        };
        Cursor {
            value,
            id: link.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        let text = match &self.value {
            SortValue::Int(v) => format!("i{v}.{}", self.id),
            SortValue::Text(v) => format!("s{v}.{}", self.id),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (value, id) = text.split_once('.')?;
        let value = match value.split_at_checked(1)? {
            ("i", v) => SortValue::Int(v.parse().ok()?),
            ("s", v) => SortValue::Text(v.to_string()),
            _ => return None,
        };
        Some(Cursor {
            value,
            id: id.to_string(),
        })
    }
}

pub struct Page {
    pub items: Vec<Link>,
    pub next: Option<Cursor>,
}

/// Whether a listing loads each link's payments: the API shows them; the
/// overview and the export do not, and skip the two queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithPayments {
    Yes,
    No,
}

pub async fn list(
    db: &Db,
    caller: MerchantId,
    query: &ListQuery,
    payments: WithPayments,
    now: DateTime<Utc>,
) -> Result<Page, LinkError> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let mut items = db
        .list_links(caller, query, limit + 1, payments, now)
        .await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|l| Cursor::of(l, query.sort))
    } else {
        None
    };
    Ok(Page { items, next })
}

/// Whether the merchant has any link at all (for the overview's empty state).
pub async fn has_any(db: &Db, caller: MerchantId) -> Result<bool, LinkError> {
    Ok(db.has_links(caller).await?)
}

/// The notification body of CONTRACT section 7 for a change to `link`'s status.
pub fn event_payload(
    link: &Link,
    previous: Status,
    transaction_id: Option<&str>,
    public_url: &str,
) -> String {
    event_body(link, previous, transaction_id, public_url).to_string()
}

/// The notification body of one refund (CONTRACT section 11): the usual fields
/// with the link's status after it, the refunded payment's `transactionId`,
/// `refundedAmount` (this refund's amount, a number like `amount`) and `refundId`.
pub fn refund_event_payload(
    link: &Link,
    previous: Status,
    transaction_id: &str,
    refund_id: &str,
    refunded_minor: i64,
    public_url: &str,
) -> String {
    let mut body = event_body(link, previous, Some(transaction_id), public_url);
    body["refundedAmount"] =
        serde_json::Value::Number(crate::money::to_json_number(refunded_minor, link.currency));
    body["refundId"] = serde_json::Value::String(refund_id.to_string());
    body.to_string()
}

fn event_body(
    link: &Link,
    previous: Status,
    transaction_id: Option<&str>,
    public_url: &str,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "id": link.id,
        "merchantId": link.merchant_id,
        "productId": link.product_id,
        "amount": crate::money::to_json_number(link.amount_minor, link.currency),
        "currency": link.currency.code(),
        "country": link.country,
        "customerId": link.customer_id,
        "description": link.description,
        "dueDate": format_time(link.due_date),
        "language": link.language,
        "merchantTransactionId": link.merchant_transaction_id,
        "referenceId": link.reference_id,
        "url": link.url(public_url),
        "status": link.stored_status,
        "previousStatus": previous,
    });
    if let Some(t) = transaction_id {
        body["transactionId"] = serde_json::Value::String(t.to_string());
    }
    body
}

/// Times leave the service as RFC 3339 in UTC with milliseconds, as in the seed.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            value: SortValue::Int(1_700_000_000_123),
            id: "abc".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        let c = Cursor {
            value: SortValue::Text("PAID".into()),
            id: "abc".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("!!"), None);
        assert_eq!(Cursor::decode("bm9kb3Q"), None);
    }

    #[test]
    fn statuses_parse_case_insensitively() {
        assert_eq!(Status::parse("paid"), Some(Status::Paid));
        assert_eq!(
            Status::parse("partially_refunded"),
            Some(Status::PartiallyRefunded)
        );
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into()),
                "the API writes {s:?} as it is stored"
            );
        }
        assert_eq!(Status::parse("SENT"), None);
        assert_eq!(Language::parse("es"), Some(Language::Es));
    }

    fn totals(pairs: &[(i64, i64)]) -> Vec<PaymentTotals> {
        pairs
            .iter()
            .map(|&(amount_minor, refunded_minor)| PaymentTotals {
                amount_minor,
                refunded_minor,
            })
            .collect()
    }

    #[test]
    fn a_paid_link_is_refunded_in_part_then_in_full() {
        use Status::*;
        assert_eq!(Paid.after_refunds(&totals(&[(3299, 0)])), Paid);
        assert_eq!(Paid.after_refunds(&totals(&[(3299, 1)])), PartiallyRefunded);
        assert_eq!(
            PartiallyRefunded.after_refunds(&totals(&[(3299, 3298)])),
            PartiallyRefunded
        );
        assert_eq!(
            PartiallyRefunded.after_refunds(&totals(&[(3299, 3299)])),
            Refunded
        );
        assert_eq!(Paid.after_refunds(&totals(&[(3299, 3299)])), Refunded);
        // Several payments (a multi-use link paid to its limit): REFUNDED only
        // when every one of them is refunded in full.
        assert_eq!(
            Paid.after_refunds(&totals(&[(1000, 1000), (1000, 0)])),
            PartiallyRefunded
        );
        assert_eq!(
            PartiallyRefunded.after_refunds(&totals(&[(1000, 1000), (1000, 999)])),
            PartiallyRefunded
        );
        assert_eq!(
            PartiallyRefunded.after_refunds(&totals(&[(1000, 1000), (1000, 1000)])),
            Refunded
        );
    }

    #[test]
    fn a_link_that_was_not_paid_in_full_keeps_its_status() {
        use Status::*;
        // A multi-use link still CREATED after a payment, and links closed after
        // payments, keep their status whatever is refunded.
        for status in [Created, Cancelled, Expired] {
            assert_eq!(status.after_refunds(&totals(&[(500, 500)])), status);
            assert_eq!(status.after_refunds(&totals(&[(500, 100)])), status);
            assert_eq!(status.after_refunds(&totals(&[])), status);
        }
    }
}
