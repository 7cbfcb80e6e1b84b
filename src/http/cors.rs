//! CORS for the HTTP/JSON routes: off unless `OAUTH_APPS_CORS_ORIGINS`
//! lists origins, and then only for exactly those. Preflights from them
//! succeed; any other origin gets no CORS headers, so browsers refuse it.

use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

pub fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("traceparent"),
                // A browser's SSE client (fetch-based: an EventSource
                // cannot send a bearer) resumes with it.
                HeaderName::from_static(super::sse::LAST_EVENT_ID),
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(MAX_AGE),
    )
}
