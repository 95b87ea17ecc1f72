//! The per-link options of CONTRACT section 11: multi-use links and their
//! allowance under concurrent payments, expirationInMinute, a link's own
//! notificationUrl, customer and receiver emails, taxes, accepted card brands and
//! additional fields — through the API, the backoffice form and the shopper page.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backoffice_helpers::*;
use crate::helpers::*;
use crate::notifications::{app_for_receivers, Receiver};
use crate::payments::{assert_settled, concurrent_pays};
use paybylink::auth::Role;

on_both_backends!(
    every_new_field_is_validated_with_its_pointer,
    options_round_trip_through_create_get_and_update,
    a_multi_use_link_is_paid_to_its_limit,
    twenty_shoppers_race_for_the_last_three_places,
    an_unlimited_link_stays_open,
    expiration_in_minute_sets_the_due_date,
    a_links_own_notification_url_gets_its_notifications,
    cards_of_other_brands_are_refused_on_the_form,
    taxes_and_additional_fields_show_where_they_should,
    send_by_email_without_smtp_is_refused,
    the_backoffice_form_edits_every_option,
);

fn with(base: &Value, extra: Value) -> Value {
    let mut body = base.clone();
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn id_of(link: &Value) -> String {
    link["id"].as_str().unwrap().to_string()
}

async fn every_new_field_is_validated_with_its_pointer(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.merchant.token.clone();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"paymentsAllowed": 0}), vec!["/paymentsAllowed"]),
        (json!({"paymentsAllowed": 10001}), vec!["/paymentsAllowed"]),
        (json!({"paymentsAllowed": "many"}), vec!["/paymentsAllowed"]),
        (
            json!({"expirationInMinute": 0}),
            vec!["/expirationInMinute"],
        ),
        (
            json!({"expirationInMinute": 525601}),
            vec!["/expirationInMinute"],
        ),
        (
            json!({"expirationInMinute": 60, "dueDate": "2099-01-01T00:00:00Z"}),
            vec!["/expirationInMinute"],
        ),
        (
            json!({"notificationUrl": "ftp://x.example"}),
            vec!["/notificationUrl"],
        ),
        (
            json!({"notificationUrl": "http://127.0.0.1:9/hook"}),
            vec!["/notificationUrl"],
        ),
        (
            json!({"customerEmail": "not-an-address"}),
            vec!["/customerEmail"],
        ),
        (json!({"sendByEmail": "yes"}), vec!["/sendByEmail"]),
        (
            json!({"receiverEmails": "a@b.example"}),
            vec!["/receiverEmails"],
        ),
        (
            json!({"receiverEmails": ["ok@shop.example", "broken@"]}),
            vec!["/receiverEmails/1"],
        ),
        (
            json!({"receiverEmails": (0..11).map(|i| format!("r{i}@shop.example")).collect::<Vec<_>>()}),
            vec!["/receiverEmails"],
        ),
        (
            json!({"taxes": [{"kind": "valueAddedTax", "amount": 40.00}]}),
            vec!["/taxes"],
        ),
        (
            json!({"taxes": [{"kind": "luxuryTax", "amount": 1}]}),
            vec!["/taxes/0/kind"],
        ),
        (
            json!({"taxes": [{"kind": "valueAddedTax", "amount": 1.234, "base": -1}]}),
            vec!["/taxes/0/amount", "/taxes/0/base"],
        ),
        (
            json!({"taxes": [{"kind": "valueAddedTax"}]}),
            vec!["/taxes/0/amount"],
        ),
        (
            json!({"taxes": (0..11).map(|_| json!({"kind": "other", "amount": 0.01})).collect::<Vec<_>>()}),
            vec!["/taxes"],
        ),
        (
            json!({"allowedPaymentMethods": ["visa", "pse"]}),
            vec!["/allowedPaymentMethods/1"],
        ),
        (
            json!({"additional": [{"keyword": "a", "value": "1"}, {"keyword": "a", "value": "2"}]}),
            vec!["/additional/1/keyword"],
        ),
        (
            json!({"additional": [{"keyword": "a", "value": "1", "displayOn": "always"}]}),
            vec!["/additional/0/displayOn"],
        ),
        (
            json!({"additional": [{"value": "1"}, 7]}),
            vec!["/additional/0/keyword", "/additional/1"],
        ),
        (
            json!({"additional": (0..21).map(|i| json!({"keyword": format!("k{i}"), "value": "v"})).collect::<Vec<_>>()}),
            vec!["/additional"],
        ),
    ];
    for (extra, pointers) in cases {
        let res = app
            .post_json(
                &token,
                "/api/v1/pay-by-link",
                &with(&app.body(), extra.clone()),
            )
            .await;
        let body = assert_400_pointers(res, &pointers).await;
        assert!(
            body["errors"][0]["code"].as_str().unwrap().contains('.'),
            "{extra}: {body}"
        );
    }
    // sendByEmail needs the customer's address.
    let res = app
        .post_json(
            &token,
            "/api/v1/pay-by-link",
            &with(&app.body(), json!({"sendByEmail": true})),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/customerEmail"), "{body}");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 0);
    app.stop().await;
}

