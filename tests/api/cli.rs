//! The commands of CONTRACT section 2, run as the real binary.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::*;

on_both_backends!(
    cli_creates_merchants_users_and_clients,
    cli_reports_errors_on_stderr,
    serve_logs_the_setup_url_keeps_queries_out_of_logs_and_stops_on_sigterm,
    seed_fills_one_merchant_with_two_years_of_links,
);

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(db: &TestDb, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paybylink"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run paybylink");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn seed_fills_one_merchant_with_two_years_of_links(backend: Backend) {
    use paybylink::links::{self, ListQuery, Status, WithPayments};
    use paybylink::merchants::MerchantId;

    let db = TestDb::new(backend).await;
    assert_eq!(run(&db, &["migrate"], None).code, 0);
    let m = json_of(&run(
        &db,
        &["merchant", "create", "--name", "Busy", "--json"],
        None,
    ));
    json_of(&run(
        &db,
        &["merchant", "create", "--name", "Quiet", "--json"],
        None,
    ));
    let merchant = m["merchantId"].as_i64().unwrap();
    let mid = merchant.to_string();

    let unknown = run(&db, &["seed", "--merchant", "99", "--links", "10"], None);
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("merchant"), "{}", unknown.stderr);

    let out = json_of(&run(
        &db,
        &["seed", "--merchant", &mid, "--links", "3000", "--json"],
        None,
    ));
    assert_eq!(out["links"], 3000);
    let payments = out["payments"].as_i64().unwrap();
    let stored = &db;
    let count = |sql: String| async move { stored.scalar(&sql).await };
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM links WHERE merchant_id = {merchant}"
        ))
        .await,
        3000
    );
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM links WHERE merchant_id <> {merchant}"
        ))
        .await,
        0,
        "only the named merchant gets links"
    );
    assert_eq!(
        count("SELECT count(*) FROM payments".into()).await,
        payments
    );
    // A mix of statuses, as after two years of trade.
    for status in ["CREATED", "PAID", "CANCELLED", "EXPIRED"] {
        let n = count(format!(
            "SELECT count(*) FROM links WHERE status = '{status}'"
        ))
        .await;
        assert!(n > 30, "{n} links {status}");
    }
    // Every paid link has exactly one approved payment of its amount, and its paid_at.
    assert_eq!(
        count(
            "SELECT count(*) FROM links l WHERE l.status = 'PAID' AND (l.paid_at IS NULL
               OR l.payments_approved <> 1
               OR (SELECT count(*) FROM payments p WHERE p.link_id = l.id
                   AND p.status = 'APPROVED' AND p.amount_minor = l.amount_minor) <> 1)"
                .into()
        )
        .await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM payments p JOIN links l ON l.id = p.link_id WHERE l.status <> 'PAID'".into())
            .await,
        0,
        "no payment on an unpaid link"
    );
    // Creation dates over two years; nothing open is overdue (the sweep has nothing to do).
    let day = 86_400_000;
    let span = count("SELECT max(created_at) - min(created_at) FROM links".into()).await;
    assert!(span > 700 * day, "{span} ms");
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        count(format!(
            "SELECT count(*) FROM links WHERE status = 'CREATED' AND due_date <= {now}"
        ))
        .await,
        0
    );
    assert!(count("SELECT count(DISTINCT currency) FROM links".into()).await >= 4);

    // The search finds a seeded customer's links, and only them, through the
    // trigram index: over 3,000 links the "cust-" trigrams count as common.
    let pool = paybylink::db::Db::connect(&db.url).await.unwrap();
    let customer = db
        .text("SELECT customer_id FROM links ORDER BY created_at DESC LIMIT 1")
        .await;
    let expected = count(format!(
        "SELECT count(*) FROM links WHERE customer_id = '{customer}'"
    ))
    .await;
    let query = ListQuery {
        q: Some(customer.to_lowercase()),
        limit: 200,
        ..ListQuery::default()
    };
    let page = links::list(
        &pool,
        MerchantId(merchant),
        &query,
        WithPayments::No,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(page.items.len() as i64, expected, "{customer}");
    assert!(page.items.iter().all(|l| l.customer_id == customer));
    let paid = ListQuery {
        statuses: vec![Status::Paid],
        q: Some(customer[5..].to_string()),
        limit: 200,
        ..ListQuery::default()
    };
    let page = links::list(
        &pool,
        MerchantId(merchant),
        &paid,
        WithPayments::Yes,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert!(page
        .items
        .iter()
        .all(|l| l.stored_status == Status::Paid && !l.payments.is_empty()));
    pool.close().await;
    db.drop_database().await;
}

fn json_of(out: &Output) -> Value {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "one JSON object: {}",
        out.stdout
    );
    serde_json::from_str(&out.stdout).expect("JSON on stdout")
}

