//! The authorization matrix of every implemented RPC, and the edge cases of
//! tokens and metadata.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use oauth_apps::{auth::TokenIssuer, domain::Role, proto::v1 as pb};
use tonic::Code;

use crate::common::{JWT_SECRET, TestApp, web_app, with_auth};

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
    let matrix: &[(&str, [(&str, Code); 5])] = &[
        (
            "CreateApplication",
            [
                ("outsider", Code::PermissionDenied),
                ("member", Code::PermissionDenied),
                ("admin", Code::Ok),
                ("owner", Code::Ok),
                ("other-owner", Code::PermissionDenied),
            ],
        ),
        (
            "GetApplication",
            [
                ("outsider", Code::PermissionDenied),
                ("member", Code::Ok),
                ("admin", Code::Ok),
                ("owner", Code::Ok),
                ("other-owner", Code::PermissionDenied),
            ],
        ),
        (
            "ListApplications",
            [
                ("outsider", Code::PermissionDenied),
                ("member", Code::Ok),
                ("admin", Code::Ok),
                ("owner", Code::Ok),
                ("other-owner", Code::PermissionDenied),
            ],
        ),
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
    let list = c
        .list_applications(app.req(
            pb::ListApplicationsRequest {
                show_deleted: true,
                ..Default::default()
            },
            "other-owner",
            OTHER_ORG,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(list.applications.is_empty());
}

#[tokio::test]
async fn role_changes_take_effect_on_the_next_call() {
    let app = TestApp::spawn().await;
    cast(&app).await;
    let mut c = app.client().await;
    assert!(
        c.list_applications(app.req(pb::ListApplicationsRequest::default(), "member", ORG))
            .await
            .is_ok()
    );
    app.remove_member(ORG, "member").await;
    let err = c
        .list_applications(app.req(pb::ListApplicationsRequest::default(), "member", ORG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    app.set_member(ORG, "admin", Role::Member).await;
    let err = c
        .create_application(app.req(web_app("demoted"), "admin", ORG))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    app.set_member(ORG, "admin", Role::Admin).await;
    assert!(
        c.create_application(app.req(web_app("promoted"), "admin", ORG))
            .await
            .is_ok()
    );
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
