//! Asymmetric tokens from a JWKS file: RS256, ES256, EdDSA, and key rotation
//! by rewriting the file.

use std::{path::PathBuf, time::Duration};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic::Code;

use crate::common::{TestApp, eventually, with_auth};

pub(crate) const ORG: &str = "org-acme";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwks")
        .join(name)
}

pub(crate) fn jwk(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{name}.jwk.json"))).unwrap())
        .unwrap()
}

fn write_jwks(path: &std::path::Path, keys: &[&str]) {
    let set = serde_json::json!({ "keys": keys.iter().map(|k| jwk(k)).collect::<Vec<_>>() });
    // Write then rename, as a deployment would, so readers never see half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, set.to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

pub(crate) fn sign(
    alg: Algorithm,
    key_file: &str,
    kid: Option<&str>,
    claims: serde_json::Value,
) -> String {
    let pem = std::fs::read(fixture(key_file)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => unreachable!(),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, &claims, &key).unwrap()
}

pub(crate) fn claims(sub: &str) -> serde_json::Value {
    let now = jsonwebtoken::get_current_timestamp();
    serde_json::json!({"sub": sub, "iss": "https://id.example", "aud": "oauth-apps", "exp": now + 600, "nbf": now})
}

pub(crate) async fn list_as(app: &TestApp, token: &str) -> Result<(), Code> {
    app.client()
        .await
        .list_applications(with_auth(
            pb::ListApplicationsRequest::default(),
            Some(token),
            Some(ORG),
        ))
        .await
        .map(|_| ())
        .map_err(|s| s.code())
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_verify_and_keys_rotate_without_restart() {
    let dir = std::env::temp_dir().join(format!(
        "oauth-apps-jwks-{}",
        oauth_apps::domain::ids::random_base62(8)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    write_jwks(&jwks, &["rsa", "ec"]);
    let path = jwks.clone();
    let app = TestApp::spawn_with(move |c| {
        c.jwt.jwks_file = Some(path);
        c.jwt.jwt_issuer = Some("https://id.example".into());
        c.jwt.jwt_audience = Some("oauth-apps".into());
    })
    .await;
    app.set_member(ORG, "alice", Role::Member).await;

    let rsa = sign(Algorithm::RS256, "rsa.pem", Some("rsa-1"), claims("alice"));
    let ec = sign(Algorithm::ES256, "ec.pem", Some("ec-1"), claims("alice"));
    let ed = sign(
        Algorithm::EdDSA,
        "ed25519.pem",
        Some("ed-1"),
        claims("alice"),
    );
    assert_eq!(list_as(&app, &rsa).await, Ok(()));
    assert_eq!(list_as(&app, &ec).await, Ok(()));
    assert_eq!(
        list_as(
            &app,
            &sign(Algorithm::ES256, "ec.pem", None, claims("alice"))
        )
        .await,
        Ok(()),
        "an unambiguous key needs no kid"
    );
    assert_eq!(
        list_as(&app, &ed).await,
        Err(Code::Unauthenticated),
        "not in the file yet"
    );
    // A key presented under another key's kid, and the wrong issuer, are refused.
    assert_eq!(
        list_as(
            &app,
            &sign(Algorithm::RS256, "rsa.pem", Some("ec-1"), claims("alice"))
        )
        .await,
        Err(Code::Unauthenticated)
    );
    let mut wrong_iss = claims("alice");
    wrong_iss["iss"] = "https://evil.example".into();
    assert_eq!(
        list_as(
            &app,
            &sign(Algorithm::RS256, "rsa.pem", Some("rsa-1"), wrong_iss)
        )
        .await,
        Err(Code::Unauthenticated)
    );
    // HS256 is off when only a JWKS is configured.
    assert_eq!(
        list_as(&app, &app.token("alice")).await,
        Err(Code::Unauthenticated)
    );

    // Rotation: the Ed25519 key is added and the RSA key retired.
    write_jwks(&jwks, &["ec", "ed25519"]);
    eventually(
        "the rotated file to be read",
        Duration::from_secs(5),
        || async { list_as(&app, &ed).await.is_ok() },
    )
    .await;
    assert_eq!(list_as(&app, &ec).await, Ok(()));
    assert_eq!(list_as(&app, &rsa).await, Err(Code::Unauthenticated));

    // A broken file keeps the last good keys.
    let verifier = app.state.authorizer.verifier();
    let reloads = verifier.jwks_reloads();
    std::fs::write(&jwks, "{ not json").unwrap();
    eventually(
        "the broken file to be read",
        Duration::from_secs(5),
        // A background task checks the file: no call is needed.
        || async { verifier.jwks_reloads() > reloads },
    )
    .await;
    assert_eq!(list_as(&app, &ed).await, Ok(()));
    let _ = std::fs::remove_dir_all(&dir);
}
