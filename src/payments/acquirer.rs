//! The acquirer boundary: whoever authorises, captures and voids card payments.
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
}

/// The sandbox's always-declined test card.
pub const DECLINED_CARD: &str = "4000000000000002";

/// The built-in acquirer for trying the service out and for tests: every valid
/// card is approved except [`DECLINED_CARD`]. It keeps its open holds in memory
/// and refuses to capture or void a hold it does not have, as a processor would.
#[derive(Debug, Default)]
pub struct SandboxAcquirer {
    holds: Mutex<HashMap<String, i64>>,
}

impl SandboxAcquirer {
    pub fn new() -> SandboxAcquirer {
        SandboxAcquirer::default()
    }

    /// How many authorisations are neither captured nor voided.
    pub fn open_holds(&self) -> usize {
        self.holds.lock().map(|h| h.len()).unwrap_or(0)
    }

    fn close_hold(&self, authorisation: &str, what: &str) -> Result<(), AcquirerError> {
        let mut holds = self
            .holds
            .lock()
            .map_err(|_| AcquirerError::Unavailable("sandbox state poisoned".into()))?;
        match holds.remove(authorisation) {
            Some(_) => Ok(()),
            None => Err(AcquirerError::Refused(format!(
                "cannot {what} {authorisation}: no open authorisation"
            ))),
        }
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
            self.holds
                .lock()
                .map_err(|_| AcquirerError::Unavailable("sandbox state poisoned".into()))?
                .insert(authorisation.clone(), request.amount_minor);
            Ok(Authorisation::Approved { authorisation })
        })
    }

    fn capture<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        Box::pin(async move { self.close_hold(authorisation, "capture") })
    }

    fn void<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        Box::pin(async move { self.close_hold(authorisation, "void") })
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
}
