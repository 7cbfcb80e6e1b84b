//! CreateApplication: secrets, defaults, validation, uniqueness.

use std::sync::Arc;

use diesel::{QueryableByName, sql_query, sql_types::Text};
use diesel_async::RunQueryDsl as _;
use oauth_apps::{
    domain::{ClientSecret, Role},
    proto::v1 as pb,
};
use tonic::Code;

use crate::common::{TestApp, violated_fields, web_app};

const ORG: &str = "org-acme";

async fn app_with_owner() -> TestApp {
    let app = TestApp::spawn().await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app.set_member(ORG, "admin", Role::Admin).await;
    app
}

async fn count_apps(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM applications").await
}

#[tokio::test]
async fn web_app_gets_a_secret_shown_once() {
    let app = app_with_owner().await;
    let resp = app.create_app("owner", ORG, "Billing").await;
    let a = resp.application.unwrap();
    let secret = resp.client_secret;
    assert!(
        secret.len() >= 43,
        "secret too short: {} chars",
        secret.len()
    );
    assert!(a.id.starts_with("app_") && a.id.len() >= 4 + 22);
    assert!(!a.client_id.is_empty());
    assert_ne!(a.client_id, a.id);
    assert_eq!(a.client_secret_hint, secret[secret.len() - 4..]);
    assert_eq!(a.organization_id, ORG);
    assert_eq!(a.name, "Billing");
    assert_eq!(a.r#type(), pb::ApplicationType::Web);
    assert!(a.active);
    assert!(!a.first_party);
    assert_eq!(a.created_by, "owner");
    assert!(a.create_time.is_some() && a.update_time.is_some() && a.delete_time.is_none());
    assert!(!a.etag.is_empty());

    // Reading it back never shows the secret again, but keeps the hint.
    let got = app
        .client()
        .await
        .get_application(app.req(pb::GetApplicationRequest { id: a.id.clone() }, "owner", ORG))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(got, a);
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = Text)]
    secret_hash: String,
    #[diesel(sql_type = Text)]
    everything: String,
}

#[tokio::test]
async fn only_an_argon2id_hash_of_the_secret_is_stored() {
    let app = app_with_owner().await;
    let resp = app.create_app("owner", ORG, "Stored").await;
    let secret = resp.client_secret;
    let mut conn = app.db_conn().await;
    let rows: Vec<Stored> = sql_query(
        "SELECT s.secret_hash, (a.*)::text || (s.*)::text AS everything \
         FROM applications a JOIN client_secrets s ON s.application_id = a.id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].everything.contains(&secret),
        "plaintext secret stored"
    );
    assert!(
        !rows[0].everything.contains(&secret[4..]),
        "secret body stored"
    );
    assert!(rows[0].secret_hash.starts_with("$argon2id$"));
    // The reference implementation verifies it: the secret, and nothing else.
    use argon2::{PasswordVerifier as _, password_hash::phc::PasswordHash};
    let hash = PasswordHash::new(&rows[0].secret_hash).unwrap();
    let argon2 = argon2::Argon2::default();
    assert!(argon2.verify_password(secret.as_bytes(), &hash).is_ok());
    let other = ClientSecret::generate(&app.state.ops.checksum_key);
    assert!(
        argon2
            .verify_password(other.expose().as_bytes(), &hash)
            .is_err()
    );
}

