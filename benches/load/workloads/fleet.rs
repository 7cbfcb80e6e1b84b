//! A fleet on one database (contract section 10): GetApplication and hot
//! VerifyClientCredentials through three replicas, round-robin, next to
//! one replica, with the same calls in flight, on the same two cores.

use std::sync::Arc;

use oauth_apps::{domain::ids::random_base62, proto::v1 as pb};
use tonic::transport::Channel;

use super::{Ctx, Out, get_seeded};
use crate::{
    BIG_ORG,
    drive::{Api, Stats, auth, channels, clients, drive, yes},
    server::{Server, start_server},
};

/// Connections of the client in all, for one replica and for three.
const CONNECTIONS: usize = 6;

/// A new application's client_id and secret, to verify again and again.
async fn hot_client(api: &Api, owner: &str) -> (String, String) {
    let req = pb::CreateApplicationRequest {
        name: format!("fleet hot {}", random_base62(6)),
        r#type: pb::ApplicationType::Web.into(),
        redirect_uris: vec!["https://fleet.example.com/cb".into()],
        scopes: vec!["read:user".into()],
        ..Default::default()
    };
    let created = api
        .clone()
        .create_application(auth(req, owner, Some(BIG_ORG)))
        .await
        .unwrap()
        .into_inner();
    (
        created.application.unwrap().client_id,
        created.client_secret,
    )
}

/// `CONNECTIONS` connections spread round-robin over `servers`.
async fn spread_over(servers: &[&Server]) -> Arc<Vec<Api>> {
    let mut chans: Vec<Channel> = Vec::new();
    for c in 0..CONNECTIONS {
        chans.extend(channels(&servers[c % servers.len()].url, 1).await);
    }
    clients(&chans)
}

async fn gets(ctx: &Ctx<'_>, name: &str, api: &Arc<Vec<Api>>, pid: Option<u32>) -> Stats {
    let (a, t, apps) = (api.clone(), ctx.callers.owner.clone(), ctx.apps);
    drive(name, ctx.opts, ctx.opts.concurrency, pid, move |w, i| {
        get_seeded(&a, &t, apps, w, i)
    })
    .await
}

async fn verifies(
    ctx: &Ctx<'_>,
    name: &str,
    api: &Arc<Vec<Api>>,
    pid: Option<u32>,
    (id, secret): &(String, String),
) -> Stats {
    let (a, t, id, s) = (
        api.clone(),
        ctx.callers.verifier.clone(),
        id.clone(),
        secret.clone(),
    );
    drive(name, ctx.opts, ctx.opts.concurrency, pid, move |w, _| {
        let mut cl = a[w % a.len()].clone();
        let req = pb::VerifyClientCredentialsRequest {
            client_id: id.clone(),
            client_secret: s.clone(),
        };
        let req = auth(req, &t, None);
        async move {
            yes(
                cl.verify_client_credentials(req).await,
                |r| r.valid,
                "not valid",
            )
        }
    })
    .await
}

/// `--only fleet`: four fresh servers on the database, one alone and three
/// as a fleet; Get then hot Verify, each measured one, three, three, one.
pub async fn fleet(ctx: &Ctx<'_>, out: &mut Out) {
    let (one, _) = start_server(ctx.opts, ctx.database_url, &[]).await;
    let mut three = Vec::new();
    for _ in 0..3 {
        three.push(start_server(ctx.opts, ctx.database_url, &[]).await.0);
    }
    let single = spread_over(&[&one]).await;
    let fleet = spread_over(&three.iter().collect::<Vec<_>>()).await;
    let hot = hot_client(&single[0], &ctx.callers.owner).await;
    let pid = Some(one.pid());
    let g1 = gets(ctx, "GetApplication, 1 replica", &single, pid).await;
    let f1 = gets(ctx, "GetApplication, 3 replicas", &fleet, None).await;
    let f2 = gets(ctx, "GetApplication, 3 replicas (2)", &fleet, None).await;
    let g2 = gets(ctx, "GetApplication, 1 replica (2)", &single, pid).await;
    let v1 = verifies(ctx, "Verify hot, 1 replica", &single, pid, &hot).await;
    let w1 = verifies(ctx, "Verify hot, 3 replicas", &fleet, None, &hot).await;
    let w2 = verifies(ctx, "Verify hot, 3 replicas (2)", &fleet, None, &hot).await;
    let v2 = verifies(ctx, "Verify hot, 1 replica (2)", &single, pid, &hot).await;
    let get_ratio = (f1.rps + f2.rps) / (g1.rps + g2.rps);
    let verify_ratio = (w1.rps + w2.rps) / (v1.rps + v2.rps);
    out.report.push_str(&format!(
        "\n## A fleet: three replicas next to one ({} in flight over {CONNECTIONS} connections, round-robin; measured 1, 3, 3, 1)\n\n\
         GetApplication: {:.0}, {:.0}, {:.0}, {:.0} rps: three ÷ one {get_ratio:.2}\n\
         Verify (hot): {:.0}, {:.0}, {:.0}, {:.0} rps: three ÷ one {verify_ratio:.2}\n",
        ctx.opts.concurrency, g1.rps, f1.rps, f2.rps, g2.rps, v1.rps, w1.rps, w2.rps, v2.rps
    ));
    out.target("GetApplication, 3 replicas ÷ 1", get_ratio, "≥ 0.9");
    out.target("Verify hot, 3 replicas ÷ 1", verify_ratio, "≥ 0.9");
    out.more.extend([g1, f1, f2, g2, v1, w1, w2, v2]);
}
