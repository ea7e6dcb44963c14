//! A thin client over the node's gRPC API, and the signing identity of the CLI.

use std::path::PathBuf;

use clap::Args;
use ledger_api::v1 as pb;
use ledger_api::v1::ledger_client::LedgerClient;
use ledger_home::config::NodeConfig;
use ledger_home::keys;
use ledger_hsm::ProviderSigner;
use ledger_types::{ChainId, Hash, OrgId};
use std::sync::Arc;
use thiserror::Error;
use tonic::transport::Channel;

/// Why a CLI command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// The node could not be reached.
    #[error("cannot reach the node at {url}: {reason} (is `ledger-node start` running? set --node or LEDGER_NODE)")]
    Connect {
        /// The address.
        url: String,
        /// Why.
        reason: String,
    },
    /// The node refused this client's TLS certificate.
    #[error("the node at {url} refused this client's certificate, or closed the connection right after the TLS handshake ({reason}): is your organisation a member in good standing, with the signing key the ledger holds for it now? The node's log says why")]
    CertificateRefused {
        /// The address.
        url: String,
        /// What the TLS layer said.
        reason: String,
    },
    /// The node refused the request.
    #[error("node refused ({code}{reason}): {message}")]
    Refused {
        /// The gRPC code.
        code: String,
        /// The stable refusal reason, if given.
        reason: String,
        /// The node's message.
        message: String,
    },
    /// Not found.
    #[error("not found: {0}")]
    NotFound(String),
    /// Bad input or an unexpected answer.
    #[error("{0}")]
    Invalid(String),
}

impl From<tonic::Status> for CliError {
    fn from(s: tonic::Status) -> Self {
        if s.code() == tonic::Code::NotFound {
            return CliError::NotFound(s.message().to_string());
        }
        let reason = s
            .metadata()
            .get(ledger_api::REJECT_REASON_KEY)
            .and_then(|v| v.to_str().ok())
            .map(|r| format!(", {r}"))
            .unwrap_or_default();
        CliError::Refused {
            code: format!("{:?}", s.code()),
            reason,
            message: s.message().to_string(),
        }
    }
}

/// Where the signing key comes from.
#[derive(Args, Clone)]
pub struct KeyArgs {
    /// The node home whose key provider signs (software key store or HSM, as its
    /// config.toml says), for the node's organisation. The passphrase or PIN comes from the
    /// environment variable or file config.toml names.
    #[arg(long, env = "LEDGER_HOME")]
    pub home: Option<PathBuf>,
}

/// A signing identity.
pub struct Identity {
    /// The organisation.
    pub org: OrgId,
    /// Its signer.
    pub key: Arc<ProviderSigner>,
}

impl Identity {
    /// The chain id the node reports.
    pub fn chain_id(&self, status: &pb::GetStatusResponse) -> Result<ChainId, CliError> {
        ChainId::new(status.chain_id.clone()).map_err(|e| CliError::Invalid(e.to_string()))
    }
}

impl KeyArgs {
    /// Opens the node's key provider.
    pub fn load(&self) -> Result<Identity, CliError> {
        let home = self.home.as_ref().ok_or_else(|| {
            CliError::Invalid(
                "give --home NODE_HOME (or LEDGER_HOME) to sign with the node's key".into(),
            )
        })?;
        let config = NodeConfig::load(home).map_err(|e| CliError::Invalid(e.to_string()))?;
        let key = keys::signer(home, &config.keys).map_err(|e| CliError::Invalid(e.to_string()))?;
        let org = OrgId::new(config.org).map_err(|e| CliError::Invalid(e.to_string()))?;
        Ok(Identity { org, key })
    }
}

/// How the CLI authenticates itself to a node over mutual TLS (`https://` addresses).
#[derive(Args, Clone, Default)]
pub struct TlsArgs {
    /// For an https:// node: the node home whose organisation's signing key binds the
    /// CLI's TLS certificate (its key provider signs the binding; the passphrase or PIN as
    /// for --home). Defaults to LEDGER_HOME.
    #[arg(long, global = true, env = "LEDGER_HOME")]
    pub tls_home: Option<PathBuf>,
    /// For an https:// node: the signing key (as `ledger get-member` shows it) of the
    /// node's organisation. Without it the node must be the --tls-home organisation's own.
    #[arg(long, global = true, env = "LEDGER_SERVER_KEY")]
    pub server_key: Option<String>,
}