#[tokio::test]
async fn public_and_service_apps() {
    let app = app_with_owner().await;
    let mut c = app.client().await;
    for (t, uris) in [
        (
            pb::ApplicationType::Native,
            vec![
                "com.example.app:/cb".to_owned(),
                "http://127.0.0.1:8765/cb".to_owned(),
            ],
        ),
        (
            pb::ApplicationType::UserAgentBased,
            vec!["https://spa.example.com/cb".to_owned()],
        ),
    ] {
        let resp = c
            .create_application(app.req(
                pb::CreateApplicationRequest {
                    r#type: t.into(),
                    redirect_uris: uris,
                    ..web_app(&format!("{t:?}"))
                },
                "owner",
                ORG,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.client_secret, "", "{t:?} is public");
        assert_eq!(resp.application.unwrap().client_secret_hint, "");
    }
    let svc = c
        .create_application(app.req(
            pb::CreateApplicationRequest {
                r#type: pb::ApplicationType::Service.into(),
                redirect_uris: vec![],
                ..web_app("svc")
            },
            "owner",
            ORG,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!svc.client_secret.is_empty());
    assert_eq!(
        svc.application.unwrap().r#type(),
        pb::ApplicationType::Service
    );
}

#[tokio::test]
async fn defaults_unspecified_type_to_web_and_honours_active_false() {
    let app = app_with_owner().await;
    let mut c = app.client().await;
    let a = c
        .create_application(app.req(
            pb::CreateApplicationRequest {
                r#type: 0,
                active: Some(false),
                ..web_app("defaults")
            },
            "owner",
            ORG,
        ))
        .await
        .unwrap()
        .into_inner();
    let app_msg = a.application.unwrap();
    assert_eq!(app_msg.r#type(), pb::ApplicationType::Web);
    assert!(!app_msg.active);
    assert!(!a.client_secret.is_empty());
}

#[tokio::test]
async fn only_an_owner_grants_admin_scopes_or_first_party() {
    let app = app_with_owner().await;
    let mut c = app.client().await;
    for req in [
        pb::CreateApplicationRequest {
            scopes: vec!["read:user".into(), "admin:all".into()],
            ..web_app("a1")
        },
        pb::CreateApplicationRequest {
            scopes: vec!["admin:organization".into()],
            ..web_app("a2")
        },
        pb::CreateApplicationRequest {
            first_party: true,
            ..web_app("a3")
        },
    ] {
        let err = c
            .create_application(app.req(req.clone(), "admin", ORG))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{req:?}");
        let ok = c
            .create_application(app.req(req.clone(), "owner", ORG))
            .await
            .unwrap()
            .into_inner();
        let a = ok.application.unwrap();
        assert_eq!(a.first_party, req.first_party);
        assert_eq!(a.scopes, req.scopes);
    }
    assert_eq!(count_apps(&app).await, 3);
}

#[tokio::test]
async fn every_violation_is_reported_at_once_and_nothing_is_written() {
    let app = app_with_owner().await;
    let mut c = app.client().await;
    let req = pb::CreateApplicationRequest {
        name: "   ".into(),
        description: "d".repeat(501),
        r#type: pb::ApplicationType::Web.into(),
        redirect_uris: vec![
            "https://ok.example.com/cb".into(),
            "http://evil.example.com/cb".into(),
            "https://ok.example.com/cb".into(),
            "javascript:alert(1)".into(),
        ],
        scopes: vec!["read:user".into(), "bogus".into(), "read:user".into()],
        active: None,
        first_party: false,
        ..Default::default()
    };
    let err = c
        .create_application(app.req(req, "owner", ORG))
        .await
        .unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "description",
            "name",
            "redirect_uris[1]",
            "redirect_uris[2]",
            "redirect_uris[3]",
            "scopes[1]",
            "scopes[2]"
        ]
    );
    assert_eq!(count_apps(&app).await, 0);
}

#[tokio::test]
async fn each_rule_of_the_contract_is_enforced() {
    let app = app_with_owner().await;
    let mut c = app.client().await;
    let web = pb::ApplicationType::Web as i32;
    let native = pb::ApplicationType::Native as i32;
    let ua = pb::ApplicationType::UserAgentBased as i32;
    let service = pb::ApplicationType::Service as i32;
    let uris = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    // (what, request, expected violated field)
    let cases: Vec<(&str, pb::CreateApplicationRequest, &str)> = vec![
        (
            "empty name",
            pb::CreateApplicationRequest {
                name: "".into(),
                ..web_app("x")
            },
            "name",
        ),
        (
            "101-char name",
            pb::CreateApplicationRequest {
                name: "n".repeat(101),
                ..web_app("x")
            },
            "name",
        ),
        (
            "control char in name",
            pb::CreateApplicationRequest {
                name: "a\u{7}b".into(),
                ..web_app("x")
            },
            "name",
        ),
        (
            "newline in name",
            pb::CreateApplicationRequest {
                name: "a\nb".into(),
                ..web_app("x")
            },
            "name",
        ),
        (
            "501-char description",
            pb::CreateApplicationRequest {
                description: "d".repeat(501),
                ..web_app("x")
            },
            "description",
        ),
        (
            "unknown type",
            pb::CreateApplicationRequest {
                r#type: 42,
                ..web_app("x")
            },
            "type",
        ),
        (
            "no scopes",
            pb::CreateApplicationRequest {
                scopes: vec![],
                ..web_app("x")
            },
            "scopes",
        ),
        (
            "unknown scope",
            pb::CreateApplicationRequest {
                scopes: uris(&["read:user", "root"]),
                ..web_app("x")
            },
            "scopes[1]",
        ),
        (
            "duplicate scope",
            pb::CreateApplicationRequest {
                scopes: uris(&["read:user", "read:user"]),
                ..web_app("x")
            },
            "scopes[1]",
        ),
        (
            "relative URI",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "fragment",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["https://a.example/cb#x"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "wildcard",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["https://*.example.com/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "duplicate URI",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["https://a.example/cb", "https://a.example/cb"]),
                ..web_app("x")
            },
            "redirect_uris[1]",
        ),
        (
            "21 URIs",
            pb::CreateApplicationRequest {
                redirect_uris: (0..21).map(|i| format!("https://a.example/{i}")).collect(),
                ..web_app("x")
            },
            "redirect_uris",
        ),
        (
            "2001-byte URI",
            pb::CreateApplicationRequest {
                redirect_uris: vec![format!("https://a.example/{}", "p".repeat(1983))],
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "javascript:",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["javascript:alert(1)"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "data:",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["data:text/html,x"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "file:",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["file:///etc/passwd"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "vbscript:",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["vbscript:x"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "web http non-loopback",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["http://a.example/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "web http localhost",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["http://localhost:8080/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "ua http non-loopback",
            pb::CreateApplicationRequest {
                r#type: ua,
                redirect_uris: uris(&["http://a.example/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "web private-use scheme",
            pb::CreateApplicationRequest {
                r#type: web,
                redirect_uris: uris(&["com.example.app:/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "native scheme without dot",
            pb::CreateApplicationRequest {
                r#type: native,
                redirect_uris: uris(&["myapp:/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "native http non-loopback",
            pb::CreateApplicationRequest {
                r#type: native,
                redirect_uris: uris(&["http://a.example/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
        (
            "service with redirect URI",
            pb::CreateApplicationRequest {
                r#type: service,
                ..web_app("x")
            },
            "redirect_uris",
        ),
        (
            "userinfo",
            pb::CreateApplicationRequest {
                redirect_uris: uris(&["https://good.example@evil.example/cb"]),
                ..web_app("x")
            },
            "redirect_uris[0]",
        ),
    ];
    for (what, req, field) in cases {
        let err = c
            .create_application(app.req(req, "owner", ORG))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&err), [field], "{what}: {err:?}");
    }
    assert_eq!(count_apps(&app).await, 0);
}

#[tokio::test]
async fn names_are_unique_per_org_among_live_apps() {
    let app = app_with_owner().await;
    app.set_member("org-two", "owner", Role::Owner).await;
    let mut c = app.client().await;
    app.create_app("owner", ORG, "Billing").await;
    for dup in ["Billing", "billing", "BILLING"] {
        let err = c
            .create_application(app.req(web_app(dup), "owner", ORG))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::AlreadyExists, "{dup}");
    }
    // The same name in another organization is fine.
    assert!(
        c.create_application(app.req(web_app("Billing"), "owner", "org-two"))
            .await
            .is_ok()
    );
    assert_eq!(count_apps(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_racing_creates_with_one_name_make_one_app() {
    let app = Arc::new(app_with_owner().await);
    let channel = app.channel().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let app = app.clone();
        let mut c = oauth_apps::proto::OAuthApplicationsClient::new(channel.clone());
        tasks.push(tokio::spawn(async move {
            c.create_application(app.req(web_app("Racy"), "owner", ORG))
                .await
                .map(|_| ())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(s) => assert_eq!(s.code(), Code::AlreadyExists, "{s:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(count_apps(&app).await, 1);
    let secrets = app.count("SELECT count(*) AS n FROM client_secrets").await;
    assert_eq!(secrets, 1, "a losing create left a secret behind");
}

/// The attack review's look-alikes: each pair looks the same on a consent or
/// admin screen, so the second of each is refused, as a taken name or as an
/// invisible or mixed-script one.
#[tokio::test]
async fn names_that_look_the_same_cannot_coexist() {
    let app = app_with_owner().await;
    let mut c = app.client().await;
    let pairs = [
        ("Café", "Cafe\u{0301}", Code::AlreadyExists),
        ("Billing", "Ｂｉｌｌｉｎｇ", Code::AlreadyExists),
        ("Reports", "Rep\u{200B}orts", Code::InvalidArgument),
        ("Invoice", "ınvoıce", Code::AlreadyExists),
        ("Straße", "STRASSE", Code::AlreadyExists),
        ("Payments", "\u{0420}ayments", Code::InvalidArgument),
        ("PayPal", "PayPaI", Code::AlreadyExists),
    ];
    for (first, second, refusal) in pairs {
        c.create_application(app.req(web_app(first), "owner", ORG))
            .await
            .unwrap_or_else(|e| panic!("{first}: {e:?}"));
        let err = c
            .create_application(app.req(web_app(second), "owner", ORG))
            .await
            .unwrap_err();
        assert_eq!(err.code(), refusal, "{second:?} next to {first:?}: {err:?}");
    }
    // Names are stored composed: what comes back is NFC.
    let composed = c
        .create_application(app.req(web_app("Ame\u{0301}lie"), "owner", ORG))
        .await
        .unwrap()
        .into_inner()
        .application
        .unwrap();
    assert_eq!(composed.name, "Amélie");
    // Renaming into a look-alike, or undeleting one, is refused alike.
    let other = app
        .create_app("owner", ORG, "Other")
        .await
        .application
        .unwrap();
    let err = app
        .update(
            "owner",
            ORG,
            pb::Application {
                name: "BILLING".into(),
                ..other.clone()
            },
            &["name"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    app.delete("owner", ORG, &other.id).await.unwrap();
    app.create_app("owner", ORG, "OTHER").await;
    let err = app.undelete("owner", ORG, &other.id).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    // Another organization has names of its own.
    app.set_member("org-other", "owner", Role::Owner).await;
    app.create_app("owner", "org-other", "Ｂｉｌｌｉｎｇ").await;
}

/// Applications from before look-alike keys get them at start-up, so a
/// look-alike of an old name is refused too.
#[tokio::test]
async fn old_names_get_their_keys_at_start_up() {
    use diesel_async::RunQueryDsl as _;
    let app = app_with_owner().await;
    let old = app
        .create_app("owner", ORG, "Legacy")
        .await
        .application
        .unwrap();
    let mut conn = app.db_conn().await;
    diesel::sql_query(
        "UPDATE applications SET name_key = NULL, visual_key = NULL, name_keys_version = NULL",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let replica = app.replica().await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM applications WHERE name_keys_version IS NULL")
            .await,
        0
    );
    let err = replica
        .client()
        .await
        .create_application(replica.req(web_app("LEGACY"), "owner", ORG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(replica.get("owner", ORG, &old.id).await.is_ok());
}

/// Start-up looks for rows to key through a partial index, so a start costs
/// nothing once every row is keyed, however large the registry (a scan of a
/// million rows took about a third of a second on every start).
#[tokio::test]
async fn start_up_finds_rows_to_key_without_a_scan() {
    use diesel_async::RunQueryDsl as _;
    let app = TestApp::spawn().await;
    let mut conn = app.db_conn().await;
    diesel::sql_query(
        "INSERT INTO applications (id, organization_id, name, app_type, scopes, client_id, created_by, grant_types, name_key, visual_key, name_keys_version) \
         SELECT 'app_' || lpad(i::text, 22, '0'), 'org-' || (i % 97), 'app ' || i, 'web', '{read:user}', \
                'client' || i, 'seed', '{client_credentials}', 'k' || i, 'v' || i, 1 \
         FROM generate_series(1, 50000) AS i",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("ANALYZE applications")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan = oauth_apps::store::applications::explain_pending_name_keys(&mut conn)
        .await
        .unwrap()
        .join("\n");
    assert!(
        plan.contains("applications_name_keys_pending") && !plan.contains("Seq Scan"),
        "start-up scans the table:\n{plan}"
    );
}

/// The attack review's 30,000 empty redirect URIs: one violation, a small
/// error, not one per item (which made a 1.8 MB header).
#[tokio::test]
async fn over_long_lists_are_refused_as_one_violation() {
    let app = app_with_owner().await;
    let mut c = app.client().await;
    let cases = [
        (
            pb::CreateApplicationRequest {
                redirect_uris: vec![String::new(); 30_000],
                ..web_app("Huge")
            },
            "redirect_uris",
        ),
        (
            pb::CreateApplicationRequest {
                scopes: vec!["nope".to_owned(); 5_000],
                ..web_app("Huge")
            },
            "scopes",
        ),
    ];
    for (req, field) in cases {
        let err = c
            .create_application(app.req(req, "owner", ORG))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&err), [field]);
        assert!(
            err.details().len() < 1024,
            "{} bytes of details",
            err.details().len()
        );
    }
    assert_eq!(count_apps(&app).await, 0);
}
