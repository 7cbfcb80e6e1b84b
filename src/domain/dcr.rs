//! RFC 7591 client metadata, as a client that registers itself sends it,
//! turned into CreateApplication's input: the same rules (sections 3 and 6
//! of the contract) then apply through [`create::check_new`], so there is
//! no second validator. What RFC 7591 names differently is checked here
//! (its strings for types, grants and methods) and violations are named by
//! the RFC's field names.
//!
//! [`create::check_new`]: super::create::check_new

use serde::Deserialize;

use super::{
    application::Application,
    create::CreateInput,
    grants::default_grant_types,
    kinds::{AppType, AuthMethod, GrantType},
    policy::Policy,
    privilege::Classified,
    refusal::{FieldViolation, Refusal},
    scopes::is_owner_only_scope,
    update::{AppUpdate, UpdateInput, UpdateValues, plan_update},
};

const DEVICE_CODE_URN: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The name of a client that sends no `client_name`.
pub const UNNAMED: &str = "Unnamed client";

/// The client metadata of RFC 7591 section 2 (and OIDC's
/// `application_type`). Members this service does not know are ignored, as
/// RFC 7591 section 2 asks; `jwks_uri` is known and refused.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub scope: Option<String>,
    pub contacts: Vec<String>,
    pub tos_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    pub application_type: Option<String>,
    /// In an RFC 7592 update: must equal the path's.
    pub client_id: Option<String>,
}

/// Which RFC 7591 error a refusal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRedirectUri,
    InvalidClientMetadata,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }

    /// `invalid_redirect_uri` when every violation is of a redirect URI.
    pub fn of(violations: &[FieldViolation]) -> Self {
        if !violations.is_empty()
            && violations
                .iter()
                .all(|v| v.field.starts_with("redirect_uris"))
        {
            Self::InvalidRedirectUri
        } else {
            Self::InvalidClientMetadata
        }
    }
}

/// The client metadata as CreateApplication's input, or every violation at
/// once (by the RFC's field names). Privileged scopes are refused here: a
/// client never registers itself into an OWNER's grant.
pub fn to_create_input(m: ClientMetadata) -> Result<CreateInput, Refusal> {
    let mut violations = Vec::new();
    let native = match m.application_type.as_deref() {
        None | Some("web") => false,
        Some("native") => true,
        Some(other) => {
            violations.push(FieldViolation::new(
                "application_type",
                format!("{other:?} is not \"web\" or \"native\""),
            ));
            false
        }
    };
    let auth_method = auth_method(m.token_endpoint_auth_method.as_deref(), &mut violations);
    let grant_types = grant_types(m.grant_types.as_deref(), &mut violations);
    check_response_types(m.response_types.as_deref(), &grant_types, &mut violations);
    let scopes = scopes(m.scope.as_deref(), &mut violations);
    if m.jwks_uri.is_some() {
        violations.push(FieldViolation::new(
            "jwks_uri",
            "is not accepted: send the keys inline as jwks (the service fetches nothing at registration)",
        ));
    }
    let jwks = match &m.jwks {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(v @ serde_json::Value::Object(_)) => v.to_string(),
        Some(_) => {
            violations.push(FieldViolation::new("jwks", "must be a JWK Set object"));
            String::new()
        }
    };
    let app_type = app_type(native, auth_method, &grant_types);
    if !violations.is_empty() {
        return Err(Refusal::Invalid(violations));
    }
    Ok(CreateInput {
        name: m.client_name.unwrap_or_else(|| UNNAMED.to_owned()),
        description: String::new(),
        app_type: Ok(app_type),
        redirect_uris: m.redirect_uris,
        scopes,
        active: true,
        first_party: false,
        grant_types: grant_types.into_iter().map(Ok).collect(),
        auth_method: Ok(auth_method),
        jwks,
        client_uri: m.client_uri.unwrap_or_default(),
        logo_uri: m.logo_uri.unwrap_or_default(),
        policy_uri: m.policy_uri.unwrap_or_default(),
        tos_uri: m.tos_uri.unwrap_or_default(),
        contacts: m.contacts,
        dynamically_registered: true,
    })
}

/// The contract's mapping: `native` is NATIVE; `web` with no client
/// authentication is USER_AGENT_BASED; `web` otherwise is WEB, or SERVICE
/// when its only grant is client_credentials.
fn app_type(native: bool, method: Option<AuthMethod>, grants: &[GrantType]) -> AppType {
    if native {
        AppType::Native
    } else if method == Some(AuthMethod::None) {
        AppType::UserAgentBased
    } else if grants == [GrantType::ClientCredentials] {
        AppType::Service
    } else {
        AppType::Web
    }
}

/// The requested method; an unspecified one is `none` for a native client
/// and `client_secret_basic` otherwise, which `check_new` fills in.
fn auth_method(method: Option<&str>, violations: &mut Vec<FieldViolation>) -> Option<AuthMethod> {
    let method = method?;
    let known = method.parse::<AuthMethod>().ok();
    if known.is_none() {
        violations.push(FieldViolation::new(
            "token_endpoint_auth_method",
            format!(
                "{method:?} is not one of client_secret_basic, client_secret_post, private_key_jwt, none"
            ),
        ));
    }
    known
}

