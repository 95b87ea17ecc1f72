//! Refunds (CONTRACT section 11): a partial refund then the rest and the statuses
//! they lead to, concurrent refunds that never add up to more than the payment,
//! the 400s with their pointers, another merchant's link, the notification at a
//! real receiver, an acquirer outage left to the reconciliation, a refusal, and
//! the backoffice's refund pages (admins only).

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use paybylink::auth::Role;
use paybylink::merchants::MerchantId;
use paybylink::payments::{
    self, Acquirer, AcquirerError, Authorisation, AuthoriseRequest, CardInput, PayRequest,
    RefundError, RefundInput, RefundRequest, SandboxAcquirer,
};
use serde_json::{json, Value};

use crate::backoffice_helpers::*;
use crate::helpers::*;
use crate::notifications::{app_for_receivers, secret_of, set_url, verifies, Receiver};

on_both_backends!(
    a_partial_refund_then_the_rest,
    concurrent_refunds_never_add_up_to_more_than_the_payment,
    a_refund_of_more_than_was_paid_is_refused,
    bad_fields_are_400_with_their_pointers,
    another_merchants_link_is_404,
    a_refund_notification_arrives_signed,
    an_acquirer_outage_leaves_the_refund_pending_until_reconciled,
    a_refusal_by_the_acquirer_releases_the_amount,
    admins_refund_from_the_link_page_and_staff_are_refused,
    a_multi_use_link_keeps_its_status_until_paid_up,
);

// ----------------------------------------------------------------- helpers

/// A link of the default merchant paid with the sandbox's Visa through the
/// shopper's form: (link id, transaction id).
async fn paid_link(app: &TestApp, body: &Value) -> (String, String) {
    let link = app.create_link(body).await;
    let id = link["id"].as_str().unwrap().to_string();
    let code = link_code(&link);
    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    let api: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(api["status"], "PAID");
    let tx = api["payments"][0]["transactionId"]
        .as_str()
        .unwrap()
        .to_string();
    (id, tx)
}

async fn refund(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.post_json(
        &app.merchant.token,
        &format!("/api/v1/pay-by-link/{id}/refunds"),
        &body,
    )
    .await
}

/// Refunds and expects 200: the link.
async fn refund_ok(app: &TestApp, id: &str, body: Value) -> Value {
    let res = refund(app, id, body).await;
    let status = res.status();
    let json: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{json}");
    json
}

/// A 400 with one error naming a rule; its title.
async fn assert_rule(res: reqwest::Response, code: &str) -> String {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    body["errors"][0]["title"].as_str().unwrap().to_string()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.scalar(sql).await
}

async fn refunded_minor(app: &TestApp, tx: &str) -> i64 {
    count(
        app,
        &format!("SELECT refunded_minor FROM payments WHERE id = '{tx}'"),
    )
    .await
}

/// The statuses of a link's outbox events, sorted (two events of one
/// millisecond have no order).
async fn event_statuses(app: &TestApp, id: &str) -> Vec<String> {
    let events = paybylink::notifications::of_link(&app.state.db, MerchantId(app.merchant.id), id)
        .await
        .unwrap();
    let mut statuses: Vec<String> = events.into_iter().map(|e| e.link_status).collect();
    statuses.sort();
    statuses
}

/// What the acquirer confirmed of a payment.
async fn succeeded_minor(app: &TestApp, tx: &str) -> i64 {
    count(
        app,
        &format!(
            "SELECT CAST(coalesce(SUM(amount_minor), 0) AS BIGINT) FROM refunds
             WHERE payment_id = '{tx}' AND status = 'SUCCEEDED'"
        ),
    )
    .await
}

// ------------------------------------------------------------------- tests