fn all_options() -> Value {
    json!({
        "paymentsAllowed": 5,
        "customerEmail": "ana@customer.example",
        "receiverEmails": ["books@shop.example", "boss@shop.example"],
        "taxes": [
            {"kind": "valueAddedTax", "amount": 5.73, "base": 27.26},
            {"kind": "municipalTax", "amount": 0.50}
        ],
        "allowedPaymentMethods": ["visa", "master"],
        "additional": [
            {"keyword": "order", "value": "A-1001", "displayOn": "both"},
            {"keyword": "internal", "value": "warehouse 3"},
            {"keyword": "pickup", "value": "Store 12", "displayOn": "receipt"}
        ]
    })
}

async fn options_round_trip_through_create_get_and_update(backend: Backend) {
    let app = spawn_app(backend).await;
    // A client of seed 001 sees the defaults and no new noise.
    let plain = app.create_link(&app.body()).await;
    assert_eq!(plain["paymentsAllowed"], 1);
    assert_eq!(plain["availablePayments"], 1);
    for absent in [
        "taxes",
        "additional",
        "receiverEmails",
        "allowedPaymentMethods",
        "customerEmail",
        "notificationUrl",
        "sendByEmail",
    ] {
        assert!(plain.get(absent).is_none(), "{absent} in {plain}");
    }

    let link = app.create_link(&with(&app.body(), all_options())).await;
    let id = id_of(&link);
    let got: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(got, link, "GET answers what create answered");
    assert_eq!(link["paymentsAllowed"], 5);
    assert_eq!(link["availablePayments"], 5);
    assert_eq!(link["customerEmail"], "ana@customer.example");
    assert_eq!(link["receiverEmails"][1], "boss@shop.example");
    assert_eq!(
        link["taxes"],
        json!([
            {"kind": "valueAddedTax", "amount": 5.73, "base": 27.26},
            {"kind": "municipalTax", "amount": 0.5}
        ])
    );
    assert_eq!(link["allowedPaymentMethods"], json!(["visa", "master"]));
    assert_eq!(link["additional"][1]["displayOn"], "none");
    assert_eq!(link["additional"][2]["displayOn"], "receipt");

    // Update replaces the options: unlimited payments, no taxes.
    let mut update = with(&app.body(), json!({"paymentsAllowed": null}));
    update["amount"] = json!(10);
    let res = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &update,
        )
        .await;
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["paymentsAllowed"], Value::Null, "{updated}");
    assert_eq!(updated["availablePayments"], Value::Null);
    assert!(updated.get("taxes").is_none());
    // Taxes are checked against the amount of the same request.
    let res = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &with(
                &update,
                json!({"taxes": [{"kind": "valueAddedTax", "amount": 10.01}]}),
            ),
        )
        .await;
    assert_400_pointers(res, &["/taxes"]).await;
    app.stop().await;
}

