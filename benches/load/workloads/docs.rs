//! Client ID Metadata Documents: MatchRedirectUri of a cached document
//! client next to a registered app's, on one server with documents on,
//! and 1,000 concurrent lookups of one uncached URL, which must make one
//! fetch. The documents come from the tests' HTTPS document server
//! (`tests/api/doc_server.rs`), in this process.

use std::time::{Duration, Instant};

use oauth_apps::proto::v1 as pb;
use serde_json::json;

use super::{Ctx, Out};
use crate::{
    doc_server::{DocServer, Reply},
    drive::{Api, Stats, auth, channels, clients, drive, yes},
    server::start_server,
};

const CALLBACK: &str = "https://agent.example.com/callback";
/// Lookups at once of the uncached URL.
const STAMPEDE: usize = 1000;

/// The two measurements (see the module's doc).
pub async fn documents(ctx: &Ctx<'_>, out: &mut Out) {
    let docs = DocServer::start().await;
    let ca = docs.ca_file.to_string_lossy().into_owned();
    let env = [
        ("OAUTH_APPS_METADATA_DOCUMENTS", "true"),
        ("OAUTH_APPS_METADATA_DOCUMENT_PRIVATE_HOSTS", "localhost"),
        ("OAUTH_APPS_METADATA_DOCUMENT_CA_FILE", ca.as_str()),
    ];
    let (server, _) = start_server(ctx.opts, ctx.database_url, &env).await;
    let api = clients(&channels(&server.url, ctx.opts.connections).await);
    let url = docs.url("/bench/client.json");
    docs.document("/bench/client.json", &document(&url), Some("max-age=3600"));
    // The seeded app 3, as the reads' hot client; the document client is
    // one URL too. A B B A, so that the machine's drift cancels out.
    let registered = (
        "client00000000000000000003".to_owned(),
        "https://app3.example.com/callback",
    );
    let document_client = (url.clone(), CALLBACK);
    let pid = Some(server.pid());
    let mut runs = Vec::new();
    for (i, (client_id, uri)) in [&registered, &document_client, &document_client, &registered]
        .into_iter()
        .enumerate()
    {
        let name = if i == 0 || i == 3 {
            "registered app"
        } else {
            "metadata document"
        };
        let name = format!("MatchRedirectUri, {name} (cached), run {}", i / 2 + 1);
        runs.push(match_one(ctx, &api, pid, &name, client_id, uri).await);
    }
    let registered_rps = (runs[0].rps + runs[3].rps) / 2.0;
    let document_rps = (runs[1].rps + runs[2].rps) / 2.0;
    assert_eq!(
        docs.requests("/bench/client.json"),
        1,
        "the document was cached"
    );
    out.more.extend(runs);
    out.target(
        "MatchRedirectUri, cached metadata-document client ÷ registered app",
        document_rps / registered_rps,
        "≥ 0.9",
    );
    stampede(&server.url, &docs, out).await;
}

fn document(url: &str) -> serde_json::Value {
    json!({
        "client_id": url,
        "client_name": "Benchmark Agent",
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        "scope": "read:user",
    })
}

/// MatchRedirectUri of one client and its URI, closed loop.
async fn match_one(
    ctx: &Ctx<'_>,
    api: &std::sync::Arc<Vec<Api>>,
    pid: Option<u32>,
    name: &str,
    client_id: &str,
    uri: &str,
) -> Stats {
    let (a, t) = (api.clone(), ctx.callers.verifier.clone());
    let (client_id, uri) = (client_id.to_owned(), uri.to_owned());
    drive(name, ctx.opts, ctx.opts.concurrency, pid, move |w, _| {
        let mut cl = a[w % a.len()].clone();
        let req = auth(
            pb::MatchRedirectUriRequest {
                client_id: client_id.clone(),
                redirect_uri: uri.clone(),
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
    })
    .await
}

/// [`STAMPEDE`] LookupClient calls at once for a URL nobody asked for
/// before, whose server takes 300 ms to answer: one fetch is wanted.
async fn stampede(url: &str, docs: &DocServer, out: &mut Out) {
    // Enough connections that every call is in flight at once (256
    // streams each).
    let api = clients(&channels(url, STAMPEDE.div_ceil(200)).await);
    let token = crate::Callers::mint().verifier;
    let cold = docs.url("/bench/cold.json");
    let body = document(&cold).to_string();
    let slow = Reply::Slowly(
        Duration::from_millis(300),
        Box::new(Reply::Json(body, None)),
    );
    docs.reply("/bench/cold.json", slow);
    let started = Instant::now();
    let calls = (0..STAMPEDE).map(|i| {
        let mut cl = api[i % api.len()].clone();
        let req = auth(
            pb::LookupClientRequest {
                client_id: cold.clone(),
            },
            &token,
            None,
        );
        async move { cl.lookup_client(req).await.is_ok() }
    });
    let answered = futures_util::future::join_all(calls).await;
    let took = started.elapsed();
    let ok = answered.iter().filter(|ok| **ok).count();
    let fetches = docs.requests("/bench/cold.json");
    eprintln!(
        "  {STAMPEDE} concurrent lookups of one uncached URL: {ok} answered, {fetches} fetch(es), {} ms",
        took.as_millis()
    );
    out.report.push_str(&format!(
        "\n{STAMPEDE} concurrent LookupClient calls of one uncached metadata-document URL (its server answering in 300 ms): {ok} answered in {} ms, **{fetches} fetch**.\n",
        took.as_millis()
    ));
    out.target(
        format!("fetches for {STAMPEDE} concurrent lookups of one uncached URL"),
        fetches as f64,
        "= 1",
    );
}