fn grant_types(grants: Option<&[String]>, violations: &mut Vec<FieldViolation>) -> Vec<GrantType> {
    let mut known = Vec::new();
    for (i, g) in grants.unwrap_or_default().iter().enumerate() {
        let parsed = if g == DEVICE_CODE_URN {
            Some(GrantType::DeviceCode)
        } else {
            GrantType::from_db(g).filter(|g| *g != GrantType::DeviceCode)
        };
        match parsed {
            Some(g) if !known.contains(&g) => known.push(g),
            Some(_) => {}
            None => violations.push(FieldViolation::new(
                format!("grant_types[{i}]"),
                format!("{g:?} is not a grant this service supports (authorization_code, refresh_token, client_credentials, {DEVICE_CODE_URN})"),
            )),
        }
    }
    known
}

/// Only `code` exists (no implicit flow), and it goes with the
/// authorization_code grant (RFC 7591 section 2.1).
fn check_response_types(
    types: Option<&[String]>,
    grants: &[GrantType],
    violations: &mut Vec<FieldViolation>,
) {
    let Some(types) = types else { return };
    for (i, t) in types.iter().enumerate() {
        if t != "code" {
            violations.push(FieldViolation::new(
                format!("response_types[{i}]"),
                format!("{t:?} is not supported; only \"code\" is"),
            ));
        }
    }
    let code = types.iter().any(|t| t == "code");
    let authorization_code = grants.is_empty() || grants.contains(&GrantType::AuthorizationCode);
    if code != authorization_code {
        violations.push(FieldViolation::new(
            "response_types",
            "\"code\" goes with the authorization_code grant, and only with it",
        ));
    }
}

fn scopes(scope: Option<&str>, violations: &mut Vec<FieldViolation>) -> Vec<String> {
    let scopes: Vec<String> = scope
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        violations.push(FieldViolation::new(
            "scope",
            "is required: the space-separated scopes the client may ask for",
        ));
    }
    for s in scopes.iter().filter(|s| is_owner_only_scope(s)) {
        violations.push(FieldViolation::new(
            "scope",
            format!("{s} cannot be registered dynamically; an OWNER must grant it"),
        ));
    }
    scopes
}

/// The fields an RFC 7592 update replaces: all the client's metadata but
/// its type and authentication method, which cannot change.
const REPLACED: &[&str] = &[
    "name",
    "redirect_uris",
    "scopes",
    "grant_types",
    "jwks",
    "client_uri",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "contacts",
];

/// An RFC 7592 update of `current`: the metadata replaces the client's
/// through UpdateApplication's rules (`update::plan_update`, every field
/// named), after the type and method are found unchanged.
pub fn plan_replacement(
    current: Application,
    input: CreateInput,
    policy: &Policy,
) -> Result<Classified<AppUpdate>, Refusal> {
    let mut violations = Vec::new();
    if input.app_type != Ok(current.app_type) {
        violations.push(FieldViolation::new(
            "application_type",
            "cannot change: the type follows from application_type, \
             token_endpoint_auth_method and grant_types, as registered",
        ));
    }
    if let Ok(Some(method)) = input.auth_method
        && method != current.auth_method
    {
        violations.push(FieldViolation::new(
            "token_endpoint_auth_method",
            format!("cannot change from {}", current.auth_method.as_db()),
        ));
    }
    if !violations.is_empty() {
        return Err(Refusal::Invalid(violations));
    }
    let grant_types = if input.grant_types.is_empty() {
        let defaults = default_grant_types(current.app_type, !input.redirect_uris.is_empty());
        defaults.into_iter().map(Ok).collect()
    } else {
        input.grant_types
    };
    let update = UpdateInput {
        id: current.id.clone(),
        paths: REPLACED.iter().map(|p| (*p).to_owned()).collect(),
        values: UpdateValues {
            name: input.name,
            description: current.description.clone(),
            redirect_uris: input.redirect_uris,
            scopes: input.scopes,
            active: current.active,
            first_party: false,
            grant_types,
            jwks: input.jwks,
            client_uri: input.client_uri,
            logo_uri: input.logo_uri,
            policy_uri: input.policy_uri,
            tos_uri: input.tos_uri,
            contacts: input.contacts,
        },
        etag: String::new(),
        application_etag: String::new(),
    };
    plan_update(current, &update, policy).map_err(|r| match r {
        Refusal::Invalid(v) => Refusal::Invalid(
            v.into_iter()
                .map(|mut v| {
                    if let Some(rest) = v.field.strip_prefix("application.") {
                        v.field = rest.to_owned();
                    }
                    v
                })
                .collect(),
        ),
        other => other,
    })
}

