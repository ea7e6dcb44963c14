//! The core's ways of reaching other nodes ([`ledger_core::transport`]) over their public
//! gRPC API.

use std::sync::Arc;

use async_trait::async_trait;
use ledger_api::v1 as pb;
use ledger_api::v1::ledger_client::LedgerClient;
use ledger_core::transport::{BlockStream, UpstreamStatus};
use ledger_core::{BlockSource, NodeError, Relay, RemoteRefusal, Upstream};
use ledger_tls::ClientTls;
use ledger_types::{Hash, OrgId};
use tonic::transport::Channel;

use crate::status::remote_refusal;

/// The other validators' APIs as relays and as block sources.
pub type ValidatorApis = (Vec<Arc<dyn Relay>>, Vec<Arc<dyn BlockSource>>);

/// Another node's public API, connected lazily (the first call connects; a node that is
/// down is retried at each call).
#[derive(Clone)]
pub struct PeerApi {
    url: String,
    client: LedgerClient<Channel>,
}

impl PeerApi {
    /// The API at `url`: `http://host:port`, or `https://host:port` for mutual TLS,
    /// presenting `tls`'s certificate.
    pub fn new(url: &str, tls: Option<&ClientTls>) -> Result<Self, NodeError> {
        let channel = ledger_tls::channel_lazy(url, tls).map_err(NodeError::Fatal)?;
        let client = LedgerClient::new(channel)
            .max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(ledger_api::MAX_MESSAGE_BYTES);
        Ok(Self {
            url: url.to_string(),
            client,
        })
    }

    /// `org`'s member entry as that node's committed state has it (`None`: not a member).
    pub async fn member(
        &self,
        org: &OrgId,
    ) -> Result<Option<ledger_types::RegisterMember>, String> {
        let mut c = self.client.clone();
        let m = match c
            .get_member(pb::GetMemberRequest {
                org: org.to_string(),
            })
            .await
        {
            Ok(m) => m.into_inner(),
            Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
            Err(s) => return Err(format!("{}: {}", self.url, s.message())),
        };
        let bad = |what: &str| format!("{} answered a malformed {what} for {org}", self.url);
        let mut roles = m
            .roles
            .iter()
            .map(|r| ledger_types::Role::from_name(r).ok_or_else(|| bad("role")))
            .collect::<Result<Vec<_>, _>>()?;
        roles.sort();
        Ok(Some(ledger_types::RegisterMember {
            org: org.clone(),
            signing_key: ledger_types::PublicKey::from_text(&m.signing_key)
                .map_err(|_| bad("signing key"))?,
            encryption_key: m.encryption_key,
            roles,
            audit_key: m.audit_key,
            ring_key: m.ring_key,
        }))
    }

    /// The other validators' APIs at `urls`, each as the core takes it twice: a relay of
    /// admitted transactions and a source of committed blocks (one connection each).
    pub fn validators(
        urls: &[String],
        tls: Option<&ClientTls>,
    ) -> Result<ValidatorApis, NodeError> {
        let apis = urls
            .iter()
            .map(|u| Ok(Arc::new(Self::new(u, tls)?)))
            .collect::<Result<Vec<Arc<Self>>, NodeError>>()?;
        Ok((
            apis.iter().map(|a| a.clone() as Arc<dyn Relay>).collect(),
            apis.into_iter()
                .map(|a| a as Arc<dyn BlockSource>)
                .collect(),
        ))
    }
}

#[async_trait]
impl Upstream for PeerApi {
    async fn submit(&self, tx: Vec<u8>) -> Result<Hash, RemoteRefusal> {
        let mut c = self.client.clone();
        let r = c
            .submit_tx(pb::SubmitTxRequest { tx })
            .await
            .map_err(|s| remote_refusal(&s))?
            .into_inner();
        Hash::from_slice(&r.tx_hash).ok_or_else(|| RemoteRefusal {
            code: tonic::Code::Internal as i32,
            message: "the upstream node returned a malformed hash".into(),
            reason: None,
        })
    }

    async fn next_free_nonce(&self, org: &OrgId) -> Result<u64, RemoteRefusal> {
        let mut c = self.client.clone();
        Ok(c.get_member(pb::GetMemberRequest {
            org: org.to_string(),
        })
        .await
        .map_err(|s| remote_refusal(&s))?
        .into_inner()
        .next_free_nonce)
    }
}

/// Where a validator that governance removed sends its clients' transactions: to one of
/// the validators that still validates. A removed validator that forwarded to a fixed
/// peer could send them to another removed validator, which might forward them back. The
/// candidates are this node's configured validators and those governance added with
/// their API address (read from the ledger at each choice); the one chosen is asked its
/// role when first chosen and again every few seconds, and another is chosen when it
/// fails or follows.
pub struct ValidatorsUpstream {
    /// The candidates' API addresses, as of now.
    urls: Box<dyn Fn() -> Vec<String> + Send + Sync>,
    /// Clients by address, connected lazily.
    peers: std::sync::Mutex<std::collections::BTreeMap<String, PeerApi>>,
    /// The peer in use and when its role was last checked.
    chosen: tokio::sync::Mutex<Option<(String, std::time::Instant)>>,
    /// This node's certificate for `https://` candidates.
    tls: Option<ClientTls>,
}

