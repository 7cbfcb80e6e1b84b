//! Client metadata (RFC 7591 section 2) beyond grants: how an application
//! authenticates at the token endpoint, whether it registers public keys
//! (their content is `jwk`'s), the URLs shown to users and its contacts.
//! Pure checks that report every problem of a request at once.

use super::{
    jwk,
    kinds::{AppType, AuthMethod, Requested},
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

/// An optional URL shown to users: absolute `https`, no user info, no
/// fragment (an empty `#` is one), at most 2000 bytes.
pub fn check_https_url(value: &str, field: &str, out: &mut Vec<FieldViolation>) {
    if value.is_empty() {
        return;
    }
    let problem = if value.len() > URL_MAX_BYTES {
        Some(format!(
            "must be at most {URL_MAX_BYTES} bytes (has {})",
            value.len()
        ))
    } else if value.contains('#') {
        Some("must not have a fragment (not even an empty #)".into())
    } else if !value.is_ascii() || value.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        Some("must be ASCII without spaces or control characters (percent-encode them)".into())
    } else if value
        .strip_prefix("https://")
        .is_none_or(|rest| rest.starts_with(['/', '?', ':', '@']) || rest.is_empty())
    {
        Some("must be an https URL naming a host, such as https://app.example.com/".into())
    } else {
        match url::Url::parse(value) {
            Err(e) => Some(format!("is not an absolute URL ({e})")),
            Ok(u) if u.scheme() != "https" => Some("must be an https URL".into()),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                Some("must not hold user information (user@host)".into())
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => Some("must name a host".into()),
            Ok(_) => None,
        }
    };
    if let Some(p) = problem {
        out.push(FieldViolation::new(field, p));
    }
}

/// At most 5 e-mail addresses, `local@domain` with both parts non-empty.
pub fn check_contacts(contacts: &[String], field: &str, out: &mut Vec<FieldViolation>) {
    if contacts.len() > CONTACTS_MAX {
        out.push(FieldViolation::new(
            field,
            format!("at most {CONTACTS_MAX} contacts (has {})", contacts.len()),
        ));
        return;
    }
    for (i, c) in contacts.iter().enumerate() {
        let ok = c.len() <= CONTACT_MAX_BYTES
            && !c.chars().any(|ch| ch.is_control() || ch.is_whitespace())
            && c.rsplit_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
        if !ok {
            out.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "must be an e-mail address, local@domain",
            ));
        }
    }
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
            check_https_url(ok, "client_uri", &mut out);
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
            &format!("https://app.example/{}", "a".repeat(2000)),
        ] {
            let mut out = vec![];
            check_https_url(bad, "client_uri", &mut out);
            assert_eq!(fields(&out), ["client_uri"], "{bad}");
        }
    }

    #[test]
    fn contacts() {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut out = vec![];
        check_contacts(&list(&["ops@example.com", "a@b"]), "contacts", &mut out);
        assert!(out.is_empty());
        check_contacts(
            &list(&["nobody", "@example.com", "ops@", "a b@c"]),
            "contacts",
            &mut out,
        );
        assert_eq!(
            fields(&out),
            ["contacts[0]", "contacts[1]", "contacts[2]", "contacts[3]"]
        );
        let mut out = vec![];
        check_contacts(&list(&["a@b"; 6]), "contacts", &mut out);
        assert_eq!(fields(&out), ["contacts"]);
    }
}
