//! Notifications (CONTRACT section 7) against real HTTP receivers on loopback
//! ports: delivery and the retry schedule, timeouts, a URL changed between
//! attempts, Standard Webhooks signatures and secret rotation, the address check
//! on save and at send time, a restart mid-retry, two dispatchers on one
//! PostgreSQL database, rolled-back changes, the API list and resend, and the
//! backoffice's settings page and link page.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use paybylink::auth::Role;
use paybylink::db::Db;
use paybylink::merchants::MerchantId;
use paybylink::notifications::{self, DeliveryStatus, Dispatcher, Event, Sender};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::backoffice_helpers::*;
use crate::helpers::*;

on_both_backends!(
    a_200_is_one_signed_attempt_made_at_once,
    a_receiver_answering_500_gets_six_attempts_on_the_schedule,
    two_500s_then_a_200_make_three_attempts,
    a_redirect_is_a_failure_and_not_followed,
    no_answer_within_5_seconds_is_a_failure,
    a_url_changed_between_attempts_is_used_for_the_later_ones,
    private_addresses_are_refused_on_save_and_at_send_time,
    a_restart_mid_retry_completes_the_delivery,
    a_rolled_back_cancel_sends_nothing,
    the_api_lists_events_and_resends_them,
    the_settings_page_shows_the_log_sends_a_test_and_rotates_the_secret,
    the_link_page_lists_deliveries_and_resends_a_failed_one,
);

// ------------------------------------------------------------- the receiver

/// What a receiver answers to one request.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Reply {
    Status(u16),
    /// Answers 200 only after 8 seconds: too late.
    Late,
}

#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) at: Instant,
    pub(crate) path: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    then: Option<Reply>,
    log: Vec<Received>,
}

/// A merchant's system: an HTTP server on a loopback port that records every
/// request and answers as scripted.
pub(crate) struct Receiver {
    port: u16,
    script: Arc<Mutex<Script>>,
    handle: actix_web::dev::ServerHandle,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    script: web::Data<Arc<Mutex<Script>>>,
) -> HttpResponse {
    let reply = {
        let mut s = script.lock().unwrap();
        s.log.push(Received {
            at: Instant::now(),
            path: req.path().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let next = s.replies.pop_front();
        next.or(s.then).unwrap_or(Reply::Status(200))
    };
    match reply {
        Reply::Status(code) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap())
                // Followed, a redirect would come back here at /followed.
                .insert_header(("location", "/followed"))
                .body("ok")
        }
        Reply::Late => {
            tokio::time::sleep(Duration::from_secs(8)).await;
            HttpResponse::Ok().body("too late")
        }
    }
}

impl Receiver {
    /// Answers `replies` in order, then `then` to every further request.
    pub(crate) async fn start(replies: &[Reply], then: Reply) -> Receiver {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.iter().copied().collect(),
            then: Some(then),
            log: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = web::Data::new(script.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .disable_signals()
        .shutdown_timeout(0)
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            port,
            script,
            handle,
        }
    }

    pub(crate) async fn always(status: u16) -> Receiver {
        Receiver::start(&[], Reply::Status(status)).await
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().log.clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.script.lock().unwrap().log.len()
    }

