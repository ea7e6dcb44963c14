//! The public ledger gRPC service.

use std::pin::Pin;
use std::sync::Arc;

use ledger_api::convert::{block_message, summary_message};
use ledger_api::v1 as pb;
use ledger_api::v1::ledger_server::Ledger as LedgerApi;
use ledger_state::{
    endorsements, member, next_nonce, record_head, record_version, schema_head, schema_version,
    StateError,
};
use ledger_types::{Block, Hash, OrgId, RecordId, SchemaId, Topic};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use ledger_core::Ledger;

use crate::status::{internal, relay_status, remote_refusal, remote_status, submit_status};

/// The service implementation.
pub struct LedgerService {
    ledger: Arc<Ledger>,
    shutdown: watch::Receiver<bool>,
    limits: StreamLimits,
    streams: Arc<tokio::sync::Semaphore>,
}

impl LedgerService {
    /// A service over `ledger`; streams end when `shutdown` turns true.
    pub fn new(ledger: Arc<Ledger>, shutdown: watch::Receiver<bool>) -> Self {
        Self::with_limits(ledger, shutdown, StreamLimits::default())
    }

    /// A service whose block streams are bounded by `limits`.
    pub fn with_limits(
        ledger: Arc<Ledger>,
        shutdown: watch::Receiver<bool>,
        limits: StreamLimits,
    ) -> Self {
        let streams = Arc::new(tokio::sync::Semaphore::new(limits.max_block_streams.max(1)));
        Self {
            ledger,
            shutdown,
            limits,
            streams,
        }
    }
}

fn state_err(e: StateError) -> Status {
    internal(e)
}

fn hash_arg(bytes: &[u8], what: &str) -> Result<Hash, Status> {
    Hash::from_slice(bytes).ok_or_else(|| {
        Status::invalid_argument(format!("{what} must be 32 bytes, got {}", bytes.len()))
    })
}

fn load_block(ledger: &Ledger, height: u64) -> Result<Option<(Block, Vec<u8>)>, Status> {
    let Some(bytes) = ledger.store.block_bytes(height).map_err(internal)? else {
        return Ok(None);
    };
    let block = Block::decode(&bytes)
        .map_err(|e| internal(format!("stored block {height} does not decode: {e}")))?;
    Ok(Some((block, bytes)))
}

type BlockStream = Pin<Box<dyn Stream<Item = Result<pb::BlockMessage, Status>> + Send>>;

/// The message for block `height` of a stream: its header and transaction hashes read
/// from the stored bytes without decoding the transactions, plus the bytes unless
/// `headers_only`. A blocking call.
fn stream_item(
    ledger: &Ledger,
    height: u64,
    headers_only: bool,
) -> Result<pb::BlockMessage, Status> {
    let bytes = ledger
        .store
        .block_bytes(height)
        .map_err(internal)?
        .ok_or_else(|| internal(format!("block {height} is missing")))?;
    let summary = Block::summarize(&bytes)
        .map_err(|e| internal(format!("stored block {height} does not decode: {e}")))?;
    let mut m = summary_message(&summary);
    if !headers_only {
        m.block = bytes;
    }
    Ok(m)
}

/// Bounds on the block streams of the public API.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    /// Most block streams served at once.
    pub max_block_streams: usize,
    /// Longest a reader may take to take the next block before its stream is dropped.
    pub slow_reader_timeout: std::time::Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_block_streams: 64,
            slow_reader_timeout: std::time::Duration::from_secs(30),
        }
    }
}

#[tonic::async_trait]
impl LedgerApi for LedgerService {
    async fn submit_tx(
        &self,
        request: Request<pb::SubmitTxRequest>,
    ) -> Result<Response<pb::SubmitTxResponse>, Status> {
        let bytes = request.into_inner().tx;
        let hash = self
            .ledger
            .submit_tx(bytes)
            .await
            .map_err(|e| submit_status(&e))?;
        Ok(Response::new(pb::SubmitTxResponse {
            tx_hash: hash.0.to_vec(),
        }))
    }

