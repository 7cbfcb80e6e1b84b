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

/// Finding 6: without a `kid`, a signature is tried with at most a few of
/// the keys that fit, so a key set of ten costs a forged assertion three
/// verifications, not ten. The right key among the first three verifies.
#[tokio::test]
async fn without_a_kid_only_the_first_three_fitting_keys_are_tried() {
    use crate::authz_server::{claims, jwk, keyed, rand_jti, sign, verify_assertion};
    let app = setup().await;
    let decoy = |i: u8| {
        let mut n = vec![0xC5u8; 256];
        n[255] = i;
        serde_json::json!({"kty": "RSA", "alg": "RS256",
            "n": base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &n),
            "e": "AQAB"})
    };
    let mut real = jwk("rsa");
    real.as_object_mut().unwrap().remove("kid");
    let register = |keys: Vec<serde_json::Value>, name: &str| {
        keyed(name, &serde_json::json!({ "keys": keys }).to_string())
    };
    let third = create(
        &app,
        register(vec![decoy(1), decoy(2), real.clone()], "third"),
    )
    .await
    .unwrap()
    .application
    .unwrap()
    .client_id;
    let fourth = create(
        &app,
        register(vec![decoy(1), decoy(2), decoy(3), real], "fourth"),
    )
    .await
    .unwrap()
    .application
    .unwrap()
    .client_id;
    for (client, valid) in [(third, true), (fourth, false)] {
        let assertion = sign(Algorithm::RS256, "rsa", None, &claims(&client, &rand_jti()));
        let answer = verify_assertion(&app, &assertion, &client).await.unwrap();
        assert_eq!(answer.valid, valid, "{client}");
    }
}

/// Finding 9: a token issuer's RSA key under 2048 bits is skipped (with a
/// warning), as a client's is refused: a token it signed never verifies.
#[tokio::test]
async fn an_issuers_rsa_key_under_2048_bits_is_skipped() {
    use crate::jwks::{claims, jwk, list_as, sign};
    let dir = std::env::temp_dir().join(format!(
        "oauth-apps-weak-{}",
        oauth_apps::domain::ids::random_base62(8)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    let set = serde_json::json!({ "keys": [jwk("rsa1024"), jwk("rsa")] });
    std::fs::write(&path, set.to_string()).unwrap();
    let file = path.clone();
    let app = TestApp::spawn_with(move |c| {
        c.jwt.jwks_file = Some(file);
        c.jwt.jwt_issuer = Some("https://id.example".into());
        c.jwt.jwt_audience = Some("oauth-apps".into());
    })
    .await;
    app.set_member(crate::jwks::ORG, "alice", oauth_apps::domain::Role::Member)
        .await;
    let strong = sign(Algorithm::RS256, "rsa.pem", Some("rsa-1"), claims("alice"));
    assert_eq!(list_as(&app, &strong).await, Ok(()));
    let weak = sign(
        Algorithm::RS256,
        "rsa1024.pem",
        Some("rsa-weak"),
        claims("alice"),
    );
    assert_eq!(list_as(&app, &weak).await, Err(Code::Unauthenticated));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Info: keys no careful server accepts are refused at registration, and
/// so are members that point elsewhere for key material.
#[tokio::test]
async fn unusable_keys_and_key_references_are_refused_at_registration() {
    use crate::authz_server::{jwk, keyed};
    let app = setup().await;
    let rsa = |member: &str, value: serde_json::Value| {
        let mut k = jwk("rsa");
        k[member] = value;
        k
    };
    let big_n = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        vec![0xC5u8; 2048],
    );
    let mut off_curve = jwk("ec");
    off_curve["y"] = off_curve["x"].clone();
    let cases = [
        ("e = 1", rsa("e", "AQ".into())),
        ("even e", rsa("e", "AQAA".into())),
        ("16384 bits", rsa("n", big_n.into())),
        ("off-curve EC", off_curve),
        ("x5u", rsa("x5u", "https://evil.example/cert".into())),
        ("jku", rsa("jku", "https://evil.example/jwks".into())),
        (
            "jwks_uri",
            rsa("jwks_uri", "https://evil.example/jwks".into()),
        ),
        ("x5c", rsa("x5c", serde_json::json!(["MIIB"]))),
    ];
    for (what, key) in cases {
        let set = serde_json::json!({ "keys": [key] }).to_string();
        assert_eq!(
            refused_fields(&app, keyed("k", &set)).await,
            ["jwks"],
            "{what}"
        );
    }
    let mut set = serde_json::json!({ "keys": [jwk("rsa")] });
    set["jwks_uri"] = "https://evil.example/jwks".into();
    assert_eq!(
        refused_fields(&app, keyed("k", &set.to_string())).await,
        ["jwks"]
    );
}

/// Info: a redirect URI on port 0 ("any free port") is refused.
#[tokio::test]
async fn redirect_uris_on_port_zero_are_refused() {
    use crate::authz_server::typed;
    let app = setup().await;
    for (t, uri) in [
        (pb::ApplicationType::Web, "https://app.example:0/cb"),
        (pb::ApplicationType::Native, "http://127.0.0.1:0/cb"),
    ] {
        assert_eq!(
            refused_fields(&app, typed("p0", t, &[uri])).await,
            ["redirect_uris[0]"],
            "{uri}"
        );
    }
}

/// Info: a present `typ` must be one of the two accepted strings (`""` and
/// `null` are not absent), and a header or claims set with a member twice
/// (two `jti`s, where parsers disagree on which wins) is not valid.
#[tokio::test]
async fn assertions_with_an_empty_typ_or_a_member_twice_are_not_valid() {
    use crate::authz_server::{AUD, fixture, jwks, keyed, rand_jti, verify_assertion};
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let app = setup().await;
    let created = create(&app, keyed("raw", &jwks(&["rsa"]))).await.unwrap();
    let client = created.application.unwrap().client_id;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(fixture("rsa.pem").as_bytes()).unwrap();
    let sign_raw = |header: &str, claims: &str| {
        let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
        let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::RS256).unwrap();
        format!("{input}.{sig}")
    };
    let claims = |jti: &str| {
        let now = jsonwebtoken::get_current_timestamp();
        format!(
            r#"{{"iss":"{client}","sub":"{client}","aud":"{AUD}","exp":{},"jti":"{jti}""#,
            now + 60
        )
    };
    let ok = format!("{}}}", claims(&rand_jti()));
    let header = r#"{"alg":"RS256","kid":"rsa-1"}"#;
    let valid = |a: String| {
        let app = &app;
        let client = client.clone();
        async move { verify_assertion(app, &a, &client).await.unwrap().valid }
    };
    assert!(valid(sign_raw(header, &ok)).await, "the control case");
    for typ in ["\"\"", "null"] {
        let header = format!(r#"{{"alg":"RS256","kid":"rsa-1","typ":{typ}}}"#);
        let claims = format!("{}}}", claims(&rand_jti()));
        assert!(!valid(sign_raw(&header, &claims)).await, "typ {typ}");
    }
    let twice = format!(r#"{},"jti":"{}"}}"#, claims(&rand_jti()), rand_jti());
    assert!(!valid(sign_raw(header, &twice)).await, "two jti");
}
