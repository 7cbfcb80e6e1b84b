//! UpdateApplication, DeleteApplication, UndeleteApplication,
//! RotateClientSecret, and the audit trail they leave.

use std::sync::Arc;

use diesel::{QueryableByName, sql_query, sql_types::Text};
use diesel_async::RunQueryDsl as _;
use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic::Code;

use crate::common::{TestApp, violated_fields, web_app, within_a_moment};

const ORG: &str = "org-acme";

async fn setup() -> TestApp {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app.set_member(ORG, "admin", Role::Admin).await;
    app.set_member(ORG, "member", Role::Member).await;
    app.set_member("org-evil", "mallory", Role::Owner).await;
    app
}

#[tokio::test]
async fn update_changes_only_the_masked_fields() {
    let app = setup().await;
    let created = app
        .create_app("owner", ORG, "Billing")
        .await
        .application
        .unwrap();
    let mut input = created.clone();
    input.name = "Billing v2".into();
    input.description = "not in the mask".into();
    input.scopes = vec!["write:user".into()];
    let updated = app
        .update("admin", ORG, input, &["name"], "")
        .await
        .unwrap();
    assert_eq!(updated.name, "Billing v2");
    assert_eq!(updated.description, created.description);
    assert_eq!(updated.scopes, created.scopes);
    assert_ne!(updated.etag, created.etag);
    assert!(
        updated.update_time.unwrap().seconds * 1_000_000_000
            + i64::from(updated.update_time.unwrap().nanos)
            > created.update_time.unwrap().seconds * 1_000_000_000
                + i64::from(created.update_time.unwrap().nanos)
    );
    assert_eq!(app.get("member", ORG, &created.id).await.unwrap(), updated);

    let mut input = updated.clone();
    input.redirect_uris = vec![
        "https://new.example.com/cb".into(),
        "http://127.0.0.1:9000/cb".into(),
    ];
    input.scopes = vec!["read:user".into(), "write:user".into()];
    input.description = "now in the mask".into();
    input.active = false;
    let again = app
        .update(
            "admin",
            ORG,
            input.clone(),
            &["redirect_uris", "scopes", "description", "active"],
            &updated.etag,
        )
        .await
        .unwrap();
    assert_eq!(again.redirect_uris, input.redirect_uris);
    assert_eq!(again.scopes, input.scopes);
    assert_eq!(again.description, "now in the mask");
    assert!(!again.active);
    assert_ne!(again.etag, updated.etag);
}

#[tokio::test]
async fn update_refuses_bad_masks_and_values_all_at_once() {
    let app = setup().await;
    let created = app
        .create_app("owner", ORG, "Billing")
        .await
        .application
        .unwrap();
    let err = app
        .update("owner", ORG, created.clone(), &[], "")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["update_mask"]);

    let err = app
        .update(
            "owner",
            ORG,
            created.clone(),
            &["name", "client_id", "type", "bogus"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&err),
        [
            "update_mask.paths[1]",
            "update_mask.paths[2]",
            "update_mask.paths[3]"
        ]
    );

    let mut bad = created.clone();
    bad.name = "".into();
    bad.redirect_uris = vec!["http://evil.example/cb".into()];
    bad.scopes = vec!["nope".into()];
    let err = app
        .update("owner", ORG, bad, &["name", "redirect_uris", "scopes"], "")
        .await
        .unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "application.name",
            "application.redirect_uris[0]",
            "application.scopes[0]"
        ]
    );

    let err = app
        .update(
            "owner",
            ORG,
            pb::Application {
                id: "".into(),
                ..created.clone()
            },
            &["name"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["application.id"]);
    assert_eq!(
        app.get("owner", ORG, &created.id).await.unwrap(),
        created,
        "nothing changed"
    );
}

