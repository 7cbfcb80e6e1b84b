//! Client metadata (RFC 7591 section 2) beyond grants: how an application
//! authenticates at the token endpoint, whether it registers public keys
//! (their content is `jwk`'s), the URLs shown to users and its contacts.
//! Pure checks that report every problem of a request at once.

use super::{
    jwk,
    kinds::{AppType, AuthMethod, Requested},
    names,
    refusal::FieldViolation,
};

pub const URL_MAX_BYTES: usize = 2000;
pub const CONTACTS_MAX: usize = 5;
/// Longest contact address (RFC 5321's limit on a path).
pub const CONTACT_MAX_BYTES: usize = 254;

/// The URLs of RFC 7591 shown to users, by field name.
pub fn user_urls<'a>(
    client: &'a str,
    logo: &'a str,
    policy: &'a str,
    tos: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("client_uri", client),
        ("logo_uri", logo),
        ("policy_uri", policy),
        ("tos_uri", tos),
    ]
}

/// The method as requested: unspecified means the type's default.
pub fn check_auth_method(
    app_type: AppType,
    requested: Requested<Option<AuthMethod>>,
    field: &str,
    out: &mut Vec<FieldViolation>,
) -> Option<AuthMethod> {
    let method = match requested {
        Ok(m) => m.unwrap_or_else(|| AuthMethod::default_for(app_type)),
        Err(v) => {
            out.push(FieldViolation::new(
                field,
                format!("unknown token endpoint auth method {v}"),
            ));
            return None;
        }
    };
    if app_type.is_confidential() == (method == AuthMethod::None) {
        out.push(FieldViolation::new(
            field,
            if app_type.is_confidential() {
                "a confidential application (WEB, SERVICE) must authenticate: not NONE"
            } else {
                "a public application (NATIVE, USER_AGENT_BASED) has no credentials: NONE only"
            },
        ));
    }
    Some(method)
}

/// `jwks` is required for PRIVATE_KEY_JWT and refused otherwise.
pub fn check_jwks(
    method: Option<AuthMethod>,
    jwks: &str,
    field: &str,
    out: &mut Vec<FieldViolation>,
) {
    match (method == Some(AuthMethod::PrivateKeyJwt), jwks.is_empty()) {
        (true, true) => out.push(FieldViolation::new(
            field,
            "PRIVATE_KEY_JWT needs the client's public keys (a JWK Set)",
        )),
        (false, false) => out.push(FieldViolation::new(
            field,
            "keys are for PRIVATE_KEY_JWT applications only",
        )),
        (true, false) => jwk::check_client_jwks(jwks, field, out),
        (false, true) => {}
    }
}

/// Characters a consumer would have to escape before putting a URL into
/// HTML, JSON or a shell, and backslashes, which browsers and URL parsers
/// read differently (`https://app.example.com\@evil.com/`): refused in the
/// raw string, before any parser can rewrite them.
fn has_unsafe_url_char(value: &str) -> bool {
    !value.is_ascii()
        || value.bytes().any(|b| {
            b.is_ascii_control()
                || matches!(
                    b,
                    b' ' | b'\\' | b'"' | b'\'' | b'<' | b'>' | b'`' | b'{' | b'}' | b'|' | b'^'
                )
        })
}

/// An optional URL shown to users: absolute `https`, no user info, no
/// fragment (an empty `#` is one), at most 2000 bytes, none of the
/// characters of [`has_unsafe_url_char`], and a public host unless the
/// operator allows internal ones (see [`host_is_internal`]).
pub fn check_https_url(
    value: &str,
    field: &str,
    allow_private: bool,
    out: &mut Vec<FieldViolation>,
) {
    if value.is_empty() {
        return;
    }
    if let Some(p) = https_url_problem(value, allow_private) {
        out.push(FieldViolation::new(field, p));
    }
}

