//! The block explorer: a read-only web page the node serves on its own port
//! (`--explorer-listen`, `[explorer] listen`; docs/explorer.md), over a JSON API of public
//! data only.
//!
//! Every answer is built from what the public gRPC API answers (the same handlers, called
//! in process) or from committed blocks and state, so the explorer shows nothing a member's
//! client could not already read: ciphertext sizes, who holds a key to which field, proofs'
//! kinds and sizes, checks, alerts, access history, members, validators and their
//! signatures. It never holds a key and never decrypts.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ledger_api::v1 as pb;
use ledger_api::v1::ledger_server::Ledger as _;
use ledger_core::Ledger;
use ledger_types::{Block, BlockOutline, Hash, OrgId, Payload, Transaction};
use serde_json::{json, Value};
use tokio::sync::watch;
use tonic::Request;

use crate::gateway::{Gateway, GatewayService};
use crate::service::LedgerService;

/// The page: one HTML file with its script, served at `/`.
const INDEX: &str = include_str!("explorer/index.html");

/// Most blocks, records or members one listing returns.
const MAX_LIST: usize = 100;
/// Most transactions of a block one answer lists.
const MAX_BLOCK_TXS: usize = 500;
/// How many recent blocks the validators' signing record covers.
const SIGNING_WINDOW: u64 = 100;

#[derive(Clone)]
struct App {
    ledger: Arc<Ledger>,
    api: Arc<LedgerService>,
    /// The organisation's gateway, for its clients' private views (loopback only).
    gateway: Option<Arc<Gateway>>,
}

/// An error as the page shows it: the status and the reason.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        let code = match s.code() {
            tonic::Code::NotFound => StatusCode::NOT_FOUND,
            tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
            tonic::Code::ResourceExhausted | tonic::Code::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(code, s.message().to_string())
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, e.to_string())
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Serves the explorer on `addr` until shutdown (an error of the server is logged). With
/// the organisation's `gateway` and a loopback address, the gateway's clients also get
/// their private views (`/api/private/...`, with their gateway credential).
pub async fn spawn_explorer(
    addr: SocketAddr,
    ledger: Arc<Ledger>,
    gateway: Option<Arc<Gateway>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, ledger_core::NodeError> {
    let listener = crate::server::bind(addr, "explorer").await?;
    let private = gateway.filter(|_| addr.ip().is_loopback());
    if !addr.ip().is_loopback() {
        tracing::info!(explorer = %addr, "the explorer is not on a loopback address: private views are off");
    }
    let app = router(ledger, private, shutdown.clone());
    tracing::info!(explorer = %addr, "block explorer listening");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
        {
            tracing::warn!(error = %e, "explorer ended with an error");
        }
    }))
}

/// The explorer's routes over `ledger` (and the private views through `gateway`).
pub fn router(
    ledger: Arc<Ledger>,
    gateway: Option<Arc<Gateway>>,
    shutdown: watch::Receiver<bool>,
) -> Router {
    let api = Arc::new(LedgerService::new(ledger.clone(), shutdown));
    Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route("/api/status", get(status))
        .route("/api/blocks", get(blocks))
        .route("/api/block/{height}", get(block))
        .route("/api/tx/{hash}", get(tx))
        .route("/api/txs", get(txs))
        .route("/api/records", get(records))
        .route("/api/record/{id}", get(record))
        .route("/api/schemas", get(schemas))
        .route("/api/schema/{id}", get(schema))
        .route("/api/members", get(members))
        .route("/api/validators", get(validators))
        .route("/api/governance", get(governance))
        .route("/api/endorsements", get(endorsement_topics))
        .route("/api/endorsements/{topic}", get(endorsements))
        .route("/api/alerts", get(alerts))
        .route("/api/analytics", get(analytics))
        .route("/api/analytics/{id}", get(analytics_query))
        .route("/api/private/whoami", get(whoami))
        .route("/api/private/record/{id}", get(private_record))
        .route("/api/private/audit-log", get(audit_log))
        .with_state(App {
            ledger,
            api,
            gateway,
        })
}

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

