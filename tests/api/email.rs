//! Link and receipt emails (CONTRACT section 11) against a real SMTP server on a
//! loopback port (aiosmtpd, see `smtp.rs`): the link email in the link's
//! language with a text and an HTML part, an SMTP outage retried until the
//! server is back (also across a restart), `sendByEmail` without SMTP refused,
//! the receipt after a payment, and the detail page's "Send by email".

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use paybylink::auth::Role;
use paybylink::email::{self, DeliveryStatus, Email, Kind, Outcome};
use paybylink::merchants::MerchantId;
use serde_json::{json, Value};

use crate::backoffice_helpers::*;
use crate::helpers::*;
use crate::smtp::{Mail, SmtpServer};

on_both_backends!(
    the_link_email_arrives_in_the_links_language,
    an_smtp_outage_is_retried_until_the_server_is_back,
    a_restart_during_an_outage_loses_no_email,
    send_by_email_without_smtp_is_refused,
    a_receipt_email_follows_an_approved_payment,
    send_by_email_from_the_detail_page,
);

const FROM: &str = "Shoe Shop <payments@shoes.example>";
const DEADLINE: Duration = Duration::from_secs(30);

/// An app that sends through `smtp`, retrying after 1 s each time.
async fn app_with(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    spawn_app_configured(backend, true, move |s| {
        s.smtp_url = Some(url);
        s.mail_from = Some(FROM.into());
        s.notify_retry_delays = vec![1; 20];
    })
    .await
}

fn id_of(link: &Value) -> String {
    link["id"].as_str().unwrap().to_string()
}

async fn emails_of(app: &TestApp, link: &str) -> Vec<Email> {
    email::of_link(&app.state.db, MerchantId(app.merchant.id), link)
        .await
        .unwrap()
}

