//! Clients that register themselves: RFC 7591 `POST /oauth2/register` over
//! HTTP/1.1 JSON (one keep-alive connection per worker), each worker with a
//! registration token of its own, measured in one run next to the ceilings
//! the issue names:
//!
//! - confidential clients (`web`, `client_secret_basic`: one argon2 hash
//!   each) against argon2's capacity, as CreateApplication is;
//! - public clients (`native`, `none`: no hash) against pgbench of
//!   CreateApplication's SQL (its transaction: the application's
//!   `INSERT ... RETURNING` and the audit `INSERT`), and, for the record,
//!   of the registration's own SQL (the token's check, then a transaction
//!   that spends a use of the token, inserts the application, stores its
//!   registration access token's hash and records the audit event).
//!
//! The statements are the server's own, read off the wire while it
//! registers one client (see `Wiretap`); a create runs the same INSERTs.
//! Any answer but a 201 with a client_id, a registration access token and
//! a secret exactly when confidential counts as an error.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use diesel::sql_query;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use http::{HeaderValue, Method, StatusCode};
use oauth_apps::{
    domain::{create::CREATE_AUDIT_FIELDS, ids::random_base62},
    proto::v1 as pb,
};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{Client, Ctx, Out, argon2_capacity, bearer, reads::pgbench, request};
use crate::{
    BIG_ORG,
    drive::{Api, Stats, auth, channels, clients, drive},
    server::{Wiretap, start_server},
};

const PATH: &str = "/oauth2/register";
/// Uses of one registration token: the most the service allows.
const USES: u32 = 1000;
/// Registration tokens per pgbench client (picked at random each time).
const PGBENCH_TOKENS: usize = 16;

/// Registrations next to their ceilings.
pub async fn register(ctx: &Ctx<'_>, out: &mut Out) {
    let (opts, cores) = (ctx.opts, ctx.cores);
    let statements = Statements::read(ctx).await;
    let (create_sql, register_sql) = statements.scripts();
    let (per_hash, capacity) = argon2_capacity(cores).await;
    eprintln!(
        "  argon2id: {:.1} ms a hash, capacity {capacity:.1}/s on {cores} cores",
        per_hash.as_secs_f64() * 1000.0
    );
    let confidential = registrations(ctx, "RFC 7591 register, confidential (web)", true).await;
    // Each script's own tag: their ids never meet.
    let tag = random_base62(8).to_lowercase();
    let (create_tag, register_tag) = (format!("{tag}c"), format!("{tag}r"));
    let create_tps = pgbench(
        ctx.database_url,
        opts,
        "create",
        &create_sql,
        &defines(&create_tag),
    );
    eprintln!(
        "  {:<44} {create_tps:>8.0} tps (pgbench, prepared)",
        "CreateApplication's SQL"
    );
    let public = registrations(ctx, "RFC 7591 register, public (native)", false).await;
    seed_pgbench_tokens(ctx, &register_tag).await;
    let register_defines = defines(&register_tag);
    let register_tps = pgbench(
        ctx.database_url,
        opts,
        "register",
        &register_sql,
        &register_defines,
    );
    eprintln!(
        "  {:<44} {register_tps:>8.0} tps (pgbench, prepared)",
        "a registration's SQL"
    );
    out.target(
        "RFC 7591 confidential registrations ÷ argon2 capacity",
        confidential.rps / capacity,
        "≥ 0.7",
    );
    out.target(
        "RFC 7591 public registrations ÷ CreateApplication's SQL (pgbench)",
        public.rps / create_tps,
        "≥ 0.5",
    );
    out.target(
        "RFC 7591 public registrations ÷ a registration's own SQL (pgbench)",
        public.rps / register_tps,
        "(for the record)",
    );
    out.report.push_str(&format!(
        "\nRegistrations: argon2id {:.1} ms a hash, a capacity of {capacity:.1}/s; pgbench (prepared, {} clients) of CreateApplication's SQL {create_tps:.0} tps, of a registration's SQL {register_tps:.0} tps.\n",
        per_hash.as_secs_f64() * 1000.0,
        opts.concurrency
    ));
    out.more.extend([confidential, public]);
}

/// Registrations by `--concurrency` workers, confidential or public clients.
async fn registrations(ctx: &Ctx<'_>, name: &str, confidential: bool) -> Stats {
    let (opts, c) = (ctx.opts, ctx.opts.concurrency);
    let authority = ctx.server.url.trim_start_matches("http://").to_owned();
    let tokens = Tokens::new(&ctx.api[0], &ctx.callers.owner, c).await;
    // Opened just before the run (an idle connection is closed after 10 s).
    let client = Client::h1(&authority, c).await;
    let counter = Arc::new(AtomicUsize::new(0));
    drive(name, opts, c, ctx.pid(), move |w, _| {
        let (client, tokens) = (client.clone(), tokens.clone());
        let authority = authority.clone();
        let n = counter.fetch_add(1, Ordering::Relaxed);
        async move { register_one(&client, &tokens, &authority, w, n, confidential).await }
    })
    .await
}

