//! Client ID Metadata Documents (contract section 8): https client_ids
//! resolved by fetching their document from a local HTTPS server, through
//! the real gRPC API (and one HTTP/JSON route) against real PostgreSQL.
//! Every SSRF refusal is proven to have reached the server not at all:
//! not one TCP connection.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::Algorithm;
use oauth_apps::{Config, metadata_docs::ssrf::PrivateHosts, proto::v1 as pb};
use serde_json::{Value, json};
use tonic::Code;

use crate::{
    authz_server::{AUD, claims, jwk, match_uri, rand_jti, sign, verify_assertion},
    common::{TestApp, VERIFY_SCOPE, eventually},
    doc_server::{DocServer, Reply},
    http::Http,
};

const CALLBACK: &str = "https://client.example.com/callback";

/// The service with documents on, trusting the server's CA, with `listed`
/// as the private hosts.
async fn app_for(docs: &DocServer, listed: &str, tune: impl FnOnce(&mut Config)) -> TestApp {
    let (ca, listed) = (docs.ca_file.clone(), listed.to_owned());
    TestApp::spawn_with(move |c| {
        c.metadata_docs.metadata_documents = true;
        c.metadata_docs.metadata_document_ca_file = Some(ca);
        c.metadata_docs.metadata_document_private_hosts = PrivateHosts::parse(&listed).unwrap();
        c.metadata_docs.metadata_document_timeout = Duration::from_secs(2);
        c.assertion_audience = Some(AUD.into());
        tune(c);
    })
    .await
}

/// A valid public document for `url`.
fn public_doc(url: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": "Example Agent",
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        "scope": "read:user",
    })
}

