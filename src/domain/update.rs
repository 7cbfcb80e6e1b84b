//! UpdateApplication's rules: the values its mask names checked against
//! the application as it is (every violation at once), then a deleted app,
//! then a stale etag; values equal to the current ones are no change.

use std::collections::BTreeSet;

use super::{
    application::{AppChanges, Application, owner_only},
    grants,
    ids::AppId,
    kinds::{GrantType, Requested},
    metadata, names,
    policy::Policy,
    privilege::Classified,
    redirect::register::validate_redirect_uris,
    refusal::{FieldViolation, Refusal},
    scopes::validate_scopes,
    update_mask::parse_update_mask,
};

/// The values an UpdateApplication request carries; only those its mask
/// names are used.
#[derive(Clone, Debug, Default)]
pub struct UpdateValues {
    pub name: String,
    pub description: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub active: bool,
    pub first_party: bool,
    pub grant_types: Vec<Requested<GrantType>>,
    pub jwks: String,
    pub client_uri: String,
    pub logo_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub contacts: Vec<String>,
}

/// UpdateApplication's request, as the API received it.
#[derive(Clone, Debug)]
pub struct UpdateInput {
    pub id: AppId,
    pub paths: Vec<String>,
    pub values: UpdateValues,
    /// The request's etag; empty when not given.
    pub etag: String,
    /// The etag inside the request's `application`; empty when not given.
    /// AIP-154 honours it like the request's own.
    pub application_etag: String,
}

/// A change to one application, of which the store applies `changes`
/// (none when the request changes nothing).
#[derive(Clone, Debug)]
pub struct AppUpdate {
    pub current: Application,
    pub changes: AppChanges,
}

/// Checks an update against the application as it is now (locked), and
/// classifies it: every invalid field at once, then a deleted app, then a
/// stale etag. Values equal to the current ones are no change.
pub fn plan_update(
    current: Application,
    input: &UpdateInput,
    policy: &Policy,
) -> Result<Classified<AppUpdate>, Refusal> {
    let (fields, mut violations) = parse_update_mask(&input.paths);
    let v = &UpdateValues {
        name: names::normalize(&input.values.name),
        ..input.values.clone()
    };
    check_values(&fields, v, &current, policy, &mut violations);
    let grant_types = check_grants(&fields, v, &current, &mut violations);
    let expected = expected_etag(input, &mut violations);
    if !violations.is_empty() {
        return Err(Refusal::Invalid(violations));
    }
    if current.delete_time.is_some() {
        return Err(Refusal::Deleted);
    }
    if !expected.is_empty() && expected != current.etag() {
        return Err(Refusal::EtagMismatch);
    }
    let changes = changes(&fields, v, grant_types, &current);
    let first_party = changes.first_party.unwrap_or(current.first_party);
    let scopes = changes.scopes.as_deref().unwrap_or(&current.scopes);
    // Clearing first_party is covered too: only a privileged app has it.
    let why = owner_only(Some(&current), first_party, scopes);
    Ok(Classified::new(AppUpdate { current, changes }, why))
}

/// The values of the fields the mask names, but grants.
fn check_values(
    fields: &BTreeSet<&'static str>,
    v: &UpdateValues,
    current: &Application,
    policy: &Policy,
    violations: &mut Vec<FieldViolation>,
) {
    let named = |f: &str| fields.contains(f);
    if named("name") {
        names::validate_name(&v.name, "application.name", violations);
    }
    if named("description") {
        names::validate_description(&v.description, "application.description", violations);
    }
    if named("scopes") {
        validate_scopes(&v.scopes, &policy.scopes, "application.scopes", violations);
    }
    if named("redirect_uris") {
        validate_redirect_uris(
            current.app_type,
            &v.redirect_uris,
            &policy.redirects,
            "application.redirect_uris",
            violations,
        );
    }
    let urls = metadata::user_urls(&v.client_uri, &v.logo_uri, &v.policy_uri, &v.tos_uri);
    for (field, url) in urls {
        if named(field) {
            metadata::check_https_url(
                url,
                &format!("application.{field}"),
                policy.metadata_urls_allow_private,
                violations,
            );
        }
    }
    if named("contacts") {
        metadata::check_contacts(&v.contacts, "application.contacts", violations);
    }
    if named("jwks") {
        metadata::check_jwks(
            Some(current.auth_method),
            &v.jwks,
            "application.jwks",
            violations,
        );
    }
}

