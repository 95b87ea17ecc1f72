//! The backoffice over HTTP: sign-in, sessions, CSRF, roles, the overview's
//! filters, sorting and pages, bulk cancel, forms, detail, export and settings.

use paybylink::auth::{self, Role};
use serde_json::json;

use crate::backoffice_helpers::*;
use crate::helpers::*;

on_both_backends!(
    setup_creates_the_first_merchant_and_admin_once,
    sign_in_sessions_and_sign_out,
    failed_sign_ins_are_throttled_per_account_and_per_address,
    posts_without_a_valid_csrf_token_are_403,
    staff_are_refused_admin_pages,
    overview_filters_return_exactly_the_matching_links,
    overview_sorts_and_pages_without_duplicates,
    bulk_cancel_reports_per_link,
    create_form_validates_keeps_values_and_never_creates_twice,
    edit_form_reads_due_dates_in_the_users_time_zone,
    detail_page_shows_everything_and_cancels_with_confirmation,
    user_text_is_escaped_everywhere,
    another_merchants_links_are_404,
    csv_export_follows_the_filter,
    settings_notifications_users_and_api_clients,
    pages_carry_the_security_headers,
    a_new_merchant_sees_the_empty_state,
    sessions_end_after_30_idle_minutes_or_8_hours,
);

/// Moves a session's clocks back by rewriting its stored state.
async fn age_session(app: &TestApp, email: &str, key: &str, by: chrono::Duration) {
    let user_id = app
        .db
        .text(&format!("SELECT id FROM users WHERE email = '{email}'"))
        .await;
    let state = app
        .db
        .text(&format!(
            "SELECT state FROM sessions WHERE user_id = '{user_id}'"
        ))
        .await;
    let mut map: std::collections::HashMap<String, String> = serde_json::from_str(&state).unwrap();
    let value: i64 = map[key].parse().unwrap();
    map.insert(key.to_string(), (value - by.num_milliseconds()).to_string());
    let json = serde_json::to_string(&map).unwrap().replace('\'', "''");
    app.db
        .exec(&format!(
            "UPDATE sessions SET state = '{json}' WHERE user_id = '{user_id}'"
        ))
        .await;
}

async fn sessions_end_after_30_idle_minutes_or_8_hours(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    age_session(
        &app,
        "ana@shop.example",
        "last_seen",
        chrono::Duration::minutes(29),
    )
    .await;
    assert_eq!(
        ana.get("/links").await.status(),
        200,
        "29 idle minutes are fine"
    );
    age_session(
        &app,
        "ana@shop.example",
        "last_seen",
        chrono::Duration::minutes(31),
    )
    .await;
    assert_eq!(
        ana.get("/links").await.status(),
        303,
        "31 idle minutes end the session"
    );

    let bob = signed_in(&app, app.merchant.id, "bob@shop.example", Role::Staff).await;
    age_session(
        &app,
        "bob@shop.example",
        "signed_in_at",
        chrono::Duration::hours(7),
    )
    .await;
    assert_eq!(
        bob.get("/links").await.status(),
        200,
        "busy for 7 hours is fine"
    );
    age_session(
        &app,
        "bob@shop.example",
        "signed_in_at",
        chrono::Duration::hours(2),
    )
    .await;
    let res = bob.get("/links").await;
    assert_eq!(res.status(), 303, "after 8 hours everyone signs in again");
    assert!(location(&res).starts_with("/login"));
    app.stop().await;
}

fn sessions_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("pbl_session="))
}

