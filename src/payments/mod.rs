//! Paying a link (CONTRACT sections 4 and 6): check the card, record the attempt,
//! authorise through the [`Acquirer`], then mark the link PAID in one conditional
//! change together with the payment's capture record and the PAID notification.
//! An authorisation whose link was meanwhile paid, cancelled or expired is voided,
//! so of any number of concurrent attempts exactly one charges the shopper.

use chrono::{DateTime, Utc};

use crate::db::payments::{AttemptLimit, AttemptRecorded, NewAttempt};
use crate::db::{Db, DbError};
use crate::email;
use crate::links::{self, Link, Payment, Status};
use crate::money::Currency;
use crate::random;

pub mod acquirer;
pub mod card;
pub mod refund;

pub use acquirer::{
    Acquirer, AcquirerError, Authorisation, AuthoriseRequest, RefundRequest, SandboxAcquirer,
};
pub use card::{Brand, Card, CardError, CardField, CardInput, CardProblem};
pub use refund::{refund, Refund, RefundError, RefundInput, RefundStatus, Refunded};

/// After this many declined attempts on one link within [`DECLINE_WINDOW`],
/// further attempts are refused (card-testing defence). Attempts still waiting
/// for the acquirer count too, so a burst of parallel requests cannot slip past.
pub const MAX_DECLINED_ATTEMPTS: i64 = 10;
pub const DECLINE_WINDOW: chrono::Duration = chrono::Duration::hours(1);
/// Attempts in flight at once on a multi-use link, which many shoppers may pay
/// at the same moment; on a single-use link in-flight attempts count towards
/// [`MAX_DECLINED_ATTEMPTS`] instead, so a burst of card tests cannot slip past.
pub const MAX_PENDING_MULTI_USE: i64 = 64;
/// A PENDING attempt older than this is a leftover of a crash and holds no place.
pub const PENDING_WINDOW: chrono::Duration = chrono::Duration::minutes(2);
/// Transaction ids are at most 20 characters (CONTRACT section 3).
pub const TRANSACTION_ID_LEN: usize = 20;

