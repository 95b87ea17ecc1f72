//! OAuth2 client credentials at `/oauth/token` (RFC 6749 §4.4 and §5.2).

use serde_json::Value;

use crate::helpers::*;

on_both_backends!(
    token_endpoint_issues_and_refuses,
    secrets_and_tokens_are_stored_only_as_hashes,
    revoked_clients_lose_their_tokens,
    a_revocation_by_another_instance_reaches_this_one_within_seconds
);

async fn token_endpoint_issues_and_refuses(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = &app.merchant;
    // Credentials as form fields.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &m.client_id),
            ("client_secret", &m.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(app.get_as(token, "/api/v1/pay-by-link").await.status(), 200);

    // Wrong secret, unknown client, no credentials: invalid_client, 401.
    for (id, secret) in [
        (m.client_id.as_str(), "wrong"),
        ("nobody", m.client_secret.as_str()),
    ] {
        let res = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().contains_key("www-authenticate"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&m.client_id, Some(&m.client_secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&m.client_id, Some(&m.client_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    app.stop().await;
}

async fn secrets_and_tokens_are_stored_only_as_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = &app.merchant;
    let stored = app
        .db
        .text(&format!(
            "SELECT secret_hash FROM api_clients WHERE id = '{}'",
            m.client_id
        ))
        .await;
    assert_ne!(stored, m.client_secret);
    assert!(!stored.contains(&m.client_secret));
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM access_tokens WHERE token_hash = '{}'",
                m.token
            ))
            .await,
        0,
        "the token itself is not stored"
    );
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM access_tokens").await, 1);
    app.stop().await;
}

async fn revoked_clients_lose_their_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = &app.merchant;
    assert_eq!(
        app.get_as(&m.token, "/api/v1/pay-by-link").await.status(),
        200
    );
    let revoked = app
        .state
        .db
        .revoke_api_client(paybylink::merchants::MerchantId(m.id), &m.client_id)
        .await
        .unwrap();
    assert!(revoked);
    assert_eq!(
        app.get_as(&m.token, "/api/v1/pay-by-link").await.status(),
        401
    );
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&m.client_id, Some(&m.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

/// The server believes a token it found live for a few seconds without asking the
/// database again (db::auth's TokenCache). A client revoked through another
/// instance on the same database loses its token here too, within those seconds.
async fn a_revocation_by_another_instance_reaches_this_one_within_seconds(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = &app.merchant;
    assert_eq!(
        app.get_as(&m.token, "/api/v1/pay-by-link").await.status(),
        200
    );
    let other_instance = paybylink::db::Db::connect(&app.db.url).await.unwrap();
    assert!(other_instance
        .revoke_api_client(paybylink::merchants::MerchantId(m.id), &m.client_id)
        .await
        .unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let status = app.get_as(&m.token, "/api/v1/pay-by-link").await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked token was still taken after 15 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    app.stop().await;
}