async fn a_partial_refund_then_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, tx) = paid_link(&app, &app.body()).await;

    let link = refund_ok(
        &app,
        &id,
        json!({"transactionId": tx, "amount": 10.5, "reason": "One shoe was scuffed"}),
    )
    .await;
    assert_eq!(link["status"], "PARTIALLY_REFUNDED");
    assert_eq!(link["id"], id.as_str());
    let payment = &link["payments"][0];
    assert_eq!(payment["transactionId"], tx.as_str());
    assert_eq!(payment["status"], "APPROVED");
    assert_eq!(payment["amount"], json!(32.99));
    assert_eq!(payment["refundedAmount"], json!(10.5));
    let refunds = payment["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1);
    assert!(refunds[0]["id"].as_str().unwrap().starts_with("rfd_"));
    assert_eq!(refunds[0]["amount"], json!(10.5));
    assert_eq!(refunds[0]["reason"], "One shoe was scuffed");
    assert_eq!(refunds[0]["status"], "SUCCEEDED");
    assert!(
        chrono::DateTime::parse_from_rfc3339(refunds[0]["createdAt"].as_str().unwrap()).is_ok()
    );
    assert_eq!(app.stored_status(&id).await, "PARTIALLY_REFUNDED");
    assert_eq!(refunded_minor(&app, &tx).await, 1050);
    let (_, page) = app.page(&link_code(&link), "?lang=en").await;
    assert!(
        page.contains("data-status=\"PARTIALLY_REFUNDED\""),
        "{page}"
    );
    assert!(
        page.contains("refunded part of it") && !page.contains("<form"),
        "{page}"
    );

    // The rest: with one approved payment, no transactionId and no amount needed.
    let link = refund_ok(&app, &id, json!({})).await;
    assert_eq!(link["status"], "REFUNDED");
    let payment = &link["payments"][0];
    assert_eq!(payment["refundedAmount"], json!(32.99));
    let refunds = payment["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[1]["amount"], json!(22.49));
    assert!(refunds[1].get("reason").is_none(), "{link}");
    assert_ne!(refunds[0]["id"], refunds[1]["id"]);
    let read: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(read["status"], "REFUNDED");
    assert_eq!(read["payments"], link["payments"]);
    assert_eq!(refunded_minor(&app, &tx).await, 3299);
    assert_eq!(
        event_statuses(&app, &id).await,
        ["PAID", "PARTIALLY_REFUNDED", "REFUNDED"],
        "one notification per refund"
    );

    // Nothing is left; and a refunded link, like a paid one, is final otherwise.
    assert_rule(refund(&app, &id, json!({})).await, "refund_exceeds_payment").await;
    assert_rule(app.cancel(&id).await, "status_not_cancellable").await;
    let update = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &app.body(),
        )
        .await;
    assert_rule(update, "status_not_updatable").await;
    assert_eq!(app.stored_status(&id).await, "REFUNDED");

    // The shopper sees what happened, in the link's language, and no form.
    let (status, page) = app.page(&link_code(&link), "").await;
    assert_eq!(status, 200);
    assert!(page.contains("data-status=\"REFUNDED\""), "{page}");
    assert!(
        page.contains("Este enlace ya está pagado y reembolsado"),
        "{page}"
    );
    assert!(!page.contains("<form"), "{page}");

    // The list's status filter knows the new statuses.
    let other = paid_link(&app, &app.body()).await.0;
    refund_ok(&app, &other, json!({"amount": "1.00"})).await;
    for (filter, want) in [
        ("REFUNDED", vec![id.as_str()]),
        ("partially_refunded", vec![other.as_str()]),
        ("PAID", vec![]),
    ] {
        let page: Value = app
            .get_as(
                &app.merchant.token,
                &format!("/api/v1/pay-by-link?status={filter}"),
            )
            .await
            .json()
            .await
            .unwrap();
        let ids: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, want, "status={filter}");
    }
    let res = app
        .get_as(&app.merchant.token, "/api/v1/pay-by-link?status=REFUNDISH")
        .await;
    let body = assert_400_pointers(res, &["<none>"]).await;
    assert!(
        body["errors"][0]["title"]
            .as_str()
            .unwrap()
            .contains("PARTIALLY_REFUNDED"),
        "{body}"
    );

    // The OpenAPI document describes the operation and what it answers.
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let op = &doc["paths"]["/api/v1/pay-by-link/{id}/refunds"]["post"];
    assert!(op.is_object(), "{doc}");
    for code in ["200", "400", "404", "502", "503"] {
        assert!(op["responses"][code].is_object(), "{code} missing: {op}");
    }
    let schemas = &doc["components"]["schemas"];
    for field in ["transactionId", "amount", "reason"] {
        assert!(
            schemas["RefundBody"]["properties"][field].is_object(),
            "{field}"
        );
    }
    for field in ["refundedAmount", "refunds"] {
        assert!(
            schemas["PaymentView"]["properties"][field].is_object(),
            "{field}"
        );
    }
    let statuses = schemas["Status"]["enum"].as_array().unwrap();
    for s in ["PARTIALLY_REFUNDED", "REFUNDED"] {
        assert!(statuses.contains(&json!(s)), "{statuses:?}");
    }
    app.stop().await;
}