/// Waits until every email of `link` is sent (and there are `n`).
async fn all_sent(app: &TestApp, link: &str, n: usize) -> Vec<Email> {
    let started = Instant::now();
    loop {
        let emails = emails_of(app, link).await;
        if emails.len() == n && emails.iter().all(|e| e.delivery == DeliveryStatus::Sent) {
            return emails;
        }
        assert!(started.elapsed() < DEADLINE, "{emails:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one address a message went to (envelope and header agree).
fn to(mail: &Mail) -> &str {
    assert_eq!(mail.rcpt_tos.len(), 1, "one address per message: {mail:?}");
    assert_eq!(mail.to, mail.rcpt_tos[0]);
    &mail.rcpt_tos[0]
}

async fn the_link_email_arrives_in_the_links_language(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = app_with(backend, &smtp).await;

    let mut body = app.body();
    body["language"] = json!("EN");
    body["description"] = json!("Shoes <b>&</b> \"socks\"");
    body["customerEmail"] = json!("ana@example.com");
    body["receiverEmails"] = json!(["shop@shoes.example", "ANA@example.com"]);
    body["sendByEmail"] = json!(true);
    let en = app.create_link(&body).await;
    let url = en["url"].as_str().unwrap();

    // One message per address; an address given twice is sent to once.
    let got = smtp.wait_for(2, DEADLINE).await;
    let mut addresses: Vec<&str> = got.iter().map(to).collect();
    addresses.sort();
    assert_eq!(addresses, ["ana@example.com", "shop@shoes.example"]);
    for m in &got {
        assert_eq!(m.mail_from, "payments@shoes.example");
        assert_eq!(m.from, FROM);
        assert_eq!(m.subject, "Payment request from Shoe Shop: €32.99");
        assert_eq!(m.content_type, "multipart/alternative");
        assert_eq!(m.auto_submitted, "auto-generated");
        assert!(m.message_id.starts_with("<eml_"), "{}", m.message_id);
        assert!(
            m.message_id.ends_with("@shoes.example>"),
            "{}",
            m.message_id
        );
        let text = m.text();
        assert!(text.contains(url), "{text}");
        assert!(text.contains("Shoe Shop has sent you a payment link for €32.99."));
        assert!(text.contains("Description: Shoes <b>&</b> \"socks\""));
        assert!(text.contains("Pay before "), "{text}");
        assert!(text.contains("Pay €32.99"), "{text}");
        let html = m.html();
        assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
        assert!(html.contains("<html lang=\"en\">"));
        // The description is user text: escaped in the HTML part.
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.contains("Shoes &#60;b&#62;&#38;&#60;/b&#62; &#34;socks&#34;"),
            "{html}"
        );
    }
    let sent = all_sent(&app, &id_of(&en), 2).await;
    for e in &sent {
        assert_eq!(e.kind, Kind::Link);
        assert_eq!(e.attempts.len(), 1);
        assert_eq!(e.attempts[0].outcome, Outcome::Sent);
        assert!(
            e.attempts[0].reply.as_deref().unwrap().contains("250"),
            "{e:?}"
        );
    }

    // In Spanish: the subject, the words and the amount.
    let mut body = app.body();
    body["language"] = json!("ES");
    body["customerEmail"] = json!("luis@example.com");
    body["sendByEmail"] = json!(true);
    let es = app.create_link(&body).await;
    let got = smtp.wait_for(3, DEADLINE).await;
    let m = &got[2];
    assert_eq!(to(m), "luis@example.com");
    assert_eq!(m.subject, "Solicitud de pago de Shoe Shop: 32,99 €");
    assert!(m.text().contains(es["url"].as_str().unwrap()));
    assert!(m.text().contains("Pagar 32,99 €"), "{}", m.text());
    assert!(m.text().contains("Pagar antes del "), "{}", m.text());
    assert!(m.html().contains("<html lang=\"es\">"));
    assert!(m.html().contains(es["url"].as_str().unwrap()));
    all_sent(&app, &id_of(&es), 1).await;

    // With an address but without sendByEmail nothing is queued: the email
    // would have been written with the link, in its transaction.
    let mut body = app.body();
    body["customerEmail"] = json!("quiet@example.com");
    let quiet = app.create_link(&body).await;
    assert!(emails_of(&app, &id_of(&quiet)).await.is_empty());
    app.stop().await;
}

async fn an_smtp_outage_is_retried_until_the_server_is_back(backend: Backend) {
    let Some(mut smtp) = SmtpServer::reserved() else {
        return;
    };
    let app = app_with(backend, &smtp).await;
    let mut body = app.body();
    body["customerEmail"] = json!("ana@example.com");
    body["sendByEmail"] = json!(true);
    let link = id_of(&app.create_link(&body).await);

    // The server is down: attempts fail, are written down, and are retried.
    let started = Instant::now();
    let failed = loop {
        let emails = emails_of(&app, &link).await;
        assert_eq!(emails.len(), 1);
        if emails[0].attempts.len() >= 2 {
            break emails.into_iter().next().unwrap();
        }
        assert!(started.elapsed() < DEADLINE, "{emails:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(failed.delivery, DeliveryStatus::Pending);
    assert!(failed.next_attempt_at.is_some());
    for a in &failed.attempts {
        assert_eq!(a.outcome, Outcome::Temporary, "{a:?}");
        assert!(a.error.as_deref().unwrap().contains("onnect"), "{a:?}");
    }
    assert!(smtp.messages().is_empty());

    // Back up: the next retry delivers it, once.
    smtp.up();
    let got = smtp.wait_for(1, DEADLINE).await;
    assert_eq!(to(&got[0]), "ana@example.com");
    let sent = all_sent(&app, &link, 1).await;
    let attempts = &sent[0].attempts;
    assert!(attempts.len() >= 3, "{attempts:?}");
    assert_eq!(attempts.last().unwrap().outcome, Outcome::Sent);
    assert!(attempts[..attempts.len() - 1]
        .iter()
        .all(|a| a.outcome == Outcome::Temporary));
    assert_eq!(smtp.messages().len(), 1);
    app.stop().await;
}

async fn a_restart_during_an_outage_loses_no_email(backend: Backend) {
    use crate::cli::{start_serve_with, stop_serve};
    let Some(mut smtp) = SmtpServer::reserved() else {
        return;
    };
    let db = TestDb::new(backend).await;
    let store = paybylink::db::Db::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let (merchant, product) = paybylink::merchants::create(&store, "Shoe Shop")
        .await
        .unwrap();
    let client = paybylink::auth::create_api_client(&store, merchant.id, "tests")
        .await
        .unwrap();
    let smtp_url = smtp.url();
    let env = [
        ("PAYBYLINK_SMTP_URL", smtp_url.as_str()),
        ("PAYBYLINK_MAIL_FROM", FROM),
        ("PAYBYLINK_NOTIFY_RETRY_DELAYS", "1,1,1,1,1,1,1,1,1,1"),
    ];
    let mut served = start_serve_with(&db, &env);
    let base = format!("http://127.0.0.1:{}", served.port);
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut body = TestApp::link_body(&TestMerchant {
        id: merchant.id.0,
        product_id: product.id.0,
        client_id: String::new(),
        client_secret: String::new(),
        token: String::new(),
    });
    body["customerEmail"] = json!("ana@example.com");
    body["sendByEmail"] = json!(true);
    let link: Value = http
        .post(format!("{base}/api/v1/pay-by-link"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = id_of(&link);

    // A failed attempt is written down; then the process dies (SIGKILL).
    let attempts = || async {
        let e = email::of_link(&store, merchant.id, &link).await.unwrap();
        (e[0].delivery, e[0].attempts.len())
    };
    let started = Instant::now();
    while attempts().await.1 == 0 {
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    assert_eq!(attempts().await.0, DeliveryStatus::Pending);

    // The server comes back while the service is down; started again on the
    // same database, the service finds the email and sends it.
    smtp.up();
    let served = start_serve_with(&db, &env);
    let got = smtp.wait_for(1, DEADLINE).await;
    assert_eq!(to(&got[0]), "ana@example.com");
    let started = Instant::now();
    while attempts().await.0 != DeliveryStatus::Sent {
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop_serve(served);
    assert_eq!(smtp.messages().len(), 1);
    store.close().await;
    db.drop_database().await;
}

async fn send_by_email_without_smtp_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = app.body();
    body["customerEmail"] = json!("ana@example.com");
    body["sendByEmail"] = json!(true);
    let res = app
        .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
        .await;
    let err = assert_400_pointers(res, &["/sendByEmail"]).await;
    assert_eq!(err["errors"][0]["code"], "email_not_configured", "{err}");
    assert!(err["errors"][0]["title"]
        .as_str()
        .unwrap()
        .contains("no SMTP server"));

    // Reported together with the other invalid fields.
    body["amount"] = json!(0);
    let res = app
        .post_json(&app.merchant.token, "/api/v1/pay-by-link", &body)
        .await;
    assert_400_pointers(res, &["/amount", "/sendByEmail"]).await;

    // Without sendByEmail the link is made, and nothing is queued.
    body["amount"] = json!(32.99);
    body["sendByEmail"] = json!(false);
    let link = app.create_link(&body).await;
    let id = id_of(&link);
    assert!(emails_of(&app, &id).await.is_empty());

    // The same rule on update.
    body["sendByEmail"] = json!(true);
    let res = app
        .post_json(
            &app.merchant.token,
            &format!("/api/v1/pay-by-link/{id}"),
            &body,
        )
        .await;
    let err = assert_400_pointers(res, &["/sendByEmail"]).await;
    assert_eq!(err["errors"][0]["code"], "email_not_configured");

    // And in the backoffice: the create form, and "Send by email".
    let staff = signed_in(&app, app.merchant.id, "staff@shop.example", Role::Staff).await;
    let product = app.merchant.product_id.to_string();
    let res = staff
        .submit(
            "/links/new",
            "/links/new",
            &[
                ("amount", "10.00"),
                ("currency", "EUR"),
                ("country", "ES"),
                ("productId", &product),
                ("merchantTransactionId", "email-form-1"),
                ("language", "EN"),
                ("customerEmail", "ana@example.com"),
                ("sendByEmail", "true"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("no SMTP server is configured"), "{html}");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM links WHERE merchant_transaction_id = 'email-form-1'")
            .await,
        0
    );

    let page = format!("/links/{id}");
    let res = staff
        .submit(&page, &format!("/links/{id}/email"), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/links/{id}#emails"));
    let html = staff.page(&page).await;
    assert!(
        html.contains("Email is not configured on this server"),
        "{html}"
    );
    assert!(emails_of(&app, &id).await.is_empty());
    app.stop().await;
}

async fn a_receipt_email_follows_an_approved_payment(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = app_with(backend, &smtp).await;
    let mut body = app.body();
    body["customerEmail"] = json!("ana@example.com");
    body["receiverEmails"] = json!(["shop@shoes.example"]);
    let link = app.create_link(&body).await;
    let id = id_of(&link);
    let code = link_code(&link);

    // A declined card sends nothing; the approved one sends the receipt, to
    // the customer only.
    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, DECLINED).await.status(), 402);
    assert!(emails_of(&app, &id).await.is_empty());
    let token = app.token_of(&code).await;
    let res = app.pay(&code, &token, VISA).await;
    assert_eq!(res.status(), 303);
    let receipt = location(&res);
    let transaction = app
        .db
        .text(&format!(
            "SELECT id FROM payments WHERE link_id = '{id}' AND status = 'APPROVED'"
        ))
        .await;

    let got = smtp.wait_for(1, DEADLINE).await;
    let m = &got[0];
    assert_eq!(to(m), "ana@example.com");
    // The link's language is ES.
    assert_eq!(m.subject, "Tu recibo de Shoe Shop: 32,99 €");
    for part in [m.text(), m.html()] {
        assert!(part.contains(&transaction), "{part}");
        assert!(part.contains("32,99 €"), "{part}");
        assert!(part.contains("Visa terminada en 4242"), "{part}");
        assert!(part.contains("ID de transacción"), "{part}");
        assert!(
            part.contains(&format!(
                "{PUBLIC_URL}{}",
                receipt.split('?').next().unwrap()
            )),
            "{part}"
        );
    }
    let sent = all_sent(&app, &id, 1).await;
    assert_eq!(sent[0].kind, Kind::Receipt);
    assert_eq!(sent[0].payment_id.as_deref(), Some(transaction.as_str()));

    // A multi-use link: a receipt for each approved payment, while it stays
    // CREATED and when its last payment makes it PAID.
    let mut body = app.body();
    body["customerEmail"] = json!("eva@example.com");
    body["paymentsAllowed"] = json!(2);
    let multi = app.create_link(&body).await;
    let code = link_code(&multi);
    for _ in 0..2 {
        let token = app.token_of(&code).await;
        assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    }
    assert_eq!(app.stored_status(&id_of(&multi)).await, "PAID");
    let got = smtp.wait_for(3, DEADLINE).await;
    let receipts: Vec<&Mail> = got.iter().filter(|m| to(m) == "eva@example.com").collect();
    assert_eq!(receipts.len(), 2);
    let sent = all_sent(&app, &id_of(&multi), 2).await;
    let mut paid: Vec<&str> = sent
        .iter()
        .filter_map(|e| e.payment_id.as_deref())
        .collect();
    paid.sort();
    paid.dedup();
    assert_eq!(paid.len(), 2, "one receipt per payment: {sent:?}");
    for t in paid {
        assert_eq!(
            receipts.iter().filter(|r| r.text().contains(t)).count(),
            1,
            "{t}"
        );
    }

    // A link without a customer email gets no receipt.
    let mut body = app.body();
    body["receiverEmails"] = json!(["shop@shoes.example"]);
    let other = app.create_link(&body).await;
    let code = link_code(&other);
    let token = app.token_of(&code).await;
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    assert!(emails_of(&app, &id_of(&other)).await.is_empty());
    app.stop().await;
}

/// The `#emails` section of a detail page.
fn emails_section(html: &str) -> &str {
    let section = &html[html.find("id=\"emails\"").expect("an emails section")..];
    &section[..section.find("</section>").unwrap()]
}

async fn send_by_email_from_the_detail_page(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let app = app_with(backend, &smtp).await;
    let staff = signed_in(&app, app.merchant.id, "staff@shop.example", Role::Staff).await;
    let mut body = app.body();
    body["customerEmail"] = json!("ana@example.com");
    body["receiverEmails"] = json!(["shop@shoes.example"]);
    let link = app.create_link(&body).await;
    let id = id_of(&link);
    let page = format!("/links/{id}");
    let action = format!("/links/{id}/email");

    let html = staff.page(&page).await;
    assert!(html.contains("id=\"no-emails\""));
    assert!(html.contains(&format!("action=\"{action}\"")));
    assert!(
        html.contains("To ana@example.com, shop@shoes.example"),
        "{html}"
    );

    // Without the CSRF token: refused, nothing queued.
    let res = staff.post_raw(&action, &[]).await;
    assert_eq!(res.status(), 403);
    assert!(emails_of(&app, &id).await.is_empty());

    let res = staff.submit(&page, &action, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/links/{id}#emails"));
    let got = smtp.wait_for(2, DEADLINE).await;
    let mut addresses: Vec<&str> = got.iter().map(to).collect();
    addresses.sort();
    assert_eq!(addresses, ["ana@example.com", "shop@shoes.example"]);
    assert!(got[0].text().contains(link["url"].as_str().unwrap()));
    let sent = all_sent(&app, &id, 2).await;

    let html = staff.page(&page).await;
    assert!(html.contains("is being sent by email to"), "{html}");
    let section = emails_section(&html);
    for e in &sent {
        assert!(section.contains(&format!("data-email-id=\"{}\"", e.id)));
    }
    assert_eq!(
        section.matches("data-delivery=\"sent\"").count(),
        4,
        "tag and row"
    );
    assert_eq!(section.matches("<tr data-attempt-ok=\"true\"").count(), 2);
    assert!(section.contains("250 OK queued as test"), "{section}");

    // Sending one again: the same message (same Message-Id) goes out again.
    let again = format!("/links/{id}/emails/{}/resend", sent[0].id);
    assert!(section.contains(&format!("action=\"{again}\"")));
    let res = staff.submit(&page, &again, &[]).await;
    assert_eq!(res.status(), 303);
    let got = smtp.wait_for(3, DEADLINE).await;
    let first = got.iter().find(|m| m.rcpt_tos == got[2].rcpt_tos).unwrap();
    assert_eq!(got[2].message_id, first.message_id);
    let started = Instant::now();
    while emails_of(&app, &id)
        .await
        .iter()
        .map(|e| e.attempts.len())
        .sum::<usize>()
        != 3
    {
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A link without an address, and one that is no longer payable.
    let bare = id_of(&app.create_link(&app.body()).await);
    let res = staff
        .submit(
            &format!("/links/{bare}"),
            &format!("/links/{bare}/email"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = staff.page(&format!("/links/{bare}")).await;
    assert!(html.contains("This link has no email address"), "{html}");
    assert!(app.cancel(&id).await.status().is_success());
    let res = staff.submit(&page, &action, &[]).await;
    assert_eq!(res.status(), 303);
    let html = staff.page(&page).await;
    assert!(
        html.contains("The link is CANCELLED and can no longer be paid"),
        "{html}"
    );
    assert!(
        !html.contains(&format!("action=\"{action}\"")),
        "no button then"
    );
    assert_eq!(emails_of(&app, &id).await.len(), 2);

    // Another merchant's staff cannot send it, nor send its emails again.
    let other = app.new_merchant("Hat Shop").await;
    let stranger = signed_in(&app, other.id, "staff@hats.example", Role::Staff).await;
    let token = csrf_of(&stranger.page("/links").await);
    for path in [&action, &again] {
        let res = stranger
            .post_raw(path, &[("csrf_token", token.as_str())])
            .await;
        assert_eq!(res.status(), 404, "{path}");
    }
    assert_eq!(smtp.messages().len(), 3);
    app.stop().await;
}

/// A bad email setting stops `serve` at once, with a message that says which
/// and never repeats the SMTP URL (it may hold a password).
#[test]
fn bad_email_settings_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("test.db").display());
    let server = ("PAYBYLINK_SMTP_URL", "smtp://user:secret@127.0.0.1:2525");
    let cases = [
        (vec![server], "PAYBYLINK_MAIL_FROM is not"),
        (
            vec![server, ("PAYBYLINK_MAIL_FROM", "shop@")],
            "PAYBYLINK_MAIL_FROM \"shop@\" is not an email address",
        ),
        (
            vec![
                ("PAYBYLINK_SMTP_URL", "https://user:secret@mail.example"),
                ("PAYBYLINK_MAIL_FROM", "shop@shoes.example"),
            ],
            "PAYBYLINK_SMTP_URL is not a usable SMTP URL",
        ),
    ];
    for (env, expected) in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_paybylink"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("PAYBYLINK_SMTP_URL")
            .env_remove("PAYBYLINK_MAIL_FROM")
            .envs(env)
            .env("DATABASE_URL", &db)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run paybylink serve");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("serve started despite {expected:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
    }
}
