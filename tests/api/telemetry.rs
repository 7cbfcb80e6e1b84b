//! Traces, metrics and logs of the real binary, received by an in-process
//! OTLP collector.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use oauth_apps::{
    domain::Role,
    proto::{OAuthApplicationsClient, v1 as pb},
    store,
};
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::any_value::Value,
    trace::v1::Span,
};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use diesel_async::RunQueryDsl as _;

use crate::{
    common::{JWT_SECRET, TestDb, web_app, with_auth},
    process::ServerProcess,
};

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
    metric_names: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        req: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut names = self.metric_names.lock().unwrap();
        for rm in req.into_inner().resource_metrics {
            for sm in rm.scope_metrics {
                names.extend(sm.metrics.into_iter().map(|m| m.name));
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

async fn start_collector() -> (Collector, String) {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let c = collector.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(c.clone()))
            .add_service(MetricsServiceServer::new(c))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (collector, format!("http://{addr}"))
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn attr_str(span: &Span, key: &str) -> Option<String> {
    match attr(span, key)? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

async fn add_owner(db: &TestDb, org: &str, user: &str) {
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    store::memberships::set(&mut conn, org, user, Role::Owner)
        .await
        .unwrap();
}

fn token(sub: &str, scope: Option<&str>) -> String {
    oauth_apps::auth::TokenIssuer::hs256(JWT_SECRET.as_bytes(), None, None).mint(
        sub,
        scope,
        Duration::from_secs(600),
    )
}

/// A text log line names each field once (the caller is recorded once, the
/// organization once), with the latency to a tenth of a millisecond.
#[tokio::test]
async fn text_log_lines_name_each_field_once() {
    let db = TestDb::new().await;
    add_owner(&db, "org-x", "alice").await;
    let server = ServerProcess::start(
        &db.url,
        &[("OAUTH_APPS_LOG_FORMAT", "text"), ("RUST_LOG", "info")],
    );
    let mut client = OAuthApplicationsClient::connect(server.url())
        .await
        .unwrap();
    let request = pb::ListApplicationsRequest::default();
    let owner_token = token("alice", None);
    client
        .list_applications(with_auth(request, Some(&owner_token), Some("org-x")))
        .await
        .unwrap();
    crate::common::eventually("the rpc line", Duration::from_secs(10), || {
        let seen = server.logs().contains(" rpc ");
        async move { seen }
    })
    .await;
    let logs = server.logs();
    let line = logs.lines().find(|l| l.contains(" rpc ")).unwrap();
    assert_eq!(line.matches("caller=").count(), 1, "{line}");
    assert_eq!(line.matches("org=").count(), 1, "{line}");
    let ms = line.split("latency_ms=").nth(1).unwrap();
    let ms = ms.split_whitespace().next().unwrap();
    assert!(ms.split('.').nth(1).is_none_or(|d| d.len() <= 1), "{line}");
}

/// The start-up line says what runs: TLS, where the database is (never
/// the password), how tokens are checked, where telemetry goes, the cache
/// and the limits.
#[tokio::test]
async fn the_start_up_line_says_what_runs() {
    let db = TestDb::new().await;
    let mut url = url::Url::parse(&db.url).unwrap();
    url.set_password(Some("hunter2-not-for-logs")).unwrap();
    let server = ServerProcess::start(
        url.as_str(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
            ("OAUTH_APPS_CACHE_MIB", "32"),
        ],
    );
    let logs = server.logs();
    assert!(!logs.contains("hunter2"), "{logs}");
    let line: serde_json::Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["fields"]["message"] == "oauth-apps listening")
        .unwrap();
    let field = |name: &str| line["fields"][name].to_string();
    assert_eq!(field("tls"), "\"off\"");
    let host = url.host_str().unwrap();
    let place = format!("\"{host}:{}{}\"", url.port().unwrap_or(5432), url.path());
    assert_eq!(field("database"), place);
    assert_eq!(field("tokens"), "\"HS256 (OAUTH_APPS_JWT_SECRET)\"");
    assert_eq!(field("telemetry"), "\"OTLP to http://127.0.0.1:1\"");
    assert_eq!(line["fields"]["cache_mib"], 32);
    assert!(field("limits").contains("mutations"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_metrics_and_logs_reach_the_collector_without_secrets() {
    let db = TestDb::new().await;
    add_owner(&db, "org-t", "alice").await;
    let (collector, endpoint) = start_collector().await;
    // At the most verbose level there is, for us and every dependency.
    let mut server = ServerProcess::start(
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "oauth-apps-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
            ("RUST_LOG", "trace"),
            ("OAUTH_APPS_ASSERTION_AUDIENCE", "https://as.example"),
        ],
    );
    let mut client = OAuthApplicationsClient::connect(server.url())
        .await
        .unwrap();
    let owner_token = token("alice", None);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let mut req = with_auth(web_app("Traced"), Some(&owner_token), Some("org-t"));
    req.metadata_mut().insert(
        "traceparent",
        MetadataValue::try_from(format!("00-{trace_id}-{parent_id}-01")).unwrap(),
    );
    let created = client.create_application(req).await.unwrap().into_inner();
    let app = created.application.clone().unwrap();
    let verify_token = token("token-endpoint", Some("oauthapps:verify"));
    let verified = client
        .verify_client_credentials(with_auth(
            pb::VerifyClientCredentialsRequest {
                client_id: app.client_id.clone(),
                client_secret: created.client_secret.clone(),
            },
            Some(&verify_token),
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.valid);
    // A secret pasted into the wrong field is not logged either.
    let misplaced = client
        .verify_client_credentials(with_auth(
            pb::VerifyClientCredentialsRequest {
                client_id: created.client_secret.clone(),
                client_secret: created.client_secret.clone(),
            },
            Some(&verify_token),
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!misplaced.valid);
    // A key set holding a private key is refused without echoing it; an
    // assertion (a credential while it lives) is never logged either.
    let private_member = "c2VjcmV0LXByaXZhdGUta2V5LW1hdGVyaWFsLWZvci10ZXN0cw";
    let mut leaked_key: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/jwks/ec.jwk.json"
        ))
        .unwrap(),
    )
    .unwrap();
    leaked_key["d"] = private_member.into();
    let refused = client
        .create_application(with_auth(
            pb::CreateApplicationRequest {
                r#type: pb::ApplicationType::Service.into(),
                redirect_uris: vec![],
                token_endpoint_auth_method: pb::TokenEndpointAuthMethod::PrivateKeyJwt.into(),
                jwks: serde_json::json!({ "keys": [leaked_key] }).to_string(),
                ..web_app("Keyed")
            },
            Some(&owner_token),
            Some("org-t"),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let assertion = {
        let now = jsonwebtoken::get_current_timestamp();
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/jwks/ec.pem"
        ))
        .unwrap();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &serde_json::json!({"iss": app.client_id, "sub": app.client_id,
                "aud": "https://as.example", "exp": now + 60, "jti": "leak-test"}),
            &jsonwebtoken::EncodingKey::from_ec_pem(&pem).unwrap(),
        )
        .unwrap()
    };
    let assertion_answer = client
        .verify_client_assertion(with_auth(
            pb::VerifyClientAssertionRequest {
                client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                    .into(),
                client_assertion: assertion.clone(),
                client_id: String::new(),
            },
            Some(&verify_token),
            None,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !assertion_answer.valid,
        "a secret-based client never verifies by assertion"
    );
    let denied = client
        .get_application(with_auth(
            pb::GetApplicationRequest { id: app.id.clone() },
            Some("not-a-token"),
            Some("org-t"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    // A made-up path is named `unknown`, not after what the caller sent.
    let mut raw = tonic::client::Grpc::new(
        tonic::transport::Channel::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    raw.ready().await.unwrap();
    let made_up = raw
        .unary::<pb::GetApplicationRequest, pb::Application, _>(
            tonic::Request::new(pb::GetApplicationRequest::default()),
            http::uri::PathAndQuery::from_static("/made.up.Service/CallerChosenName"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(made_up.code(), tonic::Code::Unimplemented);
    // The HTTP/JSON door: a span named after the route template, never the
    // concrete path, and the same log line.
    let rest = crate::http::Http::http1_at(server.url());
    let over_http = rest
        .call(
            http::Method::POST,
            "/v1/organizations/org-t/applications",
            Some(&owner_token),
            Some(crate::http::billing()),
        )
        .await;
    let http_secret = over_http.body["clientSecret"].as_str().unwrap().to_owned();
    let http_app = over_http.body["application"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = rest
        .call(
            http::Method::GET,
            &format!("/v1/organizations/org-t/applications/{http_app}"),
            Some(&owner_token),
            None,
        )
        .await;
    assert_eq!(got.status, http::StatusCode::OK);
    // Clients that register themselves: the registration token, the
    // client's secret and its registration access tokens are secrets too.
    let dcr = registered_clients(&rest, &owner_token).await;

    // SIGTERM flushes the exporters before exit.
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");

    let spans = collector.spans.lock().unwrap().clone();
    let create = spans
        .iter()
        .find(|s| s.name == "oauthapps.v1.OAuthApplications/CreateApplication")
        .unwrap_or_else(|| {
            panic!(
                "no CreateApplication span in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        hex(&create.trace_id),
        trace_id,
        "continues the caller's trace"
    );
    assert_eq!(hex(&create.parent_span_id), parent_id);
    assert_eq!(create.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(attr_str(create, "org").as_deref(), Some("org-t"));
    assert_eq!(attr_str(create, "app_id").as_deref(), Some(app.id.as_str()));
    assert_eq!(attr_str(create, "caller").as_deref(), Some("alice"));
    assert_eq!(
        attr_str(create, "rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    let children: Vec<&str> = spans
        .iter()
        .filter(|s| s.trace_id == create.trace_id && s.parent_span_id == create.span_id)
        .map(|s| s.name.as_str())
        .collect();
    assert!(children.contains(&"argon2"), "{children:?}");
    assert!(
        children.iter().any(|n| n.starts_with("db.")),
        "{children:?}"
    );
    let verify = spans
        .iter()
        .find(|s| s.name == "oauthapps.v1.OAuthApplications/VerifyClientCredentials")
        .expect("verify span");
    assert_eq!(attr_str(verify, "app_id").as_deref(), Some(app.id.as_str()));
    let get = spans
        .iter()
        .find(|s| s.name == "oauthapps.v1.OAuthApplications/GetApplication")
        .expect("get span");
    assert_eq!(attr_str(get, "rpc.grpc.status_code").as_deref(), Some("16"));
    let unknown = spans
        .iter()
        .find(|s| s.name == "unknown")
        .expect("the made-up call's span");
    assert_eq!(attr_str(unknown, "rpc.method").as_deref(), Some("unknown"));
    assert_eq!(
        attr_str(unknown, "rpc.grpc.status_code").as_deref(),
        Some("12")
    );
    assert!(!format!("{spans:?}").contains("CallerChosenName"));
    let http_get = spans
        .iter()
        .find(|s| s.name == "GET /v1/organizations/{organization_id}/applications/{id}")
        .expect("the HTTP Get's span");
    assert_eq!(
        attr_str(http_get, "rpc.method").as_deref(),
        Some("GetApplication")
    );
    assert_eq!(
        attr_str(http_get, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attr_str(http_get, "app_id").as_deref(),
        Some(http_app.as_str())
    );
    assert!(spans.iter().all(|s| !s.name.contains(&http_app)));
    let register = spans
        .iter()
        .find(|s| s.name == "POST /oauth2/register")
        .expect("the registration's span");
    assert_eq!(
        attr_str(register, "http.response.status_code").as_deref(),
        Some("201")
    );

    let names = collector.metric_names.lock().unwrap().clone();
    for metric in [
        "rpc.server.duration",
        "rpc.server.calls",
        "db.client.connection.wait_time",
        "argon2.duration",
        "argon2.queue.size",
        "db.client.connection.count",
    ] {
        assert!(
            names.iter().any(|n| n == metric),
            "metric {metric} missing from {names:?}"
        );
    }

    // One log line per RPC, with method, status, latency and caller.
    let logs = server.logs();
    let rpc_lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "rpc")
        .collect();
    assert_eq!(rpc_lines.len(), 12, "{logs}");
    let methods: Vec<_> = rpc_lines[9..]
        .iter()
        .map(|l| l["fields"]["method"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        methods,
        [
            "CreateRegistrationToken",
            "RegisterClient",
            "UpdateClientRegistration"
        ]
    );
    assert_eq!(rpc_lines[7]["fields"]["method"], "CreateApplication");
    assert_eq!(rpc_lines[8]["fields"]["method"], "GetApplication");
    assert_eq!(
        rpc_lines[8]["span"]["http.route"],
        "/v1/organizations/{organization_id}/applications/{id}"
    );
    assert_eq!(rpc_lines[6]["fields"]["method"], "unknown");
    assert!(!logs.contains("CallerChosenName"));
    assert_eq!(rpc_lines[0]["fields"]["method"], "CreateApplication");
    assert_eq!(rpc_lines[0]["fields"]["status"], "OK");
    assert!(rpc_lines[0]["fields"]["latency_ms"].as_f64().is_some());
    assert_eq!(rpc_lines[0]["span"]["caller"], "alice");
    assert_eq!(rpc_lines[5]["fields"]["status"], "UNAUTHENTICATED");
    // The latency to a tenth of a millisecond.
    for line in &rpc_lines {
        let ms = line["fields"]["latency_ms"].as_f64().unwrap();
        assert!(((ms * 10.0).round() - ms * 10.0).abs() < 1e-6, "{ms}");
    }
    // A refused token is logged at INFO with its reason.
    let refused: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "bearer token refused")
        .collect();
    assert_eq!(refused.len(), 1, "{logs}");
    assert_eq!(refused[0]["level"], "INFO");
    assert!(
        refused[0]["fields"]["reason"].as_str().is_some(),
        "{:?}",
        refused[0]
    );

    // Nothing secret anywhere, in any encoding: not in logs (at trace
    // level), not in spans. The stored hash and the page-token key are read
    // back from the database to be looked for.
    let mut conn = diesel_async::AsyncPgConnection::establish(&db.url)
        .await
        .unwrap();
    let stored_hash: String = diesel::sql_query("SELECT secret_hash AS v FROM client_secrets")
        .get_result::<Text>(&mut conn)
        .await
        .unwrap()
        .v;
    let page_key: String = diesel::sql_query(
        "SELECT convert_from(value, 'UTF8') AS v FROM service_settings \
         WHERE name = 'page_token_hmac_key'",
    )
    .get_result::<Text>(&mut conn)
    .await
    .unwrap()
    .v;
    let registration_key: String = diesel::sql_query(
        "SELECT convert_from(value, 'UTF8') AS v FROM service_settings \
         WHERE name = 'registration_token_hmac_key'",
    )
    .get_result::<Text>(&mut conn)
    .await
    .unwrap()
    .v;
    let hash_body = stored_hash.rsplit('$').next().unwrap().to_owned();
    let exported = format!("{spans:?}");
    let signature = owner_token.rsplit('.').next().unwrap().to_owned();
    for secret in [
        created.client_secret.as_str(),
        &created.client_secret[4..],
        http_secret.as_str(),
        owner_token.as_str(),
        verify_token.as_str(),
        signature.as_str(),
        JWT_SECRET,
        "$argon2id$",
        stored_hash.as_str(),
        hash_body.as_str(),
        page_key.as_str(),
        private_member,
        assertion.as_str(),
        assertion.rsplit('.').next().unwrap(),
        registration_key.as_str(),
    ]
    .into_iter()
    .chain(dcr.iter().map(String::as_str))
    {
        assert!(
            !leaks(&logs, secret),
            "{secret:?} in logs, in some encoding:\n{logs}"
        );
        assert!(!leaks(&exported, secret), "{secret:?} in spans");
    }
}

/// A registration token made over HTTP, a client registered with it
/// (RFC 7591) and updated (RFC 7592): the secrets each step showed.
async fn registered_clients(rest: &crate::http::Http, owner_token: &str) -> Vec<String> {
    use serde_json::json;
    let minted = rest
        .call(
            http::Method::POST,
            "/v1/organizations/org-t/registrationTokens",
            Some(owner_token),
            Some(json!({"maxRegistrations": 1})),
        )
        .await;
    let token = minted.body["registrationToken"].as_str().unwrap().to_owned();
    let client = json!({
        "client_name": "Self-made",
        "redirect_uris": ["https://self.example.com/cb"],
        "scope": "read:user",
    });
    let registered = rest
        .call(http::Method::POST, "/oauth2/register", Some(&token), Some(client.clone()))
        .await;
    assert_eq!(registered.status, http::StatusCode::CREATED);
    let field = |a: &crate::http::Answer, f: &str| a.body[f].as_str().unwrap().to_owned();
    let first_access = field(&registered, "registration_access_token");
    let uri = field(&registered, "registration_client_uri");
    let path = &uri[uri.find("/oauth2/").unwrap()..];
    let replaced = rest
        .call(http::Method::PUT, path, Some(&first_access), Some(client))
        .await;
    assert_eq!(replaced.status, http::StatusCode::OK);
    vec![
        token.clone(),
        token[5..].to_owned(),
        field(&registered, "client_secret"),
        first_access,
        field(&replaced, "registration_access_token"),
    ]
}

#[derive(diesel::QueryableByName)]
struct Text {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// Whether `needle` appears in `text` as written, or in one of the encodings
/// a `Debug` print gives bytes: a list of decimal bytes (`[36, 97, ...]`),
/// hex, or base64.
fn leaks(text: &str, needle: &str) -> bool {
    decoded_views(text)
        .iter()
        .any(|view| view.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

fn decoded_views(text: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let mut views = vec![text.as_bytes().to_vec()];
    // Decimal byte lists, as `Debug` prints `&[u8]` and `Vec<u8>`.
    let mut bytes = Vec::new();
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            ',' | ' ' | '[' | ']' if !number.is_empty() => {
                if let Ok(b) = number.parse::<u8>() {
                    bytes.push(b);
                }
                number.clear();
            }
            ',' | ' ' | '[' | ']' => {}
            _ => {
                number.clear();
                if bytes.len() >= 4 {
                    views.push(std::mem::take(&mut bytes));
                }
                bytes.clear();
            }
        }
    }
    views.push(bytes);
    // Runs of hex or base64 characters, decoded.
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    for run in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/-_".contains(c))) {
        if run.len() < 8 {
            continue;
        }
        if run.len() % 2 == 0 && run.bytes().all(|b| b.is_ascii_hexdigit()) {
            let decoded: Option<Vec<u8>> = (0..run.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&run[i..i + 2], 16).ok())
                .collect();
            views.extend(decoded);
        }
        for engine in &engines {
            // Every alignment: a secret may start anywhere in a longer run.
            for skip in 0..4.min(run.len()) {
                if let Ok(decoded) = engine.decode(run[skip..].trim_end_matches('=')) {
                    views.push(decoded);
                }
            }
        }
    }
    views
}

#[test]
fn the_leak_detector_sees_through_encodings() {
    let secret = "$argon2id$v=19$m=19456";
    let listed = format!("{:?}", secret.as_bytes());
    assert!(leaks(&format!("params: {listed} done"), secret));
    let hexed: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(leaks(&format!("x={hexed};"), secret));
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    assert!(leaks(&format!("\"{b64}\""), secret));
    assert!(!leaks("[1, 2, 3] deadbeef", secret));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_never_slows_or_breaks_a_call() {
    let db = TestDb::new().await;
    add_owner(&db, "org-t", "alice").await;
    // A port with nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut server = ServerProcess::start(
        &db.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{dead}")),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "50"),
        ],
    );
    let mut client = OAuthApplicationsClient::connect(server.url())
        .await
        .unwrap();
    let t = token("alice", None);
    for i in 0..20 {
        let started = Instant::now();
        client
            .list_applications(with_auth(
                pb::ListApplicationsRequest::default(),
                Some(&t),
                Some("org-t"),
            ))
            .await
            .unwrap_or_else(|e| panic!("call {i} failed: {e:?}"));
        // Export runs in the background: a call never waits on it (the
        // exporter's own timeout is 10 s).
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "call {i} took {:?}",
            started.elapsed()
        );
    }
    // Said once per signal at WARN, with the endpoint, not on every batch.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.terminate().success());
    let logs = server.logs();
    let warned = |signal: &str| {
        logs.lines()
            .filter(|l| l.contains("WARN"))
            .filter(|l| l.contains(&format!("OTLP export of {signal} to http://{dead} failed")))
            .count()
    };
    assert_eq!(warned("traces"), 1, "{logs}");
    assert_eq!(warned("metrics"), 1, "{logs}");
    assert!(!logs.contains("still fails"), "{logs}");
}

/// An endpoint this build cannot use is refused at start, in words, with
/// exit code 78: no scheme, or OTLP over HTTP.
#[test]
fn an_unusable_otlp_endpoint_is_refused_in_words() {
    for (env, said) in [
        (
            [
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", ""),
            ],
            "needs a scheme: http://HOST:4317",
        ),
        (
            [
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ],
            "this build exports OTLP over gRPC only",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-apps"))
            .arg("serve")
            .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
            .env("OAUTH_APPS_JWT_SECRET", crate::common::JWT_SECRET)
            .env("OAUTH_APPS_LISTEN", "127.0.0.1:0")
            .envs(env)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{err}");
        assert!(err.contains(said), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_calls_then_exits_zero() {
    let db = TestDb::new().await;
    add_owner(&db, "org-t", "alice").await;
    // One hash at a time, so creates queue behind each other.
    let mut server = ServerProcess::start(&db.url, &[("OAUTH_APPS_HASH_CONCURRENCY", "1")]);
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let t = token("alice", None);
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..10 {
        let mut c = OAuthApplicationsClient::new(channel.clone());
        let req = with_auth(web_app(&format!("inflight {i}")), Some(&t), Some("org-t"));
        calls.spawn(async move {
            let result = c.create_application(req).await;
            (result, std::time::Instant::now())
        });
    }
    // The server is at work once the first create is done; with one hash at
    // a time, the other nine are then in flight.
    let first = calls.join_next().await.unwrap().unwrap();
    assert!(first.0.is_ok(), "{:?}", first.0);
    let signalled = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server)
    });
    let mut after_signal = 0;
    while let Some(call) = calls.join_next().await {
        let (result, finished) = call.unwrap();
        assert!(result.is_ok(), "an in-flight call was cut off: {result:?}");
        after_signal += usize::from(finished > signalled);
    }
    assert!(after_signal > 0, "no call was still in flight at SIGTERM");
    let (status, server) = status.await.unwrap();
    assert!(status.success(), "exit {status:?}\n{}", server.logs());
}
