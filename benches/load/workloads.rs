//! The measured workloads: the reads at every size with the ceilings they
//! stand next to (`reads.rs`), and the rest at the largest size: creates
//! against argon2's capacity, wrong secrets, MatchRedirectUri and
//! VerifyClientAssertion here, the verification spray (`spray.rs`), OTLP
//! export (`otlp.rs`), the HTTP/JSON door next to gRPC (`http.rs`) and
//! Client ID Metadata Documents (`docs.rs`) and clients that register
//! themselves (`register.rs`) in files of their own; and the change feed
//! (`watch.rs`, `delivery.rs`, `feed_cost.rs`), a fleet of three replicas
//! (`fleet.rs`) and the revocation window across replicas
//! (`revocation.rs`), which start servers of their own.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use oauth_apps::{domain::ids::random_base62, proto::v1 as pb};
use rand::Rng as _;
use tonic::transport::Channel;

use crate::{
    AUDIENCE, BIG_ORG, Callers, Opts,
    drive::{Api, Stats, auth, channels, clients, drive, ok, yes},
    seed::{seeded_id, seeded_org},
    server::Server,
};

mod delivery;
mod docs;
mod feed_cost;
mod fleet;
mod http;
mod otlp;
mod reads;
mod register;
mod revocation;
mod spray;
mod watch;

pub use docs::documents;
pub use http::{Client, bearer, http, request};
pub use otlp::otlp;
pub use reads::{Reads, measure_reads};
pub use register::register;
pub use revocation::revocation;
pub use spray::spray;

/// The change feed's workloads and the fleet's, as `--only` asks.
pub async fn change_feed(ctx: &Ctx<'_>, out: &mut Out) {
    if ctx.opts.wants("watch") {
        delivery::watch_latency(ctx, out).await;
    }
    if ctx.opts.wants("watch-memory") {
        watch::watch_memory(ctx, out).await;
    }
    if ctx.opts.wants("feed-reads") {
        feed_cost::feed_reads(ctx, out).await;
    }
    if ctx.opts.wants("feed-writes") {
        feed_cost::feed_writes(ctx, out).await;
    }
    if ctx.opts.wants("fleet") {
        fleet::fleet(ctx, out).await;
    }
}

/// What the workloads at one size run against.
pub struct Ctx<'a> {
    pub opts: &'a Opts,
    pub server: &'a Server,
    pub database_url: &'a str,
    pub chans: Vec<Channel>,
    pub api: Arc<Vec<Api>>,
    pub apps: usize,
    pub callers: &'a Callers,
    pub cores: usize,
}

impl<'a> Ctx<'a> {
    /// With `--connections` connections of its own to `server`.
    pub async fn connect(
        opts: &'a Opts,
        server: &'a Server,
        database_url: &'a str,
        apps: usize,
        callers: &'a Callers,
        cores: usize,
    ) -> Self {
        let chans = channels(&server.url, opts.connections).await;
        Self {
            opts,
            server,
            database_url,
            api: clients(&chans),
            chans,
            apps,
            callers,
            cores,
        }
    }

    fn pid(&self) -> Option<u32> {
        Some(self.server.pid())
    }
}

/// What the workloads at the largest size add to the report: its text,
/// their rows, and the targets as (name, measured, wanted).
#[derive(Default)]
pub struct Out {
    pub report: String,
    pub more: Vec<Stats>,
    pub targets: Vec<(String, f64, String)>,
}

impl Out {
    pub fn target(&mut self, name: impl Into<String>, measured: f64, wanted: &str) {
        self.targets.push((name.into(), measured, wanted.into()));
    }
}

/// The seeded app that worker `w`'s `i`th call reads: a stride prime to
/// every size, so each worker walks all apps before it repeats one, and the
/// workers start apart.
pub fn spread(w: usize, i: u64, apps: usize) -> usize {
    (w * 7919 + i as usize * 104_729) % apps
}

/// Worker `w`'s `i`th GetApplication of a seeded app (see [`spread`]).
pub fn get_seeded(
    api: &[Api],
    token: &str,
    apps: usize,
    w: usize,
    i: u64,
) -> impl Future<Output = Result<(), String>> + Send + use<> {
    let mut cl = api[w % api.len()].clone();
    let n = spread(w, i, apps);
    let req = auth(
        pb::GetApplicationRequest { id: seeded_id(n) },
        token,
        Some(&seeded_org(n)),
    );
    async move { ok(cl.get_application(req).await) }
}

