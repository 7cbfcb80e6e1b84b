//! Which redirect URIs an application may register (RFC 6749 §3.1.2,
//! RFC 8252, RFC 9700), as pure checks that report every bad URI of a
//! request at once.

use std::collections::HashMap;

use url::{Host, Url};

use crate::domain::{kinds::AppType, refusal::FieldViolation};

pub const REDIRECT_URIS_MAX: usize = 20;
pub const REDIRECT_URI_MAX_BYTES: usize = 2000;

/// What an operator allows beyond the strict rules, for development tools
/// (`OAUTH_APPS_REDIRECT_ALLOW_LOCALHOST`, `OAUTH_APPS_NATIVE_SCHEMES`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// NATIVE apps may register `http://localhost` URIs (RFC 8252 8.3 calls
    /// them NOT RECOMMENDED; command-line tools use them).
    pub allow_localhost: bool,
    /// Private-use schemes NATIVE apps may use although they have no dot.
    pub native_schemes: Vec<String>,
}

impl RedirectPolicy {
    /// Parses `OAUTH_APPS_NATIVE_SCHEMES`: space-separated lowercase schemes.
    pub fn parse_native_schemes(list: &str) -> Result<Vec<String>, String> {
        let mut schemes = Vec::new();
        for s in list.split(' ').filter(|s| !s.is_empty()) {
            let valid = s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.')
                });
            if !valid {
                return Err(format!("{s:?} is not a lowercase URI scheme"));
            }
            if ["http", "https"].contains(&s) || FORBIDDEN_SCHEMES.contains(&s) {
                return Err(format!("{s:?} is not a private-use scheme"));
            }
            if !schemes.iter().any(|have| have == s) {
                schemes.push(s.to_owned());
            }
        }
        Ok(schemes)
    }
}

pub fn validate_redirect_uris(
    app_type: AppType,
    uris: &[String],
    policy: &RedirectPolicy,
    field: &str,
    out: &mut Vec<FieldViolation>,
) {
    if app_type == AppType::Service {
        if !uris.is_empty() {
            out.push(FieldViolation::new(
                field,
                "SERVICE applications (machine to machine) take no redirect URIs",
            ));
        }
        return;
    }
    if uris.len() > REDIRECT_URIS_MAX {
        // Said once, not per item: 30,000 empty URIs are one problem.
        out.push(FieldViolation::new(
            field,
            format!(
                "at most {REDIRECT_URIS_MAX} redirect URIs are allowed (has {})",
                uris.len()
            ),
        ));
        return;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, uri) in uris.iter().enumerate() {
        let path = format!("{field}[{i}]");
        if let Some(first) = seen.get(uri.as_str()) {
            out.push(FieldViolation::new(
                path,
                format!("duplicate of {field}[{first}]"),
            ));
            continue;
        }
        seen.insert(uri, i);
        if let Err(problem) = check_redirect_uri_under(app_type, uri, policy) {
            out.push(FieldViolation::new(path, problem));
        }
    }
}

/// `%00`-`%1F` or `%7F`, in either case.
fn has_encoded_control(uri: &str) -> bool {
    uri.as_bytes().windows(3).any(|w| {
        w[0] == b'%'
            && std::str::from_utf8(&w[1..])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .is_some_and(|b| b < 0x20 || b == 0x7f)
    })
}

const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript"];

/// Letters, digits and hyphens in dot-separated labels (an IPv4 literal
/// passes too). Anything else in a host (`;`, `,`, `&`, `_`, `%`, `=` ...) is
/// read differently by different URL parsers.
fn is_dns_host(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').enumerate().all(|(i, label)| {
            // A single trailing dot (the DNS root) is allowed.
            (label.is_empty() && i > 0 && host.ends_with('.') && host.len() > 1)
                || (!label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-'))
        })
}