    async fn submit_txs(
        &self,
        request: Request<pb::SubmitTxsRequest>,
    ) -> Result<Response<pb::SubmitTxsResponse>, Status> {
        let txs = request.into_inner().txs;
        if txs.len() > MAX_SUBMIT_BATCH {
            return Err(Status::invalid_argument(format!(
                "{} transactions in one SubmitTxs call; at most {MAX_SUBMIT_BATCH}",
                txs.len()
            )));
        }
        let outcomes = self
            .ledger
            .submit_txs(txs)
            .await
            .map_err(|e| submit_status(&e))?
            .into_iter()
            .map(|r| match r {
                Ok(hash) => pb::SubmitTxOutcome {
                    tx_hash: hash.0.to_vec(),
                    ..Default::default()
                },
                Err(e) => {
                    let refusal = remote_refusal(&submit_status(&e));
                    pb::SubmitTxOutcome {
                        tx_hash: Vec::new(),
                        code: refusal.code,
                        message: refusal.message,
                        reason: refusal.reason.unwrap_or_default(),
                    }
                }
            })
            .collect();
        Ok(Response::new(pb::SubmitTxsResponse { outcomes }))
    }

    async fn relay_txs(
        &self,
        request: Request<pb::RelayTxsRequest>,
    ) -> Result<Response<pb::RelayTxsResponse>, Status> {
        let req = request.into_inner();
        let from = OrgId::new(req.from)
            .map_err(|e| Status::unauthenticated(format!("relayed batch refused: from: {e}")))?;
        let batch = ledger_core::relay::RelayBatch {
            txs: req.txs,
            from,
            sent_ms: req.sent_ms,
            signature: ledger_types::Signature(req.signature),
        };
        let (admitted, refused) = self
            .ledger
            .submit_relayed(batch)
            .await
            .map_err(|e| relay_status(&e))?;
        Ok(Response::new(pb::RelayTxsResponse { admitted, refused }))
    }

    async fn get_tx(
        &self,
        request: Request<pb::GetTxRequest>,
    ) -> Result<Response<pb::GetTxResponse>, Status> {
        let hash = hash_arg(&request.into_inner().tx_hash, "tx_hash")?;
        let summary = |tx: &ledger_types::Transaction| {
            (
                tx.kind().name().to_string(),
                tx.body().signer.to_string(),
                tx.body().nonce,
            )
        };
        if let Some(tx) = self.ledger.mempool.get(&hash) {
            let (kind, signer, nonce) = summary(&tx);
            return Ok(Response::new(pb::GetTxResponse {
                tx: tx.bytes().to_vec(),
                status: pb::TxStatus::Pending as i32,
                kind,
                signer,
                nonce,
                ..Default::default()
            }));
        }
        let loc = self
            .ledger
            .store
            .tx_location(&hash)
            .map_err(internal)?
            .ok_or_else(|| {
                Status::not_found(format!("no transaction {hash} is pending or committed"))
            })?;
        // Only this transaction is decoded: the others of its block are skipped over.
        let bytes = self
            .ledger
            .store
            .block_bytes(loc.height)
            .map_err(internal)?
            .ok_or_else(|| {
                internal(format!(
                    "block {} of transaction {hash} is missing",
                    loc.height
                ))
            })?;
        let tx = Block::transaction_at(&bytes, loc.index as usize)
            .map_err(|e| internal(format!("stored block {} does not decode: {e}", loc.height)))?
            .filter(|t| t.hash() == hash)
            .ok_or_else(|| {
                internal(format!("transaction {hash} is not at its indexed position"))
            })?;
        let (kind, signer, nonce) = summary(&tx);
        Ok(Response::new(pb::GetTxResponse {
            tx: tx.bytes().to_vec(),
            status: if loc.failure.is_some() {
                pb::TxStatus::Failed
            } else {
                pb::TxStatus::Committed
            } as i32,
            height: loc.height,
            index: loc.index,
            failure: loc.failure.unwrap_or_default(),
            kind,
            signer,
            nonce,
        }))
    }

    async fn get_block(
        &self,
        request: Request<pb::GetBlockRequest>,
    ) -> Result<Response<pb::BlockMessage>, Status> {
        let height = request
            .into_inner()
            .height
            .unwrap_or_else(|| self.ledger.height());
        let (block, bytes) = load_block(&self.ledger, height)?.ok_or_else(|| {
            Status::not_found(format!(
                "no block at height {height}; the latest height is {}",
                self.ledger.height()
            ))
        })?;
        Ok(Response::new(block_message(&block, Some(bytes))))
    }

    type StreamBlocksStream = BlockStream;