async fn status(State(app): State<App>) -> ApiResult {
    let s = app
        .api
        .get_status(Request::new(pb::GetStatusRequest {}))
        .await?
        .into_inner();
    Ok(Json(json!({
        "chain_id": s.chain_id,
        "org": s.org,
        "role": s.role,
        "peers": s.peers,
        "height": s.height,
        "last_block_hash": hex(&s.last_block_hash),
        "last_block_time_ms": s.last_block_time_ms,
        "last_commit_time_ms": s.last_commit_time_ms,
        "round": s.round,
        "last_commit_signatures": s.last_commit_signatures,
        "validators": s.validators,
        "mempool_txs": s.mempool_txs,
        "mempool_bytes": s.mempool_bytes,
        "node_version": s.node_version,
        "genesis_hash": hex(&s.genesis_hash),
        "crypto_suite": s.crypto_suite,
        "crypto_algorithms": ledger_types::CryptoSuite::from_name(&s.crypto_suite)
            .map(|c| c.describe())
            .unwrap_or_default(),
    })))
}

fn load_block(app: &App, height: u64) -> Result<Block, ApiError> {
    app.ledger
        .store
        .block(height)
        .map_err(internal)?
        .ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("no block at height {height}"),
            )
        })
}

/// Block `height`'s outline (no transaction decoded), if committed.
fn load_outline(app: &App, height: u64) -> Result<Option<BlockOutline>, ApiError> {
    match app.ledger.store.block_bytes(height).map_err(internal)? {
        None => Ok(None),
        Some(b) => Block::outline(&b).map(Some).map_err(internal),
    }
}

fn outline_summary(b: &BlockOutline) -> Value {
    summary(&b.header, &b.hash, b.txs, b.tx_bytes, &b.commit)
}

fn block_summary(b: &Block) -> Value {
    let bytes = b.txs.iter().map(Transaction::len).sum();
    summary(b.header(), &b.hash(), b.txs.len(), bytes, &b.commit)
}

fn summary(
    h: &ledger_types::BlockHeader,
    hash: &Hash,
    txs: usize,
    bytes: usize,
    commit: &ledger_types::Commit,
) -> Value {
    json!({
        "height": h.height,
        "hash": hex(hash.as_bytes()),
        "time_ms": h.timestamp_ms,
        "proposer": h.proposer.to_string(),
        "txs": txs,
        "bytes": bytes,
        "round": commit.round,
        "signatures": commit.signatures.len(),
    })
}

