//! `spawn_app`: a real server on a loopback port over a database of its own — a
//! fresh SQLite file, or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set.

use std::sync::atomic::{AtomicU64, Ordering};

use paybylink::config::Settings;
use paybylink::startup::{AppState, Application};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body on SQLite, and on PostgreSQL when `TEST_DATABASE_URL` is set.
/// In CI (`CI=true`) a missing PostgreSQL fails the test instead of skipping it.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_url().is_some() {
                        super::$name($crate::helpers::Backend::Postgres).await;
                    }
                }
            )+
        }
    };
}
pub(crate) use on_both_backends;

/// The PostgreSQL server for tests, if any. Panics in CI when it is not set.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests must not be skipped in CI"
        );
    }
    url
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database of the test's own; dropped (PostgreSQL) or deleted (SQLite) at the end.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_url().expect("TEST_DATABASE_URL");
                let name = format!(
                    "pbl_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                );
                let pool = sqlx::PgPool::connect(&admin)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                TestDb {
                    url: url.to_string(),
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
        }
    }

    /// Runs raw SQL against the test database, for setting up states the API
    /// cannot reach yet (a PAID link) or checking what was stored.
    pub async fn exec(&self, sql: &str) {
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.expect("sqlite");
            sqlx::query(sql).execute(&pool).await.expect("exec");
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.expect("postgres");
            sqlx::query(sql).execute(&pool).await.expect("exec");
            pool.close().await;
        }
    }

    /// The first column of the first row of `sql`, as i64.
    pub async fn scalar(&self, sql: &str) -> i64 {
        self.one(sql).await
    }

    /// The first column of the first row of `sql`, as text.
    pub async fn text(&self, sql: &str) -> String {
        self.one(sql).await
    }

    async fn one<T>(&self, sql: &str) -> T
    where
        T: Send + Unpin + sqlx::Type<sqlx::Sqlite> + sqlx::Type<sqlx::Postgres>,
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + for<'r> sqlx::Decode<'r, sqlx::Postgres>,
    {
        if self.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.url).await.expect("sqlite");
            let v = sqlx::query_scalar(sql)
                .fetch_one(&pool)
                .await
                .expect("query");
            pool.close().await;
            v
        } else {
            let pool = sqlx::PgPool::connect(&self.url).await.expect("postgres");
            let v = sqlx::query_scalar(sql)
                .fetch_one(&pool)
                .await
                .expect("query");
            pool.close().await;
            v
        }
    }

    pub async fn drop_database(&self) {
        if let Some((admin, name)) = &self.pg {
            if let Ok(pool) = sqlx::PgPool::connect(admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        }
    }
}

/// A merchant with API credentials and a live token.
#[derive(Clone, Debug)]
pub struct TestMerchant {
    pub id: i64,
    pub product_id: i64,
    pub client_id: String,
    pub client_secret: String,
    pub token: String,
}

pub struct TestApp {
    pub address: String,
    pub db: TestDb,
    pub state: actix_web::web::Data<AppState>,
    pub client: reqwest::Client,
    pub merchant: TestMerchant,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub const PUBLIC_URL: &str = "http://pay.example.test";

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, true).await
}

/// `background: false` runs the server without the expiry sweep.
pub async fn spawn_app_with(backend: Backend, background: bool) -> TestApp {
    spawn_app_at(backend, background, PUBLIC_URL).await
}

/// A server whose public URL (the base of link URLs, and https or not) is given.
pub async fn spawn_app_at(backend: Backend, background: bool, public_url: &str) -> TestApp {
    spawn_app_configured(backend, background, |s| s.public_url = public_url.into()).await
}

