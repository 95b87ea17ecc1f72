//! `paybylink seed`: fills a merchant's account with realistic links, so that the
//! overview, the search and the API can be measured at the size of a busy
//! merchant (`bench/run.sh` seeds 1,000,000). The data look like two years of
//! trade: links created day after day, older ones mostly paid or expired, recent
//! ones still open; several currencies; descriptions, order numbers and customer
//! ids of the kind staff search for; a payment (sometimes after a decline) for
//! every paid link.

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Language, Link, LinkError, Payment, Status};
use crate::db::Db;
use crate::merchants::MerchantId;
use crate::money::Currency;
use crate::random;

/// Links generated and written per transaction: large enough that commits are
/// rare, small enough that memory stays flat and the writer lock is released
/// between batches (a server may be running on the same database). Batches of
/// 50,000 were no faster: 79 s for 1M links against 67 to 70 s, since FTS5
/// merges more at each larger commit.
const BATCH: usize = 20_000;

/// How far back the oldest seeded link was created.
const HISTORY: Duration = Duration::days(730);

/// Distinct customers: a customer id matches a handful of links, as a real one does.
const CUSTOMERS: u32 = 200_000;

#[derive(Debug, serde::Serialize)]
pub struct Seeded {
    pub links: u64,
    pub payments: u64,
}

/// Adds `count` links to `merchant` (with its first product), created between two
/// years ago and `now`, oldest first. Reports what it wrote after each batch
/// through `progress`.
pub async fn seed(
    db: &Db,
    merchant: MerchantId,
    count: u64,
    now: DateTime<Utc>,
    mut progress: impl FnMut(&Seeded),
) -> Result<Seeded, LinkError> {
    let product = db
        .products(merchant)
        .await?
        .into_iter()
        .next()
        .ok_or(LinkError::ForeignMerchant)?;
    // A fixed seed: two runs of the same size describe the same trade (the ids
    // and URL codes stay random, so a second run adds rather than collides).
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let start = now - HISTORY;
    let step_ms = (HISTORY.num_milliseconds() / count.max(1) as i64).max(1);
    let product = product.id;
    // The links are made on a thread of their own, one batch ahead of the
    // database: made on the writing task, they held up every write for the
    // time the next batch took to make.
    let (batches, mut next_batch) = tokio::sync::mpsc::channel::<Vec<Link>>(1);
    let maker = std::thread::spawn(move || {
        let mut from = 0;
        while from < count {
            let n = BATCH.min((count - from) as usize) as u64;
            let batch = (from..from + n)
                .map(|k| {
                    let created = start
                        + Duration::milliseconds(k as i64 * step_ms)
                        + Duration::milliseconds(rng.random_range(0..step_ms));
                    one_link(&mut rng, merchant, product, k, created.min(now), now)
                })
                .collect();
            if batches.blocking_send(batch).is_err() {
                return; // the writer stopped on an error
            }
            from += n;
        }
    });
    let mut done = Seeded {
        links: 0,
        payments: 0,
    };
    while let Some(batch) = next_batch.recv().await {
        db.insert_links_bulk(&batch).await?;
        done.links += batch.len() as u64;
        done.payments += batch.iter().map(|l| l.payments.len() as u64).sum::<u64>();
        progress(&done);
    }
    // A panic while making links is a bug here, not a database state: pass it on.
    if let Err(panic) = maker.join() {
        std::panic::resume_unwind(panic);
    }
    db.settle_after_bulk_load().await?;
    Ok(done)
}

