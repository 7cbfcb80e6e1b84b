//! The reads measured at every size: GetApplication, ListApplications page
//! 1 and page 400 of the large organization, VerifyClientCredentials of a
//! hot client, and the ceilings they stand next to (the same server's
//! health Check, pgbench of Get's own SELECT).

use std::{process::Command, sync::Arc};

use oauth_apps::proto::v1 as pb;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::{Ctx, get_seeded};
use crate::{
    BIG_ORG, Opts,
    drive::{Api, Stats, auth, drive, ok, yes},
};

/// The reads measured at every size.
pub struct Reads {
    pub get: Stats,
    pub list_first: Stats,
    pub list_deep: Stats,
    pub verify_hot: Stats,
    pub health: Stats,
    pub select_tps: f64,
}

/// The reads at this size. `get_sql`: the SELECT of a Get, for pgbench.
pub async fn measure_reads(
    ctx: &Ctx<'_>,
    hot_client: &str,
    seed_secret: &str,
    get_sql: &str,
) -> Reads {
    let (opts, c, pid) = (ctx.opts, ctx.opts.concurrency, ctx.pid());
    let hc: Arc<Vec<_>> = Arc::new(ctx.chans.iter().cloned().map(HealthClient::new).collect());
    let health = drive("health Check", opts, c, pid, move |w, _| {
        let mut h = hc[w % hc.len()].clone();
        async move { ok(h.check(HealthCheckRequest::default()).await) }
    })
    .await;
    let select_tps = pgbench_get(ctx.database_url, ctx.apps, opts, get_sql);
    eprintln!(
        "  {:<44} {select_tps:>8.0} tps (pgbench, prepared)",
        "Get's SELECT"
    );

    let (a, t, apps) = (ctx.api.clone(), ctx.callers.owner.clone(), ctx.apps);
    let get = drive("GetApplication", opts, c, pid, move |w, i| {
        get_seeded(&a, &t, apps, w, i)
    })
    .await;
    let (list_first, list_deep) = measure_lists(ctx).await;
    let verify_hot = verify_hot(ctx, hot_client, seed_secret).await;
    Reads {
        get,
        list_first,
        list_deep,
        verify_hot,
        health,
        select_tps,
    }
}

/// ListApplications of the large organization, page 1 and page 400.
async fn measure_lists(ctx: &Ctx<'_>) -> (Stats, Stats) {
    let (opts, c, pid) = (ctx.opts, ctx.opts.concurrency, ctx.pid());
    let owner = &ctx.callers.owner;
    let list = |token: String, page_token: String| {
        let a = ctx.api.clone();
        move |w: usize, _| {
            let mut cl = a[w % a.len()].clone();
            let req = auth(
                pb::ListApplicationsRequest {
                    page_size: 50,
                    page_token: page_token.clone(),
                    show_deleted: false,
                },
                &token,
                Some(BIG_ORG),
            );
            async move { ok(cl.list_applications(req).await) }
        }
    };
    let list_first = drive(
        "ListApplications page 1 (large org)",
        opts,
        c,
        pid,
        list(owner.to_owned(), String::new()),
    )
    .await;
    let token = page_400_token(&ctx.api[0], owner).await;
    let deep_name = if token.is_empty() {
        "ListApplications page 400 (org too small: page 1)".to_owned()
    } else {
        "ListApplications page 400 (large org)".to_owned()
    };
    let list_deep = drive(&deep_name, opts, c, pid, list(owner.to_owned(), token)).await;
    (list_first, list_deep)
}

/// The page token of page 400 (20,000 rows in), reached by walking there
/// once; empty when the large organization has fewer pages.
async fn page_400_token(api: &Api, owner: &str) -> String {
    let mut walker = api.clone();
    let mut token = String::new();
    for _ in 0..399 {
        let page = walker
            .list_applications(auth(
                pb::ListApplicationsRequest {
                    page_size: 50,
                    page_token: token.clone(),
                    show_deleted: false,
                },
                owner,
                Some(BIG_ORG),
            ))
            .await
            .unwrap()
            .into_inner();
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    token
}

/// VerifyClientCredentials of one client, again and again.
async fn verify_hot(ctx: &Ctx<'_>, hot_client: &str, seed_secret: &str) -> Stats {
    let (a, t, id, s) = (
        ctx.api.clone(),
        ctx.callers.verifier.clone(),
        hot_client.to_owned(),
        seed_secret.to_owned(),
    );
    drive(
        "VerifyClientCredentials (hot)",
        ctx.opts,
        ctx.opts.concurrency,
        ctx.pid(),
        move |w, _| {
            let mut cl = a[w % a.len()].clone();
            let req = auth(
                pb::VerifyClientCredentialsRequest {
                    client_id: id.clone(),
                    client_secret: s.clone(),
                },
                &t,
                None,
            );
            async move {
                yes(
                    cl.verify_client_credentials(req).await,
                    |r| r.valid,
                    "not valid",
                )
            }
        },
    )
    .await
}

/// pgbench of the exact SELECT GetApplication runs on a cache miss
/// (prepared), on random seeded apps: the database's side of the ceiling.
/// `sql` is that SELECT as the server sent it (`$1` the organization, `$2`
/// the id).
fn pgbench_get(database_url: &str, apps: usize, opts: &Opts, sql: &str) -> f64 {
    assert!(
        sql.contains("$2") && !sql.contains("$3"),
        "Get's query has changed its parameters: {sql}"
    );
    let org = format!("(CASE WHEN :n % 5 = 0 THEN '{BIG_ORG}' ELSE 'org-' || (:n / 1250) END)");
    let id = "('app_' || lpad(:n::text, 22, '0'))";
    let script = format!(
        "\\set n random(0, {})\n{};\n",
        apps - 1,
        sql.replace("$1", &org).replace("$2", id)
    );
    pgbench(database_url, opts, "get", &script, &[])
}

/// Transactions per second of pgbench running `script` (prepared, with
/// `defines` as `-D name=value`), at the benchmark's concurrency for its
/// duration.
pub fn pgbench(
    database_url: &str,
    opts: &Opts,
    name: &str,
    script: &str,
    defines: &[(&str, String)],
) -> f64 {
    let path = std::env::temp_dir().join(format!("oauth-apps-{name}-{}.sql", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let mut cmd = Command::new("pgbench");
    cmd.args(["-n", "-M", "prepared", "-f"]).arg(&path);
    for (k, v) in defines {
        cmd.arg("-D").arg(format!("{k}={v}"));
    }
    let out = cmd
        .args([
            "-c",
            &opts.concurrency.to_string(),
            "-j",
            "2",
            "-T",
            &opts.duration.as_secs().max(1).to_string(),
            database_url,
        ])
        .output()
        .expect("pgbench (PostgreSQL's) must be on PATH");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    let failed = text
        .lines()
        .any(|l| l.contains("failed") && !l.contains(": 0 ("));
    let tps = text.lines().find_map(|l| {
        let l = l.trim_start();
        l.strip_prefix("tps = ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    });
    match tps {
        Some(tps) if out.status.success() && !failed => tps,
        _ => panic!(
            "pgbench said:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}