async fn setup_creates_the_first_merchant_and_admin_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = auth::ensure_setup_token(&app.state.db)
        .await
        .unwrap()
        .expect("no user yet");
    let visitor = Person::new(&app, "owner@shop.example");
    assert_eq!(visitor.get("/setup?token=wrong").await.status(), 404);
    assert_eq!(visitor.get("/setup").await.status(), 404);
    let path = format!("/setup?token={token}");
    // No CSRF token: refused.
    let res = visitor
        .post_raw(
            "/setup",
            &[
                ("token", &token),
                ("merchantName", "Shop"),
                ("email", "a@b.co"),
                ("password", PASSWORD),
                ("timeZone", "UTC"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    // A short password: the form again, with the error and the values kept.
    let res = visitor
        .submit(
            &path,
            "/setup",
            &[
                ("token", &token),
                ("merchantName", "Shop & Co"),
                ("email", "owner@shop.example"),
                ("password", "short"),
                ("timeZone", "Europe/Madrid"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("at least 12 characters"), "{html}");
    assert!(html.contains("value=\"Shop &#38; Co\""), "{html}");
    let res = visitor
        .submit(
            &path,
            "/setup",
            &[
                ("token", &token),
                ("merchantName", "Shop & Co"),
                ("email", "owner@shop.example"),
                ("password", PASSWORD),
                ("timeZone", "Europe/Madrid"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/links");
    let html = visitor.page("/links").await;
    assert!(html.contains("owner@shop.example"));
    assert!(html.contains("Your merchant account is ready"));
    assert!(visitor.page("/settings/users").await.contains("admin"));
    // The token is dead now, for a second attempt too.
    assert_eq!(visitor.get(&path).await.status(), 404);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM users").await, 1);
    let second = Person::new(&app, "x@y.co");
    let res = second.post_raw("/login", &[]).await;
    assert_eq!(res.status(), 403);
    app.stop().await;
}

async fn sign_in_sessions_and_sign_out(backend: Backend) {
    let app = spawn_app(backend).await;
    auth::create_user(
        &app.state.db,
        paybylink::merchants::MerchantId(app.merchant.id),
        "ana@shop.example",
        PASSWORD,
        Role::Staff,
        "UTC",
    )
    .await
    .unwrap();
    let ana = Person::new(&app, "ana@shop.example");
    // Signed out, pages send you to sign in and back.
    let res = ana.get("/links?status=PAID").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?next=%2Flinks%3Fstatus%3DPAID");

    // The same answer for an unknown email and a wrong password.
    let wrong = ana.sign_in_with("not the password at all").await;
    assert_eq!(wrong.status(), 401);
    let wrong_text = wrong.text().await.unwrap();
    let nobody = Person::new(&app, "nobody@shop.example");
    let unknown = nobody.sign_in_with(PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown_text = unknown.text().await.unwrap();
    let error_of = |html: &str| {
        html.split("id=\"login-error\">")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(error_of(&wrong_text), error_of(&unknown_text));
    assert!(!wrong_text.contains(PASSWORD));

    // Sign-in gives a new session id, HttpOnly and SameSite=Lax.
    let ana = Person::new(&app, "ana@shop.example");
    let login_page = ana.get("/login").await;
    let before =
        sessions_cookie(&login_page).expect("the login page starts a session for its CSRF token");
    let token = csrf_of(&login_page.text().await.unwrap());
    let res = ana
        .post_raw(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ANA@shop.example"),
                ("password", PASSWORD),
                ("next", "/links?status=PAID"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/links?status=PAID");
    let after = sessions_cookie(&res).expect("a new session cookie");
    assert_ne!(
        before.split(';').next(),
        after.split(';').next(),
        "a new session id at sign-in"
    );
    let lower = after.to_lowercase();
    assert!(
        lower.contains("httponly") && lower.contains("samesite=lax"),
        "{after}"
    );
    assert!(
        !lower.contains("secure"),
        "plain-HTTP public URL: not Secure ({after})"
    );
    assert!(ana.page("/links").await.contains("ana@shop.example"));
    // Session keys are stored only hashed.
    let raw_key = after
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("pbl_session=")
        .to_string();
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM sessions WHERE key_hash = '{raw_key}'"
            ))
            .await,
        0
    );

    // An open redirect through `next` is not followed.
    let res = ana
        .submit(
            "/links",
            "/login",
            &[
                ("email", "ana@shop.example"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(location(&res), "/links");

    // Sign-out ends the session: the old cookie no longer works.
    let old_cookie = after.split(';').next().unwrap().to_string();
    let html = ana.page("/links").await;
    let res = ana
        .post_raw("/logout", &[("csrf_token", &csrf_of(&html))])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(ana.get("/links").await.status(), 303);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = replay
        .get(app.url("/links"))
        .header("cookie", &old_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "a signed-out session cannot be replayed");

    // With an https public URL the cookie is Secure.
    let secure_app = spawn_app_at(backend, false, "https://pay.example.test").await;
    let res = secure_app
        .client
        .get(secure_app.url("/login"))
        .send()
        .await
        .unwrap();
    let cookie = sessions_cookie(&res).unwrap();
    assert!(cookie.to_lowercase().contains("; secure"), "{cookie}");
    secure_app.stop().await;
    app.stop().await;
}

async fn failed_sign_ins_are_throttled_per_account_and_per_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = paybylink::merchants::MerchantId(app.merchant.id);
    auth::create_user(
        &app.state.db,
        m,
        "ana@shop.example",
        PASSWORD,
        Role::Staff,
        "UTC",
    )
    .await
    .unwrap();
    let ana = Person::new(&app, "ana@shop.example");
    for _ in 0..5 {
        assert_eq!(ana.sign_in_with("wrong password!").await.status(), 401);
    }
    // The sixth attempt is refused even with the right password.
    let res = ana.sign_in_with(PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins"));

    // Per address: five failures on five unknown accounts block the address.
    let app2 = spawn_app(backend).await;
    auth::create_user(
        &app2.state.db,
        paybylink::merchants::MerchantId(app2.merchant.id),
        "bob@shop.example",
        PASSWORD,
        Role::Staff,
        "UTC",
    )
    .await
    .unwrap();
    for i in 0..5 {
        let p = Person::new(&app2, &format!("guess{i}@shop.example"));
        assert_eq!(p.sign_in_with("whatever password").await.status(), 401);
    }
    let bob = Person::new(&app2, "bob@shop.example");
    assert_eq!(bob.sign_in_with(PASSWORD).await.status(), 429);
    app2.stop().await;
    app.stop().await;
}

async fn posts_without_a_valid_csrf_token_are_403(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Admin).await;
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap();
    let fields = [
        ("amount", "10"),
        ("currency", "EUR"),
        ("country", "ES"),
        ("merchantTransactionId", "x1"),
    ];
    let with = |token: &'static str| {
        let mut v: Vec<(&str, &str)> = vec![("csrf_token", token)];
        v.extend_from_slice(&fields);
        v
    };
    for (path, body) in [
        ("/links/new", fields.to_vec()),
        ("/links/new", with("forged")),
        (&*format!("/links/{id}/cancel"), vec![]),
        ("/links/cancel", vec![("ids", id)]),
        ("/logout", vec![]),
        ("/settings/api-clients", vec![("name", "x")]),
    ] {
        let res = ana.post_raw(path, &body).await;
        assert_eq!(res.status(), 403, "POST {path}");
    }
    // A valid token from another origin is refused too.
    let html = ana.page("/links/new").await;
    let res = ana
        .client
        .post(app.url("/links/new"))
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", csrf_of(&html).as_str()), ("amount", "10")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 1);
    assert_eq!(
        app.db
            .text(&format!("SELECT status FROM links WHERE id = '{id}'"))
            .await,
        "CREATED"
    );
    app.stop().await;
}

async fn staff_are_refused_admin_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let staff = signed_in(&app, app.merchant.id, "staff@shop.example", Role::Staff).await;
    let admin = signed_in(&app, app.merchant.id, "admin@shop.example", Role::Admin).await;
    for path in [
        "/settings/notifications",
        "/settings/users",
        "/settings/api-clients",
    ] {
        assert_eq!(staff.get(path).await.status(), 403, "{path}");
        assert_eq!(admin.get(path).await.status(), 200, "{path}");
    }
    let links_html = staff.page("/links").await;
    assert!(
        !links_html.contains("/settings/notifications"),
        "staff see no settings link"
    );
    let token = csrf_of(&links_html);
    for (path, fields) in [
        ("/settings/api-clients", vec![("name", "sneaky")]),
        (
            "/settings/users",
            vec![
                ("email", "x@y.co"),
                ("role", "admin"),
                ("password", PASSWORD),
                ("timeZone", "UTC"),
            ],
        ),
        (
            "/settings/notifications",
            vec![("notificationUri", "https://93.184.216.34/x")],
        ),
    ] {
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend(fields);
        assert_eq!(
            staff.post_raw(path, &all).await.status(),
            403,
            "POST {path}"
        );
    }
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM users").await, 2);
    app.stop().await;
}

/// The ids of the overview's rows, in order.
fn row_ids(html: &str) -> Vec<String> {
    html.split("<tr data-link-id=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

async fn overview_filters_return_exactly_the_matching_links(backend: Backend) {
    let app = spawn_app_with(backend, false).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let make = |mtid: &str, description: &str, amount: serde_json::Value, currency: &str| {
        let mut b = app.body();
        b["merchantTransactionId"] = json!(mtid);
        b["description"] = json!(description);
        b["amount"] = amount;
        b["currency"] = json!(currency);
        b.as_object_mut().unwrap().remove("referenceId");
        b
    };
    let id = |v: &serde_json::Value| v["id"].as_str().unwrap().to_string();
    let shoes = id(&app
        .create_link(&make("INV-001", "Red running shoes", json!(120), "EUR"))
        .await);
    let hat = id(&app
        .create_link(&make("INV-002", "Straw hat", json!(15.5), "EUR"))
        .await);
    let yen = id(&app
        .create_link(&make("INV-003", "Kimono", json!(20000), "JPY"))
        .await);
    let paid = id(&app
        .create_link(&make("INV-004", "Blue shoes", json!(80), "GBP"))
        .await);
    let overdue = id(&app
        .create_link(&make("INV-005", "Gloves", json!(5), "EUR"))
        .await);
    app.db
        .exec(&format!(
            "UPDATE links SET status = 'PAID' WHERE id = '{paid}'"
        ))
        .await;
    app.db
        .exec(&format!(
            "UPDATE links SET due_date = 1000 WHERE id = '{overdue}'"
        ))
        .await;
    // 2024-06-15 12:00 UTC and a due date of 2031-03-01 12:00 UTC for the hat.
    app.db.exec(&format!("UPDATE links SET created_at = 1718452800000, due_date = 1930132800000 WHERE id = '{hat}'")).await;

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let expect = |ids: &[&String]| sorted(ids.iter().map(|s| s.to_string()).collect());
    let cases: Vec<(&str, Vec<&String>)> = vec![
        ("", vec![&shoes, &hat, &yen, &paid, &overdue]),
        ("status=CREATED", vec![&shoes, &hat, &yen]),
        ("status=PAID&status=EXPIRED", vec![&paid, &overdue]),
        ("status=EXPIRED", vec![&overdue]),
        ("q=shoes", vec![&shoes, &paid]),
        ("q=inv-00", vec![&shoes, &hat, &yen, &paid, &overdue]),
        ("q=kimono", vec![&yen]),
        ("currency=EUR", vec![&shoes, &hat, &overdue]),
        ("amountMin=100", vec![&shoes, &yen]),
        ("amountMax=15.5", vec![&hat, &overdue]),
        ("amountMin=10&amountMax=100&currency=EUR", vec![&hat]),
        ("createdTo=2024-06-15", vec![&hat]),
        (
            "createdFrom=2024-06-16",
            vec![&shoes, &yen, &paid, &overdue],
        ),
        ("dueFrom=2031-03-01&dueTo=2031-03-01", vec![&hat]),
        ("status=CREATED&q=shoes", vec![&shoes]),
    ];
    for (query, want) in cases {
        let html = ana.page(&format!("/links?{query}")).await;
        assert_eq!(sorted(row_ids(&html)), expect(&want), "filter {query:?}");
    }
    // Rows carry the hooks of the contract.
    let html = ana.page("/links").await;
    assert!(html.contains("<table id=\"links\">"));
    assert!(html.contains(&format!(
        "<tr data-link-id=\"{paid}\" data-status=\"PAID\">"
    )));
    assert!(html.contains(&format!(
        "<tr data-link-id=\"{overdue}\" data-status=\"EXPIRED\">"
    )));
    assert!(html.contains(&format!(
        "<input type=\"checkbox\" name=\"ids\" value=\"{shoes}\""
    )));
    assert!(
        html.contains(&format!("{PUBLIC_URL}/p/")),
        "the link column"
    );
    // A bad filter value is reported and ignored, never a 500.
    let html = ana
        .page("/links?createdFrom=yesterday&amountMin=lots&currency=ZZZ&sort=color")
        .await;
    assert!(html.contains("is not a date"));
    assert_eq!(row_ids(&html).len(), 5);
    app.stop().await;
}

async fn overview_sorts_and_pages_without_duplicates(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let mut all = std::collections::HashSet::new();
    for i in 0..70 {
        let mut b = app.body();
        b["amount"] = json!(1 + (i * 37) % 100);
        b["merchantTransactionId"] = json!(format!("order-{i}"));
        all.insert(
            app.create_link(&b).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for (sort, order) in [
        ("created", "desc"),
        ("amount", "asc"),
        ("amount", "desc"),
        ("due", "asc"),
        ("status", "asc"),
    ] {
        let mut seen = Vec::new();
        let mut amounts = Vec::new();
        let mut url = format!("/links?sort={sort}&order={order}");
        let mut pages = 0;
        loop {
            let html = ana.page(&url).await;
            let ids = row_ids(&html);
            assert!(ids.len() <= 50);
            for id in &ids {
                let a = app
                    .db
                    .scalar(&format!("SELECT amount_minor FROM links WHERE id = '{id}'"))
                    .await;
                amounts.push(a);
            }
            seen.extend(ids);
            pages += 1;
            assert!(pages <= 3, "paging by {sort} {order} does not end");
            // Links added while paging do not disturb the pages after.
            app.create_link(&app.body()).await;
            match html
                .split("id=\"next-page\"")
                .next()
                .and_then(|h| h.rsplit("href=\"").next())
            {
                Some(href) if html.contains("id=\"next-page\"") => {
                    url = unescape(href.split('"').next().unwrap())
                }
                _ => break,
            }
        }
        assert_eq!(pages, 2, "{sort} {order}");
        let unique: std::collections::HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "no duplicates sorting by {sort} {order}"
        );
        assert!(all.is_subset(&unique), "no gaps sorting by {sort} {order}");
        if sort == "amount" {
            let mut sorted_amounts = amounts.clone();
            sorted_amounts.sort();
            if order == "desc" {
                sorted_amounts.reverse();
            }
            let originals: Vec<i64> = amounts.iter().copied().filter(|a| *a != 3299).collect();
            let mut expected: Vec<i64> = originals.clone();
            expected.sort();
            if order == "desc" {
                expected.reverse();
            }
            assert_eq!(originals, expected, "rows are in amount order ({order})");
        }
    }
    app.stop().await;
}

async fn bulk_cancel_reports_per_link(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let a = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.db
        .exec(&format!(
            "UPDATE links SET status = 'PAID' WHERE id = '{paid}'"
        ))
        .await;
    let res = ana
        .submit(
            "/links",
            "/links/cancel",
            &[("ids", &a), ("ids", &paid), ("ids", &b)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = ana.page("/links").await;
    assert!(html.contains(&format!("{a}: cancelled")), "{html}");
    assert!(html.contains(&format!("{b}: cancelled")));
    assert!(html.contains(&format!("{paid}: not cancelled, it is PAID")));
    assert!(html.contains("2 link(s) cancelled, 1 refused."));
    for (id, status) in [(&a, "CANCELLED"), (&b, "CANCELLED"), (&paid, "PAID")] {
        assert_eq!(
            app.db
                .text(&format!("SELECT status FROM links WHERE id = '{id}'"))
                .await,
            status
        );
    }
    // "View" with one selected opens it; with two it explains.
    let res = ana.submit("/links", "/links/view", &[("ids", &a)]).await;
    assert_eq!(location(&res), format!("/links/{a}"));
    let res = ana
        .submit("/links", "/links/view", &[("ids", &a), ("ids", &b)])
        .await;
    assert_eq!(location(&res), "/links");
    assert!(ana.page("/links").await.contains("Select exactly one link"));
    app.stop().await;
}

async fn create_form_validates_keeps_values_and_never_creates_twice(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let form = ana.page("/links/new").await;
    assert!(form.contains("name=\"amount\"") && form.contains("name=\"merchantTransactionId\""));
    let token = csrf_of(&form);
    let form_token = input_value(&form, "formToken").unwrap();
    let product = app.merchant.product_id.to_string();
    let bad = [
        ("csrf_token", token.as_str()),
        ("formToken", form_token.as_str()),
        ("amount", "12.345"),
        ("currency", "EUR"),
        ("country", ""),
        ("productId", product.as_str()),
        ("merchantTransactionId", "ORDER-7"),
        ("description", "Garden chairs"),
        ("dueDate", ""),
    ];
    let res = ana.post_raw("/links/new", &bad).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"amount-error\""),
        "the amount error sits by its field"
    );
    assert!(html.contains("id=\"country-error\""));
    assert!(!html.contains("id=\"merchantTransactionId-error\""));
    assert!(html.contains("value=\"12.345\""), "entered values are kept");
    assert!(html.contains("Garden chairs"));
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 0);

    let good = [
        ("csrf_token", token.as_str()),
        ("formToken", form_token.as_str()),
        ("amount", "12.34"),
        ("currency", "EUR"),
        ("country", "ES"),
        ("productId", product.as_str()),
        ("merchantTransactionId", "ORDER-7"),
        ("description", "Garden chairs"),
        ("dueDate", ""),
        ("language", "ES"),
        ("customerId", ""),
        ("referenceId", ""),
        ("merchantParams", ""),
        ("code", ""),
    ];
    let first = ana.post_raw("/links/new", &good).await;
    assert_eq!(first.status(), 303);
    let detail = location(&first);
    assert!(detail.starts_with("/links/"));
    // The same form sent again (a double click) finds the same link.
    let second = ana.post_raw("/links/new", &good).await;
    assert_eq!(location(&second), detail);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 1);
    let html = ana.page(&detail).await;
    assert!(
        html.contains("Payment link created"),
        "a flash message on success"
    );
    assert!(html.contains("12.34 EUR"));
    // A fresh form makes a new link.
    let form = ana.page("/links/new").await;
    let mut again = good.to_vec();
    let new_token = input_value(&form, "formToken").unwrap();
    again[1] = ("formToken", new_token.as_str());
    assert_eq!(ana.post_raw("/links/new", &again).await.status(), 303);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM links").await, 2);
    app.stop().await;
}

async fn edit_form_reads_due_dates_in_the_users_time_zone(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await; // Europe/Madrid
    let id = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let form = ana.page(&format!("/links/{id}/edit")).await;
    assert!(form.contains("value=\"32.99\""));
    assert!(form.contains("Europe/Madrid"));
    let product = app.merchant.product_id.to_string();
    let fields = [
        ("amount", "40"),
        ("currency", "EUR"),
        ("country", "ES"),
        ("productId", product.as_str()),
        ("merchantTransactionId", "1234abcd567efg"),
        ("description", "Changed"),
        ("dueDate", "2031-07-01T10:00"),
        ("language", "EN"),
    ];
    let res = ana
        .submit(
            &format!("/links/{id}/edit"),
            &format!("/links/{id}/edit"),
            &fields,
        )
        .await;
    assert_eq!(res.status(), 303);
    let link: serde_json::Value = app.get_link(&id).await.json().await.unwrap();
    assert_eq!(
        link["dueDate"], "2031-07-01T08:00:00.000Z",
        "10:00 in Madrid in summer is 08:00 UTC"
    );
    assert_eq!(link["amount"], json!(40));
    assert_eq!(link["description"], "Changed");
    assert!(ana
        .page(&format!("/links/{id}"))
        .await
        .contains("2031-07-01 10:00"));
    // A cancelled link cannot be edited.
    app.cancel(&id).await;
    let res = ana.get(&format!("/links/{id}/edit")).await;
    assert_eq!(location(&res), format!("/links/{id}"));
    let res = ana
        .submit(
            &format!("/links/{id}"),
            &format!("/links/{id}/edit"),
            &fields,
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(ana
        .page(&format!("/links/{id}"))
        .await
        .contains("can no longer be edited"));
    app.stop().await;
}

async fn detail_page_shows_everything_and_cancels_with_confirmation(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap();
    let html = ana.page(&format!("/links/{id}")).await;
    assert!(html.contains(&format!(
        "<code class=\"url\" id=\"link-url\">{}</code>",
        link["url"].as_str().unwrap()
    )));
    assert!(html.contains("<span class=\"tag\" data-status=\"CREATED\">CREATED</span>"));
    // The QR code is an image of its own, kept by the browser: a link's URL never changes.
    let qr_path = format!("/links/{id}/qr.svg");
    assert!(
        html.contains(&format!("<img src=\"{qr_path}\"")),
        "a QR code"
    );
    let qr = ana.get(&qr_path).await;
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert!(qr.text().await.unwrap().contains("<svg"));
    for text in [
        "32.99 EUR",
        "1234abcd567efg",
        "Paying for shoes bought Jan 1st",
        "xx2211223",
        "1234abcd1234",
        "merchantName:Daniel;merchantSurname:Rodriguez",
        "ES",
        "GB",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert!(html.contains("id=\"edit-link\"") && html.contains("id=\"cancel-link\""));
    // Cancel asks first, then cancels.
    let confirm = ana.page(&format!("/links/{id}/cancel")).await;
    assert!(confirm.contains("Cancel this link?"));
    let res = ana
        .submit(
            &format!("/links/{id}/cancel"),
            &format!("/links/{id}/cancel"),
            &[],
        )
        .await;
    assert_eq!(location(&res), format!("/links/{id}"));
    let html = ana.page(&format!("/links/{id}")).await;
    assert!(html.contains("data-status=\"CANCELLED\""));
    assert!(
        !html.contains("id=\"cancel-link\""),
        "no Cancel or Edit once cancelled"
    );
    assert_eq!(ana.get("/links/nosuchlink").await.status(), 404);
    app.stop().await;
}

async fn user_text_is_escaped_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Admin).await;
    let evil = "<script>alert(1)</script>";
    let mut body = app.body();
    body["description"] = json!(evil);
    body["merchantTransactionId"] = json!("<script>x</script>");
    body["customerId"] = json!("<img src=x onerror=alert(1)>");
    body["code"] = json!("<b>bold</b>");
    body.as_object_mut().unwrap().remove("referenceId");
    let id = app.create_link(&body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for path in [
        "/links".to_string(),
        format!("/links/{id}"),
        format!("/links/{id}/edit"),
        format!("/links/{id}/cancel"),
        "/links?q=%3Cscript%3E".to_string(),
    ] {
        let html = ana.page(&path).await;
        assert!(
            !html.contains("<script>alert")
                && !html.contains("<script>x")
                && !html.contains("<img src=x"),
            "{path}"
        );
        assert!(
            html.contains("&lt;script&gt;")
                || html.contains("&#60;script&#62;")
                || html.contains("&#x3c;script"),
            "{path}"
        );
    }
    // Typed into the search box and settings forms, echoed back escaped too.
    let html = ana
        .page("/links?q=%22%3E%3Cscript%3Ealert(2)%3C/script%3E")
        .await;
    assert!(!html.contains("<script>alert(2)"));
    let res = ana
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("email", evil),
                ("role", "staff"),
                ("password", PASSWORD),
                ("timeZone", "UTC"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(!res.text().await.unwrap().contains("<script>alert(1)"));
    let res = ana
        .submit(
            "/settings/api-clients",
            "/settings/api-clients",
            &[("name", evil)],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(!res.text().await.unwrap().contains("<script>alert(1)"));
    let html = ana.page(&format!("/links/{id}")).await;
    assert!(!html.contains("<b>bold</b>"), "the code field is escaped");
    app.stop().await;
}

async fn another_merchants_links_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let b = app.new_merchant("Hat Shop").await;
    let bob = signed_in(&app, b.id, "bob@hats.example", Role::Staff).await;
    let id = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(bob.get(&format!("/links/{id}")).await.status(), 404);
    assert_eq!(bob.get(&format!("/links/{id}/qr.svg")).await.status(), 404);
    assert_eq!(bob.get(&format!("/links/{id}/edit")).await.status(), 404);
    assert_eq!(bob.get(&format!("/links/{id}/cancel")).await.status(), 404);
    let res = bob
        .submit("/links", &format!("/links/{id}/cancel"), &[])
        .await;
    assert_eq!(res.status(), 404);
    let res = bob.submit("/links", "/links/cancel", &[("ids", &id)]).await;
    assert_eq!(res.status(), 303);
    assert!(bob.page("/links").await.contains("no such link"));
    assert!(row_ids(&bob.page("/links").await).is_empty());
    assert!(row_ids(&bob.page(&format!("/links?q={id}")).await).is_empty());
    assert_eq!(
        app.db
            .text(&format!("SELECT status FROM links WHERE id = '{id}'"))
            .await,
        "CREATED"
    );
    let csv = bob.get("/links/export.csv").await.text().await.unwrap();
    assert!(!csv.contains(&id));
    app.stop().await;
}

async fn csv_export_follows_the_filter(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let mut body = app.body();
    body["description"] = json!("=HYPERLINK(\"http://evil\"), \"quoted\"");
    let a = app.create_link(&body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = app.create_link(&app.body()).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.cancel(&b).await;
    for _ in 0..250 {
        app.create_link(&app.body()).await;
    }
    let res = ana.get("/links/export.csv").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,status,merchantTransactionId,description,amount,currency"));
    assert_eq!(
        lines.len(),
        1 + 252,
        "every link, across several internal pages"
    );
    let row_a = lines.iter().find(|l| l.starts_with(&a)).unwrap();
    assert!(
        row_a.contains("\"'=HYPERLINK(\"\"http://evil\"\"), \"\"quoted\"\"\""),
        "{row_a}"
    );
    let csv = ana
        .get("/links/export.csv?status=CANCELLED")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].starts_with(&format!("{b},CANCELLED,")));
    app.stop().await;
}

async fn settings_notifications_users_and_api_clients(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = signed_in(&app, app.merchant.id, "admin@shop.example", Role::Admin).await;

    // Notifications: the API's rules apply.
    let html = admin.page("/settings/notifications").await;
    assert!(
        html.contains("whsec_"),
        "the signing secret is shown to admins"
    );
    let res = admin
        .submit(
            "/settings/notifications",
            "/settings/notifications",
            &[("notificationUri", "http://127.0.0.1/hook")],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("non-public address"));
    let res = admin
        .submit(
            "/settings/notifications",
            "/settings/notifications",
            &[("notificationUri", "https://93.184.216.34/hook")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let api: serde_json::Value = app
        .get_as(&app.merchant.token, "/api/v1/notification-settings")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api["notificationUri"], "https://93.184.216.34/hook");

    // Users: add, deactivate (ends their sessions), reset a password.
    let res = admin
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("email", "new@shop.example"),
                ("role", "staff"),
                ("password", "short"),
                ("timeZone", "UTC"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = admin
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("email", "new@shop.example"),
                ("role", "staff"),
                ("password", PASSWORD),
                ("timeZone", "Europe/Madrid"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let newbie = Person::new(&app, "new@shop.example");
    newbie.sign_in().await;
    assert_eq!(newbie.get("/links").await.status(), 200);
    let user_id = app
        .db
        .text("SELECT id FROM users WHERE email = 'new@shop.example'")
        .await;
    let res = admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{user_id}/password"),
            &[("password", "a brand new password")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        newbie.get("/links").await.status(),
        303,
        "a reset password ends the user's sessions"
    );
    assert_eq!(newbie.sign_in_with(PASSWORD).await.status(), 401);
    assert_eq!(
        newbie.sign_in_with("a brand new password").await.status(),
        303
    );
    assert_eq!(newbie.get("/links").await.status(), 200);
    let res = admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{user_id}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        newbie.get("/links").await.status(),
        303,
        "deactivation ends the user's sessions"
    );
    assert_eq!(
        newbie.sign_in_with("a brand new password").await.status(),
        401
    );
    let admin_id = app
        .db
        .text("SELECT id FROM users WHERE email = 'admin@shop.example'")
        .await;
    admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{admin_id}/deactivate"),
            &[],
        )
        .await;
    assert_eq!(
        admin.get("/links").await.status(),
        200,
        "admins cannot lock themselves out"
    );

    // API credentials: the secret is shown once and works; revoking stops it.
    let res = admin
        .submit(
            "/settings/api-clients",
            "/settings/api-clients",
            &[("name", "Web shop")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let grab = |id: &str| {
        html.split(&format!("id=\"{id}\">"))
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    let (client_id, secret) = (grab("new-client-id"), grab("new-client-secret"));
    let token = app.token_for(&client_id, &secret).await;
    assert_eq!(
        app.get_as(&token, "/api/v1/pay-by-link").await.status(),
        200
    );
    let listing = admin.page("/settings/api-clients").await;
    assert!(
        listing.contains(&client_id) && !listing.contains(&secret),
        "the secret is not shown again"
    );
    let res = admin
        .submit(
            "/settings/api-clients",
            &format!("/settings/api-clients/{client_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        app.get_as(&token, "/api/v1/pay-by-link").await.status(),
        401
    );
    // Another merchant's client cannot be revoked from here.
    let other = app.new_merchant("Other shop").await;
    let res = admin
        .submit(
            "/settings/api-clients",
            &format!("/settings/api-clients/{}/revoke", other.client_id),
            &[],
        )
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        app.get_as(&other.token, "/api/v1/pay-by-link")
            .await
            .status(),
        200
    );
    app.stop().await;
}

async fn pages_carry_the_security_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Admin).await;
    for path in ["/login", "/links", "/links/new", "/settings/users"] {
        let res = ana.get(path).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            !csp.contains("unsafe-inline")
                && csp.contains("frame-ancestors 'none'")
                && csp.contains("object-src 'none'")
                && csp.contains("base-uri 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
        let html = res.text().await.unwrap();
        assert!(!html.contains("<script>"), "{path}: no inline script");
        assert!(!html.contains(" style=\""), "{path}: no inline style");
    }
    app.stop().await;
}

async fn a_new_merchant_sees_the_empty_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let ana = signed_in(&app, app.merchant.id, "ana@shop.example", Role::Staff).await;
    let html = ana.page("/links").await;
    assert!(html.contains("id=\"empty-state\"") && html.contains("Create your first link"));
    let html = ana.page("/links?status=PAID").await;
    assert!(
        !html.contains("id=\"empty-state\""),
        "filters are not the empty state"
    );
    app.create_link(&app.body()).await;
    assert!(!ana.page("/links").await.contains("id=\"empty-state\""));
    app.stop().await;
}
