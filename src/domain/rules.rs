//! The business rules of the RPCs, as pure functions: what a request may
//! change, who must make the change, and what the audit trail records.
//! Operations (`ops`) call them between reading and writing the database.

use std::{collections::BTreeSet, time::Duration};

use chrono::{DateTime, Utc};

use super::{
    AppChanges, AppId, AppType, Application, AuthMethod, FieldViolation, GrantType, NewApplication,
    ScopeCatalog, metadata, names,
    privilege::{Classified, OwnerOnly},
    validation::{self, RedirectPolicy, is_owner_only_scope},
};

/// What the operator configured that the rules depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// The scopes applications may be granted.
    pub scopes: ScopeCatalog,
    /// What redirect URIs development tools may register beyond the rules.
    pub redirects: RedirectPolicy,
}

/// A request the rules refuse, with what the caller can do about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Bad fields, every one of the request at once.
    Invalid(Vec<FieldViolation>),
    /// The application is soft-deleted: undelete it first.
    Deleted,
    /// The application has no client secret to rotate (a public client).
    NoSecret,
    /// The caller's etag is stale: read the application again.
    EtagMismatch,
}

impl From<Vec<FieldViolation>> for Refusal {
    fn from(v: Vec<FieldViolation>) -> Self {
        Self::Invalid(v)
    }
}

impl Refusal {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }
}

/// An enum value as a request named it: known, or a number we do not know.
pub type Requested<T> = Result<T, i32>;

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

/// The URLs of RFC 7591 shown to users, by field name.
fn user_urls<'a>(
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

/// Why an OWNER must make a write that leaves an app with `first_party` and
/// `scopes`, starting from `before` (`None` for a new app): the app was
/// privileged already, or the write sets first_party or grants an
/// owner-only scope it did not hold.
fn owner_only(
    before: Option<&Application>,
    first_party: bool,
    scopes: &[String],
) -> Option<OwnerOnly> {
    if before.is_some_and(Application::is_privileged) {
        return Some(OwnerOnly::PrivilegedApp);
    }
    if first_party {
        return Some(OwnerOnly::SetsFirstParty);
    }
    let granted = scopes
        .iter()
        .find(|s| is_owner_only_scope(s) && before.is_none_or(|b| !b.scopes.contains(s)));
    granted.map(|s| OwnerOnly::GrantsScope(s.clone()))
}

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
    validation::validate_name(&input.name, "name", &mut violations);
    validation::validate_description(&input.description, "description", &mut violations);
    validation::validate_scopes(&input.scopes, &policy.scopes, "scopes", &mut violations);
    for (field, url) in user_urls(
        &input.client_uri,
        &input.logo_uri,
        &input.policy_uri,
        &input.tos_uri,
    ) {
        metadata::check_https_url(url, field, &mut violations);
    }
    metadata::check_contacts(&input.contacts, "contacts", &mut violations);
    let mut grant_types = Vec::new();
    let mut auth_method = None;
    if let Ok(t) = input.app_type {
        validation::validate_redirect_uris(
            t,
            &input.redirect_uris,
            &policy.redirects,
            "redirect_uris",
            &mut violations,
        );
        grant_types = if input.grant_types.is_empty() {
            let defaults = metadata::default_grant_types(t, !input.redirect_uris.is_empty());
            metadata::check_grant_rules(
                t,
                &defaults,
                input.redirect_uris.len(),
                "grant_types",
                &mut violations,
            );
            defaults
        } else {
            metadata::check_grant_types(
                t,
                &input.grant_types,
                input.redirect_uris.len(),
                "grant_types",
                &mut violations,
            )
        };
        auth_method = metadata::check_auth_method(
            t,
            input.auth_method,
            "token_endpoint_auth_method",
            &mut violations,
        );
        metadata::check_jwks(auth_method, &input.jwks, "jwks", &mut violations);
    }
    let (Ok(app_type), Some(auth_method), true) =
        (input.app_type, auth_method, violations.is_empty())
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
    };
    Ok(Classified::new(new, why))
}

