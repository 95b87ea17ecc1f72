//! Paying a link (CONTRACT sections 4 and 6): the sandbox's test cards, the
//! receipt and the PAID notification, races between pays and cancels, expiry
//! before the sweep, voiding a losing authorisation, the card-testing lockout,
//! and card numbers kept out of logs and the database.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use paybylink::payments::{
    self, Acquirer, AcquirerError, Authorisation, AuthoriseRequest, CardInput, PayError, PayRequest,
};
use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    each_test_card_has_its_outcome,
    the_receipt_and_the_paid_notification,
    twenty_concurrent_pays_give_one_payment,
    pays_racing_cancels_end_paid_or_cancelled,
    a_link_past_its_due_date_cannot_be_paid_before_the_sweep,
    an_authorisation_that_loses_is_voided,
    ten_declines_lock_the_link_for_an_hour,
    a_burst_of_declines_cannot_pass_the_limit,
    card_numbers_never_reach_the_logs_or_the_database,
    reconciliation_captures_what_a_crash_left_and_closes_stale_attempts,
);

fn id_of(link: &Value) -> String {
    link["id"].as_str().unwrap().to_string()
}

/// The receipt address a successful payment redirects to.
fn receipt_location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), 303);
    res.headers()["location"].to_str().unwrap().to_string()
}

async fn each_test_card_has_its_outcome(backend: Backend) {
    let app = spawn_app(backend).await;

    // 4000 0000 0000 0002 is declined; the link stays CREATED and may be paid.
    let link = app.create_link(&app.body()).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    let res = app.pay(&code, &token, DECLINED).await;
    assert_eq!(res.status(), 402);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Tu tarjeta ha sido rechazada"),
        "declined, in the link's language: {html}"
    );
    assert!(html.contains("value=\"Ana García\"") && html.contains("name=\"cardNumber\""));
    assert_eq!(app.stored_status(&id).await, "CREATED");
    let api: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(api["status"], "CREATED");
    assert_eq!(api["payments"][0]["status"], "DECLINED");
    assert_eq!(api["payments"][0]["brand"], "visa");
    assert_eq!(api["payments"][0]["last4"], "0002");
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM events").await,
        0,
        "a decline changes no status"
    );

    // A number failing the Luhn check and a past expiry are form errors.
    for (card, field) in [
        (
            TestCard {
                number: "4242 4242 4242 4243",
                ..VISA
            },
            "cardNumber",
        ),
        (
            TestCard {
                expiry: "01/20",
                ..VISA
            },
            "expiry",
        ),
    ] {
        let res = app.pay(&code, &token, card).await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains(&format!("id=\"{field}-error\"")), "{html}");
    }
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM payments").await, 1);

    // Any other valid number is approved: after a decline, 4242… pays the link.
    let res = app.pay(&code, &token, VISA).await;
    let location = receipt_location(&res);
    assert!(
        location.starts_with(&format!("/p/{code}/receipt/")),
        "{location}"
    );
    assert_eq!(app.stored_status(&id).await, "PAID");
    assert_eq!(app.payments_with(&id, "APPROVED").await, 1);
    assert_eq!(app.payments_with(&id, "DECLINED").await, 1);

    // Other brands, including a 2-series Mastercard and a four-digit Amex code.
    for (number, cvc, brand) in [
        ("5555 5555 5555 4444", "123", "master"),
        ("2223 0031 2200 3222", "123", "master"),
        ("3782 822463 10005", "1234", "amex"),
    ] {
        let link = app.create_link(&app.body()).await;
        let code = link_code(&link);
        let token = app.token_of(&code).await;
        let card = TestCard {
            number,
            cvc,
            ..VISA
        };
        receipt_location(&app.pay(&code, &token, card).await);
        let api: Value = app.get_link(&id_of(&link)).await.json().await.unwrap();
        assert_eq!(api["status"], "PAID");
        assert_eq!(api["payments"][0]["brand"], brand);
        assert_eq!(api["payments"][0]["last4"], &number[number.len() - 4..]);
    }

    // A paid link refuses another payment and says the card was not charged.
    let res = app.pay(&code, &token, VISA).await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-status=\"PAID\"") && !html.contains("<form"));
    assert!(
        html.contains("No se ha cargado nada en tu tarjeta."),
        "{html}"
    );
    assert_eq!(app.payments_with(&id, "APPROVED").await, 1);
    app.stop().await;
}

