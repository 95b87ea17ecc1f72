//! The shopper's page of CONTRACT section 6: what it shows in each state and
//! language, its escaping, its form (errors, CSRF) and a payment in a browser.

use fantoccini::Locator;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::*;

on_both_backends!(
    the_page_shows_the_link_and_a_card_form,
    the_spanish_page_is_spanish_and_lang_overrides_it,
    user_text_is_escaped_on_the_page,
    unknown_codes_get_a_404_that_reveals_nothing,
    closed_links_show_their_status_and_no_form,
    posts_without_a_valid_form_token_get_403,
    form_errors_show_next_to_the_fields_and_keep_the_link_created,
    a_changed_amount_is_not_charged,
);

fn english(app: &TestApp) -> Value {
    let mut body = app.body();
    body["language"] = json!("EN");
    body
}

async fn the_page_shows_the_link_and_a_card_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = english(&app);
    body["dueDate"] = json!("2099-03-04T10:30:00Z");
    let link = app.create_link(&body).await;
    let code = link_code(&link);

    let res = app
        .client
        .get(app.url(&format!("/p/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(html.contains("data-status=\"CREATED\""));
    assert!(html.contains(">Shoe Shop</h1>"), "merchant name: {html}");
    assert!(html.contains("Paying for shoes bought Jan 1st"));
    assert!(html.contains("id=\"amount\">€32.99<"), "{html}");
    assert!(
        html.contains("Pay before 4 March 2099, 10:30 UTC"),
        "{html}"
    );
    assert!(html.contains("Pay €32.99</button>"), "{html}");
    // The card form with the fields of the contract and proper hints for phones
    // and password managers; no inline script or style.
    assert!(html.contains(&format!("action=\"/p/{code}/pay?lang=en\"")));
    for (name, autocomplete) in [
        ("cardholder", "cc-name"),
        ("cardNumber", "cc-number"),
        ("expiry", "cc-exp"),
        ("cvc", "cc-csc"),
    ] {
        let at = html
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no {name} field"));
        let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
        assert!(
            tag.contains(&format!("autocomplete=\"{autocomplete}\"")),
            "{tag}"
        );
        if name != "cardholder" {
            assert!(tag.contains("inputmode=\"numeric\""), "{tag}");
        }
    }
    assert!(!form_token(&html).is_empty());
    assert!(!html.contains("<script>") && !html.contains("style="));
    assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external resources"
    );
    app.stop().await;
}

async fn the_spanish_page_is_spanish_and_lang_overrides_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body(); // language ES
    body["dueDate"] = json!("2099-01-15T08:00:00Z");
    body["amount"] = json!(1234.5);
    let code = link_code(&app.create_link(&body).await);

    let (status, es) = app.page(&code, "").await;
    assert_eq!(status, 200);
    assert!(es.contains("<html lang=\"es\">"), "{es}");
    for spanish in [
        "1234,50 €",
        "Pagar 1234,50 €",
        "Pago a",
        "Datos de la tarjeta",
        "Nombre del titular",
        "Número de tarjeta",
        "Fecha de caducidad",
        "Código de seguridad",
        "Pagar antes del 15 de enero de 2099, 08:00 UTC",
        "action=\"/p/",
    ] {
        assert!(es.contains(spanish), "{spanish:?} missing:\n{es}");
    }
    for english in ["Card number", "Pay before", "Name on card", "€1,234.50"] {
        assert!(!es.contains(english), "{english:?} on the Spanish page");
    }
    assert!(es.contains("/pay?lang=es\""));

    let (_, en) = app.page(&code, "?lang=en").await;
    assert!(en.contains("<html lang=\"en\">"));
    assert!(en.contains("€1,234.50") && en.contains("Card number"));
    assert!(!en.contains("Número de tarjeta"));
    // An unknown language falls back to the link's.
    let (_, other) = app.page(&code, "?lang=xx").await;
    assert!(other.contains("<html lang=\"es\">"));
    // A link in English switched to Spanish.
    let en_code = link_code(&app.create_link(&english(&app)).await);
    let (_, switched) = app.page(&en_code, "?lang=ES").await;
    assert!(switched.contains("32,99 €") && switched.contains("Número de tarjeta"));
    app.stop().await;
}

async fn user_text_is_escaped_on_the_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let m = app.new_merchant("<b>Bold</b> & Co").await;
    let mut body = TestApp::link_body(&m);
    body["description"] =
        json!("<script>alert(\"pwned\")</script> \"quoted\" <img src=x onerror=alert(1)>");
    let res = app.post_json(&m.token, "/api/v1/pay-by-link", &body).await;
    assert_eq!(res.status(), 200);
    let link: Value = res.json().await.unwrap();
    let (status, html) = app.page(&link_code(&link), "").await;
    assert_eq!(status, 200);
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<b>Bold</b>"), "{html}");
    // The text shows as typed: escaped, not dropped.
    let unescaped = html
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        unescaped
            .contains("<script>alert(\"pwned\")</script> \"quoted\" <img src=x onerror=alert(1)>"),
        "{html}"
    );
    assert!(unescaped.contains("<b>Bold</b> & Co"), "{html}");
    app.stop().await;
}