/// The fields UpdateApplication may change, in the order the audit trail
/// lists them.
pub const UPDATABLE: &[&str] = &[
    "name",
    "description",
    "redirect_uris",
    "scopes",
    "active",
    "first_party",
    "grant_types",
    "jwks",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "contacts",
];

/// Fields of Application that exist but never change through an update.
pub const IMMUTABLE: &[&str] = &[
    "id",
    "organization_id",
    "type",
    "token_endpoint_auth_method",
    "client_id",
    "client_secret_hint",
    "created_by",
    "create_time",
    "update_time",
    "delete_time",
    "etag",
];

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

/// The mask's fields, and a violation for every path that is not updatable.
///
/// Paths are snake_case field names, as on the wire. A JSON client writes
/// the FieldMask as one lowerCamelCase string (`"redirectUris"`) and its
/// protobuf library sends `redirect_uris`; the hints name both spellings for
/// whoever reads them, and a camelCase path that still arrives (built by
/// hand into the binary message) is pointed at its wire name.
pub fn parse_update_mask(paths: &[String]) -> (BTreeSet<&'static str>, Vec<FieldViolation>) {
    let mut fields = BTreeSet::new();
    let mut violations = Vec::new();
    if paths.is_empty() {
        violations.push(FieldViolation::new(
            "update_mask",
            format!("must name at least one of: {}", updatable_hint()),
        ));
    }
    for (i, path) in paths.iter().enumerate() {
        let field = format!("update_mask.paths[{i}]");
        if let Some(known) = UPDATABLE.iter().find(|f| **f == path) {
            fields.insert(*known);
        } else if IMMUTABLE.contains(&path.as_str()) {
            violations.push(FieldViolation::new(
                field,
                format!("{path} cannot be changed"),
            ));
        } else if let Some(wire) = UPDATABLE
            .iter()
            .chain(IMMUTABLE)
            .find(|f| f.contains('_') && lower_camel(f) == *path)
        {
            violations.push(FieldViolation::new(
                field,
                format!(
                    "unknown field {path:?}: mask paths are snake_case on the wire ({wire}); \
                     a JSON FieldMask string writes {path} and the client library converts it"
                ),
            ));
        } else {
            violations.push(FieldViolation::new(
                field,
                format!("unknown field {path:?}; updatable: {}", updatable_hint()),
            ));
        }
    }
    (fields, violations)
}