#[tokio::test]
async fn stale_etags_are_aborted() {
    let app = setup().await;
    let v1 = app
        .create_app("owner", ORG, "Billing")
        .await
        .application
        .unwrap();
    let v2 = app
        .update(
            "owner",
            ORG,
            pb::Application {
                description: "a".into(),
                ..v1.clone()
            },
            &["description"],
            &v1.etag,
        )
        .await
        .unwrap();
    let err = app
        .update(
            "owner",
            ORG,
            pb::Application {
                description: "b".into(),
                ..v1.clone()
            },
            &["description"],
            &v1.etag,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let err = app
        .update(
            "owner",
            ORG,
            pb::Application {
                description: "b".into(),
                ..v1.clone()
            },
            &["description"],
            "garbage",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "two different etags");
    assert_eq!(
        app.get("owner", ORG, &v1.id).await.unwrap().description,
        "a"
    );
    let v3 = app
        .update(
            "owner",
            ORG,
            pb::Application {
                description: "c".into(),
                ..v2.clone()
            },
            &["description"],
            &v2.etag,
        )
        .await
        .unwrap();
    // A client that sends the resource back, as read, with its etag inside
    // (AIP-154): a stale one is refused, so concurrent edits cannot
    // overwrite each other.
    let err = app
        .update(
            "owner",
            ORG,
            pb::Application {
                description: "d".into(),
                ..v2.clone()
            },
            &["description"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted, "stale etag inside application");
    let v4 = app
        .update(
            "owner",
            ORG,
            pb::Application {
                description: "d".into(),
                ..v3.clone()
            },
            &["description"],
            "",
        )
        .await
        .unwrap();
    assert_eq!(v4.description, "d");
    // Without any etag, the update is unconditional.
    let v5 = app
        .update(
            "owner",
            ORG,
            pb::Application {
                description: "e".into(),
                etag: String::new(),
                ..v1.clone()
            },
            &["description"],
            "",
        )
        .await
        .unwrap();
    assert_eq!(v5.description, "e");
    assert_ne!(v5.etag, v4.etag);
}

#[tokio::test]
async fn update_keeps_the_owner_only_rules_and_name_uniqueness() {
    let app = setup().await;
    let a = app.create_app("owner", ORG, "A").await.application.unwrap();
    app.create_app("owner", ORG, "B").await;
    let err = app
        .update(
            "admin",
            ORG,
            pb::Application {
                first_party: true,
                ..a.clone()
            },
            &["first_party"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = app
        .update(
            "admin",
            ORG,
            pb::Application {
                scopes: vec!["read:user".into(), "admin:all".into()],
                ..a.clone()
            },
            &["scopes"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // The owner grants it; the app is then privileged, and an ADMIN may no
    // longer change it at all: not its other scopes, not first_party, not
    // even dropping the admin scope.
    let with_admin = app
        .update(
            "owner",
            ORG,
            pb::Application {
                scopes: vec!["read:user".into(), "admin:all".into()],
                first_party: true,
                ..a.clone()
            },
            &["scopes", "first_party"],
            "",
        )
        .await
        .unwrap();
    assert!(with_admin.first_party);
    for (change, paths) in [
        (
            pb::Application {
                scopes: vec!["write:user".into(), "admin:all".into()],
                ..with_admin.clone()
            },
            &["scopes"][..],
        ),
        (
            pb::Application {
                first_party: false,
                ..with_admin.clone()
            },
            &["first_party"][..],
        ),
        (
            pb::Application {
                scopes: vec!["write:user".into()],
                ..with_admin.clone()
            },
            &["scopes"][..],
        ),
    ] {
        let err = app
            .update("admin", ORG, change, paths, "")
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{paths:?}");
    }
    let unchanged = app.get("owner", ORG, &a.id).await.unwrap();
    assert_eq!(unchanged.etag, with_admin.etag);
    // The OWNER may drop both, after which the app is ordinary again.
    let dropped = app
        .update(
            "owner",
            ORG,
            pb::Application {
                scopes: vec!["write:user".into()],
                first_party: false,
                ..with_admin.clone()
            },
            &["scopes", "first_party"],
            "",
        )
        .await
        .unwrap();
    assert_eq!(dropped.scopes, ["write:user"]);
    let renamed = app
        .update(
            "admin",
            ORG,
            pb::Application {
                description: "an admin may edit it again".into(),
                ..dropped.clone()
            },
            &["description"],
            "",
        )
        .await
        .unwrap();
    assert_eq!(renamed.description, "an admin may edit it again");

    let err = app
        .update(
            "owner",
            ORG,
            pb::Application {
                name: "b".into(),
                // `a` is stale by now: an update without an etag is unconditional.
                etag: String::new(),
                ..a.clone()
            },
            &["name"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = app
        .update("member", ORG, a.clone(), &["name"], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn delete_is_soft_idempotent_and_frees_the_name() {
    let app = setup().await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let a = resp.application.unwrap();
    assert!(app.verify(&a.client_id, &resp.client_secret).await.valid);

    let deleted = app.delete("admin", ORG, &a.id).await.unwrap();
    assert!(deleted.delete_time.is_some());
    assert!(!deleted.active);
    assert!(
        !app.verify(&a.client_id, &resp.client_secret).await.valid,
        "credentials stop at once"
    );
    assert_eq!(
        app.lookup(&a.client_id).await.unwrap_err().code(),
        Code::NotFound
    );
    let again = app.delete("admin", ORG, &a.id).await.unwrap();
    assert_eq!(again, deleted, "delete is idempotent");

    let live = app
        .list("member", ORG, pb::ListApplicationsRequest::default())
        .await
        .unwrap();
    assert!(live.applications.is_empty());
    let all = app
        .list(
            "member",
            ORG,
            pb::ListApplicationsRequest {
                show_deleted: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.applications.len(), 1);
    assert_eq!(
        app.get("member", ORG, &a.id).await.unwrap().delete_time,
        deleted.delete_time
    );

    let err = app
        .update("owner", ORG, a.clone(), &["description"], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = app.rotate("owner", ORG, &a.id, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // The name is free again; undelete then collides with the new app.
    let newer = app
        .create_app("owner", ORG, "Billing")
        .await
        .application
        .unwrap();
    let err = app.undelete("owner", ORG, &a.id).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    app.delete("owner", ORG, &newer.id).await.unwrap();
    let restored = app.undelete("owner", ORG, &a.id).await.unwrap();
    assert!(restored.delete_time.is_none());
    assert!(restored.active, "undelete restores the active flag it had");
    assert!(app.verify(&a.client_id, &resp.client_secret).await.valid);
    assert_eq!(
        app.undelete("owner", ORG, &a.id).await.unwrap(),
        restored,
        "undelete is idempotent"
    );
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_old_secret_until_it_expires() {
    let app = setup().await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let a = resp.application.unwrap();
    let old = resp.client_secret;

    let rotated = app.rotate("admin", ORG, &a.id, 3600).await.unwrap();
    let new = rotated.client_secret.clone();
    assert_ne!(new, old);
    let ra = rotated.application.unwrap();
    assert_eq!(ra.client_secret_hint, new[new.len() - 4..]);
    assert_ne!(ra.etag, a.etag);
    let expire = rotated.previous_secret_expire_time.expect("grace given");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (expire.seconds - (now + 3600)).abs() < 30,
        "expiry about an hour from now"
    );
    assert!(app.verify(&a.client_id, &new).await.valid);
    assert!(
        app.verify(&a.client_id, &old).await.valid,
        "old secret verifies during its grace"
    );

    // Past its expiry the old secret never verifies again. The expiry is
    // moved into the past here by hand, a change the application cache
    // learns of by notification, so the first refusal may take a moment.
    let mut conn = app.db_conn().await;
    sql_query("UPDATE client_secrets SET expire_time = now() - interval '1 second' WHERE slot = 'previous'")
        .execute(&mut conn)
        .await
        .unwrap();
    within_a_moment("the expiry", || async {
        !app.verify(&a.client_id, &old).await.valid
    })
    .await;
    for _ in 0..3 {
        assert!(!app.verify(&a.client_id, &old).await.valid);
    }
    assert!(app.verify(&a.client_id, &new).await.valid);
    let purged = oauth_apps::store::applications::purge_expired_secrets(&mut conn)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM client_secrets").await,
        1
    );
}

#[tokio::test]
async fn a_new_rotation_ends_the_previous_grace() {
    let app = setup().await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let a = resp.application.unwrap();
    let first = resp.client_secret;
    let second = app
        .rotate("owner", ORG, &a.id, 3600)
        .await
        .unwrap()
        .client_secret;
    let third = app.rotate("owner", ORG, &a.id, 0).await.unwrap();
    assert!(third.previous_secret_expire_time.is_none());
    assert!(!app.verify(&a.client_id, &first).await.valid);
    assert!(
        !app.verify(&a.client_id, &second).await.valid,
        "grace 0 revokes at once"
    );
    assert!(app.verify(&a.client_id, &third.client_secret).await.valid);
}

#[tokio::test]
async fn rotation_refuses_public_apps_and_long_graces() {
    let app = setup().await;
    let native = app
        .create_typed(
            "owner",
            ORG,
            "Mobile",
            pb::ApplicationType::Native,
            &["com.example.app:/cb"],
        )
        .await
        .application
        .unwrap();
    assert_eq!(
        app.rotate("owner", ORG, &native.id, 0)
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    let web = app
        .create_app("owner", ORG, "Web")
        .await
        .application
        .unwrap();
    let err = app
        .rotate("owner", ORG, &web.id, 7 * 24 * 3600 + 1)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["previous_secret_grace"]);
    let err = app.rotate("owner", ORG, &web.id, -1).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["previous_secret_grace"]);
    assert!(
        app.rotate("owner", ORG, &web.id, 7 * 24 * 3600)
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_rotations_leave_one_valid_current_secret() {
    let app = Arc::new(setup().await);
    let resp = app.create_app("owner", ORG, "Billing").await;
    let a = resp.application.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        let id = a.id.clone();
        tasks.push(tokio::spawn(async move {
            app.rotate("owner", ORG, &id, 0)
                .await
                .unwrap()
                .client_secret
        }));
    }
    let mut secrets = Vec::new();
    for t in tasks {
        secrets.push(t.await.unwrap());
    }
    let mut valid = 0;
    for s in secrets.iter().chain(std::iter::once(&resp.client_secret)) {
        if app.verify(&a.client_id, s).await.valid {
            valid += 1;
        }
    }
    assert_eq!(valid, 1, "exactly one secret verifies");
    assert_eq!(
        app.count("SELECT count(*) AS n FROM client_secrets WHERE slot = 'current'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM client_secrets").await,
        1
    );
}

#[tokio::test]
async fn other_orgs_get_not_found_on_every_rpc_and_change_nothing() {
    let app = setup().await;
    let resp = app.create_app("owner", ORG, "Victim").await;
    let victim = resp.application.unwrap();
    let as_mallory =
        |code: Result<pb::Application, tonic::Status>| code.map(|_| ()).unwrap_err().code();
    assert_eq!(
        as_mallory(app.get("mallory", "org-evil", &victim.id).await),
        Code::NotFound
    );
    assert_eq!(
        as_mallory(
            app.update(
                "mallory",
                "org-evil",
                pb::Application {
                    name: "pwned".into(),
                    ..victim.clone()
                },
                &["name"],
                ""
            )
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        as_mallory(app.delete("mallory", "org-evil", &victim.id).await),
        Code::NotFound
    );
    assert_eq!(
        as_mallory(app.undelete("mallory", "org-evil", &victim.id).await),
        Code::NotFound
    );
    assert_eq!(
        app.rotate("mallory", "org-evil", &victim.id, 0)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // Naming the victim's org does not help either: mallory is not a member.
    assert_eq!(
        as_mallory(app.delete("mallory", ORG, &victim.id).await),
        Code::PermissionDenied
    );
    assert_eq!(
        app.get("owner", ORG, &victim.id).await.unwrap(),
        victim,
        "untouched"
    );
    assert!(
        app.verify(&victim.client_id, &resp.client_secret)
            .await
            .valid
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE action <> 'create'")
            .await,
        0
    );
}

#[derive(QueryableByName, Debug)]
struct Event {
    #[diesel(sql_type = Text)]
    actor: String,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    fields: String,
    #[diesel(sql_type = Text)]
    everything: String,
}

#[tokio::test]
async fn every_mutation_leaves_an_audit_event_without_secrets() {
    let app = setup().await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let a = resp.application.unwrap();
    let updated = app
        .update(
            "admin",
            ORG,
            pb::Application {
                name: "Billing 2".into(),
                description: "x".into(),
                ..a.clone()
            },
            &["name", "description"],
            "",
        )
        .await
        .unwrap();
    let rotated = app.rotate("admin", ORG, &a.id, 60).await.unwrap();
    app.delete("owner", ORG, &a.id).await.unwrap();
    app.delete("owner", ORG, &a.id).await.unwrap(); // idempotent: no second event
    app.undelete("owner", ORG, &a.id).await.unwrap();
    // A refused update leaves nothing.
    let _ = app
        .update(
            "admin",
            ORG,
            pb::Application {
                name: "".into(),
                ..updated.clone()
            },
            &["name"],
            "",
        )
        .await;

    let mut conn = app.db_conn().await;
    let events: Vec<Event> = sql_query(
        "SELECT actor, action, array_to_string(changed_fields, ',') AS fields, (audit_events.*)::text AS everything \
         FROM audit_events ORDER BY id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let summary: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.fields.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "owner",
                "create",
                "name,description,type,redirect_uris,scopes,active,first_party,grant_types,token_endpoint_auth_method,jwks,client_uri,logo_uri,policy_uri,tos_uri,contacts"
            ),
            ("admin", "update", "name,description"),
            ("admin", "rotate_secret", "client_secret"),
            ("owner", "delete", "delete_time"),
            ("owner", "undelete", "delete_time"),
        ]
    );
    for e in &events {
        for secret in [&resp.client_secret, &rotated.client_secret] {
            assert!(
                !e.everything.contains(secret.as_str()),
                "secret in audit: {e:?}"
            );
            assert!(!e.everything.contains("$argon2"), "hash in audit: {e:?}");
        }
    }

    // The CLI prints the same trail.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
        .args(["audit", "--org", ORG])
        .env("DATABASE_URL", &app.db.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[1].contains("admin\tupdate\t") && lines[1].contains("fields=name,description"),
        "{text}"
    );
    assert!(
        lines[2].contains("rotate_secret") && lines[2].contains("previous secret verifies until"),
        "{text}"
    );
}

/// The attack review's finding: an ADMIN redirected an OWNER's first-party
/// `admin:all` app to an attacker and rotated its secret. Every change to a
/// privileged app is the OWNER's: the ADMIN gets PERMISSION_DENIED and
/// nothing changes.
#[tokio::test]
async fn an_admin_cannot_take_over_a_privileged_app() {
    let app = setup().await;
    for (name, first_party, scopes) in [
        ("Console", true, vec!["read:user".to_owned()]),
        ("Org admin", false, vec!["admin:organization".to_owned()]),
        ("Root", true, vec!["admin:all".to_owned()]),
    ] {
        let created = app
            .client()
            .await
            .create_application(app.req(
                pb::CreateApplicationRequest {
                    first_party,
                    scopes,
                    ..web_app(name)
                },
                "owner",
                ORG,
            ))
            .await
            .unwrap()
            .into_inner();
        let original = created.application.unwrap();
        let secret = created.client_secret;

        let err = app
            .update(
                "admin",
                ORG,
                pb::Application {
                    redirect_uris: vec!["https://attacker.example/cb".into()],
                    ..original.clone()
                },
                &["redirect_uris"],
                "",
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: update");
        let err = app.rotate("admin", ORG, &original.id, 0).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: rotate");
        let err = app.delete("admin", ORG, &original.id).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: delete");

        // Nothing changed: same etag and URIs, the old secret still verifies.
        let now = app.get("owner", ORG, &original.id).await.unwrap();
        assert_eq!(now.etag, original.etag, "{name}");
        assert_eq!(now.redirect_uris, original.redirect_uris, "{name}");
        let verified = app.verify(&original.client_id, &secret).await;
        assert!(verified.valid, "{name}: the OWNER's secret still verifies");

        // Undelete too: the OWNER deletes, the ADMIN cannot bring it back.
        app.delete("owner", ORG, &original.id).await.unwrap();
        let err = app.undelete("admin", ORG, &original.id).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{name}: undelete");
        assert!(
            app.get("owner", ORG, &original.id)
                .await
                .unwrap()
                .delete_time
                .is_some()
        );
        // The OWNER may do all of it.
        app.undelete("owner", ORG, &original.id).await.unwrap();
        app.rotate("owner", ORG, &original.id, 0).await.unwrap();
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM audit_events WHERE actor = 'admin'")
            .await,
        0,
        "no refused change was audited"
    );
}