async fn concurrent_refunds_never_add_up_to_more_than_the_payment(backend: Backend) {
    let app = spawn_app(backend).await;

    // Eight refunds of the whole amount at once: exactly one is made.
    let (id, tx) = paid_link(&app, &app.body()).await;
    let answers =
        concurrent_refunds(&app, &id, json!({"transactionId": tx, "amount": 32.99}), 8).await;
    let ok: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(ok.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 400, "{body}");
        assert_eq!(
            body["errors"][0]["code"], "refund_exceeds_payment",
            "{body}"
        );
    }
    assert_eq!(succeeded_minor(&app, &tx).await, 3299);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM refunds").await,
        1,
        "losers store nothing"
    );
    assert_eq!(refunded_minor(&app, &tx).await, 3299);
    assert_eq!(app.stored_status(&id).await, "REFUNDED");
    assert_eq!(event_statuses(&app, &id).await, ["PAID", "REFUNDED"]);

    // Twelve refunds of 5.00 on 32.99 at once: six fit, the rest is refused.
    let (id, tx) = paid_link(&app, &app.body()).await;
    let answers = concurrent_refunds(&app, &id, json!({"amount": "5.00"}), 12).await;
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 200).count(),
        6,
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|(s, _)| [200, 400].contains(s)),
        "{answers:?}"
    );
    assert_eq!(succeeded_minor(&app, &tx).await, 3000);
    assert_eq!(refunded_minor(&app, &tx).await, 3000);
    assert_eq!(app.stored_status(&id).await, "PARTIALLY_REFUNDED");
    assert_eq!(
        event_statuses(&app, &id).await.len(),
        7,
        "PAID and six refunds"
    );
    let link = refund_ok(&app, &id, json!({})).await;
    assert_eq!(link["status"], "REFUNDED");
    assert_eq!(link["payments"][0]["refundedAmount"], json!(32.99));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM refunds WHERE status <> 'SUCCEEDED'"
        )
        .await,
        0
    );
    app.stop().await;
}

