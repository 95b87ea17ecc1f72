//! actix-session's server-side store, kept in our database: a session key is a
//! bearer secret, so only its SHA-256 is stored, beside the user it belongs to so
//! that deactivating a user or resetting a password ends the user's sessions.

use std::collections::HashMap;

use actix_session::storage::{
    generate_session_key, LoadError, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::cookie::time::Duration;
use chrono::Utc;

use crate::db::Db;
use crate::random::sha256_hex;

/// Session keys that tie a session to a user; dropped when such a session
/// turns out to have been ended elsewhere.
pub const USER_KEY: &str = "user_id";

pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> DbSessionStore {
        DbSessionStore { db }
    }
}

fn expiry(ttl: &Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(ttl.whole_seconds())
}

/// The user id in a session's state (values are JSON-encoded by actix-session).
fn user_of(state: &HashMap<String, String>) -> Option<String> {
    state
        .get(USER_KEY)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let state = self
            .db
            .session_state(&sha256_hex(key.as_ref()), Utc::now())
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        state
            .map(|s| serde_json::from_str(&s).map_err(|e| LoadError::Deserialization(e.into())))
            .transpose()
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let key = generate_session_key();
        let json = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        self.db
            .put_session(
                &sha256_hex(key.as_ref()),
                user_of(&state).as_deref(),
                &json,
                expiry(ttl),
            )
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let updated = self
            .db
            .update_session(
                &sha256_hex(key.as_ref()),
                user_of(&state).as_deref(),
                &json,
                expiry(ttl),
            )
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            return Ok(key);
        }
        // The session was ended meanwhile (sign-out elsewhere, user deactivated):
        // never bring it back; keep only what does not sign anyone in.
        let mut anonymous = state;
        anonymous.remove(USER_KEY);
        self.save(anonymous, ttl)
            .await
            .map_err(|e| UpdateError::Other(e.into()))
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        Ok(self
            .db
            .touch_session(&sha256_hex(key.as_ref()), expiry(ttl))
            .await?)
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        Ok(self.db.delete_session(&sha256_hex(key.as_ref())).await?)
    }
}
