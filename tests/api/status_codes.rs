//! Every endpoint and status code of CONTRACT section 5, and the error shapes.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    unauthenticated_calls_are_401_with_www_authenticate,
    get_is_200_or_404_in_the_seed_shape,
    update_answers_200_400_404,
    cancel_answers_200_twice_then_400_for_paid_and_expired,
    list_answers_200_and_400_for_bad_parameters,
    notification_settings_round_trip,
    openapi_document_is_public,
    unknown_api_paths_and_health,
);

async fn unauthenticated_calls_are_401_with_www_authenticate(backend: Backend) {
    let app = spawn_app(backend).await;
    // The link is made with another token than the one expired below: the server
    // believes a token it has just found live for a few seconds (db::auth's
    // TokenCache), and expiring it in the database does not tell it.
    let fresh = app
        .token_for(&app.merchant.client_id, &app.merchant.client_secret)
        .await;
    let res = app
        .post_json(&fresh, "/api/v1/pay-by-link", &app.body())
        .await;
    assert_eq!(res.status(), 200);
    let link: Value = res.json().await.unwrap();
    let id = link["id"].as_str().unwrap();
    let expired_token = &app.merchant.token;
    app.db
        .exec(&format!(
            "UPDATE access_tokens SET expires_at = 0 WHERE token_hash = '{}'",
            paybylink::random::sha256_hex(expired_token)
        ))
        .await;
    let expired = app
        .db
        .scalar("SELECT COUNT(*) FROM access_tokens WHERE expires_at = 0")
        .await;
    assert_eq!(expired, 1);
    for auth in [
        None,
        Some("Bearer nonsense"),
        Some("Basic abc"),
        Some(&*format!("Bearer {expired_token}")),
    ] {
        for (method, path) in [
            ("GET", format!("/api/v1/pay-by-link/{id}")),
            ("GET", "/api/v1/pay-by-link".to_string()),
            ("POST", "/api/v1/pay-by-link".to_string()),
            ("POST", format!("/api/v1/pay-by-link/{id}/cancel")),
            ("GET", "/api/v1/notification-settings".to_string()),
        ] {
            let mut req = app
                .client
                .request(method.parse().unwrap(), app.url(&path))
                .json(&json!({}));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} with {auth:?}");
            assert_eq!(res.headers()["www-authenticate"], "Bearer");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["status"], 401);
            assert_eq!(body["path"], path.as_str());
        }
    }
    // The token that was not expired still works.
    assert_eq!(
        app.get_as(&fresh, &format!("/api/v1/pay-by-link/{id}"))
            .await
            .status(),
        200
    );
    app.stop().await;
}

async fn get_is_200_or_404_in_the_seed_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.create_link(&app.body()).await;
    let id = created["id"].as_str().unwrap();
    let res = app.get_link(id).await;
    assert_eq!(res.status(), 200);
    let got: Value = res.json().await.unwrap();
    assert_eq!(got, created);
    for field in [
        "merchantTransactionId",
        "description",
        "currency",
        "country",
        "language",
        "customerId",
        "referenceId",
        "merchantParams",
    ] {
        assert_eq!(got[field], app.body()[field], "{field}");
    }
    assert_eq!(got["merchantId"], app.merchant.id);
    assert_eq!(got["productId"], app.merchant.product_id);

    let res = app.get_link("60dc29a7ccbab61bb8d07a7d").await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["error"], "Not Found");
    assert_eq!(body["path"], "/api/v1/pay-by-link/60dc29a7ccbab61bb8d07a7d");
    assert!(body["message"].is_null());
    chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).expect("timestamp");
    app.stop().await;
}

async fn update_answers_200_400_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap();
    let path = format!("/api/v1/pay-by-link/{id}");

    let mut body = app.body();
    body["amount"] = json!(45.5);
    body["description"] = json!("Two pairs");
    body.as_object_mut().unwrap().remove("customerId");
    let res = app.post_json(&app.merchant.token, &path, &body).await;
    assert_eq!(res.status(), 200);
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["amount"], json!(45.5));
    assert_eq!(updated["description"], "Two pairs");
    assert_eq!(
        updated["customerId"], link["customerId"],
        "absent customerId is kept"
    );
    assert_eq!(
        updated["dueDate"], link["dueDate"],
        "absent dueDate is kept"
    );
    assert_eq!(updated["id"], link["id"]);

    // PUT does the same; a body id equal to the path is fine.
    body["amount"] = json!(50);
    body["id"] = json!(id);
    let res = app
        .client
        .put(app.url(&path))
        .bearer_auth(&app.merchant.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["amount"], json!(50));

    body["id"] = json!("someotherid");
    let res = app.post_json(&app.merchant.token, &path, &body).await;
    let err = assert_400_pointers(res, &["/id"]).await;
    assert_eq!(err["errors"][0]["code"], "id_mismatch");
    body.as_object_mut().unwrap().remove("id");

    let res = app
        .post_json(
            &app.merchant.token,
            "/api/v1/pay-by-link/doesnotexist",
            &body,
        )
        .await;
    assert_eq!(res.status(), 404);

    assert_eq!(app.cancel(id).await.status(), 200);
    let res = app.post_json(&app.merchant.token, &path, &body).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "status_not_updatable");
    app.stop().await;
}