#[derive(serde::Deserialize)]
struct Page {
    /// Listings: the highest height (blocks), or the last key seen (records, members).
    before: Option<u64>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn blocks(State(app): State<App>, Query(p): Query<Page>) -> ApiResult {
    let tip = app.ledger.height();
    let top = p.before.map_or(tip, |b| b.min(tip));
    let limit = p.limit.unwrap_or(20).clamp(1, MAX_LIST) as u64;
    let mut out = Vec::new();
    let mut h = top;
    loop {
        if let Some(b) = load_outline(&app, h)? {
            out.push(outline_summary(&b));
        }
        if h == 0 || out.len() as u64 >= limit {
            break;
        }
        h -= 1;
    }
    Ok(Json(json!({ "tip": tip, "blocks": out })))
}

async fn block(State(app): State<App>, Path(height): Path<String>) -> ApiResult {
    let height: u64 = height
        .parse()
        .map_err(|_| bad(format!("{height:?} is not a height")))?;
    let b = load_block(&app, height)?;
    let h = b.header();
    let mut txs = Vec::new();
    for t in b.txs.iter().take(MAX_BLOCK_TXS) {
        let body = t.body();
        txs.push(json!({
            "hash": hex(t.hash().as_bytes()),
            "kind": body.payload.kind().name(),
            "signer": body.signer.to_string(),
            "bytes": t.len(),
            "subject": subject(&body.payload),
        }));
    }
    Ok(Json(json!({
        "block": block_summary(&b),
        "chain_id": h.chain_id.to_string(),
        "prev_hash": hex(h.prev_hash.as_bytes()),
        "tx_root": hex(h.tx_root.as_bytes()),
        "state_root": hex(h.state_root.as_bytes()),
        "commit": {
            "round": b.commit.round,
            "signatures": b.commit.signatures.iter().map(|s| json!({
                "validator": s.validator.to_string(),
                "signature": hex(&s.signature.0),
            })).collect::<Vec<_>>(),
        },
        "txs": txs,
        "txs_shown": b.txs.len().min(MAX_BLOCK_TXS),
    })))
}

/// The record, schema or organisation a payload is about, for listings.
fn subject(p: &Payload) -> Value {
    match p {
        Payload::PutRecord(x) => json!({"record": x.record.to_string(), "version": x.version}),
        Payload::RevokeAccess(x) => {
            json!({"record": x.put.record.to_string(), "version": x.put.version})
        }
        Payload::GrantAccess(x) => json!({"record": x.record.to_string(), "version": x.version}),
        Payload::AuditAlert(x) => json!({"record": x.record.to_string(), "version": x.version}),
        Payload::FinanceRequest(x) => {
            json!({"record": x.invoice.record.to_string(), "version": x.invoice.version})
        }
        Payload::CrossCheck(x) => json!({
            "record": x.operands.first().map(|o| o.record.to_string()),
            "version": x.operands.first().map(|o| o.version),
        }),
        Payload::RegisterSchema(x) => json!({"schema": x.schema.to_string()}),
        Payload::RegisterMember(x) => json!({"org": x.org.to_string()}),
        _ => Value::Null,
    }
}

/// What the ledger shows of a payload: names, sizes, readers, proof kinds; never a
/// plaintext (the ledger holds none).
fn payload_view(p: &Payload) -> Value {
    match p {
        Payload::PutRecord(x) => put_view(x),
        Payload::RevokeAccess(x) => json!({
            "from": x.from.to_string(),
            "fields": x.fields.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "new_version": put_view(&x.put),
        }),
        Payload::GrantAccess(x) => json!({
            "record": x.record.to_string(),
            "version": x.version,
            "wraps": x.wraps.iter().map(|w| json!({"field": w.field.to_string(), "reader": w.reader.to_string()})).collect::<Vec<_>>(),
        }),
        Payload::RegisterSchema(x) => json!({
            "schema": x.schema.to_string(),
            "version": x.version,
            "document": x.document.map(|d| d.name()),
            "auditors": x.auditors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "fields": x.fields.iter().map(|f| json!({
                "name": f.name.to_string(), "type": f.ty.name(), "required": f.required,
                "committed": f.committed, "fhe": f.fhe,
            })).collect::<Vec<_>>(),
        }),
        Payload::CrossCheck(x) => json!({
            "relation": format!("{:?}", x.relation),
            "operands": x.operands.iter().map(|o| json!({"record": o.record.to_string(), "version": o.version, "field": o.field.to_string()})).collect::<Vec<_>>(),
            "proof_bytes": x.proof.len(),
        }),
        Payload::AuditAlert(x) => json!({
            "record": x.record.to_string(), "version": x.version, "field": x.field.to_string(),
            "owner": x.owner.to_string(), "reason": x.reason,
        }),
        Payload::FinanceRequest(x) => json!({
            "invoice": {"record": x.invoice.record.to_string(), "version": x.invoice.version},
            "order": {"record": x.order.record.to_string(), "version": x.order.version},
            "delivery": {"record": x.delivery.record.to_string(), "version": x.delivery.version},
            "bank": x.bank.to_string(),
            "nullifier": hex(&x.nullifier),
            "proof_bytes": x.proof.len(),
            "encrypted_amount_bytes": x.amount.len(),
        }),
        Payload::Analytics(a) => match a {
            ledger_types::Analytics::Ask { subject, question } => json!({
                "step": "ask", "subject": subject.to_string(), "question": question.to_string(),
            }),
            ledger_types::Analytics::Result { query, result } => json!({
                "step": "result", "query": hex(query.as_bytes()), "result_bytes": result.len(),
            }),
            ledger_types::Analytics::Attest { query, result_hash } => json!({
                "step": "attest", "query": hex(query.as_bytes()), "result_hash": hex(result_hash.as_bytes()),
            }),
            ledger_types::Analytics::Answer { query, answer } => json!({
                "step": "answer", "query": hex(query.as_bytes()), "answer": answer,
            }),
        },
        Payload::Govern(g) => match g {
            ledger_types::Govern::Propose { action, deadline } => json!({
                "step": "propose", "action": action.name(), "description": crate::service::describe(action), "deadline": deadline,
            }),
            ledger_types::Govern::Vote { proposal, yes } => {
                json!({"step": "vote", "proposal": proposal, "yes": yes})
            }
            ledger_types::Govern::Revoke { proposal } => {
                json!({"step": "revoke", "proposal": proposal})
            }
        },
        Payload::Endorse(e) => json!({
            "topic": e.topic.to_string(),
            "statement_hash": hex(&e.statement),
            "ring_height": e.ring_height,
            "signature_bytes": e.signature.len(),
        }),
        Payload::RegisterMember(m) => json!({
            "org": m.org.to_string(),
            "roles": m.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "signing_key": m.signing_key.to_text(),
        }),
        _ => json!({}),
    }
}

fn put_view(x: &ledger_types::PutRecord) -> Value {
    json!({
        "record": x.record.to_string(),
        "version": x.version,
        "schema": x.schema.to_string(),
        "schema_version": x.schema_version,
        "fields": x.fields.iter().map(|f| json!({
            "name": f.name.to_string(),
            "sealed_bytes": f.sealed.len(),
            "readers": x.readers(&f.name).map(ToString::to_string).collect::<Vec<_>>(),
            "committed": x.commitment(&f.name).is_some(),
            "fhe": x.fhe_amounts.iter().any(|a| a.field == f.name),
        })).collect::<Vec<_>>(),
        "range_proof_bytes": x.range_proof.as_ref().map(|p| p.proof.len()),
        "audit_handles": x.audit_handles.iter().map(|h| json!({"field": h.field.to_string(), "auditor": h.auditor.to_string()})).collect::<Vec<_>>(),
        "document_commitment": x.document_commitment.map(|c| hex(&c)),
    })
}

/// Most blocks one transaction listing looks through.
const TXS_SCAN_BLOCKS: u64 = 2000;

#[derive(serde::Deserialize)]
struct TxsQuery {
    kind: Option<String>,
    before: Option<u64>,
    limit: Option<usize>,
}

/// Recent transactions, newest first, of one kind or all, from block `before` down: at
/// most `limit`, looking through at most 2,000 blocks (empty blocks are skipped without
/// decoding); `next_before` continues the listing.
async fn txs(State(app): State<App>, Query(q): Query<TxsQuery>) -> ApiResult {
    let tip = app.ledger.height();
    let top = q.before.map_or(tip, |b| b.min(tip));
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIST);
    let kind = q.kind.filter(|k| !k.is_empty());
    let mut out = Vec::new();
    let mut h = top;
    let floor = top.saturating_sub(TXS_SCAN_BLOCKS);
    let next = loop {
        if out.len() >= limit {
            break Some(h);
        }
        if h <= floor || h == 0 {
            break (h > 0).then_some(h);
        }
        let busy = load_outline(&app, h)?.is_some_and(|o| o.txs > 0);
        if busy {
            let b = load_block(&app, h)?;
            for (i, t) in b.txs.iter().enumerate().rev() {
                let body = t.body();
                let name = body.payload.kind().name();
                if kind.as_deref().is_some_and(|k| k != name) {
                    continue;
                }
                out.push(json!({
                    "hash": hex(t.hash().as_bytes()), "kind": name, "signer": body.signer.to_string(),
                    "height": h, "index": i, "bytes": t.len(), "subject": subject(&body.payload),
                }));
            }
        }
        h -= 1;
    };
    Ok(Json(json!({
        "txs": out,
        "next_before": next,
        "kinds": ledger_types::TxKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>(),
    })))
}

