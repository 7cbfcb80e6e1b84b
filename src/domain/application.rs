//! The application as the rest of the service sees it: no secret hash here,
//! so none can reach a protobuf message by accident.

use chrono::{DateTime, Utc};

use super::{
    ids::AppId,
    kinds::{AppType, AuthMethod, GrantType},
    privilege::OwnerOnly,
    scopes::is_owner_only_scope,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: AppId,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub app_type: AppType,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    /// Last characters of the current secret; `None` for public apps.
    pub secret_hint: Option<String>,
    pub active: bool,
    pub first_party: bool,
    pub created_by: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    /// Bumped by every mutation.
    pub revision: i64,
    pub grant_types: Vec<GrantType>,
    pub auth_method: AuthMethod,
    /// Public keys (a JWK Set) of a PRIVATE_KEY_JWT application.
    pub jwks: Option<String>,
    pub client_uri: String,
    pub logo_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub contacts: Vec<String>,
    /// Registered by software (RFC 7591, or a Client ID Metadata Document)
    /// rather than by a member: an authorization server may show it as
    /// unverified. Such apps need not have unique names.
    pub dynamically_registered: bool,
}

impl Application {
    /// Opaque version tag that changes on every mutation.
    pub fn etag(&self) -> String {
        format!("v{}", self.revision)
    }

    /// First-party, or holding a scope only an OWNER may grant: such an app
    /// carries an OWNER's grant, so only an OWNER may change, rotate, delete
    /// or undelete it.
    pub fn is_privileged(&self) -> bool {
        is_privileged(self.first_party, &self.scopes)
    }

    /// Active and not deleted: the only state in which its credentials
    /// verify and token endpoints may see it.
    pub fn is_usable(&self) -> bool {
        self.active && self.delete_time.is_none()
    }
}

fn is_privileged(first_party: bool, scopes: &[String]) -> bool {
    first_party || scopes.iter().any(|s| is_owner_only_scope(s))
}

/// Why an OWNER must make a write that leaves an app with `first_party` and
/// `scopes`, starting from `before` (`None` for a new app): the app was
/// privileged already, or the write sets first_party or grants an
/// owner-only scope it did not hold.
pub(super) fn owner_only(
    before: Option<&Application>,
    first_party: bool,
    scopes: &[String],
) -> Option<OwnerOnly> {
    if before.is_some_and(Application::is_privileged) {
        return Some(OwnerOnly::PrivilegedApp);
    }
    if first_party {
        return Some(OwnerOnly::SetsFirstParty);
    }
    let granted = scopes
        .iter()
        .find(|s| is_owner_only_scope(s) && before.is_none_or(|b| !b.scopes.contains(s)));
    granted.map(|s| OwnerOnly::GrantsScope(s.clone()))
}

/// A new application, validated.
#[derive(Clone, Debug)]
pub struct NewApplication {
    pub name: String,
    pub description: String,
    pub app_type: AppType,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub active: bool,
    pub first_party: bool,
    pub grant_types: Vec<GrantType>,
    pub auth_method: AuthMethod,
    pub jwks: Option<String>,
    pub client_uri: String,
    pub logo_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub contacts: Vec<String>,
    /// Registered through RFC 7591 rather than CreateApplication.
    pub dynamically_registered: bool,
}

/// New values for the fields an update names; `None` leaves a field alone.
/// Built by the domain's rules, which drop values equal to the current ones,
/// so an empty set of changes means the call changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub active: Option<bool>,
    pub first_party: Option<bool>,
    pub grant_types: Option<Vec<GrantType>>,
    pub jwks: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub contacts: Option<Vec<String>>,
    /// `Some(None)` undeletes, `Some(Some(now))` deletes.
    pub delete_time: Option<Option<DateTime<Utc>>>,
}

impl AppChanges {
    /// The fields these changes touch, as the audit trail names them.
    pub fn fields(&self) -> Vec<&'static str> {
        let named = [
            (self.name.is_some(), "name"),
            (self.description.is_some(), "description"),
            (self.redirect_uris.is_some(), "redirect_uris"),
            (self.scopes.is_some(), "scopes"),
            (self.active.is_some(), "active"),
            (self.first_party.is_some(), "first_party"),
            (self.grant_types.is_some(), "grant_types"),
            (self.jwks.is_some(), "jwks"),
            (self.client_uri.is_some(), "client_uri"),
            (self.logo_uri.is_some(), "logo_uri"),
            (self.policy_uri.is_some(), "policy_uri"),
            (self.tos_uri.is_some(), "tos_uri"),
            (self.contacts.is_some(), "contacts"),
            (self.delete_time.is_some(), "delete_time"),
        ];
        named
            .into_iter()
            .filter_map(|(set, field)| set.then_some(field))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A live WEB application, for the rules' (and the cache's) tests.
    pub(crate) fn app(first_party: bool, scopes: &[&str]) -> Application {
        Application {
            id: AppId::generate(),
            organization_id: "org".into(),
            name: "A".into(),
            description: String::new(),
            app_type: AppType::Web,
            redirect_uris: vec!["https://a.example/cb".into()],
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            client_id: "c".into(),
            secret_hint: Some("abcd".into()),
            active: true,
            first_party,
            created_by: "u".into(),
            create_time: Utc::now(),
            update_time: Utc::now(),
            delete_time: None,
            revision: 3,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            auth_method: AuthMethod::ClientSecretBasic,
            jwks: None,
            client_uri: String::new(),
            logo_uri: String::new(),
            policy_uri: String::new(),
            tos_uri: String::new(),
            contacts: vec![],
            dynamically_registered: false,
        }
    }
}
