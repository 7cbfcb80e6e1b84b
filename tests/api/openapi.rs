//! `GET /openapi.json` over HTTP from a running server: no token needed,
//! every route of the table in it, other methods 405 in AIP-193's shape.

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use oauth_apps::http::routes;
use serde_json::Value;

use crate::common::TestApp;

async fn send(app: &TestApp, method: Method, path: &str) -> (StatusCode, http::HeaderMap, Value) {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", app.addr))
        .body(Empty::new())
        .unwrap();
    let response = client.request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).expect("a JSON body");
    (parts.status, parts.headers, json)
}

#[tokio::test]
async fn the_document_is_served_without_a_token_and_names_every_route() {
    let app = TestApp::spawn().await;
    let (status, headers, doc) = send(&app, Method::GET, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    for route in routes::table() {
        let method = route.method.as_str().to_ascii_lowercase();
        assert_eq!(
            doc["paths"][route.template][method]["operationId"],
            route.operation_id()
        );
    }
}

#[tokio::test]
async fn other_methods_and_verbs_of_another_route_are_405_with_allow() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = send(&app, Method::POST, "/openapi.json").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET");
    assert_eq!(body["error"]["code"], 405);
    assert_eq!(body["error"]["status"], "UNIMPLEMENTED");
    // `{id}:undelete` is the undelete route's only: its Allow is POST, as
    // the document says, not the methods of `{id}`.
    let path = "/v1/organizations/acme/applications/app_1:undelete";
    let (status, headers, body) = send(&app, Method::OPTIONS, path).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");
    assert_eq!(body["error"]["code"], 405);
}
