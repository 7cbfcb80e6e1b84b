//! The rest of an application's life: soft deletion and undeletion, and
//! the rotation of its client secret with a grace for the old one.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    application::{AppChanges, Application},
    privilege::{Classified, OwnerOnly},
    refusal::Refusal,
    update::AppUpdate,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        application::tests::app,
        kinds::{AppType, AuthMethod},
    };

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
}
