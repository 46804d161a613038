//! Where a subscription may send: public https targets, and whatever the operator allows in
//! `[webhooks] allowed_hosts`. A target that is, or resolves to, a private, loopback or
//! link-local address would let a tenant make the gateway reach into its own network (SSRF), so
//! it is refused when the subscription is made, and again at every attempt by the delivery
//! client's resolver (a name may resolve elsewhere later).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use url::{Host, Url};

use crate::address::is_public;
use crate::config::WebhooksConfig;

/// Longest target URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a target is refused: a stable code and the caller's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub detail: String,
}

fn refused(code: &'static str, detail: impl Into<String>) -> Refused {
    Refused {
        code,
        detail: detail.into(),
    }
}

/// The operator's rules for targets.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: HashSet<String>,
}

impl TargetPolicy {
    pub fn new(config: &WebhooksConfig) -> Self {
        TargetPolicy {
            allowed: config
                .allowed_hosts
                .iter()
                .map(|h| normalise_host(h))
                .collect(),
        }
    }

    /// Whether the operator allowed this host (as written in the URL).
    pub fn allows_host(&self, host: &str) -> bool {
        self.allowed.contains(&normalise_host(host))
    }

    /// Checks a target URL as given by a tenant, resolving its name; the parsed URL when it may
    /// be used.
    pub async fn check(&self, raw: &str) -> Result<Url, Refused> {
        let url = self.check_static(raw)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if self.allows_host(&host) || !matches!(url.host(), Some(Host::Domain(_))) {
            return Ok(url);
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| {
                refused(
                    "target_unresolvable",
                    format!("the target's host `{host}` does not resolve"),
                )
            })?
            .collect();
        if addresses.is_empty() {
            return Err(refused(
                "target_unresolvable",
                format!("the target's host `{host}` does not resolve"),
            ));
        }
        if let Some(address) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(refused(
                "target_not_allowed",
                format!(
                    "the target's host `{host}` resolves to {}, a private, loopback or link-local \
                     address; webhooks only go to public addresses",
                    address.ip()
                ),
            ));
        }
        Ok(url)
    }

    /// The checks that need no resolution: syntax, scheme, and an address written in the URL.
    pub fn check_static(&self, raw: &str) -> Result<Url, Refused> {
        if raw.len() > MAX_URL_LEN {
            return Err(refused(
                "invalid_target_url",
                format!("target_url is longer than {MAX_URL_LEN} characters"),
            ));
        }
        let url = Url::parse(raw.trim()).map_err(|e| {
            refused(
                "invalid_target_url",
                format!("target_url is not an absolute URL: {e}"),
            )
        })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        if host.is_empty() {
            return Err(refused("invalid_target_url", "target_url has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused(
                "invalid_target_url",
                "target_url must not carry credentials; put a token in the path or query",
            ));
        }
        let allowed = self.allows_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if allowed => {}
            "http" => {
                return Err(refused(
                    "target_not_https",
                    "target_url must be https (plain http only for hosts the operator allows)",
                ));
            }
            other => {
                return Err(refused(
                    "invalid_target_url",
                    format!("target_url must be https, not {other}"),
                ));
            }
        }
        if !allowed
            && let Some(ip) = literal_ip(&url)
            && !is_public(ip)
        {
            return Err(refused(
                "target_not_allowed",
                format!(
                    "{ip} is a private, loopback or link-local address; webhooks only go to \
                     public addresses"
                ),
            ));
        }
        Ok(url)
    }
}

use crate::address::normalise_host;

fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

/// The delivery client's resolver: a name the operator did not allow resolves only to public
/// addresses, so that a target that was public when it was subscribed cannot be pointed at
/// the gateway's own network later. The policy is the one of every URL the gateway fetches
/// (`crate::address::PublicResolver`).
pub type GuardedResolver = crate::address::PublicResolver;

impl TargetPolicy {
    /// The delivery client's resolver for this policy.
    pub fn resolver(&self) -> GuardedResolver {
        crate::address::PublicResolver::new(&self.allowed, crate::address::system_lookup())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> TargetPolicy {
        TargetPolicy::new(&WebhooksConfig {
            allowed_hosts: allowed.iter().map(|s| s.to_string()).collect(),
            ..WebhooksConfig::default()
        })
    }

    #[test]
    fn only_public_https_targets_unless_the_host_is_allowed() {
        let strict = policy(&[]);
        assert!(strict.check_static("https://93.184.216.34/hook").is_ok());
        let code = |p: &TargetPolicy, url: &str| p.check_static(url).unwrap_err().code;
        assert_eq!(
            code(&strict, "http://93.184.216.34/hook"),
            "target_not_https"
        );
        assert_eq!(code(&strict, "https://10.0.0.5/hook"), "target_not_allowed");
        assert_eq!(
            code(&strict, "https://[::1]:8443/hook"),
            "target_not_allowed"
        );
        assert_eq!(code(&strict, "ftp://example.com/"), "invalid_target_url");
        assert_eq!(code(&strict, "not a url"), "invalid_target_url");
        assert_eq!(
            code(&strict, "https://u:p@example.com/"),
            "invalid_target_url"
        );

        let dev = policy(&["127.0.0.1"]);
        assert!(dev.check_static("http://127.0.0.1:9000/hook").is_ok());
        assert_eq!(code(&dev, "http://10.0.0.5/hook"), "target_not_https");
        assert_eq!(code(&dev, "https://127.0.0.2/hook"), "target_not_allowed");
    }
}