impl TlsArgs {
    /// The CLI's side of mutual TLS, when `url` asks for it (`https://`).
    pub fn client_tls(&self, url: &str) -> Result<Option<ledger_tls::ClientTls>, CliError> {
        if !ledger_tls::is_tls(url) {
            return Ok(None);
        }
        let home = self.tls_home.as_ref().ok_or_else(|| {
            CliError::Invalid(format!(
                "{url} takes members' connections only (mutual TLS): give --tls-home NODE_HOME (or LEDGER_HOME) so that your organisation's key vouches for this client"
            ))
        })?;
        let id = KeyArgs {
            home: Some(home.clone()),
        }
        .load()?;
        let chain = chain_of(home)?;
        let directory = match &self.server_key {
            Some(k) => ledger_tls::Pinned {
                org: None,
                key: ledger_types::PublicKey::from_text(k)
                    .map_err(|e| CliError::Invalid(format!("--server-key: {e}")))?,
            },
            None => ledger_tls::Pinned {
                org: Some(id.org.clone()),
                key: ledger_crypto::Signer::public_key(id.key.as_ref()),
            },
        };
        ledger_tls::ClientTls::for_signer(chain, id.org, id.key, Arc::new(directory))
            .map(Some)
            .map_err(CliError::Invalid)
    }
}

/// Fixes the process's suite to the one the node reports (nodes before suites: default).
fn select_suite(s: &pb::GetStatusResponse) -> Result<(), CliError> {
    let name = if s.crypto_suite.is_empty() {
        "default"
    } else {
        s.crypto_suite.as_str()
    };
    let suite = ledger_types::CryptoSuite::from_name(name).ok_or_else(|| {
        CliError::Invalid(format!(
            "the node reports crypto suite {name:?}, which this CLI does not know"
        ))
    })?;
    suite.select("the node's status").map_err(|e| {
        CliError::Invalid(format!(
            "the node's chain uses the {} crypto suite, but this CLI's keys are made for {} ([keys] crypto_suite of --home): sign with a node home of that chain",
            e.wanted, e.active
        ))
    })
}

/// The chain id of the genesis file in `home`.
fn chain_of(home: &std::path::Path) -> Result<ChainId, CliError> {
    #[derive(serde::Deserialize)]
    struct Genesis {
        chain_id: String,
    }
    let path = home.join(ledger_home::config::GENESIS_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Invalid(format!("reading {}: {e}", path.display())))?;
    let g: Genesis = serde_json::from_str(&text)
        .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?;
    ChainId::new(g.chain_id).map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))
}

/// The gRPC client.
#[derive(Clone)]
pub struct Client {
    inner: LedgerClient<Channel>,
    url: String,
    tls: Option<ledger_tls::ClientTls>,
}

impl Client {
    /// Connects to `url`: plain for `http://`, mutual TLS through `tls` for `https://`.
    pub async fn connect(url: &str, tls: Option<ledger_tls::ClientTls>) -> Result<Self, CliError> {
        let channel = ledger_tls::channel(url, tls.as_ref())
            .await
            .map_err(|reason| CliError::Connect {
                url: url.into(),
                reason,
            })?;
        let mut client = Self {
            inner: LedgerClient::new(channel)
                .max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(ledger_api::MAX_MESSAGE_BYTES),
            url: url.to_string(),
            tls,
        };
        if ledger_tls::is_tls(url) {
            // In TLS 1.3 the server checks the client's certificate after the client
            // finished its side of the handshake: a refusal shows on the first request.
            if let Err(s) = client.inner.get_status(pb::GetStatusRequest {}).await {
                let reason = match std::error::Error::source(&s) {
                    Some(cause) => format!("{}: {}", s.message(), ledger_tls::with_causes(cause)),
                    None => s.message().to_string(),
                };
                // The handshake completed on this side, so the node is up: it refused the
                // certificate. Its alert may or may not arrive before the connection is
                // torn down (then the error reads "broken pipe" or "connection closed").
                return Err(CliError::CertificateRefused {
                    url: url.into(),
                    reason,
                });
            }
        }
        Ok(client)
    }

    /// Another connection to the same node, made the same way.
    pub async fn another(&self) -> Result<Self, CliError> {
        Self::connect(&self.url, self.tls.clone()).await
    }

    /// An encrypted-analytics query.
    pub async fn analytics_query(
        &mut self,
        query: &Hash,
    ) -> Result<pb::GetAnalyticsQueryResponse, CliError> {
        Ok(self
            .inner
            .get_analytics_query(pb::GetAnalyticsQueryRequest {
                query: query.0.to_vec(),
            })
            .await?
            .into_inner())
    }

    /// Node status.
    ///
    /// Fixes this process's crypto suite to the node's chain's, so every hash and signature
    /// the CLI computes is of that suite; refused if the CLI's keys are of the other one.
    pub async fn status(&mut self) -> Result<pb::GetStatusResponse, CliError> {
        let s = self
            .inner
            .get_status(pb::GetStatusRequest {})
            .await?
            .into_inner();
        select_suite(&s)?;
        Ok(s)
    }

