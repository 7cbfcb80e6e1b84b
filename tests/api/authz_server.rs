//! What an authorization server asks: client metadata, MatchRedirectUri and
//! VerifyClientAssertion, through the real gRPC API.

use std::{path::PathBuf, time::Duration};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic::{Code, Status};

use crate::common::{TestApp, VERIFY_SCOPE, violated_fields, web_app, with_auth, within_a_moment};

pub(crate) const ORG: &str = "org-as";
pub(crate) const AUD: &str = "https://as.example";
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) async fn setup() -> TestApp {
    let app = TestApp::spawn_with(|c| c.assertion_audience = Some(AUD.into())).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    app
}

pub(crate) fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwks")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

pub(crate) fn jwk(name: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(&format!("{name}.jwk.json"))).unwrap()
}

pub(crate) fn jwks(names: &[&str]) -> String {
    let keys: Vec<_> = names.iter().map(|n| jwk(n)).collect();
    serde_json::json!({ "keys": keys }).to_string()
}

pub(crate) async fn create(
    app: &TestApp,
    req: pb::CreateApplicationRequest,
) -> Result<pb::CreateApplicationResponse, Status> {
    app.client()
        .await
        .create_application(app.req(req, "owner", ORG))
        .await
        .map(|r| r.into_inner())
}

pub(crate) fn typed(
    name: &str,
    t: pb::ApplicationType,
    uris: &[&str],
) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        r#type: t.into(),
        redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        ..web_app(name)
    }
}

pub(crate) fn keyed(name: &str, keys: &str) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        token_endpoint_auth_method: pb::TokenEndpointAuthMethod::PrivateKeyJwt.into(),
        jwks: keys.to_owned(),
        ..typed(name, pb::ApplicationType::Service, &[])
    }
}

fn grants(g: &[pb::GrantType]) -> Vec<i32> {
    g.iter().map(|g| *g as i32).collect()
}

pub(crate) fn sign(
    alg: Algorithm,
    key: &str,
    kid: Option<&str>,
    claims: &serde_json::Value,
) -> String {
    let pem = fixture(&format!("{key}.pem"));
    let key = match alg {
        Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        _ => unreachable!(),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).unwrap()
}

pub(crate) fn claims(client_id: &str, jti: &str) -> serde_json::Value {
    let now = jsonwebtoken::get_current_timestamp();
    serde_json::json!({"iss": client_id, "sub": client_id, "aud": AUD, "exp": now + 120,
        "iat": now, "jti": jti})
}