async fn a_multi_use_link_is_paid_to_its_limit(backend: Backend) {
    let receiver = Receiver::always(200).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    let link = app
        .create_link(&with(
            &app.body(),
            json!({"paymentsAllowed": 2, "notificationUrl": receiver.url("/hooks/link")}),
        ))
        .await;
    let (id, code) = (id_of(&link), link_code(&link));

    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    let after_one: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(after_one["status"], "CREATED", "one place is left");
    assert_eq!(after_one["availablePayments"], 1);
    assert!(after_one.get("paidAt").is_none());
    // The page still takes a payment.
    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    let after_two: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(after_two["status"], "PAID");
    assert_eq!(after_two["availablePayments"], 0);
    assert!(after_two["paidAt"].is_string());
    let (status, html) = app.page(&code, "").await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("name=\"cardNumber\""),
        "no form once used up"
    );

    // Each approved payment notified, with its own transaction id.
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    let statuses: Vec<&str> = bodies
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["CREATED", "PAID"], "{bodies:?}");
    let transactions: Vec<&str> = bodies
        .iter()
        .map(|b| b["transactionId"].as_str().unwrap())
        .collect();
    assert_ne!(transactions[0], transactions[1]);
    for t in transactions {
        assert!(after_two["payments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["transactionId"] == t && p["status"] == "APPROVED"));
    }
    receiver.stop().await;
    app.stop().await;
}

async fn twenty_shoppers_race_for_the_last_three_places(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app
        .create_link(&with(&app.body(), json!({"paymentsAllowed": 4})))
        .await;
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);

    let statuses = concurrent_pays(&app, &code, &token, 20).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 303).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [303, 409].contains(s)),
        "every other shopper is told the link is paid: {statuses:?}"
    );
    assert_eq!(app.payments_with(&id, "APPROVED").await, 4);
    // Every loser that was authorised is voided; one that arrived after the link
    // was used up was refused before reaching the acquirer. Nobody is charged.
    assert_settled(&app, &id).await;
    let got: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(got["status"], "PAID");
    assert_eq!(got["availablePayments"], 0);
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
            ))
            .await,
        4,
        "one notification per approved payment"
    );
    app.stop().await;
}

async fn an_unlimited_link_stays_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app
        .create_link(&with(&app.body(), json!({"paymentsAllowed": null})))
        .await;
    assert_eq!(link["paymentsAllowed"], Value::Null);
    let (id, code) = (id_of(&link), link_code(&link));
    let token = app.token_of(&code).await;
    let statuses = concurrent_pays(&app, &code, &token, 12).await;
    assert!(statuses.iter().all(|s| *s == 303), "{statuses:?}");
    let got: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(got["status"], "CREATED");
    assert_eq!(got["availablePayments"], Value::Null);
    assert_eq!(app.payments_with(&id, "APPROVED").await, 12);
    // Cancelling still ends it.
    assert_eq!(app.cancel(&id).await.status(), 200);
    let (_, html) = app.page(&code, "").await;
    assert!(!html.contains("name=\"cardNumber\""));
    app.stop().await;
}

async fn expiration_in_minute_sets_the_due_date(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = chrono::Utc::now();
    let link = app
        .create_link(&with(&app.body(), json!({"expirationInMinute": 90})))
        .await;
    let due = chrono::DateTime::parse_from_rfc3339(link["dueDate"].as_str().unwrap()).unwrap();
    let minutes = (due.with_timezone(&chrono::Utc) - before).num_minutes();
    assert!((89..=90).contains(&minutes), "{minutes} minutes");
    app.stop().await;
}