async fn the_receipt_and_the_paid_notification(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&app.body()).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    let location = receipt_location(&app.pay(&code, &token, VISA).await);
    assert!(location.ends_with("?lang=es"), "{location}");

    let api: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(api["status"], "PAID");
    assert!(api["paidAt"].is_string());
    let payment = &api["payments"][0];
    let transaction_id = payment["transactionId"].as_str().unwrap();
    assert!(
        !transaction_id.is_empty() && transaction_id.len() <= 20,
        "{transaction_id}"
    );
    assert_eq!(payment["status"], "APPROVED");
    assert_eq!(payment["amount"], json!(32.99));
    assert_eq!(payment["brand"], "visa");
    assert_eq!(payment["last4"], "4242");
    assert!(location.contains(transaction_id));
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM payments WHERE id = '{transaction_id}' AND captured_at IS NOT NULL"
            ))
            .await,
        1,
        "captured at the acquirer"
    );

    let res = app.client.get(app.url(&location)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    for part in [
        "id=\"receipt\"",
        "Pago recibido",
        "id=\"receipt-merchant\">Shoe Shop<",
        "id=\"receipt-description\">Paying for shoes bought Jan 1st<",
        "id=\"receipt-amount\">32,99 €<",
        &format!("id=\"transaction-id\">{transaction_id}<"),
        "id=\"receipt-card\">Visa terminada en 4242<",
    ] {
        assert!(html.contains(part), "{part} missing:\n{html}");
    }
    let today = chrono::Utc::now().format("%Y").to_string();
    assert!(html.contains(&format!("de {today}, ")), "date: {html}");
    let (_, en) = {
        let res = app
            .client
            .get(app.url(&location.replace("lang=es", "lang=en")))
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    };
    assert!(en.contains("Visa ending in 4242") && en.contains("€32.99"));
    // A receipt needs the right transaction id of the right link.
    let other = link_code(&app.create_link(&app.body()).await);
    for wrong in [
        format!("/p/{other}/receipt/{transaction_id}"),
        format!("/p/{code}/receipt/{}", &transaction_id[1..]),
    ] {
        let res = app.client.get(app.url(&wrong)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{wrong}");
    }

    // The PAID event, written with the change, carries the transaction id.
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
            ))
            .await,
        1
    );
    let payload: Value = serde_json::from_str(
        &app.db
            .text(&format!(
                "SELECT payload FROM events WHERE link_id = '{id}'"
            ))
            .await,
    )
    .unwrap();
    assert_eq!(payload["status"], "PAID");
    assert_eq!(payload["previousStatus"], "CREATED");
    assert_eq!(payload["transactionId"], transaction_id);
    assert_eq!(payload["id"], id.as_str());
    assert_eq!(payload["amount"], json!(32.99));
    app.stop().await;
}

/// Posts `n` payments of `card` on `code` at once; the HTTP statuses.
pub(crate) async fn concurrent_pays(app: &TestApp, code: &str, token: &str, n: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = app.url(&format!("/p/{code}/pay"));
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("csrf", token.as_str()),
                    ("cardholder", VISA.holder),
                    ("cardNumber", VISA.number),
                    ("expiry", VISA.expiry),
                    ("cvc", VISA.cvc),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

/// No attempt is left waiting, and every one that did not pay was voided.
pub(crate) async fn assert_settled(app: &TestApp, id: &str) {
    assert_eq!(
        app.payments_with(id, "PENDING").await,
        0,
        "none left pending"
    );
    assert_eq!(app.payments_with(id, "FAILED").await, 0);
    let total = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM payments WHERE link_id = '{id}'"
        ))
        .await;
    assert_eq!(
        app.payments_with(id, "APPROVED").await + app.payments_with(id, "VOIDED").await,
        total,
        "every losing authorisation is voided"
    );
}