/// Posts `n` copies of a refund at once: (status, body) of each.
async fn concurrent_refunds(app: &TestApp, id: &str, body: Value, n: usize) -> Vec<(u16, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let request = app
            .client
            .post(app.url(&format!("/api/v1/pay-by-link/{id}/refunds")))
            .bearer_auth(&app.merchant.token)
            .json(&body);
        tasks.push(tokio::spawn(async move {
            let res = request.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

async fn a_refund_of_more_than_was_paid_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, tx) = paid_link(&app, &app.body()).await;
    let title = assert_rule(
        refund(&app, &id, json!({"transactionId": tx, "amount": 33})).await,
        "refund_exceeds_payment",
    )
    .await;
    assert!(title.contains("32.99 EUR"), "{title}");
    refund_ok(&app, &id, json!({"amount": 30})).await;
    let title = assert_rule(
        refund(&app, &id, json!({"amount": "3.00"})).await,
        "refund_exceeds_payment",
    )
    .await;
    assert!(title.contains("2.99 EUR"), "{title}");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM refunds").await, 1);
    assert_eq!(refunded_minor(&app, &tx).await, 3000);
    assert_eq!(app.stored_status(&id).await, "PARTIALLY_REFUNDED");
    app.stop().await;
}

async fn bad_fields_are_400_with_their_pointers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, tx) = paid_link(&app, &app.body()).await;
    let long = "x".repeat(256);
    for (body, pointers) in [
        (json!({"amount": "abc"}), vec!["/amount"]),
        (json!({"amount": true}), vec!["/amount"]),
        (json!({"amount": 0}), vec!["/amount"]),
        (json!({"amount": -5}), vec!["/amount"]),
        (json!({"amount": 1.234}), vec!["/amount"]),
        (json!({"amount": "1e2"}), vec!["/amount"]),
        (json!({"amount": ""}), vec!["/amount"]),
        (json!({"transactionId": "nope"}), vec!["/transactionId"]),
        (json!({"transactionId": 42}), vec!["/transactionId"]),
        (json!({"transactionId": ""}), vec!["/transactionId"]),
        (json!({"reason": long}), vec!["/reason"]),
        (json!({"reason": 5}), vec!["/reason"]),
        (
            json!({"transactionId": "nope", "amount": 0, "reason": long}),
            vec!["/transactionId", "/amount", "/reason"],
        ),
    ] {
        let res = refund(&app, &id, body.clone()).await;
        let got = assert_400_pointers(res, &pointers).await;
        assert!(
            got["errors"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["code"].as_str().unwrap().contains(".refundDto.")),
            "{body} → {got}"
        );
    }
    // Malformed JSON and a body that is not an object.
    for raw in ["{\"amount\": ", "[1, 2]"] {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/pay-by-link/{id}/refunds")))
            .bearer_auth(&app.merchant.token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_400_pointers(res, &[""]).await;
    }

    // Another payment's id, and a link with no approved payment.
    let (other, other_tx) = paid_link(&app, &app.body()).await;
    let res = refund(&app, &id, json!({"transactionId": other_tx})).await;
    assert_400_pointers(res, &["/transactionId"]).await;
    let unpaid = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_400_pointers(refund(&app, &unpaid, json!({})).await, &["/transactionId"]).await;
    let declined = app.create_link(&app.body()).await;
    let code = link_code(&declined);
    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, DECLINED).await.status(), 402);
    let declined_tx: Value = app
        .get_link(declined["id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let res = refund(
        &app,
        declined["id"].as_str().unwrap(),
        json!({"transactionId": declined_tx["payments"][0]["transactionId"]}),
    )
    .await;
    assert_400_pointers(res, &["/transactionId"]).await;

    // Amounts follow the link's currency: no fraction of a yen.
    let mut jpy = app.body();
    jpy["currency"] = json!("JPY");
    jpy["amount"] = json!(500);
    let (yen, _) = paid_link(&app, &jpy).await;
    assert_400_pointers(
        refund(&app, &yen, json!({"amount": 1.5})).await,
        &["/amount"],
    )
    .await;
    let link = refund_ok(&app, &yen, json!({"amount": 499})).await;
    assert_eq!(link["payments"][0]["refundedAmount"], json!(499));

    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM refunds").await,
        1,
        "only the yen refund"
    );
    for (link, tx) in [(&id, &tx), (&other, &other_tx)] {
        assert_eq!(refunded_minor(&app, tx).await, 0);
        assert_eq!(app.stored_status(link).await, "PAID");
    }
    app.stop().await;
}

async fn another_merchants_link_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, tx) = paid_link(&app, &app.body()).await;
    let other = app.new_merchant("Hat Shop").await;
    let path = format!("/api/v1/pay-by-link/{id}/refunds");
    let res = app
        .post_json(&other.token, &path, &json!({"transactionId": tx}))
        .await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"], "Not Found");
    assert_eq!(body["path"], path.as_str());
    assert!(body["message"].is_null());
    assert!(body["timestamp"].is_string());
    let res = refund(&app, "no-such-link", json!({})).await;
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .post(app.url(&path))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM refunds").await, 0);
    assert_eq!(refunded_minor(&app, &tx).await, 0);
    assert_eq!(app.stored_status(&id).await, "PAID");
    app.stop().await;
}

async fn a_refund_notification_arrives_signed(backend: Backend) {
    let receiver = Receiver::always(200).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/hooks/pbl")).await;
    let (id, tx) = paid_link(&app, &app.body()).await;
    receiver.wait_for(1, Duration::from_secs(5)).await;

    let link = refund_ok(&app, &id, json!({"amount": 10.5, "reason": "Scuffed"})).await;
    let refund_id = link["payments"][0]["refunds"][0]["id"].clone();
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    let secret = secret_of(&app).await;
    let r = &got[1];
    assert!(verifies(&secret, r), "the refund's notification is signed");
    assert_ne!(r.header("webhook-id"), got[0].header("webhook-id"));
    let body = r.json();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["status"], "PARTIALLY_REFUNDED");
    assert_eq!(body["previousStatus"], "PAID");
    assert_eq!(body["transactionId"], tx.as_str());
    assert_eq!(body["refundedAmount"], json!(10.5));
    assert_eq!(body["refundId"], refund_id);
    assert_eq!(body["amount"], json!(32.99));
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["merchantTransactionId"], "1234abcd567efg");
    assert_eq!(body["url"], link["url"]);

    // The rest: a second notification, for this refund's amount only.
    let link = refund_ok(&app, &id, json!({})).await;
    let got = receiver.wait_for(3, Duration::from_secs(5)).await;
    assert!(verifies(&secret, &got[2]));
    let body = got[2].json();
    assert_eq!(body["status"], "REFUNDED");
    assert_eq!(body["previousStatus"], "PARTIALLY_REFUNDED");
    assert_eq!(body["refundedAmount"], json!(22.49));
    assert_eq!(body["refundId"], link["payments"][0]["refunds"][1]["id"]);
    receiver.stop().await;
    app.stop().await;
}

