//! WatchApplications over HTTP (contract section 9) as Server-Sent Events.
//!
//! The request message comes from the query (`resumeToken`,
//! `initialSnapshot`) and the `Last-Event-ID` header, and goes to the same
//! gRPC handler, and so the same `ops::watch`, as over gRPC, with the same
//! permit. A refusal before the stream starts is an ordinary AIP-193 error
//! with its HTTP status. Once it runs, each event is
//! `id: <resume_token>` and `data: <the response in proto3 JSON>` (one
//! line), written as it comes: nothing is held back to fill a buffer. An
//! error that ends a running stream (RESOURCE_EXHAUSTED for a watcher too
//! slow, PERMISSION_DENIED for a member removed, UNAVAILABLE at shutdown)
//! is a last `event: error` whose data is the AIP-193 body, then the
//! response ends.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use http::{HeaderValue, StatusCode, header};
use http_body::Frame;
use http_body_util::StreamBody;
use tonic::{Code, Status, body::Body};

use super::{
    calls::Call,
    errors, json,
    reply::{self, Reply},
};
use crate::{
    api::{
        Api,
        proto::{OAuthApplications as _, v1 as pb},
    },
    error::Error,
};

/// The header an EventSource resumes with: the last event's `id`.
pub const LAST_EVENT_ID: &str = "last-event-id";

const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

/// Starts the watch: the stream of events, or the refusal.
pub async fn watch(api: &Api, mut call: Call<'_>, last_event_id: Option<HeaderValue>) -> Reply {
    let message = match request(&call, last_event_id.as_ref()) {
        Ok(message) => message,
        Err(e) => return errors::from_status(&e.into()),
    };
    let mut request = tonic::Request::new(message);
    *request.extensions_mut() = std::mem::take(&mut call.extensions);
    match api.watch_applications(request).await {
        Ok(events) => stream_reply(events.into_inner()),
        Err(status) => errors::from_status(&status),
    }
}

/// The request message. `Last-Event-ID` is the resume token, and wins
/// over the query's `resumeToken` and `initialSnapshot`: an EventSource
/// reconnects with its first URL and the id of the last event it got,
/// which is the later position.
fn request(
    call: &Call<'_>,
    last_event_id: Option<&HeaderValue>,
) -> Result<pb::WatchApplicationsRequest, Error> {
    let mut message: pb::WatchApplicationsRequest =
        json::query(call.query.as_deref(), call.route.query)?;
    let Some(header) = last_event_id else {
        return Ok(message);
    };
    let id = header
        .to_str()
        .map_err(|_| Error::invalid("Last-Event-ID", "is not a resume token"))?
        .trim();
    if id.is_empty() {
        return Ok(message);
    }
    message.resume_token = id.to_owned();
    message.initial_snapshot = false;
    Ok(message)
}

/// A 200 whose body is the events, each flushed as it comes.
fn stream_reply<S>(events: S) -> Reply
where
    S: Stream<Item = Result<pb::WatchApplicationsResponse, Status>> + Send + 'static,
{
    // The error, if any, is the last event: nothing follows it.
    let frames = events
        .scan(false, |ended, item| {
            let bytes = match item {
                _ if *ended => None,
                Ok(event) => Some(event_bytes(&event)),
                Err(status) => {
                    *ended = true;
                    Some(error_bytes(&status))
                }
            };
            std::future::ready(bytes)
        })
        .map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
    let mut reply = reply::ok_bytes(StatusCode::OK, Code::Ok, Bytes::new());
    reply.headers.insert(header::CONTENT_TYPE, EVENT_STREAM);
    // nginx buffers a proxied response unless told not to.
    reply
        .headers
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    reply.stream = Some(Body::new(StreamBody::new(frames)));
    reply
}

/// One event: its resume token as the `id` (SNAPSHOT events have none:
/// resume from SNAPSHOT_END or later), the response as one line of JSON.
fn event_bytes(event: &pb::WatchApplicationsResponse) -> Bytes {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    let mut out = String::with_capacity(data.len() + event.resume_token.len() + 16);
    if !event.resume_token.is_empty() {
        out.push_str("id: ");
        out.push_str(&event.resume_token);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data);
    out.push_str("\n\n");
    out.into()
}

