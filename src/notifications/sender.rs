//! Sending one notification over HTTP. One client is kept for the life of the
//! process (its connections are reused). Unless private addresses are allowed,
//! every address is checked where the connection is made: host names go through
//! a resolver that refuses any non-public answer and hands the connector only the
//! addresses it checked, so a name cannot resolve to a public address for the
//! check and to a private one for the connection; literal addresses are checked
//! before sending. Redirects are not followed and no proxy is used (a proxy would
//! resolve the host itself, out of reach of the check).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{check_addresses, parse_url, Attempt, SigningKeys, UrlError};

/// An attempt without an answer in this time has failed.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// At most this much of an answer's body is read (and thrown away).
const BODY_READ_LIMIT: usize = 64 * 1024;

/// How an attempt went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration: Duration,
}

impl Outcome {
    pub fn into_attempt(self, at: DateTime<Utc>, url: Option<String>) -> Attempt {
        Attempt {
            at,
            duration_ms: i64::try_from(self.duration.as_millis()).unwrap_or(i64::MAX),
            url,
            status_code: self.status_code,
            error: self.error,
        }
    }
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("allow_private", &self.allow_private)
            .finish()
    }
}

impl Sender {
    /// `allow_private`: also send to loopback and private addresses
    /// (`PAYBYLINK_ALLOW_PRIVATE_WEBHOOKS`, for local development and tests).
    pub fn new(allow_private: bool) -> Result<Sender, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckingResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("paybylink/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender {
            client,
            allow_private,
        })
    }

    /// POSTs `body` to `url` with the Standard Webhooks headers. Only an answer
    /// within [`TIMEOUT`] counts; its status is reported whatever it is.
    pub async fn post(
        &self,
        url: &str,
        webhook_id: &str,
        keys: &SigningKeys,
        body: &str,
        now: DateTime<Utc>,
    ) -> Outcome {
        let started = Instant::now();
        let (status_code, error) = match self.try_post(url, webhook_id, keys, body, now).await {
            Ok(status) => (
                Some(status),
                (status != 200).then(|| "only HTTP 200 counts as delivered".to_string()),
            ),
            Err(e) => (None, Some(e)),
        };
        Outcome {
            status_code,
            error,
            duration: started.elapsed(),
        }
    }

    async fn try_post(
        &self,
        url: &str,
        webhook_id: &str,
        keys: &SigningKeys,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<u16, String> {
        let refused = |e: UrlError| format!("refused: the URL {e}");
        let url = parse_url(url).map_err(refused)?;
        if !self.allow_private {
            // A literal address is connected to as written: check it here, as
            // the resolver is not asked about it.
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal {
                check_addresses(&[ip]).map_err(refused)?;
            }
        }
        let timestamp = now.timestamp();
        let signature = keys
            .header(webhook_id, timestamp, body, now)
            .map_err(|e| e.to_string())?;
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_string());
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let mut response = match tokio::time::timeout_at(deadline, request.send()).await {
            Err(_) => return Err(no_answer()),
            Ok(Err(e)) => return Err(describe(&e)),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        // The status decides; the body is read (up to a limit, within the time
        // left) only so that the connection can serve the next notification.
        let _ = tokio::time::timeout_at(deadline, async {
            let mut read = 0;
            while let Ok(Some(chunk)) = response.chunk().await {
                read += chunk.len();
                if read > BODY_READ_LIMIT {
                    break;
                }
            }
        })
        .await;
        Ok(status)
    }
}

fn no_answer() -> String {
    format!("no answer within {} s", TIMEOUT.as_secs())
}

/// A reqwest error in words: the address check's refusal as it is, otherwise
/// the innermost cause (connection refused, TLS failure, …).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return no_answer();
    }
    let mut innermost: &dyn std::error::Error = e;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(refusal) = s.downcast_ref::<UrlError>() {
            return format!("refused: the URL {refusal}");
        }
        innermost = s;
        source = s.source();
    }
    if e.is_connect() {
        format!("could not connect: {innermost}")
    } else {
        format!("request failed: {innermost}")
    }
}

/// Resolves host names for the client, refusing names with any non-public
/// address unless private addresses are allowed.
struct CheckingResolver {
    allow_private: bool,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = checked_lookup(name.as_str(), allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The addresses of `host`, every one of them checked. The port is the
/// connector's to set.
async fn checked_lookup(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, UrlError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| UrlError::Unresolvable(host.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable(host.to_string()));
    }
    if !allow_private {
        let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
        check_addresses(&ips)?;
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        assert!(matches!(
            checked_lookup("localhost", false).await,
            Err(UrlError::NonPublic(_))
        ));
        let allowed = checked_lookup("localhost", true).await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
    }

    #[tokio::test]
    async fn literal_private_addresses_are_refused_before_sending() {
        let sender = Sender::new(false).unwrap();
        let keys = SigningKeys {
            current: crate::merchants::new_webhook_secret(),
            previous: None,
            rotated_at: None,
        };
        for url in [
            "http://127.0.0.1:9/hook",
            "http://2130706433:9/hook",
            "http://[::ffff:10.0.0.1]:9/hook",
            "http://169.254.169.254/latest",
        ] {
            let out = sender.post(url, "msg_1", &keys, "{}", Utc::now()).await;
            assert_eq!(out.status_code, None);
            let error = out.error.unwrap();
            assert!(error.contains("non-public"), "{url}: {error}");
        }
        let out = sender
            .post("http://localhost:9/hook", "msg_1", &keys, "{}", Utc::now())
            .await;
        assert!(out.error.unwrap().contains("non-public"));
    }
}