/// How the test acquirer answers refunds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    Up,
    /// No refund is made and no answer comes.
    Down,
    /// The refund is made, but its answer is lost on the way back.
    AnswerLost,
}

/// The sandbox behind a line that can fail, recording each refund's reference.
struct Flaky {
    sandbox: SandboxAcquirer,
    line: Mutex<Line>,
    references: Mutex<Vec<String>>,
}

impl Flaky {
    fn set(&self, line: Line) {
        *self.line.lock().unwrap() = line;
    }
}

impl Acquirer for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    fn authorise<'a>(
        &'a self,
        request: AuthoriseRequest<'a>,
    ) -> BoxFuture<'a, Result<Authorisation, AcquirerError>> {
        self.sandbox.authorise(request)
    }

    fn capture<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        self.sandbox.capture(authorisation)
    }

    fn void<'a>(&'a self, authorisation: &'a str) -> BoxFuture<'a, Result<(), AcquirerError>> {
        self.sandbox.void(authorisation)
    }

    fn refund<'a>(
        &'a self,
        request: RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<String, AcquirerError>> {
        Box::pin(async move {
            self.references
                .lock()
                .unwrap()
                .push(request.reference.to_string());
            let line = *self.line.lock().unwrap();
            match line {
                Line::Up => self.sandbox.refund(request).await,
                Line::Down => Err(AcquirerError::Unavailable("connection refused".into())),
                Line::AnswerLost => {
                    self.sandbox.refund(request).await?;
                    Err(AcquirerError::Unavailable("read timed out".into()))
                }
            }
        })
    }
}

