//! What every HTML page shares, backoffice and payment page alike: the static
//! assets (embedded in the binary), the page security headers, and the error page.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use askama::Template;

/// The policy of every HTML page: scripts and styles only from `/static`, no
/// inline script, no plugins, no framing, forms only to this origin.
pub const PAGE_CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../static/style.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../static/app.js"),
    },
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{file}", web::get().to(asset));
}

async fn asset(file: web::Path<String>) -> Result<HttpResponse, PageError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == file.as_str())
        .ok_or(PageError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(asset.body))
}

/// Adds the page headers to a response (the API's stricter policy would block
/// the stylesheet).
pub fn with_page_headers(mut res: HttpResponse) -> HttpResponse {
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(PAGE_CSP),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    res
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    heading: &'a str,
    message: &'a str,
}

/// The error of the HTML layers, shown as an error page. Details of internal
/// errors go to the log only.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("too many requests")]
    TooManyRequests,
    #[error("internal error: {0}")]
    Internal(String),
    /// Not signed in (or the session ended): go to the sign-in page, then back.
    #[error("sign-in required")]
    SignIn(Option<String>),
}

impl PageError {
    pub fn internal(e: impl std::fmt::Display) -> PageError {
        PageError::Internal(e.to_string())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Forbidden => StatusCode::FORBIDDEN,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::SignIn(_) => StatusCode::SEE_OTHER,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let PageError::SignIn(next) = self {
            let location = match next {
                Some(n) => format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
                ),
                None => "/login".to_string(),
            };
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let (heading, message) = match self {
            PageError::SignIn(_) => unreachable!("answered above"),
            PageError::NotFound => ("Page not found", "There is nothing at this address."),
            PageError::Forbidden => ("Not allowed", "You do not have access to this page."),
            PageError::BadRequest(m) => ("Something is wrong with the request", m.as_str()),
            PageError::TooManyRequests => (
                "Too many attempts",
                "Please wait a few minutes and try again.",
            ),
            PageError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error on a page");
                (
                    "Something went wrong",
                    "The error has been logged. Please try again.",
                )
            }
        };
        let status = self.status_code();
        let page = ErrorPage {
            status: status.as_u16(),
            heading,
            message,
        };
        let body = page.render().unwrap_or_else(|_| heading.to_string());
        with_page_headers(
            HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(body),
        )
    }
}

/// For every path no route claims.
pub async fn not_found() -> Result<HttpResponse, PageError> {
    Err(PageError::NotFound)
}
