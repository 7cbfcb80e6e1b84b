//! The SSRF defence of metadata-document fetches, in one place: which URLs
//! may be fetched at all, and which addresses they may be fetched from.
//!
//! A client_id URL is refused before any I/O unless it is `https`, names a
//! host, has a path, and means exactly what it says (the registry's own
//! redirect-URI rules: no user info, no fragment, no percent-encoding or
//! dot segments a parser would rewrite, a port only when it is not the
//! default). Its host is then resolved once, and the fetch is refused when
//! ANY resolved address is not a public unicast one ([`forbidden`]), unless
//! the operator listed the host in `OAUTH_APPS_METADATA_DOCUMENT_PRIVATE_HOSTS`.
//! The connection then goes to the addresses checked here, never to a
//! second resolution, so a DNS answer that changes between check and
//! connect (rebinding) cannot lead the fetch inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use crate::domain::{AppType, redirect::register::check_redirect_uri};

/// A client_id that may be fetched: an `https` URL in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentUrl {
    url: Url,
}

impl DocumentUrl {
    /// The URL of `client_id`, or why it may not be fetched.
    pub fn parse(client_id: &str) -> Result<Self, String> {
        if !client_id.starts_with("https://") {
            return Err("only https URLs are fetched".into());
        }
        // Exactly what the URL says, by the rules every registered
        // redirect URI passes: no user info, fragment, wildcard, dot
        // segment, encoded '.' or '/', non-canonical host or default port.
        check_redirect_uri(AppType::Web, client_id)?;
        let url = Url::parse(client_id).map_err(|e| format!("not a URL ({e})"))?;
        if url.path() == "/" || url.path().is_empty() {
            return Err("the URL must have a path (https://host/path)".into());
        }
        if url.host().is_none() {
            return Err("the URL must name a host".into());
        }
        Ok(Self { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host as written (lowercase; IPv6 in brackets).
    pub fn host_str(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }
}

/// Hosts whose documents may live on internal addresses
/// (`OAUTH_APPS_METADATA_DOCUMENT_PRIVATE_HOSTS`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivateHosts(Vec<String>);

impl PrivateHosts {
    /// Host names (or IP literals), separated by spaces or commas; case
    /// and a trailing dot do not matter.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut hosts = Vec::new();
        for h in list.split([' ', ',', '\n', '\t']).filter(|h| !h.is_empty()) {
            let h = h.trim_end_matches('.').to_ascii_lowercase();
            let h = h.trim_start_matches('[').trim_end_matches(']').to_owned();
            let valid = !h.is_empty()
                && (h.parse::<IpAddr>().is_ok()
                    || h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
            if !valid {
                return Err(format!("{h:?} is not a host name or IP address"));
            }
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        Ok(Self(hosts))
    }

    pub fn contains(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').trim_start_matches('[');
        let host = host.trim_end_matches(']');
        self.0.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    pub fn hosts(&self) -> &[String] {
        &self.0
    }
}

/// Why no request was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The host resolved to an address the service must not reach.
    #[error(
        "{host} resolves to {addr}, a {kind} address (list the host in OAUTH_APPS_METADATA_DOCUMENT_PRIVATE_HOSTS to allow it)"
    )]
    Internal {
        host: String,
        addr: IpAddr,
        kind: &'static str,
    },
    /// The name did not resolve (possibly for a moment).
    #[error("{host} does not resolve: {cause}")]
    Unresolved { host: String, cause: String },
}

/// The addresses to connect to for `url`: every one checked, or why not.
pub async fn checked_addresses(
    url: &DocumentUrl,
    private: &PrivateHosts,
) -> Result<Vec<SocketAddr>, Refused> {
    let port = url.port();
    let addrs: Vec<SocketAddr> = match url.url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| Refused::Unresolved {
                host: name.to_owned(),
                cause: e.to_string(),
            })?
            .collect(),
        None => vec![],
    };
    let host = url.host_str();
    if addrs.is_empty() {
        return Err(Refused::Unresolved {
            host: host.to_owned(),
            cause: "no address".into(),
        });
    }
    if private.contains(host) {
        return Ok(addrs);
    }
    check_all(host, addrs)
}

/// `addrs` when every one is public; else the first that is not.
fn check_all(host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refused> {
    for a in &addrs {
        if let Some(kind) = forbidden(a.ip()) {
            return Err(Refused::Internal {
                host: host.to_owned(),
                addr: a.ip(),
                kind,
            });
        }
    }
    Ok(addrs)
}

/// What kind of address `ip` is when it is not a public unicast one:
/// loopback, private (RFC 1918, unique-local), shared (CGNAT), link-local
/// (the cloud metadata address), multicast, unspecified, broadcast,
/// documentation, or otherwise reserved; IPv6 forms that embed an IPv4
/// address (mapped, compatible, 6to4, NAT64) are judged by that address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        (100, 64..=127, _) => "shared (CGNAT)",
        _ if ip.is_link_local() => "link-local",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() => "multicast",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (192, 0, 0) | (192, 88, 99) => "reserved",
        _ if a >= 240 => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return forbidden_v4(v4);
    }
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        // IPv4-compatible (::a.b.c.d, deprecated) and the rest of ::/96.
        _ if s[..6] == [0; 6] => "reserved",
        0xfc00..=0xfdff => "private",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "reserved",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x3fff if s[1] < 0x1000 => "documentation",
        // IETF protocol assignments, Teredo among them (2001::/23).
        0x2001 if s[1] < 0x0200 => "reserved",
        // Discard-only (100::/64), NAT64 local use (64:ff9b:1::/48).
        0x0100 if s[1..4] == [0; 3] => "reserved",
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "reserved",
        _ => return None,
    })
}

