//! Requests into the domain's inputs, and the operations' results into
//! responses. Only shapes change here; the rules live in `domain`.

use chrono::{DateTime, Utc};
use pbjson_types::Timestamp;

use super::proto::v1 as pb;
use crate::{
    domain::{
        AppId, AppType, Application, AuthMethod, ClientSecret, FieldViolation, GrantType,
        Requested,
        create::CreateInput,
        lifecycle,
        page_token::ListInput,
        registration::{RegistrationToken, TokenInput},
        update::{UpdateInput, UpdateValues},
    },
    error::Error,
    ops::{Created, Page, RedirectMatch, Rotated},
};

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn app_type_to_proto(t: AppType) -> pb::ApplicationType {
    match t {
        AppType::Web => pb::ApplicationType::Web,
        AppType::Native => pb::ApplicationType::Native,
        AppType::UserAgentBased => pb::ApplicationType::UserAgentBased,
        AppType::Service => pb::ApplicationType::Service,
    }
}

/// The requested type; unspecified means WEB.
pub fn app_type_from_proto(value: i32) -> Requested<AppType> {
    match pb::ApplicationType::try_from(value).map_err(|_| value)? {
        pb::ApplicationType::Unspecified | pb::ApplicationType::Web => Ok(AppType::Web),
        pb::ApplicationType::Native => Ok(AppType::Native),
        pb::ApplicationType::UserAgentBased => Ok(AppType::UserAgentBased),
        pb::ApplicationType::Service => Ok(AppType::Service),
    }
}

pub fn grant_type_to_proto(g: GrantType) -> pb::GrantType {
    match g {
        GrantType::AuthorizationCode => pb::GrantType::AuthorizationCode,
        GrantType::RefreshToken => pb::GrantType::RefreshToken,
        GrantType::ClientCredentials => pb::GrantType::ClientCredentials,
        GrantType::DeviceCode => pb::GrantType::DeviceCode,
    }
}

/// A requested grant; unspecified (0) and unknown values come back as the
/// number, for the rules to refuse.
pub fn grant_type_from_proto(value: i32) -> Requested<GrantType> {
    match pb::GrantType::try_from(value).map_err(|_| value)? {
        pb::GrantType::Unspecified => Err(value),
        pb::GrantType::AuthorizationCode => Ok(GrantType::AuthorizationCode),
        pb::GrantType::RefreshToken => Ok(GrantType::RefreshToken),
        pb::GrantType::ClientCredentials => Ok(GrantType::ClientCredentials),
        pb::GrantType::DeviceCode => Ok(GrantType::DeviceCode),
    }
}

pub fn auth_method_to_proto(m: AuthMethod) -> pb::TokenEndpointAuthMethod {
    match m {
        AuthMethod::ClientSecretBasic => pb::TokenEndpointAuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost => pb::TokenEndpointAuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt => pb::TokenEndpointAuthMethod::PrivateKeyJwt,
        AuthMethod::None => pb::TokenEndpointAuthMethod::None,
    }
}

/// The requested method; unspecified is `None` (the type's default).
pub fn auth_method_from_proto(value: i32) -> Requested<Option<AuthMethod>> {
    Ok(
        match pb::TokenEndpointAuthMethod::try_from(value).map_err(|_| value)? {
            pb::TokenEndpointAuthMethod::Unspecified => None,
            pb::TokenEndpointAuthMethod::ClientSecretBasic => Some(AuthMethod::ClientSecretBasic),
            pb::TokenEndpointAuthMethod::ClientSecretPost => Some(AuthMethod::ClientSecretPost),
            pb::TokenEndpointAuthMethod::PrivateKeyJwt => Some(AuthMethod::PrivateKeyJwt),
            pb::TokenEndpointAuthMethod::None => Some(AuthMethod::None),
        },
    )
}

/// An application id from a request: empty is a bad request, any other id
/// we could not have issued is simply not found.
pub fn app_id(id: &str, field: &str) -> Result<AppId, Error> {
    if id.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    AppId::parse(id).ok_or(Error::NotFound)
}

pub fn application(app: Application) -> pb::Application {
    let etag = app.etag();
    pb::Application {
        id: app.id.as_str().to_owned(),
        organization_id: app.organization_id,
        name: app.name,
        description: app.description,
        r#type: app_type_to_proto(app.app_type).into(),
        redirect_uris: app.redirect_uris,
        scopes: app.scopes,
        client_id: app.client_id,
        client_secret_hint: app.secret_hint.unwrap_or_default(),
        active: app.active,
        first_party: app.first_party,
        created_by: app.created_by,
        create_time: Some(timestamp(app.create_time)),
        update_time: Some(timestamp(app.update_time)),
        delete_time: app.delete_time.map(timestamp),
        etag,
        grant_types: app
            .grant_types
            .into_iter()
            .map(|g| grant_type_to_proto(g).into())
            .collect(),
        token_endpoint_auth_method: auth_method_to_proto(app.auth_method).into(),
        jwks: app.jwks.unwrap_or_default(),
        client_uri: app.client_uri,
        logo_uri: app.logo_uri,
        policy_uri: app.policy_uri,
        tos_uri: app.tos_uri,
        contacts: app.contacts,
        dynamically_registered: app.dynamically_registered,
    }
}

