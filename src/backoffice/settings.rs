//! Admin settings: users and API credentials (the notification settings are in
//! `backoffice::notifications`). Staff are refused every page here with 403.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::account::{capitalize, TIME_ZONES};
use super::forms::display_time;
use super::{see_other, set_flash, Chrome, Flash, Form, NoFields, SignedIn};
use crate::auth::{self, AuthError, Role};
use crate::db::from_millis;
use crate::startup::AppState;
use crate::web::PageError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/settings",
        web::get().to(|| async { see_other("/settings/notifications") }),
    )
    .route("/settings/users", web::get().to(users_page))
    .route("/settings/users", web::post().to(add_user))
    .route(
        "/settings/users/{id}/deactivate",
        web::post().to(deactivate_user),
    )
    .route(
        "/settings/users/{id}/password",
        web::post().to(reset_password),
    )
    .route("/settings/api-clients", web::get().to(clients_page))
    .route("/settings/api-clients", web::post().to(create_client))
    .route(
        "/settings/api-clients/{id}/revoke",
        web::post().to(revoke_client),
    );
}

fn html(status: StatusCode, page: impl Template) -> Result<HttpResponse, PageError> {
    let body = page.render().map_err(PageError::internal)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// The sub-navigation of the settings pages.
pub(super) const TABS: [(&str, &str); 3] = [
    ("notifications", "Notifications"),
    ("users", "Users"),
    ("api-clients", "API credentials"),
];

// -------------------------------------------------------------------- users

struct UserRow {
    id: String,
    email: String,
    role: &'static str,
    active: bool,
    is_self: bool,
    time_zone: String,
}

#[derive(Template)]
#[template(path = "backoffice/settings/users.html")]
struct UsersPage<'a> {
    chrome: Chrome,
    tabs: &'static [(&'static str, &'static str)],
    tab: &'static str,
    users: Vec<UserRow>,
    email: String,
    role: String,
    time_zone: String,
    time_zones: &'a [&'static str],
    error: Option<String>,
}

async fn users_page_with(
    user: &SignedIn,
    state: &AppState,
    status: StatusCode,
    typed: Option<&NewUserForm>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let users = auth::users_of(&state.db, user.merchant())
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|u| UserRow {
            is_self: u.id == user.user.id,
            role: u.role.as_str(),
            active: u.active,
            time_zone: u.time_zone.name().to_string(),
            email: u.email,
            id: u.id,
        })
        .collect();
    html(
        status,
        UsersPage {
            chrome: user.chrome("settings"),
            tabs: &TABS,
            tab: "users",
            users,
            email: typed.map(|t| t.email.clone()).unwrap_or_default(),
            role: typed.map_or_else(|| "staff".to_string(), |t| t.role.clone()),
            time_zone: typed.map_or_else(
                || user.user.time_zone.name().to_string(),
                |t| t.time_zone.clone(),
            ),
            time_zones: &TIME_ZONES,
            error,
        },
    )
}

