//! Refunding an approved payment (CONTRACT section 11), for the API and the
//! backoffice alike. The rule "the refunds of a payment never add up to more
//! than it" holds under any concurrency because the amount is reserved on the
//! payment with one conditional UPDATE before the acquirer is asked (see
//! `db::refunds`). Then:
//! - the acquirer confirms: in one transaction the refund is SUCCEEDED, the link
//!   moves on ([`Status::after_refunds`]) and the notification is queued;
//! - the acquirer refuses: the refund is FAILED and the reservation released;
//! - the outcome is unknown (timeout, crash): the refund stays PENDING, holding
//!   its amount, and the reconciliation asks again with the same reference,
//!   which the acquirer answers without refunding twice.

use chrono::Utc;

use super::acquirer::{Acquirer, AcquirerError, RefundRequest};
use crate::db::refunds::{NewRefund, PendingRefund, Reserved};
use crate::db::{Db, DbError};
use crate::links::{self, FieldError, Link, Status};
use crate::merchants::MerchantId;
use crate::money::{self, AmountError, Currency};
use crate::random;

/// A reason is free text for the merchant's records, up to this many characters.
pub const REASON_MAX: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundStatus {
    /// The amount is reserved; the acquirer has not confirmed the refund yet.
    Pending,
    Succeeded,
    /// The acquirer refused it; nothing was refunded.
    Failed,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "PENDING",
            RefundStatus::Succeeded => "SUCCEEDED",
            RefundStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<RefundStatus> {
        [
            RefundStatus::Pending,
            RefundStatus::Succeeded,
            RefundStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// One refund of a payment, in the link's currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub amount_minor: i64,
    pub reason: Option<String>,
    pub status: RefundStatus,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

/// A refund request as text, from the API's JSON or a backoffice form.
#[derive(Debug, Default, Clone)]
pub struct RefundInput {
    /// The payment to refund; may be left out when the link has exactly one
    /// approved payment.
    pub transaction_id: Option<String>,
    /// Left out: all that is left of the payment.
    pub amount: Option<String>,
    pub reason: Option<String>,
    /// An id chosen beforehand (the backoffice's confirmation form carries one),
    /// so that a form sent twice refunds once; a new one when absent.
    pub refund_id: Option<String>,
    /// Errors found before, such as a JSON string where a number belongs.
    pub type_errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("link not found")]
    NotFound,
    #[error("invalid refund fields")]
    Invalid(Vec<FieldError>),
    /// More than is left of the payment (`remaining_minor`, possibly 0).
    #[error("the refund exceeds what is left of the payment")]
    Exceeds {
        remaining_minor: i64,
        currency: Currency,
    },
    /// The acquirer said no; nothing was refunded and nothing stays reserved.
    #[error("the acquirer refused the refund: {0}")]
    Refused(String),
    /// The acquirer could not be reached: the refund stays PENDING, holding its
    /// amount, and is asked for again by the reconciliation.
    #[error("the acquirer did not answer; refund {refund_id} is pending: {detail}")]
    Pending { refund_id: String, detail: String },
    /// A refund with the id chosen beforehand exists already: this request is
    /// a repetition and refunded nothing more.
    #[error("refund {0} was requested already")]
    Repeated(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A field error of a refund request, keyed by its JSON name.
pub fn field_error(field: &str, rule: &str, title: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        code: format!("{rule}.refundDto.{field}"),
        title: title.into(),
    }
}

/// What a valid request asks for: this much of this payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub transaction_id: String,
    pub amount_minor: i64,
    pub reason: Option<String>,
}

/// Checks a request against the link as read: which approved payment, how much
/// (at most what is left of it), and the reason. Every field error is reported
/// at once. The database makes the final check on the amount when it reserves it.
pub fn plan(link: &Link, input: &RefundInput) -> Result<Plan, RefundError> {
    let mut errors = input.type_errors.clone();
    let failed = |errors: &Vec<FieldError>, field: &str| errors.iter().any(|e| e.field == field);
    let approved: Vec<_> = link.payments.iter().filter(|p| p.is_approved()).collect();

    let payment = match input.transaction_id.as_deref().map(str::trim) {
        _ if failed(&errors, "transactionId") => None,
        Some(id) => {
            let found = approved.iter().find(|p| p.id == id).copied();
            if found.is_none() {
                errors.push(field_error(
                    "transactionId",
                    "Invalid",
                    "is not an approved payment of this link",
                ));
            }
            found
        }
        None => match approved.as_slice() {
            [only] => Some(*only),
            [] => {
                errors.push(field_error(
                    "transactionId",
                    "NotNull",
                    "the link has no approved payment to refund",
                ));
                None
            }
            several => {
                errors.push(field_error(
                    "transactionId",
                    "NotNull",
                    format!(
                        "must name the payment: the link has {} approved payments",
                        several.len()
                    ),
                ));
                None
            }
        },
    };

    let amount = match input.amount.as_deref().map(str::trim) {
        _ if failed(&errors, "amount") => None,
        None => None,
        Some(text) => match money::parse_amount(text, link.currency.minor_digits()) {
            Ok(minor) => Some(minor),
            Err(e) => {
                errors.push(match e {
                    AmountError::Malformed => field_error("amount", "Type", "must be a number"),
                    AmountError::NotPositive => {
                        field_error("amount", "Positive", "must be greater than 0")
                    }
                    AmountError::TooPrecise(d) => field_error(
                        "amount",
                        "Digits",
                        format!("must have at most {d} decimal places for this currency"),
                    ),
                    AmountError::TooLarge => field_error("amount", "Max", "is too large"),
                });
                None
            }
        },
    };

    let reason = match input.reason.as_deref().map(str::trim) {
        _ if failed(&errors, "reason") => None,
        None | Some("") => None,
        Some(text) if text.chars().count() > REASON_MAX => {
            errors.push(field_error(
                "reason",
                "Size",
                format!("must be at most {REASON_MAX} characters"),
            ));
            None
        }
        Some(text) => Some(text.to_string()),
    };

    if !errors.is_empty() {
        return Err(RefundError::Invalid(errors));
    }
    let payment = payment.expect("no errors, so a payment was found");
    let remaining_minor = payment.refundable_minor();
    let amount_minor = amount.unwrap_or(remaining_minor);
    if remaining_minor == 0 || amount_minor > remaining_minor {
        return Err(RefundError::Exceeds {
            remaining_minor,
            currency: link.currency,
        });
    }
    Ok(Plan {
        transaction_id: payment.id.clone(),
        amount_minor,
        reason,
    })
}

/// A refund the acquirer confirmed, and the link after it.
#[derive(Debug, Clone)]
pub struct Refunded {
    pub link: Link,
    pub refund_id: String,
    pub amount_minor: i64,
}

const REFUND_ID_PREFIX: &str = "rfd_";
const REFUND_ID_RANDOM: usize = 20;

/// Our refund id, also the idempotency reference the acquirer receives: 20
/// characters of `[0-9A-Za-z]` after `rfd_`.
pub fn new_refund_id() -> String {
    format!(
        "{REFUND_ID_PREFIX}{}",
        random::alphanumeric(REFUND_ID_RANDOM)
    )
}

/// Whether `id` has the shape of [`new_refund_id`]'s ids.
pub fn is_refund_id(id: &str) -> bool {
    id.strip_prefix(REFUND_ID_PREFIX).is_some_and(|rest| {
        rest.len() == REFUND_ID_RANDOM && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Refunds a payment of the caller's link `link_id`.
#[tracing::instrument(skip(db, acquirer, input, public_url), fields(acquirer = acquirer.name()))]
pub async fn refund(
    db: &Db,
    acquirer: &dyn Acquirer,
    caller: MerchantId,
    link_id: &str,
    input: &RefundInput,
    public_url: &str,
) -> Result<Refunded, RefundError> {
    let link = db
        .link(caller, link_id)
        .await?
        .ok_or(RefundError::NotFound)?;
    let plan = plan(&link, input)?;
    let id = match input.refund_id.as_deref() {
        None => new_refund_id(),
        Some(id) if is_refund_id(id) => id.to_string(),
        Some(_) => {
            return Err(RefundError::Invalid(vec![field_error(
                "refundId",
                "Pattern",
                "is not a refund id",
            )]))
        }
    };
    let new = NewRefund {
        id,
        link: &link,
        transaction_id: &plan.transaction_id,
        amount_minor: plan.amount_minor,
        reason: plan.reason.as_deref(),
    };
    let reserved = match db.reserve_refund(&new, Utc::now()).await {
        Err(e) if e.is_unique_violation() => return Err(RefundError::Repeated(new.id)),
        other => other?,
    };
    let pending = match reserved {
        Reserved::Held(pending) => pending,
        // A concurrent refund took what was left between our read and now.
        Reserved::Exceeds { remaining_minor } => {
            return Err(RefundError::Exceeds {
                remaining_minor,
                currency: link.currency,
            })
        }
    };
    match settle(db, acquirer, &pending, public_url).await? {
        Settled::Succeeded(link) => Ok(Refunded {
            link: *link,
            refund_id: pending.id,
            amount_minor: pending.amount_minor,
        }),
        Settled::Refused(reason) => Err(RefundError::Refused(reason)),
        Settled::Unknown(detail) => Err(RefundError::Pending {
            refund_id: pending.id,
            detail,
        }),
    }
}

/// How asking the acquirer for a reserved refund ended.
enum Settled {
    Succeeded(Box<Link>),
    Refused(String),
    /// No answer: still PENDING.
    Unknown(String),
}

/// Asks the acquirer for a PENDING refund and writes down its answer. Safe to
/// run twice for one refund (a request and the reconciliation): the acquirer
/// answers a known reference as before, and only one PENDING → SUCCEEDED change
/// is written, with one notification.
async fn settle(
    db: &Db,
    acquirer: &dyn Acquirer,
    pending: &PendingRefund,
    public_url: &str,
) -> Result<Settled, DbError> {
    let request = RefundRequest {
        authorisation: &pending.authorisation,
        reference: &pending.id,
        amount_minor: pending.amount_minor,
        currency: pending.currency,
    };
    match acquirer.refund(request).await {
        Ok(acquirer_reference) => {
            let event = |link: &Link, previous: Status| {
                links::refund_event_payload(
                    link,
                    previous,
                    &pending.payment_id,
                    &pending.id,
                    pending.amount_minor,
                    public_url,
                )
            };
            let link = match db
                .complete_refund(&pending.id, &acquirer_reference, Utc::now(), &event)
                .await?
            {
                Some(link) => link,
                // Settled meanwhile by the other path; the link as it is now.
                None => db
                    .link(pending.merchant_id, &pending.link_id)
                    .await?
                    .ok_or_else(|| {
                        DbError::Corrupt(format!("refund {} lost its link", pending.id))
                    })?,
            };
            tracing::info!(
                refund = pending.id,
                link = link.id,
                status = link.stored_status.as_str(),
                "refund succeeded"
            );
            Ok(Settled::Succeeded(Box::new(link)))
        }
        Err(AcquirerError::Refused(reason)) => {
            tracing::warn!(
                refund = pending.id,
                reason,
                "refund refused by the acquirer"
            );
            db.fail_refund(&pending.id, Utc::now()).await?;
            Ok(Settled::Refused(reason))
        }
        Err(AcquirerError::Unavailable(detail)) => {
            tracing::error!(
                refund = pending.id,
                detail,
                "refund outcome unknown: left pending for reconciliation"
            );
            Ok(Settled::Unknown(detail))
        }
    }
}

/// What one pass over pending refunds did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Retried {
    pub succeeded: usize,
    pub failed: usize,
}

/// Asks again for refunds left PENDING since before `before` (a crash or a
/// timeout between the reservation and the acquirer's answer), with their own
/// reference so that none is made twice.
pub async fn retry_pending(
    db: &Db,
    acquirer: &dyn Acquirer,
    before: chrono::DateTime<Utc>,
    public_url: &str,
) -> Result<Retried, DbError> {
    let mut done = Retried::default();
    for pending in db.pending_refunds(before, 100).await? {
        match settle(db, acquirer, &pending, public_url).await? {
            Settled::Succeeded(_) => done.succeeded += 1,
            Settled::Refused(_) => done.failed += 1,
            Settled::Unknown(_) => {}
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::links::{Language, Payment};
    use crate::merchants::ProductId;

    fn payment(
        id: &str,
        status: &str,
        amount_minor: i64,
        refunds: &[(i64, RefundStatus)],
    ) -> Payment {
        let t = Utc.timestamp_millis_opt(0).unwrap();
        Payment {
            id: id.into(),
            status: status.into(),
            amount_minor,
            brand: Some("visa".into()),
            last4: Some("4242".into()),
            created_at: t,
            refunds: refunds
                .iter()
                .enumerate()
                .map(|(i, &(amount_minor, status))| Refund {
                    id: format!("r{i}"),
                    amount_minor,
                    reason: None,
                    status,
                    created_at: t,
                    updated_at: t,
                })
                .collect(),
        }
    }

    fn link(currency: &str, payments: Vec<Payment>) -> Link {
        let t = Utc::now();
        Link {
            id: "l1".into(),
            merchant_id: MerchantId(1),
            product_id: ProductId(1),
            url_code: "c".into(),
            stored_status: Status::Paid,
            amount_minor: 3299,
            currency: Currency::parse(currency).unwrap(),
            country: "ES".into(),
            merchant_transaction_id: "m".into(),
            description: None,
            customer_id: "c".into(),
            due_date: t,
            language: Language::En,
            merchant_params: None,
            reference_id: None,
            code: None,
            created_at: t,
            updated_at: t,
            paid_at: Some(t),
            payments_allowed: Some(1),
            payments_approved: 1,
            notification_url: None,
            customer_email: None,
            send_by_email: false,
            receiver_emails: Vec::new(),
            taxes: Vec::new(),
            allowed_payment_methods: Vec::new(),
            additional: Vec::new(),
            payments,
        }
    }

    fn input(transaction_id: Option<&str>, amount: Option<&str>) -> RefundInput {
        RefundInput {
            transaction_id: transaction_id.map(Into::into),
            amount: amount.map(Into::into),
            ..Default::default()
        }
    }

    fn pointers(e: RefundError) -> Vec<String> {
        match e {
            RefundError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn the_one_approved_payment_and_the_rest_of_it_by_default() {
        let l = link(
            "EUR",
            vec![
                payment("declined", "DECLINED", 3299, &[]),
                payment("paid", "APPROVED", 3299, &[(1000, RefundStatus::Succeeded)]),
            ],
        );
        let p = plan(&l, &input(None, None)).unwrap();
        assert_eq!(p.transaction_id, "paid");
        assert_eq!(p.amount_minor, 2299);
        let p = plan(&l, &input(Some("paid"), Some("10.5"))).unwrap();
        assert_eq!(p.amount_minor, 1050);
        // A failed refund gives its amount back; a pending one holds it.
        let l = link(
            "EUR",
            vec![payment(
                "paid",
                "APPROVED",
                3299,
                &[(3000, RefundStatus::Failed), (299, RefundStatus::Pending)],
            )],
        );
        assert_eq!(plan(&l, &input(None, None)).unwrap().amount_minor, 3000);
    }

    #[test]
    fn more_than_is_left_is_refused() {
        let l = link(
            "EUR",
            vec![payment(
                "paid",
                "APPROVED",
                3299,
                &[(3000, RefundStatus::Succeeded)],
            )],
        );
        assert!(matches!(
            plan(&l, &input(None, Some("3.00"))),
            Err(RefundError::Exceeds {
                remaining_minor: 299,
                ..
            })
        ));
        let l = link(
            "EUR",
            vec![payment(
                "paid",
                "APPROVED",
                3299,
                &[(3299, RefundStatus::Succeeded)],
            )],
        );
        assert!(matches!(
            plan(&l, &input(None, None)),
            Err(RefundError::Exceeds {
                remaining_minor: 0,
                ..
            })
        ));
    }

    #[test]
    fn the_payment_must_be_named_unless_there_is_exactly_one() {
        let none = link("EUR", vec![payment("d", "DECLINED", 3299, &[])]);
        assert_eq!(
            pointers(plan(&none, &input(None, None)).unwrap_err()),
            ["transactionId"]
        );
        let two = link(
            "EUR",
            vec![
                payment("a", "APPROVED", 1000, &[]),
                payment("b", "APPROVED", 1000, &[]),
            ],
        );
        assert_eq!(
            pointers(plan(&two, &input(None, None)).unwrap_err()),
            ["transactionId"]
        );
        assert_eq!(
            plan(&two, &input(Some("b"), None)).unwrap().transaction_id,
            "b"
        );
        // Only an approved payment of this link can be refunded.
        for wrong in ["d", "zzz"] {
            assert_eq!(
                pointers(plan(&none, &input(Some(wrong), None)).unwrap_err()),
                ["transactionId"]
            );
        }
    }

    #[test]
    fn refund_ids_have_one_shape() {
        let id = new_refund_id();
        assert!(is_refund_id(&id), "{id}");
        assert_ne!(id, new_refund_id());
        for bad in [
            "",
            "rfd_",
            "rfd_short",
            "xyz_abcdefghij0123456789",
            "rfd_abcdefghij012345678!",
        ] {
            assert!(!is_refund_id(bad), "{bad}");
        }
    }

    #[test]
    fn empty_text_is_a_mistake_not_a_default() {
        let eur = link("EUR", vec![payment("p", "APPROVED", 3299, &[])]);
        assert_eq!(
            pointers(plan(&eur, &input(Some(""), Some(""))).unwrap_err()),
            ["transactionId", "amount"]
        );
    }

    #[test]
    fn amounts_follow_the_currency_and_every_error_is_reported() {
        let eur = link("EUR", vec![payment("p", "APPROVED", 3299, &[])]);
        for bad in ["0", "-1", "1.234", "abc", "1e2"] {
            assert_eq!(
                pointers(plan(&eur, &input(None, Some(bad))).unwrap_err()),
                ["amount"],
                "{bad}"
            );
        }
        let jpy = link("JPY", vec![payment("p", "APPROVED", 500, &[])]);
        assert_eq!(
            pointers(plan(&jpy, &input(None, Some("1.5"))).unwrap_err()),
            ["amount"]
        );
        assert_eq!(
            plan(&jpy, &input(None, Some("499"))).unwrap().amount_minor,
            499
        );
        let mut all_wrong = input(Some("nope"), Some("0"));
        all_wrong.reason = Some("x".repeat(REASON_MAX + 1));
        assert_eq!(
            pointers(plan(&eur, &all_wrong).unwrap_err()),
            ["transactionId", "amount", "reason"]
        );
        let mut fine = input(None, None);
        fine.reason = Some(format!("  {}  ", "é".repeat(REASON_MAX)));
        assert_eq!(
            plan(&eur, &fine).unwrap().reason,
            Some("é".repeat(REASON_MAX))
        );
    }
}