impl From<pb::CreateApplicationRequest> for CreateInput {
    fn from(r: pb::CreateApplicationRequest) -> Self {
        Self {
            app_type: app_type_from_proto(r.r#type),
            name: r.name,
            description: r.description,
            redirect_uris: r.redirect_uris,
            scopes: r.scopes,
            active: r.active.unwrap_or(true),
            first_party: r.first_party,
            grant_types: r
                .grant_types
                .into_iter()
                .map(grant_type_from_proto)
                .collect(),
            auth_method: auth_method_from_proto(r.token_endpoint_auth_method),
            jwks: r.jwks,
            client_uri: r.client_uri,
            logo_uri: r.logo_uri,
            policy_uri: r.policy_uri,
            tos_uri: r.tos_uri,
            contacts: r.contacts,
            dynamically_registered: false,
        }
    }
}

impl From<Created> for pb::CreateApplicationResponse {
    fn from(c: Created) -> Self {
        Self {
            application: Some(application(c.app)),
            client_secret: c.secret.map(|s| s.expose().to_owned()).unwrap_or_default(),
        }
    }
}

impl From<pb::ListApplicationsRequest> for ListInput {
    fn from(r: pb::ListApplicationsRequest) -> Self {
        Self {
            page_size: r.page_size,
            page_token: r.page_token,
            show_deleted: r.show_deleted,
        }
    }
}

/// The bytes `app` adds to a ListApplicationsResponse: its encoding, with
/// its field tag and length.
pub fn encoded_len(app: &Application) -> usize {
    let len = prost::Message::encoded_len(&application(app.clone()));
    1 + prost::length_delimiter_len(len) + len
}

impl From<Page> for pb::ListApplicationsResponse {
    fn from(p: Page) -> Self {
        Self {
            applications: p.apps.into_iter().map(application).collect(),
            next_page_token: p.next_page_token,
        }
    }
}

impl TryFrom<pb::UpdateApplicationRequest> for UpdateInput {
    type Error = Error;

    fn try_from(r: pb::UpdateApplicationRequest) -> Result<Self, Error> {
        let a = r
            .application
            .ok_or_else(|| Error::invalid("application", "is required"))?;
        Ok(Self {
            id: app_id(&a.id, "application.id")?,
            application_etag: a.etag,
            paths: r.update_mask.map(|m| m.paths).unwrap_or_default(),
            values: UpdateValues {
                name: a.name,
                description: a.description,
                redirect_uris: a.redirect_uris,
                scopes: a.scopes,
                active: a.active,
                first_party: a.first_party,
                grant_types: a
                    .grant_types
                    .into_iter()
                    .map(grant_type_from_proto)
                    .collect(),
                jwks: a.jwks,
                client_uri: a.client_uri,
                logo_uri: a.logo_uri,
                policy_uri: a.policy_uri,
                tos_uri: a.tos_uri,
                contacts: a.contacts,
            },
            etag: r.etag,
        })
    }
}

/// RotateClientSecret's grace: unset means none.
pub fn grace(d: Option<pbjson_types::Duration>) -> Result<Option<std::time::Duration>, Error> {
    match d {
        None => Ok(None),
        Some(d) => Ok(lifecycle::parse_grace(d.seconds, d.nanos)?),
    }
}

impl From<Rotated> for pb::RotateClientSecretResponse {
    fn from(r: Rotated) -> Self {
        Self {
            application: Some(application(r.app)),
            client_secret: r.secret.expose().to_owned(),
            previous_secret_expire_time: r.previous_expire_time.map(timestamp),
        }
    }
}

/// VerifyClientCredentials' client_id and secret, both required.
pub fn credentials(r: pb::VerifyClientCredentialsRequest) -> Result<(String, ClientSecret), Error> {
    let mut violations = Vec::new();
    if r.client_id.is_empty() {
        violations.push(FieldViolation::new("client_id", "is required"));
    }
    if r.client_secret.is_empty() {
        violations.push(FieldViolation::new("client_secret", "is required"));
    }
    if !violations.is_empty() {
        return Err(Error::Invalid(violations));
    }
    Ok((r.client_id, ClientSecret::from_presented(r.client_secret)))
}

/// Both verifications answer `valid` and, when valid, the application.
macro_rules! verified_response {
    ($($response:ty),*) => {$(
        impl From<Option<Application>> for $response {
            fn from(app: Option<Application>) -> Self {
                Self {
                    valid: app.is_some(),
                    application: app.map(application),
                }
            }
        }
    )*};
}

verified_response!(
    pb::VerifyClientCredentialsResponse,
    pb::VerifyClientAssertionResponse
);

/// A required client_id.
pub fn client_id(id: String) -> Result<String, Error> {
    if id.is_empty() {
        return Err(Error::invalid("client_id", "is required"));
    }
    Ok(id)
}

impl From<RedirectMatch> for pb::MatchRedirectUriResponse {
    fn from(m: RedirectMatch) -> Self {
        Self {
            matched: m.redirect_uri.is_some(),
            redirect_uri: m.redirect_uri.unwrap_or_default(),
            application: Some(application(m.app)),
        }
    }
}

/// CreateRegistrationToken's fields; a Timestamp out of range is refused.
pub fn token_input(r: pb::CreateRegistrationTokenRequest) -> Result<TokenInput, Error> {
    let expire_time = match r.expire_time {
        None => None,
        Some(t) => Some(
            u32::try_from(t.nanos)
                .ok()
                .and_then(|nanos| DateTime::<Utc>::from_timestamp(t.seconds, nanos))
                .ok_or_else(|| Error::invalid("expire_time", "is not a valid timestamp"))?,
        ),
    };
    Ok(TokenInput {
        description: r.description,
        expire_time,
        max_registrations: r.max_registrations,
    })
}

pub fn registration_token(t: RegistrationToken) -> pb::RegistrationToken {
    pb::RegistrationToken {
        id: t.id,
        organization_id: t.organization_id,
        description: t.description,
        created_by: t.created_by,
        create_time: Some(timestamp(t.create_time)),
        expire_time: Some(timestamp(t.expire_time)),
        max_registrations: t.max_registrations,
        registrations_used: t.registrations_used,
        revoke_time: t.revoke_time.map(timestamp),
    }
}