async fn an_acquirer_outage_leaves_the_refund_pending_until_reconciled(backend: Backend) {
    let app = spawn_app_with(backend, false).await;
    let db = &app.state.db;
    let flaky = Flaky {
        sandbox: SandboxAcquirer::new(),
        line: Mutex::new(Line::Up),
        references: Mutex::new(Vec::new()),
    };
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap().to_string();
    let card = CardInput {
        number: VISA.number.into(),
        expiry: VISA.expiry.into(),
        cvc: VISA.cvc.into(),
        holder: VISA.holder.into(),
    };
    let code = link_code(&link);
    let request = PayRequest {
        code: &code,
        card: &card,
        shown_amount: None,
    };
    let paid = payments::pay(db, &flaky, &request, PUBLIC_URL, app.state.outbox())
        .await
        .unwrap();
    let tx = paid.payment.id.clone();
    let authorisation = app
        .db
        .text(&format!(
            "SELECT authorisation FROM payments WHERE id = '{tx}'"
        ))
        .await;
    let merchant = MerchantId(app.merchant.id);
    let input = |amount: &str| RefundInput {
        amount: Some(amount.into()),
        ..Default::default()
    };
    let later = || chrono::Utc::now() + payments::REFUND_GRACE + chrono::Duration::seconds(1);

    // The acquirer is down: the refund stays PENDING and holds its amount.
    flaky.set(Line::Down);
    let outcome = payments::refund(db, &flaky, merchant, &id, &input("10.00"), PUBLIC_URL).await;
    let Err(RefundError::Pending { refund_id, .. }) = outcome else {
        panic!("{outcome:?}");
    };
    let status_of = |r: &str| format!("SELECT status FROM refunds WHERE id = '{r}'");
    assert_eq!(app.db.text(&status_of(&refund_id)).await, "PENDING");
    assert_eq!(refunded_minor(&app, &tx).await, 1000, "the amount is held");
    assert_eq!(app.stored_status(&id).await, "PAID");
    assert_eq!(
        event_statuses(&app, &id).await,
        ["PAID"],
        "no refund, no notification"
    );
    let read: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(read["payments"][0]["refunds"][0]["status"], "PENDING");
    assert_eq!(read["payments"][0]["refundedAmount"], json!(0));
    let outcome = payments::refund(db, &flaky, merchant, &id, &input("32.99"), PUBLIC_URL).await;
    assert!(
        matches!(
            outcome,
            Err(RefundError::Exceeds {
                remaining_minor: 2299,
                ..
            })
        ),
        "a pending refund's amount is not refunded twice: {outcome:?}"
    );

    // The reconciliation leaves a fresh refund to its request, and one whose
    // acquirer is still down as it is.
    let done = payments::reconcile(db, &flaky, PUBLIC_URL, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!((done.refunds_succeeded, done.refunds_failed), (0, 0));
    let done = payments::reconcile(db, &flaky, PUBLIC_URL, later())
        .await
        .unwrap();
    assert_eq!((done.refunds_succeeded, done.refunds_failed), (0, 0));
    assert_eq!(app.db.text(&status_of(&refund_id)).await, "PENDING");

    // Back up: the reconciliation asks again with the same reference.
    flaky.set(Line::Up);
    let done = payments::reconcile(db, &flaky, PUBLIC_URL, later())
        .await
        .unwrap();
    assert_eq!((done.refunds_succeeded, done.refunds_failed), (1, 0));
    assert_eq!(app.db.text(&status_of(&refund_id)).await, "SUCCEEDED");
    assert_eq!(app.stored_status(&id).await, "PARTIALLY_REFUNDED");
    assert_eq!(
        event_statuses(&app, &id).await,
        ["PAID", "PARTIALLY_REFUNDED"]
    );
    assert_eq!(flaky.sandbox.refunded(&authorisation), 1000);
    assert_eq!(
        *flaky.references.lock().unwrap(),
        vec![refund_id.clone(); 3],
        "every try of one refund carries its id"
    );

    // The refund is made but its answer is lost: asking again refunds nothing more.
    flaky.set(Line::AnswerLost);
    let outcome = payments::refund(db, &flaky, merchant, &id, &input("5.00"), PUBLIC_URL).await;
    let Err(RefundError::Pending { refund_id, .. }) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(flaky.sandbox.refunded(&authorisation), 1500);
    flaky.set(Line::Up);
    let done = payments::reconcile(db, &flaky, PUBLIC_URL, later())
        .await
        .unwrap();
    assert_eq!(done.refunds_succeeded, 1);
    assert_eq!(
        flaky.sandbox.refunded(&authorisation),
        1500,
        "not refunded twice"
    );
    assert_eq!(app.db.text(&status_of(&refund_id)).await, "SUCCEEDED");
    assert_eq!(refunded_minor(&app, &tx).await, 1500);
    let read: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(read["payments"][0]["refundedAmount"], json!(15));
    let again = payments::reconcile(db, &flaky, PUBLIC_URL, later())
        .await
        .unwrap();
    assert_eq!((again.refunds_succeeded, again.refunds_failed), (0, 0));
    assert_eq!(event_statuses(&app, &id).await.len(), 3);
    app.stop().await;
}

async fn a_refusal_by_the_acquirer_releases_the_amount(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, tx) = paid_link(&app, &app.body()).await;
    let authorisation = app
        .db
        .text(&format!(
            "SELECT authorisation FROM payments WHERE id = '{tx}'"
        ))
        .await;
    // An authorisation the acquirer does not know: it refuses to refund it.
    app.db
        .exec(&format!(
            "UPDATE payments SET authorisation = 'sbx_unknown' WHERE id = '{tx}'"
        ))
        .await;
    let res = refund(&app, &id, json!({"amount": 10})).await;
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 502);
    assert_eq!(body["error"], "Bad Gateway");
    assert!(
        body["message"].as_str().unwrap().contains("refused"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("sbx_unknown"),
        "no acquirer detail leaks: {body}"
    );
    assert_eq!(
        refunded_minor(&app, &tx).await,
        0,
        "the reservation is released"
    );
    assert_eq!(app.stored_status(&id).await, "PAID");
    assert_eq!(event_statuses(&app, &id).await, ["PAID"]);
    let read: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(read["payments"][0]["refunds"][0]["status"], "FAILED");
    assert_eq!(read["payments"][0]["refundedAmount"], json!(0));

    // The whole amount is still there to refund.
    app.db
        .exec(&format!(
            "UPDATE payments SET authorisation = '{authorisation}' WHERE id = '{tx}'"
        ))
        .await;
    let link = refund_ok(&app, &id, json!({})).await;
    assert_eq!(link["status"], "REFUNDED");
    assert_eq!(link["payments"][0]["refunds"][1]["amount"], json!(32.99));
    app.stop().await;
}