    async fn stream_blocks(
        &self,
        request: Request<pb::StreamBlocksRequest>,
    ) -> Result<Response<Self::StreamBlocksStream>, Status> {
        let req = request.into_inner();
        let place = self.streams.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "this node serves at most {} block streams at once ([grpc] max_block_streams); retry later",
                self.limits.max_block_streams
            ))
        })?;
        let ledger = self.ledger.clone();
        let mut shutdown = self.shutdown.clone();
        let mut committed = ledger.subscribe();
        let slow = self.limits.slow_reader_timeout;
        // One block waits at most: with the one the server is sending, a stream holds at
        // most two blocks whatever the reader does. A reader that takes longer than
        // `slow` to take the next one is dropped, told why by the last message.
        let (tx, rx) = mpsc::channel::<Result<pb::BlockMessage, Status>>(1);
        let (end_tx, end_rx) = mpsc::channel::<Result<pb::BlockMessage, Status>>(1);
        tokio::spawn(async move {
            let _place = place;
            let mut next = req.from_height;
            loop {
                while next <= ledger.height() {
                    let (l, height, headers_only) = (ledger.clone(), next, req.headers_only);
                    let item =
                        tokio::task::spawn_blocking(move || stream_item(&l, height, headers_only))
                            .await
                            .unwrap_or_else(|e| Err(internal(e.to_string())));
                    let failed = item.is_err();
                    tokio::select! {
                        sent = tx.send_timeout(item, slow) => match sent {
                            Ok(()) => {}
                            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                                tracing::info!(height, "dropped a block stream whose reader stopped reading");
                                let _ = end_tx.try_send(Err(Status::resource_exhausted(format!(
                                    "block stream dropped: the reader took more than {} s to take block {height}; reconnect from that height",
                                    slow.as_secs()
                                ))));
                                return;
                            }
                            Err(mpsc::error::SendTimeoutError::Closed(_)) => return,
                        },
                        _ = shutdown.changed() => return,
                    }
                    if failed {
                        return;
                    }
                    next += 1;
                }
                tokio::select! {
                    changed = committed.changed() => if changed.is_err() { return },
                    _ = shutdown.changed() => return,
                    _ = tx.closed() => return,
                }
            }
        });
        let stream =
            tokio_stream::StreamExt::chain(ReceiverStream::new(rx), ReceiverStream::new(end_rx));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, Status> {
        let tip = self
            .ledger
            .store
            .tip()
            .ok_or_else(|| internal("the store has no blocks"))?;
        let store = self.ledger.store.as_ref();
        let (round, last_commit_signatures) = self.ledger.last_commit();
        let (role, peers) = self.ledger.role();
        Ok(Response::new(pb::GetStatusResponse {
            crypto_suite: ledger_types::CryptoSuite::current().name().to_string(),
            round,
            last_commit_signatures,
            validators: ledger_state::validator_set_at(store, tip.header.height + 1)
                .map_err(state_err)?
                .iter()
                .map(ToString::to_string)
                .collect(),
            role: role.to_string(),
            peers,
            last_commit_time_ms: self.ledger.last_commit_ms(),
            chain_id: self.ledger.chain_id.to_string(),
            height: tip.header.height,
            last_block_hash: tip.hash.0.to_vec(),
            last_block_time_ms: tip.header.timestamp_ms,
            mempool_txs: self.ledger.mempool.len() as u64,
            mempool_bytes: self.ledger.mempool.bytes() as u64,
            node_version: env!("CARGO_PKG_VERSION").to_string(),
            org: self.ledger.org.to_string(),
            genesis_hash: self.ledger.genesis_hash.0.to_vec(),
        }))
    }

    async fn get_member(
        &self,
        request: Request<pb::GetMemberRequest>,
    ) -> Result<Response<pb::GetMemberResponse>, Status> {
        let org = OrgId::new(request.into_inner().org)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let store = self.ledger.store.as_ref();
        let m = member(store, &org)
            .map_err(state_err)?
            .ok_or_else(|| Status::not_found(format!("no member {org} in the directory")))?;
        let next = next_nonce(store, &org).map_err(state_err)?;
        Ok(Response::new(pb::GetMemberResponse {
            org: org.to_string(),
            signing_key: m.signing_key.to_text(),
            encryption_key: m.encryption_key.clone(),
            roles: m.roles.iter().map(|r| r.name().to_string()).collect(),
            next_nonce: next,
            next_free_nonce: self
                .ledger
                .next_free_nonce(&org, next)
                .await
                .map_err(|r| remote_status(&r))?,
            audit_key: m.audit_key.clone(),
            ring_key: m.ring_key.clone(),
            suspended_by: ledger_state::suspension(store, &org)
                .map_err(state_err)?
                .map_or(0, |(p, _)| p),
            removed_by: ledger_state::removal(store, &org)
                .map_err(state_err)?
                .map_or(0, |(p, _)| p),
            key_history: ledger_state::key_history(store, &org)
                .map_err(state_err)?
                .into_iter()
                .map(|c| pb::KeyRotation {
                    height: c.height,
                    kind: c.kind.name().to_string(),
                    old_key: c.old,
                    new_key: c.new,
                })
                .collect(),
        }))
    }

    async fn get_analytics_query(
        &self,
        request: Request<pb::GetAnalyticsQueryRequest>,
    ) -> Result<Response<pb::GetAnalyticsQueryResponse>, Status> {
        let id = hash_arg(&request.into_inner().query, "query")?;
        let store = self.ledger.store.as_ref();
        let q = ledger_state::analytics_query(store, &id)
            .map_err(state_err)?
            .ok_or_else(|| {
                Status::not_found(format!("no analytics query was asked in transaction {id}"))
            })?;
        let validators = ledger_state::validators(store).map_err(state_err)?.len() as u32;
        let job = self
            .ledger
            .analytics_jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        let attestation = |(v, h): &(OrgId, Hash)| pb::AnalyticsAttestation {
            validator: v.to_string(),
            result_hash: h.0.to_vec(),
        };
        Ok(Response::new(pb::GetAnalyticsQueryResponse {
            asker: q.asker.to_string(),
            subject: q.subject.to_string(),
            question: q.question.to_string(),
            height: q.height,
            inputs: q.inputs,
            results: q
                .results
                .iter()
                .map(|r| pb::AnalyticsResult {
                    result_hash: r.hash.0.to_vec(),
                    by: r.by.to_string(),
                    tx_hash: r.tx.0.to_vec(),
                })
                .collect(),
            attestations: q.attestations.iter().map(attestation).collect(),
            accepted: q.accepted.map(|h| h.0.to_vec()).unwrap_or_default(),
            answered: q.answer.is_some(),
            answer: q.answer.unwrap_or(false),
            validators,
            quorum: validators * 2 / 3 + 1,
            mismatches: q.mismatches().into_iter().map(attestation).collect(),
            job_done: job.as_ref().map(|j| j.done as u64).unwrap_or(0),
            job_total: job.as_ref().map(|j| j.total as u64).unwrap_or(0),
            job_step: job.map(|j| j.what).unwrap_or_default(),
        }))
    }

    async fn get_governance(
        &self,
        request: Request<pb::GetGovernanceRequest>,
    ) -> Result<Response<pb::GetGovernanceResponse>, Status> {
        let req = request.into_inner();
        let store = self.ledger.store.as_ref();
        let height = self.ledger.height();
        let params = ledger_state::governance_params(store).map_err(state_err)?;
        let next = ledger_state::next_proposal_id(store).map_err(state_err)?;
        let limit = match req.limit {
            0 => 100,
            n => (n as u64).min(1000),
        };
        let mut proposals = Vec::new();
        let mut id = req.from_proposal.max(1);
        while id < next && (proposals.len() as u64) < limit {
            if let Some(p) = ledger_state::proposal(store, id).map_err(state_err)? {
                let mut votes = Vec::new();
                for (g, _) in &params.governors {
                    if let Some(yes) = ledger_state::vote(store, id, g).map_err(state_err)? {
                        votes.push(pb::ProposalVote {
                            org: g.to_string(),
                            yes,
                        });
                    }
                }
                proposals.push(pb::ProposalInfo {
                    id,
                    proposer: p.proposer.to_string(),
                    tx_hash: p.tx_hash.0.to_vec(),
                    action: p.action.name().to_string(),
                    description: describe(&p.action),
                    deadline: p.deadline,
                    opened: p.opened,
                    yes_weight: p.yes,
                    no_weight: p.no,
                    status: p.status_at(height).to_string(),
                    closed: p.closed,
                    votes,
                });
            }
            id += 1;
        }
        Ok(Response::new(pb::GetGovernanceResponse {
            governors: params
                .governors
                .iter()
                .map(|(o, w)| pb::Governor {
                    org: o.to_string(),
                    weight: *w,
                })
                .collect(),
            quorum_pct: params.quorum_pct.into(),
            approval_pct: params.approval_pct.into(),
            max_open_blocks: params.max_open_blocks,
            total: next - 1,
            proposals,
            height,
        }))
    }

    async fn get_record(
        &self,
        request: Request<pb::GetRecordRequest>,
    ) -> Result<Response<pb::GetRecordResponse>, Status> {
        let req = request.into_inner();
        let id =
            RecordId::new(req.record_id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let store = self.ledger.store.as_ref();
        let head = record_head(store, &id)
            .map_err(state_err)?
            .ok_or_else(|| Status::not_found(format!("no record {id}")))?;
        let version = req.version.unwrap_or(head.latest_version);
        let v = record_version(store, &id, version)
            .map_err(state_err)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "record {id} has no version {version}; the latest is {}",
                    head.latest_version
                ))
            })?;
        let alerts = ledger_state::audit_alerts_page(store, &id, req.alerts_offset, RECORD_PAGE)
            .map_err(state_err)?;
        let checks = ledger_state::cross_checks_page(store, &id, req.checks_offset, RECORD_PAGE)
            .map_err(state_err)?;
        let (alerts_total, checks_total) = (alerts.total, checks.total);
        let (alerts, checks) = (alerts.entries, checks.entries);
        Ok(Response::new(pb::GetRecordResponse {
            record_id: id.to_string(),
            version: v.version,
            latest_version: head.latest_version,
            owner: v.owner.to_string(),
            tx_hash: v.tx_hash.0.to_vec(),
            height: v.height,
            fields: v.fields.iter().map(pb::RecordField::from).collect(),
            schema_id: v.schema.to_string(),
            schema_version: v.schema_version,
            wraps: v.wraps.iter().map(pb::KeyWrap::from).collect(),
            alerts: alerts
                .into_iter()
                .map(|a| pb::AuditAlert {
                    height: a.height,
                    tx_hash: a.tx_hash.0.to_vec(),
                    regulator: a.regulator.to_string(),
                    version: a.alert.version,
                    field: a.alert.field.to_string(),
                    owner: a.alert.owner.to_string(),
                    reason: a.alert.reason,
                })
                .collect(),
            checks: checks
                .into_iter()
                .map(|c| pb::CrossCheckInfo {
                    height: c.height,
                    tx_hash: c.tx_hash.0.to_vec(),
                    by: c.by.to_string(),
                    relation: match &c.check.relation {
                        ledger_types::Relation::Linear(k) => format!("linear {k:?}"),
                        ledger_types::Relation::AtMost => "at-most".into(),
                        ledger_types::Relation::Invoice => "invoice (zero-knowledge)".into(),
                        ledger_types::Relation::InvoiceLinked => {
                            "invoice-linked (zero-knowledge)".into()
                        }
                    },
                    operands: c
                        .check
                        .operands
                        .iter()
                        .map(|o| format!("{}@{}:{}", o.record, o.version, o.field))
                        .collect(),
                })
                .collect(),
            alerts_total,
            checks_total,
        }))
    }

    async fn get_access_history(
        &self,
        request: Request<pb::GetAccessHistoryRequest>,
    ) -> Result<Response<pb::GetAccessHistoryResponse>, Status> {
        let req = request.into_inner();
        let id =
            RecordId::new(req.record_id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let store = self.ledger.store.as_ref();
        let head = record_head(store, &id)
            .map_err(state_err)?
            .ok_or_else(|| Status::not_found(format!("no record {id}")))?;
        let limit = match req.limit {
            0 => RECORD_PAGE,
            n => n as usize,
        };
        let page =
            ledger_state::access_history_page(store, &id, req.offset, limit).map_err(state_err)?;
        Ok(Response::new(pb::GetAccessHistoryResponse {
            record_id: id.to_string(),
            owner: head.owner.to_string(),
            events: page.entries.into_iter().map(access_event).collect(),
            total: page.total,
        }))
    }

    async fn get_schema(
        &self,
        request: Request<pb::GetSchemaRequest>,
    ) -> Result<Response<pb::GetSchemaResponse>, Status> {
        let req = request.into_inner();
        let id =
            SchemaId::new(req.schema_id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let store = self.ledger.store.as_ref();
        let head = schema_head(store, &id)
            .map_err(state_err)?
            .ok_or_else(|| Status::not_found(format!("no schema {id}")))?;
        let version = req.version.unwrap_or(head.latest_version);
        let s = schema_version(store, &id, version)
            .map_err(state_err)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "schema {id} has no version {version}; the latest is {}",
                    head.latest_version
                ))
            })?;
        Ok(Response::new(pb::GetSchemaResponse {
            schema_id: id.to_string(),
            version,
            latest_version: head.latest_version,
            registrar: head.owner.to_string(),
            fields: s.fields.iter().map(pb::SchemaField::from).collect(),
            auditors: s.auditors.iter().map(ToString::to_string).collect(),
        }))
    }

    async fn get_endorsements(
        &self,
        request: Request<pb::GetEndorsementsRequest>,
    ) -> Result<Response<pb::GetEndorsementsResponse>, Status> {
        let req = request.into_inner();
        let topic = Topic::new(req.topic).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let limit = match req.limit {
            0 => 100,
            n => n.min(1000),
        };
        let (total, list) =
            endorsements(self.ledger.store.as_ref(), &topic, req.offset, limit.into())
                .map_err(state_err)?;
        Ok(Response::new(pb::GetEndorsementsResponse {
            topic: topic.to_string(),
            total,
            endorsements: list
                .into_iter()
                .map(|e| pb::Endorsement {
                    index: e.index,
                    tx_hash: e.tx_hash.0.to_vec(),
                    height: e.height,
                    statement_hash: e.statement.to_vec(),
                    key_image: e.key_image.to_vec(),
                    ring_height: e.ring_height,
                })
                .collect(),
        }))
    }
}

