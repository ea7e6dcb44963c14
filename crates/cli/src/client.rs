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

/// The gRPC client.
#[derive(Clone)]
pub struct Client {
    inner: LedgerClient<Channel>,
}

impl Client {
    /// Connects to `url`.
    pub async fn connect(url: &str) -> Result<Self, CliError> {
        let channel = Channel::from_shared(url.to_string())
            .map_err(|e| CliError::Connect {
                url: url.into(),
                reason: e.to_string(),
            })?
            .connect()
            .await
            .map_err(|e| CliError::Connect {
                url: url.into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            inner: LedgerClient::new(channel)
                .max_decoding_message_size(ledger_api::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(ledger_api::MAX_MESSAGE_BYTES),
        })
    }

    /// Node status.
    pub async fn status(&mut self) -> Result<pb::GetStatusResponse, CliError> {
        Ok(self
            .inner
            .get_status(pb::GetStatusRequest {})
            .await?
            .into_inner())
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
