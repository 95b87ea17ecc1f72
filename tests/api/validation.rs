//! Every field rule of CONTRACT section 3, through the real API.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    each_bad_value_is_a_400_at_its_pointer,
    several_bad_fields_give_several_entries,
    wrong_json_types_are_field_errors,
    malformed_bodies_are_400_never_500,
    oversized_bodies_are_413,
    amounts_round_trip_in_each_currencys_minor_units,
    server_set_defaults,
    update_validates_like_create,
);

async fn each_bad_value_is_a_400_at_its_pointer(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases: Vec<(&str, Value)> = vec![
        ("/amount", json!(0)),
        ("/amount", json!(-5)),
        ("/amount", json!(32.999)),
        ("/amount", json!("ten")),
        ("/currency", json!("EURO")),
        ("/currency", json!("eur")),
        ("/currency", json!("XXX")),
        ("/country", json!("XX")),
        ("/country", json!("GBR")),
        ("/productId", json!(999)),
        ("/productId", json!("abc")),
        ("/merchantTransactionId", json!("")),
        ("/merchantTransactionId", json!("x".repeat(46))),
        ("/description", json!("x".repeat(1001))),
        ("/customerId", json!("x".repeat(101))),
        ("/dueDate", json!("2020-01-01T00:00:00Z")),
        ("/dueDate", json!("2030-01-01")),
        ("/dueDate", json!("next week")),
        ("/language", json!("FR")),
        ("/merchantParams", json!("name=Daniel")),
        ("/merchantParams", json!(format!("a:{}", "b".repeat(250)))),
        ("/referenceId", json!("123")),
        ("/referenceId", json!("abcd1234")),
        ("/referenceId", json!("1234abcd12345")),
        ("/code", json!("x".repeat(13))),
    ];
    for (pointer, value) in cases {
        let mut body = app.body();
        body[&pointer[1..]] = value.clone();
        let res = app
            .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
            .await;
        let body = assert_400_pointers(res, &[pointer]).await;
        let e = &body["errors"][0];
        assert!(
            e["code"].as_str().unwrap().ends_with(&pointer[1..]),
            "{pointer} {value}: {body}"
        );
        assert!(!e["title"].as_str().unwrap().is_empty());
    }
    // Each required field, left out.
    for field in [
        "amount",
        "currency",
        "country",
        "merchantId",
        "productId",
        "merchantTransactionId",
    ] {
        let mut body = app.body();
        body.as_object_mut().unwrap().remove(field);
        let res = app
            .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
            .await;
        let body = assert_400_pointers(res, &[&format!("/{field}")]).await;
        assert_eq!(body["errors"][0]["title"], "must not be null");
        assert_eq!(
            body["errors"][0]["code"],
            format!("NotNull.payByLinkDto.{field}")
        );
    }
    // Nothing was stored by any of them.
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 0);
    app.stop().await;
}

async fn several_bad_fields_give_several_entries(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .post_json(&app.merchant.token, "/api/v1/pay-by-link", &json!({}))
        .await;
    assert_400_pointers(
        res,
        &[
            "/amount",
            "/currency",
            "/country",
            "/merchantId",
            "/productId",
            "/merchantTransactionId",
        ],
    )
    .await;
    let mut body = app.body();
    body["amount"] = json!(0);
    body["country"] = json!("ZZ");
    body["referenceId"] = json!("no");
    body["language"] = json!("DE");
    let res = app
        .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
        .await;
    assert_400_pointers(res, &["/amount", "/country", "/referenceId", "/language"]).await;
    app.stop().await;
}

async fn wrong_json_types_are_field_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body();
    body["currency"] = json!(978);
    body["description"] = json!(["a"]);
    body["productId"] = json!(1.5);
    body["amount"] = json!(true);
    let res = app
        .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
        .await;
    assert_400_pointers(res, &["/currency", "/description", "/productId", "/amount"]).await;
    app.stop().await;
}

async fn malformed_bodies_are_400_never_500(backend: Backend) {
    let app = spawn_app(backend).await;
    for raw in [
        "{",
        "not json",
        "[1,2]",
        "\"text\"",
        "",
        "{\"amount\": 1,}",
        "null",
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/pay-by-link"))
            .bearer_auth(&app.merchant.token)
            .header("content-type", "application/json")
            .body(raw.to_string())
            .send()
            .await
            .unwrap();
        let body = assert_400_pointers(res, &[""]).await;
        assert!(body["errors"][0]["title"].is_string(), "{raw}: {body}");
    }
    app.stop().await;
}

