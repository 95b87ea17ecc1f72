//! `Idempotency-Key` on create: a retry returns the first answer and creates
//! nothing; the same key with another body is a 409.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    same_key_same_body_replays,
    same_key_other_body_conflicts,
    concurrent_retries_create_one_link,
    concurrent_creates_share_commits_and_fail_alone
);

async fn create_with_key(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/pay-by-link"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn same_key_same_body_replays(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = create_with_key(&app, &app.merchant.token, "order-42", &app.body()).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    // The same body with its keys in another order is the same request.
    let reordered: Value = serde_json::from_str(&{
        let mut pairs: Vec<(String, Value)> = app
            .body()
            .as_object()
            .unwrap()
            .clone()
            .into_iter()
            .collect();
        pairs.reverse();
        let inner: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", json!(k), v))
            .collect();
        format!("{{{}}}", inner.join(","))
    })
    .unwrap();
    let again = create_with_key(&app, &app.merchant.token, "order-42", &reordered).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 1);

    // Another merchant's identical key is its own.
    let b = app.new_merchant("Other").await;
    let res = create_with_key(&app, &b.token, "order-42", &TestApp::link_body(&b)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 2);
    // Without a key every request creates.
    app.create_link(&app.body()).await;
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 3);
    app.stop().await;
}

async fn same_key_other_body_conflicts(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        create_with_key(&app, &app.merchant.token, "k1", &app.body())
            .await
            .status(),
        200
    );
    let mut other = app.body();
    other["amount"] = json!(10);
    let res = create_with_key(&app, &app.merchant.token, "k1", &other).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "idempotency_key_reused");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 1);
    // A failed validation stores no key: the corrected request can use it.
    let mut bad = app.body();
    bad["amount"] = json!(-1);
    assert_eq!(
        create_with_key(&app, &app.merchant.token, "k2", &bad)
            .await
            .status(),
        400
    );
    assert_eq!(
        create_with_key(&app, &app.merchant.token, "k2", &app.body())
            .await
            .status(),
        200
    );
    let res = create_with_key(&app, &app.merchant.token, &"k".repeat(256), &app.body()).await;
    assert_eq!(res.status(), 400);
    app.stop().await;
}

async fn concurrent_retries_create_one_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.body();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = app.url("/api/v1/pay-by-link");
        let token = app.merchant.token.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "same")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 1);
    app.stop().await;
}

/// Concurrent creates are committed together (`db::group_commit`). Each still
/// gets its own link, and a reused key among them fails (here: replays) alone
/// instead of taking the others' links with it.
async fn concurrent_creates_share_commits_and_fail_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let client = app.client.clone();
        let url = app.url("/api/v1/pay-by-link");
        let token = app.merchant.token.clone();
        let mut body = app.body();
        body["merchantTransactionId"] = json!(format!("order-{i}"));
        // Four creates share one key (and body); the others have none.
        let key = (i % 10 == 0).then_some("shared-key");
        if key.is_some() {
            body["merchantTransactionId"] = json!("order-shared");
        }
        tasks.push(tokio::spawn(async move {
            let mut req = client.post(url).bearer_auth(token).json(&body);
            if let Some(key) = key {
                req = req.header("Idempotency-Key", key);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let link: Value = res.json().await.unwrap();
            (key.is_some(), link["id"].as_str().unwrap().to_string())
        }));
    }
    let mut keyed = Vec::new();
    let mut plain = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (true, id) => keyed.push(id),
            (false, id) => plain.push(id),
        }
    }
    keyed.dedup();
    assert_eq!(keyed.len(), 1, "one link for the shared key: {keyed:?}");
    plain.sort();
    plain.dedup();
    assert_eq!(
        plain.len(),
        36,
        "a link of its own for each create without a key"
    );
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 37);
    for id in plain.iter().chain(&keyed) {
        let res = app
            .client
            .get(app.url(&format!("/api/v1/pay-by-link/{id}")))
            .bearer_auth(&app.merchant.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{id} was committed");
    }
    app.stop().await;
}
