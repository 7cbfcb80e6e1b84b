//! Whether an authorization request's `redirect_uri` is one the client
//! registered: the decision behind open-redirect CVEs (fosite
//! CVE-2020-15233 and 15234, Keycloak CVE-2024-8883), made here once.
//!
//! A match is byte-for-byte equality with a registered URI: no case folding,
//! no percent-decoding, no dot-segment removal, no default-port or
//! trailing-slash equivalence, and the query must be equal too. The one
//! exception is RFC 8252 7.3: when the registered URI is `http` on a
//! loopback IP literal (`127.0.0.1` or `[::1]`, and `localhost` when the
//! operator allows it), the request may name any port, written as a plain
//! decimal from 1 to 65535, or none; everything else must be equal. A URI
//! with a fragment never matches (RFC 9700 4.1.3), and an empty request
//! matches only when exactly one URI is registered (RFC 6749 3.1.2.3).
//! Nothing here parses URLs with a library: parsers normalise (an empty path
//! becomes `/`), and normalising is what the CVEs exploited.

/// Where the authorization server may redirect: the request's URI, or the
/// only registered one when the request named none. `None`: it must not.
pub fn matched<'a>(
    registered: &'a [String],
    requested: &'a str,
    localhost_is_loopback: bool,
) -> Option<&'a str> {
    if requested.is_empty() {
        return match registered {
            [only] => Some(only.as_str()),
            _ => None,
        };
    }
    if requested.contains('#') {
        return None;
    }
    registered
        .iter()
        .any(|r| r == requested || loopback_port_differs(r, requested, localhost_is_loopback))
        .then_some(requested)
}

/// The parts of an `http` URI on a loopback host, as written: the host, and
/// what follows the authority (path and query).
fn loopback_parts(uri: &str, localhost_is_loopback: bool) -> Option<(&str, Option<&str>, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = if let Some(v6) = authority.strip_prefix("[::1]") {
        ("[::1]", port_of(v6)?)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let loopback = host == "127.0.0.1" || (localhost_is_loopback && host == "localhost");
        if !loopback {
            return None;
        }
        (host, port)
    };
    Some((host, port, tail))
}

/// What follows a bracketed host: nothing, or `:port`.
fn port_of(after_host: &str) -> Option<Option<&str>> {
    match after_host {
        "" => Some(None),
        p => p.strip_prefix(':').map(Some),
    }
}

/// A port as RFC 8252 7.3 lets a native app pick it: 1 to 65535, in plain
/// decimal (no sign, no leading zero, no empty port).
fn is_plain_port(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && !p.starts_with('0')
        && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
}