/// The updatable paths, with the lowerCamelCase spelling JSON clients use
/// where it differs: `redirect_uris (redirectUris in JSON)`.
fn updatable_hint() -> String {
    UPDATABLE
        .iter()
        .map(|f| {
            let camel = lower_camel(f);
            if camel == *f {
                (*f).to_owned()
            } else {
                format!("{f} ({camel} in JSON)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ProtoJSON name of a snake_case field: `redirect_uris` -> `redirectUris`.
fn lower_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
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
    let named = |f: &str| fields.contains(f);
    if named("name") {
        validation::validate_name(&v.name, "application.name", &mut violations);
    }
    if named("description") {
        validation::validate_description(
            &v.description,
            "application.description",
            &mut violations,
        );
    }
    if named("scopes") {
        validation::validate_scopes(
            &v.scopes,
            &policy.scopes,
            "application.scopes",
            &mut violations,
        );
    }
    if named("redirect_uris") {
        validation::validate_redirect_uris(
            current.app_type,
            &v.redirect_uris,
            &policy.redirects,
            "application.redirect_uris",
            &mut violations,
        );
    }
    for (field, url) in user_urls(&v.client_uri, &v.logo_uri, &v.policy_uri, &v.tos_uri) {
        if named(field) {
            metadata::check_https_url(url, &format!("application.{field}"), &mut violations);
        }
    }
    if named("contacts") {
        metadata::check_contacts(&v.contacts, "application.contacts", &mut violations);
    }
    if named("jwks") {
        metadata::check_jwks(
            Some(current.auth_method),
            &v.jwks,
            "application.jwks",
            &mut violations,
        );
    }
    // The grants must fit the redirect URIs the app ends up with, whichever
    // of the two the request changes.
    let redirect_uris = if named("redirect_uris") {
        v.redirect_uris.len()
    } else {
        current.redirect_uris.len()
    };
    let grant_types = if named("grant_types") {
        metadata::check_grant_types(
            current.app_type,
            &v.grant_types,
            redirect_uris,
            "application.grant_types",
            &mut violations,
        )
    } else {
        if named("redirect_uris") {
            metadata::check_grant_rules(
                current.app_type,
                &current.grant_types,
                redirect_uris,
                "application.grant_types",
                &mut violations,
            );
        }
        current.grant_types.clone()
    };
    let expected = match (input.etag.as_str(), input.application_etag.as_str()) {
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
    };
    if !violations.is_empty() {
        return Err(Refusal::Invalid(violations));
    }
    if current.delete_time.is_some() {
        return Err(Refusal::Deleted);
    }
    if !expected.is_empty() && expected != current.etag() {
        return Err(Refusal::EtagMismatch);
    }
    fn changed<T: PartialEq + Clone>(named: bool, new: &T, old: &T) -> Option<T> {
        (named && new != old).then(|| new.clone())
    }
    let current_jwks = current.jwks.clone().unwrap_or_default();
    let changes = AppChanges {
        name: changed(named("name"), &v.name, &current.name),
        description: changed(named("description"), &v.description, &current.description),
        redirect_uris: changed(
            named("redirect_uris"),
            &v.redirect_uris,
            &current.redirect_uris,
        ),
        scopes: changed(named("scopes"), &v.scopes, &current.scopes),
        active: changed(named("active"), &v.active, &current.active),
        first_party: changed(named("first_party"), &v.first_party, &current.first_party),
        grant_types: changed(named("grant_types"), &grant_types, &current.grant_types),
        jwks: changed(named("jwks"), &v.jwks, &current_jwks),
        client_uri: changed(named("client_uri"), &v.client_uri, &current.client_uri),
        logo_uri: changed(named("logo_uri"), &v.logo_uri, &current.logo_uri),
        policy_uri: changed(named("policy_uri"), &v.policy_uri, &current.policy_uri),
        tos_uri: changed(named("tos_uri"), &v.tos_uri, &current.tos_uri),
        contacts: changed(named("contacts"), &v.contacts, &current.contacts),
        delete_time: None,
    };
    let first_party = changes.first_party.unwrap_or(current.first_party);
    let scopes = changes.scopes.as_deref().unwrap_or(&current.scopes);
    // Clearing first_party is covered too: only a privileged app has it.
    let why = owner_only(Some(&current), first_party, scopes);
    Ok(Classified::new(AppUpdate { current, changes }, why))
}

/// DeleteApplication (`deleted`) and UndeleteApplication (`!deleted`): no
/// change when the app is already in that state.
pub fn plan_set_deleted(
    current: Application,
    deleted: bool,
    now: DateTime<Utc>,
) -> Classified<AppUpdate> {
    let changes = AppChanges {
        delete_time: (current.delete_time.is_some() != deleted).then(|| deleted.then_some(now)),
        ..AppChanges::default()
    };
    let why = current.is_privileged().then_some(OwnerOnly::PrivilegedApp);
    Classified::new(AppUpdate { current, changes }, why)
}

/// Longest grace a rotated-out secret may keep verifying.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The grace of the outgoing secret from a protobuf Duration's parts:
/// `None` for none (the default, and zero).
pub fn parse_grace(seconds: i64, nanos: i32) -> Result<Option<Duration>, Refusal> {
    const FIELD: &str = "previous_secret_grace";
    let (Ok(secs), Ok(nanos)) = (u64::try_from(seconds), u32::try_from(nanos)) else {
        return Err(Refusal::invalid(FIELD, "must be a non-negative duration"));
    };
    if nanos >= 1_000_000_000 {
        return Err(Refusal::invalid(FIELD, "must be a non-negative duration"));
    }
    let grace = Duration::new(secs, nanos);
    if grace > MAX_GRACE {
        return Err(Refusal::invalid(FIELD, "must be at most 7 days (604800s)"));
    }
    Ok((!grace.is_zero()).then_some(grace))
}

/// A rotation of the client secret of `app`.
#[derive(Clone, Debug)]
pub struct Rotation {
    pub app: Application,
    pub grace: Option<Duration>,
}

/// Only a live confidential application has a secret to rotate.
pub fn plan_rotation(
    app: Application,
    grace: Option<Duration>,
) -> Result<Classified<Rotation>, Refusal> {
    if app.delete_time.is_some() {
        return Err(Refusal::Deleted);
    }
    if !app.auth_method.uses_secret() {
        return Err(Refusal::NoSecret);
    }
    let why = app.is_privileged().then_some(OwnerOnly::PrivilegedApp);
    Ok(Classified::new(Rotation { app, grace }, why))
}

/// What the audit trail says about a rotation.
pub fn rotation_audit_details(previous_expires: Option<DateTime<Utc>>) -> String {
    match previous_expires {
        Some(t) => format!(
            "previous secret verifies until {}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "previous secret revoked at once".to_owned(),
    }
}

/// ListApplications' request, as the API received it.
#[derive(Clone, Debug, Default)]
pub struct ListInput {
    pub page_size: i32,
    /// Empty for the first page.
    pub page_token: String,
    pub show_deleted: bool,
}

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 1000;

/// ListApplications' page size: 0 means the default, more than the most is
/// capped, negative is refused.
pub fn page_size(requested: i32) -> Result<i64, Refusal> {
    match i64::from(requested) {
        n if n < 0 => Err(Refusal::invalid("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(n.min(MAX_PAGE_SIZE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(first_party: bool, scopes: &[&str]) -> Application {
        Application {
            id: AppId::generate(),
            organization_id: "org".into(),
            name: "A".into(),
            description: String::new(),
            app_type: AppType::Web,
            redirect_uris: vec!["https://a.example/cb".into()],
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            client_id: "c".into(),
            secret_hint: Some("abcd".into()),
            active: true,
            first_party,
            created_by: "u".into(),
            create_time: Utc::now(),
            update_time: Utc::now(),
            delete_time: None,
            revision: 3,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            auth_method: AuthMethod::ClientSecretBasic,
            jwks: None,
            client_uri: String::new(),
            logo_uri: String::new(),
            policy_uri: String::new(),
            tos_uri: String::new(),
            contacts: vec![],
        }
    }

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
        }
    }

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

    #[test]
    fn update_masks() {
        let paths = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (fields, violations) = parse_update_mask(&paths(&["name", "scopes", "name"]));
        assert_eq!(fields.into_iter().collect::<Vec<_>>(), ["name", "scopes"]);
        assert!(violations.is_empty());
        let (_, violations) = parse_update_mask(&paths(&["client_id", "bogus"]));
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["update_mask.paths[0]", "update_mask.paths[1]"]);
        assert!(violations[0].description.contains("cannot be changed"));
        assert!(violations[1].description.contains("unknown field"));
        let (_, violations) = parse_update_mask(&[]);
        assert_eq!(violations[0].field, "update_mask");
    }

    #[test]
    fn mask_hints_name_the_json_spelling_too() {
        let paths = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (fields, violations) =
            parse_update_mask(&paths(&["bogus", "redirectUris", "clientId"]));
        assert!(fields.is_empty());
        let [bogus, camel, immutable_camel] = &violations[..] else {
            panic!("{violations:?}");
        };
        assert!(
            bogus.description.contains(
                "updatable: name, description, redirect_uris (redirectUris in JSON), scopes, \
                 active, first_party (firstParty in JSON)"
            ),
            "{}",
            bogus.description
        );
        assert!(
            camel
                .description
                .contains("snake_case on the wire (redirect_uris)"),
            "{}",
            camel.description
        );
        assert!(
            immutable_camel.description.contains("(client_id)"),
            "{}",
            immutable_camel.description
        );
        let (_, violations) = parse_update_mask(&[]);
        assert!(
            violations[0]
                .description
                .contains("first_party (firstParty in JSON)"),
            "{}",
            violations[0].description
        );
        for (snake, camel) in [
            ("name", "name"),
            ("redirect_uris", "redirectUris"),
            ("client_secret_hint", "clientSecretHint"),
        ] {
            assert_eq!(lower_camel(snake), camel);
        }
    }

    #[test]
    fn deletion_is_idempotent_and_privileged_apps_are_the_owners() {
        let now = Utc::now();
        let live = app(false, &["read:user"]);
        let c = plan_set_deleted(live.clone(), true, now);
        assert_eq!(c.get().changes.delete_time, Some(Some(now)));
        assert!(c.owner_only().is_none());
        assert!(
            plan_set_deleted(live.clone(), false, now)
                .get()
                .changes
                .is_empty()
        );
        let mut gone = live.clone();
        gone.delete_time = Some(now);
        assert!(
            plan_set_deleted(gone.clone(), true, now)
                .get()
                .changes
                .is_empty()
        );
        assert_eq!(
            plan_set_deleted(gone, false, now).get().changes.delete_time,
            Some(None)
        );
        let privileged = app(true, &["read:user"]);
        assert_eq!(
            plan_set_deleted(privileged, true, now).owner_only(),
            Some(&OwnerOnly::PrivilegedApp)
        );
    }

    #[test]
    fn rotation_needs_a_live_confidential_app() {
        let mut public = app(false, &["read:user"]);
        public.app_type = AppType::Native;
        public.auth_method = AuthMethod::None;
        let mut keyed = app(false, &["read:user"]);
        keyed.auth_method = AuthMethod::PrivateKeyJwt;
        let mut deleted = app(false, &["read:user"]);
        deleted.delete_time = Some(Utc::now());
        let cases: Vec<(Application, Result<Option<OwnerOnly>, Refusal>)> = vec![
            (app(false, &["read:user"]), Ok(None)),
            (
                app(false, &["admin:all"]),
                Ok(Some(OwnerOnly::PrivilegedApp)),
            ),
            (public, Err(Refusal::NoSecret)),
            (keyed, Err(Refusal::NoSecret)),
            (deleted, Err(Refusal::Deleted)),
        ];
        for (a, want) in cases {
            let got = plan_rotation(a, None).map(|c| c.owner_only().cloned());
            assert_eq!(got, want);
        }
    }

    #[test]
    fn grace_bounds() {
        let cases: &[(i64, i32, Option<Option<u64>>)] = &[
            (0, 0, Some(None)),
            (60, 0, Some(Some(60))),
            (604_800, 0, Some(Some(604_800))),
            (604_800, 1, None),
            (-1, 0, None),
            (0, -5, None),
            (0, 1_000_000_000, None),
        ];
        for (s, n, want) in cases {
            let got = parse_grace(*s, *n).ok().map(|g| g.map(|d| d.as_secs()));
            assert_eq!(got, *want, "{s}s {n}ns");
        }
    }

    #[test]
    fn page_sizes() {
        for (asked, want) in [
            (0, Some(50)),
            (1, Some(1)),
            (1000, Some(1000)),
            (5000, Some(1000)),
            (-1, None),
        ] {
            assert_eq!(page_size(asked).ok(), want, "{asked}");
        }
    }
}
