//! The benchmark's own database, created fresh and dropped at the end, and
//! its applications, seeded straight through SQL as a create would leave
//! them (hashing a million secrets through the API would take hours).

use std::collections::BTreeSet;

use argon2::{Argon2, password_hash::PasswordHasher as _};
use diesel::sql_query;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use oauth_apps::{
    domain::{ClientSecret, Role, ids::random_base62},
    store,
};

use crate::{BIG_ORG, OWNER};

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn db_url(name: &str) -> String {
    let mut u = url::Url::parse(&admin_url()).unwrap();
    u.set_path(&format!("/{name}"));
    u.to_string()
}

/// A database of the benchmark's own on the server of `TEST_DATABASE_URL`.
pub struct Database {
    name: String,
    pub url: String,
}

impl Database {
    /// Creates it, with the server's migrations.
    pub async fn create() -> Self {
        let name = format!("oauth_apps_bench_{}", random_base62(8).to_lowercase());
        let url = db_url(&name);
        store::ensure_database(&url).await.unwrap();
        store::run_migrations(&url).await.unwrap();
        Self { name, url }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }

    /// Drops it, whoever is still connected.
    pub async fn drop_database(self) {
        let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
        sql_query(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
}

/// The seeded applications: `app_` + the number, zero-padded, so that ids
/// (and pgbench) can be computed.
pub fn seeded_id(i: usize) -> String {
    format!("app_{i:0>22}")
}

/// Organization of seeded app `i`: every fifth in the large one, the rest
/// in organizations of about 1,000.
pub fn seeded_org(i: usize) -> String {
    if i % 5 == 0 {
        BIG_ORG.into()
    } else {
        format!("org-{}", i / 1250)
    }
}

/// The one secret (and hash) every seeded app shares: hashing a million
/// secrets would take hours, and verification reads only the row it needs.
pub struct Seed {
    pub secret: ClientSecret,
    pub hash: String,
    pub hint: String,
}

impl Seed {
    /// A secret minted with the database's checksum key (a server must have
    /// started once on the database, so that the key exists), and its hash.
    pub async fn mint(conn: &mut AsyncPgConnection) -> Self {
        #[derive(diesel::QueryableByName)]
        struct Key {
            #[diesel(sql_type = diesel::sql_types::Binary)]
            value: Vec<u8>,
        }
        let key: Key = sql_query(
            "SELECT value FROM service_settings WHERE name = 'client_secret_checksum_key'",
        )
        .get_result(conn)
        .await
        .unwrap();
        let secret = ClientSecret::generate(&oauth_apps::domain::ChecksumKey::new(key.value));
        // The hash a create stores: argon2id with argon2's default parameters
        // (m=19 MiB, t=2, p=1), as `credentials::hashing` computes it, made
        // with the argon2 crate itself (the service keeps its own hashing
        // private); the server verifies any argon2id PHC string of sane costs.
        let hash = {
            let s = secret.clone();
            tokio::task::spawn_blocking(move || {
                Argon2::default()
                    .hash_password(s.expose().as_bytes())
                    .unwrap()
                    .to_string()
            })
            .await
            .unwrap()
        };
        Self {
            hint: secret.hint(),
            hash,
            secret,
        }
    }
}

/// Adds applications `from..to` in one statement per batch, with the shared
/// secret, look-alike keys and default grants, as a create would leave them.
pub async fn seed(conn: &mut AsyncPgConnection, seed: &Seed, from: usize, to: usize) {
    const BATCH: usize = 100_000;
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        sql_query(format!(
            "INSERT INTO applications (id, organization_id, name, app_type, redirect_uris, scopes, \
                client_id, created_by, create_time, name_key, visual_key, name_keys_version, grant_types) \
             SELECT 'app_' || lpad(i::text, 22, '0'), \
                    CASE WHEN i % 5 = 0 THEN '{BIG_ORG}' ELSE 'org-' || (i / 1250) END, \
                    'seed ' || i, 'web', ARRAY['https://app' || i || '.example.com/callback'], \
                    '{{read:user,write:user}}', 'client' || lpad(i::text, 20, '0'), '{OWNER}', \
                    now() - make_interval(secs => (10000000 - i) / 100.0), \
                    'seed ' || i, 'seed ' || i, 1, '{{authorization_code,refresh_token}}' \
             FROM generate_series({start}, {}) AS i",
            end - 1
        ))
        .execute(conn)
        .await
        .unwrap();
        sql_query(format!(
            "INSERT INTO client_secrets (application_id, slot, secret_hash, hint, checksummed) \
             SELECT 'app_' || lpad(i::text, 22, '0'), 'current', '{}', '{}', true \
             FROM generate_series({start}, {}) AS i",
            seed.hash,
            seed.hint,
            end - 1
        ))
        .execute(conn)
        .await
        .unwrap();
        start = end;
    }
    sql_query("ANALYZE applications")
        .execute(conn)
        .await
        .unwrap();
    sql_query("ANALYZE client_secrets")
        .execute(conn)
        .await
        .unwrap();
}

/// Makes the owner an OWNER of `org`, unless `with_owner` says it is.
pub async fn add_owner(conn: &mut AsyncPgConnection, org: &str, with_owner: &mut BTreeSet<String>) {
    if with_owner.insert(org.to_owned()) {
        store::memberships::set(conn, org, OWNER, Role::Owner)
            .await
            .unwrap();
    }
}

/// Makes the owner an OWNER of the organizations the reads touch at `apps`
/// applications, once each (`with_owner` holds those done).
pub async fn add_owners(
    conn: &mut AsyncPgConnection,
    apps: usize,
    with_owner: &mut BTreeSet<String>,
) {
    let touched = [0usize, 1, 1251, apps.saturating_sub(1)].map(|i| seeded_org(i.min(apps - 1)));
    // Every seeded org the reads touch gets the owner.
    let orgs = touched
        .into_iter()
        .chain((0..=(apps / 1250)).map(|o| format!("org-{o}")));
    for org in orgs {
        add_owner(conn, &org, with_owner).await;
    }
}
