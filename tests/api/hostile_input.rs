//! Hostile input the domain rules refuse (issue 22): internal hosts and
//! unsafe characters in metadata URLs, markup in contacts, control
//! characters in identifiers, keys no careful server would accept.

use oauth_apps::proto::v1 as pb;

use crate::authz_server::{ORG, create, setup};
use crate::common::{TestApp, violated_fields, web_app};

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