    /// Submits a transaction.
    pub async fn submit(&mut self, tx: Vec<u8>) -> Result<Hash, CliError> {
        let r = self
            .inner
            .submit_tx(pb::SubmitTxRequest { tx })
            .await?
            .into_inner();
        Hash::from_slice(&r.tx_hash)
            .ok_or_else(|| CliError::Invalid("the node returned a malformed hash".into()))
    }

    /// Submits many transactions in one call (`SubmitTxs`): one outcome per transaction,
    /// in order, each its hash or its refusal.
    pub async fn submit_many(
        &mut self,
        txs: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Hash, CliError>>, CliError> {
        let r = self
            .inner
            .submit_txs(pb::SubmitTxsRequest { txs })
            .await?
            .into_inner();
        Ok(r.outcomes
            .into_iter()
            .map(|o| {
                if o.tx_hash.is_empty() {
                    // The refusal as SubmitTx would have answered it.
                    let mut status = tonic::Status::new(tonic::Code::from_i32(o.code), o.message);
                    if let Ok(reason) = o.reason.parse() {
                        if !o.reason.is_empty() {
                            status
                                .metadata_mut()
                                .insert(ledger_api::REJECT_REASON_KEY, reason);
                        }
                    }
                    Err(CliError::from(status))
                } else {
                    Hash::from_slice(&o.tx_hash).ok_or_else(|| {
                        CliError::Invalid("the node returned a malformed hash".into())
                    })
                }
            })
            .collect())
    }

    /// A transaction.
    pub async fn tx(&mut self, h: &Hash) -> Result<pb::GetTxResponse, CliError> {
        Ok(self
            .inner
            .get_tx(pb::GetTxRequest {
                tx_hash: h.0.to_vec(),
            })
            .await?
            .into_inner())
    }

    /// A block.
    pub async fn block(&mut self, height: Option<u64>) -> Result<pb::BlockMessage, CliError> {
        Ok(self
            .inner
            .get_block(pb::GetBlockRequest { height })
            .await?
            .into_inner())
    }

    /// A member.
    pub async fn member(&mut self, org: &str) -> Result<pb::GetMemberResponse, CliError> {
        Ok(self
            .inner
            .get_member(pb::GetMemberRequest { org: org.into() })
            .await?
            .into_inner())
    }

    /// A record, with the first page of its alerts and checks.
    pub async fn record(
        &mut self,
        id: &str,
        version: Option<u32>,
    ) -> Result<pb::GetRecordResponse, CliError> {
        self.record_page(id, version, 0, 0).await
    }

    /// A record, with its alerts and checks listed from these positions.
    pub async fn record_page(
        &mut self,
        id: &str,
        version: Option<u32>,
        alerts_offset: u64,
        checks_offset: u64,
    ) -> Result<pb::GetRecordResponse, CliError> {
        Ok(self
            .inner
            .get_record(pb::GetRecordRequest {
                record_id: id.into(),
                version,
                alerts_offset,
                checks_offset,
            })
            .await?
            .into_inner())
    }

    /// A page of a record's access history.
    pub async fn access_history(
        &mut self,
        id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<pb::GetAccessHistoryResponse, CliError> {
        Ok(self
            .inner
            .get_access_history(pb::GetAccessHistoryRequest {
                record_id: id.into(),
                offset,
                limit,
            })
            .await?
            .into_inner())
    }

    /// The governance parameters and a page of proposals from `from`.
    pub async fn governance(&mut self, from: u64) -> Result<pb::GetGovernanceResponse, CliError> {
        Ok(self
            .inner
            .get_governance(pb::GetGovernanceRequest {
                from_proposal: from,
                limit: 0,
            })
            .await?
            .into_inner())
    }

    /// A page of a topic's endorsements.
    pub async fn endorsements(
        &mut self,
        topic: &str,
        offset: u64,
    ) -> Result<pb::GetEndorsementsResponse, CliError> {
        Ok(self
            .inner
            .get_endorsements(pb::GetEndorsementsRequest {
                topic: topic.into(),
                offset,
                limit: 1000,
            })
            .await?
            .into_inner())
    }

    /// A schema.
    pub async fn schema(
        &mut self,
        id: &str,
        version: Option<u32>,
    ) -> Result<pb::GetSchemaResponse, CliError> {
        Ok(self
            .inner
            .get_schema(pb::GetSchemaRequest {
                schema_id: id.into(),
                version,
            })
            .await?
            .into_inner())
    }

    /// Streams blocks from a height.
    pub async fn stream_blocks(
        &mut self,
        from_height: u64,
        headers_only: bool,
    ) -> Result<tonic::Streaming<pb::BlockMessage>, CliError> {
        Ok(self
            .inner
            .stream_blocks(pb::StreamBlocksRequest {
                from_height,
                headers_only,
            })
            .await?
            .into_inner())
    }
}
