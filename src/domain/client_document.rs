//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
//! whether a fetched document describes a client this registry may answer
//! for, and that client as an [`Application`].
//!
//! A document is RFC 7591 client metadata, read and mapped by the code
//! that reads registrations ([`to_create_input`]) and judged by the very
//! rules CreateApplication applies ([`check_new`]: redirect URIs for its
//! type, grants, auth method and keys, name, scopes, metadata URLs,
//! contacts), plus the document's own:
//! its `client_id` is the URL it was fetched from, byte for byte; it holds
//! no secret (`client_secret`, `client_secret_expires_at`); it
//! authenticates with `none`, or `private_key_jwt` and an inline `jwks`
//! (never a `jwks_uri`: that would be a second fetch an attacker chooses).
//!
//! Mapping, as for RFC 7591 registrations: `application_type` `native` is
//! NATIVE; `web` (the default) with `none` is USER_AGENT_BASED, with
//! `private_key_jwt` WEB (SERVICE when `grant_types` is only
//! `client_credentials`). An unspecified method is `none` for `native` and
//! `client_secret_basic` (so refused) for `web`. The name is `client_name`,
//! or the URL's host. The scopes are `scope`'s, each from the catalog and
//! none an OWNER-only one (a document is nobody's grant); a document that
//! names none has none, which the rule "at least one scope" for apps an
//! organization registers does not apply to: the authorization server
//! decides what such a client may ask for.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    application::Application,
    create::check_new,
    dcr::{ClientMetadata, Door, merged, to_create_input},
    ids::AppId,
    policy::Policy,
    refusal::Refusal,
    scopes::is_owner_only_scope,
};

/// The client that the document `body`, fetched from `url` (whose host is
/// `host`), describes; or why it describes none, in words fit for a log
/// (no secret, no key).
pub fn check_document(
    url: &str,
    host: &str,
    body: &[u8],
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Application, String> {
    let doc: Map<String, Value> =
        serde_json::from_slice(body).map_err(|_| "the document is not a JSON object".to_owned())?;
    if doc.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err("its client_id is not the URL it was fetched from, byte for byte".into());
    }
    for secret in ["client_secret", "client_secret_expires_at"] {
        if doc.contains_key(secret) {
            return Err(format!(
                "it has a {secret}: a public document holds no secret"
            ));
        }
    }
    let mut metadata: ClientMetadata = serde_json::from_value(Value::Object(doc))
        .map_err(|e| format!("it is not RFC 7591 client metadata ({e})"))?;
    check_auth_method(&metadata)?;
    metadata.client_name.get_or_insert_with(|| host.to_owned());
    // A document that names no scope has none. The rule "at least one
    // scope" is for apps an organization or a registration grants, so the
    // other rules are checked with a harmless stand-in, dropped after.
    let no_scope = metadata
        .scope
        .as_deref()
        .is_none_or(|s| s.trim().is_empty());
    if no_scope {
        let harmless = policy
            .scopes
            .scopes()
            .iter()
            .find(|s| !is_owner_only_scope(s) && !s.starts_with("admin:"));
        metadata.scope = harmless.cloned();
    }
    let mut new = judged(metadata, policy)?;
    if no_scope {
        new.scopes.clear();
    }
    Ok(application(url, new, now))
}

/// The metadata by the open door's rules and CreateApplication's: a
/// document is public.
fn judged(metadata: ClientMetadata, policy: &Policy) -> Result<super::NewApplication, String> {
    let (input, ours) = to_create_input(metadata, Door::Open);
    let checked = match (check_new(input, policy), ours.is_empty()) {
        (Ok(checked), true) => Ok(checked),
        (Ok(_), false) => Err(Refusal::Invalid(ours)),
        (Err(refusal), _) => Err(merged(ours, refusal)),
    };
    match checked {
        Ok(checked) => Ok(checked.into_parts().0),
        Err(Refusal::Invalid(v)) => {
            let listed: Vec<String> = v
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect();
            Err(listed.join("; "))
        }
        Err(other) => Err(format!("refused: {other:?}")),
    }
}

