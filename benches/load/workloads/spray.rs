//! The attack review's verification spray: `--spray` calls in flight with
//! made-up client_ids, from a caller of its own, while legitimate work goes
//! on. What must keep working: creates, rotations, secrets nobody verified
//! before; and reads keep their latency.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use oauth_apps::{
    domain::ids::random_base62,
    proto::{OAuthApplicationsClient, v1 as pb},
};
use tokio::task::JoinHandle;

use super::{Ctx, Out, get_seeded};
use crate::{
    BIG_ORG,
    drive::{Api, Stats, auth, channels, clients, drive},
};

/// An app created for the spray: (id, client_id, secret).
type Fresh = (String, String, String);

/// What the legitimate work achieved: (created, rotated, verified).
type Done = (usize, usize, usize);

/// The spray (see the module's doc). `idle_get`: the reads' GetApplication
/// at this size, if they ran.
pub async fn spray(ctx: &Ctx<'_>, idle_get: Option<&Stats>, out: &mut Out) {
    let opts = ctx.opts;
    // Connections of its own, as a fresh client would hold.
    let api = clients(&channels(&ctx.server.url, opts.connections).await);
    // Fresh apps whose secrets no replica has verified yet.
    let fresh = fresh_apps(&api[0], &ctx.callers.owner).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let sprayers = start_sprayers(ctx, &stop, &sent).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let sent_before = sent.load(Ordering::Relaxed);
    // Legitimate work alongside: creates, rotations, first verifications.
    let legit = legitimate_work(ctx, &api, fresh);
    let (a, t, apps) = (api.clone(), ctx.callers.owner.clone(), ctx.apps);
    let get = drive(
        "GetApplication during the spray",
        opts,
        opts.concurrency,
        Some(ctx.server.pid()),
        move |w, i| get_seeded(&a, &t, apps, w, i),
    )
    .await;
    let (created, rotated, verified) = legit.await.unwrap();
    let spray_rps =
        (sent.load(Ordering::Relaxed) - sent_before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for s in sprayers {
        let _ = s.await;
    }
    eprintln!(
        "  spray of {} in flight: {spray_rps:.0} rps; meanwhile creates {created}/20, rotations {rotated}/10, first verifications {verified}/10",
        opts.spray
    );
    out.report.push_str(&format!(
        "\n## Verification spray\n\n{} calls in flight of VerifyClientCredentials with made-up client_ids, from a caller of their own: {spray_rps:.0} calls/s answered. Meanwhile, one after another: 20 creates ({created} succeeded), 10 first verifications of right secrets nobody had verified ({verified} valid), 10 rotations ({rotated} succeeded), and GetApplication at full load (below).\n",
        opts.spray
    ));
    push_targets(out, (created, rotated, verified), &get, idle_get);
    out.more.push(get);
}

fn push_targets(
    out: &mut Out,
    (created, rotated, verified): Done,
    get: &Stats,
    idle: Option<&Stats>,
) {
    out.target(
        "creates during the spray (succeeded)",
        created as f64 / 20.0,
        "≥ 0.9",
    );
    out.target(
        "rotations during the spray (succeeded)",
        rotated as f64 / 10.0,
        "≥ 0.9",
    );
    out.target(
        "first verifications of right secrets during the spray",
        verified as f64 / 10.0,
        "≥ 0.9",
    );
    if let Some(idle) = idle {
        out.target(
            "Get p50 during the spray ÷ idle p50",
            get.p50_ms / idle.p50_ms,
            "≤ 3",
        );
        out.target(
            "Get p99 during the spray ÷ idle p99",
            get.p99_ms / idle.p99_ms,
            "≤ 3",
        );
    }
}

/// 12 new apps with their secrets.
async fn fresh_apps(api: &Api, owner: &str) -> Vec<Fresh> {
    let mut fresh = Vec::new();
    for i in 0..12 {
        let r = api
            .clone()
            .create_application(auth(
                pb::CreateApplicationRequest {
                    name: format!("spray fresh {i} {}", random_base62(6)),
                    r#type: pb::ApplicationType::Web.into(),
                    redirect_uris: vec!["https://fresh.example.com/cb".into()],
                    scopes: vec!["read:user".into()],
                    ..Default::default()
                },
                owner,
                Some(BIG_ORG),
            ))
            .await
            .unwrap()
            .into_inner();
        let a = r.application.unwrap();
        fresh.push((a.id, a.client_id, r.client_secret));
    }
    fresh
}

/// `--spray` callers over 2 connections of their own, verifying made-up
/// credentials until `stop`, counting the calls answered in `sent`.
async fn start_sprayers(
    ctx: &Ctx<'_>,
    stop: &Arc<AtomicBool>,
    sent: &Arc<AtomicU64>,
) -> Vec<JoinHandle<()>> {
    let spray_chans = channels(&ctx.server.url, 2).await;
    let mut sprayers = Vec::new();
    for w in 0..ctx.opts.spray {
        let (stop, sent) = (stop.clone(), sent.clone());
        let mut cl = OAuthApplicationsClient::new(spray_chans[w % spray_chans.len()].clone());
        let token = ctx.callers.sprayer.clone();
        sprayers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let req = auth(
                    pb::VerifyClientCredentialsRequest {
                        client_id: random_base62(26),
                        client_secret: format!("oas_{}", random_base62(49)),
                    },
                    &token,
                    None,
                );
                let _ = cl.verify_client_credentials(req).await;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    sprayers
}

/// One after another: 20 creates, then for 10 fresh apps a first
/// verification and a rotation.
fn legitimate_work(ctx: &Ctx<'_>, api: &[Api], fresh: Vec<Fresh>) -> JoinHandle<Done> {
    let mut cl = api[0].clone();
    let (owner, verifier) = (ctx.callers.owner.clone(), ctx.callers.verifier.clone());
    tokio::spawn(async move {
        let mut created = 0;
        for i in 0..20 {
            let r = cl
                .create_application(auth(
                    pb::CreateApplicationRequest {
                        name: format!("during spray {i} {}", random_base62(6)),
                        r#type: pb::ApplicationType::Web.into(),
                        redirect_uris: vec!["https://legit.example.com/cb".into()],
                        scopes: vec!["read:user".into()],
                        ..Default::default()
                    },
                    &owner,
                    Some(BIG_ORG),
                ))
                .await;
            created += usize::from(r.is_ok());
        }
        let (rotated, verified) = verify_and_rotate(&mut cl, &owner, &verifier, &fresh[..10]).await;
        (created, rotated, verified)
    })
}

/// A first verification of each app's right secret, then a rotation:
/// (rotated, verified).
async fn verify_and_rotate(
    cl: &mut Api,
    owner: &str,
    verifier: &str,
    fresh: &[Fresh],
) -> (usize, usize) {
    let (mut rotated, mut verified) = (0, 0);
    for (id, client_id, secret) in fresh {
        let r = cl
            .verify_client_credentials(auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: client_id.clone(),
                    client_secret: secret.clone(),
                },
                verifier,
                None,
            ))
            .await;
        verified += usize::from(r.is_ok_and(|r| r.into_inner().valid));
        let r = cl
            .rotate_client_secret(auth(
                pb::RotateClientSecretRequest {
                    id: id.clone(),
                    previous_secret_grace: None,
                },
                owner,
                Some(BIG_ORG),
            ))
            .await;
        rotated += usize::from(r.is_ok());
    }
    (rotated, verified)
}