/// The stored status of a payment attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Recorded, waiting for the acquirer.
    Pending,
    /// Authorised and captured: this payment paid the link.
    Approved,
    Declined,
    /// Authorised, but the link was no longer payable: the hold was released.
    Voided,
    /// The acquirer failed; nothing was charged.
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "PENDING",
            PaymentStatus::Approved => "APPROVED",
            PaymentStatus::Declined => "DECLINED",
            PaymentStatus::Voided => "VOIDED",
            PaymentStatus::Failed => "FAILED",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayError {
    #[error("no link has this code")]
    NotFound,
    #[error("the card details are invalid")]
    Invalid(Vec<CardError>),
    /// The link is not (or no longer) CREATED; the shopper was not charged.
    #[error("the link is {0:?} and cannot be paid")]
    Closed(Status),
    /// The link's amount is not the one the shopper was shown (the merchant
    /// updated it meanwhile); nothing was charged.
    #[error("the amount of the link has changed")]
    AmountChanged,
    #[error("the card was declined")]
    Declined,
    #[error("too many declined attempts on this link")]
    TooManyDeclines,
    /// Too many attempts on this link are waiting for the acquirer right now.
    #[error("too many attempts in progress on this link")]
    Busy,
    #[error(transparent)]
    Acquirer(#[from] AcquirerError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A payment request from the shopper's form.
#[derive(Debug)]
pub struct PayRequest<'a> {
    /// The code of the link's URL.
    pub code: &'a str,
    pub card: &'a CardInput,
    /// The amount and currency the page showed, when known: the payment is
    /// refused if the link no longer asks for exactly that.
    pub shown_amount: Option<(i64, Currency)>,
}

/// A successful payment: the link (now PAID) and its approved payment.
#[derive(Debug, Clone)]
pub struct Paid {
    pub link: Link,
    pub payment: Payment,
}

/// A new transaction id: 20 characters of `[0-9A-Za-z]` (about 119 bits), so the
/// receipt address that carries it cannot be guessed.
pub fn new_transaction_id() -> String {
    random::alphanumeric(TRANSACTION_ID_LEN)
}

/// Pays the link behind `request.code` with its card. Each step reads the clock
/// afresh: a link whose due date passes while the acquirer is deciding is
/// not paid, and its authorisation is voided.
#[tracing::instrument(skip_all, fields(code = request.code, acquirer = acquirer.name()))]
pub async fn pay(
    db: &Db,
    acquirer: &dyn Acquirer,
    request: &PayRequest<'_>,
    public_url: &str,
    outbox: email::Outbox<'_>,
) -> Result<Paid, PayError> {
    let code = request.code;
    let link = db.link_by_code(code).await?.ok_or(PayError::NotFound)?;
    let status = link.status_at(Utc::now());
    if status != Status::Created {
        return Err(PayError::Closed(status));
    }
    if request
        .shown_amount
        .is_some_and(|shown| shown != (link.amount_minor, link.currency))
    {
        return Err(PayError::AmountChanged);
    }
    let input = request.card;
    let card = input.validate(Utc::now()).map_err(PayError::Invalid)?;
    if !links::options::brand_accepted(&link.allowed_payment_methods, card.brand) {
        return Err(PayError::Invalid(vec![CardError {
            field: CardField::Number,
            problem: CardProblem::BrandNotAccepted,
        }]));
    }

    let transaction_id = new_transaction_id();
    let attempt = NewAttempt {
        id: &transaction_id,
        link: &link,
        brand: card.brand.as_str(),
        last4: card.number.last4(),
    };
    let now = Utc::now();
    match db
        .record_attempt(&attempt, attempt_limit(&link, now), now)
        .await?
    {
        AttemptRecorded::Recorded => {}
        AttemptRecorded::NotPayable => return Err(closed(db, code).await),
        AttemptRecorded::Limited { declined } if declined >= MAX_DECLINED_ATTEMPTS => {
            tracing::warn!(link = %link.id, declined, "payment attempts locked after declines");
            return Err(PayError::TooManyDeclines);
        }
        AttemptRecorded::Limited { .. } => return Err(PayError::Busy),
    }

    let request = AuthoriseRequest {
        reference: &transaction_id,
        amount_minor: link.amount_minor,
        currency: link.currency,
        card: &card,
    };
    let authorisation = match acquirer.authorise(request).await {
        Ok(Authorisation::Approved { authorisation }) => authorisation,
        Ok(Authorisation::Declined { reason }) => {
            tracing::info!(link = %link.id, transaction_id, reason, "payment declined");
            db.settle_attempt(&transaction_id, PaymentStatus::Declined, None, Utc::now())
                .await?;
            return Err(PayError::Declined);
        }
        Err(e) => {
            tracing::error!(link = %link.id, transaction_id, error = %e, "authorisation failed");
            db.settle_attempt(&transaction_id, PaymentStatus::Failed, None, Utc::now())
                .await?;
            return Err(e.into());
        }
    };

    let event = |l: &Link| {
        links::event_payload(
            l,
            Status::Created,
            Some(transaction_id.as_str()),
            public_url,
        )
    };
    let payment = Payment {
        id: transaction_id.clone(),
        status: PaymentStatus::Approved.as_str().to_string(),
        amount_minor: link.amount_minor,
        brand: Some(card.brand.as_str().to_string()),
        last4: Some(card.number.last4().to_string()),
        created_at: now,
        refunds: Vec::new(),
    };
    // The receipt is written with the payment, made from the link as it is
    // paid; only the merchant's name is read before.
    let merchant_name = match (outbox.enabled, &link.customer_email) {
        (true, Some(_)) => Some(email::merchant_name(db, link.merchant_id).await?),
        _ => None,
    };
    let receipt = |l: &Link| {
        let name = merchant_name.as_deref()?;
        email::receipt_email(l, &payment, name, outbox.public_url)
    };
    let completed = db
        .complete_payment(
            &link,
            &transaction_id,
            &authorisation,
            Utc::now(),
            &event,
            &receipt,
        )
        .await;
    let paid_link = match completed {
        Ok(Some(paid)) => paid,
        Ok(None) => {
            // Lost: paid by a concurrent attempt, cancelled or expired meanwhile.
            release(db, acquirer, &transaction_id, &authorisation).await;
            return Err(closed(db, code).await);
        }
        Err(e) => {
            // Usually nothing was committed, but a failure while committing may
            // hide a commit: look before releasing the hold.
            match db.link_by_code(code).await {
                Ok(Some(l)) if approved(&l, &transaction_id) => l,
                Ok(_) => {
                    release(db, acquirer, &transaction_id, &authorisation).await;
                    return Err(e.into());
                }
                Err(again) => {
                    tracing::error!(transaction_id, authorisation, error = %again,
                        "outcome of a payment unknown: the hold is left for reconciliation");
                    return Err(e.into());
                }
            }
        }
    };
    tracing::info!(link = %paid_link.id, transaction_id, "link paid");

    match acquirer.capture(&authorisation).await {
        Ok(()) => {
            if let Err(e) = db.mark_captured(&transaction_id, Utc::now()).await {
                tracing::error!(transaction_id, error = %e, "could not record a capture");
            }
        }
        // The link is PAID and the hold stands; captured_at stays empty so the
        // payment can be found and captured again.
        Err(e) => {
            tracing::error!(transaction_id, error = %e, "capture failed after the link was paid")
        }
    }
    Ok(Paid {
        link: paid_link,
        payment,
    })
}

fn approved(link: &Link, transaction_id: &str) -> bool {
    link.payments
        .iter()
        .any(|p| p.id == transaction_id && p.status == PaymentStatus::Approved.as_str())
}

fn attempt_limit(link: &Link, now: DateTime<Utc>) -> AttemptLimit {
    let multi_use = link.is_multi_use();
    AttemptLimit {
        declined_since: now - DECLINE_WINDOW,
        pending_since: now - PENDING_WINDOW,
        max: MAX_DECLINED_ATTEMPTS,
        pending_count_towards_max: !multi_use,
        max_pending: if multi_use {
            MAX_PENDING_MULTI_USE
        } else {
            MAX_DECLINED_ATTEMPTS
        },
    }
}

/// Voids a hold that must not be captured and records it; failures are logged
/// with the authorisation so it can be released by hand.
async fn release(db: &Db, acquirer: &dyn Acquirer, transaction_id: &str, authorisation: &str) {
    match acquirer.void(authorisation).await {
        Ok(()) => {
            tracing::info!(
                transaction_id,
                "authorisation voided: the link was no longer payable"
            );
            if let Err(e) = db
                .settle_attempt(
                    transaction_id,
                    PaymentStatus::Voided,
                    Some(authorisation),
                    Utc::now(),
                )
                .await
            {
                tracing::error!(transaction_id, error = %e, "could not record a void");
            }
        }
        Err(e) => tracing::error!(
            transaction_id,
            authorisation,
            error = %e,
            "void failed: the hold must be released by hand"
        ),
    }
}

/// Why a link cannot be paid now: its status (PAID, CANCELLED or EXPIRED), or,
/// while still CREATED, a changed amount.
async fn closed(db: &Db, code: &str) -> PayError {
    match db.link_by_code(code).await {
        Ok(Some(link)) => match link.status_at(Utc::now()) {
            Status::Created => PayError::AmountChanged,
            other => PayError::Closed(other),
        },
        Ok(None) => PayError::NotFound,
        Err(e) => e.into(),
    }
}

/// How long a capture may take before the reconciliation retries it.
const CAPTURE_GRACE: chrono::Duration = chrono::Duration::seconds(60);
/// How long a refund may wait for the acquirer before the reconciliation asks
/// again (with the same reference, so it is never made twice).
pub const REFUND_GRACE: chrono::Duration = chrono::Duration::seconds(60);

/// What one reconciliation pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub captured: usize,
    pub failed_attempts: u64,
    /// Refunds left PENDING that the acquirer has now confirmed or refused.
    pub refunds_succeeded: usize,
    pub refunds_failed: usize,
}