async fn twenty_concurrent_pays_give_one_payment(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&app.body()).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    let statuses = concurrent_pays(&app, &code, &token, 20).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [303, 409, 429].contains(s)),
        "losers are told, not failed: {statuses:?}"
    );
    assert_eq!(app.stored_status(&id).await, "PAID");
    assert_eq!(app.payments_with(&id, "APPROVED").await, 1);
    assert_settled(&app, &id).await;
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
            ))
            .await,
        1,
        "one PAID event"
    );
    app.stop().await;
}

async fn pays_racing_cancels_end_paid_or_cancelled(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut paid, mut cancelled) = (0, 0);
    for round in 0..20 {
        let link = app.create_link(&app.body()).await;
        let (id, code) = (id_of(&link), link_code(&link));
        let token = app.token_of(&code).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let client = app.client.clone();
            let pay_url = app.url(&format!("/p/{code}/pay"));
            let cancel_url = app.url(&format!("/api/v1/pay-by-link/{id}/cancel"));
            let token = token.clone();
            let bearer = app.merchant.token.clone();
            tasks.push(tokio::spawn(async move {
                let req = if i % 2 == 0 {
                    client.post(pay_url).form(&[
                        ("csrf", token.as_str()),
                        ("cardholder", VISA.holder),
                        ("cardNumber", VISA.number),
                        ("expiry", VISA.expiry),
                        ("cvc", VISA.cvc),
                    ])
                } else {
                    client.post(cancel_url).bearer_auth(bearer).json(&json!({}))
                };
                (i % 2 == 0, req.send().await.unwrap().status().as_u16())
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let status = app.stored_status(&id).await;
        let approved = app.payments_with(&id, "APPROVED").await;
        let events = app
            .db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
            ))
            .await;
        let pays_ok = results.iter().filter(|(p, s)| *p && *s == 303).count();
        match status.as_str() {
            "PAID" => {
                paid += 1;
                assert_eq!(approved, 1, "round {round}");
                assert_eq!(pays_ok, 1, "round {round}: {results:?}");
                // No cancel won, so every one was refused.
                assert!(results.iter().all(|(p, s)| *p || *s == 400), "{results:?}");
            }
            "CANCELLED" => {
                cancelled += 1;
                assert_eq!(approved, 0, "round {round}");
                assert_eq!(pays_ok, 0, "round {round}: {results:?}");
                assert!(results.iter().all(|(p, s)| *p || *s == 200));
            }
            other => panic!("round {round} ended {other}"),
        }
        assert_eq!(events, 1, "round {round}: one event for the one change");
        assert_settled(&app, &id).await;
    }
    eprintln!("{backend:?}: {paid} rounds paid, {cancelled} cancelled");
    app.stop().await;
}

async fn a_link_past_its_due_date_cannot_be_paid_before_the_sweep(backend: Backend) {
    let app = spawn_app_with(backend, false).await;
    let mut body = app.body();
    body["language"] = json!("EN");
    let due = chrono::Utc::now() + chrono::Duration::seconds(2);
    body["dueDate"] = json!(due.to_rfc3339());
    let link = app.create_link(&body).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;

    let (status, html) = app.page(&code, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("data-status=\"EXPIRED\""), "{html}");
    assert!(html.contains("This link has expired") && !html.contains("<form"));

    let res = app.pay(&code, &token, VISA).await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("data-status=\"EXPIRED\""));
    assert!(html.contains("Your card has not been charged."));
    assert_eq!(
        app.stored_status(&id).await,
        "CREATED",
        "not written down: the sweep is off"
    );
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM events").await, 0);
    app.stop().await;
}