/// The grants the app ends up with. They must fit the redirect URIs it ends
/// up with, whichever of the two the request changes.
fn check_grants(
    fields: &BTreeSet<&'static str>,
    v: &UpdateValues,
    current: &Application,
    violations: &mut Vec<FieldViolation>,
) -> Vec<GrantType> {
    let named = |f: &str| fields.contains(f);
    let redirect_uris = if named("redirect_uris") {
        v.redirect_uris.len()
    } else {
        current.redirect_uris.len()
    };
    if named("grant_types") {
        return grants::check_grant_types(
            current.app_type,
            &v.grant_types,
            redirect_uris,
            "application.grant_types",
            violations,
        );
    }
    if named("redirect_uris") {
        grants::check_grant_rules(
            current.app_type,
            &current.grant_types,
            redirect_uris,
            "application.grant_types",
            violations,
        );
    }
    current.grant_types.clone()
}

/// The etag the caller expects, from the request or its `application`.
fn expected_etag<'a>(input: &'a UpdateInput, violations: &mut Vec<FieldViolation>) -> &'a str {
    match (input.etag.as_str(), input.application_etag.as_str()) {
        ("", theirs) => theirs,
        (ours, "") => ours,
        (ours, theirs) if ours == theirs => ours,
        _ => {
            violations.push(FieldViolation::new(
                "etag",
                "differs from application.etag: send one of them, or the same in both",
            ));
            ""
        }
    }
}

