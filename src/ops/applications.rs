//! CreateApplication, GetApplication, ListApplications.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

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

/// Rows read from the database at a time while a page is assembled.
const LIST_CHUNK: i64 = 100;
/// Pages of more rows than this are "large": only
/// [`ListLimits::large`]'s permits of them are assembled at once.
pub const LARGE_PAGE: i64 = 100;

/// What a ListApplications response may cost.
#[derive(Clone, Debug)]
pub struct ListLimits {
    /// Encoded bytes of a page's applications; a page ends early (with a
    /// next_page_token) rather than pass it. One application always fits.
    pub max_bytes: usize,
    /// Large pages assembled at once; more wait their turn.
    pub large: Arc<Semaphore>,
}

impl ListLimits {
    pub fn new(max_bytes: usize, large_at_once: usize) -> Self {
        Self {
            max_bytes,
            large: Arc::new(Semaphore::new(large_at_once.max(1))),
        }
    }
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
                let app =
                    store::applications::insert(conn, &new, &id, &client_id, initial, None).await?;
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

    /// One page of the permit's organization: at most `page_size` apps, and
    /// fewer when their encoded size (`size_of` each) would pass the byte
    /// cap of a response; rows are read in chunks, so neither the database
    /// nor this replica ever holds much more than one page's bytes.
    pub async fn list_applications(
        &self,
        permit: &ReadPermit,
        input: page_token::ListInput,
        size_of: impl Fn(&Application) -> usize,
    ) -> Result<Page, Error> {
        let page_size = page_token::page_size(input.page_size)?;
        let now = Utc::now();
        let after = self.page_start(permit, &input, now)?;
        // A large page waits its turn: few are assembled at once.
        let _turn = if page_size > LARGE_PAGE {
            Some(
                self.lists
                    .large
                    .acquire()
                    .await
                    .map_err(|_| Error::Unavailable)?,
            )
        } else {
            None
        };
        let show_deleted = input.show_deleted;
        let (apps, more) = self
            .collect_page(permit, show_deleted, after, page_size, size_of)
            .await?;
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

    /// Up to `page_size` apps after `after` within the byte cap, read
    /// [`LIST_CHUNK`] rows at a time, and whether more follow.
    async fn collect_page(
        &self,
        permit: &ReadPermit,
        show_deleted: bool,
        mut after: Option<Cursor>,
        page_size: i64,
        size_of: impl Fn(&Application) -> usize,
    ) -> Result<(Vec<Application>, bool), Error> {
        let budget = self.lists.max_bytes;
        let (mut apps, mut bytes) = (Vec::new(), 0usize);
        loop {
            // One row more than is wanted: if it comes, there is more.
            let wanted = (page_size - apps.len() as i64).min(LIST_CHUNK);
            let chunk = self
                .db
                .run(async |conn| {
                    store::applications::list(
                        conn,
                        permit,
                        show_deleted,
                        after.as_ref(),
                        wanted + 1,
                    )
                    .await
                })
                .await?;
            let exhausted = chunk.len() as i64 <= wanted;
            for app in chunk {
                let size = size_of(&app);
                if apps.len() as i64 == page_size || (!apps.is_empty() && bytes + size > budget) {
                    return Ok((apps, true));
                }
                bytes += size;
                apps.push(app);
            }
            if exhausted {
                return Ok((apps, false));
            }
            after = apps.last().map(|last| Cursor {
                create_time: last.create_time,
                id: last.id.as_str().to_owned(),
            });
        }
    }

    /// Where the page starts: after the position in its token, if any.
    fn page_start(
        &self,
        permit: &ReadPermit,
        input: &page_token::ListInput,
        now: DateTime<Utc>,
    ) -> Result<Option<Cursor>, Error> {
        if input.page_token.is_empty() {
            return Ok(None);
        }
        let bad = |e: PageTokenError| Refusal::invalid("page_token", e.to_string());
        let position = self
            .page_tokens
            .decode(&input.page_token, permit.org(), input.show_deleted, now)
            .map_err(bad)?;
        let create_time = DateTime::<Utc>::from_timestamp_micros(position.after_create_time_micros)
            .ok_or_else(|| bad(PageTokenError::Invalid))?;
        Ok(Some(Cursor {
            create_time,
            id: position.after_id,
        }))
    }
}
