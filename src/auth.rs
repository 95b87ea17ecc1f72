//! Who may do what: backoffice users (Argon2id passwords), API clients (OAuth2
//! client credentials) and their bearer tokens, and the first-run setup token.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};

use chrono_tz::Tz;

use crate::db::auth::{NewUserRow, UserRow};
use crate::db::{Db, DbError};
use crate::merchants::{self, MerchantError, MerchantId};
use crate::random;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const TOKEN_LIFETIME: Duration = Duration::hours(1);
const SETUP_TOKEN_KEY: &str = "setup_token_hash";

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Staff,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("{0:?} is not a valid email address")]
    InvalidEmail(String),
    #[error("a user with email {0} already exists")]
    DuplicateEmail(String),
    #[error("client name must be 1 to 100 characters")]
    InvalidClientName,
    #[error("unknown client or wrong secret")]
    InvalidClient,
    #[error(transparent)]
    Merchant(#[from] MerchantError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("{0:?} is not a known time zone")]
    InvalidTimeZone(String),
    #[error("too many failed sign-ins; try again later")]
    Throttled,
    #[error("email or password is incorrect")]
    BadCredentials,
    #[error("the setup link is no longer valid")]
    SetupTokenInvalid,
    #[error("user not found")]
    UnknownUser,
}

/// A syntactically plausible email address: one `@`, a local part, a dotted
/// domain, no spaces. Stored lowercased, so sign-in ignores case.
pub fn normalize_email(email: &str) -> Result<String, AuthError> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && matches!(e.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@')
               && !domain.starts_with('.') && !domain.ends_with('.'));
    if ok {
        Ok(e)
    } else {
        Err(AuthError::InvalidEmail(email.to_string()))
    }
}

/// Hashes a password with Argon2id (the crate's default), off the async threads.
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| AuthError::Hash(e.to_string()))?
}

/// Checks a password against a stored hash, off the async threads.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub user_id: String,
    pub email: String,
    pub role: Role,
}

fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AuthError::ShortPassword);
    }
    Ok(())
}

/// An IANA time zone name, like `Europe/Madrid` or `UTC`.
pub fn parse_time_zone(name: &str) -> Result<Tz, AuthError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| AuthError::InvalidTimeZone(name.to_string()))
}

pub async fn create_user(
    db: &Db,
    merchant: MerchantId,
    email: &str,
    password: &str,
    role: Role,
    time_zone: &str,
) -> Result<NewUser, AuthError> {
    let email = normalize_email(email)?;
    check_password(password)?;
    let tz = parse_time_zone(time_zone)?;
    merchants::get(db, merchant).await?;
    let hash = hash_password(password.to_string()).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let row = NewUserRow {
        id: &id,
        merchant,
        email: &email,
        password_hash: &hash,
        role: role.as_str(),
        time_zone: tz.name(),
    };
    match db.insert_user(&row).await {
        Err(e) if e.is_unique_violation() => Err(AuthError::DuplicateEmail(email)),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(NewUser {
            user_id: id,
            email,
            role,
        }),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewClient {
    pub client_id: String,
    /// Shown once; only its hash is kept.
    pub client_secret: String,
}

pub async fn create_api_client(
    db: &Db,
    merchant: MerchantId,
    name: &str,
) -> Result<NewClient, AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AuthError::InvalidClientName);
    }
    merchants::get(db, merchant).await?;
    let client_id = format!("pbl_{}", random::hex(24));
    let client_secret = format!("pbls_{}", random::base64_bytes(32));
    db.insert_api_client(
        &client_id,
        merchant,
        name,
        &random::sha256_hex(&client_secret),
    )
    .await?;
    Ok(NewClient {
        client_id,
        client_secret,
    })
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