fn https_url_problem(value: &str, allow_private: bool) -> Option<String> {
    if value.len() > URL_MAX_BYTES {
        return Some(format!(
            "must be at most {URL_MAX_BYTES} bytes (has {})",
            value.len()
        ));
    }
    if value.contains('#') {
        return Some("must not have a fragment (not even an empty #)".into());
    }
    if has_unsafe_url_char(value) {
        return Some(
            "must be ASCII without spaces, control characters, backslashes or \" ' < > ` { } | ^ (percent-encode them)"
                .into(),
        );
    }
    if value
        .strip_prefix("https://")
        .is_none_or(|rest| rest.starts_with(['/', '?', ':', '@']) || rest.is_empty())
    {
        return Some("must be an https URL naming a host, such as https://app.example.com/".into());
    }
    match url::Url::parse(value) {
        Err(e) => Some(format!("is not an absolute URL ({e})")),
        Ok(u) if u.scheme() != "https" => Some("must be an https URL".into()),
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Some("must not hold user information (user@host)".into())
        }
        Ok(u) => match u.host() {
            None => Some("must name a host".into()),
            Some(h) if !allow_private && host_is_internal(&h) => Some(format!(
                "must name a public host: {h} is loopback, private, link-local or otherwise internal"
            )),
            Some(_) => None,
        },
    }
}

/// Hosts that are not on the public Internet, as a URL parser reads them
/// (so `2130706433`, `0x7f.1` and `127.1` are 127.0.0.1): `localhost` and
/// `*.localhost`, single-label names (`intranet`), and IP addresses that
/// are loopback, private (RFC 1918, unique-local `fc00::/7`), shared
/// (`100.64.0.0/10`), link-local (`169.254.0.0/16`, the cloud metadata
/// address, `fe80::/10`), unspecified, broadcast, multicast, reserved or
/// IPv4-mapped forms of those.
pub fn host_is_internal(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || !d.contains('.')
        }
        url::Host::Ipv4(ip) => ipv4_is_internal(*ip),
        url::Host::Ipv6(ip) => ipv6_is_internal(*ip),
    }
}

