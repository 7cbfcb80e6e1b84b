//! The grants an application may use at the token endpoint (RFC 7591
//! section 2), and the rules between them, its type and its redirect URIs.

use super::{
    kinds::{AppType, GrantType, Requested},
    refusal::FieldViolation,
};

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
}
