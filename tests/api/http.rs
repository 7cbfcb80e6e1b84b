//! The HTTP/JSON door (contract section 7), through a real HTTP client on
//! the same port as gRPC: every route end to end, proto3 JSON both ways,
//! AIP-193 errors, CORS, HTTP/1.1 keep-alive and HTTP/2.

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use oauth_apps::{config::Origins, domain::Role};
use serde_json::{Value, json};

use crate::common::TestApp;

/// What a call answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// The AIP-193 error's gRPC status name.
    fn grpc_status(&self) -> &str {
        self.body["error"]["status"].as_str().unwrap_or("")
    }

    fn violated_fields(&self) -> Vec<String> {
        self.body["error"]["details"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
            .flat_map(|d| d["fieldViolations"].as_array().cloned().unwrap_or_default())
            .map(|v| v["field"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

/// An HTTP/JSON client of one test server.
pub struct Http {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    pub fn http1(app: &TestApp) -> Self {
        Self::with(app, Client::builder(TokioExecutor::new()).build_http())
    }

    pub fn http2(app: &TestApp) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        Self::with(app, client)
    }

    fn with(app: &TestApp, client: Client<HttpConnector, Full<Bytes>>) -> Self {
        Self::at(format!("http://{}", app.addr), client)
    }

    /// A client of the server at `base` (`http://host:port`).
    pub fn at(base: String, client: Client<HttpConnector, Full<Bytes>>) -> Self {
        Self { base, client }
    }

    pub fn http1_at(base: String) -> Self {
        Self::at(base, Client::builder(TokioExecutor::new()).build_http())
    }

    /// The response as it starts, its body still to come (a stream).
    pub async fn open(&self, req: Request<Full<Bytes>>) -> http::Response<hyper::body::Incoming> {
        self.client.request(req).await.expect("HTTP request")
    }

    pub async fn send(&self, req: Request<Full<Bytes>>) -> Answer {
        let resp = self.client.request(req).await.expect("HTTP request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Request<Full<Bytes>> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(b.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        req.body(body).unwrap()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send(self.request(method, path, token, body.as_ref()))
            .await
    }
}

const APPS: &str = "/v1/organizations/acme/applications";

pub fn billing() -> Value {
    json!({
        "name": "Billing",
        "type": "APPLICATION_TYPE_WEB",
        "redirectUris": ["https://billing.example.com/cb"],
        "scopes": ["read:user"],
    })
}

async fn app_with_owner() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.set_member("acme", "alice", Role::Owner).await;
    let token = app.token("alice");
    (app, token)
}

#[tokio::test]
async fn every_org_route_works_end_to_end() {
    let (app, alice) = app_with_owner().await;
    let http = Http::http1(&app);
    let t = Some(alice.as_str());

    let created = http.call(Method::POST, APPS, t, Some(billing())).await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    assert_eq!(created.headers[header::CONTENT_TYPE], "application/json");
    let a = &created.body["application"];
    let id = a["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("app_"));
    // proto3 JSON: lowerCamelCase, enums by name, RFC 3339 timestamps,
    // every field present.
    assert_eq!(a["organizationId"], "acme");
    assert_eq!(a["type"], "APPLICATION_TYPE_WEB");
    assert_eq!(a["redirectUris"], json!(["https://billing.example.com/cb"]));
    assert_eq!(a["active"], true);
    assert_eq!(a["description"], "");
    chrono::DateTime::parse_from_rfc3339(a["createTime"].as_str().unwrap()).unwrap();
    assert!(
        created.body["clientSecret"]
            .as_str()
            .unwrap()
            .starts_with("oas_")
    );

    let path = format!("{APPS}/{id}");
    let got = http.call(Method::GET, &path, t, None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["application"]["name"], "Billing");
    assert!(got.body["application"].get("clientSecret").is_none());

    let list = http
        .call(Method::GET, &format!("{APPS}?pageSize=1"), t, None)
        .await;
    assert_eq!(list.body["applications"][0]["id"], id.as_str());
    assert_eq!(list.body["nextPageToken"], "");

    let updated = http
        .call(
            Method::PATCH,
            &format!("{path}?updateMask=description,redirectUris"),
            t,
            Some(json!({"description": "Invoices", "redirectUris": ["https://b.example.com/cb"], "etag": "v1"})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.body);
    assert_eq!(updated.body["application"]["description"], "Invoices");
    assert_eq!(updated.body["application"]["etag"], "v2");

    let rotated = http
        .call(
            Method::POST,
            &format!("{path}:rotateSecret"),
            t,
            Some(json!({"previousSecretGrace": "3600s"})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert!(
        rotated.body["clientSecret"]
            .as_str()
            .unwrap()
            .starts_with("oas_")
    );
    let expires = rotated.body["previousSecretExpireTime"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    let grace = expires.signed_duration_since(chrono::Utc::now());
    assert!((3500..=3600).contains(&grace.num_seconds()), "{grace}");

    let deleted = http.call(Method::DELETE, &path, t, None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(deleted.body["application"]["deleteTime"].is_string());
    let hidden = http.call(Method::GET, APPS, t, None).await;
    assert_eq!(hidden.body["applications"], json!([]));
    let shown = http
        .call(Method::GET, &format!("{APPS}?showDeleted=true"), t, None)
        .await;
    assert_eq!(shown.body["applications"][0]["id"], id.as_str());
    let undeleted = http
        .call(Method::POST, &format!("{path}:undelete"), t, None)
        .await;
    assert_eq!(undeleted.status, StatusCode::OK);
    assert!(undeleted.body["application"]["deleteTime"].is_null());
}

#[tokio::test]
async fn the_service_routes_answer_a_token_endpoint() {
    let (app, alice) = app_with_owner().await;
    let http = Http::http1(&app);
    let created = http
        .call(Method::POST, APPS, Some(&alice), Some(billing()))
        .await;
    let client_id = created.body["application"]["clientId"].as_str().unwrap();
    let secret = created.body["clientSecret"].as_str().unwrap();
    let endpoint = app.token_with_scope("token-endpoint", "oauthapps:verify");
    let t = Some(endpoint.as_str());

    let valid = http
        .call(
            Method::POST,
            "/v1/clients:verifyCredentials",
            t,
            Some(json!({"clientId": client_id, "clientSecret": secret})),
        )
        .await;
    assert_eq!(valid.body["valid"], true, "{:?}", valid.body);
    assert_eq!(valid.body["application"]["clientId"], client_id);
    let refused = http
        .call(
            Method::POST,
            "/v1/clients:verifyCredentials",
            t,
            Some(json!({"client_id": client_id, "client_secret": "oas_wrong"})),
        )
        .await;
    // Emitted, not left out: a refusal reads "valid": false.
    assert_eq!(refused.body, json!({"valid": false}));

    let looked_up = http
        .call(Method::GET, &format!("/v1/clients/{client_id}"), t, None)
        .await;
    assert_eq!(looked_up.body["application"]["name"], "Billing");
    let unknown = http
        .call(Method::GET, "/v1/clients/nobody%2Fhere", t, None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let matched = http
        .call(
            Method::POST,
            "/v1/clients:matchRedirectUri",
            t,
            Some(json!({"clientId": client_id, "redirectUri": "https://billing.example.com/cb"})),
        )
        .await;
    assert_eq!(matched.body["matched"], true, "{:?}", matched.body);

    let assertion = http
        .call(
            Method::POST,
            "/v1/clients:verifyAssertion",
            t,
            Some(json!({"clientAssertionType": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "clientAssertion": "x.y.z", "clientId": client_id})),
        )
        .await;
    assert_ne!(assertion.body["valid"], true, "{:?}", assertion.body);

    // The org-scoped token is not a service token, and the other way round.
    let denied = http
        .call(
            Method::GET,
            &format!("/v1/clients/{client_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let denied = http.call(Method::GET, APPS, t, None).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_unknown_field_is_refused_by_name_and_nothing_is_created() {
    let (app, alice) = app_with_owner().await;
    let http = Http::http1(&app);
    let mut body = billing();
    body["redirectUri"] = json!("https://billing.example.com/cb");
    let refused = http
        .call(Method::POST, APPS, Some(&alice), Some(body))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.grpc_status(), "INVALID_ARGUMENT");
    assert_eq!(refused.violated_fields(), ["redirectUri"]);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("redirectUri")
    );

    let wrong_type = http
        .call(
            Method::POST,
            APPS,
            Some(&alice),
            Some(json!({"name": "x", "scopes": "read:user"})),
        )
        .await;
    assert_eq!(wrong_type.violated_fields(), ["scopes"]);
    let bad_enum = http
        .call(
            Method::POST,
            APPS,
            Some(&alice),
            Some(json!({"name": "x", "type": "BOAT"})),
        )
        .await;
    assert_eq!(bad_enum.violated_fields(), ["type"]);

    let mut malformed = http.request(Method::POST, APPS, Some(&alice), None);
    malformed
        .headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    *malformed.body_mut() = Full::new(Bytes::from_static(b"{\"name\": \"x\""));
    let malformed = http.send(malformed).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );

    let listed = http.call(Method::GET, APPS, Some(&alice), None).await;
    assert_eq!(listed.body["applications"], json!([]));
}

#[tokio::test]
async fn refusals_follow_aip_193_with_the_contracts_statuses() {
    let app = TestApp::spawn_with(|c| c.mutations_per_minute = 3).await;
    app.set_member("acme", "alice", Role::Owner).await;
    app.set_member("acme", "mallory", Role::Member).await;
    let alice = app.token("alice");
    let http = Http::http1(&app);

    let no_token = http.call(Method::GET, APPS, None, None).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.grpc_status(), "UNAUTHENTICATED");
    let member = app.token("mallory");
    let too_low = http
        .call(Method::POST, APPS, Some(&member), Some(billing()))
        .await;
    assert_eq!(too_low.status, StatusCode::FORBIDDEN);
    let outsider = http
        .call(
            Method::GET,
            "/v1/organizations/other/applications",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN);
    let missing = http
        .call(Method::GET, &format!("{APPS}/app_nope"), Some(&alice), None)
        .await;
    assert_eq!(
        (missing.status, missing.grpc_status()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );

    let first = http
        .call(Method::POST, APPS, Some(&alice), Some(billing()))
        .await;
    let id = first.body["application"]["id"].as_str().unwrap();
    let duplicate = http
        .call(Method::POST, APPS, Some(&alice), Some(billing()))
        .await;
    assert_eq!(
        (duplicate.status, duplicate.grpc_status()),
        (StatusCode::CONFLICT, "ALREADY_EXISTS")
    );
    let stale = http
        .call(
            Method::PATCH,
            &format!("{APPS}/{id}?updateMask=description"),
            Some(&alice),
            Some(json!({"description": "x", "etag": "v0"})),
        )
        .await;
    assert_eq!(
        (stale.status, stale.grpc_status()),
        (StatusCode::CONFLICT, "ABORTED")
    );
    let limited = http
        .call(Method::DELETE, &format!("{APPS}/{id}"), Some(&alice), None)
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        limited.body
    );
    let retry_after: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        limited.body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.RetryInfo"
    );
}

#[tokio::test]
async fn unknown_routes_methods_and_bodies_get_the_same_json_shape() {
    let (app, alice) = app_with_owner().await;
    let http = Http::http1(&app);
    let t = Some(alice.as_str());
    let nowhere = http.call(Method::GET, "/v2/whatever", t, None).await;
    assert_eq!(
        (nowhere.status, nowhere.body["error"]["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(404))
    );
    let wrong_method = http.call(Method::PUT, APPS, t, Some(billing())).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers[header::ALLOW], "POST, GET");
    assert_eq!(wrong_method.body["error"]["code"], 405);

    let with_body = http
        .call(
            Method::GET,
            &format!("{APPS}/app_x"),
            t,
            Some(json!({"id": "y"})),
        )
        .await;
    assert_eq!(with_body.status, StatusCode::BAD_REQUEST);
    let unknown_param = http
        .call(Method::GET, &format!("{APPS}?limit=5"), t, None)
        .await;
    assert_eq!(unknown_param.violated_fields(), ["limit"]);
    let bad_int = http
        .call(Method::GET, &format!("{APPS}?pageSize=many"), t, None)
        .await;
    assert_eq!(bad_int.violated_fields(), ["pageSize"]);

    let mut form = http.request(Method::POST, APPS, t, None);
    form.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    *form.body_mut() = Full::new(Bytes::from_static(b"name=x"));
    assert_eq!(
        http.send(form).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let huge = json!({"name": "x", "description": "d".repeat(70 * 1024)});
    let too_big = http.call(Method::POST, APPS, t, Some(huge)).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_big.body["error"]["code"], 413);

    let mut fat_headers = http.request(Method::GET, APPS, t, None);
    fat_headers
        .headers_mut()
        .insert("x-padding", "p".repeat(20 * 1024).parse().unwrap());
    let fat_headers = http.send(fat_headers).await;
    assert_eq!(
        fat_headers.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );

    // A body id that contradicts the path's is refused, not obeyed.
    let created = http.call(Method::POST, APPS, t, Some(billing())).await;
    let id = created.body["application"]["id"].as_str().unwrap();
    let contradicts = http
        .call(
            Method::PATCH,
            &format!("{APPS}/{id}?updateMask=description"),
            t,
            Some(json!({"id": "app_other", "description": "x"})),
        )
        .await;
    assert_eq!(contradicts.violated_fields(), ["id"]);
}

#[tokio::test]
async fn http2_and_keep_alive_connections_serve_http_and_grpc_alike() {
    let (app, alice) = app_with_owner().await;
    let h2 = Http::http2(&app);
    let created = h2
        .call(Method::POST, APPS, Some(&alice), Some(billing()))
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let id = created.body["application"]["id"].as_str().unwrap();
    // The same app through gRPC on the same port.
    let got = app.get("alice", "acme", id).await.unwrap();
    assert_eq!(got.name, "Billing");

    // HTTP/1.1 keeps its connection across calls.
    let h1 = Http::http1(&app);
    for _ in 0..3 {
        let got = h1
            .call(Method::GET, &format!("{APPS}/{id}"), Some(&alice), None)
            .await;
        assert_eq!(got.status, StatusCode::OK);
    }
    assert_eq!(
        app.state.connections.count(),
        2,
        "one HTTP/2 and one HTTP/1.1 connection"
    );
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let app = TestApp::spawn_with(|c| {
        c.cors_origins = Origins(vec!["https://console.example.com".into()]);
    })
    .await;
    let http = Http::http1(&app);
    let preflight = |origin: &'static str| {
        let mut req = http.request(Method::OPTIONS, APPS, None, None);
        let h = req.headers_mut();
        h.insert(header::ORIGIN, origin.parse().unwrap());
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            "POST".parse().unwrap(),
        );
        h.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type".parse().unwrap(),
        );
        req
    };
    let allowed = http.send(preflight("https://console.example.com")).await;
    assert!(allowed.status.is_success());
    assert_eq!(
        allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://console.example.com"
    );
    // A browser's SSE client resumes with Last-Event-ID.
    let allowed_headers = allowed.headers[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap();
    assert!(
        allowed_headers.contains("last-event-id"),
        "{allowed_headers}"
    );
    let other = http.send(preflight("https://evil.example.com")).await;
    assert!(
        other
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );

    // Off by default: no CORS headers for anyone.
    let plain = TestApp::spawn().await;
    let http = Http::http1(&plain);
    let mut req = http.request(Method::GET, APPS, None, None);
    req.headers_mut().insert(
        header::ORIGIN,
        "https://console.example.com".parse().unwrap(),
    );
    let answer = http.send(req).await;
    assert!(
        answer
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test]
async fn a_slow_http1_request_is_cut_off_at_the_handshake_deadline() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::spawn_with(|c| {
        c.handshake_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    // Headers trickling in never make a call: the connection is closed.
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /v1/organizations/acme/applications HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("closed well before 5 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // A whole request in time is answered, and its connection kept.
    let http = Http::http1(&app);
    for _ in 0..2 {
        let answer = http.call(Method::GET, APPS, None, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
    assert_eq!(app.state.connections.count(), 1);
}
