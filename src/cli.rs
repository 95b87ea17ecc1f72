//! The administrative commands of CONTRACT section 2. Each prints one JSON object
//! with `--json`, a readable line otherwise; errors go to standard error.

use std::io::BufRead;

use crate::auth::{self, Role};
use crate::config::{ClientCommand, MerchantCommand, UserCommand};
use crate::db::Db;
use crate::merchants::{self, MerchantId};

fn print(json: bool, value: serde_json::Value, human: String) {
    if json {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

pub async fn merchant(db: &Db, cmd: MerchantCommand) -> anyhow::Result<()> {
    match cmd {
        MerchantCommand::Create { name, json } => {
            let (merchant, product) = merchants::create(db, &name).await?;
            print(
                json,
                serde_json::json!({"merchantId": merchant.id, "productId": product.id}),
                format!(
                    "created merchant {} with product {}",
                    merchant.id, product.id
                ),
            );
        }
    }
    Ok(())
}

pub async fn user(db: &Db, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            merchant,
            email,
            role,
            password_stdin: _,
            json,
        } => {
            let role =
                Role::parse(&role).ok_or_else(|| anyhow::anyhow!("role must be admin or staff"))?;
            let password = read_password_line()?;
            let user =
                auth::create_user(db, MerchantId(merchant), &email, &password, role, "UTC").await?;
            print(
                json,
                serde_json::to_value(&user)?,
                format!(
                    "created {} user {} ({})",
                    user.role.as_str(),
                    user.email,
                    user.user_id
                ),
            );
        }
    }
    Ok(())
}

pub async fn client(db: &Db, cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Create {
            merchant,
            name,
            json,
        } => {
            let c = auth::create_api_client(db, MerchantId(merchant), &name).await?;
            print(
                json,
                serde_json::to_value(&c)?,
                format!(
                    "client id:     {}\nclient secret: {}\n(the secret is shown only now)",
                    c.client_id, c.client_secret
                ),
            );
        }
    }
    Ok(())
}

/// Seeds links, reporting progress on standard error (the answer alone goes to
/// standard output).
pub async fn seed(db: &Db, merchant: MerchantId, count: u64, json: bool) -> anyhow::Result<()> {
    merchants::get(db, merchant).await?;
    let started = std::time::Instant::now();
    let mut last_report = started;
    let seeded = crate::links::seed::seed(db, merchant, count, chrono::Utc::now(), |done| {
        if last_report.elapsed().as_secs() >= 5 {
            last_report = std::time::Instant::now();
            eprintln!("seeded {} of {count} links", done.links);
        }
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    print(
        json,
        serde_json::json!({"links": seeded.links, "payments": seeded.payments, "seconds": seconds}),
        format!(
            "seeded {} links and {} payments for merchant {} in {seconds:.1} s",
            seeded.links, seeded.payments, merchant
        ),
    );
    Ok(())
}

/// The first line of standard input, without its line ending.
fn read_password_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_string())
}