/// Weighted choice: `table` lists (weight, value).
fn pick<T: Copy>(rng: &mut StdRng, table: &[(u32, T)]) -> T {
    let total: u32 = table.iter().map(|(w, _)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (w, v) in table {
        if roll < *w {
            return *v;
        }
        roll -= w;
    }
    table[table.len() - 1].1
}

const CURRENCIES: &[(u32, &str)] = &[
    (70, "EUR"),
    (12, "USD"),
    (10, "GBP"),
    (4, "CHF"),
    (3, "JPY"),
    (1, "KWD"),
];

const COUNTRIES: &[(u32, &str)] = &[
    (40, "ES"),
    (15, "FR"),
    (12, "DE"),
    (10, "GB"),
    (8, "IT"),
    (6, "PT"),
    (5, "NL"),
    (4, "US"),
];

const DESCRIPTIONS: &[&str] = &[
    "Invoice",
    "Hotel booking, 2 nights",
    "Annual membership renewal",
    "Consultation fee",
    "Spare parts order",
    "Deposit for event catering",
    "Monthly subscription",
    "Repair service",
    "Language course, spring term",
    "Airport transfer",
    "Furniture delivery",
    "Photography session",
    "Car rental extension",
    "Dental check-up",
    "Wine club shipment",
];

const SURNAMES: &[&str] = &[
    "garcia",
    "martin",
    "lopez",
    "sanchez",
    "perez",
    "gomez",
    "fernandez",
    "dubois",
    "muller",
    "smith",
    "rossi",
    "silva",
    "jansen",
    "brown",
    "moreau",
    "weber",
];

fn one_link(
    rng: &mut StdRng,
    merchant: MerchantId,
    product: crate::merchants::ProductId,
    k: u64,
    created: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Link {
    let currency = Currency::parse(pick(rng, CURRENCIES)).expect("seed currencies are ISO 4217");
    // Amounts from 5 to 2,000 whole units, most of them small.
    let units = 5.0 * (400f64).powf(rng.random::<f64>().powi(2));
    let amount_minor = (units * 10f64.powi(currency.minor_digits() as i32)).round() as i64;
    let due_date = created + Duration::days(pick(rng, &[(2, 1), (5, 7), (2, 14), (1, 30)]));
    let open = due_date > now;
    let status = if open {
        pick(
            rng,
            &[
                (70, Status::Created),
                (25, Status::Paid),
                (5, Status::Cancelled),
            ],
        )
    } else {
        pick(
            rng,
            &[
                (62, Status::Paid),
                (28, Status::Expired),
                (10, Status::Cancelled),
            ],
        )
    };
    let customer = rng.random_range(0..CUSTOMERS);
    let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
    let description = DESCRIPTIONS[rng.random_range(0..DESCRIPTIONS.len())];
    let (updated_at, paid_at, payments) = match status {
        Status::Paid => {
            let paid = (created + Duration::minutes(rng.random_range(1..60 * 24 * 3))).min(now);
            let payments = payments(rng, amount_minor, created, paid);
            (paid, Some(paid), payments)
        }
        Status::Cancelled => {
            let at = (created + Duration::hours(rng.random_range(1..48))).min(now);
            (at, None, Vec::new())
        }
        // As the expiry sweep leaves them: stored EXPIRED at their due date.
        Status::Expired => (due_date, None, Vec::new()),
        _ => (created, None, Vec::new()),
    };
    Link {
        id: random::time_ordered_id(created),
        merchant_id: merchant,
        product_id: product,
        url_code: random::alphanumeric(16),
        stored_status: status,
        amount_minor,
        currency,
        country: pick(rng, COUNTRIES).to_string(),
        merchant_transaction_id: format!("ORD-{}-{:07}", created.format("%Y"), k + 1),
        description: Some(format!("{description} {}", k % 9973 + 1)),
        customer_id: format!("CUST-{customer:06}"),
        due_date,
        language: if rng.random_bool(0.6) {
            Language::Es
        } else {
            Language::En
        },
        merchant_params: None,
        reference_id: rng
            .random_bool(0.3)
            .then(|| format!("REF-{}", rng.random_range(100_000..1_000_000))),
        code: None,
        created_at: created,
        updated_at,
        paid_at,
        payments_allowed: Some(1),
        payments_approved: i64::from(status == Status::Paid),
        notification_url: None,
        customer_email: rng
            .random_bool(0.5)
            .then(|| format!("{surname}.{customer}@example.com")),
        send_by_email: false,
        receiver_emails: Vec::new(),
        taxes: Vec::new(),
        allowed_payment_methods: Vec::new(),
        additional: Vec::new(),
        payments,
    }
}

/// The approved payment of a paid link, after a declined attempt one time in ten.
fn payments(
    rng: &mut StdRng,
    amount_minor: i64,
    created: DateTime<Utc>,
    paid: DateTime<Utc>,
) -> Vec<Payment> {
    let card = |rng: &mut StdRng, status: &str, at| Payment {
        id: crate::payments::new_transaction_id(),
        status: status.to_string(),
        amount_minor,
        brand: Some(pick(rng, &[(6, "visa"), (3, "master"), (1, "amex")]).to_string()),
        last4: Some(format!("{:04}", rng.random_range(0..10_000))),
        created_at: at,
        refunds: Vec::new(),
    };
    let mut out = Vec::with_capacity(2);
    if rng.random_bool(0.1) {
        let at = created + (paid - created) / 2;
        out.push(card(rng, "DECLINED", at));
    }
    out.push(card(rng, "APPROVED", paid));
    out
}