pub(crate) async fn verify_assertion(
    app: &TestApp,
    assertion: &str,
    client_id: &str,
) -> Result<pb::VerifyClientAssertionResponse, Status> {
    let token = app.token_with_scope("token-endpoint", VERIFY_SCOPE);
    app.client()
        .await
        .verify_client_assertion(with_auth(
            pb::VerifyClientAssertionRequest {
                client_assertion_type: ASSERTION_TYPE.into(),
                client_assertion: assertion.into(),
                client_id: client_id.into(),
            },
            Some(&token),
            None,
        ))
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn match_uri(
    app: &TestApp,
    client_id: &str,
    uri: &str,
) -> Result<pb::MatchRedirectUriResponse, Status> {
    let token = app.token_with_scope("authorize-endpoint", VERIFY_SCOPE);
    app.client()
        .await
        .match_redirect_uri(with_auth(
            pb::MatchRedirectUriRequest {
                client_id: client_id.into(),
                redirect_uri: uri.into(),
            },
            Some(&token),
            None,
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn metadata_defaults_by_type_and_comes_back_everywhere() {
    use pb::{ApplicationType as T, GrantType as G, TokenEndpointAuthMethod as M};
    let app = setup().await;
    let cases = [
        (
            "web with URIs",
            typed("a", T::Web, &["https://a.example/cb"]),
            &[G::AuthorizationCode, G::RefreshToken][..],
            M::ClientSecretBasic,
        ),
        (
            "web without",
            typed("b", T::Web, &[]),
            &[G::ClientCredentials][..],
            M::ClientSecretBasic,
        ),
        (
            "service",
            typed("c", T::Service, &[]),
            &[G::ClientCredentials][..],
            M::ClientSecretBasic,
        ),
        (
            "native",
            typed("d", T::Native, &["com.example.app:/cb"]),
            &[G::AuthorizationCode, G::RefreshToken][..],
            M::None,
        ),
        (
            "browser",
            typed("e", T::UserAgentBased, &["https://e.example/cb"]),
            &[G::AuthorizationCode, G::RefreshToken][..],
            M::None,
        ),
    ];
    for (what, req, want_grants, want_method) in cases {
        let created = create(&app, req).await.unwrap();
        let a = created.application.unwrap();
        assert_eq!(a.grant_types, grants(want_grants), "{what}");
        assert_eq!(a.token_endpoint_auth_method(), want_method, "{what}");
        assert_eq!(
            created.client_secret.is_empty(),
            want_method == M::None,
            "{what}"
        );
    }
    // Everything given comes back from Get, List, Lookup and Verify.
    let full = pb::CreateApplicationRequest {
        grant_types: grants(&[G::AuthorizationCode, G::DeviceCode, G::RefreshToken]),
        token_endpoint_auth_method: M::ClientSecretPost.into(),
        client_uri: "https://full.example".into(),
        logo_uri: "https://full.example/logo.png".into(),
        policy_uri: "https://full.example/privacy".into(),
        tos_uri: "https://full.example/terms".into(),
        contacts: vec!["ops@full.example".into()],
        ..typed("Full", T::Web, &["https://full.example/cb"])
    };
    let created = create(&app, full).await.unwrap();
    let a = created.application.unwrap();
    assert_eq!(a.contacts, ["ops@full.example"]);
    assert_eq!(a.logo_uri, "https://full.example/logo.png");
    assert_eq!(app.get("owner", ORG, &a.id).await.unwrap(), a);
    let listed = app
        .list("owner", ORG, pb::ListApplicationsRequest::default())
        .await
        .unwrap();
    assert!(listed.applications.contains(&a));
    assert_eq!(app.lookup(&a.client_id).await.unwrap(), a);
    let verified = app.verify(&a.client_id, &created.client_secret).await;
    assert_eq!(verified.application.unwrap(), a);
    let matched = match_uri(&app, &a.client_id, "https://full.example/cb")
        .await
        .unwrap();
    assert_eq!(matched.application.unwrap(), a);
}

#[tokio::test]
async fn every_metadata_rule_is_reported_at_once() {
    use pb::{ApplicationType as T, GrantType as G, TokenEndpointAuthMethod as M};
    let app = setup().await;
    let mut private_key = jwk("ec");
    private_key["d"] = "bm90IGEgcmVhbCBrZXkgYnV0IHByaXZhdGUgYW55d2F5".into();
    let cases: Vec<(&str, pb::CreateApplicationRequest, &[&str])> = vec![
        (
            "unspecified grant",
            pb::CreateApplicationRequest {
                grant_types: vec![0],
                ..web_app("x")
            },
            &["grant_types[0]"],
        ),
        (
            "unknown grant (implicit?)",
            pb::CreateApplicationRequest {
                grant_types: vec![9],
                ..web_app("x")
            },
            &["grant_types[0]"],
        ),
        (
            "duplicate grant",
            pb::CreateApplicationRequest {
                grant_types: grants(&[G::AuthorizationCode, G::AuthorizationCode]),
                ..web_app("x")
            },
            &["grant_types[1]"],
        ),
        (
            "client credentials for a public client",
            pb::CreateApplicationRequest {
                grant_types: grants(&[G::ClientCredentials]),
                ..typed("x", T::Native, &["com.example.app:/cb"])
            },
            &["grant_types"],
        ),
        (
            "service with more",
            pb::CreateApplicationRequest {
                grant_types: grants(&[G::ClientCredentials, G::DeviceCode]),
                ..typed("x", T::Service, &[])
            },
            &["grant_types", "grant_types"],
        ),
        (
            "code without redirect URIs",
            pb::CreateApplicationRequest {
                grant_types: grants(&[G::AuthorizationCode]),
                ..typed("x", T::Web, &[])
            },
            &["grant_types"],
        ),
        (
            "native defaults without redirect URIs",
            typed("x", T::Native, &[]),
            &["grant_types"],
        ),
        (
            "refresh alone",
            pb::CreateApplicationRequest {
                grant_types: grants(&[G::RefreshToken]),
                ..web_app("x")
            },
            &["grant_types"],
        ),
        (
            "device code in a browser app",
            pb::CreateApplicationRequest {
                grant_types: grants(&[G::DeviceCode]),
                ..typed("x", T::UserAgentBased, &[])
            },
            &["grant_types"],
        ),
        (
            "NONE for a confidential client",
            pb::CreateApplicationRequest {
                token_endpoint_auth_method: M::None.into(),
                ..web_app("x")
            },
            &["token_endpoint_auth_method"],
        ),
        (
            "a secret for a public client",
            pb::CreateApplicationRequest {
                token_endpoint_auth_method: M::ClientSecretBasic.into(),
                ..typed("x", T::Native, &["com.example.app:/cb"])
            },
            &["token_endpoint_auth_method"],
        ),
        (
            "unknown method",
            pb::CreateApplicationRequest {
                token_endpoint_auth_method: 42,
                ..web_app("x")
            },
            &["token_endpoint_auth_method"],
        ),
        ("private_key_jwt without keys", keyed("x", ""), &["jwks"]),
        (
            "keys without private_key_jwt",
            pb::CreateApplicationRequest {
                jwks: jwks(&["ec"]),
                ..web_app("x")
            },
            &["jwks"],
        ),
        (
            "a private key",
            keyed("x", &serde_json::json!({"keys": [private_key]}).to_string()),
            &["jwks"],
        ),
        ("not a JWK set", keyed("x", "[1, 2]"), &["jwks"]),
        (
            "http client_uri",
            pb::CreateApplicationRequest {
                client_uri: "http://x.example".into(),
                ..web_app("x")
            },
            &["client_uri"],
        ),
        (
            "logo with a fragment",
            pb::CreateApplicationRequest {
                logo_uri: "https://x.example/l.png#".into(),
                ..web_app("x")
            },
            &["logo_uri"],
        ),
        (
            "policy with user info",
            pb::CreateApplicationRequest {
                policy_uri: "https://u@x.example/p".into(),
                ..web_app("x")
            },
            &["policy_uri"],
        ),
        (
            "tos not absolute",
            pb::CreateApplicationRequest {
                tos_uri: "/tos".into(),
                ..web_app("x")
            },
            &["tos_uri"],
        ),
        (
            "a contact without a domain",
            pb::CreateApplicationRequest {
                contacts: vec!["ops@".into()],
                ..web_app("x")
            },
            &["contacts[0]"],
        ),
        (
            "six contacts",
            pb::CreateApplicationRequest {
                contacts: vec!["a@b".into(); 6],
                ..web_app("x")
            },
            &["contacts"],
        ),
    ];
    for (what, req, fields) in cases {
        let err = create(&app, req).await.unwrap_err();
        let mut got = violated_fields(&err);
        got.sort();
        assert_eq!(got, fields, "{what}: {err:?}");
        assert!(
            !err.message().contains("bm90IGEgcmVhbCBrZXk"),
            "{what}: key echoed"
        );
        assert!(
            !format!("{:?}", err.details()).contains("bm90IGEgcmVhbCBrZXk"),
            "{what}"
        );
    }
    // All at once in one request, with the other fields' violations.
    let err = create(
        &app,
        pb::CreateApplicationRequest {
            name: " ".into(),
            grant_types: grants(&[G::RefreshToken]),
            client_uri: "http://x".into(),
            contacts: vec!["nope".into()],
            ..web_app("x")
        },
    )
    .await
    .unwrap_err();
    let mut got = violated_fields(&err);
    got.sort();
    assert_eq!(got, ["client_uri", "contacts[0]", "grant_types", "name"]);
    // A NATIVE app with only the device flow needs no redirect URI.
    let device = create(
        &app,
        pb::CreateApplicationRequest {
            grant_types: grants(&[G::DeviceCode, G::RefreshToken]),
            ..typed("TV app", T::Native, &[])
        },
    )
    .await
    .unwrap();
    assert!(device.application.unwrap().redirect_uris.is_empty());
}

#[tokio::test]
async fn metadata_updates_through_the_mask_and_is_audited() {
    use pb::{GrantType as G, TokenEndpointAuthMethod as M};
    let app = setup().await;
    let a = create(&app, web_app("Mutable"))
        .await
        .unwrap()
        .application
        .unwrap();
    let updated = app
        .update(
            "owner",
            ORG,
            pb::Application {
                grant_types: grants(&[G::AuthorizationCode, G::ClientCredentials]),
                client_uri: "https://m.example".into(),
                contacts: vec!["a@m.example".into(), "b@m.example".into()],
                ..a.clone()
            },
            &["grant_types", "client_uri", "contacts"],
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        updated.grant_types,
        grants(&[G::AuthorizationCode, G::ClientCredentials])
    );
    assert_eq!(updated.contacts.len(), 2);
    // The method is immutable; keys are for private_key_jwt apps only; the
    // grants must fit the redirect URIs the app ends up with.
    let cases: Vec<(&[&str], pb::Application, &[&str])> = vec![
        (
            &["token_endpoint_auth_method"],
            pb::Application {
                token_endpoint_auth_method: M::PrivateKeyJwt.into(),
                ..updated.clone()
            },
            &["update_mask.paths[0]"],
        ),
        (
            &["jwks"],
            pb::Application {
                jwks: jwks(&["ec"]),
                ..updated.clone()
            },
            &["application.jwks"],
        ),
        (
            &["redirect_uris"],
            pb::Application {
                redirect_uris: vec![],
                ..updated.clone()
            },
            &["application.grant_types"],
        ),
        (
            &["grant_types"],
            pb::Application {
                grant_types: grants(&[G::RefreshToken]),
                ..updated.clone()
            },
            &["application.grant_types"],
        ),
        (
            &["logo_uri"],
            pb::Application {
                logo_uri: "ftp://x".into(),
                ..updated.clone()
            },
            &["application.logo_uri"],
        ),
    ];
    for (paths, change, fields) in cases {
        let err = app
            .update("owner", ORG, change, paths, "")
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&err), fields, "{paths:?}");
    }
    let trail = app
        .count("SELECT count(*) AS n FROM audit_events WHERE action = 'update' AND changed_fields = '{grant_types,client_uri,contacts}'")
        .await;
    assert_eq!(trail, 1);
}

#[tokio::test]
async fn private_key_jwt_apps_have_no_secret() {
    let app = setup().await;
    let created = create(&app, keyed("Keyed", &jwks(&["rsa", "ec"])))
        .await
        .unwrap();
    assert!(created.client_secret.is_empty());
    let a = created.application.unwrap();
    assert_eq!(
        a.token_endpoint_auth_method(),
        pb::TokenEndpointAuthMethod::PrivateKeyJwt
    );
    assert!(a.client_secret_hint.is_empty());
    assert!(a.jwks.contains("rsa-1"));
    let err = app.rotate("owner", ORG, &a.id, 0).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(!app.verify(&a.client_id, "oas_anything").await.valid);
    // Keys rotate without downtime: the set is updatable.
    let rotated = app
        .update(
            "owner",
            ORG,
            pb::Application {
                jwks: jwks(&["ed25519"]),
                ..a.clone()
            },
            &["jwks"],
            "",
        )
        .await
        .unwrap();
    assert!(rotated.jwks.contains("ed-1") || rotated.jwks.contains("Ed25519"));
    let err = app
        .update(
            "owner",
            ORG,
            pb::Application {
                jwks: String::new(),
                ..rotated
            },
            &["jwks"],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["application.jwks"]);
}

#[tokio::test]
async fn match_redirect_uri_is_byte_for_byte_with_the_loopback_exception() {
    let app = setup().await;
    let web = create(
        &app,
        typed(
            "Web",
            pb::ApplicationType::Web,
            &["https://app.example/cb?x=1", "https://app.example/other"],
        ),
    )
    .await
    .unwrap()
    .application
    .unwrap();
    let native = create(
        &app,
        typed(
            "Native",
            pb::ApplicationType::Native,
            &["http://127.0.0.1/callback", "http://[::1]:8080/cb"],
        ),
    )
    .await
    .unwrap()
    .application
    .unwrap();
    let single = create(
        &app,
        typed(
            "Single",
            pb::ApplicationType::Web,
            &["https://one.example/cb"],
        ),
    )
    .await
    .unwrap()
    .application
    .unwrap();
    // (client, requested, matched, where to)
    let cases: Vec<(&pb::Application, &str, bool, &str)> = vec![
        (
            &web,
            "https://app.example/cb?x=1",
            true,
            "https://app.example/cb?x=1",
        ),
        (
            &web,
            "https://app.example/other",
            true,
            "https://app.example/other",
        ),
        (&web, "https://APP.example/cb?x=1", false, ""),
        (&web, "https://app.example/cb?x=1&evil=2", false, ""),
        (&web, "https://app.example/cb", false, ""),
        (&web, "https://app.example/other/", false, ""),
        (&web, "https://app.example:443/other", false, ""),
        (&web, "https://app.example/%6Fther", false, ""),
        (&web, "https://app.example/other#", false, ""),
        (&web, "", false, ""),
        (
            &native,
            "http://127.0.0.1:51004/callback",
            true,
            "http://127.0.0.1:51004/callback",
        ),
        (
            &native,
            "http://127.0.0.1/callback",
            true,
            "http://127.0.0.1/callback",
        ),
        (
            &native,
            "http://[::1]:49152/cb",
            true,
            "http://[::1]:49152/cb",
        ),
        (&native, "http://127.0.0.1:51004/callback?code=x", false, ""),
        (&native, "http://localhost:51004/callback", false, ""),
        (&native, "http://127.0.0.1:0/callback", false, ""),
        (&native, "http://127.0.0.1:51004/Callback", false, ""),
        (&single, "", true, "https://one.example/cb"),
        (
            &single,
            "https://one.example/cb",
            true,
            "https://one.example/cb",
        ),
    ];
    for (client, uri, matched, to) in cases {
        let got = match_uri(&app, &client.client_id, uri).await.unwrap();
        assert_eq!(got.matched, matched, "{} {uri:?}", client.name);
        assert_eq!(got.redirect_uri, to, "{} {uri:?}", client.name);
        assert_eq!(got.application.unwrap().id, client.id);
    }
    // Unknown, inactive and deleted clients are NOT_FOUND, like LookupClient.
    app.update(
        "owner",
        ORG,
        pb::Application {
            active: false,
            etag: String::new(),
            ..web.clone()
        },
        &["active"],
        "",
    )
    .await
    .unwrap();
    app.delete("owner", ORG, &single.id).await.unwrap();
    for client_id in ["no-such-client", &web.client_id, &single.client_id] {
        let err = match_uri(&app, client_id, "").await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{client_id}");
    }
    let err = match_uri(&app, "", "https://x").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["client_id"]);
}

#[tokio::test]
async fn operators_may_open_localhost_and_named_schemes_for_native_tools() {
    let strict = setup().await;
    let cli = typed(
        "CLI",
        pb::ApplicationType::Native,
        &[
            "http://localhost:8765/callback",
            "cursor://anysphere.cursor/cb",
        ],
    );
    let err = create(&strict, cli.clone()).await.unwrap_err();
    assert_eq!(
        violated_fields(&err),
        ["redirect_uris[0]", "redirect_uris[1]"]
    );

    let open = TestApp::spawn_with(|c| {
        c.redirect_allow_localhost = true;
        c.native_schemes =
            oauth_apps::config::NativeSchemes(vec!["cursor".into(), "vscode".into()]);
    })
    .await;
    open.set_member(ORG, "owner", Role::Owner).await;
    let a = create(&open, cli).await.unwrap().application.unwrap();
    let m = match_uri(&open, &a.client_id, "http://localhost:40000/callback")
        .await
        .unwrap();
    assert!(m.matched, "localhost is loopback under the policy");
    let m = match_uri(
        &open,
        &a.client_id,
        "http://localhost.evil.example:40000/callback",
    )
    .await
    .unwrap();
    assert!(!m.matched);
    // Still only for NATIVE apps.
    let err = create(
        &open,
        typed("Web", pb::ApplicationType::Web, &["http://localhost/cb"]),
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&err), ["redirect_uris[0]"]);
}