/// Tidies up after a crash or an acquirer outage: captures APPROVED payments
/// whose capture was never confirmed (the link is PAID, so the money must be
/// taken), closes attempts left PENDING by a process that stopped while the
/// acquirer was deciding (they already hold no place against the limits), and
/// settles refunds whose answer from the acquirer never arrived.
pub async fn reconcile(
    db: &Db,
    acquirer: &dyn Acquirer,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<Reconciled, DbError> {
    let mut done = Reconciled::default();
    for (id, authorisation) in db.uncaptured_payments(now - CAPTURE_GRACE, 100).await? {
        match acquirer.capture(&authorisation).await {
            Ok(()) => {
                db.mark_captured(&id, Utc::now()).await?;
                done.captured += 1;
            }
            Err(e) => tracing::warn!(transaction_id = id, error = %e, "capture retry failed"),
        }
    }
    done.failed_attempts = db.fail_stale_attempts(now - PENDING_WINDOW, now).await?;
    let refunds = refund::retry_pending(db, acquirer, now - REFUND_GRACE, public_url).await?;
    done.refunds_succeeded = refunds.succeeded;
    done.refunds_failed = refunds.failed;
    if done != Reconciled::default() {
        tracing::info!(
            captured = done.captured,
            failed_attempts = done.failed_attempts,
            refunds_succeeded = done.refunds_succeeded,
            refunds_failed = done.refunds_failed,
            "payments reconciled"
        );
    }
    Ok(done)
}

/// A link as its shopper sees it, with the name of the merchant to pay.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub link: Link,
    pub merchant_name: String,
}

/// The link behind a shopper URL code, if any.
pub async fn checkout(db: &Db, code: &str) -> Result<Option<Checkout>, DbError> {
    let Some(link) = db.link_by_code(code).await? else {
        return Ok(None);
    };
    let merchant = db
        .merchant(link.merchant_id)
        .await?
        .ok_or_else(|| DbError::Corrupt(format!("link {} has no merchant", link.id)))?;
    Ok(Some(Checkout {
        link,
        merchant_name: merchant.name,
    }))
}

/// The approved payment `transaction_id` of the link behind `code`, for the
/// receipt; `None` when there is no such approved payment.
pub async fn receipt(
    db: &Db,
    code: &str,
    transaction_id: &str,
) -> Result<Option<(Checkout, Payment)>, DbError> {
    let Some(checkout) = checkout(db, code).await? else {
        return Ok(None);
    };
    let payment = checkout
        .link
        .payments
        .iter()
        .find(|p| p.id == transaction_id && p.is_approved())
        .cloned();
    Ok(payment.map(|p| (checkout, p)))
}
