//! Command line and configuration (CONTRACT section 2). Every setting of `serve` is
//! a flag and an environment variable; `DATABASE_URL` applies to every command.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "paybylink", version, about = "Self-hosted Pay-By-Link service")]
pub struct Cli {
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://paybylink.db",
        global = true
    )]
    pub database_url: String,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve HTTP (the default).
    Serve(ServeArgs),
    /// Apply migrations and exit.
    Migrate,
    /// Manage merchants.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Manage backoffice users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API credentials.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Fill a merchant's account with realistic links (for benchmarks and demos).
    Seed {
        #[arg(long)]
        merchant: i64,
        /// How many links to add.
        #[arg(long)]
        links: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant with one default product.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a backoffice user; the password is read from standard input.
    Create {
        #[arg(long)]
        merchant: i64,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["admin", "staff"])]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create API credentials; the secret is printed once.
    Create {
        #[arg(long)]
        merchant: i64,
        #[arg(long, default_value = "default")]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "PAYBYLINK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Base of every link URL shown to shoppers; defaults to http:// + bind address.
    #[arg(long, env = "PAYBYLINK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Key for session cookies and CSRF tokens; generated once and kept in the
    /// database when not given.
    #[arg(long, env = "PAYBYLINK_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Allow notification URLs on loopback or private addresses.
    #[arg(long, env = "PAYBYLINK_ALLOW_PRIVATE_WEBHOOKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private_webhooks: bool,
    /// Notification retry delays in seconds.
    #[arg(long, env = "PAYBYLINK_NOTIFY_RETRY_DELAYS", default_value = "1,2,4,8,16", value_parser = parse_delays)]
    pub notify_retry_delays: RetryDelays,
    /// SMTP server for link and receipt emails.
    #[arg(long, env = "PAYBYLINK_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of those emails.
    #[arg(long, env = "PAYBYLINK_MAIL_FROM")]
    pub mail_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryDelays(pub Vec<u64>);

fn parse_delays(s: &str) -> Result<RetryDelays, String> {
    let delays = s
        .split(',')
        .map(|d| {
            d.trim()
                .parse::<u64>()
                .map_err(|_| format!("{d:?} is not a number of seconds"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RetryDelays(delays))
}

impl ServeArgs {
    /// The settings when no `serve` subcommand was given: environment and defaults.
    pub fn from_env() -> ServeArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::parse_from(["paybylink"]).serve
    }
}

/// The resolved settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    pub public_url: String,
    pub secret_key: Option<String>,
    pub allow_private_webhooks: bool,
    pub notify_retry_delays: Vec<u64>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
}

impl Settings {
    pub fn new(database_url: String, args: ServeArgs) -> Settings {
        let public_url = args
            .public_url
            .unwrap_or_else(|| format!("http://{}", args.bind))
            .trim_end_matches('/')
            .to_string();
        Settings {
            database_url,
            bind: args.bind,
            public_url,
            secret_key: args.secret_key,
            allow_private_webhooks: args.allow_private_webhooks,
            notify_retry_delays: args.notify_retry_delays.0,
            smtp_url: args.smtp_url,
            mail_from: args.mail_from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_parse() {
        assert_eq!(parse_delays("1,2, 4").unwrap(), RetryDelays(vec![1, 2, 4]));
        assert!(parse_delays("1,x").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