async fn a_links_own_notification_url_gets_its_notifications(backend: Backend) {
    let merchant_receiver = Receiver::always(200).await;
    let link_receiver = Receiver::always(200).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    let res = app
        .post_json(
            &app.merchant.token,
            "/api/v1/notification-settings",
            &json!({"notificationUri": merchant_receiver.url("/merchant")}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let own = app
        .create_link(&with(
            &app.body(),
            json!({"notificationUrl": link_receiver.url("/own")}),
        ))
        .await;
    let plain = app.create_link(&app.body()).await;
    assert_eq!(own["notificationUrl"], link_receiver.url("/own"));
    assert_eq!(app.cancel(&id_of(&own)).await.status(), 200);
    assert_eq!(app.cancel(&id_of(&plain)).await.status(), 200);

    let got = link_receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].path, "/own");
    assert_eq!(got[0].json()["id"], own["id"]);
    let got = merchant_receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].json()["id"], plain["id"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(link_receiver.count(), 1, "only its own link's event");
    assert_eq!(merchant_receiver.count(), 1);
    link_receiver.stop().await;
    merchant_receiver.stop().await;
    app.stop().await;
}

async fn cards_of_other_brands_are_refused_on_the_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = with(&app.body(), json!({"allowedPaymentMethods": ["visa"]}));
    body["language"] = json!("EN");
    let link = app.create_link(&body).await;
    let (id, code) = (id_of(&link), link_code(&link));
    let (_, html) = app.page(&code, "").await;
    assert!(html.contains("Accepted cards: Visa"), "{html}");

    let token = app.token_of(&code).await;
    let amex = TestCard {
        number: "3782 822463 10005",
        cvc: "1234",
        ..VISA
    };
    let res = app.pay(&code, &token, amex).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("This card is not accepted for this payment"),
        "{html}"
    );
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM payments WHERE link_id = '{id}'"
            ))
            .await,
        0,
        "a refused brand never reaches the acquirer"
    );
    let (_, html) = app.page(&code, "?lang=es").await;
    assert!(html.contains("Tarjetas aceptadas: Visa"));
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    app.stop().await;
}

async fn taxes_and_additional_fields_show_where_they_should(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = with(&app.body(), all_options());
    body["language"] = json!("EN");
    let link = app.create_link(&body).await;
    let code = link_code(&link);
    let (_, page) = app.page(&code, "").await;
    assert!(
        page.contains("VAT (on €27.26)") && page.contains("€5.73"),
        "{page}"
    );
    assert!(page.contains("Municipal tax") && page.contains("€0.50"));
    assert!(page.contains("A-1001"), "displayOn both: on the page");
    assert!(!page.contains("warehouse 3"), "displayOn none: nowhere");
    assert!(
        !page.contains("Store 12"),
        "displayOn receipt: not on the page"
    );
    let (_, es) = app.page(&code, "?lang=es").await;
    assert!(es.contains("IVA (sobre 27,26"), "{es}");

    let token = app.token_of(&code).await;
    let res = app.pay(&code, &token, VISA).await;
    assert_eq!(res.status(), 303);
    let receipt = app
        .client
        .get(app.url(res.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(receipt.contains("€5.73") && receipt.contains("A-1001"));
    assert!(
        receipt.contains("Store 12"),
        "displayOn receipt: on the receipt"
    );
    assert!(!receipt.contains("warehouse 3"));
    app.stop().await;
}

async fn send_by_email_without_smtp_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .post_json(
            &app.merchant.token,
            "/api/v1/pay-by-link",
            &with(
                &app.body(),
                json!({"sendByEmail": true, "customerEmail": "ana@customer.example"}),
            ),
        )
        .await;
    let body = assert_400_pointers(res, &["/sendByEmail"]).await;
    assert_eq!(body["errors"][0]["code"], "email_not_configured");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 0);
    app.stop().await;
}

