//! The layer between each connection and its calls: it marks a call in
//! flight on its connection until its response body is done with (so a
//! health Watch stream keeps its connection from being idle), holds the
//! public streams (health Watch, reflection) of connections that never
//! authenticated to a count per peer, and ends every public stream after
//! its lifetime with UNAVAILABLE, so that clients call again.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use futures_util::future::BoxFuture;
use tokio::time::{Sleep, sleep};

use super::{
    connections::{CallGuard, info_of},
    peers::{PeerFull, PeerGuard},
};

/// The limits on public streams.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// Public streams one peer may hold on connections that never
    /// authenticated; 0: no limit.
    pub per_peer: usize,
    /// How long a public stream may last.
    pub max_lifetime: Duration,
}

/// Calls that may stream for as long as the client likes and need no
/// token: the health service's Watch and reflection, named exactly. Every
/// other path (ours, health's Check) and every request of the HTTP/JSON door
/// is one ordinary call, whose body keeps its length.
fn is_public_stream<B>(req: &http::Request<B>) -> bool {
    crate::http::is_grpc(req)
        && matches!(
            req.uri().path(),
            "/grpc.health.v1.Health/Watch"
                | "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
                | "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        )
}

#[derive(Clone, Copy, Debug)]
pub struct StreamLayer(pub StreamLimits);

impl<S> tower::Layer<S> for StreamLayer {
    type Service = StreamService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StreamService {
            inner,
            limits: self.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct StreamService<S> {
    inner: S,
    limits: StreamLimits,
}

impl<S, B> tower::Service<http::Request<B>> for StreamService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let public = is_public_stream(&req);
        let activity = info_of(req.extensions()).map(|i| i.activity().clone());
        let mut peer_stream = None;
        if public && let Some(activity) = &activity {
            match activity.take_stream(self.limits.per_peer) {
                Ok(guard) => peer_stream = guard,
                Err(PeerFull) => {
                    tracing::debug!("public stream refused: the peer holds its maximum");
                    let refused = tonic::Status::resource_exhausted(
                        "too many streams from this address without authentication",
                    );
                    return Box::pin(async move { Ok(refused.into_http()) });
                }
            }
        }
        let call = activity.map(|a| a.begin());
        let lifetime = public.then_some(self.limits.max_lifetime);
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            if call.is_none() && lifetime.is_none() {
                return Ok(response);
            }
            Ok(response.map(|body| {
                tonic::body::Body::new(GuardedBody {
                    inner: body,
                    ends: lifetime.map(|l| Box::pin(sleep(l))),
                    ended: false,
                    _call: call,
                    _peer_stream: peer_stream,
                })
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its call in flight (and its peer's
    /// stream counted) until dropped, and ends when its lifetime is over.
    struct GuardedBody {
        #[pin]
        inner: tonic::body::Body,
        ends: Option<Pin<Box<Sleep>>>,
        ended: bool,
        _call: Option<CallGuard>,
        _peer_stream: Option<PeerGuard>,
    }
}

impl http_body::Body for GuardedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        if let Some(ends) = this.ends
            && ends.as_mut().poll(cx).is_ready()
        {
            *this.ended = true;
            let status = tonic::Status::unavailable("stream lifetime reached; call again");
            let mut trailers = http::HeaderMap::new();
            let frame = status
                .add_header(&mut trailers)
                .map(|()| http_body::Frame::trailers(trailers));
            return Poll::Ready(Some(frame));
        }
        Poll::Ready(ready!(this.inner.poll_frame(cx)))
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        if self.ends.is_some() {
            http_body::SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, content_type: &str) -> http::Request<()> {
        http::Request::post(path)
            .header(http::header::CONTENT_TYPE, content_type)
            .body(())
            .unwrap()
    }

    #[test]
    fn only_grpc_watch_and_reflection_are_public_streams() {
        let grpc = "application/grpc";
        assert!(is_public_stream(&request(
            "/grpc.health.v1.Health/Watch",
            grpc
        )));
        assert!(is_public_stream(&request(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            grpc
        )));
        assert!(!is_public_stream(&request(
            "/grpc.health.v1.Health/Check",
            grpc
        )));
        let get = format!("{}GetApplication", crate::auth::SERVICE_PATH_PREFIX);
        assert!(!is_public_stream(&request(&get, grpc)));
        // The HTTP/JSON door's routes, whatever their body.
        for content_type in ["application/json", "text/plain"] {
            let route = request("/v1/organizations/o/applications/a", content_type);
            assert!(!is_public_stream(&route));
        }
        assert!(!is_public_stream(
            &http::Request::get("/v1/clients/c").body(()).unwrap()
        ));
    }
}
