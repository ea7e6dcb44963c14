//! An observer re-verifies what it follows: fed by an upstream that strips a block's commit
//! certificate below two thirds of the validators (a faulty or hostile node in front of
//! it), it refuses the block and stores nothing; following an honest validator, it holds
//! exactly the validators' blocks.

// Test code: a failed step must stop the test where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::pin::Pin;
use std::time::Duration;

use ledger_api::v1 as pb;
use ledger_api::v1::ledger_client::LedgerClient;
use ledger_api::v1::ledger_server::{Ledger, LedgerServer};
use ledger_e2e::*;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Serves the real chain of `real`, except that every block after genesis keeps only one
/// commit signature.
struct Forger {
    real: String,
}

type Blocks = Pin<Box<dyn Stream<Item = Result<pb::BlockMessage, Status>> + Send>>;

fn no(what: &str) -> Status {
    Status::unimplemented(format!("the forging upstream does not serve {what}"))
}

#[tonic::async_trait]
impl Ledger for Forger {
    type StreamBlocksStream = Blocks;

    async fn get_status(
        &self,
        r: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let mut c = LedgerClient::connect(self.real.clone()).await.unwrap();
        c.get_status(r.into_inner()).await
    }

    async fn stream_blocks(
        &self,
        r: Request<pb::StreamBlocksRequest>,
    ) -> Result<Response<Blocks>, Status> {
        let mut c = LedgerClient::connect(self.real.clone()).await.unwrap();
        let from = r.into_inner().from_height;
        let mut out = Vec::new();
        for h in from..from + 3 {
            let b = c
                .get_block(pb::GetBlockRequest { height: Some(h) })
                .await?
                .into_inner();
            let mut block = ledger_types::Block::decode(&b.block).unwrap();
            block.commit.signatures.truncate(1);
            out.push(Ok(pb::BlockMessage {
                block: block.encode(),
                ..b
            }));
        }
        Ok(Response::new(Box::pin(tokio_stream::iter(out))))
    }

    async fn submit_tx(
        &self,
        _: Request<pb::SubmitTxRequest>,
    ) -> Result<Response<pb::SubmitTxResponse>, Status> {
        Err(no("SubmitTx"))
    }
    async fn submit_txs(
        &self,
        _: Request<pb::SubmitTxsRequest>,
    ) -> Result<Response<pb::SubmitTxsResponse>, Status> {
        Err(no("SubmitTxs"))
    }
    async fn relay_txs(
        &self,
        _: Request<pb::RelayTxsRequest>,
    ) -> Result<Response<pb::RelayTxsResponse>, Status> {
        Err(no("RelayTxs"))
    }
    async fn get_tx(
        &self,
        _: Request<pb::GetTxRequest>,
    ) -> Result<Response<pb::GetTxResponse>, Status> {
        Err(no("GetTx"))
    }
    async fn get_block(
        &self,
        _: Request<pb::GetBlockRequest>,
    ) -> Result<Response<pb::BlockMessage>, Status> {
        Err(no("GetBlock"))
    }
    async fn get_member(
        &self,
        _: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        Err(no("GetMember"))
    }
    async fn get_record(
        &self,
        _: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::GetRecordResponse>, Status> {
        Err(no("GetRecord"))
    }
    async fn get_access_history(
        &self,
        _: Request<pb::GetAccessHistoryRequest>,
    ) -> Result<Response<pb::GetAccessHistoryResponse>, Status> {
        Err(no("GetAccessHistory"))
    }
    async fn get_schema(
        &self,
        _: Request<pb::GetSchemaRequest>,
    ) -> Result<Response<pb::GetSchemaResponse>, Status> {
        Err(no("GetSchema"))
    }
    async fn get_endorsements(
        &self,
        _: Request<pb::GetEndorsementsRequest>,
    ) -> Result<Response<pb::GetEndorsementsResponse>, Status> {
        Err(no("GetEndorsements"))
    }
    async fn get_governance(
        &self,
        _: Request<pb::GetGovernanceRequest>,
    ) -> Result<Response<pb::GetGovernanceResponse>, Status> {
        Err(no("GetGovernance"))
    }

    async fn get_analytics_query(
        &self,
        _: Request<pb::GetAnalyticsQueryRequest>,
    ) -> Result<Response<pb::GetAnalyticsQueryResponse>, Status> {
        Err(no("GetAnalyticsQuery"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_refuses_a_block_without_a_quorum_certificate_and_mirrors_an_honest_one() {
    let mut net = TestNet::new(4, 1);
    for v in &mut net.validators {
        v.start(&["--block-time-ms", "30"]).await;
    }
    let vals: Vec<&TestNode> = net.validators.iter().collect();
    wait_for_height(&vals, 10, 60).await;

    let port = free_port();
    let forger = Forger {
        real: net.validators[0].url(),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(LedgerServer::new(forger))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let obs = &mut net.observers[0];
    obs.start(&["--upstream", &format!("http://127.0.0.1:{port}")])
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(height_of(obs).await, 0, "no forged block was stored");
    let log = obs.log();
    assert!(
        log.contains("refused a block from the upstream node")
            && log.contains("validators signed; more than two thirds are needed"),
        "{log}"
    );

    // Following an honest validator, it holds the validators' blocks exactly.
    assert!(obs.stop().success());
    let honest = net.validators[1].url();
    net.observers[0].start(&["--upstream", &honest]).await;
    let target = height_of(&net.validators[0]).await + 5;
    let all: Vec<&TestNode> = net.nodes().collect();
    wait_for_height(&all, target, 60).await;
    for h in 1..=target {
        assert_eq!(
            block_hash_at(&net.observers[0], h).await,
            block_hash_at(&net.validators[2], h).await,
            "height {h}"
        );
    }
}