/// `none`, or `private_key_jwt` (whose inline `jwks` the rules require):
/// a document is public, so it cannot hold a shared secret. Unspecified is
/// `none` for a native client, `client_secret_basic` (refused) otherwise.
fn check_auth_method(metadata: &ClientMetadata) -> Result<(), String> {
    let native = metadata.application_type.as_deref() == Some("native");
    match metadata.token_endpoint_auth_method.as_deref() {
        Some("none" | "private_key_jwt") => Ok(()),
        None if native => Ok(()),
        _ => Err(
            "token_endpoint_auth_method must be none (or private_key_jwt with an inline jwks): a document cannot hold a shared secret"
                .into(),
        ),
    }
}

/// The client as the registry answers for it: no id, no organization,
/// dynamically registered, live.
fn application(url: &str, new: super::NewApplication, now: DateTime<Utc>) -> Application {
    Application {
        id: AppId::from_trusted(String::new()),
        organization_id: String::new(),
        name: new.name,
        description: new.description,
        app_type: new.app_type,
        redirect_uris: new.redirect_uris,
        scopes: new.scopes,
        client_id: url.to_owned(),
        secret_hint: None,
        active: true,
        first_party: false,
        created_by: String::new(),
        create_time: now,
        update_time: now,
        delete_time: None,
        revision: 0,
        grant_types: new.grant_types,
        auth_method: new.auth_method,
        jwks: new.jwks,
        client_uri: new.client_uri,
        logo_uri: new.logo_uri,
        policy_uri: new.policy_uri,
        tos_uri: new.tos_uri,
        contacts: new.contacts,
        dynamically_registered: true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::kinds::{AppType, AuthMethod, GrantType};

    const URL: &str = "https://client.example.com/oauth/metadata.json";
    const EC_JWK: &str = include_str!("../../tests/fixtures/jwks/ec.jwk.json");

    fn check(doc: &Value) -> Result<Application, String> {
        let body = doc.to_string();
        check_document(
            URL,
            "client.example.com",
            body.as_bytes(),
            &Policy::default(),
            Utc::now(),
        )
    }

    fn public() -> Value {
        json!({
            "client_id": URL,
            "client_name": "Example CLI",
            "redirect_uris": ["https://client.example.com/callback"],
            "token_endpoint_auth_method": "none",
        })
    }

    fn with(mut doc: Value, field: &str, value: Value) -> Value {
        doc[field] = value;
        doc
    }

    #[test]
    fn a_public_web_document_is_a_user_agent_based_client_without_scopes() {
        let app = check(&public()).unwrap();
        assert_eq!(app.client_id, URL);
        assert_eq!(app.name, "Example CLI");
        assert_eq!(app.app_type, AppType::UserAgentBased);
        assert_eq!(app.auth_method, AuthMethod::None);
        assert!(app.scopes.is_empty() && app.organization_id.is_empty());
        assert_eq!(
            app.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert!(app.is_usable() && !app.is_privileged());
        assert!(app.dynamically_registered);
    }

    #[test]
    fn mapping_follows_rfc_7591_as_registrations_do() {
        let native = json!({
            "client_id": URL,
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback", "com.example.cli:/cb"],
            "scope": "read:user write:user",
        });
        let app = check(&native).unwrap();
        assert_eq!(app.app_type, AppType::Native);
        assert_eq!(app.auth_method, AuthMethod::None, "native defaults to none");
        assert_eq!(app.scopes, ["read:user", "write:user"]);
        assert_eq!(app.name, "client.example.com", "the host without a name");

        let jwks: Value = serde_json::from_str(EC_JWK).unwrap();
        let keyed = json!({
            "client_id": URL,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwks]},
            "redirect_uris": ["https://client.example.com/cb"],
        });
        let app = check(&keyed).unwrap();
        assert_eq!(app.app_type, AppType::Web);
        assert_eq!(app.auth_method, AuthMethod::PrivateKeyJwt);
        assert!(app.jwks.is_some());
        let machine = json!({
            "client_id": URL,
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwks]},
            "grant_types": ["client_credentials"],
        });
        // A document is public: it gives no machine credential (no
        // client_credentials), as open registration gives none.
        let refused = check(&machine).unwrap_err();
        assert!(refused.contains("client_credentials"), "{refused}");
    }

    #[test]
    fn each_rule_refuses_a_document() {
        let jwk: Value = serde_json::from_str(EC_JWK).unwrap();
        let cases: Vec<(&str, Value)> = vec![
            (
                "another client_id",
                with(
                    public(),
                    "client_id",
                    json!("https://client.example.com/other"),
                ),
            ),
            (
                "client_id with a slash added",
                with(public(), "client_id", json!(format!("{URL}/"))),
            ),
            ("no client_id", {
                let mut d = public();
                d.as_object_mut().unwrap().remove("client_id");
                d
            }),
            (
                "a client_secret",
                with(public(), "client_secret", json!("s3cr3t")),
            ),
            (
                "client_secret_expires_at",
                with(public(), "client_secret_expires_at", json!(0)),
            ),
            (
                "secret method",
                with(
                    public(),
                    "token_endpoint_auth_method",
                    json!("client_secret_basic"),
                ),
            ),
            ("web without a method", {
                let mut d = public();
                d.as_object_mut()
                    .unwrap()
                    .remove("token_endpoint_auth_method");
                d
            }),
            (
                "private_key_jwt without keys",
                with(
                    public(),
                    "token_endpoint_auth_method",
                    json!("private_key_jwt"),
                ),
            ),
            (
                "jwks with none",
                with(public(), "jwks", json!({"keys": [jwk]})),
            ),
            (
                "jwks_uri",
                with(
                    with(
                        public(),
                        "token_endpoint_auth_method",
                        json!("private_key_jwt"),
                    ),
                    "jwks_uri",
                    json!("https://client.example.com/jwks"),
                ),
            ),
            (
                "http redirect",
                with(
                    public(),
                    "redirect_uris",
                    json!(["http://client.example.com/cb"]),
                ),
            ),
            (
                "fragment",
                with(
                    public(),
                    "redirect_uris",
                    json!(["https://client.example.com/cb#x"]),
                ),
            ),
            (
                "javascript",
                with(public(), "redirect_uris", json!(["javascript:alert(1)"])),
            ),
            (
                "custom scheme for web",
                with(public(), "redirect_uris", json!(["com.example.app:/cb"])),
            ),
            (
                "no redirect for the code grant",
                with(public(), "redirect_uris", json!([])),
            ),
            (
                "unknown scope",
                with(public(), "scope", json!("read:user delete:everything")),
            ),
            (
                "owner-only scope",
                with(public(), "scope", json!("admin:all")),
            ),
            (
                "implicit grant",
                with(public(), "grant_types", json!(["implicit"])),
            ),
            (
                "bad application_type",
                with(public(), "application_type", json!("service")),
            ),
            ("bad name", with(public(), "client_name", json!("  "))),
            (
                "http logo",
                with(
                    public(),
                    "logo_uri",
                    json!("http://client.example.com/logo.png"),
                ),
            ),
            (
                "redirect_uris not an array",
                with(
                    public(),
                    "redirect_uris",
                    json!("https://client.example.com/cb"),
                ),
            ),
        ];
        for (what, doc) in cases {
            assert!(check(&doc).is_err(), "{what}");
        }
        let not_object = check_document(URL, "h", b"[1]", &Policy::default(), Utc::now());
        assert!(not_object.is_err());
    }

    #[test]
    fn refusals_never_echo_a_secret() {
        let doc = with(public(), "client_secret", json!("do-not-log-me"));
        let why = check(&doc).unwrap_err();
        assert!(!why.contains("do-not-log-me"), "{why}");
    }
}