/// 1 / (1/a + 1/b): what a call costing one of each would reach if the two
/// costs simply added up.
pub fn additive(a: f64, b: f64) -> f64 {
    1.0 / (1.0 / a + 1.0 / b)
}

/// argon2 capacity: cores ÷ the time of one hash, at its fastest (memory
/// reused, the best of three batches).
async fn argon2_capacity(cores: usize) -> (Duration, f64) {
    let per_hash = tokio::task::spawn_blocking(|| {
        let s = random_base62(47);
        let mut memory = Vec::new();
        std::hint::black_box(argon2id_in(s.as_bytes(), &mut memory));
        (0..3)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..10 {
                    std::hint::black_box(argon2id_in(s.as_bytes(), &mut memory));
                }
                t.elapsed() / 10
            })
            .min()
            .unwrap()
    })
    .await
    .unwrap();
    (per_hash, cores as f64 / per_hash.as_secs_f64())
}

/// One hash as the service computes it (`credentials::hashing`, which keeps
/// its own function private): argon2id v19 with argon2's default parameters
/// (m=19 MiB, t=2, p=1), a fresh 16-byte random salt and a 32-byte output,
/// in `memory` reused across hashes. Only the PHC string around the output
/// is left out: microseconds next to tens of milliseconds.
fn argon2id_in(secret: &[u8], memory: &mut Vec<Block>) -> [u8; 32] {
    let params = Params::default();
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    memory.resize(params.block_count(), Block::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(secret, &salt, &mut out, memory.as_mut_slice())
        .expect("argon2 with default parameters and a 16-byte salt cannot fail");
    out
}

/// CreateApplication against argon2's capacity, then reads while creates
/// hash. `idle_get`: the reads' GetApplication at this size, if they ran.
pub async fn create(ctx: &Ctx<'_>, idle_get: Option<&Stats>, out: &mut Out) {
    let (opts, cores) = (ctx.opts, ctx.cores);
    let (per_hash, capacity) = argon2_capacity(cores).await;
    eprintln!(
        "  argon2id: {:.1} ms a hash, capacity {capacity:.1}/s on {cores} cores",
        per_hash.as_secs_f64() * 1000.0
    );
    let (a, t) = (ctx.api.clone(), ctx.callers.owner.clone());
    let counter = Arc::new(AtomicUsize::new(0));
    let create_op = move |w: usize, _| {
        let mut cl = a[w % a.len()].clone();
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let req = auth(
            pb::CreateApplicationRequest {
                name: format!("bench create {n} {}", random_base62(6)),
                r#type: pb::ApplicationType::Web.into(),
                redirect_uris: vec!["https://created.example.com/cb".into()],
                scopes: vec!["read:user".into()],
                ..Default::default()
            },
            &t,
            Some(BIG_ORG),
        );
        async move { ok(cl.create_application(req).await) }
    };
    let creates = drive(
        "CreateApplication",
        opts,
        opts.concurrency,
        ctx.pid(),
        create_op.clone(),
    )
    .await;
    out.target(
        "CreateApplication ÷ argon2 capacity",
        creates.rps / capacity,
        "≥ 0.8 (kept)",
    );
    let (get_busy, alongside) = reads_during_creates(ctx, create_op).await;
    if let Some(idle) = idle_get {
        out.target(
            "Get p99 during creates ÷ Get p99 idle",
            get_busy.p99_ms / idle.p99_ms,
            "≤ 3",
        );
    }
    out.more.extend([creates, get_busy, alongside]);
    out.report.push_str(&format!("\nargon2id: {:.1} ms a hash (memory reused, best of three batches), so a capacity of {capacity:.1} hashes/s on {cores} cores.\n", per_hash.as_secs_f64() * 1000.0));
}

/// GetApplication at full load while 4 callers create: the Gets, and the
/// creates alongside.
async fn reads_during_creates<F, Fut>(ctx: &Ctx<'_>, create_op: F) -> (Stats, Stats)
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let creating = tokio::spawn({
        let o = ctx.opts.clone();
        async move { drive("(creates alongside)", &o, 4, None, create_op).await }
    });
    let (a, t, apps) = (ctx.api.clone(), ctx.callers.owner.clone(), ctx.apps);
    let get_busy = drive(
        "GetApplication during creates",
        ctx.opts,
        ctx.opts.concurrency,
        ctx.pid(),
        move |w, i| get_seeded(&a, &t, apps, w, i),
    )
    .await;
    (get_busy, creating.await.unwrap())
}

/// VerifyClientCredentials with wrong secrets, spread over the clients.
pub async fn wrong(ctx: &Ctx<'_>, out: &mut Out) {
    let (a, t, apps) = (ctx.api.clone(), ctx.callers.verifier.clone(), ctx.apps);
    let wrong = drive(
        "VerifyClientCredentials (wrong secret)",
        ctx.opts,
        ctx.opts.concurrency,
        ctx.pid(),
        move |w, i| {
            let mut cl = a[w % a.len()].clone();
            let req = auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: format!("client{:0>20}", (w * 31 + i as usize) % apps),
                    client_secret: format!("oas_wrong{w}x{i}"),
                },
                &t,
                None,
            );
            async move { ok(cl.verify_client_credentials(req).await) }
        },
    )
    .await;
    out.more.push(wrong);
}