/// The error that ends the stream, as AIP-193's body.
fn error_bytes(status: &Status) -> Bytes {
    let body = errors::from_status(status).body;
    let mut out = b"event: error\ndata: ".to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\n\n");
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::{Rpc, table};

    fn parse(
        query: Option<&str>,
        header: Option<&str>,
    ) -> Result<pb::WatchApplicationsRequest, Error> {
        let route = table()
            .into_iter()
            .find(|r| r.rpc == Rpc::WatchApplications)
            .unwrap();
        let call = Call {
            route: &route,
            params: Vec::new(),
            query: query.map(str::to_owned),
            body: Bytes::new(),
            extensions: http::Extensions::new(),
        };
        let header = header.map(|h| HeaderValue::from_str(h).unwrap());
        request(&call, header.as_ref())
    }

    fn field(e: Error) -> String {
        match e {
            Error::Invalid(v) => v[0].field.clone(),
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn the_header_is_the_resume_token_and_wins_over_the_query() {
        let r = parse(Some("resumeToken=a&initialSnapshot=false"), None).unwrap();
        assert_eq!((r.resume_token.as_str(), r.initial_snapshot), ("a", false));
        let r = parse(Some("initialSnapshot=true"), None).unwrap();
        assert!(r.initial_snapshot);
        let r = parse(None, Some("t1")).unwrap();
        assert_eq!(r.resume_token, "t1");
        let r = parse(Some("resume_token=t1"), Some("t1")).unwrap();
        assert_eq!(r.resume_token, "t1");
        // A reconnecting EventSource sends its first URL again.
        let r = parse(Some("initialSnapshot=true"), Some("t1")).unwrap();
        assert_eq!((r.resume_token.as_str(), r.initial_snapshot), ("t1", false));
        let r = parse(Some("initialSnapshot=true"), Some("")).unwrap();
        assert!(r.initial_snapshot);
        // Its first URL's token is older than the last id it got.
        let r = parse(Some("resumeToken=a"), Some("b")).unwrap();
        assert_eq!(r.resume_token, "b");
        assert_eq!(
            field(parse(Some("initialSnapshot=yes"), None).unwrap_err()),
            "initialSnapshot"
        );
        assert_eq!(
            field(parse(Some("pageSize=1"), None).unwrap_err()),
            "pageSize"
        );
    }

    #[test]
    fn events_are_an_id_and_one_line_of_json() {
        let event = pb::WatchApplicationsResponse {
            r#type: pb::ChangeType::Created.into(),
            application: Some(pb::Application {
                description: "two\nlines".to_owned(),
                ..Default::default()
            }),
            resume_token: "tok.en".to_owned(),
            commit_time: None,
        };
        let text = String::from_utf8(event_bytes(&event).to_vec()).unwrap();
        let (id, rest) = text.split_once('\n').unwrap();
        assert_eq!(id, "id: tok.en");
        let data = rest.strip_prefix("data: ").unwrap();
        let data = data.strip_suffix("\n\n").unwrap();
        assert!(!data.contains('\n'));
        let json: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(json["type"], "CHANGE_TYPE_CREATED");
        assert_eq!(json["resumeToken"], "tok.en");
        assert_eq!(json["application"]["description"], "two\nlines");
        let snapshot = pb::WatchApplicationsResponse {
            resume_token: String::new(),
            ..event
        };
        assert!(event_bytes(&snapshot).starts_with(b"data: "));

        let error = error_bytes(&Status::permission_denied("no longer a member"));
        let text = String::from_utf8(error.to_vec()).unwrap();
        let data = text.strip_prefix("event: error\ndata: ").unwrap();
        let json: serde_json::Value = serde_json::from_str(data.trim_end()).unwrap();
        assert_eq!(json["error"]["status"], "PERMISSION_DENIED");
        assert_eq!(json["error"]["code"], 403);
    }
}
