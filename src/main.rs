use std::process::ExitCode;

use clap::Parser;
use paybylink::config::{Cli, Command, ServeArgs, Settings};
use paybylink::db::Db;
use paybylink::merchants::MerchantId;
use paybylink::{cli, startup::Application, telemetry};

// See Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Cli) -> anyhow::Result<()> {
    let serve = |serve_args: ServeArgs| Settings::new(args.database_url.clone(), serve_args);
    match args.command {
        None => {
            Application::build(serve(ServeArgs::from_env()))
                .await?
                .run_until_stopped()
                .await
        }
        Some(Command::Serve(a)) => {
            Application::build(serve(a))
                .await?
                .run_until_stopped()
                .await
        }
        Some(command) => {
            let db = Db::connect(&args.database_url).await?;
            db.migrate().await?;
            let result = match command {
                Command::Migrate => Ok(()),
                Command::Merchant(c) => cli::merchant(&db, c).await,
                Command::User(c) => cli::user(&db, c).await,
                Command::Client(c) => cli::client(&db, c).await,
                Command::Seed {
                    merchant,
                    links,
                    json,
                } => cli::seed(&db, MerchantId(merchant), links, json).await,
                Command::Serve(_) => unreachable!("handled above"),
            };
            db.close().await;
            result
        }
    }
}