/// How long a chosen validator is trusted to still validate before it is asked again.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

impl ValidatorsUpstream {
    /// Candidates from `urls`, called at each choice.
    pub fn new(
        urls: impl Fn() -> Vec<String> + Send + Sync + 'static,
        tls: Option<ClientTls>,
    ) -> Self {
        Self {
            urls: Box::new(urls),
            peers: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            chosen: tokio::sync::Mutex::new(None),
            tls,
        }
    }

    fn peer(&self, url: &str) -> Result<PeerApi, RemoteRefusal> {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = peers.get(url) {
            return Ok(p.clone());
        }
        let p = PeerApi::new(url, self.tls.as_ref()).map_err(|e| RemoteRefusal {
            code: tonic::Code::Internal as i32,
            message: e.to_string(),
            reason: None,
        })?;
        peers.insert(url.to_string(), p.clone());
        Ok(p)
    }

    /// A peer that validates, the one chosen before if it still does.
    async fn pick(&self) -> Result<PeerApi, RemoteRefusal> {
        let mut chosen = self.chosen.lock().await;
        if let Some((url, at)) = chosen.as_ref() {
            if at.elapsed() < RECHECK {
                return self.peer(url);
            }
        }
        let mut urls = (self.urls)();
        // Start after the one chosen before, so that a failing one is tried last.
        if let Some(pos) = chosen
            .as_ref()
            .and_then(|(u, _)| urls.iter().position(|x| x == u))
        {
            urls.rotate_left(pos + 1);
        }
        for url in &urls {
            let p = self.peer(url)?;
            let mut c = p.client.clone();
            if let Ok(s) = c.get_status(pb::GetStatusRequest {}).await {
                if s.into_inner().role == "validator" {
                    *chosen = Some((url.clone(), std::time::Instant::now()));
                    return Ok(p);
                }
            }
        }
        *chosen = None;
        Err(RemoteRefusal {
            code: tonic::Code::Unavailable as i32,
            message: format!(
                "none of the {} validators this node knows answers as a validator; retry later",
                urls.len()
            ),
            reason: None,
        })
    }

    /// Asks again at the next call (the chosen peer failed).
    async fn recheck(&self) {
        if let Some((_, at)) = self.chosen.lock().await.as_mut() {
            let now = std::time::Instant::now();
            *at = now.checked_sub(RECHECK).unwrap_or(now);
        }
    }
}

#[async_trait]
impl Upstream for ValidatorsUpstream {
    async fn submit(&self, tx: Vec<u8>) -> Result<Hash, RemoteRefusal> {
        let r = self.pick().await?.submit(tx).await;
        if matches!(&r, Err(e) if e.code == tonic::Code::Unavailable as i32) {
            self.recheck().await;
        }
        r
    }

    async fn next_free_nonce(&self, org: &OrgId) -> Result<u64, RemoteRefusal> {
        let r = self.pick().await?.next_free_nonce(org).await;
        if r.is_err() {
            self.recheck().await;
        }
        r
    }
}

#[async_trait]
impl Relay for PeerApi {
    fn name(&self) -> &str {
        &self.url
    }

    async fn relay(&self, batch: ledger_core::relay::RelayBatch) -> Result<(), String> {
        let mut c = self.client.clone();
        c.relay_txs(pb::RelayTxsRequest {
            txs: batch.txs,
            from: batch.from.to_string(),
            sent_ms: batch.sent_ms,
            signature: batch.signature.0,
        })
        .await
        .map(|_| ())
        .map_err(|e| e.message().to_string())
    }
}

struct Blocks(tonic::Streaming<pb::BlockMessage>);

#[async_trait]
impl BlockStream for Blocks {
    async fn next_block(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.0.message().await {
            Ok(m) => Ok(m.map(|m| m.block)),
            Err(e) => Err(e.message().to_string()),
        }
    }
}

#[async_trait]
impl BlockSource for PeerApi {
    async fn status(&self) -> Result<UpstreamStatus, String> {
        let mut c = self.client.clone();
        let s = c
            .get_status(pb::GetStatusRequest {})
            .await
            .map_err(|e| format!("status: {}", e.message()))?
            .into_inner();
        Ok(UpstreamStatus {
            genesis_hash: s.genesis_hash,
            height: s.height,
        })
    }

    async fn blocks(&self, from_height: u64) -> Result<Box<dyn BlockStream>, String> {
        let mut c = self.client.clone();
        let stream = c
            .stream_blocks(pb::StreamBlocksRequest {
                from_height,
                headers_only: false,
            })
            .await
            .map_err(|e| format!("streaming blocks: {}", e.message()))?
            .into_inner();
        Ok(Box::new(Blocks(stream)))
    }

    async fn block(&self, height: u64) -> Result<Option<Vec<u8>>, String> {
        let mut c = self.client.clone();
        match c
            .get_block(pb::GetBlockRequest {
                height: Some(height),
            })
            .await
        {
            Ok(m) => Ok(Some(m.into_inner().block)),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(format!("block {height}: {}", s.message())),
        }
    }

    fn name(&self) -> &str {
        &self.url
    }
}
