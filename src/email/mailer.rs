//! The SMTP side: `PAYBYLINK_SMTP_URL` and `PAYBYLINK_MAIL_FROM` read once at
//! start-up (a bad value stops the start with a message saying which), and one
//! message sent per attempt through lettre's tokio transport over rustls.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Attempt, Outcome, Rendered};

/// How long one SMTP command may wait for the server.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a whole send may take (connect, TLS, authenticate, deliver).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the email settings were refused at start-up. The messages never repeat
/// the SMTP URL: it may hold a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "PAYBYLINK_SMTP_URL is set but PAYBYLINK_MAIL_FROM is not: set the sender address of \
         link and receipt emails, e.g. PAYBYLINK_MAIL_FROM='Shoe Shop <payments@example.com>'"
    )]
    MissingFrom,
    #[error(
        "PAYBYLINK_MAIL_FROM {0:?} is not an email address ({1}); \
         use payments@example.com or 'Shoe Shop <payments@example.com>'"
    )]
    BadFrom(String, String),
    #[error(
        "PAYBYLINK_SMTP_URL is not a usable SMTP URL: {0}; \
         use smtp://host:port, optionally with user:password@ before the host and ?tls=required"
    )]
    BadUrl(String),
}

/// Sends the outbox's emails: an SMTP transport and the sender address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The sender's domain, for Message-Ids.
    domain: String,
}

impl std::fmt::Debug for Mailer {
    // The transport holds the credentials: show the sender only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The mailer of the settings: `None` when no SMTP URL is set (email is
    /// off); an error when the URL or the sender address is unusable, or the
    /// sender is missing.
    pub fn from_settings(
        smtp_url: Option<&str>,
        mail_from: Option<&str>,
    ) -> Result<Option<Mailer>, ConfigError> {
        let smtp_url = smtp_url.map(str::trim).filter(|u| !u.is_empty());
        let mail_from = mail_from.map(str::trim).filter(|f| !f.is_empty());
        // A sender without a server is checked too: a typo shows at once, not
        // on the day a server is added.
        let from = mail_from.map(parse_from).transpose()?;
        let Some(url) = smtp_url else {
            if from.is_some() {
                tracing::warn!(
                    "PAYBYLINK_MAIL_FROM is set but PAYBYLINK_SMTP_URL is not: no email is sent"
                );
            }
            return Ok(None);
        };
        check_url(url)?;
        let from = from.ok_or(ConfigError::MissingFrom)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ConfigError::BadUrl(e.to_string()))?
            .timeout(Some(COMMAND_TIMEOUT))
            .build();
        let domain = from.email.domain().to_string();
        Ok(Some(Mailer {
            transport,
            from,
            domain,
        }))
    }

    /// The sender address, for people.
    pub fn from(&self) -> String {
        self.from.to_string()
    }

    /// Sends one email and tells how it went. `id` (the outbox row's) is the
    /// Message-Id's local part, the same on every attempt, so a receiver can
    /// tell a repeat after a lost answer from a new message.
    pub async fn send(&self, id: &str, recipient: &str, message: &Rendered) -> Attempt {
        let at = Utc::now();
        let started = Instant::now();
        let (outcome, reply, error) = match self.build(id, recipient, message) {
            Err(e) => (Outcome::Permanent, None, Some(e)),
            Ok(m) => match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(m)).await {
                Ok(Ok(response)) => {
                    let text = response.message().collect::<Vec<_>>().join(" ");
                    let reply = format!("{} {}", response.code(), text);
                    (Outcome::Sent, Some(reply.trim().to_string()), None)
                }
                Ok(Err(e)) if e.is_permanent() => (Outcome::Permanent, None, Some(e.to_string())),
                Ok(Err(e)) => (Outcome::Temporary, None, Some(e.to_string())),
                Err(_) => (
                    Outcome::Temporary,
                    None,
                    Some(format!(
                        "no answer from the SMTP server within {} s",
                        SEND_TIMEOUT.as_secs()
                    )),
                ),
            },
        };
        attempt(at, started, outcome, reply, error)
    }

    fn build(&self, id: &str, recipient: &str, m: &Rendered) -> Result<Message, String> {
        let to: Mailbox = recipient
            .parse()
            .map_err(|e| format!("the address {recipient:?} is not valid: {e}"))?;
        let auto_submitted = HeaderName::new_from_ascii_str("Auto-Submitted");
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(one_line(&m.subject))
            .message_id(Some(format!("<{id}@{}>", self.domain)))
            // Tells auto-responders not to answer (RFC 3834).
            .raw_header(HeaderValue::new(auto_submitted, "auto-generated".into()))
            .multipart(MultiPart::alternative_plain_html(
                m.text.clone(),
                m.html.clone(),
            ))
            .map_err(|e| format!("the message could not be built: {e}"))
    }
}

