//! CreateApplication's rules: every field of a new application checked at
//! once, the type's defaults filled in, and the write classified by the
//! authority it needs.

use super::{
    application::{NewApplication, owner_only},
    grants,
    kinds::{AppType, AuthMethod, GrantType, Requested},
    metadata, names,
    policy::Policy,
    privilege::Classified,
    redirect::register::validate_redirect_uris,
    refusal::{FieldViolation, Refusal},
    scopes::validate_scopes,
};

/// CreateApplication's request, as the API received it.
#[derive(Clone, Debug)]
pub struct CreateInput {
    pub name: String,
    pub description: String,
    /// Unspecified already means WEB here.
    pub app_type: Requested<AppType>,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub active: bool,
    pub first_party: bool,
    /// Empty: the type's defaults.
    pub grant_types: Vec<Requested<GrantType>>,
    /// `None`: unspecified, the type's default.
    pub auth_method: Requested<Option<AuthMethod>>,
    /// Empty when not given.
    pub jwks: String,
    pub client_uri: String,
    pub logo_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub contacts: Vec<String>,
    /// Registered by the client itself (RFC 7591), not by a member.
    pub dynamically_registered: bool,
}

/// Fields recorded for a new application in the audit trail.
pub const CREATE_AUDIT_FIELDS: &[&str] = &[
    "name",
    "description",
    "type",
    "redirect_uris",
    "scopes",
    "active",
    "first_party",
    "grant_types",
    "token_endpoint_auth_method",
    "jwks",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "contacts",
];

/// Validates a new application (every violation at once) and classifies it.
pub fn check_new(
    mut input: CreateInput,
    policy: &Policy,
) -> Result<Classified<NewApplication>, Refusal> {
    input.name = names::normalize(&input.name);
    let mut violations = Vec::new();
    if let Err(value) = input.app_type {
        violations.push(FieldViolation::new(
            "type",
            format!("unknown application type {value}"),
        ));
    }
    names::validate_name(&input.name, "name", &mut violations);
    names::validate_description(&input.description, "description", &mut violations);
    validate_scopes(&input.scopes, &policy.scopes, "scopes", &mut violations);
    for (field, url) in metadata::user_urls(
        &input.client_uri,
        &input.logo_uri,
        &input.policy_uri,
        &input.tos_uri,
    ) {
        metadata::check_https_url(
            url,
            field,
            policy.metadata_urls_allow_private,
            &mut violations,
        );
    }
    metadata::check_contacts(&input.contacts, "contacts", &mut violations);
    let typed = input
        .app_type
        .map(|t| check_typed(t, &input, policy, &mut violations));
    let (Ok((app_type, grant_types, Some(auth_method))), true) = (typed, violations.is_empty())
    else {
        return Err(Refusal::Invalid(violations));
    };
    let why = owner_only(None, input.first_party, &input.scopes);
    let new = NewApplication {
        name: input.name,
        description: input.description,
        app_type,
        redirect_uris: input.redirect_uris,
        scopes: input.scopes,
        active: input.active,
        first_party: input.first_party,
        grant_types,
        auth_method,
        jwks: (!input.jwks.is_empty()).then_some(input.jwks),
        client_uri: input.client_uri,
        logo_uri: input.logo_uri,
        policy_uri: input.policy_uri,
        tos_uri: input.tos_uri,
        contacts: input.contacts,
        dynamically_registered: input.dynamically_registered,
    };
    Ok(Classified::new(new, why))
}

/// The checks that depend on a known type: redirect URIs, grants (the
/// type's defaults when none are asked for), the auth method and its keys.
fn check_typed(
    t: AppType,
    input: &CreateInput,
    policy: &Policy,
    violations: &mut Vec<FieldViolation>,
) -> (AppType, Vec<GrantType>, Option<AuthMethod>) {
    validate_redirect_uris(
        t,
        &input.redirect_uris,
        &policy.redirects,
        "redirect_uris",
        violations,
    );
    let grant_types = if input.grant_types.is_empty() {
        let defaults = grants::default_grant_types(t, !input.redirect_uris.is_empty());
        grants::check_grant_rules(
            t,
            &defaults,
            input.redirect_uris.len(),
            "grant_types",
            violations,
        );
        defaults
    } else {
        grants::check_grant_types(
            t,
            &input.grant_types,
            input.redirect_uris.len(),
            "grant_types",
            violations,
        )
    };
    let auth_method = metadata::check_auth_method(
        t,
        input.auth_method,
        "token_endpoint_auth_method",
        violations,
    );
    metadata::check_jwks(auth_method, &input.jwks, "jwks", violations);
    (t, grant_types, auth_method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::privilege::OwnerOnly;

    fn input(first_party: bool, scopes: &[&str]) -> CreateInput {
        CreateInput {
            name: "A".into(),
            description: String::new(),
            app_type: Ok(AppType::Web),
            redirect_uris: vec!["https://a.example/cb".into()],
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            active: true,
            first_party,
            grant_types: vec![],
            auth_method: Ok(None),
            jwks: String::new(),
            client_uri: String::new(),
            logo_uri: String::new(),
            policy_uri: String::new(),
            tos_uri: String::new(),
            contacts: vec![],
            dynamically_registered: false,
        }
    }

    #[test]
    fn new_apps_need_an_owner_exactly_when_privileged() {
        let catalog = Policy::default();
        let cases: &[(bool, &[&str], Option<OwnerOnly>)] = &[
            (false, &["read:user"], None),
            (true, &["read:user"], Some(OwnerOnly::SetsFirstParty)),
            (
                false,
                &["read:user", "admin:all"],
                Some(OwnerOnly::GrantsScope("admin:all".into())),
            ),
            (
                false,
                &["admin:organization"],
                Some(OwnerOnly::GrantsScope("admin:organization".into())),
            ),
        ];
        for (first_party, scopes, want) in cases {
            let c = check_new(input(*first_party, scopes), &catalog).unwrap();
            assert_eq!(c.owner_only(), want.as_ref(), "{first_party} {scopes:?}");
        }
    }

    #[test]
    fn unknown_type_is_reported_with_the_other_violations() {
        let mut bad = input(false, &[]);
        bad.app_type = Err(42);
        bad.name = " ".into();
        let Err(Refusal::Invalid(v)) = check_new(bad, &Policy::default()) else {
            panic!("refused");
        };
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["type", "name", "scopes"]);
    }
}
