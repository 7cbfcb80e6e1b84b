//! Applications and their secrets.
//!
//! Every function that reads or changes an organization's applications is
//! scoped to the organization of the caller's proof: a [`ReadPermit`] to
//! read, a [`WritePermit`] to lock, and for a write the [`Permitted`] that a
//! `WritePermit` gives only for what the caller's role allows. The service
//! calls that find an application by `client_id` across organizations take a
//! [`ServicePermit`].
//!
//! [`ReadPermit`]: crate::auth::ReadPermit
//! [`WritePermit`]: crate::auth::WritePermit
//! [`Permitted`]: crate::auth::Permitted
//! [`ServicePermit`]: crate::auth::ServicePermit

mod read;
mod write;

use chrono::{DateTime, Utc};
use diesel::{Queryable, QueryableByName, Selectable};

pub use read::{
    Cursor, explain_list, explain_pending_name_keys, find_by_client_id, get, get_with_secrets, list,
};
pub use write::{
    InitialSecret, backfill_name_keys, insert, lock, purge_expired_secrets, rotate_secret, update,
};

use super::{StoreError, StoreResult, schema::applications};
use crate::domain::{AppId, AppType, Application, AuthMethod, GrantType};

pub const SLOT_CURRENT: &str = "current";
pub const SLOT_PREVIOUS: &str = "previous";

/// A stored application row. It holds no secret: hashes live in `client_secrets`.
#[derive(Clone, Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = applications)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub struct AppRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub app_type: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub active: bool,
    pub first_party: bool,
    pub created_by: String,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    pub delete_time: Option<DateTime<Utc>>,
    pub revision: i64,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub jwks: Option<String>,
    pub client_uri: String,
    pub logo_uri: String,
    pub policy_uri: String,
    pub tos_uri: String,
    pub contacts: Vec<String>,
    pub dynamically_registered: bool,
}

/// A stored value the schema's CHECK should have kept out.
pub(in crate::store) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Query(diesel::result::Error::DeserializationError(
        format!("unknown {what} {value:?}").into(),
    ))
}

impl AppRow {
    pub(in crate::store) fn into_domain(
        self,
        secret_hint: Option<String>,
    ) -> StoreResult<Application> {
        let app_type =
            AppType::from_db(&self.app_type).ok_or_else(|| corrupt("app_type", &self.app_type))?;
        let auth_method = AuthMethod::from_db(&self.token_endpoint_auth_method)
            .ok_or_else(|| corrupt("auth method", &self.token_endpoint_auth_method))?;
        let grant_types = self
            .grant_types
            .iter()
            .map(|g| GrantType::from_db(g).ok_or_else(|| corrupt("grant type", g)))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Application {
            id: AppId::from_trusted(self.id),
            organization_id: self.organization_id,
            name: self.name,
            description: self.description,
            app_type,
            redirect_uris: self.redirect_uris,
            scopes: self.scopes,
            client_id: self.client_id,
            secret_hint,
            // A deleted application is disabled, whatever it was before; undelete
            // restores the stored flag.
            active: self.active && self.delete_time.is_none(),
            first_party: self.first_party,
            created_by: self.created_by,
            create_time: self.create_time,
            update_time: self.update_time,
            delete_time: self.delete_time,
            revision: self.revision,
            grant_types,
            auth_method,
            jwks: self.jwks,
            client_uri: self.client_uri,
            logo_uri: self.logo_uri,
            policy_uri: self.policy_uri,
            tos_uri: self.tos_uri,
            contacts: self.contacts,
            dynamically_registered: self.dynamically_registered,
        })
    }
}