async fn users_page(user: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    users_page_with(&user, &state, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewUserForm {
    email: String,
    role: String,
    password: String,
    time_zone: String,
}

async fn add_user(
    user: SignedIn,
    Form(form): Form<NewUserForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    let Some(role) = Role::parse(&form.role) else {
        return users_page_with(
            &user,
            &state,
            StatusCode::BAD_REQUEST,
            Some(&form),
            Some("Choose a role.".into()),
        )
        .await;
    };
    match auth::create_user(
        &state.db,
        user.merchant(),
        &form.email,
        &form.password,
        role,
        &form.time_zone,
    )
    .await
    {
        Ok(created) => {
            set_flash(
                &user.session,
                Flash::ok(format!(
                    "User {} added as {}.",
                    created.email,
                    role.as_str()
                )),
            );
            Ok(see_other("/settings/users"))
        }
        Err(
            e @ (AuthError::InvalidEmail(_)
            | AuthError::ShortPassword
            | AuthError::DuplicateEmail(_)
            | AuthError::InvalidTimeZone(_)),
        ) => {
            users_page_with(
                &user,
                &state,
                StatusCode::BAD_REQUEST,
                Some(&form),
                Some(format!("{}.", capitalize(&e.to_string()))),
            )
            .await
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

async fn deactivate_user(
    user: SignedIn,
    id: web::Path<String>,
    Form(_): Form<NoFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    if *id == user.user.id {
        set_flash(
            &user.session,
            Flash::error("You cannot deactivate yourself."),
        );
        return Ok(see_other("/settings/users"));
    }
    match auth::deactivate_user(&state.db, user.merchant(), &id).await {
        Ok(()) => set_flash(
            &user.session,
            Flash::ok("User deactivated; their sessions have ended."),
        ),
        Err(AuthError::UnknownUser) => return Err(PageError::NotFound),
        Err(e) => return Err(PageError::internal(e)),
    }
    Ok(see_other("/settings/users"))
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

async fn reset_password(
    user: SignedIn,
    id: web::Path<String>,
    Form(form): Form<PasswordForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    match auth::reset_password(&state.db, user.merchant(), &id, &form.password).await {
        Ok(()) => set_flash(
            &user.session,
            Flash::ok("Password reset; the user's sessions have ended."),
        ),
        Err(AuthError::UnknownUser) => return Err(PageError::NotFound),
        Err(e @ AuthError::ShortPassword) => set_flash(
            &user.session,
            Flash::error(format!("{}.", capitalize(&e.to_string()))),
        ),
        Err(e) => return Err(PageError::internal(e)),
    }
    if *id == user.user.id {
        // Resetting one's own password ends one's own session too.
        return Ok(see_other("/login"));
    }
    Ok(see_other("/settings/users"))
}

// -------------------------------------------------------------- API clients

struct ClientView {
    id: String,
    name: String,
    created: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "backoffice/settings/api_clients.html")]
struct ClientsPage {
    chrome: Chrome,
    tabs: &'static [(&'static str, &'static str)],
    tab: &'static str,
    clients: Vec<ClientView>,
    /// The new credentials, shown only on the page that created them.
    created: Option<auth::NewClient>,
    error: Option<String>,
}

async fn clients_page_with(
    user: &SignedIn,
    state: &AppState,
    status: StatusCode,
    created: Option<auth::NewClient>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let tz = user.user.time_zone;
    let clients = state
        .db
        .api_clients_of(user.merchant())
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|c| ClientView {
            id: c.id,
            name: c.name,
            created: display_time(from_millis(c.created_at), tz),
            revoked: c.revoked_at.map(|t| display_time(from_millis(t), tz)),
        })
        .collect();
    html(
        status,
        ClientsPage {
            chrome: user.chrome("settings"),
            tabs: &TABS,
            tab: "api-clients",
            clients,
            created,
            error,
        },
    )
}

async fn clients_page(
    user: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    clients_page_with(&user, &state, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
struct ClientForm {
    name: String,
}

async fn create_client(
    user: SignedIn,
    Form(form): Form<ClientForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    match auth::create_api_client(&state.db, user.merchant(), &form.name).await {
        // Rendered, not redirected: the secret is shown this once and never stored.
        Ok(created) => clients_page_with(&user, &state, StatusCode::OK, Some(created), None).await,
        Err(e @ AuthError::InvalidClientName) => {
            clients_page_with(
                &user,
                &state,
                StatusCode::BAD_REQUEST,
                None,
                Some(format!("{}.", capitalize(&e.to_string()))),
            )
            .await
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

async fn revoke_client(
    user: SignedIn,
    id: web::Path<String>,
    Form(_): Form<NoFields>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    user.require_admin()?;
    if !state
        .db
        .revoke_api_client(user.merchant(), &id)
        .await
        .map_err(PageError::internal)?
    {
        return Err(PageError::NotFound);
    }
    set_flash(
        &user.session,
        Flash::ok("Credentials revoked; their tokens stop working now."),
    );
    Ok(see_other("/settings/api-clients"))
}