/// Checks one redirect URI against RFC 6749 §3.1.2, RFC 8252 and RFC 9700.
///
/// Authorization servers compare redirect URIs as exact strings, so the rule
/// is that a URI must mean exactly what it says: every form that a URL parser
/// would silently rewrite (case in the host, percent-encoding, IPv4 shorthand,
/// dot segments, backslashes) is refused rather than normalised, which closes
/// the parser-differential tricks behind open-redirect CVEs.
pub fn check_redirect_uri(app_type: AppType, uri: &str) -> Result<(), String> {
    check_redirect_uri_under(app_type, uri, &RedirectPolicy::default())
}

/// [`check_redirect_uri`], with what `policy` allows besides.
pub fn check_redirect_uri_under(
    app_type: AppType,
    uri: &str,
    policy: &RedirectPolicy,
) -> Result<(), String> {
    check_characters(uri)?;
    let (scheme, rest) = scheme_of(uri)?;
    check_encoding(uri)?;
    let parsed = Url::parse(uri).map_err(|e| format!("is not a valid absolute URI ({e})"))?;
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find(['/', '?']).unwrap_or(after.len());
            (Some(&after[..end]), &after[end..])
        }
        None => (None, rest),
    };
    check_path(path.split('?').next().unwrap_or_default())?;
    if let Some(authority) = authority {
        check_authority(authority, &parsed)?;
    }
    check_scheme(app_type, scheme, authority, &parsed, policy)
}

/// Length, and characters that have no place in a URI or that parsers read
/// differently.
fn check_characters(uri: &str) -> Result<(), String> {
    if uri.is_empty() {
        return Err("must not be empty".into());
    }
    if uri.len() > REDIRECT_URI_MAX_BYTES {
        return Err(format!(
            "must be at most {REDIRECT_URI_MAX_BYTES} bytes (has {})",
            uri.len()
        ));
    }
    if !uri.is_ascii() {
        return Err(
            "must be ASCII: percent-encode the path and write internationalized host names in punycode (xn--)"
                .into(),
        );
    }
    if uri.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("must not contain whitespace or control characters".into());
    }
    if uri.contains('\\') {
        return Err("must not contain backslashes".into());
    }
    if uri.contains('#') {
        return Err("must not contain a fragment (RFC 6749 §3.1.2)".into());
    }
    Ok(())
}

/// The scheme, lowercase and not a forbidden one, and what follows its `:`.
fn scheme_of(uri: &str) -> Result<(&str, &str), String> {
    const NO_SCHEME: &str =
        "must be an absolute URI with a scheme, such as https://example.com/callback";
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(NO_SCHEME.into());
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(NO_SCHEME.into());
    }
    if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("the scheme must be lowercase".into());
    }
    if FORBIDDEN_SCHEMES.contains(&scheme) {
        return Err(format!("the {scheme}: scheme is not allowed"));
    }
    Ok((scheme, rest))
}

/// Percent-encodings and wildcards that would let the URI mean something
/// other than what it says.
fn check_encoding(uri: &str) -> Result<(), String> {
    if has_encoded_control(uri) {
        return Err("must not contain percent-encoded control characters (%00 to %1F, %7F)".into());
    }
    // The query is the application's own business; the authority and path
    // are what gets matched and resolved.
    let before_query = uri.split('?').next().unwrap_or_default();
    if before_query.contains('*') {
        return Err("must not contain wildcards: register each URI exactly".into());
    }
    let lower = before_query.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"].iter().any(|p| lower.contains(p)) {
        return Err("must not percent-encode '.', '/' or '\\' in the host or path".into());
    }
    if lower.contains("%25") {
        return Err(
            "must not percent-encode '%' in the host or path (double encoding, such as %252e)"
                .into(),
        );
    }
    Ok(())
}

/// The path (without the query): no empty segments, no dot segments.
fn check_path(path: &str) -> Result<(), String> {
    if path.contains("//") {
        return Err("must not contain empty path segments ('//')".into());
    }
    // Segments as a server would see them once decoded, so `..%3b` is the
    // `..;` it stands for.
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    if decoded
        .split('/')
        .any(|seg| seg == "." || seg == ".." || seg.starts_with(".;") || seg.starts_with("..;"))
    {
        return Err("must not contain dot segments ('.' or '..', plain or encoded)".into());
    }
    Ok(())
}