async fn cancel_answers_200_twice_then_400_for_paid_and_expired(backend: Backend) {
    let app = spawn_app_with(backend, false).await;
    let id = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app.cancel(&id).await;
    assert_eq!(res.status(), 200);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["status"], "CANCELLED");
    let res = app.cancel(&id).await;
    assert_eq!(res.status(), 200, "cancelling again succeeds");
    let second: Value = res.json().await.unwrap();
    assert_eq!(second, first, "and changes nothing");
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
            ))
            .await,
        1
    );

    let paid = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.db
        .exec(&format!(
            "UPDATE links SET status = 'PAID' WHERE id = '{paid}'"
        ))
        .await;
    let res = app.cancel(&paid).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "status_not_cancellable");

    // Overdue but not yet written down: EXPIRED all the same.
    let expired = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.db
        .exec(&format!(
            "UPDATE links SET due_date = 1000 WHERE id = '{expired}'"
        ))
        .await;
    let res = app.cancel(&expired).await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "status_not_cancellable");
    assert!(err["errors"][0]["title"]
        .as_str()
        .unwrap()
        .contains("EXPIRED"));

    assert_eq!(app.cancel("nosuchlink").await.status(), 404);
    app.stop().await;
}

async fn list_answers_200_and_400_for_bad_parameters(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_link(&app.body()).await;
    let res = app.get_as(&app.merchant.token, "/api/v1/pay-by-link").await;
    assert_eq!(res.status(), 200);
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["nextCursor"].is_null());
    for (query, parameter) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("cursor=garbage!", "cursor"),
        ("status=SENT", "status"),
        ("createdFrom=yesterday", "createdFrom"),
    ] {
        let res = app
            .get_as(&app.merchant.token, &format!("/api/v1/pay-by-link?{query}"))
            .await;
        assert_eq!(res.status(), 400, "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["source"]["parameter"], parameter,
            "{query}"
        );
    }
    app.stop().await;
}

async fn notification_settings_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/notification-settings";
    let got: Value = app
        .get_as(&app.merchant.token, path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, json!({"notificationUri": null}));

    let res = app
        .post_json(
            &app.merchant.token,
            path,
            &json!({"notificationUri": "https://93.184.216.34/hooks/pbl"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let saved: Value = res.json().await.unwrap();
    assert_eq!(saved["notificationUri"], "https://93.184.216.34/hooks/pbl");
    let got: Value = app
        .get_as(&app.merchant.token, path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, saved);

    for bad in [
        json!({}),
        json!({"notificationUri": null}),
        json!({"notificationUri": 5}),
        json!({"notificationUri": "ftp://example.com/x"}),
        json!({"notificationUri": "http://127.0.0.1:8080/hook"}),
        json!({"notificationUri": "http://169.254.169.254/latest/meta-data"}),
        json!({"notificationUri": "http://2130706433/"}),
        json!({"notificationUri": "http://10.0.0.8/hook"}),
    ] {
        let res = app.post_json(&app.merchant.token, path, &bad).await;
        assert_400_pointers(res, &["/notificationUri"]).await;
    }
    let got: Value = app
        .get_as(&app.merchant.token, path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, saved, "refused URLs change nothing");
    app.stop().await;
}

async fn openapi_document_is_public(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/oauth/token",
        "/api/v1/pay-by-link",
        "/api/v1/pay-by-link/{id}",
        "/api/v1/pay-by-link/{id}/cancel",
        "/api/v1/notification-settings",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let schema = &doc["components"]["schemas"]["LinkRequest"];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for f in [
        "amount",
        "currency",
        "country",
        "merchantId",
        "productId",
        "merchantTransactionId",
    ] {
        assert!(required.contains(&f), "{f} not required in {schema}");
    }
    app.stop().await;
}

async fn unknown_api_paths_and_health(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .get_as(&app.merchant.token, "/api/v1/nothing-here")
        .await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["path"], "/api/v1/nothing-here");
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    app.stop().await;
}

/// PostgreSQL in production usually requires TLS: with `sslmode=require` the
/// service connects over TLS (the test server has `ssl = on`, as Debian's does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_can_use_tls() {
    let Some(url) = postgres_url() else { return };
    let plain = sqlx::PgPool::connect(&url).await.unwrap();
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&plain)
        .await
        .unwrap();
    plain.close().await;
    assert_eq!(
        ssl, "on",
        "the test PostgreSQL server must have TLS enabled"
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    let tls_url = format!("{url}{separator}sslmode=require");
    let db = paybylink::db::Db::connect(&tls_url).await.unwrap();
    db.ping().await.unwrap();
    db.close().await;
    // The same build's driver, on the same URL, really encrypts.
    let pool = sqlx::PgPool::connect(&tls_url).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(encrypted, "the connection is encrypted");
    pool.close().await;
}
