//! Clients that register themselves (contract section 8): registration
//! tokens over gRPC and HTTP, RFC 7591 registration and RFC 7592
//! management at /oauth2/register, open registration and its limits.

use http::{Method, StatusCode, header};
use oauth_apps::{domain::Role, proto::v1 as pb};
use serde_json::{Value, json};
use tonic::Code;

use crate::{
    common::{TestApp, VERIFY_SCOPE, violated_fields, with_auth},
    http::{Answer, Http},
};

const REGISTER: &str = "/oauth2/register";

async fn owner_app() -> TestApp {
    let app = TestApp::spawn_with(|c| c.redirect_allow_localhost = true).await;
    app.set_member("acme", "alice", Role::Owner).await;
    app
}

/// A registration token of acme, made by alice (OWNER), for `max` uses.
async fn token(app: &TestApp, max: i32) -> (String, pb::RegistrationToken) {
    let created = app
        .client()
        .await
        .create_registration_token(app.req(
            pb::CreateRegistrationTokenRequest {
                description: "CI agents".into(),
                max_registrations: max,
                ..Default::default()
            },
            "alice",
            "acme",
        ))
        .await
        .expect("create token")
        .into_inner();
    (created.registration_token, created.token.unwrap())
}

fn web_client(name: &str) -> Value {
    json!({
        "client_name": name,
        "redirect_uris": ["https://tool.example.com/cb"],
        "scope": "read:user",
    })
}