/// The authority as written: no user information, a port as the parser
/// reads it, and a host in the form the parser would keep.
fn check_authority(authority: &str, parsed: &Url) -> Result<(), String> {
    if authority.contains('@') || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not contain user information (user@host)".into());
    }
    let (raw_host, raw_port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(i) => (&authority[..=i], authority[i + 1..].strip_prefix(':')),
            None => (authority, None),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(port) = raw_port {
        // The port must be written as the parser reads it: no empty or
        // zero-padded port, no default port (which parsers drop).
        if parsed.port().map(|p| p.to_string()).as_deref() != Some(port) {
            return Err(
                "the port must be a plain number other than the scheme's default (omit :443 for https, :80 for http)"
                    .into(),
            );
        }
        // Port 0 means "any free port" to a socket API: no browser can be
        // sent there, and MatchRedirectUri refuses it too.
        if parsed.port() == Some(0) {
            return Err("port 0 is no port a browser can be sent to".into());
        }
    }
    if !raw_host.starts_with('[') && !is_dns_host(raw_host) {
        return Err(
            "the host must be a DNS name (letters, digits, hyphens and dots) or an IP literal"
                .into(),
        );
    }
    let canonical = parsed.host_str().unwrap_or_default();
    if raw_host != canonical {
        return Err(if canonical.is_empty() {
            "must name a host".into()
        } else {
            format!(
                "the host must be written in canonical form (lowercase, no percent-encoding, IPv4 in dotted decimal): {canonical}"
            )
        });
    }
    Ok(())
}