/// The named values that differ from the current ones.
fn changes(
    fields: &BTreeSet<&'static str>,
    v: &UpdateValues,
    grant_types: Vec<GrantType>,
    current: &Application,
) -> AppChanges {
    let changed = |f: &str| fields.contains(f);
    fn pick<T: PartialEq + Clone>(named: bool, new: &T, old: &T) -> Option<T> {
        (named && new != old).then(|| new.clone())
    }
    let c = current;
    let current_jwks = c.jwks.clone().unwrap_or_default();
    AppChanges {
        name: pick(changed("name"), &v.name, &c.name),
        description: pick(changed("description"), &v.description, &c.description),
        redirect_uris: pick(changed("redirect_uris"), &v.redirect_uris, &c.redirect_uris),
        scopes: pick(changed("scopes"), &v.scopes, &c.scopes),
        active: pick(changed("active"), &v.active, &c.active),
        first_party: pick(changed("first_party"), &v.first_party, &c.first_party),
        grant_types: pick(changed("grant_types"), &grant_types, &c.grant_types),
        jwks: pick(changed("jwks"), &v.jwks, &current_jwks),
        client_uri: pick(changed("client_uri"), &v.client_uri, &c.client_uri),
        logo_uri: pick(changed("logo_uri"), &v.logo_uri, &c.logo_uri),
        policy_uri: pick(changed("policy_uri"), &v.policy_uri, &c.policy_uri),
        tos_uri: pick(changed("tos_uri"), &v.tos_uri, &c.tos_uri),
        contacts: pick(changed("contacts"), &v.contacts, &c.contacts),
        delete_time: None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{application::tests::app, privilege::OwnerOnly};

    fn update(current: &Application, paths: &[&str], values: UpdateValues) -> UpdateInput {
        UpdateInput {
            id: current.id.clone(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            values,
            etag: String::new(),
            application_etag: String::new(),
        }
    }

    #[test]
    fn updates_need_an_owner_for_privileged_apps_and_escalations() {
        let catalog = Policy::default();
        let values = |first_party, scopes: &[&str]| UpdateValues {
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            first_party,
            description: "new".into(),
            ..UpdateValues::default()
        };
        // (current app, mask, values, who must make it)
        let cases: Vec<(Application, &[&str], UpdateValues, Option<OwnerOnly>)> = vec![
            (
                app(false, &["read:user"]),
                &["description"],
                values(false, &[]),
                None,
            ),
            (
                app(false, &["read:user"]),
                &["first_party"],
                values(true, &[]),
                Some(OwnerOnly::SetsFirstParty),
            ),
            (
                app(false, &["read:user"]),
                &["scopes"],
                values(false, &["read:user", "admin:all"]),
                Some(OwnerOnly::GrantsScope("admin:all".into())),
            ),
            (
                app(true, &["read:user"]),
                &["description"],
                values(false, &[]),
                Some(OwnerOnly::PrivilegedApp),
            ),
            (
                app(false, &["admin:organization"]),
                &["scopes"],
                values(false, &["read:user"]),
                Some(OwnerOnly::PrivilegedApp),
            ),
            // A no-op on a privileged app is still the OWNER's call.
            (
                app(true, &["read:user"]),
                &["first_party"],
                values(true, &[]),
                Some(OwnerOnly::PrivilegedApp),
            ),
            // first_party=false on an ordinary app changes nothing.
            (
                app(false, &["read:user"]),
                &["first_party"],
                values(false, &[]),
                None,
            ),
        ];
        for (current, paths, values, want) in cases {
            let what = format!(
                "{paths:?} on {:?}/{:?}",
                current.first_party, current.scopes
            );
            let plan =
                plan_update(current.clone(), &update(&current, paths, values), &catalog).unwrap();
            assert_eq!(plan.owner_only(), want.as_ref(), "{what}");
        }
    }

    #[test]
    fn updates_keep_only_real_changes_and_name_them_for_the_audit() {
        let current = app(false, &["read:user"]);
        let values = UpdateValues {
            name: "A".into(), // unchanged
            description: "new".into(),
            scopes: vec!["read:user".into()], // unchanged
            active: false,
            ..UpdateValues::default()
        };
        let plan = plan_update(
            current.clone(),
            &update(
                &current,
                &["name", "description", "scopes", "active"],
                values,
            ),
            &Policy::default(),
        )
        .unwrap();
        let changes = &plan.get().changes;
        assert_eq!(changes.fields(), ["description", "active"]);
        assert_eq!(changes.description.as_deref(), Some("new"));
        assert_eq!(changes.active, Some(false));
    }

    #[test]
    fn update_refusals_come_in_order_violations_deleted_etag() {
        let catalog = Policy::default();
        let mut deleted = app(false, &["read:user"]);
        deleted.delete_time = Some(Utc::now());
        let bad_name = UpdateValues {
            name: " ".into(),
            ..UpdateValues::default()
        };
        let cases: Vec<(Application, &[&str], UpdateValues, &str, Refusal)> = vec![
            (
                deleted.clone(),
                &["name", "bogus"],
                bad_name.clone(),
                "",
                Refusal::Invalid(vec![]),
            ),
            (
                deleted.clone(),
                &["description"],
                UpdateValues::default(),
                "",
                Refusal::Deleted,
            ),
            (
                app(false, &["read:user"]),
                &["description"],
                UpdateValues::default(),
                "v1",
                Refusal::EtagMismatch,
            ),
            (
                app(false, &["read:user"]),
                &[],
                UpdateValues::default(),
                "",
                Refusal::Invalid(vec![]),
            ),
        ];
        for (current, paths, values, etag, want) in cases {
            let mut input = update(&current, paths, values);
            input.etag = etag.into();
            let got = plan_update(current, &input, &catalog).unwrap_err();
            match (&got, &want) {
                (Refusal::Invalid(v), Refusal::Invalid(_)) => assert!(!v.is_empty()),
                _ => assert_eq!(got, want, "{paths:?}"),
            }
        }
    }

    #[test]
    fn etags_in_the_request_and_in_the_application_are_one_precondition() {
        let current = app(false, &["read:user"]);
        let now = current.etag();
        let stale = "v1".to_owned();
        // (request etag, application etag, outcome)
        let cases: Vec<(&str, &str, Result<(), Refusal>)> = vec![
            ("", "", Ok(())),
            (&now, "", Ok(())),
            ("", &now, Ok(())),
            (&now, &now, Ok(())),
            (&stale, "", Err(Refusal::EtagMismatch)),
            ("", &stale, Err(Refusal::EtagMismatch)),
            (&stale, &stale, Err(Refusal::EtagMismatch)),
            (&now, &stale, Err(Refusal::Invalid(vec![]))),
        ];
        for (ours, theirs, want) in cases {
            let mut input = update(&current, &["description"], UpdateValues::default());
            input.etag = ours.into();
            input.application_etag = theirs.into();
            let got = plan_update(current.clone(), &input, &Policy::default()).map(|_| ());
            match (&got, &want) {
                (Err(Refusal::Invalid(v)), Err(Refusal::Invalid(_))) => {
                    assert_eq!(v[0].field, "etag")
                }
                _ => assert_eq!(got, want, "{ours:?} / {theirs:?}"),
            }
        }
    }
}