fn parse_hash(s: &str) -> Result<Hash, ApiError> {
    Hash::from_hex(s).ok_or_else(|| bad(format!("{s:?} is not a 32-byte hex hash")))
}

async fn tx(State(app): State<App>, Path(hash): Path<String>) -> ApiResult {
    let h = parse_hash(&hash)?;
    let r = app
        .api
        .get_tx(Request::new(pb::GetTxRequest {
            tx_hash: h.0.to_vec(),
        }))
        .await?
        .into_inner();
    let t = Transaction::decode(&r.tx).map_err(internal)?;
    let status = match pb::TxStatus::try_from(r.status) {
        Ok(pb::TxStatus::Pending) => "pending",
        Ok(pb::TxStatus::Committed) => "committed",
        Ok(pb::TxStatus::Failed) => "committed without effect",
        _ => "unknown",
    };
    Ok(Json(json!({
        "hash": hex(h.as_bytes()),
        "kind": r.kind,
        "signer": r.signer,
        "nonce": r.nonce,
        "status": status,
        "failure": r.failure,
        "height": r.height,
        "index": r.index,
        "bytes": t.len(),
        "subject": subject(&t.body().payload),
        "payload": payload_view(&t.body().payload),
    })))
}

/// Keys under `prefix` whose rest is one identifier (not a sub-key), from `after`.
fn scan_ids(
    app: &App,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let after_key = after.map(|a| format!("{prefix}{a}"));
    let mut out = Vec::new();
    let mut cursor = after_key.map(String::into_bytes);
    // Sub-keys (versions, lists) sort right after their head: skip them page by page.
    while out.len() < limit {
        let page = app
            .ledger
            .store
            .state_scan(prefix.as_bytes(), cursor.as_deref(), 256)
            .map_err(internal)?;
        let Some((last, _)) = page.last() else { break };
        cursor = Some(last.clone());
        for (k, v) in page {
            let rest = &k[prefix.len()..];
            if !rest.contains(&b'/') && out.len() < limit {
                out.push((String::from_utf8_lossy(rest).into_owned(), v));
            }
        }
    }
    Ok(out)
}

