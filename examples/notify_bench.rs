//! Benchmark of the notification dispatcher (issue 5's performance goal):
//! 10,000 pending notifications to a local receiver that answers 200 should all
//! be delivered within 10 seconds, on SQLite and on PostgreSQL. Not part of
//! `cargo test`; run it on a quiet machine:
//!
//! ```sh
//! cargo run --release --example notify_bench                 # SQLite, in a temp dir
//! BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release --example notify_bench               # and PostgreSQL
//! ```
//!
//! For PostgreSQL it creates a database of its own next to the one in the URL and
//! drops it afterwards. It prints deliveries per second and exits non-zero when
//! the goal is missed or a notification arrived twice.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use paybylink::db::Db;
use paybylink::notifications::{Dispatcher, Sender};

const EVENTS: i64 = 10_000;
const GOAL: Duration = Duration::from_secs(10);

type Seen = Arc<Mutex<(usize, HashSet<String>)>>;

async fn receive(req: HttpRequest, _body: web::Bytes, seen: web::Data<Seen>) -> HttpResponse {
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut s = seen.lock().unwrap();
    s.0 += 1;
    s.1.insert(id);
    HttpResponse::Ok().finish()
}

/// Plain SQL on the benchmark's database, beside the service's own pools.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn connect(url: &str) -> anyhow::Result<Raw> {
        Ok(if url.starts_with("sqlite:") {
            Raw::Sqlite(sqlx::SqlitePool::connect(url).await?)
        } else {
            Raw::Postgres(sqlx::PgPool::connect(url).await?)
        })
    }

    async fn exec(&self, sql: &str) -> anyhow::Result<()> {
        match self {
            Raw::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ())?,
            Raw::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ())?,
        }
        Ok(())
    }

    async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        Ok(match self {
            Raw::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
            Raw::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
        })
    }

    async fn close(&self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Postgres(p) => p.close().await,
        }
    }
}

/// Runs the benchmark on `url`; true when the goal is met without duplicates.
async fn bench(label: &str, url: &str) -> anyhow::Result<bool> {
    let seen: Seen = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(2)
    .listen(listener)?
    .disable_signals()
    .run();
    let receiver = server.handle();
    tokio::spawn(server);

    let db = Db::connect(url).await?;
    db.migrate().await?;
    let (merchant, product) = paybylink::merchants::create(&db, "Bench").await?;
    db.set_notification_uri(merchant.id, Some(&format!("http://127.0.0.1:{port}/hook")))
        .await?;
    // 10,000 overdue links; the expiry sweep turns them into 10,000 events.
    let insert = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {EVENTS})
         INSERT INTO links (id, merchant_id, product_id, url_code, status, amount_minor,
            currency, country, merchant_transaction_id, customer_id, due_date, language,
            created_at, updated_at)
         SELECT 'bench' || i, {m}, {p}, 'code' || i, 'CREATED', 1000 + i, 'EUR', 'ES',
            'order-' || i, 'customer', 1, 'EN', 0, 0
         FROM n",
        m = merchant.id,
        p = product.id
    );
    let count = "SELECT COUNT(*) FROM events WHERE delivery_status = 'delivered'";
    let raw = Raw::connect(url).await?;
    raw.exec(&insert).await?;
    let expired =
        paybylink::links::expire_due(&db, "http://bench.test", chrono::Utc::now()).await?;
    anyhow::ensure!(expired as i64 == EVENTS, "{expired} events written");

    let started = Instant::now();
    let dispatcher = tokio::spawn(
        Dispatcher::new(db.clone(), Sender::new(true)?, vec![1, 2, 4, 8, 16]).run_until_stopped(),
    );
    let mut delivered = 0;
    while started.elapsed() < Duration::from_secs(60) {
        delivered = raw.scalar(count).await?;
        if delivered >= EVENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    dispatcher.abort();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (requests, distinct) = {
        let s = seen.lock().unwrap();
        (s.0, s.1.len())
    };
    receiver.stop(false).await;
    raw.close().await;
    db.close().await;
    let rate = delivered as f64 / elapsed.as_secs_f64();
    let ok = delivered == EVENTS && elapsed <= GOAL && requests == distinct;
    println!(
        "{label}: {delivered} of {EVENTS} delivered in {:.2} s = {rate:.0} deliveries/s; \
         {requests} requests, {} duplicates; goal {} s: {}",
        elapsed.as_secs_f64(),
        requests - distinct,
        GOAL.as_secs(),
        if ok { "met" } else { "MISSED" }
    );
    Ok(ok)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut ok = bench("SQLite", &sqlite).await?;

    if let Ok(admin) = std::env::var("BENCH_POSTGRES_URL") {
        let name = format!("pbl_bench_{}", std::process::id());
        let pool = sqlx::PgPool::connect(&admin).await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&pool)
            .await?;
        let mut url = url::Url::parse(&admin)?;
        url.set_path(&name);
        let result = bench("PostgreSQL", url.as_str()).await;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&pool)
            .await?;
        ok &= result?;
    } else {
        println!("PostgreSQL: skipped (set BENCH_POSTGRES_URL)");
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
