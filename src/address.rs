//! The one address policy of every URL the gateway accepts, webhook targets and media URLs
//! alike: only addresses on the public internet. An IPv6 address that embeds an IPv4 one
//! (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) is judged by what it embeds, so
//! `[::127.0.0.1]` or `2002:7f00:1::` cannot smuggle loopback past the check.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (carrier-grade NAT), unspecified, multicast, broadcast, documentation or reserved space, and
/// embedding no such IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        return false;
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return is_public_v4(v4(s[6], s[7]));
    }
    match s[0] {
        // NAT64 64:ff9b::/96 embeds the IPv4 address it reaches; 64:ff9b:1::/48 is local use.
        0x0064 if s[1] == 0xff9b => s[2..6] == [0; 4] && is_public_v4(v4(s[6], s[7])),
        // 6to4 2002::/16: the site's IPv4 address in the next 32 bits.
        0x2002 => is_public_v4(v4(s[1], s[2])),
        // Teredo 2001::/32: the server in bits 32-63, the client (inverted) in the last 32.
        0x2001 if s[1] == 0 => is_public_v4(v4(s[2], s[3])) && is_public_v4(v4(!s[6], !s[7])),
        // 2001:db8::/32 documentation.
        0x2001 if s[1] == 0x0db8 => false,
        // 100::/64 discard-only.
        0x0100 if s[1..4] == [0; 3] => false,
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local (deprecated).
        first => {
            !((first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0)
        }
    }
}

/// Whether a URL's host is one no request of the gateway's may reach: a literal address that is
/// not public, or `localhost`. Names are judged by what they resolve to, where the gateway
/// resolves them (webhook targets); this is the check that needs no resolution.
pub fn host_is_internal(host: &url::Host<&str>) -> Option<String> {
    match host {
        url::Host::Ipv4(ip) => (!is_public_v4(*ip)).then(|| ip.to_string()),
        url::Host::Ipv6(ip) => (!is_public_v6(*ip)).then(|| ip.to_string()),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost")).then_some(name)
        }
    }
}

/// How a name becomes addresses: the system's resolver (tokio's `lookup_host`), or a table in
/// tests, where no name may leave the machine.
pub type Lookup = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>
        + Send
        + Sync,
>;

/// The system resolver.
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) })
    })
}

/// A name that resolved to an address the policy refuses: kept as its own error so that the
/// caller of an HTTP client can say why its request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPublic {
    pub host: String,
    pub address: IpAddr,
}

impl std::fmt::Display for NotPublic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` resolves to {}, not a public address",
            self.host, self.address
        )
    }
}

impl std::error::Error for NotPublic {}

/// An HTTP client's resolver that applies the policy: a name resolves once, here, and the
/// client connects to exactly what was returned, so DNS rebinding cannot swap a checked address
/// for an internal one. A name the operator allows resolves to whatever it resolves to.
#[derive(Clone)]
pub struct PublicResolver {
    allowed: Arc<HashSet<String>>,
    lookup: Lookup,
}

impl PublicResolver {
    pub fn new<'a>(allowed: impl IntoIterator<Item = &'a String>, lookup: Lookup) -> Self {
        PublicResolver {
            allowed: Arc::new(allowed.into_iter().map(|h| normalise_host(h)).collect()),
            lookup,
        }
    }

    /// Whether the operator allowed this host (as written in a URL).
    pub fn allows_host(&self, host: &str) -> bool {
        self.allowed.contains(&normalise_host(host))
    }

    /// The addresses a request to `host` may use; an allowed host keeps all of them, any other
    /// is refused when one of its addresses is not public (a name that answers both is a trap).
    pub async fn resolve_host(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let found = (self.lookup)(host.to_owned()).await?;
        if !self.allows_host(host)
            && let Some(bad) = found.iter().find(|a| !is_public(a.ip()))
        {
            return Err(Box::new(NotPublic {
                host: host.to_owned(),
                address: bad.ip(),
            }));
        }
        if found.is_empty() {
            return Err(format!("`{host}` resolves to no address").into());
        }
        Ok(found)
    }
}

impl std::fmt::Debug for PublicResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicResolver")
            .field("allowed", &self.allowed)
            .finish_non_exhaustive()
    }
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = this.resolve_host(&host).await?;
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A host as the operator's allow lists spell it: no brackets, lowercase.
pub fn normalise_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SSRF table: every form of an internal address, and public ones that must pass.
    #[test]
    fn internal_addresses_in_every_spelling_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "2001:0:a00:1::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn localhost_names_and_internal_literals_are_internal_hosts() {
        let host = |url: &str| {
            let url = url::Url::parse(url).unwrap();
            host_is_internal(&url.host().unwrap())
        };
        assert!(host("https://localhost/v.mp4").is_some());
        assert!(host("https://cdn.localhost./v.mp4").is_some());
        assert!(host("https://169.254.169.254/latest/meta-data").is_some());
        // WHATWG parsing turns the decimal spelling into 127.0.0.1.
        assert!(host("https://2130706433/v.mp4").is_some());
        assert!(host("https://[::127.0.0.1]/v.mp4").is_some());
        assert!(host("https://cdn.example.com/v.mp4").is_none());
        assert!(host("https://93.184.216.34/v.mp4").is_none());
    }

    fn table(entries: &[(&str, &str)]) -> Lookup {
        let map: std::collections::HashMap<String, Vec<SocketAddr>> = entries
            .iter()
            .map(|(h, ip)| (h.to_string(), vec![SocketAddr::new(ip.parse().unwrap(), 0)]))
            .collect();
        Arc::new(move |host: String| {
            let found = map.get(&host).cloned().unwrap_or_default();
            Box::pin(async move { Ok(found) })
        })
    }

    #[tokio::test]
    async fn a_name_resolving_to_an_internal_address_is_refused_unless_allowed() {
        let lookup = table(&[
            ("media.test", "10.0.0.7"),
            ("cdn.test", "93.184.216.34"),
            ("dev.test", "127.0.0.1"),
        ]);
        let allowed = vec!["DEV.test".to_string()];
        let resolver = PublicResolver::new(&allowed, lookup);
        let err = resolver.resolve_host("media.test").await.unwrap_err();
        let not_public = err.downcast_ref::<NotPublic>().unwrap();
        assert_eq!(
            not_public.to_string(),
            "`media.test` resolves to 10.0.0.7, not a public address"
        );
        assert_eq!(resolver.resolve_host("cdn.test").await.unwrap().len(), 1);
        assert_eq!(resolver.resolve_host("dev.test").await.unwrap().len(), 1);
        assert!(resolver.resolve_host("nowhere.test").await.is_err());
    }
}
