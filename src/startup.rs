//! Building and running the application: database, migrations, the HTTP server
//! and the background work that runs beside it. Tests build it on port 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{self, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};
use chrono::Utc;

use crate::config::Settings;
use crate::db::Db;
use crate::{api, auth, email, links, notifications, random, telemetry};

/// What every request handler may reach.
pub struct AppState {
    pub db: Db,
    pub settings: Settings,
    /// Signs session cookies and CSRF tokens.
    pub secret_key: String,
    /// Authorises, captures, voids and refunds card payments; the sandbox unless
    /// a real connector is chosen here.
    pub acquirer: Arc<dyn crate::payments::Acquirer>,
    /// The HTTP client notifications go out with (the dispatcher's and the
    /// backoffice's test send), with the address check of CONTRACT section 7.
    pub notifier: notifications::Sender,
    /// Sends link and receipt emails; `None` when SMTP is not configured.
    pub mailer: Option<email::Mailer>,
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

/// How often overdue links are written down as EXPIRED (the contract allows 10 s).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// How often unfinished payments are reconciled with the acquirer.
const RECONCILE_INTERVAL: Duration = Duration::from_secs(30);
/// How often expired tokens and old idempotency keys are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);
/// How long an Idempotency-Key is remembered.
const IDEMPOTENCY_TTL: chrono::Duration = chrono::Duration::hours(24);

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // Before anything else: a bad email setting stops the start with a
        // message that says which.
        let mailer = email::Mailer::from_settings(
            settings.smtp_url.as_deref(),
            settings.mail_from.as_deref(),
        )?;
        let db = Db::connect(&settings.database_url).await?;
        db.migrate().await?;
        let secret_key = match &settings.secret_key {
            Some(k) => k.clone(),
            // Kept in the database so that sessions survive restarts and every
            // instance on one PostgreSQL database signs alike.
            None => {
                db.setting_or_insert("secret_key", &random::base64_bytes(64))
                    .await?
            }
        };
        if let Some(token) = auth::ensure_setup_token(&db).await? {
            tracing::info!(
                "no user yet: open {}/setup?token={} to create the first merchant and admin",
                settings.public_url,
                token
            );
        }
        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        let notifier = notifications::Sender::new(settings.allow_private_webhooks)?;
        let state = web::Data::new(AppState {
            db,
            settings,
            secret_key,
            acquirer: Arc::new(crate::payments::SandboxAcquirer::new()),
            notifier,
            mailer,
        });
        let server_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(server_state.clone())
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer"))
                        .add((
                            "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                        )),
                )
                .wrap(middleware::from_fn(telemetry::log_requests))
                .route("/healthz", web::get().to(healthz))
                .configure(api::routes)
                .configure(crate::web::routes)
                .configure(crate::shopper::routes)
                // Last: the backoffice scope has an empty prefix and answers the rest.
                .service(crate::backoffice::scope(&server_state))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        match &state.mailer {
            Some(m) => tracing::info!(from = %m.from(), "link and receipt emails are sent"),
            None => tracing::info!("email is off: PAYBYLINK_SMTP_URL is not set"),
        }
        tracing::info!(port, backend = state.db.backend(), "listening");
        Ok(Application {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT or SIGTERM (actix-web stops gracefully on either),
    /// running the background work beside the server and stopping it after.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run(true).await
    }

    /// Serves; `background: false` leaves out the expiry sweep, housekeeping and
    /// the notification and email dispatchers, for tests that must see the
    /// database exactly as requests left it (they can drive
    /// [`AppState::dispatcher`] and [`AppState::email_dispatcher`] by hand).
    pub async fn run(self, background: bool) -> anyhow::Result<()> {
        let background = background.then(|| {
            let mut tasks = vec![
                tokio::spawn(run_background(self.state.clone())),
                tokio::spawn(self.state.dispatcher().run_until_stopped()),
            ];
            if let Some(emails) = self.state.email_dispatcher() {
                tasks.push(tokio::spawn(emails.run_until_stopped()));
            }
            tasks
        });
        let served = self.server.await;
        // An attempt cut short here keeps its lease until it runs out; it is
        // then made again, by this instance after a restart or by another.
        for task in background.iter().flatten() {
            task.abort();
        }
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(served?)
    }
}

impl AppState {
    /// A notification dispatcher on this state's database and HTTP client.
    pub fn dispatcher(&self) -> notifications::Dispatcher {
        notifications::Dispatcher::new(
            self.db.clone(),
            self.notifier.clone(),
            self.settings.notify_retry_delays.clone(),
        )
    }

    /// What link rules depend on in this configuration.
    pub fn link_rules(&self) -> crate::links::Rules {
        crate::links::Rules {
            allow_private_webhooks: self.settings.allow_private_webhooks,
            mail_configured: self.mailer.is_some(),
        }
    }

    /// An email dispatcher on this state's database and mailer, when SMTP is
    /// configured. Its retries start with the notification delays.
    pub fn email_dispatcher(&self) -> Option<email::Dispatcher> {
        let mailer = self.mailer.clone()?;
        Some(email::Dispatcher::new(
            self.db.clone(),
            mailer,
            email::RetryPolicy::new(self.settings.notify_retry_delays.clone()),
        ))
    }

    /// What queueing an email needs: whether SMTP is configured, and the base
    /// of the URLs the emails carry.
    pub fn outbox(&self) -> email::Outbox<'_> {
        email::Outbox {
            enabled: self.mailer.is_some(),
            public_url: &self.settings.public_url,
        }
    }
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unreachable")
        }
    }
}

/// The expiry sweep and housekeeping; each step logs its failure and goes on.
async fn run_background(state: web::Data<AppState>) {
    let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
    let mut prune = tokio::time::interval(PRUNE_INTERVAL);
    let mut reconcile = tokio::time::interval(RECONCILE_INTERVAL);
    loop {
        tokio::select! {
            _ = reconcile.tick() => {
                if let Err(e) = crate::payments::reconcile(&state.db, state.acquirer.as_ref(), &state.settings.public_url, Utc::now()).await {
                    tracing::warn!(error = %e, "payment reconciliation failed");
                }
            }
            _ = sweep.tick() => {
                if let Err(e) = sweep_once(&state).await {
                    tracing::warn!(error = %e, "expiry sweep failed");
                }
            }
            _ = prune.tick() => {
                let now = Utc::now();
                if let Err(e) = state.db.prune_sessions(now).await {
                    tracing::warn!(error = %e, "pruning sessions failed");
                }
                if let Err(e) = state.db.prune_access_tokens(now).await {
                    tracing::warn!(error = %e, "pruning tokens failed");
                }
                if let Err(e) = state.db.prune_idempotency_keys(now - IDEMPOTENCY_TTL).await {
                    tracing::warn!(error = %e, "pruning idempotency keys failed");
                }
            }
        }
    }
}

/// One pass of the expiry sweep; returns how many links it expired.
pub async fn sweep_once(state: &AppState) -> anyhow::Result<usize> {
    let n = links::expire_due(&state.db, &state.settings.public_url, Utc::now()).await?;
    if n > 0 {
        tracing::info!(expired = n, "expired overdue links");
    }
    Ok(n)
}