#[tokio::test]
async fn client_assertions_verify_once_with_every_check() {
    let app = setup().await;
    let a = create(&app, keyed("Keyed", &jwks(&["rsa", "ec", "ed25519"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let id = a.client_id.as_str();
    for (alg, key, kid) in [
        (Algorithm::RS256, "rsa", "rsa-1"),
        (Algorithm::ES256, "ec", "ec-1"),
        (Algorithm::EdDSA, "ed25519", "ed-1"),
    ] {
        let jti = format!("jti-{kid}");
        let assertion = sign(alg, key, Some(kid), &claims(id, &jti));
        let ok = verify_assertion(&app, &assertion, id).await.unwrap();
        assert!(ok.valid, "{alg:?}");
        assert_eq!(ok.application.unwrap().id, a.id);
        let again = verify_assertion(&app, &assertion, "").await.unwrap();
        assert!(!again.valid, "{alg:?}: replayed");
    }
    let now = jsonwebtoken::get_current_timestamp();
    let rsa_public = jwk("rsa").to_string();
    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &claims(id, "hs"),
        &EncodingKey::from_secret(rsa_public.as_bytes()),
    )
    .unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = claims(id, &format!("j-{}", rand_jti()));
        f(&mut c);
        sign(Algorithm::RS256, "rsa", Some("rsa-1"), &c)
    };
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none"}"#),
        B64.encode(claims(id, "none").to_string())
    );
    let typ = {
        let mut h = Header::new(Algorithm::ES256);
        h.typ = Some("at+jwt".into());
        encode(
            &h,
            &claims(id, "typ"),
            &EncodingKey::from_ec_pem(fixture("ec.pem").as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", none, id),
        ("HS256 signed with the public key", hs256, id),
        ("typ at+jwt", typ, id),
        ("iss is another", with(&|c| c["iss"] = "someone".into()), id),
        ("sub is another", with(&|c| c["sub"] = "someone".into()), id),
        ("client_id is not sub", with(&|_| {}), "another-client"),
        (
            "kid unknown",
            sign(Algorithm::RS256, "rsa", Some("nope"), &claims(id, "kid")),
            id,
        ),
        (
            "kid of another key",
            sign(Algorithm::RS256, "rsa", Some("ec-1"), &claims(id, "kid2")),
            id,
        ),
        (
            "aud another",
            with(&|c| c["aud"] = "https://evil.example".into()),
            id,
        ),
        (
            "aud an array holding it",
            with(&|c| c["aud"] = serde_json::json!([AUD])),
            id,
        ),
        (
            "no exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
            id,
        ),
        ("expired", with(&|c| c["exp"] = (now - 120).into()), id),
        (
            "lives longer than 5 minutes",
            with(&|c| c["exp"] = (now + 3600).into()),
            id,
        ),
        ("nbf ahead", with(&|c| c["nbf"] = (now + 600).into()), id),
        ("iat ahead", with(&|c| c["iat"] = (now + 600).into()), id),
        (
            "no jti",
            with(&|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
            id,
        ),
        ("garbage", "a.b.c".into(), id),
    ];
    for (what, assertion, client_id) in cases {
        let got = verify_assertion(&app, &assertion, client_id).await.unwrap();
        assert!(!got.valid, "{what} accepted");
        assert!(got.application.is_none(), "{what}");
    }
    // jti is per client: another client may use the same one.
    let b = create(&app, keyed("Other", &jwks(&["rsa"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let same_jti = sign(
        Algorithm::RS256,
        "rsa",
        None,
        &claims(&b.client_id, "jti-rsa-1"),
    );
    assert!(
        verify_assertion(&app, &same_jti, &b.client_id)
            .await
            .unwrap()
            .valid
    );
    // A wrong assertion type is a bad request.
    let token = app.token_with_scope("token-endpoint", VERIFY_SCOPE);
    let err = app
        .client()
        .await
        .verify_client_assertion(with_auth(
            pb::VerifyClientAssertionRequest {
                client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
                    .into(),
                client_assertion: "x".into(),
                client_id: String::new(),
            },
            Some(&token),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["client_assertion_type"]);
    // Inactive and secret-based clients never verify by assertion.
    let web = create(&app, web_app("Secret-based"))
        .await
        .unwrap()
        .application
        .unwrap();
    let by_web = sign(Algorithm::RS256, "rsa", None, &claims(&web.client_id, "w"));
    assert!(!verify_assertion(&app, &by_web, "").await.unwrap().valid);
}

pub(crate) fn rand_jti() -> String {
    oauth_apps::domain::ids::random_base62(12)
}

/// Hydra GHSA-3p3g-vpw6-4w66: an assertion is single use on every replica,
/// and of concurrent presentations exactly one is valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_is_accepted_once_across_replicas() {
    let app = setup().await;
    let a = create(&app, keyed("Keyed", &jwks(&["ec"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let replica = {
        let mut config = oauth_apps::Config::new(app.db.url.clone(), crate::common::JWT_SECRET);
        config.assertion_audience = Some(AUD.into());
        TestApp::spawn_on(
            crate::common::TestDb::borrowed_url(app.db.url.clone()),
            config,
        )
        .await
    };
    let assertion = sign(
        Algorithm::ES256,
        "ec",
        Some("ec-1"),
        &claims(&a.client_id, "once"),
    );
    assert!(verify_assertion(&app, &assertion, "").await.unwrap().valid);
    assert!(
        !verify_assertion(&replica, &assertion, "")
            .await
            .unwrap()
            .valid,
        "replayed on a replica"
    );

    let racing = sign(Algorithm::ES256, "ec", None, &claims(&a.client_id, "race"));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let server = if i % 2 == 0 { &app } else { &replica };
        let (token, addr, assertion) = (
            server.token_with_scope("token-endpoint", VERIFY_SCOPE),
            server.addr,
            racing.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut c =
                oauth_apps::proto::OAuthApplicationsClient::connect(format!("http://{addr}"))
                    .await
                    .unwrap();
            c.verify_client_assertion(with_auth(
                pb::VerifyClientAssertionRequest {
                    client_assertion_type: ASSERTION_TYPE.into(),
                    client_assertion: assertion,
                    client_id: String::new(),
                },
                Some(&token),
                None,
            ))
            .await
            .unwrap()
            .into_inner()
            .valid
        }));
    }
    let mut valid = 0;
    for t in tasks {
        valid += usize::from(t.await.unwrap());
    }
    assert_eq!(valid, 1, "concurrent presentations");

    // Spent jtis are kept until the assertion expires, then swept.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assertion_jtis").await,
        2
    );
    let mut conn = app.db_conn().await;
    use diesel_async::RunQueryDsl as _;
    diesel::sql_query(
        "UPDATE assertion_jtis SET expire_time = now() - interval '1 second' WHERE jti = 'once'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let swept = oauth_apps::store::assertions::purge_expired(&mut conn)
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM assertion_jtis WHERE jti = 'race'")
            .await,
        1
    );
}

/// An assertion signed with a registered key whose claims fail proves the
/// key: it spends the budget of failed secrets (contract section 6). Those
/// that prove no key have a budget of their own (see below).
#[tokio::test]
async fn failed_assertions_spend_the_budget_of_failed_secrets() {
    let app = TestApp::spawn_with(|c| {
        c.assertion_audience = Some(AUD.into());
        c.failed_verify_per_minute = 3;
    })
    .await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let a = create(&app, keyed("Keyed", &jwks(&["ec"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let id = &a.client_id;
    let wrong_aud = |jti: &str| {
        let mut c = claims(id, jti);
        c["aud"] = "https://other.example".into();
        sign(Algorithm::ES256, "ec", None, &c)
    };
    // A failed secret and two failed assertions spend the budget of 3...
    assert!(!app.verify(id, "oas_wrong").await.valid);
    for i in 0..2 {
        assert!(
            !verify_assertion(&app, &wrong_aud(&format!("f{i}")), "")
                .await
                .unwrap()
                .valid
        );
    }
    let err = verify_assertion(&app, &wrong_aud("f3"), "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(tonic_types::StatusExt::get_details_retry_info(&err).is_some());
    // ...but the key holder is never locked out.
    let good = sign(Algorithm::ES256, "ec", None, &claims(id, "good"));
    assert!(verify_assertion(&app, &good, "").await.unwrap().valid);
}

#[tokio::test]
async fn without_an_issuer_identifier_assertions_cannot_be_verified() {
    let app = TestApp::spawn().await;
    let token = app.token_with_scope("token-endpoint", VERIFY_SCOPE);
    let err = app
        .client()
        .await
        .verify_client_assertion(with_auth(
            pb::VerifyClientAssertionRequest {
                client_assertion_type: ASSERTION_TYPE.into(),
                client_assertion: "a.b.c".into(),
                client_id: String::new(),
            },
            Some(&token),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // And both new RPCs need the verify scope.
    let err = app
        .client()
        .await
        .match_redirect_uri(with_auth(
            pb::MatchRedirectUriRequest::default(),
            Some(&app.token("someone")),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

/// Applications from before client metadata get the defaults of their type
/// from the migration, as a create would give them.
#[tokio::test]
async fn the_migration_gives_existing_apps_their_defaults() {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    use diesel_migrations::MigrationHarness as _;
    let db = crate::common::TestDb::empty().await;
    let url = db.url.clone();
    // The schema as it was before the metadata migration.
    let conn = AsyncPgConnection::establish(&url).await.unwrap();
    let mut conn: diesel_async::async_connection_wrapper::AsyncConnectionWrapper<
        AsyncPgConnection,
    > = conn.into();
    let conn = tokio::task::spawn_blocking(move || {
        loop {
            let pending = conn
                .pending_migrations(oauth_apps::store::MIGRATIONS)
                .unwrap();
            let next = <[_]>::first(&pending).expect("the metadata migration exists");
            if next.name().to_string().contains("client_metadata") {
                return conn;
            }
            conn.run_next_migration(oauth_apps::store::MIGRATIONS)
                .unwrap();
        }
    })
    .await
    .unwrap();
    let mut async_conn = AsyncPgConnection::establish(&url).await.unwrap();
    for (id, t, uris) in [
        ("app_web_with", "web", "{https://w.example/cb}"),
        ("app_web_without", "web", "{}"),
        ("app_service", "service", "{}"),
        ("app_native", "native", "{com.example.app:/cb}"),
        ("app_browser", "user_agent_based", "{https://b.example/cb}"),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO applications (id, organization_id, name, app_type, redirect_uris, scopes, client_id, created_by) \
             VALUES ('{id}', 'o', '{id}', '{t}', '{uris}', '{{read:user}}', 'c_{id}', 'u')"
        ))
        .execute(&mut async_conn)
        .await
        .unwrap();
    }
    let mut conn = conn;
    tokio::task::spawn_blocking(move || {
        conn.run_pending_migrations(oauth_apps::store::MIGRATIONS)
            .map(|_| ())
            .unwrap()
    })
    .await
    .unwrap();
    #[derive(diesel::QueryableByName, Debug)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        grants: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        method: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT id, array_to_string(grant_types, ',') AS grants, token_endpoint_auth_method AS method \
         FROM applications ORDER BY id",
    )
    .load(&mut async_conn)
    .await
    .unwrap();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.grants.as_str(), r.method.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("app_browser", "authorization_code,refresh_token", "none"),
            ("app_native", "authorization_code,refresh_token", "none"),
            ("app_service", "client_credentials", "client_secret_basic"),
            (
                "app_web_with",
                "authorization_code,refresh_token",
                "client_secret_basic"
            ),
            (
                "app_web_without",
                "client_credentials",
                "client_secret_basic"
            ),
        ]
    );
}

/// A second replica answers from its cache, which may only say yes: an
/// added redirect URI or key works there at once; a removed one stops
/// working there once the change is announced.
#[tokio::test]
async fn a_second_replica_sees_additions_at_once_and_removals_within_a_moment() {
    let a = setup().await;
    let b = {
        let mut config = oauth_apps::Config::new(a.db.url.clone(), crate::common::JWT_SECRET);
        config.assertion_audience = Some(AUD.into());
        TestApp::spawn_on(
            crate::common::TestDb::borrowed_url(a.db.url.clone()),
            config,
        )
        .await
    };
    let web = create(&a, web_app("Web"))
        .await
        .unwrap()
        .application
        .unwrap();
    let old_uri = "https://app.example.com/callback";
    let new_uri = "https://app.example.com/v2/callback";
    for _ in 0..2 {
        let m = match_uri(&b, &web.client_id, old_uri).await.unwrap();
        assert_eq!(m.redirect_uri, old_uri);
    }
    a.update(
        "owner",
        ORG,
        pb::Application {
            redirect_uris: vec![new_uri.into()],
            ..web.clone()
        },
        &["redirect_uris"],
        "",
    )
    .await
    .unwrap();
    assert_eq!(
        match_uri(&b, &web.client_id, new_uri)
            .await
            .unwrap()
            .redirect_uri,
        new_uri,
        "an added redirect URI matches on every replica at once"
    );
    within_a_moment("B to stop matching the removed URI", || async {
        match_uri(&b, &web.client_id, old_uri)
            .await
            .unwrap()
            .redirect_uri
            .is_empty()
    })
    .await;

    let keyed_app = create(&a, keyed("Keyed", &jwks(&["ec"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let id = &keyed_app.client_id;
    let by = |key: &str, kid: &str, alg: Algorithm, jti: &str| {
        sign(alg, key, Some(kid), &claims(id, jti))
    };
    assert!(
        verify_assertion(&b, &by("ec", "ec-1", Algorithm::ES256, "1"), "")
            .await
            .unwrap()
            .valid
    );
    assert!(
        verify_assertion(&b, &by("ec", "ec-1", Algorithm::ES256, "2"), "")
            .await
            .unwrap()
            .valid
    );
    a.update(
        "owner",
        ORG,
        pb::Application {
            jwks: jwks(&["rsa"]),
            ..keyed_app.clone()
        },
        &["jwks"],
        "",
    )
    .await
    .unwrap();
    assert!(
        verify_assertion(&b, &by("rsa", "rsa-1", Algorithm::RS256, "3"), "")
            .await
            .unwrap()
            .valid,
        "a new key verifies on every replica at once"
    );
    let mut n = 10;
    within_a_moment("B to refuse the removed key", || {
        n += 1;
        let assertion = by("ec", "ec-1", Algorithm::ES256, &n.to_string());
        let b = &b;
        async move { !verify_assertion(b, &assertion, "").await.unwrap().valid }
    })
    .await;
}

/// The rule that makes the cache safe to lean on for new credentials: a
/// cached copy may only say yes. Changes made here without announcing them
/// (triggers off for one session) leave the second replica's copy stale on
/// purpose; every yes the database would give still comes at once.
#[tokio::test]
async fn a_stale_cached_copy_never_says_no() {
    use diesel_async::{RunQueryDsl as _, SimpleAsyncConnection as _};
    let a = setup().await;
    let b = {
        let mut config = oauth_apps::Config::new(a.db.url.clone(), crate::common::JWT_SECRET);
        config.assertion_audience = Some(AUD.into());
        TestApp::spawn_on(
            crate::common::TestDb::borrowed_url(a.db.url.clone()),
            config,
        )
        .await
    };
    let created = create(&a, web_app("Web")).await.unwrap();
    let web = created.application.unwrap();
    let secret = created.client_secret;
    let keyed_app = create(&a, keyed("Keyed", &jwks(&["ec"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let old_uri = "https://app.example.com/callback";
    let new_uri = "https://app.example.com/v2/callback";
    let assertion = |key: &str, kid: &str, alg: Algorithm, jti: &str| {
        sign(alg, key, Some(kid), &claims(&keyed_app.client_id, jti))
    };
    // Deactivated (announced): B caches the inactive copy.
    a.update(
        "owner",
        ORG,
        pb::Application {
            active: false,
            ..web.clone()
        },
        &["active"],
        "",
    )
    .await
    .unwrap();
    within_a_moment("B to refuse the inactive app", || async {
        !b.verify(&web.client_id, &secret).await.valid
    })
    .await;
    for _ in 0..2 {
        assert!(!b.verify(&web.client_id, &secret).await.valid);
        let ec = assertion(
            "ec",
            "ec-1",
            Algorithm::ES256,
            &oauth_apps::domain::ids::random_base62(12),
        );
        assert!(verify_assertion(&b, &ec, "").await.unwrap().valid);
    }

    // Unannounced: reactivate, add a redirect URI, add a key.
    let mut conn = a.db_conn().await;
    conn.batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    diesel::sql_query(
        "UPDATE applications SET active = true, redirect_uris = ARRAY[$2, $3] WHERE id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&web.id)
    .bind::<diesel::sql_types::Text, _>(old_uri)
    .bind::<diesel::sql_types::Text, _>(new_uri)
    .execute(&mut conn)
    .await
    .unwrap();
    diesel::sql_query("UPDATE applications SET jwks = $2 WHERE id = $1")
        .bind::<diesel::sql_types::Text, _>(&keyed_app.id)
        .bind::<diesel::sql_types::Text, _>(jwks(&["ec", "rsa"]))
        .execute(&mut conn)
        .await
        .unwrap();

    assert!(b.verify(&web.client_id, &secret).await.valid, "reactivated");
    assert!(b.lookup(&web.client_id).await.is_ok(), "reactivated");
    assert_eq!(
        match_uri(&b, &web.client_id, new_uri)
            .await
            .unwrap()
            .redirect_uri,
        new_uri,
        "added redirect URI"
    );
    let rsa = assertion("rsa", "rsa-1", Algorithm::RS256, "rsa-1");
    assert!(
        verify_assertion(&b, &rsa, "").await.unwrap().valid,
        "added key"
    );
}

/// Issue 22, finding 10: a change no notification announces (a DBA's, with
/// triggers off) answers from the cache until the entry's time to live,
/// `OAUTH_APPS_CACHE_TTL`, and no longer.
#[tokio::test]
async fn an_unannounced_change_is_cached_until_the_ttl_and_no_longer() {
    use diesel_async::{RunQueryDsl as _, SimpleAsyncConnection as _};
    let ttl = Duration::from_millis(1500);
    let app = TestApp::spawn_with(|c| c.cache_ttl = ttl).await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let web = create(&app, web_app("Web"))
        .await
        .unwrap()
        .application
        .unwrap();
    let mut conn = app.db_conn().await;
    conn.batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    let set_active = async |conn: &mut diesel_async::AsyncPgConnection, active: bool| {
        diesel::sql_query("UPDATE applications SET active = $2 WHERE id = $1")
            .bind::<diesel::sql_types::Text, _>(&web.id)
            .bind::<diesel::sql_types::Bool, _>(active)
            .execute(conn)
            .await
            .unwrap();
    };
    // Cached by a yes, then deactivated unannounced: the cached yes stands
    // (once the cache is live: until then, try again).
    let mut deactivated_at = None;
    for _ in 0..50 {
        assert!(app.lookup(&web.client_id).await.is_ok());
        let at = std::time::Instant::now();
        set_active(&mut conn, false).await;
        if app.lookup(&web.client_id).await.is_ok() {
            deactivated_at = Some(at);
            break;
        }
        set_active(&mut conn, true).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deactivated_at = deactivated_at.expect("the cache never answered");
    // ...until the time to live (counted from the fill, before the change),
    // then the database's copy answers.
    tokio::time::sleep((ttl + Duration::from_millis(200)).saturating_sub(deactivated_at.elapsed()))
        .await;
    assert_eq!(
        app.lookup(&web.client_id).await.unwrap_err().code(),
        Code::NotFound
    );
}

/// Issue 22, finding 1: in an assertion's last accepted second (its `exp`
/// plus the 30 s skew, whole seconds), a purge of expired `jti`s must not
/// free its `jti`: the replay is refused on every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_in_the_last_accepted_second_frees_no_jti() {
    let app = setup().await;
    let replica = {
        let mut config = oauth_apps::Config::new(app.db.url.clone(), crate::common::JWT_SECRET);
        config.assertion_audience = Some(AUD.into());
        TestApp::spawn_on(
            crate::common::TestDb::borrowed_url(app.db.url.clone()),
            config,
        )
        .await
    };
    let a = create(&app, keyed("Keyed", &jwks(&["ec"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let mut conn = app.db_conn().await;
    let mut tried = 0;
    for _ in 0..10 {
        // Start early in a second, so the whole try fits in it.
        let since_second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        tokio::time::sleep(Duration::from_millis(u64::from(1020 - since_second))).await;
        let second = jsonwebtoken::get_current_timestamp();
        let mut c = claims(&a.client_id, &rand_jti());
        // Accepted in this second and no later.
        c["exp"] = (second - 30).into();
        c["iat"] = (second - 60).into();
        let assertion = sign(Algorithm::ES256, "ec", Some("ec-1"), &c);
        assert!(verify_assertion(&app, &assertion, "").await.unwrap().valid);
        oauth_apps::store::assertions::purge_expired(&mut conn)
            .await
            .unwrap();
        let replayed = verify_assertion(&replica, &assertion, "")
            .await
            .unwrap()
            .valid;
        if jsonwebtoken::get_current_timestamp() != second {
            continue; // the second ended: the try says nothing
        }
        tried += 1;
        assert!(!replayed, "replayed after a purge in its last second");
    }
    assert!(tried >= 3, "only {tried} tries fit in a second");
}

/// An assertion for `client_id` whose signature checks with no key: signed
/// by `key`, with another assertion's signature, and no `kid`.
fn bogus(alg: Algorithm, key: &str, client_id: &str) -> String {
    let signed = sign(alg, key, None, &claims(client_id, &rand_jti()));
    let other = sign(alg, key, None, &claims(client_id, &rand_jti()));
    let (body, _) = signed.rsplit_once('.').unwrap();
    let (_, signature) = other.rsplit_once('.').unwrap();
    format!("{body}.{signature}")
}

/// Issue 22, finding 4: assertions that prove no key (a bad signature, or a
/// client_id that is no private_key_jwt client), which anyone with a
/// client_id can send, spend a budget of their own: a flood of them locks
/// out neither secrets nor valid assertions.
#[tokio::test]
async fn bogus_assertions_lock_out_no_right_credential() {
    let app = TestApp::spawn_with(|c| {
        c.assertion_audience = Some(AUD.into());
        c.failed_verify_per_minute = 3;
    })
    .await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let keyed_app = create(&app, keyed("Keyed", &jwks(&["ec"])))
        .await
        .unwrap()
        .application
        .unwrap();
    let created = create(&app, web_app("Web")).await.unwrap();
    let (web, secret) = (created.application.unwrap(), created.client_secret);
    for id in [&keyed_app.client_id, &web.client_id] {
        let mut limited = 0;
        for _ in 0..10 {
            match verify_assertion(&app, &bogus(Algorithm::ES256, "ec", id), "").await {
                Ok(r) => assert!(!r.valid),
                Err(e) => {
                    assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                    limited += 1;
                }
            }
        }
        assert!(limited >= 5, "bogus assertions are limited: {limited}");
    }
    // Secrets keep their whole budget: a wrong one is refused, not limited.
    assert!(!app.verify(&web.client_id, "oas_wrong").await.valid);
    assert!(app.verify(&web.client_id, &secret).await.valid);
    // A valid assertion verifies, with a kid or as the client's one key.
    for kid in [Some("ec-1"), None] {
        let good = sign(
            Algorithm::ES256,
            "ec",
            kid,
            &claims(&keyed_app.client_id, &rand_jti()),
        );
        assert!(
            verify_assertion(&app, &good, "").await.unwrap().valid,
            "{kid:?}"
        );
    }
}

/// Issue 22, finding 6: a flood of refused assertions without a `kid`
/// against a client with many keys. Once the client's assertion budget is
/// spent, none costs a signature check; the checks run off the async
/// runtime; reads are answered meanwhile; the key holder still gets in by
/// naming its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_assertions_costs_few_signature_checks() {
    let app = TestApp::spawn_with(|c| {
        c.assertion_audience = Some(AUD.into());
        c.failed_verify_per_minute = 3;
    })
    .await;
    app.set_member(ORG, "owner", Role::Owner).await;
    let keys: Vec<_> = (0..10)
        .map(|i| {
            let mut k = jwk("rsa");
            k["kid"] = format!("rsa-{i}").into();
            k
        })
        .collect();
    let many = serde_json::json!({ "keys": keys }).to_string();
    let target = create(&app, keyed("Many keys", &many))
        .await
        .unwrap()
        .application
        .unwrap();
    let before = app.state.ops.verifier.signatures.runs();
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (addr, token, id) = (
                app.addr,
                app.token_with_scope("token-endpoint", VERIFY_SCOPE),
                target.client_id.clone(),
            );
            tokio::spawn(async move {
                let mut c =
                    oauth_apps::proto::OAuthApplicationsClient::connect(format!("http://{addr}"))
                        .await
                        .unwrap();
                let mut limited = 0;
                for _ in 0..10 {
                    let request = pb::VerifyClientAssertionRequest {
                        client_assertion_type: ASSERTION_TYPE.into(),
                        client_assertion: bogus(Algorithm::RS256, "rsa", &id),
                        client_id: String::new(),
                    };
                    match c
                        .verify_client_assertion(with_auth(request, Some(&token), None))
                        .await
                    {
                        Ok(r) => assert!(!r.into_inner().valid),
                        Err(e) => {
                            assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                            limited += 1;
                        }
                    }
                }
                limited
            })
        })
        .collect();
    for _ in 0..10 {
        let got = tokio::time::timeout(Duration::from_secs(5), app.get("owner", ORG, &target.id))
            .await
            .expect("GetApplication starved");
        assert!(got.is_ok());
    }
    let mut limited = 0;
    for f in flood {
        limited += f.await.unwrap();
    }
    let checked = app.state.ops.verifier.signatures.runs() - before;
    // Before the budget (3) is spent: a cached and a database copy per
    // assertion, for each of the 4 in flight; after it, none.
    assert!(limited >= 30, "refusals limited: {limited}");
    assert!(
        checked <= 2 * (3 + 4),
        "{checked} signature checks for 40 assertions"
    );
    let good = sign(
        Algorithm::RS256,
        "rsa",
        Some("rsa-7"),
        &claims(&target.client_id, "good"),
    );
    assert!(verify_assertion(&app, &good, "").await.unwrap().valid);
}