fn ipv4_is_internal(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn ipv6_is_internal(ip: std::net::Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    if let Some(v4) = ip.to_ipv4_mapped() {
        return ipv4_is_internal(v4);
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96) forms.
        || ip.segments()[..6] == [0; 6]
        || ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
}

/// At most 5 e-mail addresses in a real address syntax: one `@`; a local
/// part of letters, digits and `! # $ % & * + / = ? ^ _ ~ -` in dot-separated
/// runs (no quoted forms, so no quotes, spaces, markup or `javascript:`); a
/// domain of at least two dot-separated labels of letters, digits and inner
/// hyphens. The characters names refuse (invisible, zero-width, bidi
/// controls) are refused here too, with their own message.
pub fn check_contacts(contacts: &[String], field: &str, out: &mut Vec<FieldViolation>) {
    if contacts.len() > CONTACTS_MAX {
        out.push(FieldViolation::new(
            field,
            format!("at most {CONTACTS_MAX} contacts (has {})", contacts.len()),
        ));
        return;
    }
    for (i, c) in contacts.iter().enumerate() {
        let problem = if c.chars().any(names::is_invisible) {
            Some("must not hold invisible, zero-width or bidirectional control characters")
        } else if c.len() > CONTACT_MAX_BYTES || !is_address(c) {
            Some(
                "must be an e-mail address, local@domain.example (no spaces, quotes, markup or URL schemes)",
            )
        } else {
            None
        };
        if let Some(p) = problem {
            out.push(FieldViolation::new(format!("{field}[{i}]"), p));
        }
    }
}

fn is_address(c: &str) -> bool {
    let Some((local, domain)) = c.split_once('@') else {
        return false;
    };
    let local_ok = local.split('.').all(|run| {
        !run.is_empty()
            && run
                .chars()
                .all(|ch| ch.is_alphanumeric() || "!#$%&*+/=?^_~-".contains(ch))
    });
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|ch| ch.is_alphanumeric() || ch == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use AppType::*;

    fn fields(out: &[FieldViolation]) -> Vec<&str> {
        out.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn auth_methods() {
        use AuthMethod as M;
        // (type, requested, method, accepted)
        type Case = (AppType, Requested<Option<M>>, Option<M>, bool);
        let cases: &[Case] = &[
            (Web, Ok(None), Some(M::ClientSecretBasic), true),
            (
                Service,
                Ok(Some(M::PrivateKeyJwt)),
                Some(M::PrivateKeyJwt),
                true,
            ),
            (
                Web,
                Ok(Some(M::ClientSecretPost)),
                Some(M::ClientSecretPost),
                true,
            ),
            (Web, Ok(Some(M::None)), Some(M::None), false),
            (Native, Ok(None), Some(M::None), true),
            (
                Native,
                Ok(Some(M::ClientSecretBasic)),
                Some(M::ClientSecretBasic),
                false,
            ),
            (
                UserAgentBased,
                Ok(Some(M::PrivateKeyJwt)),
                Some(M::PrivateKeyJwt),
                false,
            ),
            (Web, Err(7), None, false),
        ];
        for (t, asked, want, ok) in cases {
            let mut out = vec![];
            let got = check_auth_method(*t, *asked, "token_endpoint_auth_method", &mut out);
            assert_eq!(got, *want, "{t:?} {asked:?}");
            assert_eq!(out.is_empty(), *ok, "{t:?} {asked:?}: {out:?}");
        }
    }

    #[test]
    fn jwks_is_for_private_key_jwt_only() {
        let mut out = vec![];
        check_jwks(Some(AuthMethod::PrivateKeyJwt), "", "jwks", &mut out);
        check_jwks(
            Some(AuthMethod::ClientSecretBasic),
            "{\"keys\":[]}",
            "jwks",
            &mut out,
        );
        assert_eq!(fields(&out), ["jwks", "jwks"]);
        let mut out = vec![];
        check_jwks(Some(AuthMethod::ClientSecretBasic), "", "jwks", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn urls_shown_to_users() {
        for ok in [
            "",
            "https://app.example",
            "https://app.example/privacy?lang=en",
        ] {
            let mut out = vec![];
            check_https_url(ok, "client_uri", false, &mut out);
            assert!(out.is_empty(), "{ok}: {out:?}");
        }
        for bad in [
            "http://app.example",
            "https://app.example/#",
            "https://app.example/#top",
            "https://user@app.example/",
            "https://u:p@app.example/",
            "app.example/x",
            "javascript:alert(1)",
            "https:///nohost",
            "https://app.example/a b",
            "https://app.example.com\\@evil.com/",
            "https://app.example/\\x",
            "https://app.example/?q=\"x\"",
            "https://app.example/?q='x'",
            "https://app.example/<script>",
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[fd00::1]/",
            "https://10.0.0.1/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://0.0.0.0/",
            "https://localhost/",
            "https://app.localhost/",
            "https://intranet/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://127.1/",
            &format!("https://app.example/{}", "a".repeat(2000)),
        ] {
            let mut out = vec![];
            check_https_url(bad, "client_uri", false, &mut out);
            assert_eq!(fields(&out), ["client_uri"], "{bad}");
        }
    }

    #[test]
    fn internal_hosts_when_the_operator_allows_them() {
        for url in [
            "https://127.0.0.1/",
            "https://localhost/",
            "https://10.0.0.1/x",
        ] {
            let mut out = vec![];
            check_https_url(url, "logo_uri", true, &mut out);
            assert!(out.is_empty(), "{url}: {out:?}");
        }
        let mut out = vec![];
        check_https_url("https://localhost\\@evil.com/", "logo_uri", true, &mut out);
        assert_eq!(fields(&out), ["logo_uri"]);
        for public in [
            "https://8.8.8.8/",
            "https://[2001:4860::8888]/",
            "https://a.example/",
        ] {
            let mut out = vec![];
            check_https_url(public, "logo_uri", false, &mut out);
            assert!(out.is_empty(), "{public}: {out:?}");
        }
    }

    #[test]
    fn contacts() {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut out = vec![];
        check_contacts(
            &list(&[
                "ops@example.com",
                "first.last+tag@mail.example.co",
                "josé@correo.example",
            ]),
            "contacts",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        let bad = [
            "nobody",
            "@example.com",
            "ops@",
            "a b@c.example",
            "a@b",
            "<script>@x.example",
            "\"a\"@x.example",
            "o'brien@x.example",
            "javascript:alert(1)//@x.example",
            "mailto:ops@x.example",
            "ops@x.example\u{202E}",
            "o\u{200B}ps@x.example",
            "ops@@x.example",
            "ops@x..example",
            "ops@-x.example",
            ".ops@x.example",
        ];
        check_contacts(&list(&bad[..5]), "contacts", &mut out);
        check_contacts(&list(&bad[5..10]), "contacts", &mut out);
        check_contacts(&list(&bad[10..15]), "contacts", &mut out);
        check_contacts(&list(&bad[15..]), "contacts", &mut out);
        assert_eq!(out.len(), bad.len(), "{out:?}");
        let mut out = vec![];
        check_contacts(&list(&["a@b.example"; 6]), "contacts", &mut out);
        assert_eq!(fields(&out), ["contacts"]);
    }
}
