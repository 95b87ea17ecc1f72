//! The merchant backoffice (CONTRACT section 8): server-rendered pages for staff
//! and admins. This module holds what every page shares: the session, the
//! signed-in user, CSRF-checked forms, flash messages and the page chrome.
//! Handlers parse, call the domain (`links`, `auth`, `merchants`) and render.

use std::future::Future;
use std::pin::Pin;

use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::User;
use crate::startup::AppState;
use crate::web::{PageError, PAGE_CSP};

pub mod account;
pub mod emails;
pub mod forms;
pub mod link_form;
pub mod links;
pub mod notifications;
pub mod refunds;
pub mod session;
pub mod settings;

/// Signed in for longer than this, a user signs in again.
pub const ABSOLUTE_TIMEOUT: chrono::Duration = chrono::Duration::hours(8);
/// Idle for longer than this, a user signs in again.
pub const IDLE_TIMEOUT: chrono::Duration = chrono::Duration::minutes(30);
/// `last_seen` is written at most this often, so reading pages costs no write.
const LAST_SEEN_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);
/// Form bodies above this are refused.
const FORM_LIMIT: usize = 64 * 1024;

const SIGNED_IN_AT: &str = "signed_in_at";
const LAST_SEEN: &str = "last_seen";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
pub const CSRF_FIELD: &str = "csrf_token";