/// RFC 8252 7.3: the same loopback URI but for its port.
fn loopback_port_differs(registered: &str, requested: &str, localhost: bool) -> bool {
    let (Some((r_host, r_port, r_tail)), Some((q_host, q_port, q_tail))) = (
        loopback_parts(registered, localhost),
        loopback_parts(requested, localhost),
    ) else {
        return false;
    };
    r_host == q_host
        && r_tail == q_tail
        && r_port.is_none_or(is_plain_port)
        && q_port.is_none_or(is_plain_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reg(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// (registered, requested, matched)
    const CASES: &[(&[&str], &str, bool)] = &[
        (&["https://app.example/cb"], "https://app.example/cb", true),
        (
            &["https://app.example/cb?x=1"],
            "https://app.example/cb?x=1",
            true,
        ),
        (
            &["https://a.example/cb", "https://b.example/cb"],
            "https://b.example/cb",
            true,
        ),
        // Byte-for-byte: no folding, decoding, normalising.
        (&["https://app.example/cb"], "https://APP.example/cb", false),
        (&["https://app.example/cb"], "HTTPS://app.example/cb", false),
        (&["https://app.example/cb"], "https://app.example/CB", false),
        (
            &["https://app.example/cb"],
            "https://app.example/c%62",
            false,
        ),
        (
            &["https://app.example/cb"],
            "https://app.example/cb/",
            false,
        ),
        (
            &["https://app.example/cb/"],
            "https://app.example/cb",
            false,
        ),
        (
            &["https://app.example/cb"],
            "https://app.example:443/cb",
            false,
        ),
        (
            &["https://app.example/cb"],
            "https://app.example/x/../cb",
            false,
        ),
        (
            &["https://app.example/cb"],
            "https://app.example/cb?",
            false,
        ),
        (
            &["https://app.example/cb"],
            "https://app.example/cb?x=1",
            false,
        ),
        (
            &["https://app.example/cb?x=1"],
            "https://app.example/cb?x=1&y=2",
            false,
        ),
        (
            &["https://app.example/cb"],
            "https://app.example/cb ",
            false,
        ),
        // Fragments never, not even an empty one, not even if registered.
        (
            &["https://app.example/cb"],
            "https://app.example/cb#",
            false,
        ),
        (
            &["https://app.example/cb#x"],
            "https://app.example/cb#x",
            false,
        ),
        // fosite CVE-2020-15233: loopback with an added query.
        (
            &["http://127.0.0.1/cb"],
            "http://127.0.0.1/cb?evil=1",
            false,
        ),
        (
            &["http://127.0.0.1:8080/cb"],
            "http://127.0.0.1:9000/cb?x",
            false,
        ),
        // RFC 8252 7.3: any port on a registered loopback IP literal.
        (&["http://127.0.0.1/cb"], "http://127.0.0.1:51004/cb", true),
        (
            &["http://127.0.0.1:8080/cb"],
            "http://127.0.0.1:51004/cb",
            true,
        ),
        (&["http://127.0.0.1:8080/cb"], "http://127.0.0.1/cb", true),
        (&["http://[::1]:8080/cb"], "http://[::1]:1/cb", true),
        (&["http://[::1]/cb"], "http://[::1]:65535/cb", true),
        (
            &["http://127.0.0.1/cb?x=1"],
            "http://127.0.0.1:5000/cb?x=1",
            true,
        ),
        // ...but only the port, written plainly.
        (&["http://127.0.0.1"], "http://127.0.0.1:5000/", false),
        (&["http://127.0.0.1/"], "http://127.0.0.1:5000", false),
        (&["http://127.0.0.1/cb"], "http://127.0.0.1:0/cb", false),
        (&["http://127.0.0.1/cb"], "http://127.0.0.1:65536/cb", false),
        (&["http://127.0.0.1/cb"], "http://127.0.0.1:08080/cb", false),
        (&["http://127.0.0.1/cb"], "http://127.0.0.1:+80/cb", false),
        (&["http://127.0.0.1/cb"], "http://127.0.0.1:/cb", false),
        (&["http://127.0.0.1/cb"], "http://127.0.0.1:80:80/cb", false),
        (&["http://127.0.0.1/cb"], "http://127.0.0.2:80/cb", false),
        (&["http://127.0.0.1/cb"], "http://[::1]:80/cb", false),
        (&["http://127.0.0.1/cb"], "https://127.0.0.1:80/cb", false),
        (
            &["http://127.0.0.1/cb"],
            "http://127.0.0.1.evil.example:80/cb",
            false,
        ),
        (
            &["http://127.0.0.1/cb"],
            "http://127.0.0.1:80@evil.example/cb",
            false,
        ),
        (&["https://127.0.0.1/cb"], "https://127.0.0.1:80/cb", false),
        // Keycloak CVE-2024-8883: localhost with user info, and localhost at all.
        (&["http://localhost/cb"], "http://localhost:80/cb", false),
        (&["http://localhost/cb"], "http://user@localhost/cb", false),
        // Empty request: only with exactly one registered URI.
        (&["https://app.example/cb"], "", true),
        (&["https://a.example/cb", "https://b.example/cb"], "", false),
        (&[], "", false),
        (&[], "https://app.example/cb", false),
        // Malformed requests are simply not matched.
        (&["https://app.example/cb"], "not a uri", false),
        (
            &["https://app.example/cb"],
            "https://app.example/cb\n",
            false,
        ),
    ];

    #[test]
    fn table_including_the_cves() {
        for (registered, requested, want) in CASES {
            let r = reg(registered);
            let got = matched(&r, requested, false);
            assert_eq!(got.is_some(), *want, "{registered:?} vs {requested:?}");
            if let Some(to) = got {
                let expect = if requested.is_empty() {
                    registered[0]
                } else {
                    requested
                };
                assert_eq!(to, expect);
            }
        }
    }

    #[test]
    fn localhost_when_the_operator_allows_it() {
        let r = reg(&["http://localhost:3000/callback"]);
        assert!(matched(&r, "http://localhost:49152/callback", true).is_some());
        assert!(matched(&r, "http://localhost:49152/callback", false).is_none());
        assert!(matched(&r, "http://user@localhost:49152/callback", true).is_none());
        assert!(matched(&r, "http://localhost.evil.example:1/callback", true).is_none());
    }

    proptest! {
        /// A request that differs from every registered URI in any byte,
        /// other than in a loopback port, never matches.
        #[test]
        fn any_other_byte_never_matches(
            uri in "https://[a-z]{1,8}\\.example(:[1-9][0-9]{0,3})?/[a-zA-Z0-9/._~%-]{0,20}(\\?[a-z=&0-9]{0,10})?",
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let registered = vec![uri.clone()];
            let mut bytes = uri.clone().into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let requested = String::from_utf8_lossy(&bytes).into_owned();
            prop_assume!(requested != uri);
            prop_assert!(matched(&registered, &requested, true).is_none(), "{} matched {}", requested, uri);
        }

        /// The same, for registered loopback URIs: only the port may change.
        #[test]
        fn loopback_only_the_port_may_change(
            host in prop::sample::select(vec!["127.0.0.1", "[::1]"]),
            port in 1u32..65536,
            path in "/[a-z/]{0,12}(\\?[a-z=]{0,6})?",
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let registered = vec![format!("http://{host}{path}")];
            let requested = format!("http://{host}:{port}{path}");
            prop_assert!(matched(&registered, &requested, false).is_some());
            // A change anywhere but in the port's digits does not match.
            let port_at = 7 + host.len() + 1;
            let port_len = port.to_string().len();
            let mut bytes = requested.clone().into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(!(port_at..port_at + port_len).contains(&i) && bytes[i] != byte);
            bytes[i] = byte;
            let changed = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(matched(&registered, &changed, false).is_none(), "{} matched", changed);
        }
    }
}