    /// Waits until `n` requests came in; panics after `within`.
    pub(crate) async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < within,
                "{} of {n} requests after {within:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

// ----------------------------------------------------------------- helpers

/// An app whose notification URLs may point at loopback receivers.
pub(crate) async fn app_for_receivers(
    backend: Backend,
    background: bool,
    delays: &[u64],
) -> TestApp {
    let delays = delays.to_vec();
    spawn_app_configured(backend, background, move |s| {
        s.allow_private_webhooks = true;
        s.notify_retry_delays = delays;
    })
    .await
}

pub(crate) async fn set_url(app: &TestApp, url: &str) {
    let res = app
        .post_json(
            &app.merchant.token,
            "/api/v1/notification-settings",
            &json!({ "notificationUri": url }),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// Creates a link and cancels it: one CANCELLED event. Returns the link id.
async fn cancelled_link(app: &TestApp) -> String {
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap().to_string();
    let res = app.cancel(&id).await;
    assert_eq!(res.status(), 200);
    id
}

/// The one event of a link, with its attempts.
async fn event_of(app: &TestApp, link_id: &str) -> Event {
    let mut events = notifications::of_link(&app.state.db, MerchantId(app.merchant.id), link_id)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "one event for link {link_id}");
    events.remove(0)
}

/// Waits until the link's event has left `pending`; panics after `within`.
async fn settled(app: &TestApp, link_id: &str, within: Duration) -> Event {
    let start = Instant::now();
    loop {
        let e = event_of(app, link_id).await;
        if e.delivery != DeliveryStatus::Pending {
            return e;
        }
        assert!(
            start.elapsed() < within,
            "still pending after {within:?}: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn secret_of(app: &TestApp) -> String {
    notifications::signing_keys(&app.state.db, MerchantId(app.merchant.id))
        .await
        .unwrap()
        .current
}

/// Verifies a Standard Webhooks signature the way a merchant would, without the
/// service's code: true when one of the header's `v1,` signatures is the
/// HMAC-SHA256 of `{id}.{timestamp}.{body}` under the secret's key.
pub(crate) fn verifies(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("a base64 key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{}",
            r.header("webhook-id"),
            r.header("webhook-timestamp"),
            r.body
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

fn attempts_statuses(e: &Event) -> Vec<Option<u16>> {
    e.attempts.iter().map(|a| a.status_code).collect()
}

// ------------------------------------------------------------------- tests

async fn a_200_is_one_signed_attempt_made_at_once(backend: Backend) {
    let receiver = Receiver::always(200).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/hooks/pbl")).await;

    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap().to_string();
    // Committing the change wakes the dispatcher; it does not wait for a poll.
    let mut woken = app.state.db.outbox_watch();
    woken.borrow_and_update();
    let changed = Instant::now();
    assert_eq!(app.cancel(&id).await.status(), 200);
    assert!(woken.has_changed().unwrap(), "a cancel signals its event");
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert!(
        got[0].at.duration_since(changed) < Duration::from_secs(1),
        "the first attempt is made within a second of the change, not at a poll: {:?}",
        got[0].at.duration_since(changed)
    );
    let e = settled(&app, &id, Duration::from_secs(5)).await;
    assert_eq!(e.delivery, DeliveryStatus::Delivered);
    assert!(e.delivered_at.is_some());
    // Nothing more comes: one 200 is one attempt.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "exactly one request");
    assert_eq!(attempts_statuses(&event_of(&app, &id).await), [Some(200)]);
    assert_eq!(
        event_of(&app, &id).await.attempts[0].url.as_deref(),
        Some(receiver.url("/hooks/pbl").as_str())
    );

    // The request: a JSON POST with the seed's fields and the Standard Webhooks headers.
    let r = &got[0];
    assert_eq!(r.path, "/hooks/pbl");
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("webhook-id"), e.id);
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((ts - chrono::Utc::now().timestamp()).abs() < 30, "{ts}");
    let secret = secret_of(&app).await;
    assert!(verifies(&secret, r), "the signature verifies");
    assert!(
        !verifies(&paybylink::merchants::new_webhook_secret(), r),
        "and only with the merchant's secret"
    );
    let tampered = Received {
        body: r.body.replace("CANCELLED", "PAID"),
        ..r.clone()
    };
    assert!(
        !verifies(&secret, &tampered),
        "a changed body does not verify"
    );
    assert_eq!(
        r.header("webhook-signature").split(' ').count(),
        1,
        "one signature without a rotation"
    );
    let body = r.json();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["merchantId"], app.merchant.id);
    assert_eq!(body["productId"], app.merchant.product_id);
    assert_eq!(body["amount"], json!(32.99));
    assert_eq!(body["currency"], "EUR");
    assert_eq!(body["country"], "GB");
    assert_eq!(body["customerId"], "xx2211223");
    assert_eq!(body["description"], "Paying for shoes bought Jan 1st");
    assert_eq!(body["language"], "ES");
    assert_eq!(body["merchantTransactionId"], "1234abcd567efg");
    assert_eq!(body["referenceId"], "1234abcd1234");
    assert_eq!(body["url"], link["url"]);
    assert_eq!(body["dueDate"], link["dueDate"]);
    assert_eq!(body["status"], "CANCELLED");
    assert_eq!(body["previousStatus"], "CREATED");
    assert!(body.get("transactionId").is_none());

    // A paid link's notification carries its transaction id.
    let link = app.create_link(&app.body()).await;
    let code = link_code(&link);
    let token = app.token_of(&code).await;
    woken.borrow_and_update();
    assert_eq!(app.pay(&code, &token, VISA).await.status(), 303);
    assert!(woken.has_changed().unwrap(), "a payment signals its event");
    let got = receiver.wait_for(2, Duration::from_secs(5)).await;
    let paid = got[1].json();
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["id"], link["id"]);
    let api: Value = app
        .get_link(link["id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["transactionId"], api["payments"][0]["transactionId"]);
    assert!(verifies(&secret, &got[1]));

    // So does the expiry sweep's.
    let link = app.create_link(&app.body()).await;
    woken.borrow_and_update();
    app.db
        .exec(&format!(
            "UPDATE links SET due_date = 1 WHERE id = '{}'",
            link["id"].as_str().unwrap()
        ))
        .await;
    paybylink::startup::sweep_once(&app.state).await.unwrap();
    assert!(woken.has_changed().unwrap(), "an expiry signals its event");
    let got = receiver.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(got[2].json()["status"], "EXPIRED");
    assert_eq!(got[2].json()["id"], link["id"]);
    receiver.stop().await;
    app.stop().await;
}

async fn a_receiver_answering_500_gets_six_attempts_on_the_schedule(backend: Backend) {
    let receiver = Receiver::always(500).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/hook")).await;
    let id = cancelled_link(&app).await;

    let e = settled(&app, &id, Duration::from_secs(45)).await;
    assert_eq!(e.delivery, DeliveryStatus::Failed);
    assert_eq!(attempts_statuses(&e), [Some(500); 6]);
    assert!(e
        .attempts
        .iter()
        .all(|a| a.error.as_deref() == Some("only HTTP 200 counts as delivered")));
    // No seventh attempt.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 6, "exactly six attempts");
    assert!(got.iter().all(|r| r.header("webhook-id") == e.id));
    for (i, expected) in [1.0, 2.0, 4.0, 8.0, 16.0].into_iter().enumerate() {
        let gap = got[i + 1].at.duration_since(got[i].at).as_secs_f64();
        assert!(
            gap >= expected - 0.05 && gap <= expected + 0.75,
            "attempt {} came {gap:.3} s after attempt {}, not {expected} s",
            i + 2,
            i + 1
        );
    }
    receiver.stop().await;
    app.stop().await;
}

async fn two_500s_then_a_200_make_three_attempts(backend: Backend) {
    let receiver = Receiver::start(
        &[Reply::Status(500), Reply::Status(500)],
        Reply::Status(200),
    )
    .await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/hook")).await;
    let id = cancelled_link(&app).await;

    let e = settled(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(e.delivery, DeliveryStatus::Delivered);
    assert_eq!(attempts_statuses(&e), [Some(500), Some(500), Some(200)]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 3, "exactly three attempts");
    // One webhook-id for every attempt of the event, each attempt signed anew.
    let secret = secret_of(&app).await;
    for r in &got {
        assert_eq!(r.header("webhook-id"), e.id);
        assert!(verifies(&secret, r));
        assert_eq!(r.body, got[0].body, "the same body every time");
    }
    receiver.stop().await;
    app.stop().await;
}

async fn a_redirect_is_a_failure_and_not_followed(backend: Backend) {
    let receiver = Receiver::start(&[Reply::Status(307)], Reply::Status(200)).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/hook")).await;
    let id = cancelled_link(&app).await;

    let e = settled(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(e.delivery, DeliveryStatus::Delivered);
    assert_eq!(attempts_statuses(&e), [Some(307), Some(200)]);
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hook", "/hook"], "/followed is never asked for");
    receiver.stop().await;
    app.stop().await;
}

async fn no_answer_within_5_seconds_is_a_failure(backend: Backend) {
    let receiver = Receiver::start(&[Reply::Late], Reply::Status(200)).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/slow")).await;
    let id = cancelled_link(&app).await;

    let e = settled(&app, &id, Duration::from_secs(15)).await;
    assert_eq!(e.delivery, DeliveryStatus::Delivered);
    assert_eq!(e.attempts.len(), 2, "{e:?}");
    let first = &e.attempts[0];
    assert_eq!(first.status_code, None, "the late 200 does not count");
    assert_eq!(first.error.as_deref(), Some("no answer within 5 s"));
    assert!(
        (4900..6500).contains(&first.duration_ms),
        "{}",
        first.duration_ms
    );
    assert_eq!(e.attempts[1].status_code, Some(200));
    assert_eq!(receiver.count(), 2);
    receiver.stop().await;
    app.stop().await;
}

async fn a_url_changed_between_attempts_is_used_for_the_later_ones(backend: Backend) {
    let old = Receiver::always(500).await;
    let new = Receiver::always(200).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &old.url("/old")).await;
    let id = cancelled_link(&app).await;
    old.wait_for(1, Duration::from_secs(5)).await;
    // Within the second before the retry.
    set_url(&app, &new.url("/new")).await;

    let e = settled(&app, &id, Duration::from_secs(10)).await;
    assert_eq!(e.delivery, DeliveryStatus::Delivered);
    assert_eq!(old.count(), 1);
    assert_eq!(new.count(), 1);
    let urls: Vec<_> = e.attempts.iter().map(|a| a.url.clone().unwrap()).collect();
    assert_eq!(urls, [old.url("/old"), new.url("/new")]);
    assert_eq!(
        new.received()[0].header("webhook-id"),
        old.received()[0].header("webhook-id")
    );
    old.stop().await;
    new.stop().await;
    app.stop().await;
}

async fn private_addresses_are_refused_on_save_and_at_send_time(backend: Backend) {
    let receiver = Receiver::always(200).await;
    // Private addresses not allowed (the default); no background dispatcher: the
    // test drives one by hand.
    let app = spawn_app_configured(backend, false, |s| s.notify_retry_delays = vec![0]).await;

    // Refused on save, through the API and the backoffice.
    for url in [
        receiver.url("/hook"),
        format!("http://localhost:{}/hook", receiver.port),
    ] {
        let res = app
            .post_json(
                &app.merchant.token,
                "/api/v1/notification-settings",
                &json!({ "notificationUri": url }),
            )
            .await;
        let body = assert_400_pointers(res, &["/notificationUri"]).await;
        assert!(body.to_string().contains("non-public"), "{body}");
    }
    let admin = signed_in(&app, app.merchant.id, "admin@shop.example", Role::Admin).await;
    let res = admin
        .submit(
            "/settings/notifications",
            "/settings/notifications",
            &[("notificationUri", &receiver.url("/hook"))],
        )
        .await;
    assert_eq!(res.status(), 400);

    // A private URL that got stored anyway (saved while allowed, or by hand) is
    // refused at each attempt: a literal address, and a name resolving to one.
    app.db
        .exec(&format!(
            "UPDATE merchants SET notification_uri = '{}' WHERE id = {}",
            receiver.url("/hook"),
            app.merchant.id
        ))
        .await;
    let id = cancelled_link(&app).await;
    let dispatcher = app.state.dispatcher();
    assert_eq!(dispatcher.try_execute().await.unwrap(), 1);
    app.db
        .exec(&format!(
            "UPDATE merchants SET notification_uri = 'http://localhost:{}/hook' WHERE id = {}",
            receiver.port, app.merchant.id
        ))
        .await;
    assert_eq!(dispatcher.try_execute().await.unwrap(), 1);
    let e = event_of(&app, &id).await;
    assert_eq!(e.delivery, DeliveryStatus::Failed, "{e:?}");
    assert_eq!(e.attempts.len(), 2);
    for a in &e.attempts {
        assert_eq!(a.status_code, None);
        assert!(
            a.error.as_deref().unwrap().contains("non-public address"),
            "{a:?}"
        );
    }
    assert_eq!(receiver.count(), 0, "nothing reached the private address");

    // The receiver was reachable all along: a dispatcher allowed private
    // addresses delivers there.
    notifications::resend(
        &app.state.db,
        MerchantId(app.merchant.id),
        &e.id,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let allowed = Dispatcher::new(app.state.db.clone(), Sender::new(true).unwrap(), vec![0]);
    assert_eq!(allowed.try_execute().await.unwrap(), 1);
    assert_eq!(receiver.count(), 1);
    assert_eq!(
        event_of(&app, &id).await.delivery,
        DeliveryStatus::Delivered
    );
    receiver.stop().await;
    app.stop().await;
}

async fn a_restart_mid_retry_completes_the_delivery(backend: Backend) {
    use crate::cli::{start_serve_with, stop_serve};
    let receiver = Receiver::start(
        &[Reply::Status(500), Reply::Status(500), Reply::Status(500)],
        Reply::Status(200),
    )
    .await;
    let db = TestDb::new(backend).await;
    let store = Db::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let (merchant, product) = paybylink::merchants::create(&store, "Shoe Shop")
        .await
        .unwrap();
    let client = paybylink::auth::create_api_client(&store, merchant.id, "tests")
        .await
        .unwrap();
    store
        .set_notification_uri(merchant.id, Some(&receiver.url("/hook")))
        .await
        .unwrap();
    // After the second failure the next attempt waits 3 s: time to stop.
    let env = [
        ("PAYBYLINK_ALLOW_PRIVATE_WEBHOOKS", "true"),
        ("PAYBYLINK_NOTIFY_RETRY_DELAYS", "1,3,1,1,1"),
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
    let token = token["access_token"].as_str().unwrap().to_string();
    let test_merchant = TestMerchant {
        id: merchant.id.0,
        product_id: product.id.0,
        client_id: String::new(),
        client_secret: String::new(),
        token: String::new(),
    };
    let link: Value = http
        .post(format!("{base}/api/v1/pay-by-link"))
        .bearer_auth(&token)
        .json(&TestApp::link_body(&test_merchant))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = link["id"].as_str().unwrap().to_string();
    let res = http
        .post(format!("{base}/api/v1/pay-by-link/{id}/cancel"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Two failed attempts are written down; then the process dies (SIGKILL).
    let started = Instant::now();
    let attempts = || delivery_state(&store, merchant.id, &id);
    while attempts().await != Some((DeliveryStatus::Pending, 2)) {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    served.child.kill().unwrap();
    served.child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(receiver.count(), 2, "nothing is sent while it is down");
    assert_eq!(attempts().await, Some((DeliveryStatus::Pending, 2)));

    // Started again on the same database, it resumes the schedule and delivers.
    let served = start_serve_with(&db, &env);
    let started = Instant::now();
    while attempts().await != Some((DeliveryStatus::Delivered, 4)) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{:?}",
            attempts().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_serve(served);
    let got = receiver.received();
    assert_eq!(got.len(), 4, "500, 500, then 500 and 200 after the restart");
    assert!(got
        .iter()
        .all(|r| r.header("webhook-id") == got[0].header("webhook-id")));
    store.close().await;
    receiver.stop().await;
    db.drop_database().await;
}

/// A link's event: its delivery status and how many attempts it had.
async fn delivery_state(
    db: &Db,
    merchant: MerchantId,
    link_id: &str,
) -> Option<(DeliveryStatus, usize)> {
    notifications::of_link(db, merchant, link_id)
        .await
        .unwrap()
        .pop()
        .map(|e| (e.delivery, e.attempts.len()))
}

async fn a_rolled_back_cancel_sends_nothing(backend: Backend) {
    let receiver = Receiver::always(200).await;
    let app = app_for_receivers(backend, true, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/hook")).await;
    let link = app.create_link(&app.body()).await;
    let id = link["id"].as_str().unwrap().to_string();

    // Writing the event fails, so the whole cancel is rolled back.
    match backend {
        Backend::Sqlite => {
            app.db
                .exec(
                    "CREATE TRIGGER refuse_events BEFORE INSERT ON events
                     BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                )
                .await
        }
        Backend::Postgres => {
            app.db
                .exec(
                    "CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql
                     AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$",
                )
                .await;
            app.db
                .exec(
                    "CREATE TRIGGER refuse_events BEFORE INSERT ON events
                     FOR EACH ROW EXECUTE FUNCTION refuse_events()",
                )
                .await;
        }
    }
    assert_eq!(app.cancel(&id).await.status(), 500);
    assert_eq!(app.stored_status(&id).await, "CREATED", "rolled back");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM events").await, 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 0, "a rolled-back change sends nothing");

    // Once the change commits, exactly its notification goes out.
    app.db
        .exec(match backend {
            Backend::Sqlite => "DROP TRIGGER refuse_events",
            Backend::Postgres => "DROP TRIGGER refuse_events ON events",
        })
        .await;
    assert_eq!(app.cancel(&id).await.status(), 200);
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["status"], "CANCELLED");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1);
    receiver.stop().await;
    app.stop().await;
}

async fn the_api_lists_events_and_resends_them(backend: Backend) {
    let failing = Receiver::always(503).await;
    let ok = Receiver::always(200).await;
    let app = app_for_receivers(backend, false, &[0]).await;
    let dispatcher = app.state.dispatcher();
    let token = app.merchant.token.clone();

    // One failed (two attempts), one delivered, one pending.
    set_url(&app, &failing.url("/hook")).await;
    let a = cancelled_link(&app).await;
    dispatcher.try_execute().await.unwrap();
    dispatcher.try_execute().await.unwrap();
    set_url(&app, &ok.url("/hook")).await;
    let b = cancelled_link(&app).await;
    dispatcher.try_execute().await.unwrap();
    let c = cancelled_link(&app).await;

    let list = |query: &str| {
        let path = format!("/api/v1/notifications{query}");
        let app = &app;
        let token = token.clone();
        async move {
            let res = app.get_as(&token, &path).await;
            assert_eq!(res.status(), 200, "{path}");
            res.json::<Value>().await.unwrap()
        }
    };
    let all = list("").await;
    let items = all["items"].as_array().unwrap();
    let links: Vec<&str> = items
        .iter()
        .map(|i| i["linkId"].as_str().unwrap())
        .collect();
    assert_eq!(links, [a.as_str(), b.as_str(), c.as_str()], "oldest first");
    assert_eq!(all["nextCursor"], Value::Null);
    let (ia, ib, ic) = (&items[0], &items[1], &items[2]);
    assert_eq!(ia["status"], "CANCELLED");
    assert_eq!(ia["payload"]["id"], a.as_str());
    assert_eq!(ia["payload"]["status"], "CANCELLED");
    assert_eq!(ia["delivery"]["status"], "failed");
    assert_eq!(ia["delivery"]["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(ia["delivery"]["attempts"][0]["statusCode"], 503);
    assert_eq!(ia["delivery"]["attempts"][0]["url"], failing.url("/hook"));
    assert!(ia["delivery"]["attempts"][0]["durationMs"].is_i64());
    assert_eq!(ib["delivery"]["status"], "delivered");
    assert!(ib["delivery"]["deliveredAt"].is_string());
    assert_eq!(ic["delivery"]["status"], "pending");
    assert!(ic["delivery"]["nextAttemptAt"].is_string());
    assert_eq!(ic["delivery"]["attempts"], json!([]));
    let event_a = ia["id"].as_str().unwrap().to_string();
    assert!(event_a.starts_with("evt_"));

    // Filters.
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["linkId"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&list("?status=failed").await), [a.as_str()]);
    assert_eq!(ids(&list("?status=delivered").await), [b.as_str()]);
    assert_eq!(ids(&list("?status=pending").await), [c.as_str()]);
    let since = ib["createdAt"].as_str().unwrap();
    let since_q = format!("?since={}", urlencode(since));
    assert_eq!(ids(&list(&since_q).await), [b.as_str(), c.as_str()]);
    assert_eq!(
        ids(&list(&format!("{since_q}&status=pending")).await),
        [c.as_str()]
    );

    // Keyset pages of one.
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_string();
    loop {
        let page = list(&query).await;
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [a.as_str(), b.as_str(), c.as_str()]);

    // Bad parameters: every one reported.
    let res = app
        .get_as(
            &token,
            "/api/v1/notifications?status=lost&since=yesterday&limit=0&cursor=zzz",
        )
        .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    let mut params: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["parameter"].as_str().unwrap())
        .collect();
    params.sort();
    assert_eq!(params, ["cursor", "limit", "since", "status"]);
    let res = app
        .client
        .get(app.url("/api/v1/notifications"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Another merchant sees none of them and cannot resend them.
    let other = app.new_merchant("Hat Shop").await;
    let theirs: Value = app
        .get_as(&other.token, "/api/v1/notifications")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], json!([]));
    let path = format!("/api/v1/notifications/{event_a}/resend");
    let res = app.post_json(&other.token, &path, &json!({})).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["path"], path.as_str());
    assert_eq!(
        event_of(&app, &a).await.delivery,
        DeliveryStatus::Failed,
        "another merchant's resend changes nothing"
    );
    let res = app
        .post_json(
            &token,
            "/api/v1/notifications/evt_unknown/resend",
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 404);

    // Resending the failed one queues it; it goes to the URL saved now.
    let res = app.post_json(&token, &path, &json!({})).await;
    assert_eq!(res.status(), 200);
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["id"], event_a.as_str());
    assert_eq!(queued["delivery"]["status"], "pending");
    assert_eq!(queued["delivery"]["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(dispatcher.try_execute().await.unwrap(), 2, "a and c");
    let e = event_of(&app, &a).await;
    assert_eq!(e.delivery, DeliveryStatus::Delivered);
    assert_eq!(attempts_statuses(&e), [Some(503), Some(503), Some(200)]);
    // A delivered one can be sent again too.
    let res = app
        .post_json(
            &token,
            &format!(
                "/api/v1/notifications/{}/resend",
                ib["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(dispatcher.try_execute().await.unwrap(), 1);
    assert_eq!(ok.count(), 4, "b twice, a and c once");

    // The OpenAPI document describes both operations.
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/notifications"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/notifications/{id}/resend"]["post"].is_object());
    failing.stop().await;
    ok.stop().await;
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `tr` of the delivery log for an event, if shown.
fn log_row<'a>(html: &'a str, event: &str) -> Option<&'a str> {
    let start = html.find(&format!("<tr data-event-id=\"{event}\""))?;
    let len = html[start..].find("</tr>")?;
    Some(&html[start..start + len])
}

async fn the_settings_page_shows_the_log_sends_a_test_and_rotates_the_secret(backend: Backend) {
    let failing = Receiver::always(500).await;
    let ok = Receiver::always(200).await;
    let app = app_for_receivers(backend, false, &[0]).await;
    let dispatcher = app.state.dispatcher();
    let admin = signed_in(&app, app.merchant.id, "admin@shop.example", Role::Admin).await;

    set_url(&app, &failing.url("/hook")).await;
    let a = cancelled_link(&app).await;
    dispatcher.try_execute().await.unwrap();
    dispatcher.try_execute().await.unwrap();
    set_url(&app, &ok.url("/hook")).await;
    let b = cancelled_link(&app).await;
    dispatcher.try_execute().await.unwrap();
    let (ea, eb) = (event_of(&app, &a).await, event_of(&app, &b).await);
    assert_eq!(ea.delivery, DeliveryStatus::Failed);
    assert_eq!(eb.delivery, DeliveryStatus::Delivered);

    // The log, newest first, with filters by delivery status and date.
    let html = admin.page("/settings/notifications").await;
    assert!(html.contains("id=\"deliveries\""));
    let (ra, rb) = (
        log_row(&html, &ea.id).unwrap(),
        log_row(&html, &eb.id).unwrap(),
    );
    assert!(html.find(&eb.id) < html.find(&ea.id), "newest first");
    assert!(ra.contains("data-delivery=\"failed\"") && ra.contains("HTTP 500"));
    assert!(ra.contains(&format!("href=\"/links/{a}\"")));
    assert!(ra.contains("Resend"), "failed ones can be resent");
    assert!(rb.contains("data-delivery=\"delivered\"") && rb.contains("HTTP 200"));
    assert!(!rb.contains("Resend"));
    let html = admin.page("/settings/notifications?status=failed").await;
    assert!(log_row(&html, &ea.id).is_some() && log_row(&html, &eb.id).is_none());
    let day = |days: i64| {
        (chrono::Utc::now() + chrono::Duration::days(days))
            .format("%Y-%m-%d")
            .to_string()
    };
    let html = admin
        .page(&format!(
            "/settings/notifications?from={}&to={}",
            day(-1),
            day(1)
        ))
        .await;
    assert!(log_row(&html, &ea.id).is_some() && log_row(&html, &eb.id).is_some());
    let html = admin
        .page(&format!("/settings/notifications?from={}", day(2)))
        .await;
    assert!(html.contains("id=\"no-deliveries\"") && log_row(&html, &ea.id).is_none());
    let html = admin
        .page(&format!("/settings/notifications?to={}", day(-2)))
        .await;
    assert!(log_row(&html, &ea.id).is_none());
    let html = admin.page("/settings/notifications?from=soon").await;
    assert!(html.contains("is not a date"));

    // Resend from the log; back to the same view.
    let res = admin
        .submit(
            "/settings/notifications?status=failed",
            &format!("/settings/notifications/{}/resend", ea.id),
            &[("back", "status=failed")],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/settings/notifications?status=failed");
    assert_eq!(event_of(&app, &a).await.delivery, DeliveryStatus::Pending);
    dispatcher.try_execute().await.unwrap();
    assert_eq!(event_of(&app, &a).await.delivery, DeliveryStatus::Delivered);

    // A test notification: signed, marked as a test, its answer shown.
    let before = ok.count();
    let res = admin
        .submit(
            "/settings/notifications",
            "/settings/notifications/test",
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = admin.page("/settings/notifications").await;
    assert!(
        html.contains("Test notification delivered") && html.contains("HTTP 200"),
        "{html}"
    );
    let got = ok.received();
    assert_eq!(got.len(), before + 1);
    let test = got.last().unwrap();
    let s1 = secret_of(&app).await;
    assert!(verifies(&s1, test));
    assert_eq!(test.json()["test"], true);
    assert!(test.header("webhook-id").starts_with("msg_test_"));
    set_url(&app, &failing.url("/hook")).await;
    admin
        .submit(
            "/settings/notifications",
            "/settings/notifications/test",
            &[],
        )
        .await;
    let html = admin.page("/settings/notifications").await;
    assert!(html.contains("Test notification not delivered: HTTP 500"));
    app.db
        .exec(&format!(
            "UPDATE merchants SET notification_uri = NULL WHERE id = {}",
            app.merchant.id
        ))
        .await;
    admin
        .submit(
            "/settings/notifications",
            "/settings/notifications/test",
            &[],
        )
        .await;
    assert!(admin
        .page("/settings/notifications")
        .await
        .contains("Save a notification URL first"));
    set_url(&app, &ok.url("/hook")).await;

    // Rotating the secret: the new one is shown, and for a day both sign.
    assert!(admin.page("/settings/notifications").await.contains(&s1));
    let res = admin
        .submit(
            "/settings/notifications",
            "/settings/notifications/rotate-secret",
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = admin.page("/settings/notifications").await;
    let s2 = secret_of(&app).await;
    assert_ne!(s1, s2);
    assert!(s2.starts_with("whsec_"));
    assert!(
        html.contains(&s2) && !html.contains(&s1),
        "the new secret is shown"
    );
    assert!(html.contains("id=\"rotation-overlap\""));
    let c = cancelled_link(&app).await;
    dispatcher.try_execute().await.unwrap();
    assert_eq!(event_of(&app, &c).await.delivery, DeliveryStatus::Delivered);
    let r = ok.received().pop().unwrap();
    assert_eq!(r.json()["id"], c.as_str());
    let signatures: Vec<&str> = r.header("webhook-signature").split(' ').collect();
    assert_eq!(signatures.len(), 2, "{signatures:?}");
    assert!(verifies(&s1, &r) && verifies(&s2, &r));
    // A day later only the new secret signs.
    app.db
        .exec(&format!(
            "UPDATE merchants SET webhook_secret_rotated_at = webhook_secret_rotated_at - 86400000
             WHERE id = {}",
            app.merchant.id
        ))
        .await;
    let d = cancelled_link(&app).await;
    dispatcher.try_execute().await.unwrap();
    let r = ok.received().pop().unwrap();
    assert_eq!(r.json()["id"], d.as_str());
    assert!(verifies(&s2, &r) && !verifies(&s1, &r));
    assert!(!admin
        .page("/settings/notifications")
        .await
        .contains("id=\"rotation-overlap\""));

    // Staff may not see or use any of it.
    let staff = signed_in(&app, app.merchant.id, "staff@shop.example", Role::Staff).await;
    assert_eq!(staff.get("/settings/notifications").await.status(), 403);
    let token = csrf_of(&staff.page("/links").await);
    for action in [
        "/settings/notifications/test".to_string(),
        "/settings/notifications/rotate-secret".to_string(),
        format!("/settings/notifications/{}/resend", ea.id),
    ] {
        let res = staff
            .post_raw(&action, &[("csrf_token", token.as_str())])
            .await;
        assert_eq!(res.status(), 403, "{action}");
    }
    assert_eq!(secret_of(&app).await, s2);
    // Without the CSRF token nothing happens either.
    let res = admin
        .post_raw("/settings/notifications/rotate-secret", &[])
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(secret_of(&app).await, s2);
    failing.stop().await;
    ok.stop().await;
    app.stop().await;
}

async fn the_link_page_lists_deliveries_and_resends_a_failed_one(backend: Backend) {
    let failing = Receiver::always(500).await;
    let ok = Receiver::always(200).await;
    let app = app_for_receivers(backend, false, &[0]).await;
    let dispatcher = app.state.dispatcher();
    let staff = signed_in(&app, app.merchant.id, "staff@shop.example", Role::Staff).await;

    let fresh = app.create_link(&app.body()).await;
    let html = staff
        .page(&format!("/links/{}", fresh["id"].as_str().unwrap()))
        .await;
    assert!(html.contains("id=\"no-notifications\""));

    set_url(&app, &failing.url("/hook")).await;
    let id = cancelled_link(&app).await;
    dispatcher.try_execute().await.unwrap();
    dispatcher.try_execute().await.unwrap();
    let e = event_of(&app, &id).await;
    assert_eq!(e.delivery, DeliveryStatus::Failed);

    let page = format!("/links/{id}");
    let html = staff.page(&page).await;
    let section = &html[html.find("id=\"notifications\"").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(section.contains(&format!("data-event-id=\"{}\"", e.id)));
    assert!(section.contains("data-delivery=\"failed\""));
    assert_eq!(section.matches("HTTP 500").count(), 2, "each attempt");
    assert!(section.contains(&failing.url("/hook")));
    let action = format!("/links/{id}/notifications/{}/resend", e.id);
    assert!(section.contains(&format!("action=\"{action}\"")));

    // Resend (staff may): it goes to the URL saved now.
    set_url(&app, &ok.url("/hook")).await;
    let res = staff.submit(&page, &action, &[]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/links/{id}#notifications"));
    let html = staff.page(&page).await;
    assert!(html.contains("queued again"));
    assert!(html.contains("data-delivery=\"pending\""));
    dispatcher.try_execute().await.unwrap();
    let html = staff.page(&page).await;
    let section = &html[html.find("id=\"notifications\"").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(section.contains("data-delivery=\"delivered\""));
    assert_eq!(section.matches("<tr data-attempt-ok").count(), 3);
    assert!(section.contains("HTTP 200"));
    assert!(!section.contains("/resend"), "no Resend once delivered");
    assert_eq!(ok.count(), 1);

    // The event must belong to the link in the path, and to the user's merchant.
    let other_link = app.create_link(&app.body()).await;
    let token = csrf_of(&html);
    let res = staff
        .post_raw(
            &format!(
                "/links/{}/notifications/{}/resend",
                other_link["id"].as_str().unwrap(),
                e.id
            ),
            &[("csrf_token", token.as_str())],
        )
        .await;
    assert_eq!(res.status(), 404);
    let other = app.new_merchant("Hat Shop").await;
    let stranger = signed_in(&app, other.id, "admin@hats.example", Role::Admin).await;
    let token = csrf_of(&stranger.page("/links").await);
    let res = stranger
        .post_raw(&action, &[("csrf_token", token.as_str())])
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(stranger.get(&page).await.status(), 404);
    assert_eq!(
        event_of(&app, &id).await.delivery,
        DeliveryStatus::Delivered
    );
    failing.stop().await;
    ok.stop().await;
    app.stop().await;
}

/// Two dispatchers, each with its own connection pool (as two instances would
/// have), on one PostgreSQL database with 1,000 due events: each event reaches
/// the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_on_one_postgres_database_send_each_event_once() {
    if postgres_url().is_none() {
        return;
    }
    const EVENTS: i64 = 1000;
    let receiver = Receiver::always(200).await;
    let app = app_for_receivers(Backend::Postgres, false, &[1, 2, 4, 8, 16]).await;
    set_url(&app, &receiver.url("/hook")).await;
    app.db
        .exec(&format!(
            "INSERT INTO links (id, merchant_id, product_id, url_code, status, amount_minor,
                currency, country, merchant_transaction_id, customer_id, due_date, language,
                created_at, updated_at)
             SELECT 'bulk' || n, {m}, {p}, 'code' || n, 'CREATED', 1000 + n, 'EUR', 'ES',
                'order-' || n, 'customer', 1, 'EN', 0, 0
             FROM generate_series(1, {EVENTS}) AS n",
            m = app.merchant.id,
            p = app.merchant.product_id
        ))
        .await;
    // The sweep expires them all: 1,000 events, written with their changes.
    let expired = paybylink::links::expire_due(&app.state.db, PUBLIC_URL, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(expired as i64, EVENTS);

    let mut instances = Vec::new();
    for _ in 0..2 {
        let db = Db::connect(&app.db.url).await.unwrap();
        let dispatcher = Dispatcher::new(db.clone(), Sender::new(true).unwrap(), vec![1, 2]);
        instances.push((db, tokio::spawn(dispatcher.run_until_stopped())));
    }
    let started = Instant::now();
    loop {
        let delivered = app
            .db
            .scalar("SELECT COUNT(*) FROM events WHERE delivery_status = 'delivered'")
            .await;
        if delivered == EVENTS {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{delivered} of {EVENTS} delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anything sent twice would arrive by now.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    for (db, task) in instances {
        task.abort();
        let _ = task.await;
        db.close().await;
    }
    let got = receiver.received();
    let ids: HashSet<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len() as i64, EVENTS, "every event arrived");
    assert_eq!(got.len() - ids.len(), 0, "duplicates");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM delivery_attempts")
            .await,
        EVENTS,
        "one attempt recorded per event"
    );
    receiver.stop().await;
    app.stop().await;
}
