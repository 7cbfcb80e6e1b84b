//! The split between the two doors on one listener: a request whose
//! `content-type` starts with `application/grpc` goes on to the gRPC stack,
//! every other one to the HTTP/JSON routes (`crate::http`). It sits inside
//! the connection and stream layers, so their limits hold for both.

use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, Either};
use http::{Request, Response};
use tonic::body::Body;
use tower::ServiceExt as _;

use super::connections::info_of;
use crate::http::{Authenticated, HttpService, PeerIp, is_grpc};

#[derive(Clone)]
pub struct DoorLayer(pub HttpService);

impl std::fmt::Debug for DoorLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DoorLayer")
    }
}

impl<S> tower::Layer<S> for DoorLayer {
    type Service = Door<S>;

    fn layer(&self, grpc: S) -> Door<S> {
        Door {
            grpc,
            http: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Door<S> {
    grpc: S,
    http: HttpService,
}

impl<S> tower::Service<Request<Body>> for Door<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>>,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.grpc.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        if is_grpc(&req) {
            return Either::Left(self.grpc.call(req));
        }
        let info = info_of(req.extensions());
        let activity = info.map(|i| i.activity().clone());
        if let Some(peer) = info.and_then(|i| i.tcp.remote_addr()) {
            req.extensions_mut().insert(PeerIp(peer.ip()));
        }
        let http = self.http.clone();
        Either::Right(Box::pin(async move {
            let response = match http.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            // Its caller proved who they are: the connection leaves its
            // peer's unauthenticated share, as in the gRPC auth layer.
            if let Some(activity) = activity
                && response.extensions().get::<Authenticated>().is_some()
            {
                activity.authenticate();
            }
            Ok(response)
        }))
    }
}