async fn cli_creates_merchants_users_and_clients(backend: Backend) {
    let db = TestDb::new(backend).await;
    assert_eq!(run(&db, &["migrate"], None).code, 0);
    let m = json_of(&run(
        &db,
        &["merchant", "create", "--name", "Shoe Shop", "--json"],
        None,
    ));
    let merchant = m["merchantId"].as_i64().unwrap();
    assert_eq!(merchant, 10450, "the first merchant id is the seed's");
    assert_eq!(m["productId"].as_i64().unwrap(), 104500001);
    let m2 = json_of(&run(
        &db,
        &["merchant", "create", "--name", "Hat Shop", "--json"],
        None,
    ));
    assert_eq!(m2["merchantId"].as_i64().unwrap(), 10451);

    let mid = merchant.to_string();
    let u = json_of(&run(
        &db,
        &[
            "user",
            "create",
            "--merchant",
            &mid,
            "--email",
            "Ana@Example.com",
            "--role",
            "admin",
            "--password-stdin",
            "--json",
        ],
        Some("a long enough password\nsecond line ignored\n"),
    ));
    assert_eq!(u["email"], "ana@example.com");
    assert_eq!(u["role"], "admin");
    assert!(u["userId"].is_string());
    let hash = db.text("SELECT password_hash FROM users").await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    // The password is exactly the first line, without its newline.
    assert!(paybylink::auth::verify_password("a long enough password".into(), hash).await);

    let c = json_of(&run(
        &db,
        &[
            "client",
            "create",
            "--merchant",
            &mid,
            "--name",
            "shop backend",
            "--json",
        ],
        None,
    ));
    let (id, secret) = (
        c["clientId"].as_str().unwrap(),
        c["clientSecret"].as_str().unwrap(),
    );

    // Human output without --json.
    let out = run(&db, &["merchant", "create", "--name", "Third"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("10452"), "{}", out.stdout);

    // The printed credentials work against a server on the same database.
    let app = paybylink::startup::Application::build(paybylink::config::Settings {
        database_url: db.url.clone(),
        bind: "127.0.0.1:0".into(),
        public_url: PUBLIC_URL.into(),
        secret_key: None,
        allow_private_webhooks: false,
        notify_retry_delays: vec![1],
        smtp_url: None,
        mail_from: None,
    })
    .await
    .unwrap();
    let url = format!("http://127.0.0.1:{}/oauth/token", app.port());
    let state = app.state();
    let server = tokio::spawn(app.run(false));
    let res = reqwest::Client::new()
        .post(url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.abort();
    let _ = server.await;
    state.db.close().await;
    db.drop_database().await;
}

async fn cli_reports_errors_on_stderr(backend: Backend) {
    let db = TestDb::new(backend).await;
    let m = json_of(&run(
        &db,
        &["merchant", "create", "--name", "Shop", "--json"],
        None,
    ));
    let mid = m["merchantId"].as_i64().unwrap().to_string();
    let user = |email: &str, merchant: &str, password: &str| {
        run(
            &db,
            &[
                "user",
                "create",
                "--merchant",
                merchant,
                "--email",
                email,
                "--role",
                "staff",
                "--password-stdin",
                "--json",
            ],
            Some(&format!("{password}\n")),
        )
    };
    assert_eq!(user("a@shop.com", &mid, "twelve chars").code, 0);

    let failures = [
        (
            user("a@shop.com", &mid, "another long password"),
            "already exists",
        ),
        (user("b@shop.com", &mid, "short"), "at least 12"),
        (
            user("c@shop.com", "999", "a long enough password"),
            "does not exist",
        ),
        (
            user("not-an-email", &mid, "a long enough password"),
            "not a valid email",
        ),
        (
            run(
                &db,
                &["client", "create", "--merchant", "999", "--json"],
                None,
            ),
            "does not exist",
        ),
        (
            run(&db, &["merchant", "create", "--name", "", "--json"], None),
            "name",
        ),
        (
            run(
                &db,
                &[
                    "user",
                    "create",
                    "--merchant",
                    &mid,
                    "--email",
                    "x@y.com",
                    "--role",
                    "owner",
                    "--password-stdin",
                ],
                None,
            ),
            "owner",
        ),
    ];
    for (out, needle) in failures {
        assert_ne!(out.code, 0, "expected failure containing {needle:?}");
        assert!(out.stdout.is_empty(), "nothing on stdout: {}", out.stdout);
        assert!(
            out.stderr.contains(needle),
            "{needle:?} not in {}",
            out.stderr
        );
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 1);
    let out = run(
        &db,
        &["--database-url", "mysql://localhost/x", "migrate"],
        None,
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unsupported DATABASE_URL"),
        "{}",
        out.stderr
    );
    db.drop_database().await;
}

/// A running `paybylink serve` on a free port, read from its "listening" log line.
pub(crate) struct Served {
    pub(crate) child: std::process::Child,
    pub(crate) port: u16,
    /// Log lines up to and including the "listening" line.
    early: Vec<String>,
    rest: std::sync::mpsc::Receiver<String>,
}

fn start_serve(db: &TestDb) -> Served {
    start_serve_with(db, &[])
}

/// `paybylink serve` with further environment variables.
// The child is handed back in `Served` and waited for in `stop_serve`.
#[allow(clippy::zombie_processes)]
pub(crate) fn start_serve_with(db: &TestDb, env: &[(&str, &str)]) -> Served {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_paybylink"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run paybylink serve");
    let stderr = child.stderr.take().unwrap();
    let (tx, rest) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut early = Vec::new();
    loop {
        let line = rest
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line; log so far: {early:?}"));
        let port = line
            .split("port=")
            .nth(1)
            .and_then(|p| p.split_whitespace().next())
            .and_then(|p| p.parse().ok());
        early.push(line);
        if let Some(port) = port {
            return Served {
                child,
                port,
                early,
                rest,
            };
        }
    }
}

/// Sends SIGTERM, waits for a clean exit, and returns the whole log.
pub(crate) fn stop_serve(mut served: Served) -> String {
    let pid = served.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = served.child.wait().unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    served
        .early
        .extend(drain(&served.rest, std::time::Duration::from_millis(500)));
    served.early.join("\n")
}

fn drain(rx: &std::sync::mpsc::Receiver<String>, wait: std::time::Duration) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(l) = rx.recv_timeout(wait) {
        lines.push(l);
    }
    lines
}

