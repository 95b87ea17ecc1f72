//! `POST /oauth/token`: OAuth2 client credentials (RFC 6749 §4.4), with errors as
//! §5.2 describes them.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use base64::Engine;
use serde::Serialize;

use crate::auth::{self, AuthError};
use crate::startup::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OAuthError {
    error: &'static str,
    error_description: String,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.error_description)
    }
}

impl OAuthError {
    fn new(error: &'static str, description: &str) -> OAuthError {
        OAuthError {
            error,
            error_description: description.to_string(),
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self.error {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.error == "invalid_client" {
            res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"paybylink\""));
        }
        res.json(self)
    }
}

/// Credentials from HTTP Basic (form-urlencoded id and secret, per RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

#[utoipa::path(
    post, path = "/oauth/token", tag = "Authentication",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials, with client_id and client_secret here or in HTTP Basic"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = OAuthError, description = "unsupported_grant_type or invalid_request"),
        (status = 401, body = OAuthError, description = "invalid_client"),
    )
)]
pub async fn token(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let mut grant_type = None;
    let mut form_id = None;
    let mut form_secret = None;
    for (k, v) in url::form_urlencoded::parse(&body) {
        match k.as_ref() {
            "grant_type" => grant_type = Some(v.into_owned()),
            "client_id" => form_id = Some(v.into_owned()),
            "client_secret" => form_secret = Some(v.into_owned()),
            _ => {}
        }
    }
    match grant_type.as_deref() {
        None => return Err(OAuthError::new("invalid_request", "grant_type is required")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "only client_credentials is supported",
            ))
        }
    }
    let (id, secret) = match (basic_credentials(&req), form_id, form_secret) {
        (Some(basic), _, _) => basic,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => {
            return Err(OAuthError::new(
                "invalid_client",
                "client credentials are required",
            ))
        }
    };
    match auth::issue_token(&state.db, &id, &secret, chrono::Utc::now()).await {
        Ok(t) => Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(TokenResponse {
                access_token: t.access_token,
                token_type: "Bearer",
                expires_in: t.expires_in,
            })),
        Err(AuthError::InvalidClient) => Err(OAuthError::new(
            "invalid_client",
            "unknown client or wrong secret",
        )),
        Err(e) => {
            tracing::error!(error = %e, "token issue failed");
            Err(OAuthError::new(
                "server_error",
                "the token could not be issued",
            ))
        }
    }
}
