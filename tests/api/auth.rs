//! The authorization matrix of every implemented RPC, and the edge cases of
//! tokens and metadata.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use oauth_apps::{auth::TokenIssuer, domain::Role, proto::v1 as pb};
use tonic::Code;

use crate::common::{JWT_SECRET, TestApp, web_app, with_auth, within_a_moment};
use oauth_apps::domain::ids::random_base62;

const ORG: &str = "org-acme";
const OTHER_ORG: &str = "org-other";

/// Members of ORG with each role, and an OWNER of another org.
async fn cast(app: &TestApp) {
    app.set_member(ORG, "owner", Role::Owner).await;
    app.set_member(ORG, "admin", Role::Admin).await;
    app.set_member(ORG, "member", Role::Member).await;
    app.set_member(OTHER_ORG, "other-owner", Role::Owner).await;
}

fn bad_tokens() -> Vec<(&'static str, String)> {
    let now = jsonwebtoken::get_current_timestamp();
    let key = EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let hs =
        |claims: serde_json::Value| encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    vec![
        ("garbage", "not.a.jwt".to_owned()),
        (
            "expired",
            hs(serde_json::json!({"sub": "owner", "exp": now - 3600})),
        ),
        (
            "not yet valid",
            hs(serde_json::json!({"sub": "owner", "nbf": now + 3600, "exp": now + 7200})),
        ),
        ("no exp", hs(serde_json::json!({"sub": "owner"}))),
        ("no sub", hs(serde_json::json!({"exp": now + 600}))),
        (
            "other key",
            TokenIssuer::hs256(b"some-other-secret-0123456789abcdef", None, None).mint(
                "owner",
                None,
                Duration::from_secs(600),
            ),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
                B64.encode(serde_json::json!({"sub": "owner", "exp": now + 600}).to_string())
            ),
        ),
        (
            "HS512",
            encode(
                &Header::new(Algorithm::HS512),
                &serde_json::json!({"sub": "owner", "exp": now + 600}),
                &key,
            )
            .unwrap(),
        ),
        (
            "critical extension",
            encode(
                &Header {
                    crit: Some(vec!["x-unknown".into()]),
                    ..Header::new(Algorithm::HS256)
                },
                &serde_json::json!({"sub": "owner", "exp": now + 600}),
                &key,
            )
            .unwrap(),
        ),
        (
            "NUL in sub",
            hs(serde_json::json!({"sub": "own\u{0}er", "exp": now + 600})),
        ),
        (
            "lives a century",
            hs(serde_json::json!({"sub": "owner", "exp": now + 100 * 365 * 24 * 3600})),
        ),
    ]
}

