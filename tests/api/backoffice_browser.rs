//! The backoffice in a real browser: headless Chromium through chromedriver.

use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::browser::Browser;
use crate::helpers::*;

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

async fn fill(c: &Client, css: &str, text: &str) {
    let field = c.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn path_of(c: &Client) -> String {
    let url = c.current_url().await.unwrap();
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

async fn create_link(
    c: &Client,
    base: &str,
    amount: &str,
    reference: &str,
    description: &str,
) -> String {
    c.goto(&format!("{base}/links/new")).await.unwrap();
    wait_for(c, "#link-form").await;
    fill(c, "#amount", amount).await;
    fill(c, "#merchantTransactionId", reference).await;
    fill(c, "#description", description).await;
    click(c, "#country option[value=\"ES\"]").await;
    click(c, "#save-link").await;
    let url = wait_for(c, "#link-url").await.text().await.unwrap();
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_sets_up_creates_filters_cancels_and_signs_out() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let token = paybylink::auth::ensure_setup_token(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let c = &browser.client;
    let base = app.address.clone();

    // First run: the setup page creates the merchant and its admin.
    c.goto(&format!("{base}/setup?token={token}"))
        .await
        .unwrap();
    fill(c, "#merchantName", "Zapatería Ana").await;
    fill(c, "#email", "ana@shop.example").await;
    fill(c, "#password", "correct horse battery staple").await;
    click(c, "#create-account").await;
    wait_for(c, "#empty-state").await;
    assert_eq!(path_of(c).await, "/links");

    // Sign out, and in again.
    click(c, "#sign-out").await;
    wait_for(c, "#sign-in").await;
    assert!(path_of(c).await.starts_with("/login"));
    fill(c, "#email", "ana@shop.example").await;
    fill(c, "#password", "correct horse battery staple").await;
    click(c, "#sign-in").await;
    wait_for(c, "#empty-state").await;

    // Create three links through the form.
    let first = create_link(c, &base, "32.99", "ORDER-1", "Red shoes").await;
    assert!(first.starts_with(&format!("{PUBLIC_URL}/p/")), "{first}");
    create_link(c, &base, "15", "ORDER-2", "Straw hat").await;
    create_link(c, &base, "120.50", "ORDER-3", "Winter coat").await;

    // Filter the overview by text in the search box and by status in its header.
    c.goto(&format!("{base}/links")).await.unwrap();
    wait_for(c, "#links").await;
    fill(c, "#q", "hat").await;
    click(c, "#apply-filters").await;
    wait_for(c, "#clear-filters").await;
    let rows = c.find_all(Locator::Css("#links tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].text().await.unwrap().contains("Straw hat"));
    c.goto(&format!("{base}/links")).await.unwrap();
    click(c, "th[aria-sort] details.filter summary").await;
    click(c, "input[name=\"status\"][value=\"CREATED\"]").await;
    click(c, "th[aria-sort] details.filter button").await;
    wait_for(c, "#clear-filters").await;
    assert!(path_of(c).await.contains("status=CREATED"));
    assert_eq!(
        c.find_all(Locator::Css("#links tbody tr[data-status=\"CREATED\"]"))
            .await
            .unwrap()
            .len(),
        3
    );

    // Tick two CREATED rows and cancel them together.
    let boxes = c
        .find_all(Locator::Css("#links tbody input[name=\"ids\"]"))
        .await
        .unwrap();
    boxes[0].click().await.unwrap();
    boxes[1].click().await.unwrap();
    let cancel = c.find(Locator::Css("#cancel-selected")).await.unwrap();
    assert_eq!(
        cancel.prop("disabled").await.unwrap().as_deref(),
        Some("false")
    );
    let view = c.find(Locator::Css("#view-selected")).await.unwrap();
    assert_eq!(
        view.prop("disabled").await.unwrap().as_deref(),
        Some("true"),
        "View needs exactly one"
    );
    cancel.click().await.unwrap();
    c.accept_alert().await.unwrap();
    let flash = wait_for(c, "#flash").await.text().await.unwrap();
    assert!(flash.contains("2 link(s) cancelled"), "{flash}");
    c.goto(&format!("{base}/links")).await.unwrap();
    assert_eq!(
        c.find_all(Locator::Css("#links tbody tr[data-status=\"CANCELLED\"]"))
            .await
            .unwrap()
            .len(),
        2
    );

    // Open the remaining CREATED link's page and read its URL.
    let row = c
        .find(Locator::Css("#links tbody tr[data-status=\"CREATED\"]"))
        .await
        .unwrap();
    let id = row.attr("data-link-id").await.unwrap().unwrap();
    row.find(Locator::Css("td a.mono"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let url = wait_for(c, "#link-url").await.text().await.unwrap();
    assert!(url.starts_with(&format!("{PUBLIC_URL}/p/")));
    assert_eq!(path_of(c).await, format!("/links/{id}"));
    let tag = c.find(Locator::Css("#link-status .tag")).await.unwrap();
    assert_eq!(
        tag.attr("data-status").await.unwrap().as_deref(),
        Some("CREATED")
    );
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(std::env::temp_dir().join("paybylink-detail.png"), png);
    }

    click(c, "#sign-out").await;
    wait_for(c, "#sign-in").await;
    c.goto(&format!("{base}/links")).await.unwrap();
    wait_for(c, "#sign-in").await;
    browser.close().await;
    app.stop().await;
}

on_both_backends!(an_admin_refunds_a_paid_link_from_its_page);

/// An admin refunds part of a paid link and then the rest from its page, through
/// the confirmation, and sees the status tag change; the overview's tags tell
/// PAID, PARTIALLY_REFUNDED and REFUNDED apart by colour.
async fn an_admin_refunds_a_paid_link_from_its_page(backend: Backend) {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(backend).await;
    paybylink::auth::create_user(
        &app.state.db,
        paybylink::merchants::MerchantId(app.merchant.id),
        "ana@shop.example",
        "correct horse battery staple",
        paybylink::auth::Role::Admin,
        "Europe/Madrid",
    )
    .await
    .unwrap();
    let mut paid = Vec::new();
    for _ in 0..3 {
        let link = app.create_link(&app.body()).await;
        let code = link_code(&link);
        let token = app.token_of(&code).await;
        assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
        paid.push(link["id"].as_str().unwrap().to_string());
    }
    let c = &browser.client;
    let base = app.address.clone();
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#email", "ana@shop.example").await;
    fill(c, "#password", "correct horse battery staple").await;
    click(c, "#sign-in").await;
    wait_for(c, "#links").await;

    // Part of it, from the link's page through the confirmation.
    let id = &paid[0];
    c.goto(&format!("{base}/links/{id}")).await.unwrap();
    let tag = wait_for(c, "#link-status .tag").await;
    assert_eq!(
        tag.attr("data-status").await.unwrap().as_deref(),
        Some("PAID")
    );
    click(c, "#payments .refund-action").await;
    wait_for(c, "#refund-confirmation").await;
    let amount = c.find(Locator::Css("#amount")).await.unwrap();
    assert_eq!(
        amount.prop("value").await.unwrap().as_deref(),
        Some("32.99")
    );
    fill(c, "#amount", "10.00").await;
    fill(c, "#reason", "Returned one shoe").await;
    click(c, "#confirm-refund").await;
    let flash = wait_for(c, "#flash").await.text().await.unwrap();
    assert!(flash.contains("Refunded 10.00 EUR"), "{flash}");
    assert_eq!(path_of(c).await, format!("/links/{id}"));
    let tag = c.find(Locator::Css("#link-status .tag")).await.unwrap();
    assert_eq!(
        tag.attr("data-status").await.unwrap().as_deref(),
        Some("PARTIALLY_REFUNDED")
    );
    let refund = c
        .find(Locator::Css(
            "#payments tr[data-refund-status=\"SUCCEEDED\"]",
        ))
        .await
        .unwrap();
    assert!(refund.text().await.unwrap().contains("Returned one shoe"));

    // The rest, as the confirmation proposes it.
    click(c, "#payments .refund-action").await;
    wait_for(c, "#refund-confirmation").await;
    let amount = c.find(Locator::Css("#amount")).await.unwrap();
    assert_eq!(
        amount.prop("value").await.unwrap().as_deref(),
        Some("22.99")
    );
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(std::env::temp_dir().join("paybylink-refund.png"), png);
    }
    click(c, "#confirm-refund").await;
    wait_for(c, "#flash").await;
    let tag = c.find(Locator::Css("#link-status .tag")).await.unwrap();
    assert_eq!(
        tag.attr("data-status").await.unwrap().as_deref(),
        Some("REFUNDED")
    );
    assert!(
        c.find_all(Locator::Css(".refund-action"))
            .await
            .unwrap()
            .is_empty(),
        "nothing is left to refund"
    );
    let _ = c
        .execute(
            "document.getElementById('payments').scrollIntoView()",
            vec![],
        )
        .await;
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(std::env::temp_dir().join("paybylink-refunded.png"), png);
    }

    // On the overview each of the three statuses has its own colour.
    let res = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{}/refunds", paid[1]),
            &serde_json::json!({"amount": 1}),
        )
        .await;
    assert_eq!(res.status(), 200);
    c.goto(&format!("{base}/links")).await.unwrap();
    wait_for(c, "#links").await;
    let mut colours = Vec::new();
    for status in ["PAID", "PARTIALLY_REFUNDED", "REFUNDED"] {
        let tag = c
            .find(Locator::Css(&format!(
                "#links tr[data-status=\"{status}\"] .tag[data-status=\"{status}\"]"
            )))
            .await
            .unwrap();
        colours.push(tag.css_value("background-color").await.unwrap());
    }
    assert_ne!(colours[0], colours[1], "{colours:?}");
    assert_ne!(colours[1], colours[2], "{colours:?}");
    assert_ne!(colours[0], colours[2], "{colours:?}");
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(
            std::env::temp_dir().join("paybylink-overview-refunds.png"),
            png,
        );
    }
    browser.close().await;
    app.stop().await;
}