async fn records(State(app): State<App>, Query(p): Query<Page>) -> ApiResult {
    let limit = p.limit.unwrap_or(50).clamp(1, MAX_LIST);
    let mut out = Vec::new();
    for (id, _) in scan_ids(&app, "record/", p.after.as_deref(), limit)? {
        let Ok(rid) = ledger_types::RecordId::new(id.clone()) else {
            continue;
        };
        if let Some(h) =
            ledger_state::record_head(app.ledger.store.as_ref(), &rid).map_err(internal)?
        {
            out.push(json!({"record": id, "owner": h.owner.to_string(), "latest_version": h.latest_version}));
        }
    }
    Ok(Json(json!({ "records": out })))
}

#[derive(serde::Deserialize)]
struct VersionQuery {
    version: Option<u32>,
}

async fn record(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult {
    let r = app
        .api
        .get_record(Request::new(pb::GetRecordRequest {
            record_id: id.clone(),
            version: q.version,
            ..Default::default()
        }))
        .await?
        .into_inner();
    let h = app
        .api
        .get_access_history(Request::new(pb::GetAccessHistoryRequest {
            record_id: id.clone(),
            ..Default::default()
        }))
        .await?
        .into_inner();
    let rid = ledger_types::RecordId::new(id.clone()).map_err(bad)?;
    let mut versions = Vec::new();
    for v in 1..=r.latest_version {
        if let Some(rv) =
            ledger_state::record_version(app.ledger.store.as_ref(), &rid, v).map_err(internal)?
        {
            versions
                .push(json!({"version": v, "height": rv.height, "tx": hex(rv.tx_hash.as_bytes())}));
        }
    }
    let fields: Vec<Value> = r
        .fields
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "sealed_bytes": f.sealed.len(),
                "readers": r.wraps.iter().filter(|w| w.field == f.name).map(|w| w.reader.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "record": r.record_id,
        "version": r.version,
        "latest_version": r.latest_version,
        "owner": r.owner,
        "schema": r.schema_id,
        "schema_version": r.schema_version,
        "tx": hex(&r.tx_hash),
        "height": r.height,
        "fields": fields,
        "versions": versions,
        "checks": r.checks.iter().map(|c| json!({
            "height": c.height, "tx": hex(&c.tx_hash), "by": c.by, "relation": c.relation, "operands": c.operands,
        })).collect::<Vec<_>>(),
        "checks_total": r.checks_total,
        "alerts": r.alerts.iter().map(|a| json!({
            "height": a.height, "tx": hex(&a.tx_hash), "regulator": a.regulator, "version": a.version,
            "field": a.field, "reason": a.reason,
        })).collect::<Vec<_>>(),
        "alerts_total": r.alerts_total,
        "access": h.events.iter().map(|e| json!({
            "height": e.height, "tx": hex(&e.tx_hash), "action": e.action, "by": e.by, "org": e.org,
            "version": e.version, "fields": e.fields,
        })).collect::<Vec<_>>(),
        "access_total": h.total,
    })))
}

async fn schemas(State(app): State<App>, Query(p): Query<Page>) -> ApiResult {
    let limit = p.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let mut out = Vec::new();
    for (id, _) in scan_ids(&app, "schema/", p.after.as_deref(), limit)? {
        let Ok(sid) = ledger_types::SchemaId::new(id.clone()) else {
            continue;
        };
        let store = app.ledger.store.as_ref();
        if let Some(h) = ledger_state::schema_head(store, &sid).map_err(internal)? {
            let s =
                ledger_state::schema_version(store, &sid, h.latest_version).map_err(internal)?;
            out.push(json!({
                "schema": id,
                "registrar": h.owner.to_string(),
                "latest_version": h.latest_version,
                "document": s.as_ref().and_then(|s| s.document.map(|d| d.name())),
                "fields": s.as_ref().map_or(0, |s| s.fields.len()),
            }));
        }
    }
    Ok(Json(json!({ "schemas": out })))
}