fn code(r: Result<pb::Application, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

#[tokio::test]
async fn a_valid_document_answers_as_a_registered_app() {
    let docs = DocServer::start().await;
    let url = docs.url("/oauth/client.json");
    docs.document("/oauth/client.json", &public_doc(&url), Some("max-age=300"));
    let app = app_for(&docs, "localhost", |_| {}).await;

    let found = app.lookup(&url).await.unwrap();
    assert_eq!(found.client_id, url);
    assert_eq!(found.name, "Example Agent");
    assert_eq!(found.r#type(), pb::ApplicationType::UserAgentBased);
    assert_eq!(
        found.token_endpoint_auth_method(),
        pb::TokenEndpointAuthMethod::None
    );
    assert_eq!(found.redirect_uris, [CALLBACK]);
    assert_eq!(found.scopes, ["read:user"]);
    assert!(found.organization_id.is_empty() && found.active);
    assert!(found.dynamically_registered);
    assert!(found.client_secret_hint.is_empty());

    let matched = match_uri(&app, &url, CALLBACK).await.unwrap();
    assert!(matched.matched);
    assert_eq!(matched.redirect_uri, CALLBACK);
    assert_eq!(matched.application.unwrap().client_id, url);
    let only = match_uri(&app, &url, "").await.unwrap();
    assert_eq!((only.matched, only.redirect_uri.as_str()), (true, CALLBACK));
    for other in [
        "https://client.example.com/callback/",
        "https://evil.example/callback",
        "https://client.example.com/callback#x",
    ] {
        let r = match_uri(&app, &url, other).await.unwrap();
        assert!(!r.matched && r.redirect_uri.is_empty(), "{other}");
    }

    // The HTTP/JSON door, with the URL percent-encoded in the path.
    let token = app.token_with_scope("token-endpoint", VERIFY_SCOPE);
    let encoded = percent_encoding::utf8_percent_encode(&url, percent_encoding::NON_ALPHANUMERIC);
    let answer = Http::http1(&app)
        .call(
            http::Method::GET,
            &format!("/v1/clients/{encoded}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(answer.status, http::StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["application"]["clientId"], url.as_str());

    assert_eq!(docs.requests("/oauth/client.json"), 1, "cached: one fetch");
}

#[tokio::test]
async fn each_invalid_document_is_not_found() {
    let docs = DocServer::start().await;
    let app = app_for(&docs, "localhost", |_| {}).await;
    let with = |path: &str, change: &dyn Fn(&mut Value)| {
        let mut doc = public_doc(&docs.url(path));
        change(&mut doc);
        docs.document(path, &doc, None);
        docs.url(path)
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "another client_id",
            with("/a", &|d| d["client_id"] = json!("https://localhost/other")),
        ),
        (
            "client_id differs by a slash",
            with("/b", &|d| {
                d["client_id"] = json!(format!("{}/", d["client_id"].as_str().unwrap()))
            }),
        ),
        (
            "a client_secret",
            with("/c", &|d| {
                d["client_secret"] = json!("a-secret-never-logged")
            }),
        ),
        (
            "client_secret_expires_at",
            with("/d", &|d| d["client_secret_expires_at"] = json!(0)),
        ),
        (
            "a secret auth method",
            with("/e", &|d| {
                d["token_endpoint_auth_method"] = json!("client_secret_basic")
            }),
        ),
        (
            "private_key_jwt without keys",
            with("/f", &|d| {
                d["token_endpoint_auth_method"] = json!("private_key_jwt")
            }),
        ),
        (
            "private_key_jwt with a jwks_uri",
            with("/g", &|d| {
                d["token_endpoint_auth_method"] = json!("private_key_jwt");
                d["jwks_uri"] = json!("https://localhost/jwks");
            }),
        ),
        (
            "an http redirect URI",
            with("/h", &|d| {
                d["redirect_uris"] = json!(["http://client.example.com/cb"])
            }),
        ),
        (
            "a redirect URI with a fragment",
            with("/i", &|d| {
                d["redirect_uris"] = json!(["https://client.example.com/cb#f"])
            }),
        ),
        (
            "a native scheme without a dot",
            with("/j", &|d| {
                d["application_type"] = json!("native");
                d["redirect_uris"] = json!(["myapp:/cb"]);
            }),
        ),
        (
            "a private-use scheme for web",
            with("/k", &|d| {
                d["redirect_uris"] = json!(["com.example.app:/cb"])
            }),
        ),
        (
            "an unknown scope",
            with("/l", &|d| d["scope"] = json!("read:user everything")),
        ),
        (
            "an owner-only scope",
            with("/m", &|d| d["scope"] = json!("admin:all")),
        ),
    ];
    for (what, url) in &cases {
        assert_eq!(code(app.lookup(url).await), Code::NotFound, "{what}");
        assert_eq!(
            match_uri(&app, url, CALLBACK).await.unwrap_err().code(),
            Code::NotFound,
            "{what}"
        );
    }
    let replies = [
        (
            "not JSON",
            "/n",
            Reply::Json("<html>hello</html>".into(), None),
        ),
        ("a JSON array", "/o", Reply::Json("[]".into(), None)),
        ("404", "/p", Reply::Status(404)),
        ("410", "/q", Reply::Status(410)),
        (
            "a declared 6 KiB",
            "/r",
            Reply::Json(" ".repeat(6 * 1024), None),
        ),
        ("an endless body", "/s", Reply::Endless),
    ];
    for (what, path, reply) in replies {
        docs.reply(path, reply);
        let started = std::time::Instant::now();
        assert_eq!(
            code(app.lookup(&docs.url(path)).await),
            Code::NotFound,
            "{what}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{what}: no timeout"
        );
        assert_eq!(docs.requests(path), 1, "{what}");
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let docs = DocServer::start().await;
    let app = app_for(&docs, "localhost", |_| {}).await;
    let target = docs.url("/moved.json");
    docs.document("/moved.json", &public_doc(&target), None);
    docs.reply("/client.json", Reply::Redirect(target.clone()));
    let url = docs.url("/client.json");
    assert_eq!(code(app.lookup(&url).await), Code::NotFound);
    assert_eq!(docs.requests("/client.json"), 1);
    assert_eq!(
        docs.requests("/moved.json"),
        0,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn an_unreachable_document_is_unavailable() {
    let docs = DocServer::start().await;
    let app = app_for(&docs, "localhost", |c| {
        c.metadata_docs.metadata_document_timeout = Duration::from_millis(500);
    })
    .await;
    let cases = [
        ("/503", Reply::Status(503)),
        ("/500", Reply::Status(500)),
        ("/closed", Reply::Close),
        (
            "/slow",
            Reply::Slowly(Duration::from_secs(3), Box::new(Reply::Status(200))),
        ),
    ];
    for (path, reply) in cases {
        docs.reply(path, reply);
        let started = std::time::Instant::now();
        assert_eq!(
            code(app.lookup(&docs.url(path)).await),
            Code::Unavailable,
            "{path}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path}: bounded by the timeout"
        );
    }
    // A response head past the cap (8 KiB) is not read: no answer.
    let url = docs.url("/huge-head");
    docs.reply("/huge-head", Reply::HugeHead(public_doc(&url).to_string()));
    assert_eq!(code(app.lookup(&url).await), Code::Unavailable);
    assert_eq!(docs.requests("/huge-head"), 1);
    // Nothing listens on the port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = format!("https://localhost:{port}/client.json");
    assert_eq!(code(app.lookup(&nowhere).await), Code::Unavailable);
    // An outage is not remembered: the document is fetched once it is back.
    let url = docs.url("/503");
    docs.document("/503", &public_doc(&url), None);
    assert_eq!(code(app.lookup(&url).await), Code::Ok);
}

/// Each URL the SSRF defence refuses: NOT_FOUND, at once, and the server
/// accepted no connection at all. Listing the host lets the same fetch through.
#[tokio::test]
async fn ssrf_refusals_send_nothing() {
    let docs = DocServer::start().await;
    let port = docs.port;
    let served = |path: &str, url: &str| docs.document(path, &public_doc(url), None);
    let url = docs.url("/doc.json");
    served("/doc.json", &url);
    let unlisted = app_for(&docs, "", |_| {}).await;
    let listed = app_for(&docs, "localhost", |_| {}).await;
    let refused: Vec<(&str, &TestApp, String)> = vec![
        (
            "a name resolving to loopback, not listed",
            &unlisted,
            url.clone(),
        ),
        (
            "a loopback IPv4 literal",
            &listed,
            format!("https://127.0.0.1:{port}/doc.json"),
        ),
        (
            "a loopback IPv6 literal",
            &listed,
            format!("https://[::1]:{port}/doc.json"),
        ),
        (
            "an IPv4-mapped loopback",
            &listed,
            format!("https://[::ffff:127.0.0.1]:{port}/doc.json"),
        ),
        (
            "a private address",
            &listed,
            "https://10.1.2.3/doc.json".into(),
        ),
        (
            "a CGNAT address",
            &listed,
            "https://100.64.0.1/doc.json".into(),
        ),
        (
            "the cloud metadata address",
            &listed,
            "https://169.254.169.254/latest/meta-data".into(),
        ),
        (
            "an unspecified address",
            &listed,
            format!("https://0.0.0.0:{port}/doc.json"),
        ),
        ("http", &listed, url.replace("https:", "http:")),
        (
            "user info",
            &listed,
            format!("https://user@localhost:{port}/doc.json"),
        ),
        (
            "user info and password",
            &listed,
            format!("https://u:p@localhost:{port}/doc.json"),
        ),
        ("a fragment", &listed, format!("{url}#top")),
        ("an empty fragment", &listed, format!("{url}#")),
        ("no path", &listed, format!("https://localhost:{port}")),
        (
            "the root path",
            &listed,
            format!("https://localhost:{port}/"),
        ),
        (
            "a dot segment",
            &listed,
            format!("https://localhost:{port}/x/../doc.json"),
        ),
        (
            "an upper-case host",
            &listed,
            format!("https://LOCALHOST:{port}/doc.json"),
        ),
        (
            "a decimal IPv4 host",
            &listed,
            format!("https://2130706433:{port}/doc.json"),
        ),
    ];
    for (what, app, client_id) in &refused {
        let started = std::time::Instant::now();
        assert_eq!(code(app.lookup(client_id).await), Code::NotFound, "{what}");
        assert!(started.elapsed() < Duration::from_secs(1), "{what}");
    }
    assert_eq!(docs.connections(), 0, "no refused fetch reached the server");

    // The listed host, and a listed IP literal, are fetched.
    assert_eq!(code(listed.lookup(&url).await), Code::Ok);
    assert_eq!(docs.requests("/doc.json"), 1);
    let literal_app = app_for(&docs, "127.0.0.1", |_| {}).await;
    let literal = format!("https://127.0.0.1:{port}/lit.json");
    served("/lit.json", &literal);
    assert_eq!(code(literal_app.lookup(&literal).await), Code::Ok);
}

#[tokio::test]
async fn documents_are_cached_for_their_max_age_within_the_clamps() {
    let docs = DocServer::start().await;
    let app = app_for(&docs, "localhost", |c| {
        c.metadata_docs.metadata_document_min_ttl = Duration::from_secs(1);
        c.metadata_docs.metadata_document_max_ttl = Duration::from_secs(2);
    })
    .await;
    // max-age of a day, clamped to the 2 s max TTL.
    let day = docs.url("/day.json");
    docs.document(
        "/day.json",
        &public_doc(&day),
        Some("public, max-age=86400"),
    );
    // no-store: the 1 s min TTL.
    let never = docs.url("/never.json");
    docs.document("/never.json", &public_doc(&never), Some("no-store"));
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(code(app.lookup(&day).await), Code::Ok);
        assert_eq!(code(app.lookup(&never).await), Code::Ok);
    }
    if started.elapsed() < Duration::from_secs(1) {
        assert_eq!(docs.requests("/day.json"), 1, "answered from the cache");
        assert_eq!(
            docs.requests("/never.json"),
            1,
            "no-store still gets the min TTL"
        );
    }
    eventually(
        "the clamped copy to expire",
        Duration::from_secs(5),
        || async {
            assert_eq!(code(app.lookup(&day).await), Code::Ok);
            docs.requests("/day.json") == 2
        },
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the max TTL"
    );
    // A change reaches lookups once the copy expires.
    let mut changed = public_doc(&day);
    changed["redirect_uris"] = json!(["https://client.example.com/new"]);
    docs.document("/day.json", &changed, None);
    eventually("the changed document", Duration::from_secs(5), || async {
        !match_uri(&app, &day, CALLBACK).await.unwrap().matched
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_lookups_of_one_url_share_one_fetch() {
    let docs = DocServer::start().await;
    let app = Arc::new(app_for(&docs, "localhost", |_| {}).await);
    let url = docs.url("/busy.json");
    let doc = public_doc(&url);
    docs.reply(
        "/busy.json",
        Reply::Slowly(
            Duration::from_millis(300),
            Box::new(Reply::Json(doc.to_string(), None)),
        ),
    );
    let calls: Vec<_> = (0..64)
        .map(|i| {
            let (app, url) = (app.clone(), url.clone());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    code(app.lookup(&url).await)
                } else {
                    match match_uri(&app, &url, CALLBACK).await {
                        Ok(r) if r.matched => Code::Ok,
                        Ok(_) => Code::Unknown,
                        Err(s) => s.code(),
                    }
                }
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), Code::Ok);
    }
    assert_eq!(docs.requests("/busy.json"), 1, "64 lookups, one fetch");
}

#[tokio::test]
async fn a_failing_refresh_keeps_the_last_good_copy_until_the_max_ttl() {
    let docs = DocServer::start().await;
    let app = app_for(&docs, "localhost", |c| {
        c.metadata_docs.metadata_document_min_ttl = Duration::from_secs(1);
        c.metadata_docs.metadata_document_max_ttl = Duration::from_secs(4);
    })
    .await;
    let url = docs.url("/flaky.json");
    docs.document("/flaky.json", &public_doc(&url), Some("max-age=1"));
    assert_eq!(code(app.lookup(&url).await), Code::Ok);
    let fetched = std::time::Instant::now();
    docs.reply("/flaky.json", Reply::Status(503));
    // The copy is stale after 1 s; refreshes fail, the copy still answers.
    eventually("a failed refresh", Duration::from_secs(5), || async {
        assert_eq!(
            code(app.lookup(&url).await),
            Code::Ok,
            "the good copy answers"
        );
        docs.requests("/flaky.json") >= 2
    })
    .await;
    assert!(match_uri(&app, &url, CALLBACK).await.unwrap().matched);
    // Retried no more than once per min TTL meanwhile, then given up at
    // the max TTL: UNAVAILABLE.
    eventually("the max TTL", Duration::from_secs(8), || async {
        code(app.lookup(&url).await) == Code::Unavailable
    })
    .await;
    assert!(
        fetched.elapsed() >= Duration::from_millis(3500),
        "{:?}",
        fetched.elapsed()
    );
    assert!(
        docs.requests("/flaky.json") <= 6,
        "{}",
        docs.requests("/flaky.json")
    );
}

#[tokio::test]
async fn an_invalid_refresh_replaces_the_copy() {
    let docs = DocServer::start().await;
    let app = app_for(&docs, "localhost", |c| {
        c.metadata_docs.metadata_document_min_ttl = Duration::from_secs(1);
    })
    .await;
    let url = docs.url("/gone.json");
    docs.document("/gone.json", &public_doc(&url), Some("max-age=1"));
    assert_eq!(code(app.lookup(&url).await), Code::Ok);
    docs.reply("/gone.json", Reply::Status(404));
    eventually("the client to be gone", Duration::from_secs(5), || async {
        code(app.lookup(&url).await) == Code::NotFound
    })
    .await;
}

#[tokio::test]
async fn documents_off_https_client_ids_are_simply_unknown() {
    let docs = DocServer::start().await;
    let url = docs.url("/client.json");
    docs.document("/client.json", &public_doc(&url), None);
    let ca = docs.ca_file.clone();
    let app = TestApp::spawn_with(move |c| {
        c.metadata_docs.metadata_document_ca_file = Some(ca);
        c.metadata_docs.metadata_document_private_hosts = PrivateHosts::parse("localhost").unwrap();
    })
    .await;
    assert_eq!(code(app.lookup(&url).await), Code::NotFound);
    assert_eq!(
        match_uri(&app, &url, CALLBACK).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(docs.connections(), 0);
}

#[tokio::test]
async fn a_private_key_jwt_document_verifies_assertions() {
    let docs = DocServer::start().await;
    let app = app_for(&docs, "localhost", |_| {}).await;
    let url = docs.url("/keyed.json");
    let doc = json!({
        "client_id": url,
        "client_name": "Keyed Agent",
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [jwk("ec")]},
    });
    docs.document("/keyed.json", &doc, None);
    let assertion = sign(
        Algorithm::ES256,
        "ec",
        Some("ec-1"),
        &claims(&url, &rand_jti()),
    );
    let verified = verify_assertion(&app, &assertion, &url).await.unwrap();
    assert!(verified.valid);
    let client = verified.application.unwrap();
    assert_eq!(client.client_id, url);
    assert_eq!(client.r#type(), pb::ApplicationType::Web);
    assert!(
        !verify_assertion(&app, &assertion, "").await.unwrap().valid,
        "replayed"
    );
    let other_key = sign(Algorithm::RS256, "rsa", None, &claims(&url, &rand_jti()));
    assert!(!verify_assertion(&app, &other_key, "").await.unwrap().valid);

    // A public document's client has no keys to verify with.
    let public = docs.url("/public.json");
    docs.document("/public.json", &public_doc(&public), None);
    let by_public = sign(
        Algorithm::ES256,
        "ec",
        Some("ec-1"),
        &claims(&public, &rand_jti()),
    );
    assert!(!verify_assertion(&app, &by_public, "").await.unwrap().valid);
    assert_eq!(docs.requests("/keyed.json"), 1);
}
