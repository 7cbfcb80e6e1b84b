//! Hostile input the domain rules refuse (issue 22): internal hosts and
//! unsafe characters in metadata URLs, markup in contacts, control
//! characters in identifiers, keys no careful server would accept.

use jsonwebtoken::Algorithm;
use oauth_apps::proto::v1 as pb;
use tonic::Code;

use crate::authz_server::{ASSERTION_TYPE, ORG, create, setup};
use crate::common::{TestApp, VERIFY_SCOPE, violated_fields, web_app, with_auth};
use crate::process::ServerProcess;

async fn refused_fields(app: &TestApp, req: pb::CreateApplicationRequest) -> Vec<String> {
    match create(app, req).await {
        Ok(_) => vec![],
        Err(e) => {
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
            let mut got = violated_fields(&e);
            got.sort();
            got
        }
    }
}

/// Finding 7: a consent screen that fetches a logo must not be pointed at
/// the operator's network, and a URL must mean one thing to every parser.
#[tokio::test]
async fn metadata_urls_refuse_internal_hosts_backslashes_and_markup() {
    let app = setup().await;
    let bad = [
        "https://127.0.0.1/logo.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://10.0.0.1/",
        "https://localhost/",
        "https://2130706433/",
        "https://app.example.com\\@evil.com/",
        "https://app.example.com/\"onload=\"x",
        "https://app.example.com/'x'",
        "https://app.example.com/<svg>",
    ];
    for url in bad {
        let req = pb::CreateApplicationRequest {
            client_uri: url.into(),
            logo_uri: url.into(),
            policy_uri: url.into(),
            tos_uri: url.into(),
            ..web_app("x")
        };
        assert_eq!(
            refused_fields(&app, req).await,
            ["client_uri", "logo_uri", "policy_uri", "tos_uri"],
            "{url}"
        );
    }
    let ok = pb::CreateApplicationRequest {
        logo_uri: "https://cdn.app.example/logo.png".into(),
        ..web_app("public")
    };
    assert!(refused_fields(&app, ok).await.is_empty());

    // An internal deployment may allow internal hosts; the characters stay refused.
    let internal = TestApp::spawn_with(|c| c.metadata_url_allow_private = true).await;
    internal
        .set_member(ORG, "owner", oauth_apps::domain::Role::Owner)
        .await;
    let inside = pb::CreateApplicationRequest {
        logo_uri: "https://10.0.0.1/logo.png".into(),
        client_uri: "https://localhost/".into(),
        ..web_app("inside")
    };
    assert!(refused_fields(&internal, inside).await.is_empty());
    let slash = pb::CreateApplicationRequest {
        client_uri: "https://localhost\\@evil.com/".into(),
        ..web_app("slash")
    };
    assert_eq!(refused_fields(&internal, slash).await, ["client_uri"]);
}

/// Finding 8: contacts follow the rules of names for invisible characters
/// and are real addresses, never markup or a URL.
#[tokio::test]
async fn contacts_are_real_addresses_without_markup_or_invisible_characters() {
    let app = setup().await;
    let bad = [
        "<script>alert(1)</script>@x.example",
        "\"evil\"@x.example",
        "javascript:alert(1)//@x.example",
        "ops@x.example\u{202E}moc",
        "o\u{200B}ps@x.example",
    ];
    let req = pb::CreateApplicationRequest {
        contacts: bad.iter().map(|c| (*c).to_owned()).collect(),
        ..web_app("x")
    };
    assert_eq!(
        refused_fields(&app, req).await,
        [
            "contacts[0]",
            "contacts[1]",
            "contacts[2]",
            "contacts[3]",
            "contacts[4]"
        ]
    );
    let req = pb::CreateApplicationRequest {
        contacts: vec!["a@b".into(), "a b@c.example".into()],
        ..web_app("x")
    };
    assert_eq!(
        refused_fields(&app, req).await,
        ["contacts[0]", "contacts[1]"]
    );
    let ok = pb::CreateApplicationRequest {
        contacts: vec!["ops+oauth@mail.app.example".into()],
        ..web_app("ok")
    };
    assert!(refused_fields(&app, ok).await.is_empty());
}

/// Finding 5: a NUL (or other control character) in a client_id or in a
/// signed assertion's `jti` is invalid input: never INTERNAL, never an
/// ERROR line. The real binary, so that its log is what is read.
#[tokio::test]
async fn control_characters_in_identifiers_are_invalid_input_without_errors() {
    use crate::authz_server::{AUD, claims, jwks, keyed, sign};
    let app = setup().await;
    let created = create(&app, keyed("nul", &jwks(&["rsa"]))).await.unwrap();
    let client_id = created.application.unwrap().client_id;
    let server = ServerProcess::start(&app.db.url, &[("OAUTH_APPS_ASSERTION_AUDIENCE", AUD)]);
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::o_auth_applications_client::OAuthApplicationsClient::new(channel);
    let token = app.token_with_scope("token-endpoint", VERIFY_SCOPE);
    let kid = crate::authz_server::jwk("rsa")["kid"]
        .as_str()
        .map(str::to_owned);
    for jti in ["a\0b", "\0", "line\nbreak"] {
        let assertion = sign(
            Algorithm::RS256,
            "rsa",
            kid.as_deref(),
            &claims(&client_id, jti),
        );
        let answer = client
            .verify_client_assertion(with_auth(
                pb::VerifyClientAssertionRequest {
                    client_assertion_type: ASSERTION_TYPE.into(),
                    client_assertion: assertion,
                    client_id: client_id.clone(),
                },
                Some(&token),
                None,
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(!answer.valid, "{jti:?}");
    }
    let nul_id = format!("{client_id}\0");
    let verified = client
        .verify_client_credentials(with_auth(
            pb::VerifyClientCredentialsRequest {
                client_id: nul_id.clone(),
                client_secret: "x".repeat(40),
            },
            Some(&token),
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!verified.valid);
    let looked_up = client
        .lookup_client(with_auth(
            pb::LookupClientRequest {
                client_id: nul_id.clone(),
            },
            Some(&token),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(looked_up.code(), Code::NotFound, "{looked_up:?}");
    let matched = client
        .match_redirect_uri(with_auth(
            pb::MatchRedirectUriRequest {
                client_id: nul_id,
                redirect_uri: "https://app.example/cb".into(),
            },
            Some(&token),
            None,
        ))
        .await;
    match matched {
        Ok(m) => assert!(!m.into_inner().matched),
        Err(e) => assert_eq!(e.code(), Code::NotFound, "{e:?}"),
    }
    let logs = server.logs();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["level"] == "ERROR")
        })
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        logs.contains("\"level\":\"DEBUG\""),
        "the log is JSON with levels"
    );
}
