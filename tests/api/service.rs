//! Health, reflection and graceful shutdown.

use oauth_apps::{domain::Role, proto::v1 as pb};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::common::TestApp;

#[tokio::test]
async fn health_reports_serving_while_the_database_answers() {
    let app = TestApp::spawn().await;
    let mut health = HealthClient::new(app.channel().await);
    // The first probe runs before the server accepts its first call.
    let named = health
        .check(HealthCheckRequest {
            service: "oauthapps.v1.OAuthApplications".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(named.status(), ServingStatus::Serving);
    let overall = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(overall.status(), ServingStatus::Serving);
}

#[tokio::test]
async fn reflection_lists_the_service_without_a_token() {
    let app = TestApp::spawn().await;
    let mut client = ServerReflectionClient::new(app.channel().await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::once(req))
        .await
        .unwrap()
        .into_inner();
    let resp = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer {resp:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"oauthapps.v1.OAuthApplications".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

#[tokio::test]
async fn reflection_v1alpha_serves_older_clients_and_error_details() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = TestApp::spawn().await;
    let mut client = ServerReflectionClient::new(app.channel().await);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "oauthapps.v1.OAuthApplications".into(),
            )),
        },
        // grpcurl and buf curl decode error details by their type names.
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "google.rpc.BadRequest".into(),
            )),
        },
    ];
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    for _ in 0..2 {
        let resp = responses.message().await.unwrap().unwrap();
        assert!(
            matches!(resp.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
            "{resp:?}"
        );
    }
}

/// Error details are served under their googleapis file names, the names
/// every client's own copy of googleapis has (tonic-types calls them
/// `error_details.proto` and `status.proto`; under those names a client that
/// also has the googleapis files would hold two definitions of each type).
#[tokio::test]
async fn reflection_serves_error_details_under_their_googleapis_names() {
    use prost::Message as _;
    let app = TestApp::spawn().await;
    let mut client = ServerReflectionClient::new(app.channel().await);
    let request = |r: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r),
    };
    let requests = vec![
        request(MessageRequest::FileByFilename(
            "google/rpc/error_details.proto".into(),
        )),
        request(MessageRequest::FileByFilename(
            "google/rpc/status.proto".into(),
        )),
        request(MessageRequest::FileContainingSymbol(
            "google.rpc.RetryInfo".into(),
        )),
        request(MessageRequest::FileContainingSymbol(
            "google.rpc.BadRequest".into(),
        )),
    ];
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    for expected in [
        "google/rpc/error_details.proto",
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
        "google/rpc/error_details.proto",
    ] {
        let resp = responses.message().await.unwrap().unwrap();
        let Some(MessageResponse::FileDescriptorResponse(files)) = resp.message_response else {
            panic!("{expected}: {resp:?}");
        };
        let names: Vec<String> = files
            .file_descriptor_proto
            .iter()
            .map(|f| {
                prost_types::FileDescriptorProto::decode(f.as_slice())
                    .unwrap()
                    .name()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names.first().map(String::as_str),
            Some(expected),
            "{names:?}"
        );
        assert!(
            names.iter().all(|n| n.contains('/')),
            "a bare file name is served: {names:?}"
        );
    }
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns_cleanly() {
    let mut app = TestApp::spawn().await;
    app.set_member("org", "owner", Role::Owner).await;
    app.list("owner", "org", pb::ListApplicationsRequest::default())
        .await
        .unwrap();
    app.shutdown().await.expect("server stops without error");
    let err = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await;
    assert!(
        err.is_err(),
        "server still accepts connections after shutdown"
    );
}

/// The access table and the proto name the same methods: a new RPC is
/// closed (UNIMPLEMENTED) until the table says who may call it, and this
/// test says so before anyone finds out in production.
#[test]
fn every_rpc_of_the_proto_is_in_the_access_table() {
    use prost::Message as _;
    let fds =
        prost_types::FileDescriptorSet::decode(oauth_apps::proto::FILE_DESCRIPTOR_SET).unwrap();
    let service = fds
        .file
        .iter()
        .flat_map(|f| &f.service)
        .find(|s| s.name() == "OAuthApplications")
        .unwrap();
    let mut rpcs: Vec<&str> = service.method.iter().map(|m| m.name()).collect();
    let mut table: Vec<&str> = oauth_apps::auth::methods::METHODS
        .iter()
        .map(|(m, _)| *m)
        .collect();
    rpcs.sort_unstable();
    table.sort_unstable();
    assert_eq!(rpcs, table);
}