async fn serve_logs_the_setup_url_keeps_queries_out_of_logs_and_stops_on_sigterm(backend: Backend) {
    let db = TestDb::new(backend).await;
    let served = start_serve(&db);
    let res = reqwest::get(format!(
        "http://127.0.0.1:{}/healthz?secret=hunter2",
        served.port
    ))
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "ok");
    let log = stop_serve(served);
    assert!(
        log.contains("/setup?token="),
        "first run logs the setup URL:\n{log}"
    );
    assert!(
        log.contains("path=/healthz") && log.contains("status=200"),
        "{log}"
    );
    assert!(log.contains("request_id="), "{log}");
    assert!(
        !log.contains("hunter2"),
        "query strings stay out of the log:\n{log}"
    );
    assert!(log.contains("stopped"), "{log}");

    // With a user, no setup URL is offered any more.
    let m = json_of(&run(
        &db,
        &["merchant", "create", "--name", "Shop", "--json"],
        None,
    ));
    let mid = m["merchantId"].as_i64().unwrap().to_string();
    let out = run(
        &db,
        &[
            "user",
            "create",
            "--merchant",
            &mid,
            "--email",
            "a@shop.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some("a long enough password\n"),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let served = start_serve(&db);
    let health = reqwest::get(format!("http://127.0.0.1:{}/healthz", served.port))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let log = stop_serve(served);
    assert!(!log.contains("/setup?token="), "{log}");
    db.drop_database().await;
}
