//! The lifecycle of CONTRACT section 4: atomic transitions, expiry on read and by
//! the sweep, and the outbox events they write.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    concurrent_cancels_and_updates_end_consistent,
    expiry_shows_on_read_before_the_sweep,
    the_sweep_writes_expired_down_with_one_event,
    cancel_writes_its_event_with_the_seed_payload,
);

async fn concurrent_cancels_and_updates_end_consistent(backend: Backend) {
    let app = spawn_app(backend).await;
    for round in 0..5 {
        let id = app.create_link(&app.body()).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let client = app.client.clone();
            let token = app.merchant.token.clone();
            let base = app.address.clone();
            let id = id.clone();
            let mut body = app.body();
            body["amount"] = json!(100 + i);
            tasks.push(tokio::spawn(async move {
                let url = if i % 2 == 0 {
                    format!("{base}/api/v1/pay-by-link/{id}/cancel")
                } else {
                    format!("{base}/api/v1/pay-by-link/{id}")
                };
                let res = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let json: Value = res.json().await.unwrap();
                (i % 2 == 0, status, json)
            }));
        }
        let mut updates_ok = Vec::new();
        for t in tasks {
            let (is_cancel, status, json) = t.await.unwrap();
            if is_cancel {
                assert_eq!(status, 200, "every cancel succeeds: {json}");
                assert_eq!(json["status"], "CANCELLED");
            } else if status == 200 {
                updates_ok.push(json);
            } else {
                assert_eq!(status, 400);
                assert_eq!(json["errors"][0]["code"], "status_not_updatable");
            }
        }
        let final_link: Value = app.get_link(&id).await.json().await.unwrap();
        assert_eq!(final_link["status"], "CANCELLED", "round {round}");
        // The stored amount is that of one of the updates that succeeded, or the original.
        let amounts: Vec<&Value> = updates_ok.iter().map(|u| &u["amount"]).collect();
        assert!(
            final_link["amount"] == json!(32.99) || amounts.contains(&&final_link["amount"]),
            "{final_link} not among {amounts:?}"
        );
        assert_eq!(
            app.db
                .scalar(&format!(
                    "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
                ))
                .await,
            1,
            "exactly one CANCELLED event"
        );
    }
    app.stop().await;
}

async fn expiry_shows_on_read_before_the_sweep(backend: Backend) {
    let app = spawn_app_with(backend, false).await;
    let mut body = app.body();
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    body["dueDate"] = json!(due.to_rfc3339());
    let link = app.create_link(&body).await;
    let id = link["id"].as_str().unwrap();
    assert_eq!(link["status"], "CREATED");
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;

    let got: Value = app.get_link(id).await.json().await.unwrap();
    assert_eq!(got["status"], "EXPIRED");
    assert_eq!(
        app.db
            .text(&format!("SELECT status FROM links WHERE id = '{id}'"))
            .await,
        "CREATED",
        "not written down yet: the sweep is off"
    );
    assert_eq!(app.cancel(id).await.status(), 400);
    let res = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &app.body(),
        )
        .await;
    assert_eq!(res.status(), 400);
    let page: Value = app
        .get_as(&app.merchant.token, "/api/v1/pay-by-link")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["status"], "EXPIRED");
    app.stop().await;
}

async fn the_sweep_writes_expired_down_with_one_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body();
    body["dueDate"] = json!((chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339());
    let id = app.create_link(&body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let live = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let started = std::time::Instant::now();
    loop {
        let status = app
            .db
            .text(&format!("SELECT status FROM links WHERE id = '{id}'"))
            .await;
        if status == "EXPIRED" {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 11,
            "not written down within 10 s of the due date"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let payload = app
        .db
        .text(&format!(
            "SELECT payload FROM events WHERE link_id = '{id}'"
        ))
        .await;
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["status"], "EXPIRED");
    assert_eq!(payload["previousStatus"], "CREATED");
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM events WHERE link_id = '{id}'"
            ))
            .await,
        1
    );
    assert_eq!(
        app.db
            .text(&format!("SELECT status FROM links WHERE id = '{live}'"))
            .await,
        "CREATED"
    );
    // Another pass finds nothing more to do.
    assert_eq!(paybylink::startup::sweep_once(&app.state).await.unwrap(), 0);
    app.stop().await;
}

async fn cancel_writes_its_event_with_the_seed_payload(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap();
    assert_eq!(app.cancel(id).await.status(), 200);
    let payload = app
        .db
        .text(&format!(
            "SELECT payload FROM events WHERE link_id = '{id}'"
        ))
        .await;
    let payload: Value = serde_json::from_str(&payload).unwrap();
    for field in [
        "id",
        "merchantId",
        "productId",
        "amount",
        "currency",
        "country",
        "customerId",
        "description",
        "dueDate",
        "language",
        "merchantTransactionId",
        "referenceId",
        "url",
    ] {
        assert_eq!(payload[field], link[field], "{field}");
    }
    assert_eq!(payload["status"], "CANCELLED");
    assert_eq!(payload["previousStatus"], "CREATED");
    assert!(payload.get("transactionId").is_none());
    app.stop().await;
}