async fn schema(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult {
    let s = app
        .api
        .get_schema(Request::new(pb::GetSchemaRequest {
            schema_id: id,
            version: q.version,
        }))
        .await?
        .into_inner();
    Ok(Json(json!({
        "schema": s.schema_id,
        "version": s.version,
        "latest_version": s.latest_version,
        "registrar": s.registrar,
        "auditors": s.auditors,
        "fields": s.fields.iter().map(|f| json!({
            "name": f.name, "type": f.r#type, "values": f.values, "required": f.required,
            "committed": f.committed, "fhe": f.fhe,
        })).collect::<Vec<_>>(),
    })))
}

async fn members(State(app): State<App>, Query(p): Query<Page>) -> ApiResult {
    let limit = p.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let store = app.ledger.store.as_ref();
    let validators = ledger_state::validators(store).map_err(internal)?;
    let mut out = Vec::new();
    for (id, _) in scan_ids(&app, "member/", p.after.as_deref(), limit)? {
        let Ok(org) = OrgId::new(id.clone()) else {
            continue;
        };
        let Some(m) = ledger_state::member(store, &org).map_err(internal)? else {
            continue;
        };
        out.push(json!({
            "org": id,
            "roles": m.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            "validator": validators.contains(&org),
            "signing_key": m.signing_key.to_text(),
            "audit_key": !m.audit_key.is_empty(),
            "ring_key": !m.ring_key.is_empty(),
            "suspended": ledger_state::suspension(store, &org).map_err(internal)?.is_some(),
            "removed": ledger_state::removal(store, &org).map_err(internal)?.is_some(),
        }));
    }
    Ok(Json(json!({ "members": out })))
}

async fn validators(State(app): State<App>) -> ApiResult {
    let store = app.ledger.store.as_ref();
    let tip = app.ledger.height();
    let set = ledger_state::validator_set_at(store, tip + 1).map_err(internal)?;
    let from = tip.saturating_sub(SIGNING_WINDOW - 1).max(1);
    let mut signed: std::collections::BTreeMap<String, (u64, u64)> =
        set.iter().map(|v| (v.to_string(), (0, 0))).collect();
    let mut blocks = 0u64;
    let mut last = None;
    for h in from..=tip {
        let Some(b) = load_outline(&app, h)? else {
            continue;
        };
        blocks += 1;
        if let Some(e) = signed.get_mut(b.header.proposer.as_str()) {
            e.1 += 1;
        }
        for s in &b.commit.signatures {
            if let Some(e) = signed.get_mut(s.validator.as_str()) {
                e.0 += 1;
            }
        }
        last = Some(b);
    }
    Ok(Json(json!({
        "height": tip,
        "window": blocks,
        "validators": signed.into_iter().map(|(v, (n, proposed))| json!({
            "validator": v,
            "api": OrgId::new(v.clone()).ok().and_then(|o| ledger_state::validator_api(store, &o).ok().flatten()),
            "signed": n,
            "proposed": proposed,
            "signed_last": last.as_ref().is_some_and(|b| b.commit.signatures.iter().any(|s| s.validator.as_str() == v)),
        })).collect::<Vec<_>>(),
    })))
}

async fn governance(State(app): State<App>) -> ApiResult {
    let g = app
        .api
        .get_governance(Request::new(pb::GetGovernanceRequest::default()))
        .await?
        .into_inner();
    Ok(Json(json!({
        "governors": g.governors.iter().map(|x| json!({"org": x.org, "weight": x.weight})).collect::<Vec<_>>(),
        "quorum_pct": g.quorum_pct,
        "approval_pct": g.approval_pct,
        "max_open_blocks": g.max_open_blocks,
        "total": g.total,
        "proposals": g.proposals.iter().map(|p| json!({
            "id": p.id, "proposer": p.proposer, "tx": hex(&p.tx_hash), "action": p.action,
            "description": p.description, "deadline": p.deadline, "opened": p.opened,
            "yes_weight": p.yes_weight, "no_weight": p.no_weight, "status": p.status, "closed": p.closed,
            "votes": p.votes.iter().map(|v| json!({"org": v.org, "yes": v.yes})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })))
}

/// The topics members endorsed anonymously, with how many endorsements each has.
async fn endorsement_topics(State(app): State<App>, Query(p): Query<Page>) -> ApiResult {
    let limit = p.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let topics: Vec<Value> = scan_ids(&app, "endorse/", p.after.as_deref(), limit)?
        .into_iter()
        .map(|(topic, count)| {
            let n = <[u8; 8]>::try_from(count.as_slice()).map_or(0, u64::from_be_bytes);
            json!({"topic": topic, "endorsements": n})
        })
        .collect();
    Ok(Json(json!({ "topics": topics })))
}

async fn endorsements(State(app): State<App>, Path(topic): Path<String>) -> ApiResult {
    let e = app
        .api
        .get_endorsements(Request::new(pb::GetEndorsementsRequest {
            topic,
            ..Default::default()
        }))
        .await?
        .into_inner();
    Ok(Json(json!({
        "topic": e.topic,
        "total": e.total,
        "endorsements": e.endorsements.iter().map(|x| json!({
            "index": x.index, "tx": hex(&x.tx_hash), "height": x.height,
            "statement_hash": hex(&x.statement_hash), "key_image": hex(&x.key_image),
        })).collect::<Vec<_>>(),
    })))
}

/// Regulators' alerts across records (the records with alerts, from `after`), newest
/// first.
async fn alerts(State(app): State<App>, Query(p): Query<Page>) -> ApiResult {
    let limit = p.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let store = app.ledger.store.as_ref();
    let mut out = Vec::new();
    for (id, _) in scan_ids(&app, "alerts-count/", p.after.as_deref(), limit)? {
        let Ok(rid) = ledger_types::RecordId::new(id.clone()) else {
            continue;
        };
        for a in ledger_state::audit_alerts(store, &rid).map_err(internal)? {
            out.push((
                a.height,
                json!({
                    "record": id, "version": a.alert.version, "field": a.alert.field.to_string(),
                    "owner": a.alert.owner.to_string(), "regulator": a.regulator.to_string(),
                    "reason": a.alert.reason, "height": a.height, "tx": hex(a.tx_hash.as_bytes()),
                }),
            ));
        }
    }
    out.sort_by_key(|a| std::cmp::Reverse(a.0));
    Ok(Json(
        json!({ "alerts": out.into_iter().map(|(_, v)| v).collect::<Vec<_>>() }),
    ))
}

async fn analytics(State(app): State<App>, Query(p): Query<Page>) -> ApiResult {
    let limit = p.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST);
    let after = p
        .after
        .as_deref()
        .map(parse_hash)
        .transpose()?
        .map(|h| [b"analytics/query/".as_slice(), h.as_bytes()].concat());
    let page = app
        .ledger
        .store
        .state_scan(b"analytics/query/", after.as_deref(), limit)
        .map_err(internal)?;
    let mut out = Vec::new();
    for (k, _) in page {
        let Some(id) = Hash::from_slice(&k[b"analytics/query/".len()..]) else {
            continue;
        };
        if let Some(q) =
            ledger_state::analytics_query(app.ledger.store.as_ref(), &id).map_err(internal)?
        {
            out.push(json!({
                "query": hex(id.as_bytes()),
                "asker": q.asker.to_string(),
                "subject": q.subject.to_string(),
                "question": q.question.to_string(),
                "height": q.height,
                "inputs": q.inputs,
                "attestations": q.attestations.len(),
                "accepted": q.accepted.is_some(),
                "answer": q.answer,
            }));
        }
    }
    Ok(Json(json!({ "queries": out })))
}

async fn analytics_query(State(app): State<App>, Path(id): Path<String>) -> ApiResult {
    let id = parse_hash(&id)?;
    let q = app
        .api
        .get_analytics_query(Request::new(pb::GetAnalyticsQueryRequest {
            query: id.0.to_vec(),
        }))
        .await?
        .into_inner();
    let att = |a: &pb::AnalyticsAttestation| json!({"validator": a.validator, "result_hash": hex(&a.result_hash)});
    Ok(Json(json!({
        "query": hex(id.as_bytes()),
        "asker": q.asker,
        "subject": q.subject,
        "question": q.question,
        "height": q.height,
        "inputs": q.inputs,
        "results": q.results.iter().map(|r| json!({"result_hash": hex(&r.result_hash), "by": r.by, "tx": hex(&r.tx_hash)})).collect::<Vec<_>>(),
        "attestations": q.attestations.iter().map(att).collect::<Vec<_>>(),
        "mismatches": q.mismatches.iter().map(att).collect::<Vec<_>>(),
        "accepted": hex(&q.accepted),
        "answered": q.answered,
        "answer": q.answered.then_some(q.answer),
        "validators": q.validators,
        "quorum": q.quorum,
        "job": {"done": q.job_done, "total": q.job_total, "step": q.job_step},
    })))
}

/// The gateway for a private view, and the caller's credential as gRPC metadata.
fn private<T>(
    app: &App,
    headers: &axum::http::HeaderMap,
    message: T,
) -> Result<(Arc<Gateway>, Request<T>), ApiError> {
    let Some(g) = app.gateway.clone() else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "private views are served only by an explorer on a loopback address of a node with a gateway".into(),
        ));
    };
    let mut req = Request::new(message);
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| tonic::metadata::MetadataValue::try_from(v).ok())
    {
        req.metadata_mut().insert(ledger_api::AUTHORIZATION_KEY, v);
    }
    Ok((g, req))
}