/// An acquirer that approves, but only once the test lets it, and records what
/// it is asked to capture and void.
#[derive(Default)]
struct GatedAcquirer {
    entered: tokio::sync::Notify,
    proceed: tokio::sync::Notify,
    authorised: AtomicUsize,
    captured: Mutex<Vec<String>>,
    voided: Mutex<Vec<String>>,
}

impl Acquirer for GatedAcquirer {
    fn name(&self) -> &'static str {
        "gated"
    }

    fn authorise<'a>(
        &'a self,
        request: AuthoriseRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, AcquirerError>> {
        Box::pin(async move {
            assert_eq!(request.card.number.last4(), "4242");
            self.entered.notify_one();
            self.proceed.notified().await;
            let n = self.authorised.fetch_add(1, Ordering::SeqCst);
            Ok(Authorisation::Approved {
                authorisation: format!("gate-{n}"),
            })
        })
    }

    fn capture<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        Box::pin(async move {
            self.captured
                .lock()
                .unwrap()
                .push(authorisation.to_string());
            Ok(())
        })
    }

    fn void<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        Box::pin(async move {
            self.voided.lock().unwrap().push(authorisation.to_string());
            Ok(())
        })
    }

    fn refund<'a>(
        &'a self,
        request: paybylink::payments::RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<String, AcquirerError>> {
        // These tests never refund; saying so beats a silent success.
        Box::pin(async move {
            Err(AcquirerError::Refused(format!(
                "the gated test acquirer does not refund {}",
                request.authorisation
            )))
        })
    }
}

/// Pays `code` through the use case with `acquirer`, in a task.
fn pay_in_background(
    app: &TestApp,
    acquirer: Arc<GatedAcquirer>,
    code: String,
) -> tokio::task::JoinHandle<Result<payments::Paid, PayError>> {
    let state = app.state.clone();
    tokio::spawn(async move {
        let card = CardInput {
            number: VISA.number.into(),
            expiry: VISA.expiry.into(),
            cvc: VISA.cvc.into(),
            holder: VISA.holder.into(),
        };
        let request = PayRequest {
            code: &code,
            card: &card,
            shown_amount: None,
        };
        payments::pay(
            &state.db,
            acquirer.as_ref(),
            &request,
            PUBLIC_URL,
            state.outbox(),
        )
        .await
    })
}

