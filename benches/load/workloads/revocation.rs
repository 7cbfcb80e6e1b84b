//! The revocation window across replicas (contract section 10): how long
//! after a rotation without grace commits through replica A does replica B,
//! whose cache holds the old secret as verified, refuse it. Measured while
//! B serves a closed loop of GetApplication (the seeded apps) and A a
//! trickle of updates, for 200 revocations with B's notifications healthy,
//! and for 50 with every replica's LISTEN connection cut
//! (`pg_terminate_backend`) just before each one.
//!
//! The window runs from the moment RotateClientSecret answers (just after
//! its commit) to the start of the first VerifyClientCredentials on B that
//! says no, polled back to back (each yes before it comes from the cache,
//! in about a millisecond; the no itself costs a full argon2 hash on
//! purpose, as slow as a yes would be, and is not B's lag).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::sql_query;
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use oauth_apps::proto::{OAuthApplicationsClient, v1 as pb};
use tonic::transport::Channel;

use super::{Ctx, Out, get_seeded};
use crate::{
    BIG_ORG,
    drive::{auth, channels, clients},
    server::start_server,
};

const HEALTHY: usize = 200;
const CUT: usize = 50;
/// B's readers in the background.
const READERS: usize = 16;

pub async fn revocation(ctx: &Ctx<'_>, out: &mut Out) {
    let (b, _) = start_server(ctx.opts, ctx.database_url, &[]).await;
    let b_chans = channels(&b.url, 2).await;
    let busy = Arc::new(AtomicBool::new(true));
    let reads = Arc::new(AtomicU64::new(0));
    let load = background_reads(ctx, &b_chans, &busy, &reads);
    let mut conn = AsyncPgConnection::establish(ctx.database_url)
        .await
        .unwrap();
    let started = Instant::now();
    let healthy = windows(ctx, &b_chans[0], HEALTHY, None).await;
    let cut = windows(ctx, &b_chans[0], CUT, Some(&mut conn)).await;
    let reads_per_s = reads.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    busy.store(false, Ordering::Relaxed);
    for l in load {
        let _ = l.await;
    }
    out.report.push_str(&format!(
        "\n## Revocation window across replicas\n\n\
         Rotation without grace through replica A, until replica B (its cache warm) refuses the \
         old secret; B meanwhile serves {READERS} closed-loop readers ({reads_per_s:.0} Gets/s).\n\n\
         | notifications | revocations | p50 | p99 | max |\n|---|---|---|---|---|\n{}\n{}\n",
        row("healthy", &healthy),
        row("LISTEN cut before each", &cut),
    ));
    out.target(
        "revocation window p99, notifications healthy (ms)",
        percentile(&healthy, 0.99).as_secs_f64() * 1000.0,
        "≤ 200",
    );
    out.target(
        "revocation window p99, LISTEN connections cut (ms)",
        percentile(&cut, 0.99).as_secs_f64() * 1000.0,
        "≤ 2000",
    );
}

fn row(what: &str, w: &[Duration]) -> String {
    let ms = |q: f64| percentile(w, q).as_secs_f64() * 1000.0;
    format!(
        "| {what} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
        w.len(),
        ms(0.5),
        ms(0.99),
        ms(1.0)
    )
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn background_reads(
    ctx: &Ctx<'_>,
    b_chans: &[Channel],
    busy: &Arc<AtomicBool>,
    reads: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let api = clients(b_chans);
    (0..READERS)
        .map(|w| {
            let (api, busy, reads) = (api.clone(), busy.clone(), reads.clone());
            let (token, apps) = (ctx.callers.owner.clone(), ctx.apps);
            tokio::spawn(async move {
                let mut i = 0;
                while busy.load(Ordering::Relaxed) {
                    let _ = get_seeded(&api, &token, apps, w, i).await;
                    reads.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect()
}

/// `n` revocations, each timed; sorted. With `cut`, every replica's LISTEN
/// connection is terminated just before each rotation.
async fn windows(
    ctx: &Ctx<'_>,
    b: &Channel,
    n: usize,
    mut cut: Option<&mut AsyncPgConnection>,
) -> Vec<Duration> {
    let mut a = OAuthApplicationsClient::new(ctx.chans[0].clone());
    let mut b = OAuthApplicationsClient::new(b.clone());
    let (owner, verifier) = (&ctx.callers.owner, &ctx.callers.verifier);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let created = a
            .create_application(auth(new_app(i), owner, Some(BIG_ORG)))
            .await
            .unwrap()
            .into_inner();
        let app = created.application.unwrap();
        let verify = || {
            auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: app.client_id.clone(),
                    client_secret: created.client_secret.clone(),
                },
                verifier,
                None,
            )
        };
        for _ in 0..2 {
            assert!(
                b.verify_client_credentials(verify())
                    .await
                    .unwrap()
                    .into_inner()
                    .valid
            );
        }
        if let Some(conn) = cut.as_deref_mut() {
            use diesel_async::RunQueryDsl as _;
            sql_query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'oauth-apps listener'",
            )
            .execute(conn)
            .await
            .unwrap();
        }
        let rotate = pb::RotateClientSecretRequest {
            id: app.id.clone(),
            previous_secret_grace: None,
        };
        a.rotate_client_secret(auth(rotate, owner, Some(BIG_ORG)))
            .await
            .unwrap();
        let committed = Instant::now();
        loop {
            let asked = committed.elapsed();
            let answer = b.verify_client_credentials(verify()).await.unwrap();
            if !answer.into_inner().valid {
                out.push(asked);
                break;
            }
            assert!(asked < Duration::from_secs(30), "never refused");
        }
    }
    out.sort_unstable();
    out
}

fn new_app(i: usize) -> pb::CreateApplicationRequest {
    pb::CreateApplicationRequest {
        name: format!("revoked {i} {}", oauth_apps::domain::ids::random_base62(6)),
        r#type: pb::ApplicationType::Web as i32,
        redirect_uris: vec!["https://revoked.example/cb".into()],
        scopes: vec!["read:user".into()],
        ..Default::default()
    }
}