/// A server whose settings `configure` adjusts, e.g. to allow notification URLs
/// on loopback (test receivers) or to shorten the retry delays.
pub async fn spawn_app_configured(
    backend: Backend,
    background: bool,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut settings = Settings {
        database_url: db.url.clone(),
        bind: "127.0.0.1:0".into(),
        public_url: PUBLIC_URL.into(),
        secret_key: None,
        allow_private_webhooks: false,
        notify_retry_delays: vec![1, 2, 4, 8, 16],
        smtp_url: None,
        mail_from: None,
    };
    configure(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let server = tokio::spawn(app.run(background));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut app = TestApp {
        address,
        db,
        state,
        client,
        merchant: TestMerchant {
            id: 0,
            product_id: 0,
            client_id: String::new(),
            client_secret: String::new(),
            token: String::new(),
        },
        server,
    };
    app.merchant = app.new_merchant("Shoe Shop").await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Creates a merchant and API client through the library, and a token through
    /// the real token endpoint.
    pub async fn new_merchant(&self, name: &str) -> TestMerchant {
        let (m, p) = paybylink::merchants::create(&self.state.db, name)
            .await
            .unwrap();
        let c = paybylink::auth::create_api_client(&self.state.db, m.id, "tests")
            .await
            .unwrap();
        let token = self.token_for(&c.client_id, &c.client_secret).await;
        TestMerchant {
            id: m.id.0,
            product_id: p.id.0,
            client_id: c.client_id,
            client_secret: c.client_secret,
            token,
        }
    }

    pub async fn token_for(&self, id: &str, secret: &str) -> String {
        let res = self
            .client
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A valid create body for `m`.
    pub fn link_body(m: &TestMerchant) -> Value {
        json!({
            "merchantId": m.id,
            "productId": m.product_id,
            "merchantTransactionId": "1234abcd567efg",
            "description": "Paying for shoes bought Jan 1st",
            "currency": "EUR",
            "amount": 32.99,
            "country": "GB",
            "language": "ES",
            "customerId": "xx2211223",
            "referenceId": "1234abcd1234",
            "merchantParams": "merchantName:Daniel;merchantSurname:Rodriguez"
        })
    }

    pub fn body(&self) -> Value {
        TestApp::link_body(&self.merchant)
    }

    pub async fn post_json(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Creates a link for the default merchant; panics unless 200.
    pub async fn create_link(&self, body: &Value) -> Value {
        let res = self
            .post_json(&self.merchant.token, "/api/v1/pay-by-link", body)
            .await;
        let status = res.status();
        let json: Value = res.json().await.unwrap();
        assert_eq!(status, 200, "{json}");
        json
    }

    pub async fn cancel(&self, id: &str) -> reqwest::Response {
        self.post_json(
            &self.merchant.token,
            &format!("/api/v1/pay-by-link/{id}/cancel"),
            &json!({}),
        )
        .await
    }

    pub async fn get_link(&self, id: &str) -> reqwest::Response {
        self.get_as(&self.merchant.token, &format!("/api/v1/pay-by-link/{id}"))
            .await
    }

    pub async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
        self.state.db.close().await;
        self.db.drop_database().await;
    }
}

/// Asserts a 400 whose errors point at exactly `pointers` (in any order).
pub async fn assert_400_pointers(res: reqwest::Response, pointers: &[&str]) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    let mut got: Vec<String> = body["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|e| {
            e["source"]["pointer"]
                .as_str()
                .unwrap_or("<none>")
                .to_string()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = pointers.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{body}");
    body
}

// ---- The shopper's page (issue 4) ----

/// Card details as a shopper types them into the payment form.
#[derive(Clone, Copy, Debug)]
pub struct TestCard {
    pub number: &'static str,
    pub expiry: &'static str,
    pub cvc: &'static str,
    pub holder: &'static str,
}

/// The sandbox's approved Visa card.
pub const VISA: TestCard = TestCard {
    number: "4242 4242 4242 4242",
    expiry: "12/39",
    cvc: "123",
    holder: "Ana García",
};

/// The sandbox's always-declined card.
pub const DECLINED: TestCard = TestCard {
    number: "4000 0000 0000 0002",
    ..VISA
};

/// The code of a link's shopper URL (`…/p/{code}`).
pub fn link_code(link: &Value) -> String {
    let url = link["url"].as_str().expect("link url");
    url.rsplit_once("/p/").expect("a /p/ URL").1.to_string()
}

/// The value of the hidden input `name` on a page.
pub fn hidden_input(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} input in {html}"))
        + marker.len();
    let len = html[start..].find('"').expect("closing quote");
    html[start..start + len].to_string()
}

/// The CSRF token of a payment page.
pub fn form_token(html: &str) -> String {
    hidden_input(html, "csrf")
}

impl TestApp {
    /// `GET /p/{code}{query}`: status and body.
    pub async fn page(&self, code: &str, query: &str) -> (u16, String) {
        let res = self
            .client
            .get(self.url(&format!("/p/{code}{query}")))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// The form token of a payable link's page.
    pub async fn token_of(&self, code: &str) -> String {
        let (status, html) = self.page(code, "").await;
        assert_eq!(status, 200, "{html}");
        form_token(&html)
    }

    /// Posts the payment form of `code` with `card` and the form `token`.
    pub async fn pay(&self, code: &str, token: &str, card: TestCard) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/p/{code}/pay")))
            .form(&[
                ("csrf", token),
                ("cardholder", card.holder),
                ("cardNumber", card.number),
                ("expiry", card.expiry),
                ("cvc", card.cvc),
            ])
            .send()
            .await
            .unwrap()
    }

    /// How many payments of `link_id` have `status`.
    pub async fn payments_with(&self, link_id: &str, status: &str) -> i64 {
        self.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM payments WHERE link_id = '{link_id}' AND status = '{status}'"
            ))
            .await
    }

    pub async fn stored_status(&self, link_id: &str) -> String {
        self.db
            .text(&format!("SELECT status FROM links WHERE id = '{link_id}'"))
            .await
    }
}