async fn unknown_codes_get_a_404_that_reveals_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let code = link_code(&app.create_link(&app.body()).await);
    let mut bodies = Vec::new();
    for path in [
        "/p/AAAAAAAAAAAAAAAA".to_string(),
        "/p/zzzzzzzz".to_string(),
        "/p/%3Cscript%3E".to_string(),
        format!("/p/{code}x"),
        format!("/p/{code}/receipt/AAAAAAAAAAAAAAAAAAAA"),
    ] {
        let res = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert!(res.headers().contains_key("content-security-policy"));
        let html = res.text().await.unwrap();
        assert!(html.contains("Payment link not found"), "{html}");
        assert!(
            !html.contains("Shoe Shop") && !html.contains("32.99") && !html.contains("32,99"),
            "{html}"
        );
        bodies.push(html);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every unknown code gets the same page"
    );
    let (status, es) = app.page("AAAAAAAAAAAAAAAA", "?lang=es").await;
    assert_eq!(status, 404);
    assert!(es.contains("Enlace de pago no encontrado"));
    // Posting to an unknown link is no different (after the token check).
    let res = app.pay("AAAAAAAAAAAAAAAA", "1.x", VISA).await;
    assert_eq!(res.status(), 403);
    app.stop().await;
}

async fn closed_links_show_their_status_and_no_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let cancelled = app.create_link(&english(&app)).await;
    assert_eq!(
        app.cancel(cancelled["id"].as_str().unwrap()).await.status(),
        200
    );
    let (status, html) = app.page(&link_code(&cancelled), "").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"payment-page\" data-status=\"CANCELLED\""));
    assert!(html.contains("This link has been cancelled"), "{html}");
    assert!(!html.contains("<form") && !html.contains("name=\"cardNumber\""));

    let paid = app.create_link(&english(&app)).await;
    let code = link_code(&paid);
    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    let (_, html) = app.page(&code, "").await;
    assert!(html.contains("data-status=\"PAID\""));
    assert!(html.contains("This link has been paid"));
    assert!(!html.contains("<form"));
    // The page of a paid link does not show the payer's card.
    assert!(!html.contains("4242"), "{html}");

    let expired = app.create_link(&english(&app)).await;
    let id = expired["id"].as_str().unwrap();
    app.db
        .exec(&format!(
            "UPDATE links SET status = 'EXPIRED' WHERE id = '{id}'"
        ))
        .await;
    let (_, html) = app.page(&link_code(&expired), "?lang=es").await;
    assert!(html.contains("data-status=\"EXPIRED\""));
    assert!(html.contains("Este enlace ha caducado"), "{html}");
    assert!(!html.contains("<form"));
    app.stop().await;
}

async fn posts_without_a_valid_form_token_get_403(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&english(&app)).await;
    let id = link["id"].as_str().unwrap();
    let code = link_code(&link);
    let other_code = link_code(&app.create_link(&english(&app)).await);
    let other_token = app.token_of(&other_code).await;
    let token = app.token_of(&code).await;
    let (expiry, signature) = token.split_once('.').unwrap();
    let expired = paybylink::shopper::csrf::issue(
        &app.state.secret_key,
        &code,
        chrono::Utc::now() - chrono::Duration::hours(3),
    );
    let tampered = format!("{}.{signature}", expiry.parse::<i64>().unwrap() + 1);
    for bad in [
        "",
        "garbage",
        other_token.as_str(),
        tampered.as_str(),
        expired.as_str(),
    ] {
        let res = app.pay(&code, bad, VISA).await;
        assert_eq!(res.status(), 403, "token {bad:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains("This page has expired"), "{html}");
        assert!(!html.contains("4242"));
    }
    // No token field at all.
    let res = app
        .client
        .post(app.url(&format!("/p/{code}/pay")))
        .form(&[
            ("cardholder", VISA.holder),
            ("cardNumber", VISA.number),
            ("expiry", VISA.expiry),
            ("cvc", VISA.cvc),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.stored_status(id).await, "CREATED");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM payments").await, 0);
    // The genuine token still works.
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    app.stop().await;
}

async fn form_errors_show_next_to_the_fields_and_keep_the_link_created(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&english(&app)).await;
    let id = link["id"].as_str().unwrap();
    let code = link_code(&link);
    let token = app.token_of(&code).await;

    let bad = TestCard {
        number: "4242 4242 4242 4241",
        expiry: "01/20",
        cvc: "7x7",
        holder: "Ana García",
    };
    let res = app.pay(&code, &token, bad).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    for (field, text) in [
        ("cardNumber", "This card number is not valid"),
        ("expiry", "This card has expired"),
        ("cvc", "The security code can only contain digits"),
    ] {
        let error = format!("<p class=\"error\" id=\"{field}-error\">{text}");
        assert!(html.contains(&error), "{error} missing:\n{html}");
        assert!(
            html.contains(&format!("aria-describedby=\"{field}-error\""))
                || html.contains(&format!("{field}-hint {field}-error"))
        );
    }
    assert!(!html.contains("cardholder-error"));
    assert!(html.contains("Please check the highlighted fields."));
    // The name and expiry are kept; the card number and CVC are never shown again.
    assert!(html.contains("value=\"Ana García\""), "{html}");
    assert!(html.contains("value=\"01/20\""));
    assert!(!html.contains("4242 4242 4242 4241") && !html.contains("4242424242424241"));
    assert!(!html.contains("7x7"));

    // Each field on its own, in Spanish.
    let res = app
        .client
        .post(app.url(&format!("/p/{code}/pay?lang=es")))
        .form(&[("csrf", token.as_str()), ("cvc", "12345")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    for text in [
        "Introduce el número de tarjeta.",
        "Introduce la fecha de caducidad.",
        "Introduce el código de seguridad de 3 cifras",
        "Introduce el nombre del titular.",
    ] {
        assert!(html.contains(text), "{text} missing:\n{html}");
    }
    // A Visa card takes three digits, an Amex four.
    let amex_short = TestCard {
        number: "3782 822463 10005",
        cvc: "123",
        ..VISA
    };
    let html = app
        .pay(&code, &token, amex_short)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"cvc-error\""), "{html}");
    // A card number typed into the name field is not shown back.
    let misplaced = TestCard {
        holder: "4242 4242 4242 4242",
        ..VISA
    };
    let html = app
        .pay(&code, &token, misplaced)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"cardholder-error\""));
    assert!(!html.contains("4242 4242 4242 4242"));

    assert_eq!(app.stored_status(id).await, "CREATED");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM payments").await, 0);
    let api: Value = app.get_link(id).await.json().await.unwrap();
    assert_eq!(api["status"], "CREATED");
    app.stop().await;
}