/// What a registration's 201 must hold.
#[derive(Deserialize)]
struct Registered {
    client_id: String,
    client_secret: Option<String>,
    registration_access_token: String,
}

/// Worker `w`'s registration of client `n`.
async fn register_one(
    client: &Client,
    tokens: &Tokens,
    authority: &str,
    w: usize,
    n: usize,
    confidential: bool,
) -> Result<(), String> {
    let bearer = tokens.take(w).await?;
    let body = Some(metadata(confidential, n));
    let req = request(client, Method::POST, authority, PATH, &bearer, body);
    let (status, body) = client.send(w, req).await?;
    if status != StatusCode::CREATED {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    let r: Registered = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let secret = r.client_secret.is_some_and(|s| !s.is_empty());
    if r.client_id.is_empty() || r.registration_access_token.is_empty() || secret != confidential {
        return Err(format!(
            "201 without what it must hold: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    Ok(())
}

/// The client metadata of registration `n`: a web client with a secret, or
/// a native one (loopback redirect, no secret), as MCP clients register.
fn metadata(confidential: bool, n: usize) -> Bytes {
    let name = format!("bench register {n} {}", random_base62(6));
    let body = if confidential {
        serde_json::json!({
            "client_name": name,
            "redirect_uris": ["https://registered.example.com/cb"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "read:user",
        })
    } else {
        serde_json::json!({
            "client_name": name,
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1:33418/cb"],
            "token_endpoint_auth_method": "none",
            "scope": "read:user",
        })
    };
    Bytes::from(body.to_string())
}

/// Each worker's registration token and the uses it has left. A spent one
/// is replaced inside that worker's next call (one gRPC
/// CreateRegistrationToken in 1,000 registrations), so no registration is
/// refused for want of a use.
struct Tokens {
    api: Api,
    owner: String,
    slots: Vec<Mutex<(HeaderValue, u32)>>,
}

impl Tokens {
    async fn new(api: &Api, owner: &str, workers: usize) -> Arc<Self> {
        let mut slots = Vec::new();
        for _ in 0..workers {
            let token = mint(api, owner).await.expect("CreateRegistrationToken");
            slots.push(Mutex::new((token, USES)));
        }
        Arc::new(Self {
            api: api.clone(),
            owner: owner.to_owned(),
            slots,
        })
    }

    /// Worker `w`'s `Authorization` for one registration.
    async fn take(&self, w: usize) -> Result<HeaderValue, String> {
        let mut slot = self.slots[w].lock().await;
        if slot.1 == 0 {
            *slot = (mint(&self.api, &self.owner).await?, USES);
        }
        slot.1 -= 1;
        Ok(slot.0.clone())
    }
}

/// A new registration token of the large organization, for `USES` uses.
async fn mint(api: &Api, owner: &str) -> Result<HeaderValue, String> {
    let request = pb::CreateRegistrationTokenRequest {
        description: "benchmark".into(),
        max_registrations: USES as i32,
        ..Default::default()
    };
    let created = api
        .clone()
        .create_registration_token(auth(request, owner, Some(BIG_ORG)))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    Ok(bearer(&created.registration_token))
}

/// The statements of a registration, as the server prepared them.
struct Statements {
    is_live: String,
    spend: String,
    insert: String,
    /// The UPDATE of the application's registration access token's hash,
    /// if the hash is not in its INSERT.
    set_access: Option<String>,
    audit: String,
}

impl Statements {
    /// Starts a server behind a [`Wiretap`], registers one public client
    /// and reads what it sent.
    async fn read(ctx: &Ctx<'_>) -> Self {
        let wiretap = Wiretap::start(ctx.database_url).await;
        let (server, _) = start_server(ctx.opts, &wiretap.url(ctx.database_url), &[]).await;
        let api = clients(&channels(&server.url, 1).await);
        let tokens = Tokens::new(&api[0], &ctx.callers.owner, 1).await;
        let authority = server.url.trim_start_matches("http://").to_owned();
        let client = Client::h1(&authority, 1).await;
        register_one(&client, &tokens, &authority, 0, 0, false)
            .await
            .expect("a registration through the wiretap");
        drop(server);
        let sent = wiretap.prepared();
        let find = |prefix: &str| {
            sent.iter()
                .find(|s| s.starts_with(prefix))
                .cloned()
                .unwrap_or_else(|| panic!("a registration ran no {prefix}...: {sent:#?}"))
        };
        Self {
            is_live: find(
                r#"SELECT "registration_tokens"."id", "registration_tokens"."organization_id" FROM"#,
            ),
            spend: find(r#"UPDATE "registration_tokens" SET "registrations_used""#),
            insert: find(r#"INSERT INTO "applications""#),
            set_access: sent
                .iter()
                .find(|s| s.starts_with(r#"UPDATE "applications" SET "registration_access_hash""#))
                .cloned(),
            audit: find(r#"INSERT INTO "audit_events""#),
        }
    }

    /// pgbench scripts of CreateApplication's transaction and of a
    /// registration's SQL, for a public native client. Every transaction
    /// makes an application of its own: its id, client_id and name are the
    /// run's `:tag`, the pgbench client and that client's count `:n`.
    fn scripts(&self) -> (String, String) {
        let id = "('app_pgb' || :tag || '_' || :client_id || '_' || :n)";
        let client_id = "('pgb' || :tag || '_' || :client_id || '_' || :n)";
        let name = "('pgbench ' || :tag || ' ' || :client_id || ' ' || :n)";
        let token = "sha256(('pgb' || :tag || '_' || :client_id || '_' || :k)::bytea)";
        let access = format!("sha256(({id} || ' access')::bytea)");
        // The access hash is the INSERT's last value when it has one (a
        // create leaves it NULL; the server's own create sends DEFAULT).
        let hash_in_insert = self.set_access.is_none();
        let insert = |dynamic, actor, access: &str| {
            #[rustfmt::skip]
            let mut values = vec![
                id, ":org", name, name, name, "1", "''", "'native'", ":redirects", ":scopes",
                client_id, "true", "false", actor, ":grants", "'none'", "''", "''", "''", "''",
                "'{}'", dynamic,
            ];
            values.extend(hash_in_insert.then_some(access));
            bind(&self.insert, &values)
        };
        let audit = |actor| {
            bind(
                &self.audit,
                &[":org", id, actor, "'create'", ":fields", "''"],
            )
        };
        let create = format!(
            "\\set n :n + 1\nBEGIN;\n{};\n{};\nCOMMIT;\n",
            insert("false", ":member", "NULL"),
            audit(":member"),
        );
        let set_access = self.set_access.as_ref().map_or(String::new(), |sql| {
            format!("{};\n", bind(sql, &[&access, ":org", id]))
        });
        let register = format!(
            "\\set n :n + 1\n\\set k random(0, {})\n{};\nBEGIN;\n{};\n{};\n{set_access}{};\nCOMMIT;\n",
            PGBENCH_TOKENS - 1,
            bind(&self.is_live, &[token, "1"]),
            bind(&self.spend, &["1", token]),
            insert("true", ":registrar", &access),
            audit(":registrar"),
        );
        (create, register)
    }
}

/// `sql` with `$1`, `$2`... replaced by `values`: exactly as many
/// parameters as it has.
fn bind(sql: &str, values: &[&str]) -> String {
    let n = values.len();
    assert!(
        sql.contains(&format!("${n}")) && !sql.contains(&format!("${}", n + 1)),
        "the statement's parameters have changed (expected {n}): {sql}"
    );
    let mut out = sql.to_owned();
    for (i, v) in values.iter().enumerate().rev() {
        out = out.replace(&format!("${}", i + 1), v);
    }
    out
}

/// The scripts' variables (`-D`): `:n` counts each client's transactions.
fn defines(tag: &str) -> Vec<(&'static str, String)> {
    vec![
        ("n", "0".into()),
        ("tag", tag.into()),
        ("org", BIG_ORG.into()),
        ("member", crate::OWNER.into()),
        ("registrar", format!("registration:rgt_pgb{tag}")),
        ("redirects", "{http://127.0.0.1:33418/cb}".into()),
        ("scopes", "{read:user}".into()),
        ("grants", "{authorization_code,refresh_token}".into()),
        ("fields", format!("{{{}}}", CREATE_AUDIT_FIELDS.join(","))),
    ]
}

/// The registration tokens the registration script spends: `PGBENCH_TOKENS`
/// per pgbench client, each with the most uses a token may have.
async fn seed_pgbench_tokens(ctx: &Ctx<'_>, tag: &str) {
    let mut conn = AsyncPgConnection::establish(ctx.database_url)
        .await
        .unwrap();
    sql_query(format!(
        "INSERT INTO registration_tokens (id, organization_id, token_hash, created_by, expire_time, max_registrations)
         SELECT 'rgt_pgb{tag}_' || c || '_' || k, '{BIG_ORG}', sha256(('pgb{tag}_' || c || '_' || k)::bytea),
                'bench', now() + interval '1 day', {USES}
         FROM generate_series(0, {}) c, generate_series(0, {}) k",
        ctx.opts.concurrency - 1,
        PGBENCH_TOKENS - 1
    ))
    .execute(&mut conn)
    .await
    .unwrap();
}
