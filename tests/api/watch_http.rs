//! WatchApplications over HTTP as Server-Sent Events (contract section 9),
//! read by a real HTTP client from a real server: the snapshot, a change
//! made through gRPC on another replica, a resume with `Last-Event-ID` that
//! misses nothing and repeats nothing, refusals before the stream as
//! AIP-193 errors, and the errors that end a running stream as a last
//! `event: error`.

use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use oauth_apps::domain::Role;
use serde_json::Value;

use crate::{common::TestApp, http::Http, watch::setup};

const ORG: &str = "acme";
const ORG_WATCH: &str = "/v1/organizations/acme/applications:watch";
const ALL_WATCH: &str = "/v1/applications:watch";

/// One event of the stream.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    /// `event:`; `None` for an ordinary event.
    name: Option<String>,
    data: Value,
}

impl Event {
    fn kind(&self) -> &str {
        self.data["type"].as_str().unwrap_or("")
    }

    fn app_id(&self) -> &str {
        self.data["application"]["id"].as_str().unwrap_or("")
    }
}

/// A response of `text/event-stream`, read event by event as it comes.
struct Sse {
    body: Incoming,
    text: String,
}

impl Sse {
    /// Opens the stream; panics unless it is a 200 of events.
    async fn open(http: &Http, path: &str, token: &str, last_event_id: Option<&str>) -> Self {
        let response = start(http, path, Some(token), last_event_id).await;
        let status = response.status();
        let headers = response.headers().clone();
        if status != StatusCode::OK {
            let body = response.into_body().collect().await.unwrap().to_bytes();
            panic!("{status}: {}", String::from_utf8_lossy(&body));
        }
        assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers["x-accel-buffering"], "no");
        Self {
            body: response.into_body(),
            text: String::new(),
        }
    }

    /// The next event within `within`, heartbeats included; `None` when
    /// none came in time. Panics when the stream ends.
    async fn next_within(&mut self, within: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(at) = self.text.find("\n\n") {
                let block: String = self.text.drain(..at + 2).collect();
                return Some(parse(&block));
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame()).await;
            match frame {
                Err(_) => return None,
                Ok(None) => panic!("the stream ended; unread: {:?}", self.text),
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.expect("a frame").into_data() {
                        self.text.push_str(std::str::from_utf8(&data).unwrap());
                    }
                }
            }
        }
    }

    /// The next event that is not a heartbeat, within 5 s.
    async fn next_change(&mut self) -> Event {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_within(left).await.expect("a change within 5 s");
            if event.kind() != "CHANGE_TYPE_HEARTBEAT" {
                return event;
            }
        }
    }

    /// No event but heartbeats within `quiet`.
    async fn assert_quiet(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                None => return,
                Some(e) if e.kind() == "CHANGE_TYPE_HEARTBEAT" => continue,
                Some(e) => panic!("unexpected event {e:?}"),
            }
        }
    }

    /// The body ends within `within` (after the events still unread).
    async fn assert_ends(mut self, within: Duration) {
        let ended = tokio::time::timeout(within, async {
            while let Some(frame) = self.body.frame().await {
                frame.expect("a frame");
            }
        })
        .await;
        assert!(ended.is_ok(), "the stream did not end");
    }
}

fn parse(block: &str) -> Event {
    let (mut id, mut name, mut data) = (None, None, None);
    for line in block.lines().filter(|l| !l.is_empty()) {
        match line.split_once(": ") {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("event", v)) => name = Some(v.to_owned()),
            Some(("data", v)) => {
                assert!(data.is_none(), "one data line an event: {block:?}");
                data = Some(serde_json::from_str(v).expect("JSON data"));
            }
            _ => panic!("unexpected line {line:?} in {block:?}"),
        }
    }
    Event {
        id,
        name,
        data: data.expect("a data line"),
    }
}

/// The response as it starts.
async fn start(
    http: &Http,
    path: &str,
    token: Option<&str>,
    last_event_id: Option<&str>,
) -> http::Response<Incoming> {
    let mut req = http.request(Method::GET, path, token, None);
    if let Some(id) = last_event_id {
        let value = HeaderValue::from_str(id).unwrap();
        req.headers_mut().insert("last-event-id", value);
    }
    http.open(req).await
}

