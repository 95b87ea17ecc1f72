//! Keyset pagination and list filters.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::*;

on_both_backends!(
    pages_have_no_duplicates_or_gaps_while_links_are_added,
    filters_return_exactly_the_matching_links
);

async fn page(app: &TestApp, query: &str) -> (Vec<String>, Option<String>) {
    let res = app
        .get_as(&app.merchant.token, &format!("/api/v1/pay-by-link?{query}"))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let ids = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    (ids, body["nextCursor"].as_str().map(str::to_string))
}

async fn pages_have_no_duplicates_or_gaps_while_links_are_added(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut existing = HashSet::new();
    for i in 0..25 {
        let mut body = app.body();
        body["merchantTransactionId"] = json!(format!("order-{i}"));
        existing.insert(
            app.create_link(&body).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=10&cursor={c}"),
            None => "limit=10".to_string(),
        };
        let (ids, next) = page(&app, &query).await;
        seen.extend(ids);
        pages += 1;
        // New links arrive between pages; they belong before the first page.
        for _ in 0..3 {
            app.create_link(&app.body()).await;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "a link appeared twice");
    assert_eq!(unique, existing, "every link that existed was listed once");
    app.stop().await;
}

async fn filters_return_exactly_the_matching_links(backend: Backend) {
    let app = spawn_app_with(backend, false).await;
    let make = |mtid: &'static str, description: &'static str| {
        let mut body = app.body();
        body["merchantTransactionId"] = json!(mtid);
        body["description"] = json!(description);
        body.as_object_mut().unwrap().remove("referenceId");
        body
    };
    let shoes = app.create_link(&make("INV-001", "Red running shoes")).await;
    let hat = app.create_link(&make("INV-002", "Straw hat")).await;
    let cancelled = app
        .create_link(&make("INV-003", "Blue SHOES, size 44"))
        .await;
    let overdue = app.create_link(&make("9999AB", "Gloves")).await;
    let id = |l: &Value| l["id"].as_str().unwrap().to_string();
    assert_eq!(app.cancel(&id(&cancelled)).await.status(), 200);
    app.db
        .exec(&format!(
            "UPDATE links SET due_date = 1000 WHERE id = '{}'",
            id(&overdue)
        ))
        .await;

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let expect = |links: &[&Value]| sorted(links.iter().map(|l| id(l)).collect());

    let (ids, _) = page(&app, "status=CREATED").await;
    assert_eq!(
        sorted(ids),
        expect(&[&shoes, &hat]),
        "an overdue link is not CREATED"
    );
    let (ids, _) = page(&app, "status=EXPIRED").await;
    assert_eq!(
        sorted(ids),
        expect(&[&overdue]),
        "an overdue link is EXPIRED before the sweep"
    );
    let (ids, _) = page(&app, "status=CANCELLED&status=EXPIRED").await;
    assert_eq!(sorted(ids), expect(&[&cancelled, &overdue]));
    let (ids, _) = page(&app, "status=PAID").await;
    assert!(ids.is_empty());

    // Substring search, case-insensitive, over several fields; long and short needles.
    let (ids, _) = page(&app, "q=shoes").await;
    assert_eq!(sorted(ids), expect(&[&shoes, &cancelled]));
    let (ids, _) = page(&app, "q=INV-00").await;
    assert_eq!(sorted(ids), expect(&[&shoes, &hat, &cancelled]));
    // Short needles are scanned; "ze" cannot occur in a hex id.
    let (ids, _) = page(&app, "q=ZE").await;
    assert_eq!(sorted(ids), expect(&[&cancelled]));
    let (ids, _) = page(&app, "q=9999ab").await;
    assert_eq!(
        sorted(ids),
        expect(&[&overdue]),
        "referenceId and merchantTransactionId are searched"
    );
    let (ids, _) = page(&app, &format!("q={}", &id(&hat)[4..16])).await;
    assert_eq!(sorted(ids), expect(&[&hat]), "the id is searched");
    let (ids, _) = page(&app, "q=%25").await;
    assert!(ids.is_empty(), "LIKE wildcards are literal");
    let (ids, _) = page(&app, "q=shoes&status=CREATED").await;
    assert_eq!(sorted(ids), expect(&[&shoes]));

    // Created range.
    app.db
        .exec(&format!(
            "UPDATE links SET created_at = 1600000000000 WHERE id = '{}'",
            id(&hat)
        ))
        .await;
    let (ids, _) = page(&app, "createdTo=2021-01-01T00:00:00Z").await;
    assert_eq!(sorted(ids), expect(&[&hat]));
    let (ids, _) = page(&app, "createdFrom=2021-01-01T00:00:00%2B00:00").await;
    assert_eq!(sorted(ids), expect(&[&shoes, &cancelled, &overdue]));
    app.stop().await;
}
