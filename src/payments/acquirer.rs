//! The acquirer boundary: whoever authorises, captures, voids and refunds card
//! payments.
//! The pay use case talks only to [`Acquirer`]; the built-in [`SandboxAcquirer`]
//! answers by the test cards of CONTRACT section 6, and a connector to a real
//! payment processor implements the same trait and is chosen in `startup`.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use super::card::Card;
use crate::money::Currency;
use crate::random;

/// What to authorise. `reference` is our transaction id, for the processor's
/// records and for idempotent retries on its side.
#[derive(Debug)]
pub struct AuthoriseRequest<'a> {
    pub reference: &'a str,
    pub amount_minor: i64,
    pub currency: Currency,
    pub card: &'a Card,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorisation {
    /// Funds are held; `authorisation` names the hold for capture or void.
    Approved { authorisation: String },
    /// The issuer said no; `reason` is the processor's code, for the log only.
    Declined { reason: String },
}

/// What to give back to the shopper's card. `reference` is our refund id: the
/// acquirer treats every call with one reference as the same refund, so a retry
/// after a timeout or a crash never refunds twice.
#[derive(Debug, Clone, Copy)]
pub struct RefundRequest<'a> {
    /// The authorisation that was captured (what [`Authorisation::Approved`] named).
    pub authorisation: &'a str,
    pub reference: &'a str,
    pub amount_minor: i64,
    pub currency: Currency,
}

#[derive(Debug, thiserror::Error)]
pub enum AcquirerError {
    #[error("the acquirer could not be reached or failed: {0}")]
    Unavailable(String),
    #[error("the acquirer refused the operation: {0}")]
    Refused(String),
}

/// A card acquirer. Object safe, so the application holds an `Arc<dyn Acquirer>`
/// and a connector is picked at start-up without touching routes or the link
/// lifecycle. Implementations must bound their own network calls in time and
/// must never log the card number or the CVC.
pub trait Acquirer: Send + Sync {
    /// A short name for logs (`sandbox`, …).
    fn name(&self) -> &'static str;

    /// Asks the issuer to hold the amount on the card.
    fn authorise<'a>(
        &'a self,
        request: AuthoriseRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, AcquirerError>>;

    /// Takes the held funds; called once the link has been marked PAID.
    fn capture<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>>;

    /// Releases a hold that must not be taken (the link was paid, cancelled or
    /// expired meanwhile), so the shopper is not charged.
    fn void<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>>;

    /// Gives part or all of a captured authorisation back to the card; answers
    /// the acquirer's id of the refund. A repeated call with the same reference
    /// and amount answers as the first one did and refunds nothing more. The
    /// acquirer refuses ([`AcquirerError::Refused`]) an amount beyond what is
    /// left of the capture; [`AcquirerError::Unavailable`] leaves the outcome
    /// unknown, to be settled by calling again with the same reference.
    fn refund<'a>(
        &'a self,
        request: RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<String, AcquirerError>>;
}

/// The sandbox's always-declined test card.
pub const DECLINED_CARD: &str = "4000000000000002";

/// The built-in acquirer for trying the service out and for tests: every valid
/// card is approved except [`DECLINED_CARD`]. It keeps its open holds and its
/// captures in memory and, as a processor would, refuses to capture or void a
/// hold it does not have and to refund more than a capture holds.
#[derive(Debug, Default)]
pub struct SandboxAcquirer {
    state: Mutex<SandboxState>,
}

#[derive(Debug, Default)]
struct SandboxState {
    /// Open authorisations and their amounts.
    holds: HashMap<String, i64>,
    /// Captured authorisations.
    captures: HashMap<String, Capture>,
}

#[derive(Debug)]
struct Capture {
    amount_minor: i64,
    /// Refunds by our reference: (amount, the sandbox's refund id).
    refunds: HashMap<String, (i64, String)>,
}

impl Capture {
    fn refunded_minor(&self) -> i64 {
        self.refunds.values().map(|(amount, _)| amount).sum()
    }
}

impl SandboxAcquirer {
    pub fn new() -> SandboxAcquirer {
        SandboxAcquirer::default()
    }

    /// How many authorisations are neither captured nor voided.
    pub fn open_holds(&self) -> usize {
        self.state.lock().map(|s| s.holds.len()).unwrap_or(0)
    }

    /// How much of a captured authorisation has been refunded.
    pub fn refunded(&self, authorisation: &str) -> i64 {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.captures.get(authorisation).map(Capture::refunded_minor))
            .unwrap_or(0)
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, SandboxState>, AcquirerError> {
        self.state
            .lock()
            .map_err(|_| AcquirerError::Unavailable("sandbox state poisoned".into()))
    }

    fn close_hold(&self, authorisation: &str, what: &str) -> Result<i64, AcquirerError> {
        match self.state()?.holds.remove(authorisation) {
            Some(amount) => Ok(amount),
            None => Err(AcquirerError::Refused(format!(
                "cannot {what} {authorisation}: no open authorisation"
            ))),
        }
    }

