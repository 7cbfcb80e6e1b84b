//! The business rules of the RPCs, as pure functions: what a request may
//! change, who must make the change, and what the audit trail records.
//! Operations (`ops`) call them between reading and writing the database.

use std::{collections::BTreeSet, time::Duration};

use chrono::{DateTime, Utc};

use super::{
    AppChanges, AppId, AppType, Application, FieldViolation, NewApplication, ScopeCatalog,
    access::{Classified, OwnerOnly},
    names,
    validation::{self, is_owner_only_scope},
};

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
];

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
    catalog: &ScopeCatalog,
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
    if let Ok(t) = input.app_type {
        validation::validate_redirect_uris(
            t,
            &input.redirect_uris,
            "redirect_uris",
            &mut violations,
        );
    }
    validation::validate_scopes(&input.scopes, catalog, "scopes", &mut violations);
    let (Ok(app_type), true) = (input.app_type, violations.is_empty()) else {
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
];

/// Fields of Application that exist but never change through an update.
pub const IMMUTABLE: &[&str] = &[
    "id",
    "organization_id",
    "type",
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
}

/// UpdateApplication's request, as the API received it.
#[derive(Clone, Debug)]
pub struct UpdateInput {
    pub id: AppId,
    pub paths: Vec<String>,
    pub values: UpdateValues,
    /// The request's etag; empty when not given.
    pub etag: String,
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
    catalog: &ScopeCatalog,
) -> Result<Classified<AppUpdate>, Refusal> {
    let (fields, mut violations) = parse_update_mask(&input.paths);
    let v = &UpdateValues {
        name: names::normalize(&input.values.name),
        ..input.values.clone()
    };
    if fields.contains("name") {
        validation::validate_name(&v.name, "application.name", &mut violations);
    }
    if fields.contains("description") {
        validation::validate_description(
            &v.description,
            "application.description",
            &mut violations,
        );
    }
    if fields.contains("scopes") {
        validation::validate_scopes(&v.scopes, catalog, "application.scopes", &mut violations);
    }
    if fields.contains("redirect_uris") {
        validation::validate_redirect_uris(
            current.app_type,
            &v.redirect_uris,
            "application.redirect_uris",
            &mut violations,
        );
    }
    if !violations.is_empty() {
        return Err(Refusal::Invalid(violations));
    }
    if current.delete_time.is_some() {
        return Err(Refusal::Deleted);
    }
    if !input.etag.is_empty() && input.etag != current.etag() {
        return Err(Refusal::EtagMismatch);
    }
    fn changed<T: PartialEq + Clone>(named: bool, new: &T, old: &T) -> Option<T> {
        (named && new != old).then(|| new.clone())
    }
    let changes = AppChanges {
        name: changed(fields.contains("name"), &v.name, &current.name),
        description: changed(
            fields.contains("description"),
            &v.description,
            &current.description,
        ),
        redirect_uris: changed(
            fields.contains("redirect_uris"),
            &v.redirect_uris,
            &current.redirect_uris,
        ),
        scopes: changed(fields.contains("scopes"), &v.scopes, &current.scopes),
        active: changed(fields.contains("active"), &v.active, &current.active),
        first_party: changed(
            fields.contains("first_party"),
            &v.first_party,
            &current.first_party,
        ),
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
    if !app.app_type.is_confidential() {
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
    use crate::domain::access::Classified;

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
        }
    }

    fn update(current: &Application, paths: &[&str], values: UpdateValues) -> UpdateInput {
        UpdateInput {
            id: current.id.clone(),
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            values,
            etag: String::new(),
        }
    }

    #[test]
    fn new_apps_need_an_owner_exactly_when_privileged() {
        let catalog = ScopeCatalog::default();
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
        let Err(Refusal::Invalid(v)) = check_new(bad, &ScopeCatalog::default()) else {
            panic!("refused");
        };
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["type", "name", "scopes"]);
    }

    #[test]
    fn updates_need_an_owner_for_privileged_apps_and_escalations() {
        let catalog = ScopeCatalog::default();
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
            &ScopeCatalog::default(),
        )
        .unwrap();
        let changes = &plan.get().changes;
        assert_eq!(changes.fields(), ["description", "active"]);
        assert_eq!(changes.description.as_deref(), Some("new"));
        assert_eq!(changes.active, Some(false));
    }

    #[test]
    fn update_refusals_come_in_order_violations_deleted_etag() {
        let catalog = ScopeCatalog::default();
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
        assert!(matches!(
            plan_set_deleted(privileged, true, now),
            Classified::Privileged(_, OwnerOnly::PrivilegedApp)
        ));
    }

    #[test]
    fn rotation_needs_a_live_confidential_app() {
        let mut public = app(false, &["read:user"]);
        public.app_type = AppType::Native;
        let mut deleted = app(false, &["read:user"]);
        deleted.delete_time = Some(Utc::now());
        let cases: Vec<(Application, Result<Option<OwnerOnly>, Refusal>)> = vec![
            (app(false, &["read:user"]), Ok(None)),
            (
                app(false, &["admin:all"]),
                Ok(Some(OwnerOnly::PrivilegedApp)),
            ),
            (public, Err(Refusal::NoSecret)),
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
