//! Nothing of merchant A is visible, countable or changeable by merchant B.

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(another_merchant_sees_nothing_and_changes_nothing);

async fn another_merchant_sees_nothing_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.merchant.clone();
    let b = app.new_merchant("Hat Shop").await;
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap();

    let res = app
        .get_as(&b.token, &format!("/api/v1/pay-by-link/{id}"))
        .await;
    assert_eq!(res.status(), 404);
    let res = app
        .post_json(
            &b.token,
            &format!("/api/v1/pay-by-link/{id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 404);
    let res = app
        .post_json(
            &b.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &TestApp::link_body(&b),
        )
        .await;
    assert_eq!(res.status(), 404);

    // Posting A's merchantId with B's token is forbidden, whatever else is wrong.
    let res = app
        .post_json(&b.token, "/api/v1/pay-by-link", &TestApp::link_body(&a))
        .await;
    assert_eq!(res.status(), 403);
    let mut body = TestApp::link_body(&a);
    body["amount"] = json!(0);
    assert_eq!(
        app.post_json(&b.token, "/api/v1/pay-by-link", &body)
            .await
            .status(),
        403
    );
    // B's merchantId with A's product: a field error, not a link on A's product.
    let mut body = TestApp::link_body(&b);
    body["productId"] = json!(a.product_id);
    let res = app.post_json(&b.token, "/api/v1/pay-by-link", &body).await;
    assert_400_pointers(res, &["/productId"]).await;

    // B's listing and search do not show A's link.
    let page: Value = app
        .get_as(&b.token, "/api/v1/pay-by-link")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));
    let page: Value = app
        .get_as(&b.token, "/api/v1/pay-by-link?q=shoes")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));
    let page: Value = app
        .get_as(&b.token, &format!("/api/v1/pay-by-link?q={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));

    // A's link is untouched.
    let got: Value = app.get_link(id).await.json().await.unwrap();
    assert_eq!(got, link);
    // B's own link works with B's token.
    let res = app
        .post_json(&b.token, "/api/v1/pay-by-link", &TestApp::link_body(&b))
        .await;
    assert_eq!(res.status(), 200);
    let page: Value = app
        .get_as(&a.token, "/api/v1/pay-by-link")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        1,
        "A still sees only its own link"
    );
    app.stop().await;
}