    fn refund_now(&self, request: RefundRequest<'_>) -> Result<String, AcquirerError> {
        let mut state = self.state()?;
        let Some(capture) = state.captures.get_mut(request.authorisation) else {
            return Err(AcquirerError::Refused(format!(
                "cannot refund {}: not captured",
                request.authorisation
            )));
        };
        if let Some((amount, id)) = capture.refunds.get(request.reference) {
            // A retry of a refund already made: the same answer, nothing more.
            return if *amount == request.amount_minor {
                Ok(id.clone())
            } else {
                Err(AcquirerError::Refused(format!(
                    "refund reference {} was used with another amount",
                    request.reference
                )))
            };
        }
        let left = capture.amount_minor - capture.refunded_minor();
        if request.amount_minor <= 0 || request.amount_minor > left {
            return Err(AcquirerError::Refused(format!(
                "cannot refund {} of {}: {left} left",
                request.amount_minor, request.authorisation
            )));
        }
        let id = format!("sbr_{}", random::alphanumeric(20));
        capture.refunds.insert(
            request.reference.to_string(),
            (request.amount_minor, id.clone()),
        );
        Ok(id)
    }
}

impl Acquirer for SandboxAcquirer {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn authorise<'a>(
        &'a self,
        request: AuthoriseRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, AcquirerError>> {
        Box::pin(async move {
            if request.card.number.digits() == DECLINED_CARD {
                return Ok(Authorisation::Declined {
                    reason: "do_not_honour".into(),
                });
            }
            let authorisation = format!("sbx_{}", random::alphanumeric(20));
            self.state()?
                .holds
                .insert(authorisation.clone(), request.amount_minor);
            Ok(Authorisation::Approved { authorisation })
        })
    }

    fn capture<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        Box::pin(async move {
            let amount_minor = self.close_hold(authorisation, "capture")?;
            self.state()?.captures.insert(
                authorisation.to_string(),
                Capture {
                    amount_minor,
                    refunds: HashMap::new(),
                },
            );
            Ok(())
        })
    }

    fn void<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        Box::pin(async move { self.close_hold(authorisation, "void").map(|_| ()) })
    }

    fn refund<'a>(
        &'a self,
        request: RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<String, AcquirerError>> {
        Box::pin(async move { self.refund_now(request) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::card::CardInput;

    fn card(number: &str) -> Card {
        CardInput {
            number: number.into(),
            expiry: "12/40".into(),
            cvc: "123".into(),
            holder: "Ana".into(),
        }
        .validate(chrono::Utc::now())
        .unwrap()
    }

    fn request<'a>(card: &'a Card) -> AuthoriseRequest<'a> {
        AuthoriseRequest {
            reference: "t1",
            amount_minor: 3299,
            currency: Currency::parse("EUR").unwrap(),
            card,
        }
    }

    #[tokio::test]
    async fn test_cards_and_holds() {
        let sandbox = SandboxAcquirer::new();
        let declined = card("4000 0000 0000 0002");
        assert!(matches!(
            sandbox.authorise(request(&declined)).await.unwrap(),
            Authorisation::Declined { .. }
        ));
        assert_eq!(sandbox.open_holds(), 0);

        let visa = card("4242 4242 4242 4242");
        let Authorisation::Approved { authorisation: a } =
            sandbox.authorise(request(&visa)).await.unwrap()
        else {
            panic!("4242… is approved");
        };
        let Authorisation::Approved { authorisation: b } = sandbox
            .authorise(request(&card("5555555555554444")))
            .await
            .unwrap()
        else {
            panic!("5555… is approved");
        };
        assert_eq!(sandbox.open_holds(), 2);
        sandbox.capture(&a).await.unwrap();
        sandbox.void(&b).await.unwrap();
        assert_eq!(sandbox.open_holds(), 0);
        assert!(matches!(
            sandbox.void(&a).await,
            Err(AcquirerError::Refused(_))
        ));
        assert!(matches!(
            sandbox.capture("sbx_unknown").await,
            Err(AcquirerError::Refused(_))
        ));
    }

    #[tokio::test]
    async fn refunds_stay_within_the_capture_and_a_retry_refunds_once() {
        let sandbox = SandboxAcquirer::new();
        let eur = Currency::parse("EUR").unwrap();
        let refund = |authorisation, reference, amount_minor| RefundRequest {
            authorisation,
            reference,
            amount_minor,
            currency: eur,
        };
        let visa = card("4242 4242 4242 4242");
        let Authorisation::Approved { authorisation: a } =
            sandbox.authorise(request(&visa)).await.unwrap()
        else {
            panic!("4242… is approved");
        };
        // A hold that is not captured has nothing to give back.
        assert!(matches!(
            sandbox.refund(refund(&a, "r1", 100)).await,
            Err(AcquirerError::Refused(_))
        ));
        sandbox.capture(&a).await.unwrap();

        let first = sandbox.refund(refund(&a, "r1", 1000)).await.unwrap();
        assert_eq!(sandbox.refunded(&a), 1000);
        // The same reference again is the same refund, not a second one.
        assert_eq!(sandbox.refund(refund(&a, "r1", 1000)).await.unwrap(), first);
        assert_eq!(sandbox.refunded(&a), 1000);
        assert!(matches!(
            sandbox.refund(refund(&a, "r1", 500)).await,
            Err(AcquirerError::Refused(_))
        ));
        // More than is left of the 32.99 capture is refused; the rest is not.
        assert!(matches!(
            sandbox.refund(refund(&a, "r2", 2300)).await,
            Err(AcquirerError::Refused(_))
        ));
        let second = sandbox.refund(refund(&a, "r2", 2299)).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(sandbox.refunded(&a), 3299);
        assert!(matches!(
            sandbox.refund(refund(&a, "r3", 1)).await,
            Err(AcquirerError::Refused(_))
        ));
        assert!(matches!(
            sandbox.refund(refund("sbx_unknown", "r4", 1)).await,
            Err(AcquirerError::Refused(_))
        ));
    }
}