async fn oversized_bodies_are_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body();
    body["description"] = json!("x".repeat(70 * 1024));
    let res = app
        .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
        .await;
    assert_eq!(res.status(), 413);
    let json: Value = res.json().await.unwrap();
    assert_eq!(json["status"], 413);
    assert_eq!(json["path"], "/api/v1/pay-by-link");
    // Just under the limit is a plain validation error, not a 413.
    body["description"] = json!("x".repeat(60 * 1024));
    let res = app
        .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
        .await;
    assert_400_pointers(res, &["/description"]).await;
    app.stop().await;
}

async fn amounts_round_trip_in_each_currencys_minor_units(backend: Backend) {
    let app = spawn_app(backend).await;
    for (currency, amount, stored) in [
        ("EUR", json!(32.99), 3299),
        ("EUR", json!(0.1), 10),
        ("EUR", json!("1234.50"), 123450),
        ("JPY", json!(500), 500),
        ("KWD", json!(1.234), 1234),
        ("GBP", json!(11.5), 1150),
    ] {
        let mut body = app.body();
        body["currency"] = json!(currency);
        body["amount"] = amount.clone();
        let link = app.create_link(&body).await;
        let id = link["id"].as_str().unwrap();
        let minor = app
            .db
            .scalar(&format!("SELECT amount_minor FROM links WHERE id = '{id}'"))
            .await;
        assert_eq!(minor, stored, "{currency} {amount}");
        let fetched: Value = app.get_link(id).await.json().await.unwrap();
        let expected: f64 = amount
            .as_f64()
            .unwrap_or_else(|| amount.as_str().unwrap().parse().unwrap());
        assert_eq!(fetched["amount"].as_f64().unwrap(), expected);
    }
    let link = app.create_link(&app.body()).await;
    assert_eq!(link["amount"].to_string(), "32.99");
    app.stop().await;
}

async fn server_set_defaults(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body();
    for f in [
        "customerId",
        "referenceId",
        "language",
        "description",
        "merchantParams",
    ] {
        body.as_object_mut().unwrap().remove(f);
    }
    body["merchantTransactionId"] = json!("4321XYZ");
    let before = chrono::Utc::now();
    let link = app.create_link(&body).await;
    assert!(link["customerId"].as_str().unwrap().starts_with("PBL."));
    uuid::Uuid::parse_str(&link["customerId"].as_str().unwrap()[4..]).expect("PBL.<uuid>");
    assert_eq!(
        link["referenceId"], "4321XYZ",
        "copied from merchantTransactionId"
    );
    assert_eq!(link["language"], "EN");
    assert_eq!(link["status"], "CREATED");
    let due = chrono::DateTime::parse_from_rfc3339(link["dueDate"].as_str().unwrap()).unwrap();
    let days = (due.with_timezone(&chrono::Utc) - before).num_hours();
    assert!((719..=721).contains(&days), "due in {days} h");
    let url = link["url"].as_str().unwrap();
    let code = url
        .strip_prefix(&format!("{PUBLIC_URL}/p/"))
        .expect("public URL + /p/");
    assert!(code.len() >= 11, "at least 64 bits of randomness");
    assert!(link["createdAt"].is_string() && link["updatedAt"].is_string());
    assert_eq!(
        link["cancelUrl"],
        format!(
            "{PUBLIC_URL}/api/v1/pay-by-link/{}/cancel",
            link["id"].as_str().unwrap()
        )
    );
    assert_eq!(link["payments"], json!([]));
    // A merchantTransactionId that is no valid referenceId is not copied.
    body["merchantTransactionId"] = json!("ORDER-1");
    let link = app.create_link(&body).await;
    assert!(link.get("referenceId").is_none(), "{link}");
    app.stop().await;
}

async fn update_validates_like_create(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap();
    let mut body = app.body();
    body["amount"] = json!(0);
    body["currency"] = json!("ABC");
    let res = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &body,
        )
        .await;
    assert_400_pointers(res, &["/amount", "/currency"]).await;
    app.stop().await;
}
