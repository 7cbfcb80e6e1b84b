//! Client metadata (RFC 7591 section 2): the grants an application may use,
//! how it authenticates at the token endpoint, its public keys, the URLs
//! shown to users and its contacts. Pure checks that report every problem of
//! a request at once.

use std::collections::HashSet;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};

use super::{AppType, AuthMethod, FieldViolation, GrantType, rules::Requested};

pub const JWKS_MAX_BYTES: usize = 16 * 1024;
pub const JWKS_MAX_KEYS: usize = 10;
pub const RSA_MIN_BITS: usize = 2048;
pub const URL_MAX_BYTES: usize = 2000;
pub const CONTACTS_MAX: usize = 5;
/// Longest contact address (RFC 5321's limit on a path).
pub const CONTACT_MAX_BYTES: usize = 254;

/// The grants of an application created without any: the authorization
/// code flow (with refresh) for clients with redirect URIs, client
/// credentials for machines.
pub fn default_grant_types(app_type: AppType, has_redirect_uris: bool) -> Vec<GrantType> {
    match app_type {
        AppType::Service => vec![GrantType::ClientCredentials],
        AppType::Web if !has_redirect_uris => vec![GrantType::ClientCredentials],
        _ => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
    }
}

/// Checks grants as requested (unknown values included) for an application
/// of `app_type` with `redirect_uris` registered URIs, and returns the known
/// ones. Every violation names `field` (or one of its items).
pub fn check_grant_types(
    app_type: AppType,
    requested: &[Requested<GrantType>],
    redirect_uris: usize,
    field: &str,
    out: &mut Vec<FieldViolation>,
) -> Vec<GrantType> {
    if requested.len() > 4 {
        out.push(FieldViolation::new(
            field,
            format!("at most 4 grant types exist (has {})", requested.len()),
        ));
        return Vec::new();
    }
    let mut grants = Vec::new();
    for (i, g) in requested.iter().enumerate() {
        match g {
            Ok(g) if grants.contains(g) => out.push(FieldViolation::new(
                format!("{field}[{i}]"),
                format!("duplicate of {}", g.contract_name()),
            )),
            Ok(g) => grants.push(*g),
            Err(0) => out.push(FieldViolation::new(
                format!("{field}[{i}]"),
                "GRANT_TYPE_UNSPECIFIED is not a grant",
            )),
            Err(v) => out.push(FieldViolation::new(
                format!("{field}[{i}]"),
                format!("unknown grant type {v}; implicit and password grants do not exist here (RFC 9700)"),
            )),
        }
    }
    check_grant_rules(app_type, &grants, redirect_uris, field, out);
    grants
}

/// The rules between grants, the type and the redirect URIs.
pub fn check_grant_rules(
    app_type: AppType,
    grants: &[GrantType],
    redirect_uris: usize,
    field: &str,
    out: &mut Vec<FieldViolation>,
) {
    use GrantType::*;
    let has = |g| grants.contains(&g);
    let mut refuse = |m: String| out.push(FieldViolation::new(field, m));
    if has(ClientCredentials) && !app_type.is_confidential() {
        refuse("CLIENT_CREDENTIALS is for confidential clients (WEB, SERVICE) only".into());
    }
    if app_type == AppType::Service && grants != [ClientCredentials] {
        refuse("a SERVICE application has CLIENT_CREDENTIALS and nothing else".into());
    }
    if has(AuthorizationCode) && redirect_uris == 0 {
        refuse("AUTHORIZATION_CODE needs at least one redirect URI (in redirect_uris); without any, choose other grants".into());
    }
    if has(RefreshToken) && !has(AuthorizationCode) && !has(DeviceCode) {
        refuse("REFRESH_TOKEN needs AUTHORIZATION_CODE or DEVICE_CODE".into());
    }
    if has(DeviceCode) && !matches!(app_type, AppType::Native | AppType::Web) {
        refuse("DEVICE_CODE is for NATIVE and WEB applications only".into());
    }
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
        (true, false) => check_jwks_content(jwks, field, out),
        (false, true) => {}
    }
}