fn native_client() -> Value {
    json!({
        "client_name": "An MCP client",
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "redirect_uris": ["http://localhost:33418/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "read:user",
    })
}

async fn register(http: &Http, token: Option<&str>, body: Value) -> Answer {
    http.call(Method::POST, REGISTER, token, Some(body)).await
}

/// The path of a registration's `registration_client_uri`.
fn client_path(registered: &Answer) -> String {
    let uri = registered.body["registration_client_uri"].as_str().unwrap();
    let at = uri.find(REGISTER).expect("our route");
    uri[at..].to_owned()
}

fn rat(registered: &Answer) -> String {
    registered.body["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_invalid_token(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
    assert_eq!(answer.body["error"], "invalid_token");
    assert_eq!(
        answer.headers[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );
}

async fn tokens_used(app: &TestApp, id: &str) -> i64 {
    app.count(&format!(
        "SELECT registrations_used::bigint AS n FROM registration_tokens WHERE id = '{id}'"
    ))
    .await
}

#[tokio::test]
async fn registration_tokens_are_shown_once_listed_and_revoked_by_owners_and_admins() {
    let app = owner_app().await;
    app.set_member("acme", "bob", Role::Admin).await;
    app.set_member("acme", "carol", Role::Member).await;
    let (secret, made) = token(&app, 0).await;
    assert!(secret.starts_with("oarg_") && secret.len() > 40);
    assert_eq!((made.max_registrations, made.registrations_used), (1, 0));
    assert_eq!(made.created_by, "alice");
    let lifetime = made.expire_time.unwrap().seconds - made.create_time.unwrap().seconds;
    assert!((86_399..=86_401).contains(&lifetime), "{lifetime}");
    // Only a keyed hash is stored.
    let leaked = app
        .count(&format!(
            "SELECT count(*) AS n FROM registration_tokens t WHERE t::text LIKE '%{}%'",
            &secret[5..]
        ))
        .await;
    assert_eq!(leaked, 0);

    let mut client = app.client().await;
    let by_admin = client
        .create_registration_token(app.req(Default::default(), "bob", "acme"))
        .await
        .expect("an ADMIN makes one");
    assert_eq!(by_admin.into_inner().token.unwrap().created_by, "bob");
    for who in ["carol", "mallory"] {
        let refused = client
            .list_registration_tokens(app.req(Default::default(), who, "acme"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}");
    }
    let bad = client
        .create_registration_token(app.req(
            pb::CreateRegistrationTokenRequest {
                description: "x".repeat(501),
                expire_time: Some(pbjson_types::Timestamp {
                    seconds: chrono::Utc::now().timestamp() + 31 * 86_400,
                    nanos: 0,
                }),
                max_registrations: 1001,
            },
            "alice",
            "acme",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad),
        ["description", "expire_time", "max_registrations"]
    );

    let page = |size, page_token: &str| {
        app.req(
            pb::ListRegistrationTokensRequest {
                page_size: size,
                page_token: page_token.to_owned(),
            },
            "alice",
            "acme",
        )
    };
    let first = client.list_registration_tokens(page(1, "")).await.unwrap();
    let first = first.into_inner();
    assert_eq!(first.tokens[0].id, made.id);
    let second = client
        .list_registration_tokens(page(1, &first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.tokens[0].created_by, "bob");
    assert_eq!(second.next_page_token, "");
    // Nothing a listing shows is the secret.
    assert!(!format!("{first:?}{second:?}").contains(&secret));

    let revoked = client
        .revoke_registration_token(app.req(
            pb::RevokeRegistrationTokenRequest {
                id: made.id.clone(),
            },
            "alice",
            "acme",
        ))
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert!(revoked.revoke_time.is_some());
    let http = Http::http1(&app);
    assert_invalid_token(&register(&http, Some(&secret), web_client("Late")).await);
    let other_org = client
        .revoke_registration_token(app.req(
            pb::RevokeRegistrationTokenRequest { id: made.id },
            "alice",
            "globex",
        ))
        .await
        .unwrap_err();
    assert_eq!(other_org.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn registration_token_routes_work_over_http() {
    let app = owner_app().await;
    let http = Http::http1(&app);
    let alice = app.token("alice");
    let base = "/v1/organizations/acme/registrationTokens";
    let made = http
        .call(
            Method::POST,
            base,
            Some(&alice),
            Some(json!({"description": "agents", "maxRegistrations": 3})),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{:?}", made.body);
    let id = made.body["token"]["id"].as_str().unwrap().to_owned();
    assert_eq!(made.body["token"]["maxRegistrations"], 3);
    assert!(
        made.body["registrationToken"]
            .as_str()
            .unwrap()
            .starts_with("oarg_")
    );
    let listed = http
        .call(
            Method::GET,
            &format!("{base}?pageSize=10"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(listed.body["tokens"][0]["id"], id.as_str());
    let revoked = http
        .call(Method::DELETE, &format!("{base}/{id}"), Some(&alice), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert!(revoked.body["token"]["revokeTime"].is_string());
    let unknown = http
        .call(
            Method::DELETE,
            &format!("{base}/rgt_0000000000000000000000"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_registers_confidential_and_public_clients_into_its_organization() {
    let app = owner_app().await;
    let (secret, made) = token(&app, 2).await;
    let http = Http::http1(&app);

    let web = register(&http, Some(&secret), web_client("Deploy bot")).await;
    assert_eq!(web.status, StatusCode::CREATED, "{:?}", web.body);
    let b = &web.body;
    let client_id = b["client_id"].as_str().unwrap();
    assert!(b["client_secret"].as_str().unwrap().starts_with("oas_"));
    assert_eq!(b["client_secret_expires_at"], 0);
    assert!(b["client_id_issued_at"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(b["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(b["application_type"], "web");
    assert_eq!(
        b["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(b["response_types"], json!(["code"]));
    assert_eq!(b["scope"], "read:user");
    assert!(rat(&web).starts_with("oarat_"));
    assert_eq!(
        b["registration_client_uri"],
        format!("http://{}{REGISTER}/{client_id}", app.addr)
    );
    // The secret verifies at the token endpoint, and the app belongs to
    // the token's organization, marked as registered by software.
    let verified = app
        .verify(client_id, b["client_secret"].as_str().unwrap())
        .await;
    assert!(verified.valid);
    let stored = verified.application.unwrap();
    assert_eq!(stored.organization_id, "acme");
    assert!(stored.dynamically_registered);
    assert_eq!(stored.created_by, format!("registration:{}", made.id));

    let native = register(&http, Some(&secret), native_client()).await;
    assert_eq!(native.status, StatusCode::CREATED, "{:?}", native.body);
    assert!(native.body.get("client_secret").is_none());
    assert!(native.body.get("client_secret_expires_at").is_none());
    assert_eq!(native.body["token_endpoint_auth_method"], "none");
    assert_eq!(native.body["application_type"], "native");
    assert_eq!(tokens_used(&app, &made.id).await, 2);

    // Spent: the third is refused, and so is an expired token.
    assert_invalid_token(&register(&http, Some(&secret), native_client()).await);
    let (expired, made) = token(&app, 5).await;
    let mut conn = app.db_conn().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE registration_tokens SET expire_time = now() - interval '1 second' WHERE id = '{}'",
            made.id
        )),
        &mut conn,
    )
    .await
    .unwrap();
    assert_invalid_token(&register(&http, Some(&expired), native_client()).await);
    assert_invalid_token(&register(&http, Some("oarg_forged"), native_client()).await);
    assert_invalid_token(&register(&http, None, native_client()).await);
}

#[tokio::test]
async fn concurrent_registrations_never_pass_a_tokens_maximum() {
    let app = owner_app().await;
    let (secret, made) = token(&app, 5).await;
    let http = std::sync::Arc::new(Http::http1(&app));
    let attempts = (0..24).map(|_| {
        let (http, secret) = (http.clone(), secret.clone());
        tokio::spawn(async move { register(&http, Some(&secret), native_client()).await.status })
    });
    let mut statuses = Vec::new();
    for a in attempts {
        statuses.push(a.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((created, refused), (5, 19), "{statuses:?}");
    assert_eq!(tokens_used(&app, &made.id).await, 5);
    let apps = app
        .count("SELECT count(*) AS n FROM applications WHERE dynamically_registered")
        .await;
    assert_eq!(apps, 5);
}

#[tokio::test]
async fn every_rule_of_create_applies_and_errors_are_rfc_7591s() {
    let app = owner_app().await;
    let (secret, made) = token(&app, 1).await;
    let http = Http::http1(&app);
    let t = Some(secret.as_str());

    let redirect = register(
        &http,
        t,
        json!({"redirect_uris": ["http://tool.example.com/cb"], "scope": "read:user"}),
    )
    .await;
    assert_eq!(redirect.status, StatusCode::BAD_REQUEST);
    assert_eq!(redirect.body["error"], "invalid_redirect_uri");
    let why = redirect.body["error_description"].as_str().unwrap();
    assert!(why.starts_with("redirect_uris[0]: "), "{why}");

    let metadata = register(
        &http,
        t,
        json!({
            "client_name": "Pay\u{200B}Pal",
            "redirect_uris": ["https://tool.example.com/cb"],
            "grant_types": ["password"],
            "scope": "read:user admin:all",
            "jwks_uri": "http://169.254.169.254/latest/meta-data",
            "logo_uri": "https://127.0.0.1/logo.png",
        }),
    )
    .await;
    assert_eq!(metadata.status, StatusCode::BAD_REQUEST);
    assert_eq!(metadata.body["error"], "invalid_client_metadata");
    let why = metadata.body["error_description"].as_str().unwrap();
    for field in ["grant_types[0]", "scope", "jwks_uri"] {
        assert!(why.contains(&format!("{field}: ")), "{field} in {why}");
    }
    let named = register(&http, t, json!({"client_name": "Pay\u{200B}Pal", "redirect_uris": ["https://a.example.com/cb"], "scope": "read:user", "logo_uri": "https://127.0.0.1/l.png"})).await;
    let why = named.body["error_description"].as_str().unwrap();
    assert!(
        why.contains("client_name: ") && why.contains("logo_uri: "),
        "{why}"
    );

    let malformed = http
        .send({
            let mut req = http.request(Method::POST, REGISTER, t, None);
            req.headers_mut()
                .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
            *req.body_mut() =
                http_body_util::Full::new(bytes::Bytes::from_static(b"{\"redirect_uris\": 7}"));
            req
        })
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.body["error"], "invalid_client_metadata");
    assert!(
        malformed.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("redirect_uris: ")
    );
    let form = http
        .send({
            let mut req = http.request(Method::POST, REGISTER, t, None);
            req.headers_mut().insert(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".parse().unwrap(),
            );
            req
        })
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Nothing was created, and the token was not spent.
    assert_eq!(app.count("SELECT count(*) AS n FROM applications").await, 0);
    assert_eq!(tokens_used(&app, &made.id).await, 0);
    let wrong_method = http.call(Method::GET, REGISTER, t, None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_registration_access_token_is_bound_to_its_one_client() {
    let app = owner_app().await;
    let (secret, _) = token(&app, 3).await;
    let http = Http::http1(&app);
    let a = register(&http, Some(&secret), web_client("Same name")).await;
    let b = register(&http, Some(&secret), web_client("Same name")).await;
    assert_eq!(
        b.status,
        StatusCode::CREATED,
        "dynamic apps need not have unique names"
    );
    let (a_path, a_rat, b_rat) = (client_path(&a), rat(&a), rat(&b));

    let read = http.call(Method::GET, &a_path, Some(&a_rat), None).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.body["client_id"], a.body["client_id"]);
    assert!(read.body.get("client_secret").is_none());
    // Another client's token, the registration token, no token, and an
    // unknown client: the same 401, which says nothing of existence.
    for (path, token) in [
        (a_path.as_str(), Some(b_rat.as_str())),
        (a_path.as_str(), Some(secret.as_str())),
        (a_path.as_str(), None),
        ("/oauth2/register/no-such-client", Some(a_rat.as_str())),
    ] {
        let refused = http.call(Method::GET, path, token, None).await;
        assert_invalid_token(&refused);
        assert_eq!(refused.body, read_refusal());
    }

    let mut replacement = web_client("Renamed");
    replacement["client_id"] = a.body["client_id"].clone();
    replacement["redirect_uris"] = json!(["https://tool.example.com/new"]);
    let put = http
        .call(
            Method::PUT,
            &a_path,
            Some(&a_rat),
            Some(replacement.clone()),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    assert_eq!(put.body["client_name"], "Renamed");
    assert_eq!(
        put.body["redirect_uris"],
        json!(["https://tool.example.com/new"])
    );
    let new_rat = rat(&put);
    assert_ne!(new_rat, a_rat);
    assert_invalid_token(&http.call(Method::GET, &a_path, Some(&a_rat), None).await);
    assert_eq!(
        http.call(Method::GET, &a_path, Some(&new_rat), None)
            .await
            .status,
        StatusCode::OK
    );

    replacement["client_id"] = "someone-else".into();
    let mismatch = http
        .call(
            Method::PUT,
            &a_path,
            Some(&new_rat),
            Some(replacement.clone()),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    replacement["client_id"] = a.body["client_id"].clone();
    replacement["application_type"] = "native".into();
    let retype = http
        .call(Method::PUT, &a_path, Some(&new_rat), Some(replacement))
        .await;
    assert_eq!(retype.status, StatusCode::BAD_REQUEST);
    assert!(
        retype.body["error_description"]
            .as_str()
            .unwrap()
            .contains("application_type")
    );

    let deleted = http
        .call(Method::DELETE, &a_path, Some(&new_rat), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_invalid_token(&http.call(Method::GET, &a_path, Some(&new_rat), None).await);
    // Soft-deleted: authorization servers no longer find it, the row stays.
    let client_id = a.body["client_id"].as_str().unwrap();
    let lookup = app
        .client()
        .await
        .lookup_client(with_auth(
            pb::LookupClientRequest {
                client_id: client_id.to_owned(),
            },
            Some(&app.token_with_scope("as", VERIFY_SCOPE)),
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(lookup.code(), Code::NotFound);
    let kept = app
        .count(&format!(
            "SELECT count(*) AS n FROM applications WHERE client_id = '{client_id}' AND delete_time IS NOT NULL"
        ))
        .await;
    assert_eq!(kept, 1);
}

/// The body of every 401 of these routes.
fn read_refusal() -> Value {
    json!({
        "error": "invalid_token",
        "error_description": "the registration token or registration access token is missing, unknown, expired, revoked or used up",
    })
}

#[tokio::test]
async fn open_registration_is_off_unless_configured_then_limited() {
    let closed = owner_app().await;
    assert_invalid_token(&register(&Http::http1(&closed), None, native_client()).await);

    let app = TestApp::spawn_with(|c| {
        c.redirect_allow_localhost = true;
        c.open_registration_org = Some("public".into());
        c.open_registrations_per_hour = 2;
    })
    .await;
    let http = Http::http1(&app);
    for _ in 0..2 {
        let ok = register(&http, None, native_client()).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    }
    let limited = register(&http, None, native_client()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.body["error"], "too_many_requests");
    let retry: u64 = limited.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1800).contains(&retry), "{retry}");
    let orgs = app
        .count("SELECT count(*) AS n FROM applications WHERE organization_id = 'public' AND created_by = 'registration:open'")
        .await;
    assert_eq!(orgs, 2);

    let full = TestApp::spawn_with(|c| {
        c.redirect_allow_localhost = true;
        c.open_registration_org = Some("public".into());
        c.open_registrations_per_hour = 0;
        c.max_dynamic_apps = 1;
    })
    .await;
    let http = Http::http1(&full);
    assert_eq!(
        register(&http, None, native_client()).await.status,
        StatusCode::CREATED
    );
    let over = register(&http, None, native_client()).await;
    assert_eq!(
        over.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        over.body
    );
    let privileged = register(
        &http,
        None,
        json!({"application_type": "native", "redirect_uris": ["http://localhost:1/cb"], "scope": "admin:organization"}),
    )
    .await;
    assert_eq!(privileged.body["error"], "invalid_client_metadata");
}
