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

/// The value of the first sample line starting with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_and_move_as_blocks_commit() {
    let mut net = TestNet::new(4, 0);
    net.start_all(&["--block-time-ms", "50"]).await;
    let node = &net.validators[0];
    let first = node.scrape().await;
    // Every metric the operations guide names is there (families print their HELP line
    // even before their first sample), and Malachite's are beside ours.
    for name in [
        "ledger_height",
        "ledger_last_commit_timestamp_seconds",
        "ledger_time_since_last_commit_seconds",
        "ledger_block_interval_seconds",
        "ledger_block_size_bytes",
        "ledger_block_transactions",
        "ledger_transactions_committed",
        "ledger_transactions_failed",
        "ledger_admission_rejections",
        "ledger_transactions_admitted",
        "ledger_mempool_transactions",
        "ledger_mempool_bytes",
        "ledger_validators",
        "ledger_validator_signed",
        "ledger_validator_missed_blocks",
        "ledger_proof_verification_seconds",
        "ledger_proof_batch_size",
        "ledger_hsm_operation_seconds",
        "ledger_hsm_errors",
        "ledger_hsm_session_recoveries",
        "ledger_grpc_requests",
        "ledger_grpc_request_seconds",
        "ledger_audit_reads",
        "ledger_build_info",
        "malachitebft_core_consensus_height",
        "malachitebft_core_consensus_connected_peers",
    ] {
        assert!(
            first.contains(&format!("# HELP {name} ")),
            "{name} missing from\n{first}"
        );
    }

    // Writes through the gateway and a refused transaction move them.
    let mut gw = node.gateway().await;
    gw.register_schema(ledger_api::v1::GatewaySchemaRequest {
        schema_id: "note".into(),
        fields: vec![ledger_api::v1::SchemaField {
            name: "text".into(),
            r#type: "text".into(),
            ..Default::default()
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..3 {
        gw.put(&format!("N-{i}"), "note", &[("text", "hello")], &[])
            .await
            .unwrap();
    }
    let e = node
        .client()
        .await
        .submit_tx(ledger_api::v1::SubmitTxRequest { tx: vec![1, 2, 3] })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    let h = height_of(node).await;
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, h + 2, 30).await;
    let later = node.scrape().await;
    let height = |t: &str| sample(t, "ledger_height ").unwrap();
    assert!(height(&later) > height(&first), "the height moved");
    assert!(height(&later) >= h as f64);
    assert!(sample(&later, "ledger_time_since_last_commit_seconds ").unwrap() < 10.0);
    assert_eq!(
        sample(
            &later,
            "ledger_transactions_committed_total{kind=\"PutRecord\"} "
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &later,
            "ledger_grpc_requests_total{service=\"ledger.v1.Gateway\",method=\"PutRecord\",outcome=\"ok\"} "
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &later,
            "ledger_grpc_requests_total{service=\"ledger.v1.Ledger\",method=\"SubmitTx\",outcome=\"InvalidArgument\"} "
        ),
        Some(1.0),
        "{later}"
    );
    assert_eq!(
        sample(
            &later,
            "ledger_admission_rejections_total{kind=\"\",reason=\"malformed\"} "
        ),
        Some(1.0)
    );
    assert_eq!(sample(&later, "ledger_validators "), Some(4.0));
    // The four validators sign; the certificate holds at least a quorum of them.
    let signed: f64 = later
        .lines()
        .filter(|l| l.starts_with("ledger_validator_signed{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(signed >= 3.0, "{later}");
    assert!(sample(&later, "ledger_block_interval_seconds_count ").unwrap() >= 2.0);
    assert!(sample(&later, "malachitebft_core_consensus_connected_peers").unwrap() >= 3.0);

    // A validator stops and comes back: the others log its absence as warnings (their
    // dials fail while it is down), not as errors; no node's log holds an ERROR line.
    let mut net = net;
    net.validators[3].stop();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    net.validators[3].start(&["--block-time-ms", "50"]).await;
    let h = height_of(&net.validators[0]).await;
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, h + 2, 30).await;
    for n in net.nodes() {
        let log = n.log();
        assert!(
            !log.lines().any(|l| l.contains(" ERROR ")),
            "{}: {}",
            n.org,
            log.lines()
                .filter(|l| l.contains(" ERROR "))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // The documented alert rules and the operations guide name only metrics the node
    // serves (a renamed metric would silently disable an alert).
    for file in ["deploy/prometheus/alerts.yml", "docs/operations.md"] {
        let text = std::fs::read_to_string(repo_path(file)).unwrap();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(name) = word.strip_prefix("ledger_").filter(|n| !n.is_empty()) {
                let base = ["_bucket", "_total", "_count", "_sum"]
                    .iter()
                    .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
                assert!(
                    later.contains(&format!("# HELP ledger_{base} ")),
                    "{file} names ledger_{name}, which the node does not serve"
                );
            }
        }
    }
}