/// The IPv4 address that an IPv4-mapped (`::ffff:a.b.c.d`), 6to4
/// (`2002:AABB:CCDD::/48`) or NAT64 (`64:ff9b::/96`) address stands for.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s[0] {
        0x2002 => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        0x0064 if s[1] == 0xff9b && s[2..6] == [0; 4] => {
            Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        let cases: &[(&str, Option<&str>)] = &[
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.215.14", None),
            ("0.0.0.0", Some("unspecified")),
            ("0.1.2.3", Some("unspecified")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.0.9", Some("loopback")),
            ("10.0.0.1", Some("private")),
            ("172.16.0.1", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("shared (CGNAT)")),
            ("100.127.255.255", Some("shared (CGNAT)")),
            ("100.128.0.1", None),
            ("169.254.169.254", Some("link-local")),
            ("224.0.0.1", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("255.255.255.255", Some("broadcast")),
            ("240.0.0.1", Some("reserved")),
            ("192.0.2.10", Some("documentation")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.99", Some("documentation")),
            ("198.18.0.1", Some("benchmarking")),
            ("192.0.0.8", Some("reserved")),
            ("2606:4700:4700::1111", None),
            ("2001:4860:4860::8888", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.1.2.3", Some("private")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:8.8.8.8", None),
            ("::127.0.0.1", Some("reserved")),
            ("::8.8.8.8", Some("reserved")),
            ("fc00::1", Some("private")),
            ("fd12:3456::1", Some("private")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("reserved")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("3fff::1", Some("documentation")),
            ("2001::1", Some("reserved")),
            ("100::1", Some("reserved")),
            ("2002:7f00:1::", Some("loopback")),
            ("2002:0808:0808::1", None),
            ("64:ff9b::a00:1", Some("private")),
            ("64:ff9b::808:808", None),
            ("64:ff9b:1::1", Some("reserved")),
        ];
        for (ip, want) in cases {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(forbidden(ip), *want, "{ip}");
        }
    }

    #[test]
    fn only_canonical_https_urls_with_a_path_are_fetched() {
        let ok = [
            "https://client.example.com/metadata.json",
            "https://client.example.com:8443/m",
            "https://127.0.0.1:9999/doc",
            "https://[::1]:9999/doc",
            "https://client.example.com/a/b?tenant=1",
        ];
        for u in ok {
            assert_eq!(DocumentUrl::parse(u).unwrap().as_str(), u);
        }
        let bad = [
            "http://client.example.com/metadata.json",
            "HTTPS://client.example.com/m",
            "https://client.example.com",
            "https://client.example.com/",
            "https://client.example.com?x=1",
            "https://user@client.example.com/m",
            "https://user:pw@client.example.com/m",
            "https://client.example.com/m#",
            "https://client.example.com/m#frag",
            "https://Client.example.com/m",
            "https://client.example.com:443/m",
            "https://client.example.com/a/../m",
            "https://client.example.com/%2e%2e/m",
            "https://client.example.com/m/*",
            "https://client.example.com\\@evil.example/m",
            "https://0x7f000001/m",
            "https:///m",
            "ftp://client.example.com/m",
            "client.example.com/m",
        ];
        for u in bad {
            assert!(DocumentUrl::parse(u).is_err(), "{u}");
        }
    }

    #[test]
    fn private_hosts_parse_and_match_loosely() {
        let hosts =
            PrivateHosts::parse("Docs.Internal.example, localhost  127.0.0.1 [::1]").unwrap();
        assert_eq!(
            hosts.hosts(),
            ["docs.internal.example", "localhost", "127.0.0.1", "::1"]
        );
        assert!(hosts.contains("docs.internal.example"));
        assert!(hosts.contains("localhost."));
        assert!(hosts.contains("[::1]"));
        assert!(!hosts.contains("internal.example"));
        assert!(PrivateHosts::parse("").unwrap().hosts().is_empty());
        assert!(PrivateHosts::parse("bad/host").is_err());
        assert!(PrivateHosts::parse("user@host").is_err());
    }

    #[tokio::test]
    async fn every_resolved_address_is_checked_unless_the_host_is_listed() {
        let none = PrivateHosts::default();
        let url = DocumentUrl::parse("https://127.0.0.1:4443/doc").unwrap();
        let e = checked_addresses(&url, &none).await.unwrap_err();
        assert!(
            matches!(
                e,
                Refused::Internal {
                    kind: "loopback",
                    ..
                }
            ),
            "{e}"
        );
        let listed = PrivateHosts::parse("127.0.0.1").unwrap();
        let addrs = checked_addresses(&url, &listed).await.unwrap();
        assert_eq!(addrs, ["127.0.0.1:4443".parse().unwrap()]);
        let url = DocumentUrl::parse("https://[fd00::1]/doc").unwrap();
        assert!(checked_addresses(&url, &none).await.is_err());
        // One public and one internal answer: refused.
        let mixed = vec![
            "8.8.8.8:443".parse().unwrap(),
            "10.0.0.1:443".parse().unwrap(),
        ];
        assert!(check_all("mixed.example", mixed).is_err());
        let public = vec!["8.8.8.8:443".parse().unwrap()];
        assert_eq!(check_all("public.example", public.clone()), Ok(public));
    }
}