fn private_error(s: tonic::Status) -> ApiError {
    if s.code() == tonic::Code::Unauthenticated {
        ApiError(StatusCode::UNAUTHORIZED, s.message().to_string())
    } else {
        s.into()
    }
}

async fn whoami(State(app): State<App>, headers: axum::http::HeaderMap) -> ApiResult {
    let (g, req) = private(&app, &headers, ())?;
    let (org, client) = g.whoami(&req).map_err(private_error)?;
    let m = ledger_state::member(app.ledger.store.as_ref(), &org).map_err(internal)?;
    Ok(Json(json!({
        "org": org.to_string(),
        "client": client,
        "roles": m.map(|m| m.roles.iter().map(|r| r.name()).collect::<Vec<_>>()).unwrap_or_default(),
    })))
}

/// A record as the caller's organisation reads it: the fields it may read decrypted (a
/// regulator's reads under an audit policy are written to its audit log, as through the
/// gateway), and who holds a key to each field.
async fn private_record(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult {
    use ledger_api::v1::gateway_server::Gateway as _;
    let (g, req) = private(
        &app,
        &headers,
        pb::ReadRecordRequest {
            record_id: id.clone(),
            version: q.version,
            fields: vec![],
        },
    )?;
    let svc = GatewayService(g.clone());
    let read = svc
        .read_record(req)
        .await
        .map_err(private_error)?
        .into_inner();
    let (_, req) = private(&app, &headers, pb::ListGrantsRequest { record_id: id })?;
    let grants = svc
        .list_grants(req)
        .await
        .map_err(private_error)?
        .into_inner();
    Ok(Json(json!({
        "record": read.record_id,
        "version": read.version,
        "latest_version": read.latest_version,
        "owner": read.owner,
        "schema": read.schema_id,
        "schema_version": read.schema_version,
        "audit_read": read.audit_read,
        "fields": read.fields.iter().map(|f| json!({
            "name": f.name,
            "type": f.r#type,
            "access": match pb::FieldAccess::try_from(f.access) {
                Ok(pb::FieldAccess::Readable) => "readable",
                Ok(pb::FieldAccess::NotAuthorised) => "not authorised",
                Ok(pb::FieldAccess::Unreadable) => "unreadable",
                _ => "unknown",
            },
            "value": f.value,
            "error": f.error,
        })).collect::<Vec<_>>(),
        "readers": grants.readers.iter().map(|r| json!({"field": r.field, "readers": r.readers})).collect::<Vec<_>>(),
    })))
}

/// The organisation's audit log (a regulator's reads under audit policies), checked.
async fn audit_log(State(app): State<App>, headers: axum::http::HeaderMap) -> ApiResult {
    let (g, req) = private(&app, &headers, ())?;
    let (entries, v) = g.audit_entries(&req).map_err(private_error)?;
    Ok(Json(json!({
        "intact_entries": v.entries,
        "torn_bytes": v.torn_bytes,
        "entries": entries.iter().rev().take(500).map(|e| json!({
            "seq": e.seq, "time_ms": e.read.time_ms, "client": e.read.client, "record": e.read.record,
            "version": e.read.version, "owner": e.read.owner, "field": e.read.field, "hash": e.hash,
        })).collect::<Vec<_>>(),
    })))
}