/// What a governance action does, in words.
pub(crate) fn describe(a: &ledger_types::Action) -> String {
    use ledger_types::Action;
    match a {
        Action::Suspend { org } => format!("suspend {org}"),
        Action::AddValidator { org, p2p, api } => {
            let mut d = format!("add {org} to the validators (two heights after passing)");
            if let Some(addr) = p2p {
                d.push_str(&format!(", its node at {addr}"));
            }
            if let Some(api) = api {
                d.push_str(&format!(", its API at {api}"));
            }
            d
        }
        Action::RemoveValidator { org } => {
            format!("remove {org} from the validators (two heights after passing)")
        }
        Action::Reinstate { org } => format!("reinstate {org}"),
        Action::RemoveMember { org } => format!("remove {org} from the consortium for good"),
        Action::RotateKey { org, rotation } => {
            format!("replace {org}'s {} key", rotation.kind.name())
        }
        Action::SetRoles { org, roles } => format!(
            "give {org} the roles {}",
            roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(",")
        ),
        Action::Admit {
            org, registration, ..
        } => {
            match ledger_types::Transaction::decode(registration).map(|t| t.body().payload.clone())
            {
                Ok(ledger_types::Payload::RegisterMember(m)) => format!(
                    "admit {org} with the roles {}",
                    m.roles
                        .iter()
                        .map(|r| r.name())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                _ => format!("admit {org}"),
            }
        }
        Action::SetGovernance(p) => format!(
            "governors {}; quorum {}%, approval {}%, open at most {} blocks",
            p.governors
                .iter()
                .map(|(o, w)| format!("{o}={w}"))
                .collect::<Vec<_>>()
                .join(","),
            p.quorum_pct,
            p.approval_pct,
            p.max_open_blocks
        ),
    }
}

/// The default page of a record's histories (access events, alerts, checks).
const RECORD_PAGE: usize = 100;
/// Most transactions one `SubmitTxs` call carries.
pub const MAX_SUBMIT_BATCH: usize = 1024;

/// An access event as the API shows it.
pub fn access_event(e: ledger_state::AccessEvent) -> pb::AccessEvent {
    pb::AccessEvent {
        height: e.height,
        tx_hash: e.tx_hash.0.to_vec(),
        action: e.action.name().to_string(),
        by: e.by.to_string(),
        org: e.org.to_string(),
        version: e.version,
        fields: e.fields.iter().map(ToString::to_string).collect(),
    }
}