async fn an_authorisation_that_loses_is_voided(backend: Backend) {
    let app = spawn_app_with(backend, false).await;

    // Cancelled while the acquirer is deciding.
    let link = app.create_link(&app.body()).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let acquirer = Arc::new(GatedAcquirer::default());
    let task = pay_in_background(&app, acquirer.clone(), code);
    acquirer.entered.notified().await;
    assert_eq!(app.cancel(&id).await.status(), 200);
    acquirer.proceed.notify_one();
    let outcome = task.await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(PayError::Closed(paybylink::links::Status::Cancelled))
        ),
        "{outcome:?}"
    );
    assert_eq!(*acquirer.voided.lock().unwrap(), ["gate-0"]);
    assert!(acquirer.captured.lock().unwrap().is_empty());
    assert_eq!(app.stored_status(&id).await, "CANCELLED");
    assert_eq!(app.payments_with(&id, "VOIDED").await, 1);

    // Expired while the acquirer is deciding (the sweep is off).
    let mut body = app.body();
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    body["dueDate"] = json!(due.to_rfc3339());
    let link = app.create_link(&body).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let acquirer = Arc::new(GatedAcquirer::default());
    let task = pay_in_background(&app, acquirer.clone(), code);
    acquirer.entered.notified().await;
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    acquirer.proceed.notify_one();
    let outcome = task.await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(PayError::Closed(paybylink::links::Status::Expired))
        ),
        "{outcome:?}"
    );
    assert_eq!(*acquirer.voided.lock().unwrap(), ["gate-0"]);
    assert!(acquirer.captured.lock().unwrap().is_empty());
    assert_eq!(app.stored_status(&id).await, "CREATED");
    assert_eq!(app.payments_with(&id, "VOIDED").await, 1);
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
            ))
            .await,
        0
    );

    // Paid by another shopper while the acquirer is deciding.
    let link = app.create_link(&app.body()).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let acquirer = Arc::new(GatedAcquirer::default());
    let task = pay_in_background(&app, acquirer.clone(), code.clone());
    acquirer.entered.notified().await;
    let token = app.token_of(&code).await;
    receipt_location(&app.pay(&code, &token, VISA).await);
    acquirer.proceed.notify_one();
    let outcome = task.await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(PayError::Closed(paybylink::links::Status::Paid))
        ),
        "{outcome:?}"
    );
    assert_eq!(*acquirer.voided.lock().unwrap(), ["gate-0"]);
    assert_eq!(app.payments_with(&id, "APPROVED").await, 1);
    assert_eq!(app.payments_with(&id, "VOIDED").await, 1);

    // Uncontested, the same acquirer's authorisation is captured.
    let link = app.create_link(&app.body()).await;
    let acquirer = Arc::new(GatedAcquirer::default());
    let task = pay_in_background(&app, acquirer.clone(), link_code(&link));
    acquirer.entered.notified().await;
    acquirer.proceed.notify_one();
    let paid = task.await.unwrap().expect("paid");
    assert_eq!(paid.link.stored_status, paybylink::links::Status::Paid);
    assert_eq!(*acquirer.captured.lock().unwrap(), ["gate-0"]);
    assert!(acquirer.voided.lock().unwrap().is_empty());
    app.stop().await;
}

async fn ten_declines_lock_the_link_for_an_hour(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body();
    body["language"] = json!("EN");
    let link = app.create_link(&body).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    for i in 0..10 {
        assert_eq!(app.pay(&code, &token, DECLINED).await.status(), 402, "{i}");
    }
    // The eleventh attempt is refused before it reaches the acquirer, even
    // with a good card.
    let res = app.pay(&code, &token, VISA).await;
    assert_eq!(res.status(), 429);
    let html = res.text().await.unwrap();
    assert!(html.contains("too many declined payments"), "{html}");
    assert_eq!(app.stored_status(&id).await, "CREATED");
    assert_eq!(app.payments_with(&id, "DECLINED").await, 10);
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM payments WHERE link_id = '{id}'"
            ))
            .await,
        10
    );
    // Other links are not affected.
    let other = link_code(&app.create_link(&body).await);
    let other_token = app.token_of(&other).await;
    assert_eq!(app.pay(&other, &other_token, DECLINED).await.status(), 402);

    // An hour later the declines no longer count.
    app.db
        .exec(&format!(
            "UPDATE payments SET created_at = created_at - 3600001 WHERE link_id = '{id}'"
        ))
        .await;
    receipt_location(&app.pay(&code, &token, VISA).await);
    assert_eq!(app.stored_status(&id).await, "PAID");
    app.stop().await;
}

async fn a_burst_of_declines_cannot_pass_the_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&app.body()).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let client = app.client.clone();
        let url = app.url(&format!("/p/{code}/pay"));
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("csrf", token.as_str()),
                    ("cardholder", DECLINED.holder),
                    ("cardNumber", DECLINED.number),
                    ("expiry", DECLINED.expiry),
                    ("cvc", DECLINED.cvc),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let reached_acquirer = statuses.iter().filter(|s| **s == 402).count();
    assert!(reached_acquirer <= 10, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [402, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(app.payments_with(&id, "DECLINED").await <= 10);
    assert_eq!(
        app.payments_with(&id, "DECLINED").await,
        reached_acquirer as i64
    );
    app.stop().await;
}

/// A `paybylink serve` child process with its log (standard error) collected.
struct Served {
    child: std::process::Child,
    port: u16,
    lines: Vec<String>,
    rest: std::sync::mpsc::Receiver<String>,
}

// The child is waited for in `stop`.
#[allow(clippy::zombie_processes)]
fn serve(db: &TestDb, rust_log: &str) -> Served {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_paybylink"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run paybylink serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rest) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rest
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line: {lines:?}"));
        let port = line
            .contains("listening")
            .then(|| line.split("port=").nth(1))
            .flatten()
            .and_then(|p| p.split_whitespace().next())
            .and_then(|p| p.parse().ok());
        lines.push(line);
        if let Some(port) = port {
            return Served {
                child,
                port,
                lines,
                rest,
            };
        }
    }
}