/// What each scheme may be: https with a host, http on loopback only, and
/// private-use schemes for NATIVE apps.
fn check_scheme(
    app_type: AppType,
    scheme: &str,
    authority: Option<&str>,
    parsed: &Url,
    policy: &RedirectPolicy,
) -> Result<(), String> {
    match scheme {
        "https" => {
            if authority.is_none_or(str::is_empty) || parsed.host().is_none() {
                return Err("must have the form https://host/path".into());
            }
            Ok(())
        }
        "http" => {
            let loopback = authority.is_some()
                && match parsed.host() {
                    Some(Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(Host::Domain("localhost")) => {
                        policy.allow_localhost && app_type == AppType::Native
                    }
                    _ => false,
                };
            if loopback {
                Ok(())
            } else {
                Err("http is allowed only on a loopback IP literal such as http://127.0.0.1:8080/ or http://[::1]/ (not localhost); use https".into())
            }
        }
        _ if app_type == AppType::Native => {
            if scheme.contains('.') || policy.native_schemes.iter().any(|s| s == scheme) {
                Ok(())
            } else {
                Err("a private-use scheme must be in reverse-domain form, such as com.example.app:/callback (RFC 8252 §7.1)".into())
            }
        }
        _ => Err("must use https (or http on a loopback IP literal)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    const WEB_OK: &[&str] = &[
        "https://example.com/callback",
        "https://example.com",
        "https://app.example.com:8443/cb?x=1&y=2",
        "https://xn--bcher-kva.example/cb",
        "https://localhost.evil.com/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:8080/callback",
        "http://127.10.20.30:1/",
        "http://[::1]:5000/cb",
        "https://app.example/cb?return_to=%2Fhome",
        "https://app.example/cb?fields=*",
        "https://app.example/cb;jsessionid=1",
        "https://app.example/a%20b",
        "https://app.example/cb?q=%25",
        "https://app.example:8443/cb",
        "https://example.com./cb",
    ];

    const WEB_BAD: &[&str] = &[
        "",
        "/relative/path",
        "example.com/callback",
        "https://example.com/cb#frag",
        "https://example.com/cb#",
        "https://*.example.com/cb",
        "https://example.com/*",
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "vbscript:msgbox(1)",
        "http://example.com/cb",
        "http://localhost/cb",
        "http://localhost:8080/cb",
        "http://localhost.evil.com/cb",
        "http://127.0.0.1.nip.io/cb",
        "http://127.1/cb",
        "http://0x7f.0.0.1/cb",
        "http://2130706433/cb",
        "http://10.0.0.1/cb",
        "https://example.com:0/cb",
        "http://127.0.0.1:0/cb",
        "http://[::1]:0/cb",
        "https://user@example.com/cb",
        "https://user:pass@example.com/cb",
        "https://good.com@evil.com/cb",
        "https://good.com%40evil.com/cb",
        "https://a@b@evil.com/",
        "https://example.com\\@evil.com/",
        "https:\\\\evil.com/",
        "https://EXAMPLE.com/cb",
        "https://exa%6Dple.com/cb",
        "https://bücher.example/cb",
        "https://example.com/a/../b",
        "https://example.com/a/./b",
        "https://example.com/a/..;/b",
        "https://example.com/a/%2e%2e/b",
        "https://example.com/a/%2E%2E/b",
        "https://example.com/a%2fb",
        "https://example.com/cb ",
        " https://example.com/cb",
        "https://example.com/c b",
        "https://example.com/cb\n",
        "https://example.com/cb\t",
        "https:///cb",
        "https:example.com/cb",
        "https://:443/cb",
        "com.example.app:/callback",
        "myapp://callback",
        "ftp://example.com/",
        "HTTPS://example.com/cb",
        "https://good.example;evil.example/",
        "https://a.example,b.example/",
        "https://x.example&y=1/",
        "https://under_score.example/",
        "https://app.example//evil.example/cb",
        "https://e.example:443/cb",
        "https://e.example:/cb",
        "http://127.0.0.1:0080/",
        "https://-bad.example/",
        "https://app.example/cb?x=%00",
        "https://example.com/a/..%3b/b",
        "https://example.com/a/..%3B/b",
        "https://example.com/a/.%3b/b",
        "https://example.com/a/%252e%252e/b",
        "https://example.com/a/%252E%252E/b",
        "https://example.com/a%0a/b",
        "https://example.com/a%0D%0Aset-cookie:x/b",
        "https://example.com/cb?next=%0a",
        "https://example.com/a%7f",
        "https://example.com/a%09b",
        "https://exa%25mple.com/cb",
    ];

    #[test]
    fn web_redirect_uris() {
        for uri in WEB_OK {
            for t in [AppType::Web, AppType::UserAgentBased] {
                assert_eq!(check_redirect_uri(t, uri), Ok(()), "{uri:?} for {t:?}");
            }
        }
        for uri in WEB_BAD {
            for t in [AppType::Web, AppType::UserAgentBased] {
                assert!(
                    check_redirect_uri(t, uri).is_err(),
                    "{uri:?} accepted for {t:?}"
                );
            }
        }
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert!(
            check_redirect_uri(AppType::Web, &long)
                .unwrap_err()
                .contains("2000 bytes")
        );
        let exactly = format!("https://example.com/{}", "a".repeat(2000 - 20));
        assert_eq!(exactly.len(), 2000);
        assert_eq!(check_redirect_uri(AppType::Web, &exactly), Ok(()));
    }

    #[test]
    fn operators_may_allow_localhost_and_named_schemes_for_native_apps() {
        let open = RedirectPolicy {
            allow_localhost: true,
            native_schemes: RedirectPolicy::parse_native_schemes("cursor vscode").unwrap(),
        };
        for uri in [
            "http://localhost:8080/callback",
            "http://localhost/callback",
            "cursor://anysphere.cursor/callback",
            "vscode:/callback",
        ] {
            assert!(
                check_redirect_uri(AppType::Native, uri).is_err(),
                "strict: {uri}"
            );
            assert_eq!(
                check_redirect_uri_under(AppType::Native, uri, &open),
                Ok(()),
                "{uri}"
            );
            // Only NATIVE apps: never a WEB or browser app.
            assert!(
                check_redirect_uri_under(AppType::Web, uri, &open).is_err(),
                "web: {uri}"
            );
            let ua = check_redirect_uri_under(AppType::UserAgentBased, uri, &open);
            assert!(ua.is_err(), "ua: {uri}");
        }
        for still_bad in [
            "http://localhost.evil.example/cb",
            "http://user@localhost/cb",
            "http://LOCALHOST/cb",
            "http://localhost./cb",
            "myapp:/cb",
            "Cursor://x/cb",
        ] {
            let r = check_redirect_uri_under(AppType::Native, still_bad, &open);
            assert!(r.is_err(), "{still_bad}");
        }
        for bad in ["http", "javascript", "Cursor", "a_b", "1app", "vs code!"] {
            assert!(RedirectPolicy::parse_native_schemes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn native_redirect_uris() {
        for ok in [
            "com.example.app:/callback",
            "com.example.app:/oauth2redirect/provider",
            "com.example.app://callback",
            "http://127.0.0.1:51004/cb",
            "http://[::1]:51004/cb",
            "https://app.example.com/cb",
        ] {
            assert_eq!(check_redirect_uri(AppType::Native, ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "myapp:/callback",
            "myapp://callback",
            "http://localhost:51004/cb",
            "http://example.com/cb",
            "javascript:alert(1)",
            "com.example.app:/cb#x",
            "com.example.app://user@host/cb",
            "com.example.app:/a/../b",
            "Com.Example.App:/cb",
        ] {
            assert!(check_redirect_uri(AppType::Native, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn redirect_uri_lists_report_every_violation_with_its_index() {
        let mut out = vec![];
        let uris = strings(&[
            "https://ok.example/cb",
            "http://evil.example/cb",
            "https://ok.example/cb",
            "javascript:alert(1)",
        ]);
        let strict = RedirectPolicy::default();
        validate_redirect_uris(AppType::Web, &uris, &strict, "redirect_uris", &mut out);
        let fields: Vec<_> = out.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["redirect_uris[1]", "redirect_uris[2]", "redirect_uris[3]"]
        );
        assert!(out[1].description.contains("duplicate of redirect_uris[0]"));

        let mut out = vec![];
        let many: Vec<String> = (0..21).map(|i| format!("https://e.example/{i}")).collect();
        validate_redirect_uris(AppType::Web, &many, &strict, "redirect_uris", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].field, "redirect_uris");

        let mut out = vec![];
        validate_redirect_uris(
            AppType::Service,
            &uris[..1],
            &strict,
            "redirect_uris",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let mut out = vec![];
        validate_redirect_uris(AppType::Service, &[], &strict, "redirect_uris", &mut out);
        assert!(out.is_empty());
    }

    proptest! {
        /// Whatever a URI holds, an accepted one means exactly what it says:
        /// the parser keeps its host verbatim and it has no userinfo or fragment.
        #[test]
        fn accepted_uris_are_canonical(s in "[a-zA-Z0-9:/@.%#?\\\\\\[\\]_~ -]{0,60}") {
            for t in [AppType::Web, AppType::Native, AppType::UserAgentBased] {
                if check_redirect_uri(t, &s).is_ok() {
                    let u = Url::parse(&s).unwrap();
                    prop_assert!(u.username().is_empty() && u.password().is_none());
                    prop_assert!(u.fragment().is_none());
                    prop_assert!(!s.contains('\\') && !s.contains(' ') && !s.contains('@'));
                    if let Some(host) = u.host_str() {
                        prop_assert!(s.contains(host), "{} rewrote host to {}", s, host);
                    }
                    if u.scheme() == "http" {
                        let loopback = match u.host() {
                            Some(Host::Ipv4(ip)) => ip.is_loopback(),
                            Some(Host::Ipv6(ip)) => ip.is_loopback(),
                            _ => false,
                        };
                        prop_assert!(loopback, "{} is http but not loopback", s);
                    }
                }
            }
        }

        /// Userinfo in any position, single or repeated `@`, never passes.
        #[test]
        fn userinfo_is_refused(user in "[a-z0-9.:%]{1,12}", host in "[a-z]{1,10}\\.example", ats in 1usize..3) {
            let at = "@".repeat(ats);
            for uri in [
                format!("https://{user}{at}{host}/cb"),
                format!("https://{host}{at}evil.example/cb"),
                format!("http://127.0.0.1{at}{host}/cb"),
                format!("com.example.app://{user}{at}{host}/cb"),
            ] {
                for t in [AppType::Web, AppType::Native, AppType::UserAgentBased] {
                    prop_assert!(check_redirect_uri(t, &uri).is_err(), "{} accepted", uri);
                }
            }
        }

        /// A backslash, whitespace or control character anywhere is refused.
        #[test]
        fn separators_and_controls_anywhere_are_refused(
            pos in 0usize..34,
            c in prop::sample::select(vec!['\\', ' ', '\t', '\n', '\r', '\u{0}', '\u{7f}', '\u{b}', '\u{c}']),
        ) {
            let base = "https://app.example.com/callback?x=1";
            let mut uri = base.to_owned();
            uri.insert(pos.min(base.len()), c);
            prop_assert!(check_redirect_uri(AppType::Web, &uri).is_err(), "{:?} accepted", uri);
        }

        /// Dot segments, plain, percent-encoded in any case, or with `;` path
        /// parameters (`..;/`), are refused.
        #[test]
        fn traversal_is_refused(
            dot in prop::sample::select(vec![
                "..", ".", "%2e%2e", "%2E%2e", ".%2E", "%2e", "..;", "..;x", ".;",
                "..%3b", "..%3B", ".%3b", "%252e%252e", "%252E.", "..%3bx",
            ]),
            before in "[a-z]{1,6}",
            after in "[a-z]{1,6}",
        ) {
            let uri = format!("https://app.example/{before}/{dot}/{after}");
            prop_assert!(check_redirect_uri(AppType::Web, &uri).is_err(), "{} accepted", uri);
        }

        /// A percent-encoded control character anywhere is refused.
        #[test]
        fn encoded_controls_are_refused(byte in prop::sample::select((0u8..0x20).chain([0x7f]).collect::<Vec<_>>()), upper in any::<bool>(), pos in 0usize..3) {
            let enc = if upper { format!("%{byte:02X}") } else { format!("%{byte:02x}") };
            let uri = match pos {
                0 => format!("https://app.example/a{enc}b"),
                1 => format!("https://app.example/cb?x={enc}"),
                _ => format!("com.example.app:/a{enc}"),
            };
            for t in [AppType::Web, AppType::Native] {
                prop_assert!(check_redirect_uri(t, &uri).is_err(), "{} accepted", uri);
            }
        }

        /// Any uppercase letter in the host is refused (matching is exact).
        #[test]
        fn mixed_case_hosts_are_refused(host in "[a-z]{2,8}\\.[a-z]{2,5}", flip in 0usize..13) {
            let mut chars: Vec<char> = host.chars().collect();
            let i = flip % chars.len();
            if chars[i].is_ascii_lowercase() {
                chars[i] = chars[i].to_ascii_uppercase();
                let host: String = chars.into_iter().collect();
                let uri = format!("https://{host}/cb");
                prop_assert!(check_redirect_uri(AppType::Web, &uri).is_err(), "{} accepted", uri);
            }
        }

        /// Non-ASCII (IDN) hosts must be written in punycode.
        #[test]
        fn unicode_hosts_are_refused(label in "[a-z]{0,4}[äöüéßπж\u{0430}\u{0435}\u{043e}][a-z]{0,4}") {
            let uri = format!("https://{label}.example/cb");
            prop_assert!(check_redirect_uri(AppType::Web, &uri).is_err(), "{} accepted", uri);
        }

        /// Prefixing a loopback literal onto an attacker's domain never passes as loopback.
        #[test]
        fn loopback_lookalikes_are_refused(suffix in "[a-z0-9-]{1,20}\\.[a-z]{2,6}") {
            for host in [
                format!("127.0.0.1.{suffix}"),
                format!("localhost.{suffix}"),
                format!("127.0.0.1-{suffix}"),
                format!("[::1].{suffix}"),
                format!("0x7f000001.{suffix}"),
                suffix.clone(),
            ] {
                let uri = format!("http://{host}/cb");
                prop_assert!(check_redirect_uri(AppType::Web, &uri).is_err(), "{} accepted", uri);
            }
        }
    }
}
