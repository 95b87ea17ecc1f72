//! First-run setup, sign-in and sign-out.

use std::sync::LazyLock;

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{csrf_token, see_other, set_flash, start_session, Flash, Form, NoFields, SignedIn};
use crate::auth::{self, AuthError, SetupRequest};
use crate::startup::AppState;
use crate::web::PageError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/setup", web::get().to(setup_page))
        .route("/setup", web::post().to(setup));
}

/// Every IANA time zone name, for the time zone selects.
pub static TIME_ZONES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect());

async fn home(req: HttpRequest) -> HttpResponse {
    let signed_in = req
        .get_session()
        .get::<String>(super::session::USER_KEY)
        .ok()
        .flatten()
        .is_some();
    see_other(if signed_in { "/links" } else { "/login" })
}

fn render(status: StatusCode, page: impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(PageError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

#[derive(Template)]
#[template(path = "backoffice/login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// Only paths of this site are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/links".to_string(),
    }
}

async fn login_page(
    req: HttpRequest,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    let session = req.get_session();
    if session
        .get::<String>(super::session::USER_KEY)
        .ok()
        .flatten()
        .is_some()
    {
        return Ok(see_other(&safe_next(query.next.as_deref())));
    }
    render(
        StatusCode::OK,
        LoginPage {
            csrf: csrf_token(&session),
            email: String::new(),
            next: safe_next(query.next.as_deref()),
            error: None,
            notice: query
                .signed_out
                .as_ref()
                .map(|_| "You have signed out.".to_string()),
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn login(
    req: HttpRequest,
    Form(form): Form<LoginForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let session = req.get_session();
    // The peer address, not X-Forwarded-For: a header anyone can forge would let
    // an attacker dodge the per-address limit.
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let next = safe_next(form.next.as_deref());
    match auth::sign_in(
        &state.db,
        &form.email,
        &form.password,
        &address,
        chrono::Utc::now(),
    )
    .await
    {
        Ok(user) => {
            start_session(&session, &user);
            Ok(see_other(&next))
        }
        Err(e @ (AuthError::BadCredentials | AuthError::Throttled)) => {
            let status = match e {
                AuthError::Throttled => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let message = match e {
                AuthError::Throttled => {
                    "Too many failed sign-ins. Please wait 15 minutes and try again."
                }
                _ => "Email or password is incorrect.",
            };
            render(
                status,
                LoginPage {
                    csrf: csrf_token(&session),
                    email: form.email,
                    next,
                    error: Some(message.to_string()),
                    notice: None,
                },
            )
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

async fn logout(signed_in: SignedIn, Form(_): Form<NoFields>) -> HttpResponse {
    signed_in.session.purge();
    see_other("/login?signed_out=1")
}

#[derive(Template)]
#[template(path = "backoffice/setup.html")]
struct SetupPage<'a> {
    csrf: String,
    token: String,
    merchant_name: String,
    email: String,
    time_zone: String,
    time_zones: &'a [&'static str],
    error: Option<String>,
}

#[derive(Deserialize)]
struct SetupQuery {
    token: Option<String>,
}

async fn setup_page(
    req: HttpRequest,
    query: web::Query<SetupQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let token = query.token.clone().unwrap_or_default();
    if !auth::setup_token_is_valid(&state.db, &token)
        .await
        .map_err(PageError::internal)?
    {
        return Err(PageError::NotFound);
    }
    render(
        StatusCode::OK,
        SetupPage {
            csrf: csrf_token(&req.get_session()),
            token,
            merchant_name: String::new(),
            email: String::new(),
            time_zone: "UTC".into(),
            time_zones: &TIME_ZONES,
            error: None,
        },
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetupForm {
    token: String,
    merchant_name: String,
    email: String,
    password: String,
    time_zone: String,
}

async fn setup(
    req: HttpRequest,
    Form(form): Form<SetupForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let session: Session = req.get_session();
    let request = SetupRequest {
        token: &form.token,
        merchant_name: &form.merchant_name,
        email: &form.email,
        password: &form.password,
        time_zone: &form.time_zone,
    };
    match auth::complete_setup(&state.db, &request).await {
        Ok(user) => {
            start_session(&session, &user);
            set_flash(
                &session,
                Flash::ok("Your merchant account is ready. Create your first payment link."),
            );
            Ok(see_other("/links"))
        }
        Err(AuthError::SetupTokenInvalid) => Err(PageError::NotFound),
        Err(
            e @ (AuthError::InvalidEmail(_)
            | AuthError::ShortPassword
            | AuthError::InvalidTimeZone(_)
            | AuthError::Merchant(crate::merchants::MerchantError::InvalidName)),
        ) => render(
            StatusCode::BAD_REQUEST,
            SetupPage {
                csrf: csrf_token(&session),
                token: form.token,
                merchant_name: form.merchant_name,
                email: form.email,
                time_zone: form.time_zone,
                time_zones: &TIME_ZONES,
                error: Some(capitalize(&e.to_string())),
            },
        ),
        Err(e) => Err(PageError::internal(e)),
    }
}

/// Error texts start lowercase for composing; a sentence on a page starts upper.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