/// Members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A JWK Set of public signing keys: 1 to 10 keys, at most 16 KiB; RSA of at
/// least 2048 bits, EC P-256 or OKP Ed25519; no private members; unique
/// kids. Violations say which key and why, never what it holds.
pub fn check_jwks_content(jwks: &str, field: &str, out: &mut Vec<FieldViolation>) {
    if jwks.len() > JWKS_MAX_BYTES {
        out.push(FieldViolation::new(
            field,
            format!(
                "must be at most {JWKS_MAX_BYTES} bytes (has {})",
                jwks.len()
            ),
        ));
        return;
    }
    let Ok(set) = serde_json::from_str::<serde_json::Value>(jwks) else {
        out.push(FieldViolation::new(
            field,
            "is not JSON (a JWK Set: {\"keys\": [...]})",
        ));
        return;
    };
    let Some(keys) = set.get("keys").and_then(|k| k.as_array()) else {
        out.push(FieldViolation::new(
            field,
            "is not a JWK Set: it needs a \"keys\" array",
        ));
        return;
    };
    if keys.is_empty() || keys.len() > JWKS_MAX_KEYS {
        out.push(FieldViolation::new(
            field,
            format!("must hold 1 to {JWKS_MAX_KEYS} keys (has {})", keys.len()),
        ));
        return;
    }
    let mut kids = HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let mut refuse =
            |why: String| out.push(FieldViolation::new(field, format!("keys[{i}]: {why}")));
        let Some(key) = key.as_object() else {
            refuse("is not a JSON object".into());
            continue;
        };
        let private: Vec<&str> = PRIVATE_MEMBERS
            .iter()
            .copied()
            .filter(|m| key.contains_key(*m))
            .collect();
        if !private.is_empty() {
            // Which members, never their values.
            refuse(format!(
                "holds private key members ({}): register the public key only, and treat this one as compromised",
                private.join(", ")
            ));
            continue;
        }
        if let Some(kid) = key.get("kid") {
            match kid.as_str() {
                Some(kid) if !kids.insert(kid.to_owned()) => {
                    refuse("its kid is used by another key of the set".into())
                }
                Some(_) => {}
                None => refuse("kid must be a string".into()),
            }
        }
        if key.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
            refuse("use must be \"sig\" (signing) when given".into());
        }
        let str_of = |m: &str| key.get(m).and_then(|v| v.as_str());
        let allowed_algs: &[&str] = match (str_of("kty"), str_of("crv")) {
            (Some("RSA"), _) => {
                match str_of("n").and_then(|n| B64.decode(n).ok()) {
                    Some(n) if modulus_bits(&n) >= RSA_MIN_BITS => {}
                    Some(n) => refuse(format!(
                        "an RSA key needs at least {RSA_MIN_BITS} bits (has {})",
                        modulus_bits(&n)
                    )),
                    None => refuse("an RSA key needs its modulus n (base64url)".into()),
                }
                &["RS256", "PS256"]
            }
            (Some("EC"), Some("P-256")) => &["ES256"],
            (Some("OKP"), Some("Ed25519")) => &["EdDSA"],
            (Some("EC" | "OKP"), _) => {
                refuse("EC keys must be on P-256 and OKP keys Ed25519".into());
                continue;
            }
            _ => {
                refuse("must be an RSA, EC (P-256) or OKP (Ed25519) key".into());
                continue;
            }
        };
        if let Some(alg) = key.get("alg") {
            if !alg.as_str().is_some_and(|a| allowed_algs.contains(&a)) {
                refuse(format!(
                    "alg must be one of {} for this key",
                    allowed_algs.join(", ")
                ));
            }
        }
        let usable = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(serde_json::Value::Object(
            key.clone(),
        ))
        .ok()
        .and_then(|jwk| jsonwebtoken::DecodingKey::from_jwk(&jwk).ok());
        if usable.is_none() {
            refuse("is not a usable public key (malformed members)".into());
        }
    }
}

