//! What operators and their tools look at, on a running four-validator network
//! (docs/operations.md): gRPC health and reflection on the public API and on a gateway, as
//! grpcurl and load balancers use them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ledger_e2e::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// One reflection request and its answer, as `grpcurl list` / `describe` send them.
async fn reflect(channel: tonic::transport::Channel, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    answers
        .message()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
}

async fn services(channel: tonic::transport::Channel) -> Vec<String> {
    match reflect(channel, MessageRequest::ListServices(String::new())).await {
        MessageResponse::ListServicesResponse(l) => {
            let mut names: Vec<String> = l.service.into_iter().map(|s| s.name).collect();
            names.sort();
            names
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer_standard_clients() {
    let mut net = TestNet::new(4, 0);
    net.start_all(&["--block-time-ms", "50"]).await;
    let node = &net.validators[0];

    // Health: the server and the ledger service are serving; an unknown service is named.
    let mut health = HealthClient::new(node.channel().await);
    for service in ["", "ledger.v1.Ledger"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let e = health
        .check(HealthCheckRequest {
            service: "ledger.v1.Nothing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");

    // Reflection: the public port lists the ledger and the standard services, not the
    // gateway; the gateway's port lists the gateway.
    assert_eq!(
        services(node.channel().await).await,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "ledger.v1.Ledger"
        ]
    );
    let gateway = tonic::transport::Channel::from_shared(node.gateway_url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert_eq!(
        services(gateway.clone()).await,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "ledger.v1.Gateway"
        ]
    );
    // `grpcurl describe ledger.v1.Ledger`: the file that defines it, with its methods.
    match reflect(
        node.channel().await,
        MessageRequest::FileContainingSymbol("ledger.v1.Ledger".into()),
    )
    .await
    {
        MessageResponse::FileDescriptorResponse(f) => {
            let all: Vec<u8> = f.file_descriptor_proto.concat();
            let text = String::from_utf8_lossy(&all);
            for method in ["SubmitTx", "GetBlock", "GetAnalyticsQuery"] {
                assert!(text.contains(method), "{method} not described");
            }
        }
        other => panic!("{other:?}"),
    }
    let mut gw_health = HealthClient::new(gateway);
    let r = gw_health
        .check(HealthCheckRequest {
            service: "ledger.v1.Gateway".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status, ServingStatus::Serving as i32);
}