async fn a_changed_amount_is_not_charged(backend: Backend) {
    let app = spawn_app(backend).await;
    let link = app.create_link(&english(&app)).await;
    let id = link["id"].as_str().unwrap();
    let code = link_code(&link);
    let (_, html) = app.page(&code, "").await;
    let token = form_token(&html);
    let shown = hidden_input(&html, "shownAmount");
    assert_eq!(shown, "3299 EUR");
    // The merchant raises the amount while the shopper types.
    let mut update = english(&app);
    update["amount"] = json!(99.5);
    let res = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &update,
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(app.url(&format!("/p/{code}/pay")))
        .form(&[
            ("csrf", token.as_str()),
            ("shownAmount", shown.as_str()),
            ("cardholder", VISA.holder),
            ("cardNumber", VISA.number),
            ("expiry", VISA.expiry),
            ("cvc", VISA.cvc),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(html.contains("The amount of this payment has just been changed"));
    assert!(html.contains("id=\"amount\">€99.50<"), "{html}");
    assert!(html.contains("name=\"shownAmount\" value=\"9950 EUR\""));
    assert_eq!(app.stored_status(id).await, "CREATED");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM payments").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_pays_a_link_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let mut body = app.body();
    body["language"] = json!("EN");
    let link = app.create_link(&body).await;
    let id = link["id"].as_str().unwrap();
    let c = &browser.client;
    c.goto(&app.url(&format!("/p/{}", link_code(&link))))
        .await
        .unwrap();
    let amount = c
        .find(Locator::Css("#amount"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(amount, "€32.99");

    async fn fill(c: &fantoccini::Client, number: &str) {
        for (field, value) in [
            ("#cardholder", "Ana García"),
            ("#cardNumber", number),
            ("#expiry", "12/39"),
            ("#cvc", "123"),
        ] {
            let input = c.find(Locator::Css(field)).await.unwrap();
            input.clear().await.unwrap();
            input.send_keys(value).await.unwrap();
        }
        c.find(Locator::Css("#pay-button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    // A typo first: the error shows next to the number, the name stays.
    fill(c, "4242 4242 4242 4241").await;
    let error = c
        .wait()
        .for_element(Locator::Css("#cardNumber-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("not valid"), "{error}");
    let kept = c
        .find(Locator::Css("#cardholder"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("Ana García"));

    fill(c, "4242 4242 4242 4242").await;
    let receipt = c
        .wait()
        .for_element(Locator::Css("#receipt"))
        .await
        .unwrap();
    let text = receipt.text().await.unwrap();
    assert!(text.contains("Payment received"), "{text}");
    assert!(
        text.contains("Shoe Shop") && text.contains("€32.99"),
        "{text}"
    );
    assert!(text.contains("Visa ending in 4242"), "{text}");
    let transaction_id = c
        .find(Locator::Css("#transaction-id"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!transaction_id.is_empty() && transaction_id.len() <= 20);
    // The receipt is styled by the stylesheet (no inline styles needed).
    let font: String = c
        .execute(
            "return getComputedStyle(document.querySelector('#receipt')).backgroundColor",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(font, "rgb(255, 255, 255)");

    let api: Value = app.get_link(id).await.json().await.unwrap();
    assert_eq!(api["status"], "PAID");
    assert_eq!(api["payments"][0]["transactionId"], transaction_id.as_str());
    assert_eq!(api["payments"][0]["last4"], "4242");
    browser.close().await;
    app.stop().await;
}