/// Calls one RPC as the given caller and returns the status code.
async fn call(
    app: &TestApp,
    rpc: &str,
    token: Option<&str>,
    org: Option<&str>,
    existing_id: &str,
) -> Code {
    let mut c = app.client().await;
    let result = match rpc {
        "CreateApplication" => {
            let name = format!("app-{}", oauth_apps::domain::ids::random_base62(8));
            c.create_application(with_auth(web_app(&name), token, org))
                .await
                .map(|_| ())
        }
        "GetApplication" => c
            .get_application(with_auth(
                pb::GetApplicationRequest {
                    id: existing_id.into(),
                },
                token,
                org,
            ))
            .await
            .map(|_| ()),
        "ListApplications" => c
            .list_applications(with_auth(
                pb::ListApplicationsRequest::default(),
                token,
                org,
            ))
            .await
            .map(|_| ()),
        "UpdateApplication" => c
            .update_application(with_auth(
                pb::UpdateApplicationRequest {
                    application: Some(pb::Application {
                        id: existing_id.into(),
                        description: oauth_apps::domain::ids::random_base62(8),
                        ..Default::default()
                    }),
                    update_mask: Some(pbjson_types::FieldMask {
                        paths: vec!["description".into()],
                    }),
                    etag: String::new(),
                },
                token,
                org,
            ))
            .await
            .map(|_| ()),
        "DeleteApplication" => c
            .delete_application(with_auth(
                pb::DeleteApplicationRequest {
                    id: existing_id.into(),
                },
                token,
                org,
            ))
            .await
            .map(|_| ()),
        "UndeleteApplication" => c
            .undelete_application(with_auth(
                pb::UndeleteApplicationRequest {
                    id: existing_id.into(),
                },
                token,
                org,
            ))
            .await
            .map(|_| ()),
        "RotateClientSecret" => c
            .rotate_client_secret(with_auth(
                pb::RotateClientSecretRequest {
                    id: existing_id.into(),
                    previous_secret_grace: None,
                },
                token,
                org,
            ))
            .await
            .map(|_| ()),
        other => panic!("no such rpc {other}"),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[tokio::test]
async fn authorization_matrix() {
    let app = TestApp::spawn().await;
    cast(&app).await;
    let existing = app
        .create_app("owner", ORG, "existing")
        .await
        .application
        .unwrap()
        .id;

    // (rpc, caller -> expected code)
    let writers = [
        ("outsider", Code::PermissionDenied),
        ("member", Code::PermissionDenied),
        ("admin", Code::Ok),
        ("owner", Code::Ok),
        ("other-owner", Code::PermissionDenied),
    ];
    let readers = [
        ("outsider", Code::PermissionDenied),
        ("member", Code::Ok),
        ("admin", Code::Ok),
        ("owner", Code::Ok),
        ("other-owner", Code::PermissionDenied),
    ];
    let matrix: &[(&str, [(&str, Code); 5])] = &[
        ("CreateApplication", writers),
        ("GetApplication", readers),
        ("ListApplications", readers),
        ("UpdateApplication", writers),
        ("RotateClientSecret", writers),
        // Delete before undelete, so the app ends the test live.
        ("DeleteApplication", writers),
        ("UndeleteApplication", writers),
    ];
    for (rpc, callers) in matrix {
        assert_eq!(
            call(&app, rpc, None, Some(ORG), &existing).await,
            Code::Unauthenticated,
            "{rpc} without token"
        );
        for (what, token) in bad_tokens() {
            assert_eq!(
                call(&app, rpc, Some(&token), Some(ORG), &existing).await,
                Code::Unauthenticated,
                "{rpc} with {what} token"
            );
        }
        assert_eq!(
            call(&app, rpc, Some(&app.token("owner")), None, &existing).await,
            Code::InvalidArgument,
            "{rpc} without x-organization-id"
        );
        for (caller, expected) in callers {
            assert_eq!(
                call(&app, rpc, Some(&app.token(caller)), Some(ORG), &existing).await,
                *expected,
                "{rpc} as {caller}"
            );
        }
    }
}

#[tokio::test]
async fn service_methods_refuse_bad_tokens() {
    let app = TestApp::spawn().await;
    let mut c = app.client().await;
    let mut tokens: Vec<(&str, String)> = bad_tokens();
    // A valid token without the scope, and one whose scope merely contains it.
    tokens.push(("no scope", app.token("token-endpoint")));
    tokens.push((
        "scope prefix",
        app.token_with_scope("token-endpoint", "oauthapps:verify2 oauthapps"),
    ));
    // Only a plain space separates scopes.
    tokens.push((
        "scope behind a no-break space",
        app.token_with_scope("token-endpoint", "x\u{a0}oauthapps:verify"),
    ));
    for (what, token) in tokens {
        let verify = c
            .verify_client_credentials(with_auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: "x".into(),
                    client_secret: "y".into(),
                },
                Some(&token),
                None,
            ))
            .await
            .unwrap_err();
        let lookup = c
            .lookup_client(with_auth(
                pb::LookupClientRequest {
                    client_id: "x".into(),
                },
                Some(&token),
                None,
            ))
            .await
            .unwrap_err();
        let expected = if what.starts_with("no scope") || what.starts_with("scope ") {
            Code::PermissionDenied
        } else {
            Code::Unauthenticated
        };
        assert_eq!(
            verify.code(),
            expected,
            "VerifyClientCredentials with {what}"
        );
        assert_eq!(lookup.code(), expected, "LookupClient with {what}");
    }
}

#[tokio::test]
async fn configured_issuer_and_audience_are_required() {
    let app = TestApp::spawn_with(|c| {
        c.jwt.jwt_issuer = Some("https://id.example".into());
        c.jwt.jwt_audience = Some("oauth-apps".into());
    })
    .await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let good = TokenIssuer::hs256(
        JWT_SECRET.as_bytes(),
        Some("https://id.example"),
        Some("oauth-apps"),
    )
    .mint("owner", None, Duration::from_secs(60));
    let wrong_iss = TokenIssuer::hs256(
        JWT_SECRET.as_bytes(),
        Some("https://evil.example"),
        Some("oauth-apps"),
    )
    .mint("owner", None, Duration::from_secs(60));
    let list = |t: String| {
        let app = &app;
        async move {
            app.client()
                .await
                .list_applications(with_auth(
                    pb::ListApplicationsRequest::default(),
                    Some(&t),
                    Some(ORG),
                ))
                .await
                .map(|_| ())
                .map_err(|s| s.code())
        }
    };
    assert_eq!(list(good).await, Ok(()));
    assert_eq!(list(wrong_iss).await, Err(Code::Unauthenticated));
    assert_eq!(
        list(app.token("owner")).await,
        Err(Code::Unauthenticated),
        "no iss/aud at all"
    );
}