/// Bits of a big-endian unsigned integer, leading zeros aside.
fn modulus_bits(n: &[u8]) -> usize {
    let n: Vec<u8> = n.iter().copied().skip_while(|b| *b == 0).collect();
    match n.first() {
        None => 0,
        Some(first) => (n.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
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
    use GrantType::*;

    fn fields(out: &[FieldViolation]) -> Vec<&str> {
        out.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn grant_defaults_follow_the_type() {
        assert_eq!(
            default_grant_types(Native, true),
            [AuthorizationCode, RefreshToken]
        );
        assert_eq!(
            default_grant_types(UserAgentBased, true),
            [AuthorizationCode, RefreshToken]
        );
        assert_eq!(
            default_grant_types(Web, true),
            [AuthorizationCode, RefreshToken]
        );
        assert_eq!(default_grant_types(Web, false), [ClientCredentials]);
        assert_eq!(default_grant_types(Service, false), [ClientCredentials]);
    }

    #[test]
    fn grant_rules() {
        // (type, grants, redirect URIs, ok)
        let cases: &[(AppType, &[GrantType], usize, bool)] = &[
            (Web, &[AuthorizationCode, RefreshToken], 1, true),
            (Web, &[ClientCredentials], 0, true),
            (
                Web,
                &[
                    AuthorizationCode,
                    ClientCredentials,
                    DeviceCode,
                    RefreshToken,
                ],
                1,
                true,
            ),
            (Web, &[AuthorizationCode], 0, false),
            (Web, &[RefreshToken], 1, false),
            (Web, &[DeviceCode, RefreshToken], 0, true),
            (Native, &[DeviceCode], 0, true),
            (Native, &[DeviceCode, RefreshToken], 0, true),
            (Native, &[ClientCredentials], 0, false),
            (Native, &[AuthorizationCode], 0, false),
            (UserAgentBased, &[AuthorizationCode, RefreshToken], 1, true),
            (UserAgentBased, &[DeviceCode], 0, false),
            (UserAgentBased, &[ClientCredentials], 1, false),
            (Service, &[ClientCredentials], 0, true),
            (Service, &[ClientCredentials, RefreshToken], 0, false),
            (Service, &[DeviceCode], 0, false),
            (Service, &[], 0, false),
        ];
        for (t, grants, uris, ok) in cases {
            let mut out = vec![];
            check_grant_rules(*t, grants, *uris, "grant_types", &mut out);
            assert_eq!(out.is_empty(), *ok, "{t:?} {grants:?} {uris}: {out:?}");
            assert!(out.iter().all(|v| v.field == "grant_types"));
        }
    }

    #[test]
    fn grants_as_requested() {
        let mut out = vec![];
        let got = check_grant_types(
            Web,
            &[Ok(AuthorizationCode), Err(0), Ok(AuthorizationCode), Err(9)],
            1,
            "grant_types",
            &mut out,
        );
        assert_eq!(got, [AuthorizationCode]);
        assert_eq!(
            fields(&out),
            ["grant_types[1]", "grant_types[2]", "grant_types[3]"]
        );
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

    fn rsa_key(bits_bytes: usize) -> serde_json::Value {
        let mut n = vec![0xC5u8; bits_bytes];
        n[0] = 0xC5;
        serde_json::json!({"kty": "RSA", "n": B64.encode(&n), "e": "AQAB", "kid": "r1"})
    }

    fn jwks(keys: Vec<serde_json::Value>) -> String {
        serde_json::json!({ "keys": keys }).to_string()
    }

    #[test]
    fn jwks_rules() {
        let ec = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "e1",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let ed = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": "d1",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let check = |s: &str| {
            let mut out = vec![];
            check_jwks_content(s, "jwks", &mut out);
            out
        };
        assert_eq!(
            check(&jwks(vec![rsa_key(256), ec.clone(), ed.clone()])),
            vec![]
        );
        let mut private = ec.clone();
        private["d"] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI".into();
        let mut dup = ed.clone();
        dup["kid"] = "e1".into();
        let mut p384 = ec.clone();
        p384["crv"] = "P-384".into();
        let mut enc = ec.clone();
        enc["use"] = "enc".into();
        let mut wrong_alg = ec.clone();
        wrong_alg["alg"] = "RS256".into();
        let bad: Vec<(&str, String)> = vec![
            ("not JSON", "{".into()),
            ("no keys", "{}".into()),
            ("empty", jwks(vec![])),
            ("eleven", jwks(vec![ed.clone(); 11])),
            (
                "huge",
                format!(
                    "{{\"keys\": [], \"x\": \"{}\"}}",
                    "a".repeat(JWKS_MAX_BYTES)
                ),
            ),
            ("private", jwks(vec![private.clone()])),
            ("dup kid", jwks(vec![ec.clone(), dup])),
            ("weak RSA", jwks(vec![rsa_key(128)])),
            ("P-384", jwks(vec![p384])),
            (
                "oct",
                jwks(vec![serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})]),
            ),
            ("enc", jwks(vec![enc])),
            ("wrong alg", jwks(vec![wrong_alg])),
            (
                "garbage EC",
                jwks(vec![
                    serde_json::json!({"kty": "EC", "crv": "P-256", "x": "!!", "y": "??"}),
                ]),
            ),
        ];
        for (what, set) in bad {
            let out = check(&set);
            assert!(!out.is_empty(), "{what} accepted");
            assert!(out.iter().all(|v| v.field == "jwks"), "{what}");
        }
        // The private key's value is never echoed.
        let out = check(&jwks(vec![private]));
        assert!(!out[0].description.contains("jpsQnn"), "{:?}", out[0]);
        assert!(out[0].description.contains("private"));
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