impl Served {
    /// Stops the server with SIGTERM and returns its whole log.
    fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(self.child.wait().unwrap().success());
        while let Ok(line) = self.rest.recv_timeout(Duration::from_millis(500)) {
            self.lines.push(line);
        }
        self.lines.join("\n")
    }
}

/// Runs a CLI command and parses its `--json` answer.
fn cli_json(db: &TestDb, args: &[&str]) -> Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paybylink"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every row of every table of the database, as text.
async fn dump_database(db: &TestDb) -> String {
    let mut dump = String::new();
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&pool)
                .await
                .unwrap();
        for table in tables {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            if columns.is_empty() {
                continue;
            }
            let concat = columns
                .iter()
                .map(|c| format!("quote(\"{c}\")"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT {concat} FROM \"{table}\""))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            dump.push_str(&format!("{table}: {}\n", rows.join("\n")));
        }
        pool.close().await;
        // And the raw files, free pages and write-ahead log included.
        let path = db.url.trim_start_matches("sqlite://");
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                dump.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM \"{table}\" t"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            dump.push_str(&format!("{table}: {}\n", rows.join("\n")));
        }
        pool.close().await;
    }
    dump
}

async fn card_numbers_never_reach_the_logs_or_the_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let merchant = cli_json(
        &db,
        &["merchant", "create", "--name", "Shoe Shop", "--json"],
    );
    let merchant_id = merchant["merchantId"].as_i64().unwrap().to_string();
    let client = cli_json(
        &db,
        &["client", "create", "--merchant", &merchant_id, "--json"],
    );
    let served = serve(&db, "trace");
    let base = format!("http://127.0.0.1:{}", served.port);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(
            client["clientId"].as_str().unwrap(),
            client["clientSecret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = token["access_token"].as_str().unwrap();
    let mut body = TestApp::link_body(&TestMerchant {
        id: merchant["merchantId"].as_i64().unwrap(),
        product_id: merchant["productId"].as_i64().unwrap(),
        client_id: String::new(),
        client_secret: String::new(),
        token: String::new(),
    });
    body["language"] = json!("EN");
    let link: Value = http
        .post(format!("{base}/api/v1/pay-by-link"))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = link_code(&link);
    let page = http
        .get(format!("{base}/p/{code}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form_token(&page);
    let pay = |number: &'static str, cvc: &'static str| {
        http.post(format!("{base}/p/{code}/pay"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("cardholder", "Ana García"),
                ("cardNumber", number),
                ("expiry", "12/39"),
                ("cvc", cvc),
            ])
            .send()
    };
    // A form error, a decline, then the approved payment.
    assert_eq!(
        pay("4242 4242 4242 4242", "7x").await.unwrap().status(),
        422
    );
    assert_eq!(
        pay("4000 0000 0000 0002", "737").await.unwrap().status(),
        402
    );
    let res = pay("4242 4242 4242 4242", "737").await.unwrap();
    assert_eq!(res.status(), 303);
    let log = served.stop();

    // The log really holds the handling of these requests, in detail.
    assert!(
        log.contains(&format!("path=/p/{code}/pay")) && log.contains("status=303"),
        "{log}"
    );
    assert!(log.contains("link paid"), "{log}");
    assert!(
        log.contains("DEBUG") || log.contains("TRACE"),
        "debug lines: {log}"
    );
    let database = dump_database(&db).await;
    assert!(
        database.contains("4242") && database.contains("0002"),
        "the dump holds the last four digits, so it holds payments: {database}"
    );
    for (place, text) in [("log", &log), ("database", &database)] {
        for secret in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "4242+4242+4242+4242",
            "4242%204242",
            "4000000000000002",
            "4000 0000 0000 0002",
            "4000+0000+0000+0002",
            "cvc=737",
            "cvc=7x",
            "\"737\"",
        ] {
            assert!(!text.contains(secret), "{secret:?} found in the {place}");
        }
    }
    db.drop_database().await;
}

/// After a crash between "PAID" and "captured", or with attempts left PENDING,
/// the reconciliation pass finishes the job.
async fn reconciliation_captures_what_a_crash_left_and_closes_stale_attempts(backend: Backend) {
    let app = spawn_app_with(backend, false).await;
    let link = id_of(&app.create_link(&app.body()).await);
    let input = paybylink::payments::CardInput {
        number: "4242424242424242".into(),
        expiry: "12/39".into(),
        cvc: "123".into(),
        holder: "Ana Pérez".into(),
    };
    let card = input.validate(chrono::Utc::now()).unwrap();
    let request = paybylink::payments::AuthoriseRequest {
        reference: "T1",
        amount_minor: 3299,
        currency: paybylink::money::Currency::parse("EUR").unwrap(),
        card: &card,
    };
    let hold = match app.state.acquirer.authorise(request).await.unwrap() {
        paybylink::payments::Authorisation::Approved { authorisation } => authorisation,
        other => panic!("{other:?}"),
    };
    let long_ago = chrono::Utc::now().timestamp_millis() - 10 * 60 * 1000;
    let merchant = app.merchant.id;
    for (id, status, authorisation, created) in [
        ("crashed-capture", "APPROVED", hold.as_str(), long_ago),
        ("unknown-hold", "APPROVED", "no-such-hold", long_ago),
        ("stale-pending", "PENDING", "", long_ago),
        (
            "fresh-pending",
            "PENDING",
            "",
            chrono::Utc::now().timestamp_millis(),
        ),
    ] {
        app.db
            .exec(&format!(
                "INSERT INTO payments (id, link_id, merchant_id, status, amount_minor, brand, last4, created_at,
                     authorisation, updated_at)
                 VALUES ('{id}', '{link}', {merchant}, '{status}', 3299, 'visa', '4242', {created},
                     NULLIF('{authorisation}', ''), {created})"
            ))
            .await;
    }
    let done = paybylink::payments::reconcile(
        &app.state.db,
        app.state.acquirer.as_ref(),
        PUBLIC_URL,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(done.captured, 1);
    assert_eq!(done.failed_attempts, 1);
    let captured = |id: &str| {
        format!("SELECT COUNT(*) FROM payments WHERE id = '{id}' AND captured_at IS NOT NULL")
    };
    assert_eq!(app.db.scalar(&captured("crashed-capture")).await, 1);
    assert_eq!(
        app.db.scalar(&captured("unknown-hold")).await,
        0,
        "a refused capture is retried later"
    );
    assert_eq!(
        app.db
            .text("SELECT status FROM payments WHERE id = 'stale-pending'")
            .await,
        "FAILED"
    );
    assert_eq!(
        app.db
            .text("SELECT status FROM payments WHERE id = 'fresh-pending'")
            .await,
        "PENDING"
    );
    // A second pass has nothing more to capture and closes nothing new.
    let again = paybylink::payments::reconcile(
        &app.state.db,
        app.state.acquirer.as_ref(),
        PUBLIC_URL,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(again.captured, 0);
    assert_eq!(again.failed_attempts, 0);
    app.stop().await;
}