#[tokio::test]
async fn another_orgs_owner_sees_nothing_in_their_own_org() {
    let app = TestApp::spawn().await;
    cast(&app).await;
    let victim = app
        .create_app("owner", ORG, "victim")
        .await
        .application
        .unwrap();
    let mut c = app.client().await;
    let err = c
        .get_application(app.req(
            pb::GetApplicationRequest {
                id: victim.id.clone(),
            },
            "other-owner",
            OTHER_ORG,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let list = app
        .list(
            "other-owner",
            OTHER_ORG,
            pb::ListApplicationsRequest {
                show_deleted: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(list.applications.is_empty());
}

#[tokio::test]
async fn role_changes_take_effect_on_the_next_call() {
    let app = TestApp::spawn().await;
    cast(&app).await;
    assert!(
        app.list("member", ORG, pb::ListApplicationsRequest::default())
            .await
            .is_ok()
    );
    app.remove_member(ORG, "member").await;
    within_a_moment("removing a member", || async {
        app.list("member", ORG, pb::ListApplicationsRequest::default())
            .await
            .is_err_and(|e| e.code() == Code::PermissionDenied)
    })
    .await;

    // Mutations check the database every time, even with the role cached by
    // a read just before: no waiting at all.
    app.list("admin", ORG, pb::ListApplicationsRequest::default())
        .await
        .unwrap();
    app.set_member(ORG, "admin", Role::Member).await;
    let err = app
        .client()
        .await
        .create_application(app.req(web_app(&random_base62(8)), "admin", ORG))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::PermissionDenied,
        "a demoted admin still mutated"
    );
    app.set_member(ORG, "admin", Role::Admin).await;
    app.client()
        .await
        .create_application(app.req(web_app(&random_base62(8)), "admin", ORG))
        .await
        .expect("promoted again");
    assert_eq!(app.count("SELECT count(*) AS n FROM applications").await, 1);
}

#[tokio::test]
async fn service_methods_need_the_verify_scope() {
    let app = TestApp::spawn().await;
    cast(&app).await;
    let mut c = app.client().await;
    // An org OWNER without the scope is refused, even with the org header.
    let err = c
        .lookup_client(with_auth(
            pb::LookupClientRequest {
                client_id: "x".into(),
            },
            Some(&app.token("owner")),
            Some(ORG),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = c
        .verify_client_credentials(with_auth(
            pb::VerifyClientCredentialsRequest {
                client_id: "x".into(),
                client_secret: "y".into(),
            },
            None,
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // With the scope, the layer lets the call through, with no org needed.
    let passed = c
        .lookup_client(with_auth(
            pb::LookupClientRequest {
                client_id: "x".into(),
            },
            Some(&app.token_with_scope("token-endpoint", "openid oauthapps:verify")),
            None,
        ))
        .await
        .unwrap_err();
    assert!(
        !matches!(
            passed.code(),
            Code::PermissionDenied | Code::Unauthenticated | Code::InvalidArgument
        ),
        "{passed:?}"
    );
}

#[tokio::test]
async fn errors_never_echo_the_token() {
    let app = TestApp::spawn().await;
    let token = TokenIssuer::hs256(b"some-other-secret-0123456789abcdef", None, None).mint(
        "owner",
        None,
        Duration::from_secs(60),
    );
    let err = app
        .client()
        .await
        .list_applications(with_auth(
            pb::ListApplicationsRequest::default(),
            Some(&token),
            Some(ORG),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(!err.message().contains(&token));
    let signature = token.rsplit('.').next().unwrap();
    assert!(!err.message().contains(signature));
}

#[tokio::test]
async fn a_lost_invalidation_listener_never_leaves_a_stale_role() {
    use diesel::sql_query;
    use diesel_async::RunQueryDsl as _;
    let app = TestApp::spawn().await;
    cast(&app).await;
    let list_as_member = || async {
        app.list("member", ORG, pb::ListApplicationsRequest::default())
            .await
    };
    // Twice: the second answer comes from the cache.
    assert!(list_as_member().await.is_ok());
    assert!(list_as_member().await.is_ok());
    // Kill the listener's connection, then remove the member: the
    // notification has nobody to reach.
    let mut conn = app.db_conn().await;
    sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'oauth-apps listener'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    app.remove_member(ORG, "member").await;
    within_a_moment("the removal, with the listener down", || async {
        list_as_member()
            .await
            .is_err_and(|e| e.code() == Code::PermissionDenied)
    })
    .await;
}