async fn the_backoffice_form_edits_every_option(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let form = ana.page("/links/new").await;
    for name in [
        "paymentsAllowed",
        "paymentsUnlimited",
        "expirationInMinute",
        "notificationUrl",
        "customerEmail",
        "sendByEmail",
        "receiverEmails",
        "allowedPaymentMethods",
        "taxes.kind",
        "taxes.amount",
        "taxes.base",
        "additional.keyword",
        "additional.value",
        "additional.displayOn",
    ] {
        assert!(form.contains(&format!("name=\"{name}\"")), "{name}");
    }
    let product = app.merchant.product_id.to_string();
    let base = vec![
        ("amount", "50.00"),
        ("currency", "EUR"),
        ("country", "ES"),
        ("productId", product.as_str()),
        ("merchantTransactionId", "form-options-1"),
        ("language", "EN"),
    ];
    // Mistakes in the rows are reported next to them, and nothing is created.
    let mut bad = base.clone();
    bad.extend([
        ("paymentsAllowed", "0"),
        ("receiverEmails", "ok@shop.example\nnot an address"),
        ("taxes.kind", "valueAddedTax"),
        ("taxes.amount", "60"),
        ("taxes.base", ""),
        ("taxes.kind", ""),
        ("taxes.amount", ""),
        ("taxes.base", ""),
        ("additional.keyword", "order"),
        ("additional.value", ""),
        ("additional.displayOn", "both"),
    ]);
    let res = ana.submit("/links/new", "/links/new", &bad).await;
    assert_eq!(res.status(), 400);
    let html = unescape(&res.text().await.unwrap());
    assert!(
        html.contains("must be an integer between 1 and 10000"),
        "{html}"
    );
    assert!(html.contains("must be a well-formed email address"));
    assert!(html.contains("the taxes must not add up to more than the amount"));
    assert!(html.contains("value=\"order\""), "typed rows are kept");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 0);

    let mut good = base.clone();
    good.extend([
        ("paymentsAllowed", "3"),
        ("customerEmail", "ana@customer.example"),
        ("receiverEmails", "books@shop.example\nboss@shop.example"),
        ("allowedPaymentMethods", "visa"),
        ("allowedPaymentMethods", "amex"),
        ("taxes.kind", "valueAddedTax"),
        ("taxes.amount", "8.68"),
        ("taxes.base", "41.32"),
        ("taxes.kind", ""),
        ("taxes.amount", ""),
        ("taxes.base", ""),
        ("additional.keyword", "order"),
        ("additional.value", "A-77"),
        ("additional.displayOn", "payment"),
        ("additional.keyword", ""),
        ("additional.value", ""),
        ("additional.displayOn", "none"),
    ]);
    let res = ana.submit("/links/new", "/links/new", &good).await;
    assert_eq!(res.status(), 303);
    let detail_path = location(&res);
    let id = detail_path.trim_start_matches("/links/").to_string();
    let api: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(api["paymentsAllowed"], 3);
    assert_eq!(
        api["receiverEmails"],
        json!(["books@shop.example", "boss@shop.example"])
    );
    assert_eq!(api["allowedPaymentMethods"], json!(["visa", "amex"]));
    assert_eq!(
        api["taxes"],
        json!([{"kind": "valueAddedTax", "amount": 8.68, "base": 41.32}])
    );
    assert_eq!(
        api["additional"],
        json!([{"keyword": "order", "value": "A-77", "displayOn": "payment"}])
    );

    let detail = unescape(&ana.page(&detail_path).await);
    for shown in [
        "3 (0 made, 3 left)",
        "ana@customer.example",
        "books@shop.example, boss@shop.example",
        "Visa, American Express",
        "Value added tax (VAT)",
        "A-77",
        "Payment page",
    ] {
        assert!(detail.contains(shown), "{shown} on the detail page");
    }

    // The edit form shows the stored options; unlimited replaces the number.
    let edit = unescape(&ana.page(&format!("/links/{id}/edit")).await);
    assert!(edit.contains("value=\"3\"") && edit.contains("value=\"A-77\""));
    assert!(edit.contains("books@shop.example\nboss@shop.example"));
    let mut changed = base.clone();
    changed.extend([("paymentsUnlimited", "true"), ("paymentsAllowed", "3")]);
    let res = ana
        .submit(
            &format!("/links/{id}/edit"),
            &format!("/links/{id}/edit"),
            &changed,
        )
        .await;
    assert_eq!(res.status(), 303);
    let api: Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(api["paymentsAllowed"], Value::Null);
    assert!(api.get("taxes").is_none() && api.get("additional").is_none());
    app.stop().await;
}
