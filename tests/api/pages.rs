//! What all HTML pages share: the error page, assets and security headers.

use fantoccini::Locator;

use crate::browser::Browser;
use crate::helpers::*;

on_both_backends!(unknown_pages_get_the_html_404_with_page_headers);

async fn unknown_pages_get_the_html_404_with_page_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    for part in [
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "script-src 'self'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(res.headers().contains_key("referrer-policy"));
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"error-page\""), "{html}");

    for (asset, kind) in [
        ("/static/style.css", "text/css"),
        ("/static/app.js", "text/javascript"),
    ] {
        let res = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    assert_eq!(
        app.client
            .get(app.url("/static/missing.css"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_renders_the_error_page_with_its_stylesheet() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let c = &browser.client;
    c.goto(&app.url("/no/such/page")).await.unwrap();
    let heading = c
        .find(Locator::Css("#error-page h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Page not found");
    // The stylesheet applied: the card has the surface colour, not the default.
    let background: String = c
        .execute(
            "return getComputedStyle(document.querySelector('#error-page')).backgroundColor",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(background, "rgb(255, 255, 255)");
    browser.close().await;
    app.stop().await;
}
