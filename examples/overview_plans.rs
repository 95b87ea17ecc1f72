//! The query plan of every overview filter on a seeded database, as the
//! database chooses it for the query the backoffice really sends
//! (`Db::explain_list_links`). Exits non-zero when a plan reads the whole
//! links table. Called by `bench/run.sh` after `paybylink seed`:
//!
//! ```sh
//! DATABASE_URL=sqlite://bench.db cargo run --release --example overview_plans -- --merchant 10450
//! ```
//!
//! On PostgreSQL the plans are EXPLAIN ANALYZE: they run, and show their times.

use chrono::{Duration, Utc};
use paybylink::db::Db;
use paybylink::links::{Cursor, ListQuery, SortKey, Status, WithPayments};
use paybylink::merchants::MerchantId;

/// Whether a plan line reads every row of `links` (not an index range, not the
/// trigram index `links_search`).
fn full_scan(line: &str) -> bool {
    let line = line.trim_start_matches(|c: char| !c.is_ascii_alphabetic());
    // SQLite: "SCAN links" (a SEARCH uses an index range; "SCAN links_search
    // VIRTUAL TABLE" is the trigram index). PostgreSQL: "Seq Scan on links".
    line == "SCAN links"
        || line.starts_with("SCAN links ")
        || line.contains("Seq Scan on links ")
        || line.ends_with("Seq Scan on links")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://paybylink.db".into());
    let mut args = std::env::args().skip(1);
    let merchant = match (args.next().as_deref(), args.next()) {
        (Some("--merchant"), Some(id)) => MerchantId(id.parse()?),
        _ => anyhow::bail!("usage: overview_plans --merchant ID"),
    };
    let db = Db::connect(&url).await?;
    let now = Utc::now();
    // Search terms taken from the data: one customer's id (a handful of links),
    // an order number's prefix, and a word of many descriptions.
    let newest = db
        .list_links(merchant, &ListQuery::default(), 1, WithPayments::No, now)
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("merchant {merchant} has no links; seed it first"))?;
    let year_ago = ListQuery {
        created_to: Some(now - Duration::days(365)),
        ..ListQuery::default()
    };
    let middle = db
        .list_links(merchant, &year_ago, 1, WithPayments::No, now)
        .await?
        .pop()
        .unwrap_or_else(|| newest.clone());
    let deep = Cursor::of(&middle, SortKey::Created);

    let q = |text: &str| Some(text.to_string());
    let statuses = |s: &[Status]| s.to_vec();
    let filters: Vec<(String, ListQuery)> = vec![
        ("no filter".into(), ListQuery::default()),
        (
            "deep page by cursor".into(),
            ListQuery {
                after: Some(deep),
                ..ListQuery::default()
            },
        ),
    ]
    .into_iter()
    .chain(Status::ALL.iter().map(|s| {
        (
            format!("status {}", s.as_str()),
            ListQuery {
                statuses: vec![*s],
                ..ListQuery::default()
            },
        )
    }))
    .chain([
        (
            "status PAID or REFUNDED".into(),
            ListQuery {
                statuses: statuses(&[Status::Paid, Status::Refunded]),
                ..ListQuery::default()
            },
        ),
        (
            format!("text {:?}", newest.customer_id),
            ListQuery {
                q: q(&newest.customer_id),
                ..ListQuery::default()
            },
        ),
        (
            format!("status PAID + text {:?}", newest.customer_id),
            ListQuery {
                statuses: vec![Status::Paid],
                q: q(&newest.customer_id),
                ..ListQuery::default()
            },
        ),
        (
            "status CREATED + text \"ord-2026\" (broad)".into(),
            ListQuery {
                statuses: vec![Status::Created],
                q: q("ord-2026"),
                ..ListQuery::default()
            },
        ),
        (
            "status PAID + text \"invoice\" (broad)".into(),
            ListQuery {
                statuses: vec![Status::Paid],
                q: q("invoice"),
                ..ListQuery::default()
            },
        ),
        (
            "text \"zz\" (two letters)".into(),
            ListQuery {
                q: q("zz"),
                ..ListQuery::default()
            },
        ),
        (
            "currency EUR, created in the last 30 days".into(),
            ListQuery {
                currency: paybylink::money::Currency::parse("EUR"),
                created_from: Some(now - Duration::days(30)),
                ..ListQuery::default()
            },
        ),
        (
            "sorted by due date".into(),
            ListQuery {
                sort: SortKey::Due,
                ..ListQuery::default()
            },
        ),
        (
            "sorted by amount".into(),
            ListQuery {
                sort: SortKey::Amount,
                ..ListQuery::default()
            },
        ),
        (
            "sorted by status".into(),
            ListQuery {
                sort: SortKey::Status,
                ..ListQuery::default()
            },
        ),
    ])
    .collect();

    let mut scans = Vec::new();
    for (label, query) in &filters {
        // The overview asks for one row more than a page, to know if there is a next.
        let plan = db.explain_list_links(merchant, query, 51, now).await?;
        println!("-- {label}");
        for line in &plan {
            println!("   {line}");
        }
        if plan.iter().any(|l| full_scan(l)) {
            scans.push(label.clone());
        }
    }
    db.close().await;
    if !scans.is_empty() {
        eprintln!("full table scan in: {}", scans.join("; "));
        std::process::exit(1);
    }
    println!("no plan scans the whole links table");
    Ok(())
}