/// OAuth2 client credentials: a valid, unrevoked client gets a bearer token.
pub async fn issue_token(
    db: &Db,
    client_id: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<IssuedToken, AuthError> {
    let Some((merchant, stored_hash)) = db.active_api_client(client_id).await? else {
        return Err(AuthError::InvalidClient);
    };
    if !random::constant_time_eq(&stored_hash, &random::sha256_hex(secret)) {
        return Err(AuthError::InvalidClient);
    }
    let token = random::base64_bytes(32);
    db.insert_access_token(
        &random::sha256_hex(&token),
        client_id,
        merchant,
        now + TOKEN_LIFETIME,
    )
    .await?;
    Ok(IssuedToken {
        access_token: token,
        expires_in: TOKEN_LIFETIME.num_seconds(),
    })
}

/// The merchant a bearer token acts for, if the token is live.
pub async fn merchant_for_token(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<MerchantId>, AuthError> {
    Ok(db
        .token_owner(&random::sha256_hex(token), now)
        .await?
        .map(|(m, _)| m))
}

/// A signed-in backoffice user, as loaded for each request.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub merchant_id: MerchantId,
    pub email: String,
    pub role: Role,
    pub active: bool,
    pub time_zone: Tz,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl TryFrom<UserRow> for User {
    type Error = AuthError;

    fn try_from(r: UserRow) -> Result<User, AuthError> {
        Ok(User {
            role: Role::parse(&r.role)
                .ok_or_else(|| AuthError::Db(DbError::Corrupt(format!("user {} role", r.id))))?,
            time_zone: r.time_zone.parse().unwrap_or(Tz::UTC),
            merchant_id: MerchantId(r.merchant_id),
            email: r.email,
            active: r.active != 0,
            id: r.id,
        })
    }
}

pub async fn user(db: &Db, id: &str) -> Result<Option<User>, AuthError> {
    db.user_by_id(id).await?.map(User::try_from).transpose()
}

pub async fn users_of(db: &Db, merchant: MerchantId) -> Result<Vec<User>, AuthError> {
    db.users_of(merchant)
        .await?
        .into_iter()
        .map(User::try_from)
        .collect()
}

/// Failed sign-ins allowed per account and per client address in the window.
pub const MAX_FAILURES: i64 = 5;
pub const FAILURE_WINDOW: Duration = Duration::minutes(15);

/// An Argon2id hash of a random password, checked when the email is unknown so that
/// a wrong email takes as long as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(random::base64_bytes(16).as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Checks credentials, throttled per account and per client address. Unknown
/// email, wrong password and deactivated user all give the same error.
pub async fn sign_in(
    db: &Db,
    email: &str,
    password: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<User, AuthError> {
    let account = email.trim().to_lowercase();
    let (by_account, by_address) = db
        .login_failures_since(&account, address, now - FAILURE_WINDOW)
        .await?;
    if by_account >= MAX_FAILURES || by_address >= MAX_FAILURES {
        return Err(AuthError::Throttled);
    }
    let row = db.user_by_email(&account).await?;
    let hash = row
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |r| r.password_hash.clone());
    let password_ok = verify_password(password.to_string(), hash).await;
    match row {
        Some(r) if password_ok && r.active != 0 => User::try_from(r),
        _ => {
            db.record_login_failure(&account, address, now).await?;
            Err(AuthError::BadCredentials)
        }
    }
}

/// Whether `token` is the live setup token.
pub async fn setup_token_is_valid(db: &Db, token: &str) -> Result<bool, AuthError> {
    Ok(match db.setting(SETUP_TOKEN_KEY).await? {
        Some(hash) => {
            random::constant_time_eq(&hash, &random::sha256_hex(token))
                && db.user_count().await? == 0
        }
        None => false,
    })
}

pub struct SetupRequest<'a> {
    pub token: &'a str,
    pub merchant_name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub time_zone: &'a str,
}

/// Creates the first merchant and its admin with the one-time setup token; the
/// token is dead afterwards, also for a concurrent second attempt.
pub async fn complete_setup(db: &Db, req: &SetupRequest<'_>) -> Result<User, AuthError> {
    let name = req.merchant_name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(MerchantError::InvalidName.into());
    }
    let email = normalize_email(req.email)?;
    check_password(req.password)?;
    let tz = parse_time_zone(req.time_zone)?;
    let hash = hash_password(req.password.to_string()).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let row = NewUserRow {
        id: &id,
        merchant: MerchantId(0),
        email: &email,
        password_hash: &hash,
        role: Role::Admin.as_str(),
        time_zone: tz.name(),
    };
    let secret = merchants::new_webhook_secret();
    match db
        .complete_setup(&random::sha256_hex(req.token), name, &secret, &row)
        .await?
    {
        Some(_) => user(db, &id).await?.ok_or(AuthError::UnknownUser),
        None => Err(AuthError::SetupTokenInvalid),
    }
}

pub async fn deactivate_user(db: &Db, merchant: MerchantId, id: &str) -> Result<(), AuthError> {
    if db.deactivate_user(merchant, id).await? {
        Ok(())
    } else {
        Err(AuthError::UnknownUser)
    }
}

pub async fn reset_password(
    db: &Db,
    merchant: MerchantId,
    id: &str,
    password: &str,
) -> Result<(), AuthError> {
    check_password(password)?;
    let hash = hash_password(password.to_string()).await?;
    if db.set_password(merchant, id, &hash).await? {
        Ok(())
    } else {
        Err(AuthError::UnknownUser)
    }
}

/// On a database without users, makes a fresh one-time setup token (replacing any
/// earlier one) and returns it; only its hash is stored.
pub async fn ensure_setup_token(db: &Db) -> Result<Option<String>, AuthError> {
    if db.user_count().await? > 0 {
        return Ok(None);
    }
    let token = random::base64_bytes(24);
    db.put_setting(SETUP_TOKEN_KEY, &random::sha256_hex(&token))
        .await?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "a b@x.com",
            "ana@x",
            "a@b@c.com",
            "ana@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), h.clone()).await);
        assert!(!verify_password("wrong".into(), h).await);
    }
}
