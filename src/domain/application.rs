//! The application as the rest of the service sees it: no secret hash here,
//! so none can reach a protobuf message by accident.

use chrono::{DateTime, Utc};

use super::{AppId, AppType};

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
        self.first_party
            || self
                .scopes
                .iter()
                .any(|s| super::validation::is_owner_only_scope(s))
    }
}

/// What CreateApplication stores, after validation.
#[derive(Clone, Debug)]
pub struct NewApplication {
    pub name: String,
    pub description: String,
    pub app_type: AppType,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub active: bool,
    pub first_party: bool,
}