/// A refusal before the stream: its HTTP status and AIP-193 body.
async fn refused(
    http: &Http,
    path: &str,
    token: Option<&str>,
    last_event_id: Option<&str>,
) -> (StatusCode, Value) {
    let response = start(http, path, token, last_event_id).await;
    let status = response.status();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body).expect("an AIP-193 body"),
    )
}

#[tokio::test]
async fn a_snapshot_then_a_change_through_another_replica() {
    let a = setup().await;
    let one = a.create_app("alice", ORG, "one").await.application.unwrap();
    let b = a.replica().await;
    let path = format!("{ORG_WATCH}?initialSnapshot=true");
    let mut events = Sse::open(&Http::http1(&a), &path, &a.token("alice"), None).await;
    let snapshot = events.next_change().await;
    assert_eq!(snapshot.kind(), "CHANGE_TYPE_SNAPSHOT");
    assert_eq!(snapshot.app_id(), one.id);
    assert_eq!(snapshot.id, None, "a SNAPSHOT event has no resume token");
    let end = events.next_change().await;
    assert_eq!(end.kind(), "CHANGE_TYPE_SNAPSHOT_END");
    assert!(end.data.get("application").is_none());
    assert_eq!(end.id.as_deref(), end.data["resumeToken"].as_str());

    // Through gRPC, on the other replica.
    let two = b.create_app("alice", ORG, "two").await.application.unwrap();
    let created = events.next_change().await;
    assert_eq!(
        (created.kind(), created.app_id()),
        ("CHANGE_TYPE_CREATED", two.id.as_str())
    );
    assert_eq!(created.name, None);
    assert!(created.data["commitTime"].is_string());
    assert!(created.data["application"]["clientId"].is_string());
    assert_eq!(created.id.as_deref(), created.data["resumeToken"].as_str());
}

#[tokio::test]
async fn a_resume_with_last_event_id_misses_nothing_and_repeats_nothing() {
    let a = setup().await;
    let b = a.replica().await;
    let token = a.token("alice");
    // Over HTTP/2 this time; the resume on the other replica.
    let mut events = Sse::open(&Http::http2(&a), ORG_WATCH, &token, None).await;
    let one = a.create_app("alice", ORG, "one").await.application.unwrap();
    let first = events.next_change().await;
    assert_eq!(first.app_id(), one.id);
    drop(events);

    let two = a.create_app("alice", ORG, "two").await.application.unwrap();
    let three = a
        .create_app("alice", ORG, "three")
        .await
        .application
        .unwrap();
    let last = first.id.as_deref();
    let mut resumed = Sse::open(&Http::http1(&b), ORG_WATCH, &token, last).await;
    assert_eq!(resumed.next_change().await.app_id(), two.id);
    assert_eq!(resumed.next_change().await.app_id(), three.id);
    resumed.assert_quiet(Duration::from_millis(700)).await;
    // A reconnecting EventSource sends its first URL again with the last
    // id it got: the header is the later position and wins over the
    // query's token (and over initialSnapshot).
    let path = format!("{ORG_WATCH}?resumeToken={}", last.unwrap());
    let mut again = Sse::open(&Http::http1(&a), &path, &token, last).await;
    assert_eq!(again.next_change().await.app_id(), two.id);
    let after_two = again.next_change().await;
    assert_eq!(after_two.app_id(), three.id);
    let mut again = Sse::open(&Http::http1(&a), &path, &token, after_two.id.as_deref()).await;
    again.assert_quiet(Duration::from_millis(700)).await;
    let path = format!("{ORG_WATCH}?initialSnapshot=true");
    let mut again = Sse::open(&Http::http1(&a), &path, &token, last).await;
    assert_eq!(again.next_change().await.app_id(), two.id);
}