async fn admins_refund_from_the_link_page_and_staff_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, tx) = paid_link(&app, &app.body()).await;
    let admin = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Admin).await;
    let staff = signed_in(&app, app.merchant.id, "bob@shop.example", Role::Staff).await;
    let detail = format!("/links/{id}");
    let page = format!("/links/{id}/payments/{tx}/refund");

    // Staff see no Refund action and are refused both the page and its form.
    let html = staff.page(&detail).await;
    assert!(
        !html.contains("refund-action") && !html.contains(&page),
        "{html}"
    );
    assert_eq!(staff.get(&page).await.status(), 403);
    let token = csrf_of(&html);
    let res = staff
        .post_raw(&page, &[("csrf_token", &token), ("amount", "1.00")])
        .await;
    assert_eq!(res.status(), 403);

    // Admins see it; the confirmation is prefilled with the rest.
    let html = admin.page(&detail).await;
    assert!(html.contains(&format!("href=\"{page}\"")), "{html}");
    let form = admin.page(&page).await;
    assert!(form.contains("id=\"refund-confirmation\""), "{form}");
    assert_eq!(input_value(&form, "amount").as_deref(), Some("32.99"));
    let refund_id = input_value(&form, "refundId").unwrap();
    let csrf = csrf_of(&form);
    // Without the CSRF token: 403.
    let res = admin
        .post_raw(&page, &[("amount", "1.00"), ("refundId", &refund_id)])
        .await;
    assert_eq!(res.status(), 403);

    // Mistakes come back on the form, with what was typed.
    for (amount, reason, shown) in [
        ("abc", "", "must be a number"),
        ("", "", "must be a number"),
        ("40", "", "At most 32.99 EUR is left to refund."),
        ("1.001", "", "decimal places"),
        ("1", &"x".repeat(256)[..], "at most 255 characters"),
    ] {
        let res = admin
            .post_raw(
                &page,
                &[
                    ("csrf_token", &csrf),
                    ("amount", amount),
                    ("reason", reason),
                    ("refundId", &refund_id),
                ],
            )
            .await;
        assert_eq!(res.status(), 400, "{amount}");
        let html = res.text().await.unwrap();
        assert!(html.contains(shown), "{amount}: {html}");
        assert_eq!(input_value(&html, "amount").as_deref(), Some(amount));
        assert_eq!(
            input_value(&html, "refundId").as_deref(),
            Some(refund_id.as_str())
        );
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM refunds").await, 0);

    // A refund of part of it.
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("amount", "12.00"),
        ("reason", "Late delivery"),
        ("refundId", refund_id.as_str()),
    ];
    let res = admin.post_raw(&page, &fields).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), detail);
    let html = admin.page(&detail).await;
    assert!(
        html.contains("Refunded 12.00 EUR. The link is PARTIALLY_REFUNDED."),
        "{html}"
    );
    assert!(
        html.contains("class=\"tag\" data-status=\"PARTIALLY_REFUNDED\""),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "data-refund-id=\"{refund_id}\" data-refund-status=\"SUCCEEDED\""
        )),
        "{html}"
    );
    assert!(html.contains("Late delivery"), "{html}");

    // The same form sent again refunds nothing more.
    let res = admin.post_raw(&page, &fields).await;
    assert_eq!(res.status(), 303);
    assert!(admin.page(&detail).await.contains("sent already"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM refunds").await, 1);
    assert_eq!(refunded_minor(&app, &tx).await, 1200);

    // The rest, as prefilled.
    let form = admin.page(&page).await;
    assert_eq!(input_value(&form, "amount").as_deref(), Some("20.99"));
    assert!(form.contains("12.00 EUR"), "refunded so far: {form}");
    let res = admin
        .submit(
            &page,
            &page,
            &[
                ("amount", "20.99"),
                ("refundId", &input_value(&form, "refundId").unwrap()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = admin.page(&detail).await;
    assert!(
        html.contains("class=\"tag\" data-status=\"REFUNDED\""),
        "{html}"
    );
    assert!(
        !html.contains("refund-action"),
        "nothing left to refund: {html}"
    );
    assert_eq!(app.stored_status(&id).await, "REFUNDED");
    let res = admin.get(&page).await;
    assert_eq!(res.status(), 303);
    assert!(admin
        .page(&detail)
        .await
        .contains("Nothing is left to refund"));

    // The overview's status filter and tags know the new status.
    let html = admin.page("/links?status=REFUNDED").await;
    assert!(
        html.contains(&format!("data-link-id=\"{id}\" data-status=\"REFUNDED\"")),
        "{html}"
    );
    assert!(html.contains("value=\"PARTIALLY_REFUNDED\""), "{html}");

    // Unknown payments and other merchants' links are not found.
    assert_eq!(
        admin
            .get(&format!("/links/{id}/payments/nope/refund"))
            .await
            .status(),
        404
    );
    let other = app.new_merchant("Hat Shop").await;
    let stranger = signed_in(&app, other.id, "eve@hats.example", Role::Admin).await;
    assert_eq!(stranger.get(&page).await.status(), 404);
    app.stop().await;
}

/// Pays `code` once more with the sandbox's Visa: the new transaction id.
async fn pay_again(app: &TestApp, id: &str, code: &str) -> String {
    let before: Value = app.get_link(id).await.json().await.unwrap();
    let token = app.token_of(code).await;
    assert_eq!(app.pay(code, &token, VISA).await.status(), 303);
    let after: Value = app.get_link(id).await.json().await.unwrap();
    let known: Vec<&Value> = before["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["transactionId"])
        .collect();
    after["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["transactionId"])
        .find(|t| !known.contains(t))
        .and_then(Value::as_str)
        .expect("a new payment")
        .to_string()
}

async fn a_multi_use_link_keeps_its_status_until_paid_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body();
    body["paymentsAllowed"] = json!(2);
    let link = app.create_link(&body).await;
    let id = link["id"].as_str().unwrap().to_string();
    let code = link_code(&link);

    // Open for a second payment, its first one refunded in full: still CREATED,
    // and the payment shows the refund.
    let first = pay_again(&app, &id, &code).await;
    let read = refund_ok(&app, &id, json!({"reason": "Wrong size"})).await;
    assert_eq!(read["status"], "CREATED");
    assert_eq!(read["payments"][0]["refundedAmount"], json!(32.99));
    assert_eq!(read["payments"][0]["refunds"][0]["status"], "SUCCEEDED");
    assert_eq!(app.stored_status(&id).await, "CREATED");
    assert_eq!(event_statuses(&app, &id).await, ["CREATED", "CREATED"]);

    // Paid up with one payment refunded: PARTIALLY_REFUNDED.
    let second = pay_again(&app, &id, &code).await;
    assert_eq!(app.stored_status(&id).await, "PARTIALLY_REFUNDED");
    let read: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(read["status"], "PARTIALLY_REFUNDED");
    assert_eq!(
        event_statuses(&app, &id).await,
        ["CREATED", "CREATED", "PARTIALLY_REFUNDED"]
    );

    // Two approved payments: the one to refund must be named.
    assert_400_pointers(refund(&app, &id, json!({})).await, &["/transactionId"]).await;
    assert_rule(
        refund(&app, &id, json!({"transactionId": first})).await,
        "refund_exceeds_payment",
    )
    .await;
    let read = refund_ok(&app, &id, json!({"transactionId": second, "amount": 2})).await;
    assert_eq!(read["status"], "PARTIALLY_REFUNDED");
    let read = refund_ok(&app, &id, json!({"transactionId": second})).await;
    assert_eq!(read["status"], "REFUNDED");
    for p in read["payments"].as_array().unwrap() {
        assert_eq!(p["refundedAmount"], json!(32.99), "{p}");
    }
    assert_eq!(refunded_minor(&app, &first).await, 3299);
    assert_eq!(refunded_minor(&app, &second).await, 3299);
    app.stop().await;
}