/// MatchRedirectUri of the seeded apps' registered URIs.
pub async fn match_redirect(ctx: &Ctx<'_>, out: &mut Out) {
    let (a, t, apps) = (ctx.api.clone(), ctx.callers.verifier.clone(), ctx.apps);
    let pid = ctx.pid();
    let matched = drive(
        "MatchRedirectUri",
        ctx.opts,
        ctx.opts.concurrency,
        pid,
        move |w, i| {
            let mut cl = a[w % a.len()].clone();
            let n = spread(w, i, apps);
            let req = auth(
                pb::MatchRedirectUriRequest {
                    client_id: format!("client{n:0>20}"),
                    redirect_uri: format!("https://app{n}.example.com/callback"),
                },
                &t,
                None,
            );
            async move {
                yes(
                    cl.match_redirect_uri(req).await,
                    |r| r.matched,
                    "not matched",
                )
            }
        },
    )
    .await;
    out.more.push(matched);
}

/// VerifyClientAssertion of one client's key, a fresh assertion each call.
pub async fn assertion(ctx: &Ctx<'_>, out: &mut Out) {
    let client_id = keyed_client(&ctx.api[0], &ctx.callers.owner).await;
    let assertions = signed_assertions(&client_id, 60_000);
    let next = Arc::new(AtomicUsize::new(0));
    let (a, t) = (ctx.api.clone(), ctx.callers.verifier.clone());
    let verified = drive(
        "VerifyClientAssertion (hot key)",
        ctx.opts,
        ctx.opts.concurrency,
        ctx.pid(),
        move |w, _| {
            let mut cl = a[w % a.len()].clone();
            let i = next.fetch_add(1, Ordering::Relaxed);
            let assertion = assertions.get(i).cloned();
            let t = t.clone();
            async move {
                let assertion = assertion.ok_or("ran out of signed assertions")?;
                let req = auth(
                    pb::VerifyClientAssertionRequest {
                        client_assertion_type:
                            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                        client_assertion: assertion,
                        client_id: String::new(),
                    },
                    &t,
                    None,
                );
                yes(
                    cl.verify_client_assertion(req).await,
                    |r| r.valid,
                    "not valid",
                )
            }
        },
    )
    .await;
    out.more.push(verified);
}

/// Creates a service app that authenticates with the test EC key; returns
/// its client_id.
async fn keyed_client(api: &Api, owner: &str) -> String {
    let jwk: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/fixtures/jwks/ec.jwk.json")).unwrap();
    let created = api
        .clone()
        .create_application(auth(
            pb::CreateApplicationRequest {
                name: format!("bench keyed {}", random_base62(6)),
                r#type: pb::ApplicationType::Service.into(),
                scopes: vec!["read:user".into()],
                token_endpoint_auth_method: pb::TokenEndpointAuthMethod::PrivateKeyJwt.into(),
                jwks: serde_json::json!({ "keys": [jwk] }).to_string(),
                ..Default::default()
            },
            owner,
            Some(BIG_ORG),
        ))
        .await
        .unwrap()
        .into_inner();
    created.application.unwrap().client_id
}

/// One assertion per call (each jti is single use), signed ahead.
fn signed_assertions(client_id: &str, n: usize) -> Arc<Vec<String>> {
    let key =
        jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!("../../tests/fixtures/jwks/ec.pem"))
            .unwrap();
    let now = jsonwebtoken::get_current_timestamp();
    Arc::new(
        (0..n)
            .map(|i| {
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
                h.kid = Some("ec-1".into());
                jsonwebtoken::encode(
                    &h,
                    &serde_json::json!({"iss": client_id, "sub": client_id, "aud": AUDIENCE,
                        "exp": now + 280, "jti": format!("bench-{i}")}),
                    &key,
                )
                .unwrap()
            })
            .collect(),
    )
}