#[tokio::test]
async fn refusals_before_the_stream_are_aip_193_errors() {
    let app = setup().await;
    let http = Http::http1(&app);
    let alice = app.token("alice");
    let forged = "eyJmb3JnZWQiOnRydWV9.AAAA";
    let (status, body) = refused(&http, ORG_WATCH, Some(&alice), Some(forged)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    let (status, _) = refused(&http, ORG_WATCH, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let outsider = app.token("mallory");
    let (status, _) = refused(&http, ORG_WATCH, Some(&outsider), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_organization_s_stream_needs_the_watch_scope() {
    let app = setup().await;
    app.set_member("globex", "alice", Role::Owner).await;
    let http = Http::http1(&app);
    let (status, body) = refused(&http, ALL_WATCH, Some(&app.token("alice")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["status"], "PERMISSION_DENIED");

    let service = app.token_with_scope("as", "oauthapps:watch");
    let mut all = Sse::open(&http, ALL_WATCH, &service, None).await;
    let one = app
        .create_app("alice", ORG, "one")
        .await
        .application
        .unwrap();
    let two = app.create_app("alice", "globex", "two").await.application;
    assert_eq!(all.next_change().await.app_id(), one.id);
    assert_eq!(all.next_change().await.app_id(), two.unwrap().id);
}

#[tokio::test]
async fn a_removed_member_gets_a_last_error_event_within_five_seconds() {
    let app = setup().await;
    app.set_member(ORG, "bob", Role::Member).await;
    let mut events = Sse::open(&Http::http1(&app), ORG_WATCH, &app.token("bob"), None).await;
    app.remove_member(ORG, "bob").await;
    let error = events
        .next_within(Duration::from_secs(5))
        .await
        .expect("an error event within 5 s");
    assert_eq!(error.name.as_deref(), Some("error"), "{error:?}");
    assert_eq!(error.data["error"]["status"], "PERMISSION_DENIED");
    assert_eq!(error.data["error"]["code"], 403);
    events.assert_ends(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_shutdown_ends_event_streams_with_unavailable() {
    let mut app = setup().await;
    let mut events = Sse::open(&Http::http1(&app), ORG_WATCH, &app.token("alice"), None).await;
    let shutdown = tokio::time::timeout(Duration::from_secs(10), app.shutdown()).await;
    assert!(shutdown.is_ok(), "the shutdown waited for the stream");
    let error = loop {
        let event = events
            .next_within(Duration::from_secs(5))
            .await
            .expect("an error event");
        if event.name.is_some() {
            break event;
        }
    };
    assert_eq!(error.name.as_deref(), Some("error"));
    assert_eq!(error.data["error"]["status"], "UNAVAILABLE");
    events.assert_ends(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_stream_outlives_the_request_timeout_with_heartbeats() {
    let app = TestApp::spawn_with(|c| {
        c.request_timeout = Duration::from_millis(500);
        c.watch_heartbeat = Duration::from_millis(200);
    })
    .await;
    app.set_member(ORG, "alice", Role::Owner).await;
    let mut events = Sse::open(&Http::http1(&app), ORG_WATCH, &app.token("alice"), None).await;
    let beat = events
        .next_within(Duration::from_secs(2))
        .await
        .expect("a heartbeat");
    assert_eq!(beat.kind(), "CHANGE_TYPE_HEARTBEAT");
    assert!(beat.id.is_some());
    events.assert_quiet(Duration::from_millis(1200)).await;
    let created = app.create_app("alice", ORG, "late").await.application;
    assert_eq!(events.next_change().await.app_id(), created.unwrap().id);
}

#[tokio::test]
async fn a_token_past_the_retention_is_400_failed_precondition() {
    let app = TestApp::spawn_with(|c| c.watch_retention = Duration::from_secs(1)).await;
    app.set_member(ORG, "alice", Role::Owner).await;
    let http = Http::http1(&app);
    let alice = app.token("alice");
    let path = format!("{ORG_WATCH}?initialSnapshot=true");
    let mut events = Sse::open(&http, &path, &alice, None).await;
    let end = events.next_change().await;
    assert_eq!(end.kind(), "CHANGE_TYPE_SNAPSHOT_END");
    drop(events);
    // The retention is counted in whole seconds of issue time.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = refused(&http, ORG_WATCH, Some(&alice), end.id.as_deref()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["status"], "FAILED_PRECONDITION");
}