fn attempt(
    at: DateTime<Utc>,
    started: Instant,
    outcome: Outcome,
    reply: Option<String>,
    error: Option<String>,
) -> Attempt {
    Attempt {
        at,
        duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        outcome,
        reply,
        error,
    }
}

fn parse_from(text: &str) -> Result<Mailbox, ConfigError> {
    text.parse::<Mailbox>()
        .map_err(|e| ConfigError::BadFrom(text.to_string(), e.to_string()))
}

/// The checks lettre leaves out or words for programmers: the scheme, a host,
/// and only the `tls` parameter, with a value lettre knows.
fn check_url(text: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| Err(ConfigError::BadUrl(why.to_string()));
    let Ok(url) = url::Url::parse(text) else {
        return bad("it is not a URL");
    };
    if !matches!(url.scheme(), "smtp" | "smtps") {
        return bad("the scheme must be smtp:// (or smtps:// for TLS from the start)");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("it names no host");
    }
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), value.as_ref()) {
            ("tls", "required" | "opportunistic") if url.scheme() == "smtp" => {}
            ("tls", _) => return bad("tls must be required or opportunistic (with smtp://)"),
            _ => return bad("the only parameter it takes is tls"),
        }
    }
    Ok(())
}

/// A header value on one line: user text (a merchant name) must not start a
/// header of its own.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: Option<&str>, from: Option<&str>) -> ConfigError {
        Mailer::from_settings(url, from).expect_err("refused")
    }

    #[tokio::test]
    async fn settings_are_checked_at_start_up() {
        assert!(Mailer::from_settings(None, None).unwrap().is_none());
        assert!(Mailer::from_settings(Some(" "), None).unwrap().is_none());
        assert_eq!(
            err(Some("smtp://127.0.0.1:2525"), None),
            ConfigError::MissingFrom
        );
        assert!(matches!(
            err(Some("smtp://127.0.0.1:2525"), Some("not an address")),
            ConfigError::BadFrom(..)
        ));
        assert!(matches!(err(None, Some("shop@")), ConfigError::BadFrom(..)));
        for url in [
            "127.0.0.1:25",
            "http://mail.example.com",
            "smtp://",
            "smtp://mail.example.com?tls=maybe",
            "smtp://mail.example.com?tsl=required",
        ] {
            assert!(
                matches!(
                    err(Some(url), Some("a@example.com")),
                    ConfigError::BadUrl(_)
                ),
                "{url}"
            );
        }
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:p%40ss@mail.example.com:587?tls=required",
            "smtps://mail.example.com",
        ] {
            let m = Mailer::from_settings(Some(url), Some("Shoe Shop <pay@example.com>"))
                .unwrap()
                .expect("a mailer");
            assert_eq!(m.domain, "example.com");
        }
    }

    #[test]
    fn errors_never_repeat_the_url() {
        let e = err(
            Some("smtp://user:secret@mail.example.com?x=1"),
            Some("a@b.c"),
        );
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(one_line("Shop\r\nBcc: x@y.z"), "Shop  Bcc: x@y.z");
    }
}
