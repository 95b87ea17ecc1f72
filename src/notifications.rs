//! Notifications to the merchant's system. This part holds the rules for where a
//! notification may be sent (CONTRACT section 7): an http(s) URL whose host does not
//! resolve to loopback, private, link-local, shared, multicast or unspecified space.

use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("must be an absolute http or https URL")]
    Malformed,
    #[error("must not be longer than 2000 characters")]
    TooLong,
    #[error("must not contain credentials")]
    Credentials,
    #[error("host {0} could not be resolved")]
    Unresolvable(String),
    #[error("host resolves to a non-public address ({0})")]
    NonPublic(IpAddr),
}

/// Checks a notification URL before it is saved; returns it normalised.
/// With `allow_private`, only the syntax is checked (local development and tests).
pub async fn check_url(text: &str, allow_private: bool) -> Result<url::Url, UrlError> {
    let text = text.trim();
    if text.len() > 2000 {
        return Err(UrlError::TooLong);
    }
    // The WHATWG parser also turns decimal, octal and hex IPv4 spellings
    // (`2130706433`, `0177.0.0.1`, `0x7f.1`) into the address they mean.
    let url = url::Url::parse(text).map_err(|_| UrlError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(UrlError::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if !allow_private {
        for ip in resolve(&url).await? {
            if !is_public(ip) {
                return Err(UrlError::NonPublic(ip));
            }
        }
    }
    Ok(url)
}

/// Every address the URL's host stands for.
pub async fn resolve(url: &url::Url) -> Result<Vec<IpAddr>, UrlError> {
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![IpAddr::V4(ip)]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![IpAddr::V6(ip)]),
        Some(url::Host::Domain(name)) => {
            let addrs: Vec<IpAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| UrlError::Unresolvable(name.to_string()))?
                .map(|a| a.ip())
                .collect();
            if addrs.is_empty() {
                Err(UrlError::Unresolvable(name.to_string()))
            } else {
                Ok(addrs)
            }
        }
        None => Err(UrlError::Malformed),
    }
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg0 & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg0 & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg0 & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (seg0 == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 64:ff9b::/96
                || (seg0 == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // includes 169.254.169.254
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0 // "this network" 0.0.0.0/8
        || (a == 100 && (64..128).contains(&b)) // shared CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || a >= 240) // reserved 240.0.0.0/4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as private");
        }
    }

    #[tokio::test]
    async fn odd_spellings_of_loopback_are_refused() {
        for url in [
            "http://127.0.0.1/hook",
            "http://2130706433/hook",
            "http://0177.0.0.1/hook",
            "http://0x7f.0.0.1/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://localhost/hook",
            "http://169.254.169.254/latest",
        ] {
            assert!(
                matches!(check_url(url, false).await, Err(UrlError::NonPublic(_))),
                "{url} accepted"
            );
        }
    }

    #[tokio::test]
    async fn syntax() {
        assert_eq!(
            check_url("ftp://example.com/", true).await,
            Err(UrlError::Malformed)
        );
        assert_eq!(check_url("not a url", true).await, Err(UrlError::Malformed));
        assert_eq!(
            check_url("https://u:p@example.com/", true).await,
            Err(UrlError::Credentials)
        );
        assert!(check_url("http://127.0.0.1:9/x", true).await.is_ok());
        assert!(check_url("https://93.184.216.34/hook", false).await.is_ok());
    }
}