/// The backoffice routes, behind the session middleware and page headers. It is
/// registered last: its empty prefix would otherwise shadow other routes.
pub fn scope(
    state: &web::Data<AppState>,
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    use sha2::Digest;
    let key = Key::from(&sha2::Sha512::digest(state.secret_key.as_bytes()));
    let sessions = SessionMiddleware::builder(session::DbSessionStore::new(state.db.clone()), key)
        .cookie_name("pbl_session".into())
        .cookie_secure(state.settings.public_url.starts_with("https://"))
        .cookie_same_site(SameSite::Lax)
        .cookie_http_only(true)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl(actix_web::cookie::time::Duration::seconds(
                    ABSOLUTE_TIMEOUT.num_seconds(),
                ))
                .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build();
    web::scope("")
        .wrap(sessions)
        .wrap(
            DefaultHeaders::new()
                .add((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
                .add((header::X_FRAME_OPTIONS, "DENY"))
                .add((header::CACHE_CONTROL, "no-store"))
                // Not `no-referrer`: under it browsers send `Origin: null` on
                // form posts, which would blind the Origin check below.
                .add((header::REFERRER_POLICY, "same-origin")),
        )
        .configure(account::routes)
        .configure(links::routes)
        .configure(refunds::routes)
        .configure(notifications::routes)
        .configure(emails::routes)
        .configure(settings::routes)
        .default_service(web::to(crate::web::not_found))
}

/// A message shown once on the next page.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
    pub items: Vec<String>,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Flash {
        Flash {
            ok: true,
            text: text.into(),
            items: Vec::new(),
        }
    }

    pub fn error(text: impl Into<String>) -> Flash {
        Flash {
            ok: false,
            text: text.into(),
            items: Vec::new(),
        }
    }
}

pub fn set_flash(session: &Session, flash: Flash) {
    let _ = session.insert(FLASH, flash);
}

/// What the layout needs on every signed-in page.
pub struct Chrome {
    pub email: String,
    pub is_admin: bool,
    pub csrf: String,
    pub flash: Option<Flash>,
    /// Which navigation entry is current: "links", "new", "settings".
    pub section: &'static str,
}

/// The signed-in user of a backoffice request. Extracting it enforces the idle
/// and absolute timeouts and that the user is still active; otherwise the
/// request is sent to the sign-in page.
pub struct SignedIn {
    pub user: User,
    pub session: Session,
}

impl SignedIn {
    pub fn chrome(&self, section: &'static str) -> Chrome {
        Chrome {
            email: self.user.email.clone(),
            is_admin: self.user.is_admin(),
            csrf: csrf_token(&self.session),
            // `remove` marks the session changed even when there is nothing to
            // remove, and a changed session is written back: one database write
            // per page view.
            flash: if self.session.contains_key(FLASH) {
                self.session.remove_as::<Flash>(FLASH).and_then(Result::ok)
            } else {
                None
            },
            section,
        }
    }

    /// Admin pages: staff get 403.
    pub fn require_admin(&self) -> Result<(), PageError> {
        if self.user.is_admin() {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    pub fn merchant(&self) -> crate::merchants::MerchantId {
        self.user.merchant_id
    }
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<SignedIn, PageError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let next = match req.method() {
            &actix_web::http::Method::GET => req.uri().path_and_query().map(|p| p.to_string()),
            _ => None,
        };
        Box::pin(async move {
            let state = state.ok_or_else(|| PageError::internal("no app state"))?;
            let sign_in = || PageError::SignIn(next.clone());
            let user_id = session
                .get::<String>(session::USER_KEY)
                .ok()
                .flatten()
                .ok_or_else(sign_in)?;
            let now = Utc::now().timestamp_millis();
            let signed_in_at = session.get::<i64>(SIGNED_IN_AT).ok().flatten().unwrap_or(0);
            let last_seen = session.get::<i64>(LAST_SEEN).ok().flatten().unwrap_or(0);
            if now - signed_in_at > ABSOLUTE_TIMEOUT.num_milliseconds()
                || now - last_seen > IDLE_TIMEOUT.num_milliseconds()
            {
                session.purge();
                return Err(sign_in());
            }
            let user = match crate::auth::user(&state.db, &user_id)
                .await
                .map_err(PageError::internal)?
            {
                Some(u) if u.active => u,
                _ => {
                    session.purge();
                    return Err(sign_in());
                }
            };
            if now - last_seen > LAST_SEEN_GRANULARITY.num_milliseconds() {
                let _ = session.insert(LAST_SEEN, now);
            }
            Ok(SignedIn { user, session })
        })
    }
}

/// Starts a signed-in session for `user` under a new session id.
pub fn start_session(session: &Session, user: &User) {
    session.renew();
    session.clear();
    let now = Utc::now().timestamp_millis();
    let _ = session.insert(session::USER_KEY, &user.id);
    let _ = session.insert(SIGNED_IN_AT, now);
    let _ = session.insert(LAST_SEEN, now);
    let _ = session.insert(CSRF, crate::random::base64_bytes(32));
}

/// The session's CSRF token, made on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    let token = crate::random::base64_bytes(32);
    let _ = session.insert(CSRF, &token);
    token
}

/// A form with nothing but its CSRF token (sign-out, confirmations).
#[derive(Deserialize)]
pub struct NoFields {}

/// A form body of type `T`, accepted only with the session's CSRF token and,
/// when the browser names one, a same-origin `Origin`. Anything else is 403.
pub struct Form<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Form<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Form<T>, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let origin_ok = same_origin(req);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|_| PageError::BadRequest("The form could not be read.".into()))?;
            if body.len() > FORM_LIMIT {
                return Err(PageError::BadRequest("The form is too large.".into()));
            }
            let sent = url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == CSRF_FIELD)
                .map(|(_, v)| v.into_owned());
            let expected = session.get::<String>(CSRF).ok().flatten();
            let token_ok = matches!((&sent, &expected), (Some(s), Some(e)) if crate::random::constant_time_eq(s, e));
            if !token_ok || !origin_ok {
                return Err(PageError::Forbidden);
            }
            serde_html_form::from_bytes::<T>(&body)
                .map(Form)
                .map_err(|e| PageError::BadRequest(format!("The form is not valid: {e}")))
        })
    }
}

/// True unless the request carries an `Origin` of another site. Browsers send
/// `Origin` on every cross-site POST, so a forged form from elsewhere is refused
/// even before its token is looked at.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return true;
    };
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    let public = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| url::Url::parse(&s.settings.public_url).ok())
        .map(|u| u.origin().ascii_serialization());
    origin == own || Some(origin.to_string()) == public
}

/// 303 See Other to `location`: where a form post goes next.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
