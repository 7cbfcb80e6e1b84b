//! CreateApplication, GetApplication, ListApplications.

use chrono::{DateTime, Utc};

use super::Ops;
use crate::{
    auth::{ReadPermit, WritePermit},
    domain::{
        AppId, Application, ClientId, ClientSecret, Refusal,
        create::{self, CreateInput},
        page_token,
        page_token::{PagePosition, PageTokenError},
    },
    error::Error,
    store::{
        self, Deadline,
        applications::{Cursor, InitialSecret},
        audit::Action,
    },
    telemetry::rpc::record_app,
};

/// A new application and, for a confidential one, its secret: the only
/// time it is ever shown.
#[derive(Debug)]
pub struct Created {
    pub app: Application,
    pub secret: Option<ClientSecret>,
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    pub apps: Vec<Application>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl Ops {
    pub async fn create_application(
        &self,
        permit: &WritePermit,
        input: CreateInput,
        deadline: Option<Deadline>,
    ) -> Result<Created, Error> {
        // Authority before argon2: a refused call costs no hash.
        let new = permit.authorize(create::check_new(input, &self.policy)?)?;
        let id = AppId::generate();
        record_app(id.as_str());
        let client_id = ClientId::generate();
        let secret = if new.get().auth_method.uses_secret() {
            let secret = ClientSecret::generate(&self.checksum_key);
            let hash = self.minting.hash(secret.clone()).await?;
            Some((secret, hash))
        } else {
            None
        };
        let hint = secret.as_ref().map(|(s, _)| s.hint());
        let initial = secret
            .as_ref()
            .zip(hint.as_deref())
            .map(|((_, hash), hint)| InitialSecret { hash, hint });
        let app = self
            .db
            .transaction(deadline, async |conn| {
                let app = store::applications::insert(conn, &new, &id, &client_id, initial).await?;
                store::audit::record(
                    conn,
                    &new,
                    app.id.as_str(),
                    Action::Create,
                    create::CREATE_AUDIT_FIELDS,
                    "",
                )
                .await?;
                Ok::<_, Error>(app)
            })
            .await?;
        tracing::info!(app_id = %app.id, "application created");
        Ok(Created {
            app,
            secret: secret.map(|(s, _)| s),
        })
    }

    pub async fn get_application(
        &self,
        permit: &ReadPermit,
        id: AppId,
    ) -> Result<Application, Error> {
        record_app(id.as_str());
        if let Some(hit) = self.apps.by_id(permit, &id) {
            return Ok(hit.app.clone());
        }
        let generation = self.apps.generation();
        let found = self
            .db
            .run(async |conn| store::applications::get_with_secrets(conn, permit, &id).await)
            .await?;
        let found = std::sync::Arc::new(found);
        self.apps.fill(found.clone(), generation);
        Ok(found.app.clone())
    }

    pub async fn list_applications(
        &self,
        permit: &ReadPermit,
        input: page_token::ListInput,
    ) -> Result<Page, Error> {
        let page_size = page_token::page_size(input.page_size)?;
        let now = Utc::now();
        let after = if input.page_token.is_empty() {
            None
        } else {
            let bad = |e: PageTokenError| Refusal::invalid("page_token", e.to_string());
            let position = self
                .page_tokens
                .decode(&input.page_token, permit.org(), input.show_deleted, now)
                .map_err(bad)?;
            let create_time =
                DateTime::<Utc>::from_timestamp_micros(position.after_create_time_micros)
                    .ok_or_else(|| bad(PageTokenError::Invalid))?;
            Some(Cursor {
                create_time,
                id: position.after_id,
            })
        };
        let show_deleted = input.show_deleted;
        let mut apps = self
            .db
            .run(async |conn| {
                store::applications::list(conn, permit, show_deleted, after.as_ref(), page_size + 1)
                    .await
            })
            .await?;
        // One row more than the page was fetched: if it came, there is a
        // next page, which starts after the page's last row.
        let more = apps.len() as i64 > page_size;
        apps.truncate(page_size as usize);
        let next_page_token = match apps.last() {
            Some(last) if more => self.page_tokens.encode(&PagePosition {
                org: permit.org().to_owned(),
                show_deleted,
                after_create_time_micros: last.create_time.timestamp_micros(),
                after_id: last.id.as_str().to_owned(),
                issued_at: now.timestamp(),
            }),
            _ => String::new(),
        };
        Ok(Page {
            apps,
            next_page_token,
        })
    }
}