/// `check_new`'s violations named as RFC 7591 names the fields.
pub fn rfc_names(refusal: Refusal) -> Refusal {
    match refusal {
        Refusal::Invalid(violations) => Refusal::Invalid(
            violations
                .into_iter()
                .map(|mut v| {
                    v.field = rfc_field(&v.field);
                    v
                })
                .collect(),
        ),
        other => other,
    }
}

fn rfc_field(field: &str) -> String {
    let (head, tail) = field.split_at(field.find('[').unwrap_or(field.len()));
    let renamed = match head {
        "name" => "client_name",
        "scopes" => "scope",
        "type" => "application_type",
        other => other,
    };
    format!("{renamed}{tail}")
}

/// RFC 7591's one-line description of every violation.
pub fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The registered metadata of `app`, as RFC 7591 section 3.2.1 returns it.
pub fn registered_metadata(app: &Application) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let application_type = if app.app_type == AppType::Native {
        "native"
    } else {
        "web"
    };
    let grant_types: Vec<&str> = app
        .grant_types
        .iter()
        .map(|g| match g {
            GrantType::DeviceCode => DEVICE_CODE_URN,
            g => g.as_db(),
        })
        .collect();
    let response_types: &[&str] = if app.grant_types.contains(&GrantType::AuthorizationCode) {
        &["code"]
    } else {
        &[]
    };
    let mut out = json!({
        "client_id": app.client_id,
        "client_id_issued_at": app.create_time.timestamp(),
        "client_name": app.name,
        "application_type": application_type,
        "redirect_uris": app.redirect_uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": app.auth_method.as_db(),
        "scope": app.scopes.join(" "),
        "contacts": app.contacts,
    });
    let map = out.as_object_mut().expect("an object");
    let optional = [
        ("client_uri", &app.client_uri),
        ("logo_uri", &app.logo_uri),
        ("policy_uri", &app.policy_uri),
        ("tos_uri", &app.tos_uri),
    ];
    for (name, value) in optional {
        if !value.is_empty() {
            map.insert(name.into(), Value::String(value.clone()));
        }
    }
    if let Some(jwks) = app
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
    {
        map.insert("jwks".into(), jwks);
    }
    std::mem::take(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(json: serde_json::Value) -> ClientMetadata {
        serde_json::from_value(json).unwrap()
    }

    fn fields(r: Result<CreateInput, Refusal>) -> Vec<String> {
        match r {
            Err(Refusal::Invalid(v)) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn types_follow_the_contracts_mapping() {
        let cases = [
            (
                serde_json::json!({"application_type": "native"}),
                AppType::Native,
            ),
            (
                serde_json::json!({"token_endpoint_auth_method": "none"}),
                AppType::UserAgentBased,
            ),
            (serde_json::json!({}), AppType::Web),
            (
                serde_json::json!({"grant_types": ["client_credentials"], "response_types": []}),
                AppType::Service,
            ),
        ];
        for (mut json, want) in cases {
            json["scope"] = "read:user".into();
            let input = to_create_input(meta(json.clone())).unwrap();
            assert_eq!(input.app_type, Ok(want), "{json}");
            assert!(input.dynamically_registered && !input.first_party);
        }
    }

    #[test]
    fn the_rfcs_strings_are_checked_and_named() {
        let bad = meta(serde_json::json!({
            "application_type": "tv",
            "token_endpoint_auth_method": "tls_client_auth",
            "grant_types": ["authorization_code", "implicit"],
            "response_types": ["token"],
            "scope": "read:user admin:all",
            "jwks_uri": "https://attacker.example/jwks",
        }));
        assert_eq!(
            fields(to_create_input(bad)),
            [
                "application_type",
                "token_endpoint_auth_method",
                "grant_types[1]",
                "response_types[0]",
                "response_types",
                "scope",
                "jwks_uri"
            ]
        );
        assert_eq!(
            fields(to_create_input(meta(serde_json::json!({})))),
            ["scope"]
        );
    }

    #[test]
    fn the_device_grant_is_its_urn_and_duplicates_collapse() {
        let m = meta(serde_json::json!({
            "application_type": "native",
            "grant_types": [DEVICE_CODE_URN, DEVICE_CODE_URN, "refresh_token"],
            "response_types": [],
            "scope": "read:user",
        }));
        let input = to_create_input(m).unwrap();
        assert_eq!(
            input.grant_types,
            [Ok(GrantType::DeviceCode), Ok(GrantType::RefreshToken)]
        );
    }

    #[test]
    fn violations_take_the_rfcs_names_and_pick_the_error() {
        let refusal = Refusal::Invalid(vec![
            FieldViolation::new("name", "x"),
            FieldViolation::new("redirect_uris[0]", "y"),
        ]);
        let Refusal::Invalid(v) = rfc_names(refusal) else {
            panic!()
        };
        assert_eq!(v[0].field, "client_name");
        assert_eq!(ErrorCode::of(&v), ErrorCode::InvalidClientMetadata);
        assert_eq!(ErrorCode::of(&v[1..]), ErrorCode::InvalidRedirectUri);
        assert_eq!(describe(&v), "client_name: x; redirect_uris[0]: y");
    }
}
